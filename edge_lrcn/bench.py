"""``edge-lrcn bench``: speed and memory on this machine, in one run.

JSON keys (``--json``), all measured here:
  encoder_int8_ms, encoder_fp16_ms   per-frame encoder latency on the CPU, uint8 pixels in (the daemon's path;
                                     median of ``repeats``)
  encoder_auto                       the encoder ``--encoder auto`` picks here (int8 or fp16)
  head_ms                            head (LSTM + Dense over T features) per window
  stream_step_ms                     one streaming classification: the ``auto`` encoder on the new frame + head
  monolithic_window_ms               the tutorial's way: lrcn_fp32.tflite over the whole T-frame window
  stream_speedup                     monolithic_window_ms / stream_step_ms (the two timed interleaved)
  pipeline_fps                       frames/s of the real daemon (``edge-lrcn run``, subprocess) on the video
  bare_decode_resize_fps             frames/s of a bare OpenCV read + INTER_AREA resize loop on the same video
  pipeline_vs_bare                   pipeline_fps / bare_decode_resize_fps
  pipeline_wall_s                    the daemon's wall time on the video, from launching ``edge-lrcn run`` to its
                                     exit: start-up (interpreter, imports, the bundle, the ``auto`` encoder choice)
                                     included
  pipeline_vs_bare_wall              the bare loop's time for the video's frames / pipeline_wall_s: the throughput
                                     ratio with the daemon's start-up counted (issue 29's file-at-decode-speed goal)
  daemon_cpu_pct                     the daemon's CPU time per second of video at the file's own pace
                                     (``--realtime``, like a camera), % of one core, from the camera online to the end
  bare_paced_cpu_pct                 the bare loop (every frame decoded and resized) at the same pace, CPU time
                                     per second of video, % of one core
  bare_flat_out_cpu_pct              the bare loop flat out (unpaced), CPU time per second of video
  daemon_vs_bare_cpu                 daemon_cpu_pct / bare_paced_cpu_pct
  stage_<grab|decode|resize|encoder|head|events|sinks>_ms
                                     median ms of each stage for one frame, read as the daemon reads the file
                                     (grab: demuxing, and for codecs other than Motion-JPEG decoding; decode: a
                                     kept frame's JPEG decode, or the colour conversion of other codecs)
  decode_mode                        packets (Motion-JPEG decoded only when kept) or ffmpeg (decoded in grab)
  stages_ms_per_s                    those added up for one second of video (grab every frame, the rest per
                                     kept frame)
  daemon_peak_rss_mb                 peak resident memory (VmHWM) of the daemon, flat out; it counts the pages of
                                     the libraries it maps, which depend on the page cache (the same daemon measured
                                     118 and 157 MB from two copies of one venv)
  daemon_peak_anon_mb                peak of its private memory (RssAnon, sampled at every line it prints): what it
                                     allocates, independent of the page cache
  first_frame_s                      from launching the daemon to its first decoded frame (file source; its log
                                     line "first frame from ...")
  first_window_s                     from launching the daemon to its first classification (file source)
  region_one_ms, region_two_ms       a kept frame classified in one region and in two (the left and right halves
                                     of the video's frames): crop, resize, encoder and head per region, the two
                                     timed interleaved, medians
  region_extra_ms                    region_two_ms - region_one_ms: what each extra region adds per kept frame
  delay_median_s, delay_max_s         from the start of an activity to its activity_start, the daemon's classifier
                                     and tracker with the default settings over segment videos of the model's
                                     classes (``synth --sequence``: five 7 s segments, each a new scene, seeds
                                     DELAY_SEEDS; the embedded model's directions, or synth --kind motion's
                                     activities); with wrong_starts, false_starts and announced/activities
  delay_one_scene_*                  the same with the five activities in one scene (``--one-scene``: no cut, the
                                     window straddles each change of activity); absent for a model of other classes
  video, frames, threads, interpreter, model
"""

from __future__ import annotations

import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .capture.codec import reduction
from .classify.preprocess import model_min_size, resize_rgb
from .model.choice import ENCODERS, cpu_encoder
from .model.interpreter import Encoder, Head, default_threads, make_interpreter, runtime_name
from .model.loader import load_bundle

