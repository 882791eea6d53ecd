"""Files that are not what they seem: links planted in the clips folder, a clip the daemon was killed in, a clip
recorded onto a disk that fills up, key files that others may write, a FIFO named like a key, several keys in one
file. Real files, real videos, a real tmpfs as root, real daemons (docs/clips.md, docs/fleet.md)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from edge_lrcn.config import ClipsSettings
from edge_lrcn.convert.synth import make_sequence
from edge_lrcn.publish import clips as C
from edge_lrcn.publish.clipfiles import LOST, PARTIAL, ClipIndex
from tests.conftest import in_ci, launch, wait_until
from tests.test_clips import daemon_in_an_open_clip, decoded_frames


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"
    victim.mkdir()
    for name in ("a.txt", "20261125T160041.123Z_fall.mp4"):
        (victim / name).write_text("precious")
    return victim


def test_links_in_the_clips_folder_are_never_followed_to_write_or_delete(tmp_path):
    victim, folder = _victim(tmp_path), tmp_path / "clips"
    folder.mkdir()
    (folder / PARTIAL).symlink_to(victim)  # every file in its target used to be deleted at start
    (folder / "20250101T000000.000Z_x.mp4").symlink_to(victim / "a.txt")  # named like the oldest clip
    rec = C.ClipRecorder(ClipsSettings(clips_dir=str(folder)), C.ClipOrigin(), start=False)
    assert sorted(p.name for p in victim.iterdir()) == ["20261125T160041.123Z_fall.mp4", "a.txt"]
    assert (folder / PARTIAL).is_dir() and not (folder / PARTIAL).is_symlink()
    # a link planted under the name of a file being written is replaced, never written through
    (folder / PARTIAL / "20261205T000000.000Z_up.jpg").symlink_to(victim / "a.txt")
    C.atomic_write(folder / "20261205T000000.000Z_up.jpg", b"jpeg")
    assert (victim / "a.txt").read_text() == "precious"
    assert (folder / "20261205T000000.000Z_up.jpg").read_bytes() == b"jpeg"
    # the budget knows only regular files: the link is not a clip, and removing everything spares its target
    index = ClipIndex(folder)
    assert index.stems == ["20261205T000000.000Z_up"]
    assert C.enforce_budget(index, 0, set()) == 1 and index.total == 0
    assert (victim / "a.txt").read_text() == "precious" and (folder / "20250101T000000.000Z_x.mp4").is_symlink()
    assert rec.index is not None


def test_the_budget_is_kept_from_an_index_not_a_scan_per_clip(tmp_path, monkeypatch):
    folder = tmp_path / "clips"
    folder.mkdir()
    for i in range(300):
        for ext in ("mp4", "json", "jpg"):
            (folder / f"20261205T{i:06d}.000Z_up.{ext}").write_bytes(b"x" * 100)
    index = ClipIndex(folder)
    assert index.total == 90000 and len(index.stems) == 300
    scans = []
    real = os.scandir
    monkeypatch.setattr(os, "scandir", lambda *a: scans.append(a) or real(*a))
    new = folder / "20261206T000000.000Z_up.mp4"
    new.write_bytes(b"y" * 1000)
    index.add(new)
    assert C.enforce_budget(index, 89000, {"20261206T000000.000Z_up"}) == 7  # 91,000 B: the 7 oldest clips go
    assert not scans and index.total == 88900 and len(list(folder.iterdir())) == 3 * 293 + 1
    assert not (folder / "20261205T000000.000Z_up.mp4").exists() and new.exists()


def test_a_clip_the_daemon_was_killed_in_gets_a_sidecar_that_says_so(tmp_path):
    proc, folder, start = daemon_in_an_open_clip(tmp_path)
    assert wait_until(lambda: (folder / PARTIAL / start["clip"]).exists(), 30)  # the writer opened the clip
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=15)
    assert (folder / start["snapshot"]).exists() and not (folder / start["clip"]).exists()
    C.ClipRecorder(ClipsSettings(clips_dir=str(folder)), C.ClipOrigin(), start=False)  # what the next start does
    meta = json.loads((folder / start["clip"]).with_suffix(".json").read_text())
    assert meta == {"label": "right", "clip": None, "snapshot": start["snapshot"], "lost": LOST}
    assert not list((folder / PARTIAL).iterdir())


def test_sigterm_during_a_long_pre_roll_stops_within_the_budget(tmp_path):
    video, folder = tmp_path / "long.avi", tmp_path / "clips"
    make_sequence(video, [("still", 60.0), ("right", 12.0)], seed=8, size=(640, 480))
    proc = launch("run", "--source", video, "--clips-dir", folder, "--pre-roll", "60", "--clips-fps", "0",
                  "--stats-interval", "0")
    for line in proc.stdout:  # the clip with 60 s of pre-roll is being written from here on
        if '"activity_start"' in line and '"right"' in line:
            break
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    took = time.monotonic() - t0
    assert proc.returncode == 0 and "Traceback" not in err, err[-2000:]
    assert took <= 5.0, (took, err[-2000:])  # what the daemon promises for SIGTERM
    metas = [json.loads(p.read_text()) for p in folder.glob("*.json")]
    # the clip is kept, shorter (with the early windows and min_duration 0 the "still" before it is an activity
    # too, whose post-roll the stop cuts short)
    assert "right" in [m["label"] for m in metas if m.get("closed_by") == "shutdown"]
    for meta in metas:  # and whole
        assert decoded_frames(folder / meta["clip"]) == meta["frames"] > 0


def _tmpfs(folder: Path, size: str) -> None:
    folder.mkdir()
    if os.geteuid() != 0:
        msg = "a full disk needs a tmpfs: run the tests as root (CI does)"
        pytest.fail(msg) if in_ci() else pytest.skip(msg)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)


# ---- trusted keys -------------------------------------------------------------------------------------------------
def test_key_files_others_may_write_fifos_and_garbage_are_refused_and_the_rest_is_used(tmp_path):
    from edge_lrcn.errors import UsageError
    from edge_lrcn.fleet.keys import keygen, load_keys, load_trusted

    keys = tmp_path / "keys"
    keys.mkdir(mode=0o755)
    for name in ("alice", "bob", "carol", "mallory"):
        keygen(tmp_path / name, name)
    (keys / "alice.pub").write_bytes((tmp_path / "alice" / "edge-lrcn.pub").read_bytes())
    two = (tmp_path / "bob" / "edge-lrcn.pub").read_text() + "# the second key\n\n" + \
        (tmp_path / "carol" / "edge-lrcn.pub").read_text()
    (keys / "both.pub").write_text(two)
    (keys / "garbage.pub").write_text("not a key at all\n")
    (keys / "open.pub").write_bytes((tmp_path / "mallory" / "edge-lrcn.pub").read_bytes())
    (keys / "open.pub").chmod(0o666)
    os.mkfifo(keys / "fifo.pub")  # would hang a plain open() for ever
    problems: list[str] = []
    got = load_trusted([keys], strict=False, problems=problems)
    assert sorted(k.name for k in got) == ["alice", "bob", "carol"]  # every key of both.pub, said in the log
    assert len(problems) == 3, problems
    assert any("fifo.pub is not a regular file" in p for p in problems)
    assert any("garbage.pub line 1 is not an edge-lrcn public key" in p for p in problems)
    assert any(f"writable by group or others: refused (sudo chmod go-w {keys / 'open.pub'})" in p for p in problems)
    with pytest.raises(UsageError, match="fifo.pub is not a regular file|garbage.pub|open.pub"):
        load_trusted([keys])  # host commands: the first problem is the error
    (keys / "mixed.pub").write_text(two + "garbage\n")  # one bad line refuses the whole file
    with pytest.raises(UsageError, match=r"mixed.pub line 5 .* the file is refused"):
        load_keys(keys / "mixed.pub")
    keys.chmod(0o777)  # whoever may write in the folder may add a key
    problems.clear()
    assert load_trusted([keys], strict=False, problems=problems) == []
    assert problems == [f"trusted key folder {keys} is writable by group or others: refused (sudo chmod go-w {keys})"]


def test_a_daemon_with_a_fifo_and_a_garbage_key_starts_with_the_good_keys(tmp_path):
    from edge_lrcn.fleet.keys import keygen
    from tests.conftest import run_cli

    keys = tmp_path / "keys"
    keys.mkdir(mode=0o755)
    keygen(tmp_path / "alice", "alice")
    (keys / "alice.pub").write_bytes((tmp_path / "alice" / "edge-lrcn.pub").read_bytes())
    (keys / "garbage.pub").write_text("edge-lrcn-ed25519 !!!! x\n")
    os.mkfifo(keys / "hang.pub")
    video = tmp_path / "v.avi"
    make_sequence(video, [("right", 2.0)], seed=2)
    proc = run_cli("run", "--source", video, "--trusted-key", keys, "--state-dir", tmp_path / "state",
                   "--stats-interval", "0", timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 2 and any("hang.pub" in e for e in errors) and any("garbage.pub" in e for e in errors)
    assert "trusted key file" in proc.stderr and "alice.pub: 1 key (alice)" in proc.stderr


# ---- record and dataset add ---------------------------------------------------------------------------------------
def test_record_onto_a_disk_that_fills_up_ends_with_one_line_and_nothing_half_written(tmp_path):
    from tests.conftest import run_cli

    video, data = tmp_path / "v.avi", tmp_path / "data"
    make_sequence(video, [("right", 20.0)], seed=3, size=(320, 240))
    _tmpfs(data, "400k")
    try:
        proc = run_cli("record", "--source", video, "--label", "wave", "--seconds", "3", "--count", "6", "--interval",
                       "0", "--out", data, timeout=120)
        kept = {p.name: decoded_frames(p) for p in (data / "wave").iterdir()}
        partial = list((data / PARTIAL).iterdir())
    finally:
        subprocess.run(["umount", str(data)], check=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "the disk is full" in last and "nothing was added" in last, proc.stderr[-2000:]
    assert len(kept) < 6 and all(n == 75 for n in kept.values()) and not partial  # whole clips only


def test_dataset_add_refuses_bad_sidecars_and_a_file_as_data_with_one_line(tmp_path):
    from tests.conftest import run_cli

    folder, data = tmp_path / "clips", tmp_path / "data"
    folder.mkdir()
    stem = "20261125T160041.123Z_fall"
    make_sequence(folder / f"{stem}.avi", [("right", 1.0)], seed=4)
    cases = {"slash": {"clip": "../x/y.avi", "label": "fall"}, "empty": {"clip": "", "label": "fall"},
             "array": [1, 2], "number": {"clip": f"{stem}.avi", "label": 3},
             "lost": {"clip": None, "label": "fall", "lost": LOST}, "nested": "[" * 5000}
    for name, body in cases.items():
        (folder / f"{name}.json").write_text(body if isinstance(body, str) else json.dumps(body))
        proc = run_cli("dataset", "add", folder / f"{name}.json", "--data", data, timeout=120)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, (name, proc.stderr[-1500:])
        assert len(proc.stderr.strip().splitlines()) == 1 and not data.exists(), (name, proc.stderr)
    (folder / f"{stem}.json").write_text(json.dumps({"clip": f"{stem}.avi", "label": "fall", "frames": 999}))
    proc = run_cli("dataset", "add", folder / f"{stem}.json", "--data", data, timeout=120)
    assert proc.returncode == 2 and "25 of its 999 frames decode" in proc.stderr and not data.exists()
    data.write_text("not a folder")
    proc = run_cli("dataset", "add", folder / f"{stem}.avi", "--label", "fall", "--data", data, timeout=120)
    assert proc.returncode == 2 and "is a file, not a dataset folder" in proc.stderr, proc.stderr


def test_record_refuses_an_interval_that_is_not_a_number(tmp_path):
    from tests.conftest import run_cli

    for value in ("nan", "inf", "-1"):
        proc = run_cli("record", "--source", tmp_path / "none.avi", "--label", "x", "--interval", value, "--out",
                       tmp_path / "data")
        assert proc.returncode == 2 and "--interval" in proc.stderr and "Traceback" not in proc.stderr


def test_links_in_the_state_folder_are_replaced_or_removed_never_followed(tmp_path):
    from edge_lrcn.fleet.state import StateDir

    victim, state = _victim(tmp_path), tmp_path / "state"
    state.mkdir()
    for name in ("settings.json", "paused", "release", ".incoming-x.lrcn", "model.lrcn"):
        (state / name).symlink_to(victim / "a.txt")
    s = StateDir(state)
    s.clean()  # a crash's staging files: the link goes, its target stays
    s.write_settings({"enter_threshold": 0.5})
    s.write_release("2026-12-05T10:00:00.000Z")
    s.set_paused(False)
    s.commit(s.stage(b"bundle"))
    assert (victim / "a.txt").read_text() == "precious"
    assert not os.path.lexists(state / ".incoming-x.lrcn") and not os.path.lexists(state / "paused")
    for name in ("settings.json", "release", "model.lrcn"):
        assert not (state / name).is_symlink() and (state / name).is_file()
    assert (state / "model.previous.lrcn").is_symlink()  # the link was renamed, as a link


def test_a_pre_roll_buffer_over_the_units_memory_max_is_exit_2(tmp_path, monkeypatch):
    """The cgroup file as systemd lays it out for MemoryMax=600M, read back; build() refuses what does not fit."""
    from types import SimpleNamespace

    from edge_lrcn import daemon
    from edge_lrcn.errors import UsageError
    from edge_lrcn.service import memory_limit

    (tmp_path / "system.slice/edge-lrcn.service").mkdir(parents=True)
    (tmp_path / "system.slice/edge-lrcn.service/memory.max").write_text(f"{600 * 1024 * 1024}\n")
    (tmp_path / "v2").write_text("0::/system.slice/edge-lrcn.service\n")
    assert memory_limit(str(tmp_path / "v2"), str(tmp_path)) == 600 * 1024 * 1024
    (tmp_path / "system.slice/edge-lrcn.service/memory.max").write_text("max\n")
    assert memory_limit(str(tmp_path / "v2"), str(tmp_path)) is None
    monkeypatch.setattr(daemon, "memory_limit", lambda: 600 * 1024 * 1024)
    daemon._check_memory(SimpleNamespace(clips_dir="clips", clips_buffer_mb=256.0))
    daemon._check_memory(SimpleNamespace(clips_dir=None, clips_buffer_mb=1024.0))  # no clips: no buffer
    with pytest.raises(UsageError, match="clips_buffer_mb = 1024 needs about 1274 MB .* MemoryMax"):
        daemon._check_memory(SimpleNamespace(clips_dir="clips", clips_buffer_mb=1024.0))
