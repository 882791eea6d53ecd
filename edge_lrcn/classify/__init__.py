"""Frames to class probabilities: the pacer keeps frames at the model's fps, the one preprocessing function, the
encoder once per kept frame, the feature window and the head (:class:`.classifier.Classifier`)."""