log = logging.getLogger(__name__)
STAGES = ("grab", "decode", "resize", "encoder", "head", "events", "sinks")


def _median_ms(fn, repeats: int, warmup: int = 10) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def _interleaved_median_ms(fast, slow, repeats: int, per_round: int = 5) -> tuple[float, float]:
    """Medians (ms) of ``fast`` and ``slow`` timed in alternation: ``per_round`` calls of ``fast``, then one of
    ``slow``, ``repeats // per_round`` rounds (at least 20)."""
    for _ in range(3):
        fast()
        slow()
    tf, ts = [], []
    for _ in range(max(20, repeats // per_round)):
        for _ in range(per_round):
            t = time.perf_counter()
            fast()
            tf.append(time.perf_counter() - t)
        t = time.perf_counter()
        slow()
        ts.append(time.perf_counter() - t)
    return float(np.median(tf) * 1000), float(np.median(ts) * 1000)


def bench_video(path: Path, seconds: float = 30.0) -> Path:
    """A 640x480, 30 fps MJPG video of synth segments (written with OpenCV; no TensorFlow needed)."""
    from .convert.synth import make_sequence

    labels = ["right", "still", "up", "left", "down"]
    per = seconds / len(labels)
    make_sequence(path, [(lab, per) for lab in labels], seed=7, fps=30.0, size=(640, 480))
    return path


def bare_decode_resize(path: Path, height: int, width: int, paced: bool = False) -> tuple[float, int, float]:
    """The bare loop: read and INTER_AREA-resize every frame, flat out or at the file's own pace (as a camera
    delivers frames). Paced work costs more CPU per frame than the same work flat out (cold caches, a clock that
    dropped while idle), so the paced daemon is compared with the paced loop. Returns frames/s, frames, and the CPU
    time per second of video (% of one core)."""
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    fps = _video_fps(path)
    n, cpu0, t0 = 0, time.process_time(), time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        n += 1
        delay = t0 + n / fps - time.perf_counter() if paced else 0.0
        if delay > 0:
            time.sleep(delay)
    dt = time.perf_counter() - t0
    cap.release()
    return n / dt, n, 100 * (time.process_time() - cpu0) / max(n / fps, 1e-9)


def _first_frame_watch(proc, t0: float) -> tuple[threading.Thread, dict]:
    """Reads the daemon's stderr on a thread of its own (a full pipe would block it): the time from ``t0`` to its
    "first frame from" log line (capture/reader.py) lands in the dict under ``first_frame_s``."""
    seen: dict = {}

    def watch():
        for line in proc.stderr:
            if "first_frame_s" not in seen and "first frame from" in line:
                seen["first_frame_s"] = time.perf_counter() - t0

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread, seen


def daemon_run(model: str | None, video: Path, threads: int) -> dict:
    """Run the real daemon on the file; returns fps (from its own final stats), its wall time from launch to exit
    (start-up included), peak RSS, and the times from launch to its first frame and first classification."""
    cmd = [sys.executable, "-m", "edge_lrcn", "run", "--source", str(video), "--sink", "stdout", "--scores",
           "--stats-interval", "86400", "--threads", str(threads), "--log-level", "INFO"]
    if model:
        cmd += ["--model", model]
    env = {**os.environ, "EDGE_LRCN_CONFIG": ""}
    env.pop("EDGE_LRCN_CONFIG")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=tempfile.gettempdir())
    watcher, seen = _first_frame_watch(proc, t0)
    first = stats = rss_kb = anon_kb = None
    assert proc.stdout is not None  # stdout=PIPE
    for line in proc.stdout:
        obj = json.loads(line)
        if first is None and obj["type"] == "scores":
            first = time.perf_counter() - t0
        if obj["type"] == "stats":
            stats = obj
        # the peak so far, at every line: by the time the last line is read the daemon may have exited, and a
        # process that has gone has no VmHWM to read
        mem = proc_status_kbs(proc.pid, ("VmHWM", "RssAnon"))
        if "VmHWM" in mem:
            rss_kb = max(rss_kb or 0, mem["VmHWM"])
        if "RssAnon" in mem:
            anon_kb = max(anon_kb or 0, mem["RssAnon"])
    proc.wait()
    wall = time.perf_counter() - t0
    watcher.join(5)
    if rss_kb is None and not Path("/proc/self/status").exists():
        # no /proc: the largest child's peak, which counts the forked copy of this process too (an upper bound).
        # Never used where /proc exists: that figure is this process's own size, ~160 MB, not the daemon's
        rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0 or stats is None:
        raise RuntimeError(f"the daemon failed on {video} (exit {proc.returncode})")
    if rss_kb is None:
        raise RuntimeError(f"could not read the daemon's peak memory (/proc/{proc.pid}/status) on {video}")
    ff = seen.get("first_frame_s")
    return {"pipeline_fps": stats["fps_in"], "pipeline_wall_s": round(wall, 3),
            "daemon_peak_rss_mb": round(rss_kb / 1024, 1),
            "daemon_peak_anon_mb": round(anon_kb / 1024, 1) if anon_kb is not None else None,
            "first_frame_s": round(ff, 3) if ff else None,
            "first_window_s": round(first, 3) if first else None, "daemon_frames": stats["frames_in"]}


def _video_fps(path: Path) -> float:
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    return fps if 0 < fps < 1000 else 30.0


def proc_status_kb(pid: int, key: str) -> int | None:
    """A memory figure of a live process in kB from /proc/PID/status (Linux): ``VmHWM`` (peak resident), ``VmRSS``
    (resident now); None elsewhere or once it has gone. The benchmarks read the daemon's memory with it."""
    return proc_status_kbs(pid, (key,)).get(key)


def proc_status_kbs(pid: int, keys: tuple[str, ...]) -> dict[str, int]:
    """Several of those figures from one read of /proc/PID/status; the keys it could not read are left out."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in keys:
                try:
                    out[key] = int(rest.split()[0])
                except (ValueError, IndexError):
                    pass
    except OSError:
        pass
    return out


def _proc_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system, all threads) a live process has used, from /proc (Linux); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def daemon_cpu(model: str | None, video: Path, threads: int) -> dict:
    """The daemon at the file's own pace (``--realtime``, as a camera would deliver it): its CPU time per second of
    video (% of one core), from its camera going online to its last stats, so that start-up is not counted."""
    cmd = [sys.executable, "-m", "edge_lrcn", "run", "--source", str(video), "--sink", "stdout", "--scores",
           "--realtime", "--stats-interval", "86400", "--threads", str(threads), "--log-level", "WARNING"]
    if model:
        cmd += ["--model", model]
    env = {k: v for k, v in os.environ.items() if k != "EDGE_LRCN_CONFIG"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=tempfile.gettempdir())
    start = end = None
    assert proc.stdout is not None  # stdout=PIPE
    for line in proc.stdout:
        kind = json.loads(line)["type"]
        if kind in ("camera", "stats"):  # the camera goes online once the daemon has started
            mark = (time.perf_counter(), _proc_cpu_s(proc.pid))
            start = start or mark
            end = mark if kind == "stats" else end
    proc.wait()
    if proc.returncode != 0 or start is None or end is None:
        raise RuntimeError(f"the paced daemon failed on {video} (exit {proc.returncode})")
    if start[1] is None or end[1] is None or end[0] - start[0] < 1.0:
        return {"daemon_cpu_pct": None}
    return {"daemon_cpu_pct": 100 * (end[1] - start[1]) / (end[0] - start[0]), "paced_seconds": end[0] - start[0]}


def stage_costs(bundle, video: Path, threads: int, frames: int = 90) -> dict:
    """Median ms of each stage of the daemon's path for one frame, on the video's first ``frames`` frames, read as the
    daemon reads it (:class:`VideoFileSource`): grab (every frame: demuxing only for Motion-JPEG, which comes as
    packets; demuxing and decoding for other codecs), decode (a kept frame: libjpeg-turbo for a Motion-JPEG packet,
    the colour conversion of ``retrieve`` otherwise), resize to the model, the encoder ``auto`` picks, the head, the
    event tracker, a JSON line to a sink; and what they add up to per second of the video with the pacer keeping the
    model's fps (grab for every frame, the rest for kept frames)."""
    from .capture.sources import VideoFileSource
    from .config import EventSettings
    from .events import ActivityTracker, EventMaker
    from .publish.sink import Kind
    from .publish.stdout import StdoutSink

    h, w = bundle.input_size
    src = VideoFileSource(video)
    src.min_size = model_min_size(h, w)  # decoded as small as the daemon decodes it (Regions.min_size)
    grab: list[float] = []
    decode: list[float] = []
    pixels: list[np.ndarray] = []
    for _ in range(frames):
        t0 = time.perf_counter()
        if not src._grab():
            break
        t1 = time.perf_counter()
        frame = src.decode_kept()[0]
        # a few (decoded) frames are enough for resize and encoder, and keep the memory small
        if frame is not None and len(pixels) < 10:
            pixels.append(frame)
        grab.append(t1 - t0)
        decode.append(time.perf_counter() - t1)
    mode = "packets" if src.packets else "ffmpeg"
    scale = reduction(src.height, src.width, src.min_size) if src.packets else 1
    src.close()
    enc = cpu_encoder(bundle, "auto", threads, remember=False)
    head = Head(make_interpreter(bundle.member("head.tflite"), threads))
    rgbs = [resize_rgb(p, h, w) for p in pixels]
    feats = np.zeros((bundle.frames, bundle.feature_dim), np.float32)
    tracker = ActivityTracker(bundle.labels, EventSettings(), EventMaker("bench", bundle.model_id))
    probs = np.full(len(bundle.labels), 1.0 / len(bundle.labels), np.float32)

    def publish_scores():
        scores = tracker.scores(1.0)
        assert scores is not None  # "events" below updated the tracker first
        sink.publish(Kind.SCORES, scores)

    with open(os.devnull, "w") as null:
        sink = StdoutSink(null)
        ms = {"grab": np.median(grab) * 1000, "decode": np.median(decode) * 1000,
              "resize": _median_ms(lambda: resize_rgb(pixels[0], h, w), len(grab), 3),
              "encoder": _median_ms(lambda: enc.encode_rgb(rgbs[0]), len(grab), 3),
              "head": _median_ms(lambda: head(feats), len(grab), 3),
              "events": _median_ms(lambda: tracker.update(probs, 1.0), len(grab), 3),
              "sinks": _median_ms(publish_scores, len(grab), 3)}
    r: dict[str, Any] = {f"stage_{k}_ms": float(v) for k, v in ms.items()}
    r["decode_mode"] = mode
    r["decode_scale"] = scale
    kept_per_s = min(bundle.fps, _video_fps(video))
    r["stages_ms_per_s"] = float(ms["grab"] * _video_fps(video) + sum(v for k, v in ms.items() if k != "grab")
                                 * kept_per_s)
    return r


def region_costs(bundle, video: Path, threads: int, repeats: int) -> dict:
    """A kept frame through the daemon's classifier with one region and with two (each its own crop, resize,
    encoder call and window, the head on every kept frame), on real decoded frames, timed interleaved."""
    from .capture.sources import VideoFileSource
    from .classify.regions import Regions
    from .model.loader import open_model

    left, right = ("left", (0.0, 0.0, 0.5, 1.0)), ("right", (0.5, 0.0, 1.0, 1.0))
    with VideoFileSource(video) as src:
        src.min_size = model_min_size(bundle.input_size[0], bundle.input_size[1], [left[1], right[1]])
        frames = [f for f in (src.read() for _ in range(8)) if f is not None]
    model = open_model(bundle, "cpu", threads)
    one, two = Regions(model, [left]), Regions(model, [left, right])

    def push(regions):  # one kept frame per model period, so that the window fills and the head runs
        clock = iter(range(10 ** 9))

        def call():
            i = next(clock)
            regions.push(replace(frames[i % len(frames)], t=i / bundle.fps, kept=True))
        return call

    r1, r2 = _interleaved_median_ms(push(one), push(two), repeats, per_round=1)
    return {"region_one_ms": r1, "region_two_ms": r2, "region_extra_ms": r2 - r1}


DELAY_SEEDS = (901, 902, 903)  # segment videos of the delay figures: seeds no setting was tuned on


def segment_delays(bundle, threads: int, folder: Path, seeds=DELAY_SEEDS) -> dict:
    """Delay, wrong and false starts of the daemon's classifier and default tracker on segment videos of the
    model's classes (docs/events.md); {} when the model has neither synth's classes."""
    from .classify.classifier import Classifier
    from .config import BY_NAME, EventSettings
    from .convert import motion_synth, synth
    from .model.loader import open_model
    from .segments import Segment, evaluate_video

    classes = [c for c in (synth.CLASSES, motion_synth.CLASSES) if set(c) <= set(bundle.labels)]
    if not classes:
        return {}
    order = ["right", "still", "up", "left", "down"] if classes[0] == synth.CLASSES else list(classes[0])[:5]
    clf = Classifier(open_model(bundle, "cpu", threads), BY_NAME["stride"].default, EventSettings().cut_threshold)
    r = {}
    for key, one_scene in (("delay", False), ("delay_one_scene", True)):
        if one_scene and classes[0] != synth.CLASSES:
            continue
        results = []
        for seed in seeds:
            video = folder / f"segments_{seed}_{key}.avi"
            if classes[0] == synth.CLASSES:
                truth = synth.make_sequence(video, [(c, 7.0) for c in order], seed, one_scene=one_scene)
            else:
                truth = motion_synth.make_sequence(video, [(c, 7.0) for c in order], seed)
            results.append(evaluate_video(clf, EventSettings(), video, [Segment(*x) for x in truth]))
        delays = [p["delay"] for x in results for p in x["segments"] if p["delay"] is not None]
        r.update({f"{key}_median_s": float(np.median(delays)) if delays else None,
                  f"{key}_max_s": max(delays) if delays else None,
                  f"{key}_announced": f"{len(delays)}/{sum(x['activities'] for x in results)}",
                  f"{key}_wrong_starts": sum(x["wrong_starts"] for x in results),
                  f"{key}_false_starts": sum(x["false_starts"] for x in results)})
    return r


def _model_figures(bundle, threads: int, repeats: int) -> dict:
    """Encoders (each, on the daemon's uint8 path, and the one ``--encoder auto`` picks), head, streaming step
    against the monolithic window."""
    h, w = bundle.input_size
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    feats = rng.random((bundle.frames, bundle.feature_dim), dtype=np.float32)
    head = Head(make_interpreter(bundle.member("head.tflite"), threads))
    r: dict[str, Any] = {}
    for kind, member in ENCODERS.items():
        if bundle.has(member):
            enc = Encoder(make_interpreter(bundle.member(member), threads), member, "cpu")
            r[f"encoder_{kind}_ms"] = _median_ms(partial(enc.encode_rgb, rgb), repeats)
            del enc  # an idle interpreter's worker threads still compete with the ones timed next (2 cores here)
    auto = cpu_encoder(bundle, "auto", threads, remember=False)  # timed here, as bench reports it
    r["encoder_auto"] = next(k for k, m in ENCODERS.items() if m == auto.member)
    r["head_ms"] = _median_ms(lambda: head(feats), repeats)

    def step():
        auto.encode_rgb(rgb)
        head(feats)

    if bundle.has("lrcn_fp32.tflite"):
        mono = make_interpreter(bundle.member("lrcn_fp32.tflite"), threads)
        idx = mono.get_input_details()[0]["index"]
        window = rng.random(tuple(mono.get_input_details()[0]["shape"]), dtype=np.float32)

        def run_mono():
            mono.set_tensor(idx, window)
            mono.invoke()

        # interleaved, so that a slow spell of a shared machine hits both sides of the ratio alike
        r["stream_step_ms"], r["monolithic_window_ms"] = _interleaved_median_ms(step, run_mono, repeats)
        r["stream_speedup"] = r["monolithic_window_ms"] / r["stream_step_ms"]
    else:
        r["stream_step_ms"] = _median_ms(step, repeats)
    return r


def bench(model: str | None, video: Path | None, threads: int | None, repeats: int,
          realtime_s: float = 20.0) -> dict:
    # the daemons bench starts run in a temporary directory: hand them absolute paths
    model = str(Path(model).resolve()) if model else None
    video = Path(video).resolve() if video else None
    bundle = load_bundle(model)
    threads = threads or default_threads()
    h, w = bundle.input_size
    r: dict[str, Any] = {"model": bundle.model_id, "interpreter": runtime_name(), "threads": threads}
    r.update(_model_figures(bundle, threads, repeats))
    with tempfile.TemporaryDirectory(prefix="edge-lrcn-bench-") as tmp:
        if video is None:
            video = bench_video(Path(tmp) / "bench_640x480.avi")
        r.update(stage_costs(bundle, video, threads))
        r.update(region_costs(bundle, video, threads, repeats))
        r.update(segment_delays(bundle, threads, Path(tmp)))
        r["bare_decode_resize_fps"], r["frames"], r["bare_flat_out_cpu_pct"] = bare_decode_resize(video, h, w)
        r["video"] = str(video)
        r.update(daemon_run(model, video, threads))
        if realtime_s > 0:
            paced = video if video.parent != Path(tmp) else bench_video(Path(tmp) / "paced.avi", realtime_s)
            r.update(daemon_cpu(model, paced, threads))
            r["bare_paced_cpu_pct"] = bare_decode_resize(paced, h, w, paced=True)[2]
    r["pipeline_vs_bare"] = r["pipeline_fps"] / r["bare_decode_resize_fps"]
    # the whole command against the bare loop's own time for the same frames: start-up included
    r["pipeline_vs_bare_wall"] = r["frames"] / r["bare_decode_resize_fps"] / r["pipeline_wall_s"]
    if r.get("daemon_cpu_pct") is not None:
        r["daemon_vs_bare_cpu"] = r["daemon_cpu_pct"] / r["bare_paced_cpu_pct"]
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}


