"""The Home Assistant discovery configs checked against Home Assistant's MQTT schemas.

Two checks:
- always: every key against the key lists transcribed below from Home Assistant's source (HA 2025.10 and later,
  where ``default_entity_id`` replaced ``object_id``), the required keys, the ``options`` rules of enum sensors and
  the entity id rule;
- with Home Assistant installed: the configs validated by HA's own voluptuous schemas and every value template
  rendered by HA's template engine (tests/ha_check.py). It runs when ``homeassistant`` imports in the test's Python,
  or with ``EDGE_LRCN_HA_PYTHON`` naming a Python that has it; otherwise it is skipped. On Python 3.11 the newest
  release that installs is 2024.3::

      python3 -m venv /tmp/havenv && /tmp/havenv/bin/pip install homeassistant==2024.3.3
      EDGE_LRCN_HA_PYTHON=/tmp/havenv/bin/python pytest tests/test_ha_discovery.py
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from edge_lrcn.events import EventMaker
from edge_lrcn.publish.discovery import discovery_configs
from edge_lrcn.service import Health, Notifier, Totals

# Transcribed from home-assistant/core, homeassistant/components/mqtt/: config.py (MQTT_RO_SCHEMA), schemas.py
# (MQTT_ENTITY_COMMON_SCHEMA, MQTT_ENTITY_DEVICE_INFO_SCHEMA, MQTT_ORIGIN_INFO_SCHEMA; the 2026 version, which has
# default_entity_id and no object_id), sensor.py, binary_sensor.py, event.py (_PLATFORM_SCHEMA_BASE of each).
RO_KEYS = {"qos", "encoding", "group", "state_topic", "value_template"}
COMMON_KEYS = {"availability_topic", "availability_template", "payload_available", "payload_not_available",
               "availability_mode", "availability", "device", "entity_picture", "origin", "enabled_by_default",
               "entity_category", "icon", "json_attributes_topic", "json_attributes_template", "default_entity_id",
               "message_expiry_interval", "unique_id", "visible_by_default"}
PLATFORM_KEYS = {
    "sensor": {"device_class", "expire_after", "force_update", "last_reset_value_template", "name", "options",
               "suggested_display_precision", "state_class", "unit_of_measurement"},
    "binary_sensor": {"device_class", "expire_after", "force_update", "name", "off_delay", "payload_off",
                      "payload_on"},
    "event": {"device_class", "name", "event_types"},
}
# number.py and switch.py: MQTT_RW_SCHEMA (config.py) + their _PLATFORM_SCHEMA_BASE
RW_KEYS = {"qos", "encoding", "command_topic", "retain", "state_topic"}
CONTROL_KEYS = {
    "number": {"command_template", "device_class", "max", "min", "mode", "name", "optimistic", "payload_reset",
               "step", "unit_of_measurement", "value_template"},
    "switch": {"command_template", "device_class", "name", "optimistic", "payload_off", "payload_on", "state_off",
               "state_on", "value_template"},
}
REQUIRED = {"sensor": {"state_topic"}, "binary_sensor": {"state_topic"}, "event": {"state_topic", "event_types"}}
DEVICE_KEYS = {"identifiers", "connections", "manufacturer", "model", "model_id", "name", "hw_version",
               "serial_number", "sw_version", "via_device", "suggested_area", "configuration_url"}
ORIGIN_KEYS = {"name", "sw_version", "support_url"}  # name required
# homeassistant/core.py VALID_ENTITY_ID (what cv.entity_id accepts)
VALID_ENTITY_ID = re.compile(r"^(?!.+__)(?!_)[\da-z_]+(?<!_)\.(?!_)[\da-z_]+(?<!_)$")

LABELS = ["down", "left", "right", "still", "up"]  # the embedded model's
ODD = ["Walk", "it's", "a b", "camera", "idle"]  # upper case, a quote, a space, the camera sensor's id, an idle label
PREFIX = "edge-lrcn/Pi-Kitchen.2"


def configs(labels=LABELS, device="Pi-Kitchen.2"):
    return discovery_configs(PREFIX, device, labels)


@pytest.mark.parametrize("labels", [LABELS, ODD])
def test_keys_are_in_home_assistants_schemas(labels):
    cfgs = configs(labels)
    assert {t.split("/")[1] for t in cfgs} == {"sensor", "binary_sensor", "event"}
    for topic, c in cfgs.items():
        component = topic.split("/")[1]
        assert set(c) <= RO_KEYS | COMMON_KEYS | PLATFORM_KEYS[component], (topic, set(c) - RO_KEYS - COMMON_KEYS)
        assert REQUIRED[component] <= set(c) and "object_id" not in c
        assert set(c["device"]) <= DEVICE_KEYS and c["device"]["identifiers"]
        assert set(c["origin"]) <= ORIGIN_KEYS and c["origin"]["name"] == "edge-lrcn"
        assert VALID_ENTITY_ID.match(c["default_entity_id"]) and c["default_entity_id"].split(".")[0] == component
        if "options" in c:  # sensor.py validate_sensor_state_and_device_class_config
            assert c["options"] and c["device_class"] == "enum"
            assert "state_class" not in c and "unit_of_measurement" not in c
        assert c.get("entity_category", "diagnostic") == "diagnostic"
    ids = [(t.split("/")[1], c["unique_id"]) for t, c in cfgs.items()]
    assert len(set(ids)) == len(ids)
    assert len({c["default_entity_id"] for c in cfgs.values()}) == len(cfgs)


def test_remote_settings_controls_are_in_home_assistants_schemas():
    cfgs = discovery_configs(PREFIX, "Pi-Kitchen.2", LABELS, controls=True)
    controls = {t: c for t, c in cfgs.items() if t.split("/")[1] in CONTROL_KEYS}
    assert sorted(t.split("/")[1:4:2] for t in controls) == [["number", "enter_threshold"],
                                                              ["number", "exit_threshold"],
                                                              ["number", "min_duration"], ["switch", "pause"]]
    for topic, c in controls.items():
        component = topic.split("/")[1]
        assert set(c) <= RW_KEYS | COMMON_KEYS | CONTROL_KEYS[component], set(c) - RW_KEYS - COMMON_KEYS
        assert c["command_topic"] == f"{PREFIX}/set" and c["state_topic"] == f"{PREFIX}/settings"
        assert VALID_ENTITY_ID.match(c["default_entity_id"]) and c["default_entity_id"].split(".")[0] == component
    for name in ("enter_threshold", "exit_threshold", "min_duration"):
        number = cfgs[f"homeassistant/number/edge_lrcn_Pi-Kitchen_2/{name}/config"]
        assert json.loads(number["command_template"].replace("{{ value }}", "0.25")) == {name: 0.25}
        assert number["min"] < number["max"] and number["step"] >= 0.001 and number["entity_category"] == "config"
    model = cfgs["homeassistant/sensor/edge_lrcn_Pi-Kitchen_2/model/config"]
    assert model["state_topic"] == f"{PREFIX}/model" and model["value_template"] == "{{ value_json.id }}"
    assert set(cfgs) - set(controls) == set(configs())  # without controls: the same entities, the numbers and
    # the switch left out


def test_entities_follow_the_labels():
    cfgs = configs(ODD)
    node = "edge_lrcn_Pi-Kitchen_2"
    activity = cfgs[f"homeassistant/sensor/{node}/activity/config"]
    assert activity["options"] == ODD + ["none"]
    binaries = sorted(t.split("/")[3] for t in cfgs if "/binary_sensor/" in t)
    assert binaries == ["Walk", "a_b", "camera", "it_s", "label_camera"]  # `idle` is not an activity
    event = cfgs[f"homeassistant/event/{node}/activity/config"]
    assert event["event_types"] == ODD + [f"{label}_end" for label in ODD]
    # a label named like another label's end: only starts are fired (an end would be ambiguous)
    clash = configs(["open", "open_end"])[f"homeassistant/event/{node}/activity/config"]
    assert clash["event_types"] == ["open", "open_end"] and "activity_end" not in clash["value_template"]


def _ha_python() -> str | None:
    if importlib.util.find_spec("homeassistant") is not None:
        return sys.executable
    return os.environ.get("EDGE_LRCN_HA_PYTHON") or None


def _samples(labels) -> dict:
    make = EventMaker("Pi-Kitchen.2", "0123456789ab")
    events = [make("activity_start", label=label, confidence=0.91, t=3.2) for label in labels]
    events += [make("activity_end", label=label, duration_s=4.0, peak_confidence=0.95, t=7.2) for label in labels]
    events.append(make("activity_end", label=labels[0], duration_s=1.0, peak_confidence=0.9, t=8.0, reason="camera"))
    health = Health(Notifier(), clock=iter([0.0, 10.0]).__next__)
    stats = {**health.stats(Totals(300, 100, 80, 1.0, 0.1, 0, 0, 3)), "mqtt_dropped": 7, "mqtt_queued": 0}
    states = [{"label": label, "confidence": 0.9, "since": "2026-11-25T10:00:00.000Z"} for label in labels + ["none"]]
    return {f"{PREFIX}/events": events, f"{PREFIX}/activity": states, f"{PREFIX}/stats": [stats],
            f"{PREFIX}/camera": [{"state": "online"}, {"state": "offline", "reason": "stall"}]}


@pytest.mark.parametrize("labels", [LABELS, ODD])
def test_home_assistant_validates_and_renders_the_configs(labels):
    python = _ha_python()
    if python is None:
        pytest.skip("homeassistant is not installed (set EDGE_LRCN_HA_PYTHON; see this file's docstring)")
    cfgs, samples = configs(labels), _samples(labels)
    proc = subprocess.run([python, str(Path(__file__).with_name("ha_check.py"))], capture_output=True, text=True,
                          input=json.dumps({"configs": cfgs, "samples": samples}), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    for topic, r in report["topics"].items():
        assert r["error"] is None, (topic, r["error"])
        assert set(r["stripped"]) <= {"default_entity_id", "options"}, (report["ha_version"], topic, r["stripped"])
    rendered = {t: r["rendered"] for t, r in report["topics"].items()}
    for topic, c in cfgs.items():
        out, kind, oid = rendered[topic], topic.split("/")[1], topic.split("/")[3]
        if kind == "event":
            fired = [json.loads(x) for x in out]
            assert [e["event_type"] for e in fired] == labels + [f"{lab}_end" for lab in labels] + [labels[0] + "_end"]
            assert set(e["event_type"] for e in fired) <= set(c["event_types"])
            assert fired[0]["confidence"] == 0.91 and fired[-1]["reason"] == "camera"
        elif oid == "activity":
            assert out == labels + ["none"] and set(out) <= set(c["options"])
        elif kind == "binary_sensor" and oid == "camera":
            assert out == ["ON", "OFF"]
        elif kind == "binary_sensor":
            assert out.count("ON") == 1 and out[labels.index(c["name"])] == "ON" and set(out) == {"ON", "OFF"}
        else:
            assert [float(x) for x in out] == [samples[c["state_topic"]][0][c["value_template"].split(".")[1][:-3]]]


def test_home_assistant_check_rejects_what_home_assistant_rejects():
    """The check above can fail: a misspelt key, a bad entity category and an entity id in the wrong domain."""
    python = _ha_python()
    if python is None:
        pytest.skip("homeassistant is not installed (set EDGE_LRCN_HA_PYTHON; see this file's docstring)")
    good = configs()
    topic = next(t for t in good if "/binary_sensor/" in t)
    bad = {"a/binary_sensor/x/typo/config": {**good[topic], "payload_onn": "ON"},
           "a/binary_sensor/x/category/config": {**good[topic], "entity_category": "status"},
           "a/binary_sensor/x/domain/config": {**good[topic], "default_entity_id": "sensor.edge_lrcn_x"}}
    proc = subprocess.run([python, str(Path(__file__).with_name("ha_check.py"))], capture_output=True, text=True,
                          input=json.dumps({"configs": bad, "samples": {}}), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    errors = {t.split("/")[3]: r["error"] for t, r in json.loads(proc.stdout)["topics"].items()}
    assert "payload_onn" in errors["typo"] and "entity_category" in errors["category"]
    assert "not in the binary_sensor domain" in errors["domain"]


def test_labels_that_differ_by_punctuation_or_take_the_devices_ids_get_distinct_entities():
    import ast

    from edge_lrcn.publish.discovery import _jinja_str

    labels = ["sit down", "sit.down", "Sit_Down", "camera", "label_camera", "it's", "a\\b", "x\ny", "café {{ }}"]
    cfgs = configs(labels)
    binaries = {t: c for t, c in cfgs.items() if "/binary_sensor/" in t}
    assert len(binaries) == len(labels) + 1  # one per label, and the camera's own
    assert len({c["unique_id"] for c in binaries.values()}) == len(binaries)
    assert len({c["default_entity_id"] for c in binaries.values()}) == len(binaries)
    for c in cfgs.values():
        assert VALID_ENTITY_ID.match(c["default_entity_id"]), c["default_entity_id"]
    assert binaries["homeassistant/binary_sensor/edge_lrcn_Pi-Kitchen_2/camera/config"]["name"] == "Camera"
    assert "homeassistant/binary_sensor/edge_lrcn_Pi-Kitchen_2/sit_down/config" in binaries  # the first keeps its id
    for label in labels:  # the template's literal reads back as the label (Jinja decodes it with unicode-escape)
        literal = _jinja_str(label)
        assert ast.literal_eval(literal) == label and "\n" not in literal
        assert literal[1:-1].encode("ascii", "backslashreplace").decode("unicode-escape") == label


DEVICE_TOP_KEYS = {"dev", "o", "cmps", "availability_topic", "payload_available", "payload_not_available", "qos",
                   "state_topic", "command_topic", "encoding"}  # the device-based schema's shared keys


def test_one_device_based_config_holds_every_entity():
    """``homeassistant/device/<node>/config``: the device (``dev``), the origin (``o``), the shared availability and
    the entities under ``cmps``, each with its platform as ``p``; without a page, no ``configuration_url``."""
    from edge_lrcn.publish.discovery import device_config, device_topic

    cfg = device_config(PREFIX, "Pi-Kitchen.2", LABELS, controls=True, snapshot=True)
    assert device_topic("Pi-Kitchen.2") == "homeassistant/device/edge_lrcn_Pi-Kitchen_2/config"
    assert set(cfg) <= DEVICE_TOP_KEYS and set(cfg["dev"]) <= DEVICE_KEYS and cfg["o"]["name"] == "edge-lrcn"
    assert "configuration_url" not in cfg["dev"]
    platforms = {c["p"] for c in cfg["cmps"].values()}
    assert platforms == {"sensor", "binary_sensor", "event", "image", "number", "switch"}
    for cid, c in cfg["cmps"].items():
        assert cid.startswith(c["p"] + "_") and "device" not in c and "origin" not in c and c["unique_id"]
    page = device_config(PREFIX, "Pi-Kitchen.2", LABELS, page_url="http://pi.local:8080/")
    assert page["dev"]["configuration_url"] == "http://pi.local:8080/"


def test_regions_get_entities_of_their_own_and_one_region_keeps_todays():
    from edge_lrcn.publish.discovery import device_config

    two = discovery_configs(PREFIX, "Pi-Kitchen.2", LABELS, regions=["door", "bed"], snapshot=True)
    node = "homeassistant/{}/edge_lrcn_Pi-Kitchen_2/{}/config"
    for region in ("door", "bed"):
        sensor = two[node.format("sensor", f"activity_{region}")]
        assert sensor["state_topic"] == f"{PREFIX}/activity/{region}" and sensor["name"] == f"Activity {region}"
        left = two[node.format("binary_sensor", f"{region}_left")]
        assert left["state_topic"] == f"{PREFIX}/activity/{region}" and left["device_class"] == "motion"
        assert two[node.format("image", f"snapshot_{region}")]["image_topic"] == f"{PREFIX}/snapshot/{region}"
        event = two[node.format("event", f"activity_{region}")]
        assert event["state_topic"] == f"{PREFIX}/events" and f"value_json.region == '{region}'" in event[
            "value_template"]
    assert node.format("sensor", "activity") not in two
    assert len({c["unique_id"] for c in two.values()}) == len(two)
    assert len({c["default_entity_id"] for c in two.values()}) == len(two)
    for c in two.values():
        assert VALID_ENTITY_ID.match(c["default_entity_id"]), c["default_entity_id"]
    assert device_config(PREFIX, "d", LABELS, regions=["door"]) == device_config(PREFIX, "d", LABELS)


def test_a_regions_event_entity_fires_only_for_its_regions_events():
    """The event template, rendered with Jinja as Home Assistant renders it (``to_json`` is HA's filter)."""
    import jinja2

    env = jinja2.Environment()
    env.filters["to_json"] = json.dumps
    cfgs = discovery_configs(PREFIX, "d", LABELS, regions=["door", "bed"])
    template = env.from_string(cfgs["homeassistant/event/edge_lrcn_d/activity_door/config"]["value_template"])
    make = EventMaker("d", "m")
    door = make("activity_start", region="door", label="left", confidence=0.9, t=1.0)
    bed = make("activity_start", region="bed", label="left", confidence=0.9, t=1.0)
    end = make("activity_end", region="door", label="left", duration_s=2.0, peak_confidence=0.9, t=3.0)
    assert json.loads(template.render(value_json=door))["event_type"] == "left"
    assert template.render(value_json=bed) == ""
    assert json.loads(template.render(value_json=end))["event_type"] == "left_end"
