"""Home Assistant MQTT discovery: one retained device-based config that makes the device and its entities appear.

The config lives on ``<ha_prefix>/device/edge_lrcn_<device_id>/config`` (``device_topic``): the device (``dev``),
the origin (``o``), the availability topic every entity shares, and each entity under ``cmps`` with its platform as
``p``. Entities:

- ``sensor`` **Activity**: ``device_class: enum``, ``options`` = the model's labels + ``none``; the state object as
  attributes;
- ``event`` **Activity event**: ``event_types`` = the labels (fired on each ``activity_start``) and ``<label>_end``
  (each ``activity_end``), from the ``events`` topic; the event object's fields are the event's attributes;
- ``binary_sensor`` per label that is an activity (a label listed in ``idle_labels``, like ``still``, gets none),
  ``device_class: motion``, on while that activity is on;
- ``image`` **Snapshot** (when ``snapshots`` is on): the JPEG of the frame at the last ``activity_start``, from the
  ``snapshot`` topic (raw bytes);
- with several regions (classify/regions.py) each of the four above once per region, on the region's own state and
  snapshot topics (``activity/<region>``), the event entity keeping the events of its region;
- ``binary_sensor`` **Camera** (connectivity) and the ``sensor`` s **Frame rate**, **Camera reopens**, **MQTT dropped
  messages** from the ``stats`` topic, and **Model** (the running model's id, from the retained ``model`` topic), all
  ``entity_category: diagnostic``;
- with ``remote_settings`` (docs/fleet.md): ``number`` s **Enter threshold**, **Exit threshold**, **Minimum
  duration** and the ``switch`` **Pause detection**, all commanding ``<prefix>/set``.

Every entity sets ``default_entity_id`` (``<component>.edge_lrcn_<device>_<id>``; HA 2025.10 replaced ``object_id``
with it) and keeps the ``unique_id`` of earlier versions, so entities already in Home Assistant stay the same ones;
the per-entity configs earlier versions published are migrated by the MQTT sink (publish/mqtt.py, docs/mqtt.md).
The keys are checked against Home Assistant's own schemas: tests/test_ha_discovery.py, docs/mqtt.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re

from .. import __version__

log = logging.getLogger(__name__)
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


def event_template(with_ends: bool, region: str | None = None) -> str:
    """Maps an event object on ``<prefix>/events`` to HA's event payload (a JSON object with ``event_type``); it
    renders nothing (HA ignores the message) for what is not an event type, or an event of another ``region``."""
    mine = "" if region is None else f"value_json.region == {_jinja_str(region)} and "
    start = ("{% if " + mine + "value_json.type == 'activity_start' %}"
             "{{ dict(value_json, event_type=value_json.label) | to_json }}")
    end = ("{% elif " + mine + "value_json.type == 'activity_end' %}"
           "{{ dict(value_json, event_type=value_json.label ~ '_end') | to_json }}") if with_ends else ""
    return start + end + "{% endif %}"


def device_topic(device_id: str, ha_prefix: str = "homeassistant") -> str:
    """The device-based discovery topic: one retained config for every entity of the device."""
    return f"{ha_prefix}/device/{node_id(device_id)}/config"


def entity_wildcard(device_id: str, ha_prefix: str = "homeassistant") -> str:
    """The per-entity discovery topics of earlier versions (``<ha_prefix>/<component>/<node>/<id>/config``)."""
    return f"{ha_prefix}/+/{node_id(device_id)}/+/config"


def device_config(prefix: str, device_id: str, labels: list[str], idle_labels=IDLE_LABELS, controls: bool = False,
                  snapshot: bool = False, regions=(), page_url: str | None = None) -> dict:
    """The device-based discovery config: the device (``dev``), the origin (``o``), the availability every entity
    shares, and each entity under ``cmps`` (its platform as ``p``). ``page_url``: the device's page
    (``configuration_url``)."""
    node = node_id(device_id)
    dev = {"identifiers": [node], "name": f"edge-lrcn {device_id}", "manufacturer": "edge-lrcn",
           "model": "LRCN activity recognition", "sw_version": __version__}
    if page_url:
        dev["configuration_url"] = page_url
    return {"dev": dev, "o": ORIGIN, "availability_topic": f"{prefix}/availability", "payload_available": "online",
            "payload_not_available": "offline",
            "cmps": components(prefix, device_id, labels, idle_labels, controls, snapshot, regions)}


def per_entity(device: dict, device_id: str, ha_prefix: str = "homeassistant") -> dict[str, dict]:
    """A device-based config as the per-entity configs it stands for (``<ha_prefix>/<p>/<node>/<id>/config`` ->
    the entity's keys with the device, origin and availability): what Home Assistant builds each entity from, and
    the topics earlier versions published (the tests check these against Home Assistant's schemas)."""
    shared = {k: v for k, v in device.items() if k not in ("dev", "o", "cmps")}
    out = {}
    for cid, c in device["cmps"].items():
        if set(c) == {"p"}:  # a component removed (a relabel): no entity
            continue
        platform = c["p"]
        oid = cid[len(platform) + 1:]
        out[f"{ha_prefix}/{platform}/{node_id(device_id)}/{oid}/config"] = {
            **{k: v for k, v in c.items() if k != "p"}, "device": device["dev"], "origin": device["o"], **shared}
    return out


def discovery_configs(prefix: str, device_id: str, labels: list[str], ha_prefix: str = "homeassistant",
                      idle_labels=IDLE_LABELS, controls: bool = False, snapshot: bool = False,
                      regions=()) -> dict[str, dict]:
    """Every entity's config, one per entity topic (:func:`per_entity` of :func:`device_config`)."""
    return per_entity(device_config(prefix, device_id, labels, idle_labels, controls, snapshot, regions),
                      device_id, ha_prefix)


def components(prefix: str, device_id: str, labels: list[str], idle_labels=IDLE_LABELS, controls: bool = False,
               snapshot: bool = False, regions=()) -> dict[str, dict]:
    """component id -> the config of every entity of the device (see the module docstring). With several regions
    the activity entities (sensor, event, binary sensors, snapshot) are made once per region."""
    node, slug = node_id(device_id), entity_slug(f"edge_lrcn_{device_id}")
    out: dict[str, dict] = {}

    def add(component: str, oid: str, name: str, uid: str | None = None, **fields) -> None:
        out[f"{component}_{oid}"] = {"p": component, "name": name, "unique_id": f"{node}_{uid or oid}",
                                     "default_entity_id": f"{component}.{slug}_{entity_slug(oid)}", **fields}

    tags = label_ids(list(regions)) if len(regions) > 1 else {None: None}  # ids: distinct, [a-zA-Z0-9_-]
    for region, tag in tags.items():
        _add_activity(add, prefix, labels, idle_labels, snapshot, region, tag)
    add("binary_sensor", "camera", "Camera", state_topic=f"{prefix}/camera",
        value_template="{{ 'ON' if value_json.state == 'online' else 'OFF' }}", payload_on="ON",
        payload_off="OFF", device_class="connectivity", entity_category="diagnostic")
    for oid, name, key, extra in STATS_SENSORS:
        add("sensor", oid, name, state_topic=f"{prefix}/stats", value_template="{{ value_json." + key + " }}",
            entity_category="diagnostic", **extra)
    add("sensor", "model", "Model", state_topic=f"{prefix}/model", value_template="{{ value_json.id }}",
        json_attributes_topic=f"{prefix}/model", entity_category="diagnostic", icon="mdi:brain")
    if controls:
        _add_controls(add, prefix)
    return out


def _add_activity(add, prefix: str, labels: list[str], idle_labels, snapshot: bool, region: str | None,
                  rid: str | None) -> None:
    """The entities of one region's activity (``region`` None: the only stream, with the ids of earlier versions;
    ``rid``: the region's name made an id): the Activity sensor, the event entity, a binary sensor per activity
    label, the snapshot."""
    sub = "" if region is None else f"/{region}"
    tag = "" if region is None else f"_{rid}"
    title = "" if region is None else f" {region}"
    state = f"{prefix}/activity{sub}"
    add("sensor", f"activity{tag}", f"Activity{title}", device_class="enum",
        options=list(dict.fromkeys([*labels, "none"])), state_topic=state, value_template="{{ value_json.label }}",
        json_attributes_topic=state, icon="mdi:motion-sensor")
    types, with_ends = event_types(labels)
    add("event", f"activity{tag}", f"Activity event{title}", uid=f"activity_event{tag}", event_types=types,
        state_topic=f"{prefix}/events", value_template=event_template(with_ends, region), icon="mdi:run")
    ids = label_ids(labels)
    for label in activity_labels(labels, idle_labels):
        oid = ids[label] if region is None else f"{rid}_{ids[label]}"
        add("binary_sensor", oid, label if region is None else f"{region} {label}", state_topic=state,
            value_template="{{ 'ON' if value_json.label == " + _jinja_str(label) + " else 'OFF' }}",
            payload_on="ON", payload_off="OFF", device_class="motion")
    if snapshot:
        add("image", f"snapshot{tag}", f"Snapshot{title}", image_topic=f"{prefix}/snapshot{sub}",
            content_type="image/jpeg", icon="mdi:camera")


MIGRATE = json.dumps({"migrate_discovery": True})  # HA: unload a per-entity config, keep its entity


class DeviceDiscovery:
    """The device's discovery on one MQTT connection: its config (published at every connect, again when Home
    Assistant comes online, again after a relabel with the components that went listed by platform only), and the
    migration of the per-entity configs of earlier versions. Called on the sink's connection thread with its paho
    client; it never blocks."""

    def __init__(self, prefix: str, ctx, ha_prefix: str = "homeassistant", idle_labels=IDLE_LABELS,
                 controls: bool = False, snapshots: bool = False):
        self.prefix = prefix
        self.ctx = ctx
        self.device_id = ctx.device_id
        self.ha_prefix = ha_prefix
        self.idle_labels = idle_labels
        self.controls = controls  # remote settings on: the numbers and the switch that command them
        self.snapshots = snapshots
        self.topic = device_topic(self.device_id, ha_prefix)
        self.status = f"{self.ha_prefix}/status"  # Home Assistant's birth and last will
        self._cmps: dict[str, str] = {}  # component id -> platform, as last published (what a relabel removes)
        self.config = self._build()

    def _build(self) -> dict:
        cfg = device_config(self.prefix, self.device_id, self.ctx.labels, self.idle_labels, self.controls,
                            self.snapshots, self.ctx.regions, self.ctx.page_url)
        gone = {cid: {"p": platform} for cid, platform in self._cmps.items() if cid not in cfg["cmps"]}
        self._cmps = {cid: c["p"] for cid, c in cfg["cmps"].items()}
        cfg["cmps"].update(gone)
        return cfg

    def relabel(self, ctx) -> None:
        self.ctx = ctx
        self.config = self._build()

    def publish(self, client) -> None:
        client.publish(self.topic, json.dumps(self.config), qos=1, retain=True)

    def connected(self, client) -> None:
        """A connection: the config, and the subscriptions that migrate old configs and hear Home Assistant."""
        self.publish(client)
        client.subscribe([(entity_wildcard(self.device_id, self.ha_prefix), 1), (self.status, 1)])

    def message(self, client, msg) -> None:
        """Home Assistant came online (its birth message): the config again. A retained per-entity config of an
        earlier version: migrated the way Home Assistant documents it, so that its entity (id, area, name the
        user gave it) is kept: ``{"migrate_discovery": true}`` on the old topic, the device config, then the old
        topic cleared (once: it is gone then). One of an entity the device no longer has is only cleared."""
        if msg.topic == self.status:
            if msg.payload == b"online":
                log.info("Home Assistant is online: publishing the discovery config again")
                self.publish(client)
            return
        if not msg.retain or not msg.payload or msg.payload == MIGRATE.encode():
            return
        parts = msg.topic.split("/")  # <ha_prefix>/<component>/<node>/<id>/config
        if self._cmps.get(f"{parts[-4]}_{parts[-2]}") == parts[-4]:
            log.info("migrating the Home Assistant config %s to device-based discovery", msg.topic)
            client.publish(msg.topic, MIGRATE, qos=1)
            self.publish(client)
        else:  # an entity the device no longer has (other labels, an older version's)
            log.info("removing stale Home Assistant config %s", msg.topic)
        client.publish(msg.topic, b"", qos=1, retain=True)


def _add_controls(add, prefix: str) -> None:
    """The ``number`` s and the pause ``switch``: they publish JSON objects on ``<prefix>/set`` (fleet/remote.py)
    and read the retained ``<prefix>/settings``."""
    for name, title, top, step, unit in CONTROL_NUMBERS:
        add("number", name, title, command_topic=f"{prefix}/set",
            command_template='{"' + name + '": {{ value }}}', state_topic=f"{prefix}/settings",
            value_template="{{ value_json." + name + " }}", min=0, max=top, step=step, mode="box",
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
