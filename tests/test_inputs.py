"""Every input checked at the door: settings (exit 2), bundles (exit 3), source specs, with one line each; a bad
config at SIGHUP keeps the old settings. Real CLI subprocesses, real files, real bundles."""

from __future__ import annotations

import signal

import pytest

from edge_lrcn import config as C
from edge_lrcn.capture.sources import parse_source
from edge_lrcn.errors import UsageError
from tests.conftest import Lines, launch, run_cli, wait_until


def one_line_error(proc, code: int, *words: str) -> None:
    lines = [line for line in proc.stderr.splitlines() if "error" in line]
    assert proc.returncode == code, proc.stderr[-2000:]
    assert len(lines) == 1 and all(w in lines[0] for w in words), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("text,words", [
    (b"[camera]\nstall_timeout = nan\n", ("camera.stall_timeout", "finite")),
    (b"[events]\nmin_duration = inf\n", ("events.min_duration", "finite")),
    (b"source = \"x\"\n# caf\xe9\n", ("not a UTF-8 text file",)),
    (b"device_id = \"kitchen/#\"\n", ("device_id", "'#'")),
    (b"[mqtt]\ntopic_prefix = \"home/+/cam\"\n", ("mqtt.topic_prefix", "'+'")),
    (b"[mqtt]\nclient_id = \"a\\u0000b\"\n", ("mqtt.client_id", "NUL")),
    (b"[mqtt]\nha_prefix = \"$SYS\"\n", ("mqtt.ha_prefix", "$")),
    (b"[mqtt]\nqueue_limit = 0\n", ("mqtt.queue_limit", "between 1")),
])
def test_bad_settings_are_one_problem_naming_the_key(tmp_path, text, words):
    """In process: the problems check-config prints and run refuses (exit 2: tests/test_config.py)."""
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(text)
    _, problems = C.gather({}, cfg, environ={}, must_exist=True)
    assert len(problems) == 1 and all(w in str(problems[0]) for w in words), problems


def test_a_config_that_is_a_fifo_is_exit_2_not_a_hang(tmp_path):
    import os

    fifo = tmp_path / "c.toml"
    os.mkfifo(fifo)
    one_line_error(run_cli("run", "--config", fifo, timeout=30), 2, "not a regular file")


def test_a_password_file_that_is_not_text_is_exit_2(tmp_path):
    pw = tmp_path / "pw"
    pw.write_bytes(bytes(range(256)))
    proc = run_cli("run", "--source", "/dev/video99", "--sink", "mqtt://u@127.0.0.1:1", "--password-file", pw,
                   "--no-verify-model", timeout=60)
    one_line_error(proc, 2, "password file", "not UTF-8")


def test_a_bad_config_at_sighup_keeps_the_old_settings_and_the_daemon(tmp_path):
    from tests.mjpeg_server import MjpegCamera

    cam = MjpegCamera(fps=20)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'source = "{cam.url}"\nverify_model = false\n[events]\nstats_interval = 0\n')
    err_path = tmp_path / "stderr"
    with open(err_path, "w") as err_file:
        proc = launch("run", "--config", cfg, stderr=err_file)
    lines = Lines(proc)

    def failures() -> int:
        return err_path.read_text(errors="replace").count("reload failed, keeping the old settings")

    try:
        # the daemon streams (its loop runs): each SIGHUP below is one reload
        assert lines.wait(lambda: any(o.get("state") == "online" for _, o in lines.of("camera")), 60), lines.items
        for i, bad in enumerate((b"[camera]\nstall_timeout = nan\n", b"\xff\xfe[camera]\n")):
            cfg.write_bytes(bad)
            proc.send_signal(signal.SIGHUP)
            assert wait_until(lambda i=i: failures() == i + 1, 20), err_path.read_text()[-2000:]
            assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        err = err_path.read_text(errors="replace")
        assert proc.returncode == 0, err[-2000:]
        failed = [line for line in err.splitlines() if "reload failed, keeping the old settings" in line]
        assert len(failed) == 2 and "finite" in failed[0] and "UTF-8" in failed[1], err[-2000:]
        assert "Traceback" not in err
    finally:
        proc.kill()
        cam.close()


def test_source_specs_by_exact_form(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "picamera2_clip.avi").write_bytes(b"x")
    (tmp_path / "0").write_bytes(b"x")
    assert parse_source("picamera2_clip.avi").kind == "file"
    assert parse_source("0").kind == "file"  # a file of that name exists
    assert parse_source("1").kind == "v4l2"
    assert parse_source("picamera2").kind == parse_source("picamera2:1").kind == "picamera2"
    assert parse_source("rtsp://cam.local:554/s").kind == "stream"
    assert parse_source("clips/rtsp.avi").kind == "file"
    for bad in ("picamera2:x", "rtsp://", "gst:", " "):
        with pytest.raises(UsageError):
            parse_source(bad)


def test_a_malformed_spec_is_exit_2_a_missing_file_exit_4(tmp_path):
    one_line_error(run_cli("run", "--source", "picamera2:first", timeout=60), 2, "picamera2")
    one_line_error(run_cli("run", "--source", tmp_path / "picamera2_clip.avi", timeout=60), 4, "not found")


def test_nan_never_passes_a_range():
    with pytest.raises(UsageError, match="finite"):
        C.resolve({"source": "x", "enter_threshold": "nan"}, None, environ={})


