"""The settings layer, in process: the schema and the typed sections agree, precedence, every error with its key
and place, the regions and device page settings' checks, a reload hands each stage its section; and one CLI
subprocess per exit code (check-config and run refuse the same)."""

from __future__ import annotations

import json
from dataclasses import MISSING, fields

import pytest

from edge_lrcn import config as C
from edge_lrcn.config.sections import SECTION_TYPES
from edge_lrcn.errors import UsageError
from tests.conftest import run_cli


def problems_of(text: str, tmp_path, **kw) -> list[str]:
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    return [str(p) for p in C.gather(kw.pop("flags", {}), cfg, environ=kw.pop("environ", {}), must_exist=True)[1]]


def test_every_schema_row_is_a_field_of_its_section_with_the_same_default():
    rows = {s.name: s for s in C.SCHEMA}
    seen = set()
    for home, cls in SECTION_TYPES.items():
        for f in fields(cls):
            row = rows.get(f.name)
            assert row is not None, f"{cls.__name__}.{f.name} has no schema row"
            assert row.group == home, f"{f.name}: schema section {row.group}, field of {cls.__name__}"
            default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
            assert default == row.default, f"{f.name}: field default {default!r}, schema {row.default!r}"
            if row.default is not None:
                assert row.conv(row.default) == row.default, f"{f.name}: the default does not pass its converter"
            seen.add(f.name)
    assert seen == set(rows), f"schema rows without a field: {set(rows) - seen}"
    assert {f.name for f in fields(C.Settings)} == set(SECTION_TYPES) | {"origins"}


