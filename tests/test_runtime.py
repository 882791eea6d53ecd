"""The daemon on real video files, with the real LiteRT interpreter."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from edge_lrcn.capture.sources import VideoFileSource, picamera_to_bgr
from edge_lrcn.convert.synth import make_sequence
from edge_lrcn.model.bundle import read_bundle
from edge_lrcn.model.loader import load_bundle
from edge_lrcn.model.placement import open_models
from tests.conftest import json_lines, run_cli


@pytest.fixture(scope="module")
def seq_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "seq.avi"
    make_sequence(path, [("left", 4.0), ("still", 4.0)], seed=11)
    return path


def test_run_file_source_emits_json_lines_and_exits_0(tiny_bundle, seq_video):
    bundle, _ = tiny_bundle
    proc = run_cli("run", "--model", bundle, "--source", seq_video, "--sink", "stdout", "--scores",
                   "--stats-interval", "1000", "--device-id", "testdev", "--cut-threshold", "0")  # count windows only
    assert proc.returncode == 0, proc.stderr
    objs = json_lines(proc.stdout)
    scores = [o for o in objs if o["type"] == "scores"]
    b = read_bundle(bundle)
    # 8 s at 10 fps = 80 kept frames; a window every kept frame (stride 1) from the 2nd (a model trained on short
    # lags, window.short_lags), from the first difference on (the 4th: early windows only, window.prefill), or from
    # the 23rd (a full window)
    first = 2 if b.short_lags else b.lag + 1 if b.prefill else b.lag + b.frames
    assert 80 - first - 5 <= len(scores) <= 80 - first + 5
    for o in objs:
        assert o["device"] == "testdev" and o["model"] == b.model_id and o["v"] == 1 and o["ts"].endswith("Z")
    assert set(scores[0]["scores"]) == set(b.labels)
    assert abs(sum(scores[0]["scores"].values()) - 1) < 1e-3
    stats = [o for o in objs if o["type"] == "stats"][-1]
    assert stats["frames_in"] == 200 and 78 <= stats["frames_kept"] <= 82 and stats["frames_skipped"] == 0
    assert "Traceback" not in proc.stderr


def test_run_never_imports_tensorflow(tiny_bundle, seq_video):
    bundle, _ = tiny_bundle
    code = ("import sys\nfrom edge_lrcn.cli import main\n"
            f"rc = main(['run', '--model', {str(bundle)!r}, '--source', {str(seq_video)!r}, '--stats-interval', '0'])\n"
            "rc2 = main(['info', " + repr(str(bundle)) + "])\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')]\n"
            "print('TF_MODULES', bad, rc, rc2)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "TF_MODULES [] 0 0" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_import_edge_lrcn_does_not_import_tensorflow():
    code = ("import sys, edge_lrcn, edge_lrcn.cli, edge_lrcn.daemon, edge_lrcn.evaluate, edge_lrcn.bench, "
            "edge_lrcn.publish.mqtt, edge_lrcn.model.verify, edge_lrcn.convert, edge_lrcn.convert.synth\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_missing_file_exits_4_with_one_line_a_missing_camera_is_offline(default_bundle, tmp_path):
    import json
    import signal

    from tests.conftest import launch

    bundle = default_bundle  # the tiny bundle is degraded: its load adds a warning line
    proc = run_cli("run", "--model", bundle, "--source", tmp_path / "nope.mp4")
    assert proc.returncode == 4, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    # a live camera absent at start: the daemon runs, says the camera is offline and why, and retries
    proc = launch("run", "--model", bundle, "--source", "/dev/video77")
    first = json.loads(proc.stdout.readline())
    assert first["type"] == "camera" and first["state"] == "offline" and "does not exist" in first["reason"], first
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "Traceback" not in err, err


def test_not_a_video_exits_4(tiny_bundle, tmp_path):
    bad = tmp_path / "x.mp4"
    bad.write_bytes(b"\x00" * 5000)
    proc = run_cli("run", "--model", tiny_bundle[0], "--source", bad)
    assert proc.returncode == 4 and "Traceback" not in proc.stderr


def _damage(src, dst, mode):
    data = bytearray(src.read_bytes())
    n = len(data)
    if mode == "truncated":
        dst.write_bytes(bytes(data[: int(n * 0.6)]))
    else:
        rng = np.random.default_rng(0)
        for frac in (0.3, 0.5, 0.7):
            i = int(n * frac)
            data[i:i + 4000] = rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
        dst.write_bytes(bytes(data))


@pytest.mark.parametrize("mode", ["truncated", "corrupt"])
def test_damaged_video_skips_and_counts_frames_and_exits_0(tiny_bundle, seq_video, tmp_path, mode):
    bad = tmp_path / f"{mode}.avi"
    _damage(seq_video, bad, mode)
    with VideoFileSource(bad) as src:
        n = 0
        while src.read() is not None:
            n += 1
        assert src.skipped > 0 and n + src.skipped == src.frame_count == 200
    proc = run_cli("run", "--model", tiny_bundle[0], "--source", bad, "--stats-interval", "1000")
    assert proc.returncode == 0, proc.stderr
    stats = [o for o in json_lines(proc.stdout) if o["type"] == "stats"][-1]
    assert stats["frames_skipped"] == 200 - stats["frames_in"] > 0
    assert "Traceback" not in proc.stderr


def _gpu_accelerator_works(bundle) -> bool:
    """Whether the LiteRT GPU accelerator runs the fp16 encoder here, asked of the daemon's own probe: a child
    process (no test loads the accelerator in the pytest process: its teardown has aborted it, exit 134)."""
    from edge_lrcn.model.accelerator import Unavailable
    from edge_lrcn.model.probe import probe

    try:
        probe("gpu", read_bundle(bundle).member("encoder_fp16.tflite"))
        return True
    except Unavailable:
        return False


def test_delegate_gpu_falls_back_to_the_cpu_with_one_warning(default_bundle, seq_video):
    """Where the LiteRT GPU accelerator finds no GPU (this machine): one warning line, the same run as on the CPU
    otherwise (none of LiteRT's own log lines leak), exit 0, and the stats say where each model ran."""
    bundle = default_bundle  # the tiny bundle is degraded: its load adds a warning line
    if _gpu_accelerator_works(bundle):
        pytest.skip("the LiteRT GPU accelerator works here: nothing falls back")
    # one CPU encoder named, so that both runs must give the same events (auto may time either one faster)
    args = ("run", "--model", bundle, "--source", seq_video, "--stats-interval", "1000", "--encoder", "int8")
    cpu = run_cli(*args, "--delegate", "cpu")
    gpu = run_cli(*args, "--delegate", "gpu")
    assert cpu.returncode == 0 and gpu.returncode == 0, gpu.stderr
    warnings = [line for line in gpu.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, gpu.stderr
    assert "--delegate gpu: LiteRT GPU accelerator unavailable (" in warnings[0]
    assert "no gpu_delegate_library set: falling back to the CPU encoder" in warnings[0]
    assert len(gpu.stderr.splitlines()) == len(cpu.stderr.splitlines()) + 1, gpu.stderr
    assert "Traceback" not in gpu.stderr and "DestroyAccelerator" not in gpu.stderr
    stats = [o for o in json_lines(gpu.stdout) if o["type"] == "stats"][-1]
    assert stats["encoder_device"] == "cpu" and stats["head_device"] == "cpu"
    def activity(out):
        return [(o["type"], o["label"], o["t"]) for o in json_lines(out) if o["type"].startswith("activity")]

    assert activity(gpu.stdout) == activity(cpu.stdout) != []  # the same CPU encoder ran
    # then the legacy delegate library, when one is set: both reasons in the one warning
    lib = run_cli(*args, "--delegate", "gpu", "--gpu-delegate-library", "/nonexistent/libgpu.so")
    warnings = [line for line in lib.stderr.splitlines() if "WARNING" in line]
    assert lib.returncode == 0 and len(warnings) == 1, lib.stderr
    assert "LiteRT GPU accelerator unavailable" in warnings[0] and "delegate /nonexistent/libgpu.so could not" \
        in warnings[0] and "falling back to the CPU encoder" in warnings[0]


def test_require_delegate_gpu_exits_2_with_one_line(default_bundle, seq_video):
    bundle = default_bundle
    if _gpu_accelerator_works(bundle):
        pytest.skip("the LiteRT GPU accelerator works here")
    for extra in ((), ("--gpu-delegate-library", "/nonexistent/libgpu.so")):
        proc = run_cli("run", "--model", bundle, "--source", seq_video, "--delegate", "gpu", "--require-delegate",
                       *extra)
        assert proc.returncode == 2 and "--require-delegate" in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.startswith("edge-lrcn run: error: --delegate gpu: LiteRT GPU accelerator unavailable")


_COMPILED_VS_INTERPRETER = r"""
import json, os, sys
import numpy as np
from ai_edge_litert.compiled_model import CompiledModel, HardwareAccelerator
from edge_lrcn.model.accelerator import CompiledEncoder
from edge_lrcn.model.bundle import read_bundle
from edge_lrcn.model.interpreter import Encoder, make_interpreter
b = read_bundle(sys.argv[1])
data = b.member("encoder_fp16.tflite")
compiled = CompiledEncoder(CompiledModel.from_buffer(data, hardware_accel=HardwareAccelerator.CPU),
                           "encoder_fp16.tflite")
reference = Encoder(make_interpreter(data, 1), "encoder_fp16.tflite", "cpu")
rng = np.random.default_rng(0)
frames = [rng.random((*b.input_size, 3), dtype=np.float32) for _ in range(3)]
pairs = [(compiled(f), reference(f)) for f in frames]
print(json.dumps({"shapes": [list(compiled.inp.shape), list(reference.inp.shape), list(compiled.out.shape),
                             list(reference.out.shape)], "feature_dim": b.feature_dim,
                  "got": [g.tolist() for g, _ in pairs], "want": [w.tolist() for _, w in pairs]}), flush=True)
os._exit(0)  # no LiteRT teardown (it has aborted after a CompiledModel)
"""


def test_compiled_encoder_matches_the_interpreter(default_bundle):
    """The wrapper the GPU path returns, run on LiteRT's CPU accelerator (the GPU path itself is untested on GPU
    hardware), in a child process like every load of the accelerator library: same input and output shapes, same
    features as the fp16 encoder on the interpreter."""
    proc = subprocess.run([sys.executable, "-c", _COMPILED_VS_INTERPRETER, str(default_bundle)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    compiled_in, reference_in, compiled_out, reference_out = out["shapes"]
    assert compiled_in == reference_in and compiled_out == reference_out
    for got, want in zip(np.array(out["got"]), np.array(out["want"]), strict=True):
        assert got.shape == (out["feature_dim"],) and np.abs(want).max() > 0
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)


def test_open_models_logs_where_each_model_runs(tiny_bundle, caplog):
    import logging

    caplog.set_level(logging.INFO)
    enc, head = open_models(read_bundle(tiny_bundle[0]), "cpu", 2, encoder="int8")
    assert enc.member == "encoder_int8.tflite" and enc.inp.dtype == np.int8
    assert "encoder encoder_int8.tflite runs on cpu" in caplog.text and "head runs on cpu" in caplog.text
    caplog.clear()
    enc, head = open_models(read_bundle(tiny_bundle[0]), "cpu", 2, encoder="fp16")
    assert enc.member == "encoder_fp16.tflite" and enc.inp.dtype == np.float32
    assert "encoder encoder_fp16.tflite runs on cpu" in caplog.text


def test_picamera_formats_convert_to_bgr():
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[..., 0] = 200  # R
    bgr_mem = rgb[..., ::-1].copy()  # libcamera RGB888 is B,G,R in memory
    assert np.array_equal(picamera_to_bgr(bgr_mem, "RGB888"), bgr_mem)
    assert np.array_equal(picamera_to_bgr(rgb, "BGR888"), bgr_mem)
    xrgb = np.concatenate([bgr_mem, np.full((4, 6, 1), 255, np.uint8)], axis=2)
    assert np.array_equal(picamera_to_bgr(xrgb, "XRGB8888"), bgr_mem)
    import cv2

    yuv = cv2.cvtColor(bgr_mem, cv2.COLOR_BGR2YUV_I420)
    back = picamera_to_bgr(yuv, "YUV420")
    assert back.shape == (4, 6, 3) and abs(int(back[..., 2].mean()) - 200) < 12


def test_config_errors_exit_2_naming_the_key(tmp_path, tiny_bundle):
    cfg = tmp_path / "c.toml"
    cfg.write_text('source = "x.mp4"\n[events]\nenter_threshold = "high"\n')
    proc = run_cli("run", "--config", cfg, "--model", tiny_bundle[0])
    assert proc.returncode == 2 and "events.enter_threshold" in proc.stderr
    cfg.write_text('sourec = "x.mp4"\n')
    proc = run_cli("check-config", cfg)
    assert proc.returncode == 2 and "sourec: unknown key" in proc.stderr
    cfg.write_text('[events]\nsmoothing = 2.5\n')
    proc = run_cli("check-config", cfg)
    assert proc.returncode == 2 and "events.smoothing: expected a whole number" in proc.stderr
    cfg.write_text('[events]\nsmoothing = 3\n[mqtt]\nqos = 1\n')
    assert run_cli("check-config", cfg).returncode == 0
    proc = run_cli("run", "--model", tiny_bundle[0], "--source", "x.mp4", "--enter-threshold", "0.2",
                   "--exit-threshold", "0.5")
    assert proc.returncode == 2 and "threshold" in proc.stderr


def test_tiny_convert_report_members_and_ops(tiny_bundle):
    """The small real convert run: what its report says about the members it wrote, checked against the bundle."""
    from edge_lrcn.model.bundle import read_bundle

    path, report = tiny_bundle
    b = read_bundle(path)
    # the default encoder (EfficientNet-Lite0 to stage 5): full-integer builtins only
    assert set(report["ops"]["encoder_int8.tflite"]) == {"ADD", "CONV_2D", "DEPTHWISE_CONV_2D", "MUL", "RESHAPE"}
    assert "WHILE" not in report["ops"]["head.tflite"]  # the head is one graph without a loop
    assert "WHILE" in report["ops"]["lrcn_fp32.tflite"]  # the reference is the trained model as Keras built it
    assert report["sizes"]["encoder_int8"] == len(b.member("encoder_int8.tflite"))
    assert report["sizes"]["int8_over_fp32"] <= 0.36
    assert 0 <= report["int8_streaming"]["agreement_with_float"] <= 1 and "baseline_single_frame" in report
    # the exported head + float encoders reproduce the Keras model on the test windows
    assert report["fp16_streaming"]["max_prob_diff"] < 0.01
    assert report["lrcn_fp32_tflite"]["max_prob_diff"] < 1e-4


def test_run_warns_once_about_a_degraded_bundle(default_bundle, seq_video, tmp_path):
    """A bundle convert wrote below its quality gate (--allow-degraded) is run, with one warning naming it."""
    from edge_lrcn.model.bundle import read_bundle, write_bundle

    b = read_bundle(default_bundle)
    manifest = {k: v for k, v in b.manifest.items() if k not in ("format", "version", "files")}
    manifest["validation"] = {**manifest["validation"], "degraded": True, "int8_agreement": 0.81}
    members = {name: (b.member(name), info["role"], info["dtype"]) for name, info in b.manifest["files"].items()}
    degraded = tmp_path / "degraded.lrcn"
    write_bundle(degraded, manifest, members)
    proc = run_cli("run", "--model", degraded, "--source", seq_video, "--stats-interval", "0")
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "quality gate" in line]
    assert len(warnings) == 1 and "WARNING" in warnings[0] and str(degraded) in warnings[0], proc.stderr
    assert "0.810" in warnings[0]
    proc = run_cli("run", "--model", default_bundle, "--source", seq_video, "--stats-interval", "0")
    assert proc.returncode == 0 and "quality gate" not in proc.stderr


def _native_threads() -> set[str]:
    return set(os.listdir("/proc/self/task"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts the process's threads in /proc (Linux)")
def test_the_interpreters_run_on_the_callers_thread_by_default(default_bundle):
    """threads defaults to 1 (docs/deploy.md "threads"): the encoder and the head start no worker thread that
    would be woken for every frame; asked for 2, they do."""
    bundle = load_bundle(str(default_bundle))
    rgb = np.zeros((*bundle.input_size, 3), np.uint8)
    feats = np.zeros((bundle.frames, bundle.feature_dim), np.float32)
    started = {}
    for threads in (None, 2):
        before = _native_threads()
        enc, head = open_models(bundle, "cpu", threads, encoder="fp16")
        enc.encode_rgb(rgb)
        head(feats)
        started[threads] = _native_threads() - before
        del enc, head
    assert started[None] == set()
    assert started[2]