# ---- bundles ------------------------------------------------------------------------------------------------------
def _rebundle(src, dst, members: dict[str, bytes] | None = None, extra: dict[str, bytes] | None = None,
              header_size: dict[str, int] | None = None):
    """A copy of a real bundle with members replaced (their sha256 updated in the manifest) or unlisted ones
    added."""
    import hashlib
    import json
    import zipfile

    with zipfile.ZipFile(src) as zin:
        data = {i.filename: zin.read(i.filename) for i in zin.infolist()}
    m = json.loads(data["manifest.json"])
    for name, blob in (members or {}).items():
        data[name] = blob
        m["files"][name]["sha256"] = hashlib.sha256(blob).hexdigest()
    data["manifest.json"] = json.dumps(m).encode()
    data.update(extra or {})
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, blob in data.items():
            zout.writestr(name, blob)
    return dst


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    from tests.test_control_path import _video

    path = tmp_path_factory.mktemp("inputs") / "v.avi"
    _video(path, 3)
    return path


def test_a_head_of_the_wrong_shape_is_exit_3_from_verify_and_run(default_bundle, tmp_path, video):
    import zipfile

    with zipfile.ZipFile(default_bundle) as z:  # the monolithic model: (1, 20, 64, 64, 3) -> (1, 5); its frames,
        lrcn = z.read("lrcn_fp32.tflite")  # axis 2 and output agree with a head's, the rest does not
    bad = _rebundle(default_bundle, tmp_path / "bad.lrcn", {"head.tflite": lrcn})
    one_line_error(run_cli("info", bad, "--verify", timeout=120), 3, "head input shape (1, 20, 64, 64, 3)")
    one_line_error(run_cli("run", "--model", bad, "--no-verify-model", "--source", video, timeout=120), 3,
                   "head input shape")


def test_unlisted_members_and_bundles_over_the_total_cap_are_exit_3(default_bundle, tmp_path, monkeypatch):
    from edge_lrcn.model import bundle as B

    bad = _rebundle(default_bundle, tmp_path / "x.lrcn", extra={"../../x": b"payload"})
    one_line_error(run_cli("info", bad, timeout=60), 3, "'../../x' is not listed in the manifest")
    # a bundle whose listed members together pass the total cap (each one alone under the member cap)
    enc = B.read_bundle(default_bundle).member("encoder_int8.tflite")
    big = _rebundle(default_bundle, tmp_path / "big.lrcn", {"report.json": b" " * (B.MAX_TOTAL_BYTES - len(enc))})
    # small on disk, large in memory: the padding adds under 1 MiB to the file and passes the cap once read
    assert big.stat().st_size < default_bundle.stat().st_size + 1024 * 1024
    one_line_error(run_cli("info", big, timeout=60), 3, "over the", "byte limit")
    many = _rebundle(default_bundle, tmp_path / "many.lrcn", extra={f"m{i}": b"" for i in range(B.MAX_MEMBERS)})
    one_line_error(run_cli("info", many, timeout=60), 3, "members, over the limit")


def test_a_bad_report_and_a_model_that_is_a_fifo_are_exit_3(default_bundle, tmp_path):
    import os

    bad = _rebundle(default_bundle, tmp_path / "r.lrcn", {"report.json": b"{not json"})
    one_line_error(run_cli("info", bad, "--report", timeout=60), 3, "report.json is not valid JSON")
    fifo = tmp_path / "m.lrcn"
    os.mkfifo(fifo)
    one_line_error(run_cli("info", fifo, timeout=30), 3, "not a regular file")
    one_line_error(run_cli("run", "--model", fifo, "--source", "/dev/video99", timeout=30), 3, "not a regular file")


def test_a_library_that_is_no_delegate_falls_back_or_is_exit_2(video):
    import glob

    lib = sorted(glob.glob("/lib/*/libm.so.6") + glob.glob("/usr/lib/*/libm.so.6") + glob.glob("/lib*/libm.so.6"))[0]
    proc = run_cli("run", "--source", video, "--delegate", lib, timeout=120)  # loads, and is no delegate
    assert proc.returncode == 0 and "not a TFLite delegate" in proc.stderr and "falling back" in proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
    one_line_error(run_cli("run", "--source", video, "--delegate", lib, "--require-delegate", timeout=120), 2,
                   "not a TFLite delegate")


def test_threads_beyond_the_units_tasks_max_are_exit_2(tmp_path, monkeypatch):
    """The cgroup files as systemd lays them out (v2 and v1), read back; build() refuses what they do not allow."""
    from edge_lrcn import daemon
    from edge_lrcn.service import tasks_limit

    (tmp_path / "system.slice/edge-lrcn.service").mkdir(parents=True)
    (tmp_path / "system.slice/edge-lrcn.service/pids.max").write_text("20\n")
    (tmp_path / "v2").write_text("0::/system.slice/edge-lrcn.service\n")
    assert tasks_limit(str(tmp_path / "v2"), str(tmp_path)) == 20
    (tmp_path / "pids/system.slice/x.service").mkdir(parents=True)
    (tmp_path / "pids/system.slice/x.service/pids.max").write_text("max\n")
    (tmp_path / "v1").write_text("8:pids:/system.slice/x.service\n1:cpu:/\n")
    assert tasks_limit(str(tmp_path / "v1"), str(tmp_path)) is None  # unlimited
    monkeypatch.setattr(daemon, "tasks_limit", lambda: 20)
    daemon._check_tasks(2)
    with pytest.raises(UsageError, match="TasksMax"):
        daemon._check_tasks(4)