def test_precedence_flags_env_remote_file_defaults(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[events]\nsmoothing = 3\nmin_duration = 2.0\nenter_threshold = 0.5\nexit_threshold = 0.2\n")
    s = C.resolve({"smoothing": "4"}, cfg, environ={"EDGE_LRCN_SMOOTHING": "5", "EDGE_LRCN_MIN_DURATION": "0.5"},
                  remote={"smoothing": 6, "min_duration": 0.7, "enter_threshold": 0.6})
    assert s.events == C.EventSettings(enter_threshold=0.6, exit_threshold=0.2, smoothing=4, min_duration=0.5)
    assert [s.where(n) for n in ("smoothing", "min_duration", "enter_threshold", "exit_threshold", "stride")] == \
        ["--smoothing", "EDGE_LRCN_MIN_DURATION", "remote enter_threshold", f"{cfg}: events.exit_threshold",
         "default stride"]


@pytest.mark.parametrize("text,key,needle", [
    ("[events]\nenter_threshold = 0.2\nexit_threshold = 0.5\n", "events.exit_threshold", "enter_threshold 0.2"),
    ('sinks = ["stdout", "mqtt://host:99999"]\n', "sinks", "bad port"),
    ('sinks = ["mqtt://user:pw@host"]\n', "sinks", "password"),
    ('sinks = ["kafka://host"]\n', "sinks", "unknown sink"),
    ("sinks = []\n", "sinks", "no sink"),
    ('sourec = "/dev/video0"\n', "sourec", "did you mean source?"),
    ("[events]\nsmothing = 3\n", "events.smothing", "did you mean events.smoothing?"),
    ("[mqtt]\nenter_threshold = 0.5\n", "mqtt.enter_threshold", "did you mean [events] enter_threshold?"),
    ("[evnts]\nsmoothing = 3\n", "[evnts]", "did you mean [events]?"),
    ('http = "127.0.0.1:8080"\n', "http", "did you mean [http] http?"),
    ('sinks = ["mqtts://broker"]\n[mqtt]\ncert_file = "/etc/c.pem"\n', "mqtt.cert_file", "key_file is not set"),
    ('sinks = ["mqtt://broker"]\n[mqtt]\npassword_file = "/etc/pw"\n', "mqtt.password_file", "no username"),
    ('[events]\nenter_threshold = "0.5"\n', "events.enter_threshold", "got the text '0.5' (write it without quotes)"),
    ('[events]\nsmoothing = "3"\n', "events.smoothing", "expected a whole number, got the text"),
    ('[mqtt]\nsnapshots = "true"\n', "mqtt.snapshots", "expected true or false, got the text"),
    ('[fleet]\nremote_settings = "maybe"\n', "fleet.remote_settings", "expected true, false or auto"),
    ("[clips]\nclips_buffer_mb = 1024\n", "clips.clips_buffer_mb", "between 1.0 and 256"),
])
def test_file_errors_name_the_key_and_the_file(tmp_path, text, key, needle):
    problems = problems_of(text, tmp_path)
    assert len(problems) == 1 and problems[0].startswith(f"{tmp_path / 'c.toml'}: {key}: ") and \
        needle in problems[0], problems


def test_numbers_as_text_are_refused_from_typed_sources_only(tmp_path):
    """The TOML file and remote settings (JSON) have numbers and switches: "0.5" there is a mistake; flags and
    environment variables are text and convert. ``remote_settings`` is true, false or auto (the default)."""
    s = C.resolve({"smoothing": "4"}, None, environ={"EDGE_LRCN_ENTER_THRESHOLD": "0.7", "EDGE_LRCN_SNAPSHOTS": "no"})
    assert (s.events.smoothing, s.events.enter_threshold, s.mqtt.snapshots) == (4, 0.7, False)
    assert s.fleet.remote_settings == "auto"
    with pytest.raises(UsageError, match="remote enter_threshold: expected a number, got the text '0.5'"):
        C.resolve({}, None, environ={}, remote={"enter_threshold": "0.5"})
    cfg = tmp_path / "c.toml"
    for text, want in (('remote_settings = "auto"', "auto"), ("remote_settings = false", False),
                       ('remote_settings = "AUTO"', "auto")):
        cfg.write_text(f"[fleet]\n{text}\n")
        assert C.resolve({}, cfg, environ={}).fleet.remote_settings == want
    assert C.resolve({"remote_settings": True}, None, environ={}).fleet.remote_settings is True
    assert C.resolve({}, None, environ={"EDGE_LRCN_REMOTE_SETTINGS": "auto"}).fleet.remote_settings == "auto"


def test_flag_and_environment_errors_name_the_flag_or_variable():
    with pytest.raises(UsageError, match="--exit-threshold"):
        C.resolve({"enter_threshold": 0.3, "exit_threshold": 0.4}, None, environ={})
    with pytest.raises(UsageError, match="EDGE_LRCN_EXIT_THRESHOLD"):
        C.resolve({}, None, environ={"EDGE_LRCN_EXIT_THRESHOLD": "0.9"})
    with pytest.raises(UsageError, match="--sink: MQTT sink 'mqtt://h:70000': bad port"):
        C.resolve({"sinks": ["mqtt://h:70000"]}, None, environ={})
    with pytest.raises(UsageError, match=r"\(and 1 more: run edge-lrcn check-config\)"):
        C.resolve({"smoothing": "x", "stride": 0}, None, environ={})


REGIONS = ('[[regions]]\nname = "door"\nbox = [0.55, 0.2, 0.85, 0.7]\n'
           '[[regions]]\nname = "bed"\nbox = [0, 0.5, 0.6, 1]\n')


def test_regions_from_file_flags_and_environment(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(REGIONS)
    s = C.resolve({}, cfg, environ={})
    assert s.camera.regions == (C.Region("door", (0.55, 0.2, 0.85, 0.7)), C.Region("bed", (0.0, 0.5, 0.6, 1.0)))
    assert C.resolve({}, None, environ={}).camera.regions == ()  # none: the whole frame
    flags = C.resolve({"regions": ["a:0,0,0.5,0.5", "b:0.4,0.4,1,1"]}, cfg, environ={})  # overlap allowed
    assert [r.name for r in flags.camera.regions] == ["a", "b"] and flags.where("regions") == "--region"
    env = C.resolve({}, cfg, environ={"EDGE_LRCN_REGIONS": json.dumps([{"name": "x", "box": [0, 0, 1, 1]}])})
    assert env.camera.regions == (C.Region("x", (0.0, 0.0, 1.0, 1.0)),)
    assert C.BY_NAME["regions"].live and "regions" in C.REMOTE_SETTINGS


@pytest.mark.parametrize("box,needle", [
    ("[0.5, 0.2, 0.4, 0.7]", "empty or upside down"), ("[0.1, 0.1, 0.1, 0.5]", "empty or upside down"),
    ("[-0.1, 0, 0.5, 0.5]", "leaves the frame"), ("[0.2, 0.2, 1.5, 0.9]", "leaves the frame"),
    ("[0.2, 0.2, 0.21, 0.9]", "too small"), ("[0.2, 0.2, 0.9]", "[x0, y0, x1, y1]"), ('"all"', "[x0, y0, x1, y1]"),
])
def test_a_bad_region_box_is_refused_naming_regions(tmp_path, box, needle):
    problems = problems_of(f'[[regions]]\nname = "door"\nbox = {box}\n', tmp_path)
    assert len(problems) == 1 and ": regions: region 'door'" in problems[0] and needle in problems[0], problems


@pytest.mark.parametrize("text,needle", [
    ('[[regions]]\nname = "a/b"\nbox = [0, 0, 1, 1]\n', "'/'"),
    ('[[regions]]\nname = "door+"\nbox = [0, 0, 1, 1]\n', "'+'"),
    ('[[regions]]\nname = ""\nbox = [0, 0, 1, 1]\n', "empty"),
    ('[[regions]]\nname = "$door"\nbox = [0, 0, 1, 1]\n', "$"),
    ('[[regions]]\nbox = [0, 0, 1, 1]\n', "name, box"),
    ('[[regions]]\nname = "x"\nbox = [0, 0, 1, 1]\ncolour = "red"\n', "name, box"),
    (REGIONS + '[[regions]]\nname = "door"\nbox = [0, 0, 1, 1]\n', "'door' is used more than once"),
    ('[regions]\nname = "x"\n', "list of regions"),
])
def test_a_bad_region_name_or_shape_is_refused_naming_regions(tmp_path, text, needle):
    problems = problems_of(text, tmp_path)
    assert len(problems) == 1 and ": regions: " in problems[0] and needle in problems[0], problems


def test_regions_from_flags_and_environment_are_checked_too():
    with pytest.raises(UsageError, match=r"^--region: expected NAME:x0,y0,x1,y1"):
        C.resolve({"regions": ["door"]}, None, environ={})
    with pytest.raises(UsageError, match=r"^EDGE_LRCN_REGIONS: expected a JSON list"):
        C.resolve({}, None, environ={"EDGE_LRCN_REGIONS": "door:0,0,1,1"})


def test_http_settings_and_the_password_cross_check(tmp_path):
    ok = C.resolve({}, None, environ={"EDGE_LRCN_HTTP": "127.0.0.1:8080"})
    assert ok.http == C.HttpSettings(http=C.HostPort("127.0.0.1", 8080)) and ok.clips.dataset_dir is None
    assert C.resolve({"http": "[::1]:80"}, None, environ={}).http.http.loopback
    assert C.resolve({"http": "localhost:80"}, None, environ={}).http.http.loopback
    text = '[http]\nhttp = "0.0.0.0:8080"\n'
    problems = problems_of(text, tmp_path)
    assert len(problems) == 1 and "c.toml: http.http: 0.0.0.0:8080 is not a loopback address" in problems[0] and \
        "http_password_file" in problems[0]
    pw = tmp_path / "pw"
    s = C.resolve({}, tmp_path / "c.toml", environ={"EDGE_LRCN_HTTP_PASSWORD_FILE": str(pw)})
    assert s.http.http == C.HostPort("0.0.0.0", 8080) and s.http.http_password_file == str(pw)
    s = C.resolve({}, None, environ={"EDGE_LRCN_DATASET_DIR": "/data"})
    assert s.clips.dataset_dir == "/data"
    for bad, needle in [("8080", "HOST:PORT"), ("::1:80", "brackets"), ("host:0", "bad port"), ("h:x", "bad port")]:
        with pytest.raises(UsageError, match=f"^--http: .*{needle}"):
            C.resolve({"http": bad}, None, environ={})


def test_sections_say_what_a_reload_applies():
    s = C.resolve({}, None, environ={})
    t = C.resolve({"stride": 2, "enter_threshold": 0.7, "sinks": ["stdout", "mqtt://h"], "regions": ["d:0,0,1,1"]},
                  None, environ={})
    changed = s.changed(t)
    assert changed == ["stride", "sinks", "regions", "enter_threshold"]
    assert [n for n in changed if not C.BY_NAME[n].live] == ["stride"]
    taken = s.taking(t, [n for n in changed if C.BY_NAME[n].live])
    assert taken.run.stride == 1 and taken.events.enter_threshold == 0.7 and taken.camera.regions == t.camera.regions
    assert taken.where("enter_threshold") == "--enter-threshold" and taken.where("stride") == "default stride"
    assert [spec.type for spec in taken.run.sinks] == [C.SinkType.STDOUT, C.SinkType.MQTT]
    with pytest.raises(AttributeError):
        s.events.smoothing = 3  # type: ignore[misc]  # frozen: a stage never sees its section change under it


def test_a_reload_hands_each_stage_its_new_section():
    """The stages' ``apply``: the tracker, the classifier, the camera and the health take their sections."""
    from edge_lrcn.capture.camera import Camera
    from edge_lrcn.events import ActivityTracker, EventMaker
    from edge_lrcn.service import Health, Notifier

    new = C.resolve({"smoothing": 2, "min_duration": 0.0, "stall_timeout": 9.0, "reopen_max_delay": 7.0,
                     "watchdog": False, "stats_interval": 5.0}, None, environ={})
    tracker = ActivityTracker(["a", "b"], C.EventSettings(), EventMaker("d", "m"))
    tracker.apply(new.events)
    import numpy as np

    events = tracker.update(np.array([0.9, 0.1], np.float32), 0.0) + tracker.update(np.array([0.9, 0.1]), 0.1)
    assert [e["type"] for e in events] == ["activity_start"]  # smoothing 2, no minimum duration: at once
    camera = Camera(lambda: None, C.CameraSettings())
    assert (camera.stall_timeout, camera.reopen_max_delay) == (5.0, 30.0)
    camera.apply(new.camera)
    assert (camera.stall_timeout, camera.reopen_max_delay) == (9.0, 7.0)
    health = Health(Notifier(environ={}), lambda: 0.0)
    health.apply(new.service, new.events)
    assert (health.watchdog, health.stats_interval) == (False, 5.0)


def test_the_remote_settings_file_round_trips_regions(tmp_path):
    from edge_lrcn.config.remote import read_remote, remote_bytes
    from edge_lrcn.fleet.remote import settings_object

    s = C.resolve({"regions": ["door:0.5,0.2,0.9,0.7"]}, None, environ={})
    obj = settings_object(s, paused=False)
    assert obj["regions"] == [{"name": "door", "box": [0.5, 0.2, 0.9, 0.7]}] and json.dumps(obj)
    (tmp_path / C.REMOTE_FILE).write_bytes(remote_bytes({"regions": s.camera.regions, "smoothing": 3, "x": 1}))
    kept = read_remote(tmp_path)
    assert kept == {"regions": obj["regions"], "smoothing": 3}
    assert C.resolve({}, None, environ={}, remote=kept).camera.regions == s.camera.regions


def test_check_config_and_run_exit_2_with_one_line_naming_the_key(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[regions]]\nname = "door"\nbox = [0.5, 0.2, 1.4, 0.7]\n')
    proc = run_cli("check-config", cfg)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and f"{cfg}: regions: region 'door'" in lines[0], proc.stderr
    run = run_cli("run", "--config", cfg, "--source", tmp_path / "none.mp4")
    assert run.returncode == 2 and "leaves the frame" in run.stderr and "Traceback" not in run.stderr, run.stderr
    bind = run_cli("run", "--http", "0.0.0.0:8080", "--source", tmp_path / "none.mp4")
    assert bind.returncode == 2 and len(bind.stderr.strip().splitlines()) == 1 and "--http: " in bind.stderr


def test_check_config_ok_is_exit_0(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('sinks = ["stdout", "mqtts://edge@broker:8883"]\n[events]\nenter_threshold = 0.5\n'
                   'exit_threshold = 0.5\n[mqtt]\ncert_file = "c.pem"\nkey_file = "k.pem"\n'
                   '[http]\nhttp = "127.0.0.1:8080"\n' + REGIONS)
    proc = run_cli("check-config", cfg)
    assert proc.returncode == 0 and proc.stdout.strip() == f"{cfg}: ok", proc.stderr


def test_check_config_reports_every_error(tmp_path):
    problems = problems_of('sourec = "x"\nsinks = ["mqtt://h:99999"]\n[events]\nenter_threshold = 0.1\n'
                           'exit_threshold = 0.3\nsmoothing = 2.5\n', tmp_path)
    assert len(problems) == 4, problems
    assert any("sourec" in p for p in problems) and any("bad port" in p for p in problems)
    assert any("events.exit_threshold: 0.3 must be above 0 and at most enter_threshold 0.1" in p for p in problems)
    assert any("events.smoothing: expected a whole number" in p for p in problems)


def test_check_config_reports_a_trusted_key_file_others_may_write(tmp_path):
    """As the daemon reads the keys (StrictModes): the daemon skips such a file and runs on; check-config says it."""
    keys = tmp_path / "keys"
    assert run_cli("keygen", "--out", keys).returncode == 0
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[fleet]\ntrusted_keys = ["{keys}"]\n')
    assert run_cli("check-config", cfg).returncode == 0
    (keys / "edge-lrcn.pub").chmod(0o666)
    proc = run_cli("check-config", cfg)
    assert proc.returncode == 2 and "is writable by group or others: refused (sudo chmod go-w" in proc.stderr and \
        "run skips it" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
