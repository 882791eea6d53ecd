"""Home Assistant MQTT discovery: the retained configs that make one device appear in Home Assistant.

Entities (all tied to the device ``edge-lrcn <device_id>``, to the availability topic and to the ``origin`` block):

- ``sensor`` **Activity**: ``device_class: enum``, ``options`` = the model's labels + ``none``; the state object as
  attributes;
- ``event`` **Activity event**: ``event_types`` = the labels (fired on each ``activity_start``) and ``<label>_end``
  (each ``activity_end``), from the ``events`` topic; the event object's fields are the event's attributes;
- ``binary_sensor`` per label that is an activity (a label listed in ``idle_labels``, like ``still``, gets none),
  ``device_class: motion``, on while that activity is on;
- ``image`` **Snapshot** (when ``snapshots`` is on): the JPEG of the frame at the last ``activity_start``, from the
  ``snapshot`` topic (raw bytes);
- ``binary_sensor`` **Camera** (connectivity) and the ``sensor`` s **Frame rate**, **Camera reopens**, **MQTT dropped
  messages** from the ``stats`` topic, and **Model** (the running model's id, from the retained ``model`` topic), all
  ``entity_category: diagnostic``;
- with ``remote_settings`` (docs/fleet.md): ``number`` s **Enter threshold**, **Exit threshold**, **Minimum
  duration** and the ``switch`` **Pause detection**, all commanding ``<prefix>/set``.

Every config sets ``default_entity_id`` (``<component>.edge_lrcn_<device>_<id>``; HA 2025.10 replaced ``object_id``
with it) and keeps the ``unique_id`` of earlier versions, so entities already in Home Assistant stay the same ones.
The keys are checked against Home Assistant's own schemas: tests/test_ha_discovery.py, docs/mqtt.md.
"""

from __future__ import annotations

import hashlib
import re

from .. import __version__

IDLE_LABELS = ("still", "idle", "none", "background")  # the default of the ``idle_labels`` setting
ORIGIN = {"name": "edge-lrcn", "sw_version": __version__}  # no support_url: the project has no public page yet
STATS_SENSORS = (  # (id, name, stats key, extra fields): diagnostic sensors fed by the stats objects
    ("fps", "Frame rate", "fps_kept", {"unit_of_measurement": "fps", "state_class": "measurement",
                                       "suggested_display_precision": 1, "icon": "mdi:speedometer"}),
    ("camera_reopens", "Camera reopens", "camera_reopens", {"state_class": "total_increasing", "icon": "mdi:cctv"}),
    ("mqtt_dropped", "MQTT dropped messages", "mqtt_dropped", {"state_class": "total_increasing",
                                                               "icon": "mdi:message-alert"}),
)


CONTROL_NUMBERS = (  # (setting, name, max, step, unit): the Home Assistant numbers of the remote settings
    ("enter_threshold", "Enter threshold", 1, 0.01, None),
    ("exit_threshold", "Exit threshold", 1, 0.01, None),
    ("min_duration", "Minimum duration", 3600, 0.1, "s"),
)


def object_id(text: str) -> str:
    """A discovery topic segment: ``[a-zA-Z0-9_-]`` only."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", text)


def entity_slug(text: str) -> str:
    """The object part of an entity id as Home Assistant accepts it: lower case ``[a-z0-9_]``, no leading, trailing
    or double underscore (``cv.entity_id``)."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "x"


def node_id(device_id: str) -> str:
    return object_id(f"edge_lrcn_{device_id}")


def activity_labels(labels: list[str], idle_labels=IDLE_LABELS) -> list[str]:
    """The labels that get a binary sensor: those not named in ``idle_labels`` (compared case-insensitively)."""
    idle = {s.strip().lower() for s in idle_labels}
    return [label for label in labels if label.strip().lower() not in idle]


DEVICE_BINARY_IDS = ("camera",)  # the device's own binary sensors, whose ids a label must not take


def label_ids(labels: list[str]) -> dict[str, str]:
    """label -> the id of its binary sensor, distinct for every label. The id is the label's text made safe
    (``object_id``); a label named like one of the device's own sensors gets ``label_`` in front (``camera`` ->
    ``label_camera``), and one whose id an earlier label took, compared as Home Assistant compares entity ids (``a.b``,
    ``a b`` and ``A_B`` are all ``a_b``), gets a short hash of its own text after it. Labels that collide with
    nothing keep the id earlier versions gave them."""
    taken = {entity_slug(i) for i in DEVICE_BINARY_IDS}
    out = {}
    for label in labels:
        oid = object_id(label)
        if oid in DEVICE_BINARY_IDS:
            oid = f"label_{oid}"
        if entity_slug(oid) in taken:
            oid = f"{oid}_{hashlib.sha256(label.encode()).hexdigest()[:6]}"
        taken.add(entity_slug(oid))
        out[label] = oid
    return out


