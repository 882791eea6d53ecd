"""Bundle write/read round trip and every tamper case of the reader (one line, exit 3)."""

import hashlib
import json
import zipfile

import pytest

from edge_lrcn.errors import BundleError
from edge_lrcn.model.bundle import FORMAT, VERSION, read_bundle, write_bundle
from tests.conftest import run_cli

MANIFEST = {"labels": ["a", "b"], "window": {"frames": 4, "fps": 10}, "feature_dim": 8,
            "input": {"height": 16, "width": 16, "color": "rgb", "scale": 1 / 255}}
MEMBERS = {"encoder_int8.tflite": (b"enc" * 100, "encoder", "int8"), "head.tflite": (b"head" * 50, "head", "float32"),
           "report.json": (b"{}", "report", "json")}


@pytest.fixture()
def good(tmp_path):
    p = tmp_path / "m.lrcn"
    write_bundle(p, MANIFEST, MEMBERS)
    return p


def rezip(src, dst, edit_manifest=None, replace=None, drop=(), extra=None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            data = zin.read(info.filename)
            if info.filename == "manifest.json" and edit_manifest:
                m = json.loads(data)
                edit_manifest(m)
                data = json.dumps(m).encode()
            if replace and info.filename in replace:
                data = replace[info.filename]
            zout.writestr(info.filename, data)
        for name, data in (extra or {}).items():
            zout.writestr(name, data)
    return dst


def test_round_trip(good):
    b = read_bundle(good)
    assert b.manifest["format"] == FORMAT and b.manifest["version"] == VERSION
    assert b.member("encoder_int8.tflite") == MEMBERS["encoder_int8.tflite"][0]
    assert b.labels == ["a", "b"] and b.frames == 4 and b.fps == 10 and b.input_size == (16, 16)
    assert b.sha256 == hashlib.sha256(good.read_bytes()).hexdigest() and b.model_id == b.sha256[:12]
    f = b.manifest["files"]["head.tflite"]
    assert f["role"] == "head" and f["dtype"] == "float32" and f["bytes"] == 200


@pytest.mark.parametrize("case,match", [
    ("sha", "does not match its sha256"),
    ("missing", "encoder_int8.tflite listed in the manifest is missing"),
    ("version", "version 3 is not supported"),
    ("foreign", "not an edge-lrcn bundle"),
    ("notzip", "not a zip archive"),
    ("truncated", "not a zip archive|damaged"),
    ("oversize", "over the .* byte limit|inflates past"),
    ("traversal", "not allowed"),
    ("nomanifest", "manifest.json is missing"),
    ("badjson", "not valid JSON"),
    ("nolabels", "labels"),
    ("unlisted_required", "required member head.tflite"),
    ("transform", "input.transform"),
    ("lag", "input.lag"),
    ("gain", "input.gain"),
    ("short_lags", "window.short_lags"),
    ("short_lags_no_prefill", "window.short_lags"),
    ("short_lags_lag_1", "window.short_lags"),
])
def test_tampered_bundles_are_refused_with_one_line(good, tmp_path, case, match):
    bad = tmp_path / f"{case}.lrcn"
    if case == "sha":
        rezip(good, bad, replace={"head.tflite": b"HEAD" * 50})
    elif case == "missing":
        rezip(good, bad, drop={"encoder_int8.tflite"})
    elif case == "version":
        rezip(good, bad, edit_manifest=lambda m: m.update(version=3))
    elif case in ("transform", "lag", "gain"):  # a model fed differences: only what the runtime computes exactly
        bad_input = {"transform": {"transform": "optical_flow", "lag": 3, "gain": 0.5},
                     "lag": {"transform": "difference", "lag": 0, "gain": 0.5},
                     "gain": {"transform": "difference", "lag": 3, "gain": 3}}[case]
        rezip(good, bad, edit_manifest=lambda m: m["input"].update(bad_input))
    elif case == "short_lags":  # a model fed short lags after a restart: only a bool, only with the rest prefill
        rezip(good, bad, edit_manifest=lambda m: m["window"].update(short_lags="yes"))
    elif case == "short_lags_no_prefill":
        rezip(good, bad, edit_manifest=lambda m: (m["window"].update(short_lags=True), m["window"].pop("prefill", 0)))
    elif case == "short_lags_lag_1":  # no lag is shorter than 1
        rezip(good, bad, edit_manifest=lambda m: (m["window"].update(short_lags=True, prefill="rest"),
                                                  m["input"].update(transform="difference", lag=1, gain=0.5)))
    elif case == "foreign":
        rezip(good, bad, edit_manifest=lambda m: m.update(format="something-else"))
    elif case == "notzip":
        bad.write_bytes(b"TFL3" + b"\x00" * 100)
    elif case == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif case == "oversize":
        big = b"\x00" * (65 * 1024 * 1024)  # compresses to almost nothing: the reader must not trust the header
        rezip(good, bad, replace={"head.tflite": big},
              edit_manifest=lambda m: m["files"]["head.tflite"].update(sha256=hashlib.sha256(big).hexdigest()))
    elif case == "traversal":
        rezip(good, bad, extra={"../../evil.tflite": b"x"},
              edit_manifest=lambda m: m["files"].update({"../../evil.tflite": {"sha256": "0" * 64, "role": "head"}}))
    elif case == "nomanifest":
        rezip(good, bad, drop={"manifest.json"})
    elif case == "badjson":
        rezip(good, bad, replace={"manifest.json": b"{not json"})
    elif case == "nolabels":
        rezip(good, bad, edit_manifest=lambda m: m.update(labels=[]))
    elif case == "unlisted_required":
        rezip(good, bad, edit_manifest=lambda m: m["files"].pop("head.tflite"))
    with pytest.raises(BundleError, match=match):
        read_bundle(bad)
    proc = run_cli("info", bad)
    assert proc.returncode == 3
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("edge-lrcn info: error: invalid model bundle")


def test_missing_bundle_file_exits_3(tmp_path):
    proc = run_cli("info", tmp_path / "nope.lrcn")
    assert proc.returncode == 3 and "not found" in proc.stderr and "Traceback" not in proc.stderr
