"""Host side of edge-lrcn: synthetic data, dataset loading, the Keras LRCN, training, conversion, validation.

Installed as ``edge_lrcn.convert``. Only the modules that train or convert import TensorFlow, and only when
they are called; ``edge_lrcn.convert.synth`` needs nothing beyond numpy and OpenCV.
"""