def event_types(labels: list[str]) -> tuple[list[str], bool]:
    """The event entity's types and whether ends are among them: ``<label>_end`` is added for each label unless it
    would be the name of another label (then only starts are fired)."""
    ends = [f"{label}_end" for label in labels]
    with_ends = not set(ends) & set(labels)
    return list(labels) + (ends if with_ends else []), with_ends


def event_template(with_ends: bool) -> str:
    """Maps an event object on ``<prefix>/events`` to HA's event payload (a JSON object with ``event_type``); it
    renders nothing (HA ignores the message) for what is not an event type."""
    start = "{% if value_json.type == 'activity_start' %}{{ dict(value_json, event_type=value_json.label) | to_json }}"
    end = ("{% elif value_json.type == 'activity_end' %}"
           "{{ dict(value_json, event_type=value_json.label ~ '_end') | to_json }}") if with_ends else ""
    return start + end + "{% endif %}"


def discovery_configs(prefix: str, device_id: str, labels: list[str], ha_prefix: str = "homeassistant",
                      idle_labels=IDLE_LABELS, controls: bool = False, snapshot: bool = False) -> dict[str, dict]:
    """topic -> config for every entity of the device (see the module docstring)."""
    node, slug = node_id(device_id), entity_slug(f"edge_lrcn_{device_id}")
    common = {"device": {"identifiers": [node], "name": f"edge-lrcn {device_id}", "manufacturer": "edge-lrcn",
                         "model": "LRCN activity recognition", "sw_version": __version__},
              "origin": ORIGIN, "availability_topic": f"{prefix}/availability", "payload_available": "online",
              "payload_not_available": "offline"}
    out: dict[str, dict] = {}

    def add(component: str, oid: str, name: str, uid: str | None = None, **fields) -> None:
        out[f"{ha_prefix}/{component}/{node}/{oid}/config"] = {
            "name": name, "unique_id": f"{node}_{uid or oid}", "default_entity_id": f"{component}.{slug}_"
            f"{entity_slug(oid)}", **fields, **common}

    add("sensor", "activity", "Activity", device_class="enum", options=list(dict.fromkeys([*labels, "none"])),
        state_topic=f"{prefix}/activity", value_template="{{ value_json.label }}",
        json_attributes_topic=f"{prefix}/activity", icon="mdi:motion-sensor")
    types, with_ends = event_types(labels)
    add("event", "activity", "Activity event", uid="activity_event", event_types=types,
        state_topic=f"{prefix}/events", value_template=event_template(with_ends), icon="mdi:run")
    ids = label_ids(labels)
    for label in activity_labels(labels, idle_labels):
        add("binary_sensor", ids[label], label, state_topic=f"{prefix}/activity",
            value_template="{{ 'ON' if value_json.label == %s else 'OFF' }}" % _jinja_str(label),
            payload_on="ON", payload_off="OFF", device_class="motion")
    if snapshot:
        add("image", "snapshot", "Snapshot", image_topic=f"{prefix}/snapshot", content_type="image/jpeg",
            icon="mdi:camera")
    add("binary_sensor", "camera", "Camera", state_topic=f"{prefix}/camera",
        value_template="{{ 'ON' if value_json.state == 'online' else 'OFF' }}", payload_on="ON",
        payload_off="OFF", device_class="connectivity", entity_category="diagnostic")
    for oid, name, key, extra in STATS_SENSORS:
        add("sensor", oid, name, state_topic=f"{prefix}/stats", value_template="{{ value_json.%s }}" % key,
            entity_category="diagnostic", **extra)
    add("sensor", "model", "Model", state_topic=f"{prefix}/model", value_template="{{ value_json.id }}",
        json_attributes_topic=f"{prefix}/model", entity_category="diagnostic", icon="mdi:brain")
    if controls:
        _add_controls(add, prefix)
    return out


def _add_controls(add, prefix: str) -> None:
    """The ``number`` s and the pause ``switch``: they publish JSON objects on ``<prefix>/set`` (fleet/remote.py)
    and read the retained ``<prefix>/settings``."""
    for name, title, top, step, unit in CONTROL_NUMBERS:
        add("number", name, title, command_topic=f"{prefix}/set",
            command_template='{"%s": {{ value }}}' % name, state_topic=f"{prefix}/settings",
            value_template="{{ value_json.%s }}" % name, min=0, max=top, step=step, mode="box",
            entity_category="config", **({"unit_of_measurement": unit} if unit else {}))
    add("switch", "pause", "Pause detection", command_topic=f"{prefix}/set", payload_on='{"paused": true}',
        payload_off='{"paused": false}', state_topic=f"{prefix}/settings",
        value_template="{{ 'ON' if value_json.paused else 'OFF' }}", state_on="ON", state_off="OFF",
        icon="mdi:eye-off")


def _jinja_str(text: str) -> str:
    """A Jinja string literal for ``text``, whatever it holds: Python's escapes for backslashes, control and
    non-ASCII characters (Jinja's lexer decodes a string literal with ``unicode-escape``, so it reads back exactly
    ``text``), and the quote escaped."""
    return "'" + text.encode("unicode_escape").decode("ascii").replace("'", "\\'") + "'"
