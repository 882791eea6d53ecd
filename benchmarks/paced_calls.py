"""Where the daemon's CPU goes at a camera's pace: each call on the hot path timed with its own thread's CPU clock.

    python benchmarks/paced_calls.py [--seconds 20] [--threads 1] [-- extra run flags]

Writes bench's 640x480, 30 fps MJPG video of ``--seconds`` seconds, then runs the real daemon on it in this process
(``edge-lrcn run --realtime --sink stdout --scores``, stdout to /dev/null) with the hot-path calls wrapped: each wrapper
adds the CPU time of its own thread (``time.thread_time``) spent inside the call. Reader thread: ``_grab`` (demuxing the
Motion-JPEG packets; FFmpeg's demux + decode for other codecs), ``read_packet`` and ``decode_jpeg`` (a kept frame's
packet and its JPEG decode, reduced where the model allows; ``retrieve``, the colour conversion, for other codecs),
``VideoFileSource.read`` (those, plus timestamps, the pacer's decision and the real-time sleep), ``FrameReader._put``;
main thread: ``Daemon._loop`` and what it calls (the classifier's parts: resize, cut check, transform, encoder,
window, head; the announcer's tracker and sinks). Nested calls are counted in their callers too. Prints ms per second
of video and us per call (start-up calls, e.g. ``--encoder auto``'s timing, are counted as well). The README's "Where
the daemon's CPU goes" paragraph comes from this.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

SPENT: dict[str, float] = collections.defaultdict(float)
CALLS: collections.Counter = collections.Counter()


def _timed(owner, name: str, label: str) -> None:
    fn = owner[name] if isinstance(owner, dict) else getattr(owner, name)

    def wrapper(*args, **kwargs):
        t = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            SPENT[label] += time.thread_time() - t
            CALLS[label] += 1

    if isinstance(owner, dict):
        owner[name] = wrapper
    else:
        setattr(owner, name, wrapper)


def _instrument() -> None:
    from edge_lrcn import daemon
    from edge_lrcn.announce import Announcer
    from edge_lrcn.capture import filesource
    from edge_lrcn.capture.camera import Camera
    from edge_lrcn.capture.reader import FrameReader
    from edge_lrcn.classify import classifier
    from edge_lrcn.classify.regions import Regions
    from edge_lrcn.classify.window import FeatureWindow
    from edge_lrcn.events import ActivityTracker
    from edge_lrcn.model.interpreter import Encoder, Head
    from edge_lrcn.publish.fanout import Fanout
    from edge_lrcn.service import Health

    for owner, names in ((filesource.VideoFileSource, ("_grab", "read")), (FrameReader, ("_put",)),
                         (daemon.Daemon, ("_loop",)), (Camera, ("read",)), (classifier.Classifier, ("push",)),
                         (Encoder, ("encode_rgb",)), (Head, ("__call__",)), (Announcer, ("probabilities",)),
                         (Fanout, ("tick", "publish")), (Health, ("tick",)), (Regions, ("push",)),
                         (FeatureWindow, ("push",)), (ActivityTracker, ("update", "scores"))):
        for name in names:
            _timed(owner, name, f"{owner.__name__}.{name}")
    _timed(filesource, "retrieve", "retrieve")  # module functions, looked up when a source is opened
    _timed(filesource, "read_packet", "read_packet")
    _timed(filesource, "decode_jpeg", "decode_jpeg")
    _timed(classifier, "resize_rgb", "resize_rgb")
    _timed(classifier, "is_cut", "is_cut")
    for name in list(classifier.TRANSFORMS):  # a bundle's input transform (the embedded model's difference)
        _timed(classifier.TRANSFORMS, name, f"transform {name}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--threads", type=int, default=1)
    args, extra = ap.parse_known_args()
    from edge_lrcn.bench import bench_video
    from edge_lrcn.cli import main as cli

    _instrument()
    os.environ.pop("EDGE_LRCN_CONFIG", None)
    with tempfile.TemporaryDirectory(prefix="edge-lrcn-paced-") as tmp:
        video = bench_video(Path(tmp) / "paced.avi", args.seconds)
        saved = os.dup(1)
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            try:
                rc = cli(["run", "--source", str(video), "--sink", "stdout", "--scores", "--realtime",
                          "--stats-interval", "0", "--threads", str(args.threads), "--log-level", "WARNING",
                          *[a for a in extra if a != "--"]])
            finally:
                os.dup2(saved, 1)
    print(f"{args.seconds:g} s of 640x480 30 fps video at its own pace, {args.threads} interpreter thread(s)")
    for label in sorted(SPENT, key=SPENT.get, reverse=True):
        print(f"  {label:<28} {SPENT[label] * 1000 / args.seconds:7.2f} ms per s of video   {CALLS[label]:6d} calls "
              f"{SPENT[label] * 1e6 / CALLS[label]:8.1f} us per call")
    return rc


if __name__ == "__main__":
    sys.exit(main())
