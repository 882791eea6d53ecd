"""The settings layer through ``check-config`` and ``run``: the same checks, every error with its key and place."""

from __future__ import annotations

import pytest

from edge_lrcn import config as C
from edge_lrcn.errors import UsageError
from tests.conftest import run_cli


@pytest.mark.parametrize("text,key,needle", [
    ("[events]\nenter_threshold = 0.2\nexit_threshold = 0.5\n", "events.exit_threshold", "enter_threshold 0.2"),
    ('sinks = ["stdout", "mqtt://host:99999"]\n', "sinks", "bad port"),
    ('sinks = ["mqtt://host:0"]\n', "sinks", "bad port"),
    ('sinks = ["mqtt://user:pw@host"]\n', "sinks", "password"),
    ('sinks = ["kafka://host"]\n', "sinks", "unknown sink"),
    ('sourec = "/dev/video0"\n', "sourec", "did you mean source?"),
    ("[events]\nsmothing = 3\n", "events.smothing", "did you mean events.smoothing?"),
    ("[mqtt]\nenter_threshold = 0.5\n", "mqtt.enter_threshold", "did you mean [events] enter_threshold?"),
    ("[evnts]\nsmoothing = 3\n", "[evnts]", "did you mean [events]?"),
    ('sinks = ["mqtts://broker"]\n[mqtt]\ncert_file = "/etc/c.pem"\n', "mqtt.cert_file", "key_file is not set"),
    ('sinks = ["mqtt://broker"]\n[mqtt]\npassword_file = "/etc/pw"\n', "mqtt.password_file", "no username"),
])
def test_check_config_and_run_refuse_the_same_with_key_and_place(tmp_path, text, key, needle):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    proc = run_cli("check-config", cfg)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{cfg}: {key}: " in lines[0] and needle in lines[0], lines
    run = run_cli("run", "--config", cfg, "--source", tmp_path / "none.mp4")
    assert run.returncode == 2 and needle in run.stderr and "Traceback" not in run.stderr, run.stderr


def test_check_config_reports_every_error(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('sourec = "x"\nsinks = ["mqtt://h:99999"]\n[events]\nenter_threshold = 0.1\nexit_threshold = 0.3\n'
                   'smoothing = 2.5\n')
    proc = run_cli("check-config", cfg)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 4, lines
    assert any("sourec" in line for line in lines) and any("bad port" in line for line in lines)
    assert any("events.exit_threshold: 0.3 must be above 0 and at most enter_threshold 0.1" in line for line in lines)
    assert any("events.smoothing: expected a whole number" in line for line in lines)
    run = run_cli("run", "--config", cfg)
    assert run.returncode == 2 and "(and 3 more: run edge-lrcn check-config)" in run.stderr


def test_check_config_ok_and_flags_checked_like_the_file(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('sinks = ["stdout", "mqtts://edge@broker:8883"]\n[events]\nenter_threshold = 0.5\n'
                   'exit_threshold = 0.5\n[mqtt]\ncert_file = "c.pem"\nkey_file = "k.pem"\n')
    proc = run_cli("check-config", cfg)
    assert proc.returncode == 0 and proc.stdout.strip() == f"{cfg}: ok", proc.stderr
    with pytest.raises(UsageError, match="--exit-threshold"):
        C.resolve({"enter_threshold": 0.3, "exit_threshold": 0.4}, None, environ={})
    with pytest.raises(UsageError, match="EDGE_LRCN_EXIT_THRESHOLD"):
        C.resolve({}, None, environ={"EDGE_LRCN_EXIT_THRESHOLD": "0.9"})
    with pytest.raises(UsageError, match="--sink: MQTT sink 'mqtt://h:70000': bad port"):
        C.resolve({"sinks": ["mqtt://h:70000"]}, None, environ={})


def test_settings_say_what_a_reload_applies():
    s = C.resolve({}, None, environ={})
    t = C.resolve({"stride": 2, "enter_threshold": 0.7, "sinks": ["stdout", "mqtt://h"]}, None, environ={})
    changed = s.changed(t)
    assert changed == ["stride", "sinks", "enter_threshold"]
    assert [n for n in changed if not C.BY_NAME[n].live] == ["stride"]
    assert t.enter_threshold == 0.7 and t["stride"] == 2 and t.where("stride") == "--stride"
    assert [spec.type for spec in t.sink_specs] == [C.SinkType.STDOUT, C.SinkType.MQTT]