def bench_command(args) -> int:
    r = bench(args.model, args.video, args.threads, args.repeats, args.paced_seconds)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    rows = [("encoder int8, ms/frame", "encoder_int8_ms"), ("encoder fp16 (CPU), ms/frame", "encoder_fp16_ms"),
            ("head, ms/window", "head_ms"), ("streaming step (auto encoder + head), ms", "stream_step_ms"),
            ("monolithic window (lrcn_fp32), ms", "monolithic_window_ms"), ("streaming speed-up", "stream_speedup"),
            ("daemon pipeline, frames/s", "pipeline_fps"), ("bare decode + resize, frames/s", "bare_decode_resize_fps"),
            ("pipeline / bare", "pipeline_vs_bare"), ("daemon on the video, launch to exit, s", "pipeline_wall_s"),
            ("pipeline / bare, start-up included", "pipeline_vs_bare_wall"),
            ("daemon CPU at the file's pace, % of a core", "daemon_cpu_pct"),
            ("bare loop at the same pace, % of a core", "bare_paced_cpu_pct"),
            ("bare loop flat out, CPU per s of video, %", "bare_flat_out_cpu_pct"),
            ("daemon / bare loop CPU (both paced)", "daemon_vs_bare_cpu"),
            ("daemon peak RSS, MB", "daemon_peak_rss_mb"), ("daemon peak private memory, MB", "daemon_peak_anon_mb"),
            ("first frame after start, s", "first_frame_s"),
            ("first classification after start, s", "first_window_s"),
            ("a kept frame in one region, ms", "region_one_ms"), ("  in two regions, ms", "region_two_ms"),
            ("each extra region, ms per kept frame", "region_extra_ms")]
    rows += [(f"  stage {k}, ms", f"stage_{k}_ms") for k in STAGES]
    rows += [("  stages per second of video, ms", "stages_ms_per_s")]
    rows += [(f"{what}: delay {stat}, s", f"{key}_{stat}_s") for what, key in
             (("segment videos", "delay"), ("one scene, no cuts", "delay_one_scene")) for stat in ("median", "max")]
    print(f"model {r['model']}, {r['interpreter']}, {r['threads']} threads, video {r['frames']} frames")
    print(f"  encoder --encoder auto picks here{r['encoder_auto']:>16}")
    print(f"  frames decoded (the video's codec)  {'only kept' if r['decode_mode'] == 'packets' else 'all':>13}")
    for name, key in rows:
        if r.get(key) is not None:
            print(f"  {name:<40}{r[key]:>10.3f}")
    for key in ("delay", "delay_one_scene"):
        if f"{key}_announced" in r:
            print(f"  {key.replace('_', ' ')}: {r[key + '_announced']} activities announced, "
                  f"{r[key + '_wrong_starts']} wrong and {r[key + '_false_starts']} false starts")
    return 0
