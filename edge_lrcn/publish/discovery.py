"""Home Assistant MQTT discovery: the retained configs that make a device with an Activity sensor, a binary sensor
per label and the camera's connectivity appear in Home Assistant."""

from __future__ import annotations

import re

from .. import __version__


def object_id(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]", "_", text)


def discovery_configs(prefix: str, device_id: str, labels: list[str], ha_prefix: str = "homeassistant") -> dict:
    """Home Assistant MQTT discovery: an activity sensor, a binary sensor per label, camera connectivity."""
    node = object_id(f"edge_lrcn_{device_id}")
    device = {"identifiers": [node], "name": f"edge-lrcn {device_id}", "manufacturer": "edge-lrcn",
              "model": "LRCN activity recognition", "sw_version": __version__}
    avail = {"availability_topic": f"{prefix}/availability", "payload_available": "online",
             "payload_not_available": "offline"}
    out = {f"{ha_prefix}/sensor/{node}/activity/config": {
        "name": "Activity", "unique_id": f"{node}_activity", "object_id": f"{node}_activity",
        "state_topic": f"{prefix}/activity", "value_template": "{{ value_json.label }}",
        "json_attributes_topic": f"{prefix}/activity", "icon": "mdi:motion-sensor", "device": device, **avail}}
    for label in labels:
        oid = object_id(label)
        out[f"{ha_prefix}/binary_sensor/{node}/{oid}/config"] = {
            "name": label, "unique_id": f"{node}_{oid}", "object_id": f"{node}_{oid}",
            "state_topic": f"{prefix}/activity",
            "value_template": "{{ 'ON' if value_json.label == '%s' else 'OFF' }}" % label.replace("'", ""),
            "payload_on": "ON", "payload_off": "OFF", "device_class": "motion", "device": device, **avail}
    out[f"{ha_prefix}/binary_sensor/{node}/camera/config"] = {
        "name": "Camera", "unique_id": f"{node}_camera", "object_id": f"{node}_camera",
        "state_topic": f"{prefix}/camera", "value_template": "{{ 'ON' if value_json.state == 'online' else 'OFF' }}",
        "payload_on": "ON", "payload_off": "OFF", "device_class": "connectivity", "entity_category": "diagnostic",
        "device": device, **avail}
    return out
