"""Bad bundles: truncated, bit-flipped, re-zipped, oversize, path traversal, foreign archives, crafted .tflite members.
Every case: exit 3, one line, no traceback, never a signal death."""

from __future__ import annotations

import hashlib
import json
import zipfile

import numpy as np
import pytest

from edge_lrcn.errors import BundleError
from edge_lrcn.model.bundle import read_bundle, read_bundle_bytes
from tests.conftest import run_cli


def members(path):
    with zipfile.ZipFile(path) as z:
        return {i.filename: z.read(i.filename) for i in z.infolist()}


def pack(dst, files, fix_hashes=True, compression=zipfile.ZIP_DEFLATED):
    files = dict(files)
    m = json.loads(files["manifest.json"])
    if fix_hashes:  # a forger who re-signs nothing but fixes the hashes: the reader's checks all pass
        for name in m["files"]:
            if name in files:
                m["files"][name]["sha256"] = hashlib.sha256(files[name]).hexdigest()
        files["manifest.json"] = json.dumps(m).encode()
    with zipfile.ZipFile(dst, "w", compression) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return dst


def assert_exit_3(path, *cmd):
    proc = run_cli(*(cmd or ("info",)), path)
    assert proc.returncode == 3, (proc.returncode, proc.stderr[-1500:])
    err = [ln for ln in proc.stderr.strip().splitlines() if not ln.startswith("INFO: Created TensorFlow Lite")]
    assert len(err) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return err[0]


def test_bit_flips_never_pass_or_crash(tiny_bundle):
    data = tiny_bundle[0].read_bytes()
    rng = np.random.default_rng(0)
    refused = 0
    for _ in range(300):
        b = bytearray(data)
        for pos in rng.integers(0, len(b), size=rng.integers(1, 4)):
            b[pos] ^= 1 << int(rng.integers(0, 8))
        try:
            read_bundle_bytes(bytes(b))
        except BundleError:
            refused += 1
        # flips in zip padding/comment bytes can leave every member intact: that is fine, nothing changed
    assert refused >= 250


def test_bit_flipped_and_truncated_files_via_cli(tiny_bundle, tmp_path):
    data = tiny_bundle[0].read_bytes()
    for i, frac in enumerate((0.1, 0.5, 0.9)):
        p = tmp_path / f"cut{i}.lrcn"
        p.write_bytes(data[: int(len(data) * frac)])
        assert_exit_3(p)
    b = bytearray(data)
    b[len(b) // 2] ^= 0xFF
    p = tmp_path / "flip.lrcn"
    p.write_bytes(bytes(b))
    line = assert_exit_3(p)
    assert "sha256" in line or "damaged" in line or "zip" in line


def test_rezipped_with_other_compression_still_reads(tiny_bundle, tmp_path):
    p = pack(tmp_path / "stored.lrcn", members(tiny_bundle[0]), fix_hashes=False, compression=zipfile.ZIP_STORED)
    assert read_bundle(p).labels == read_bundle(tiny_bundle[0]).labels


def test_foreign_archives(tmp_path):
    p = tmp_path / "jar.lrcn"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
    assert "manifest.json is missing" in assert_exit_3(p)
    p2 = tmp_path / "other.lrcn"
    with zipfile.ZipFile(p2, "w") as z:
        z.writestr("manifest.json", json.dumps({"format": "tflite-model-maker", "version": 1}))
    assert "not an edge-lrcn bundle" in assert_exit_3(p2)
    p3 = tmp_path / "dir.lrcn"
    p3.mkdir()
    assert_exit_3(p3)
    p4 = tmp_path / "model.tflite.lrcn"
    p4.write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 200)
    assert "not a zip" in assert_exit_3(p4)


def test_path_traversal_and_zip_bomb(tiny_bundle, tmp_path):
    files = members(tiny_bundle[0])
    m = json.loads(files["manifest.json"])
    m["files"]["../../../tmp/evil.tflite"] = {"sha256": "0" * 64, "role": "head"}
    files["manifest.json"] = json.dumps(m).encode()
    files["../../../tmp/evil.tflite"] = b"x"
    assert "not allowed" in assert_exit_3(pack(tmp_path / "trav.lrcn", files, fix_hashes=False))
    files = members(tiny_bundle[0])
    files["head.tflite"] = b"\x00" * (80 * 1024 * 1024)  # deflates to ~80 kB
    assert "byte limit" in assert_exit_3(pack(tmp_path / "bomb.lrcn", files))


@pytest.mark.parametrize("craft", ["garbage", "truncated", "swapped", "zero_tensors", "wrong_shape"])
def test_crafted_tflite_members_with_matching_hashes(tiny_bundle, tmp_path, craft):
    files = members(tiny_bundle[0])
    enc = files["encoder_int8.tflite"]
    if craft == "garbage":
        files["encoder_int8.tflite"] = enc[:8] + np.random.default_rng(1).integers(0, 256, len(enc) - 8,
                                                                                 dtype=np.uint8).tobytes()
    elif craft == "truncated":
        files["encoder_int8.tflite"] = enc[: len(enc) // 3]
    elif craft == "swapped":
        files["encoder_int8.tflite"], files["head.tflite"] = files["head.tflite"], enc
    elif craft == "zero_tensors":
        b = bytearray(enc)
        rng = np.random.default_rng(2)
        for pos in rng.integers(64, len(b) - 64, size=40):  # scribble over the flatbuffer's tables
            b[pos] = 0xFF
        files["encoder_int8.tflite"] = bytes(b)
    elif craft == "wrong_shape":
        files["encoder_int8.tflite"] = files["encoder_fp16.tflite"]
        m = json.loads(files["manifest.json"])
        m["feature_dim"] = 7
        files["manifest.json"] = json.dumps(m).encode()
    p = pack(tmp_path / f"{craft}.lrcn", files)
    read_bundle(p)  # the hashes match: only loading the models can tell
    assert_exit_3(p, "info", "--verify")
    # the daemon verifies a new bundle in a child process before loading it: exit 3, not a crash
    proc = run_cli("run", "--model", p, "--source", "/nonexistent.mp4")
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr


def test_info_verify_passes_a_good_bundle(tiny_bundle):
    proc = run_cli("info", "--verify", tiny_bundle[0])
    assert proc.returncode == 0, proc.stderr
    v = json.loads(proc.stdout)["verify"]
    assert set(v) == {"encoder_int8.tflite", "encoder_fp16.tflite", "head.tflite", "lrcn_fp32.tflite"}


def test_info_into_a_reader_that_stops_early_exits_0_quietly():
    """`edge-lrcn info M | head -3` (scripts/make_default_model.sh does it under pipefail): the reader closing the
    pipe is no error, and no line about it."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "edge_lrcn", "info"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader goes away before the output comes: every write is a broken pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert err == "", err
