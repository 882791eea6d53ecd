"""Checks discovery configs with Home Assistant's own code; run by tests/test_ha_discovery.py with a Python that has
the ``homeassistant`` package (it imports nothing of edge_lrcn: the configs and sample payloads come on stdin).

stdin:  {"configs": {topic: config}, "samples": {state topic: [payload objects]}}
stdout: {"ha_version": ..., "topics": {topic: {"error": str | null, "stripped": [keys], "rendered": [str]}}}

Each config is validated with the MQTT platform's strict ``PLATFORM_SCHEMA_MODERN`` (unknown keys are errors; HA's
discovery schema would drop them silently). A key this Home Assistant is too old to know is reported in
``stripped`` and validated again without it, only for the keys listed in ``NEWER`` (the newest HA that installs on
Python 3.11 is 2024.3). ``default_entity_id`` is checked with HA's entity id validator. Every ``value_template``
is rendered by HA's template engine with the samples of its state topic, as the MQTT integration renders it.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import tempfile

import voluptuous as vol
from homeassistant.const import __version__
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.template import Template

NEWER = {"default_entity_id": "2025.10", "options": "2024.9"}  # key -> the HA release that added it to MQTT
# (options of an MQTT enum sensor: home-assistant/core#123248; default_entity_id: the 2025.10 deprecation of object_id)


def validate(component: str, config: dict) -> tuple[str | None, list[str]]:
    schema = importlib.import_module(f"homeassistant.components.mqtt.{component}").PLATFORM_SCHEMA_MODERN
    entity_id = config.get("default_entity_id")
    config, stripped = dict(config), []
    while True:
        try:
            schema(config)
            break
        except vol.Invalid as exc:
            errors = exc.errors if isinstance(exc, vol.MultipleInvalid) else [exc]
            unknown = [e.path[0] for e in errors if "extra keys not allowed" in e.msg and e.path]
            if not unknown or any(k not in NEWER for k in unknown) or len(errors) != len(unknown):
                return "; ".join(str(e) for e in errors), stripped
            for key in unknown:
                config.pop(key)
                stripped.append(key)
    if entity_id is not None:
        try:
            if cv.entity_id(entity_id).split(".")[0] != component:
                return f"default_entity_id {entity_id} is not in the {component} domain", stripped
        except vol.Invalid as exc:
            return f"default_entity_id: {exc}", stripped
    return None, stripped


async def check(data: dict) -> dict:
    hass = HomeAssistant(tempfile.mkdtemp())
    out = {}
    for topic, config in data["configs"].items():
        error, stripped = validate(topic.split("/")[1], config)
        template = Template(config["value_template"], hass) if "value_template" in config else None
        rendered = [template.async_render_with_possible_json_value(json.dumps(obj), "")
                    for obj in data["samples"].get(config["state_topic"], [])] if template else []
        out[topic] = {"error": error, "stripped": stripped, "rendered": rendered}
    await hass.async_stop(force=True)
    return out


if __name__ == "__main__":
    result = asyncio.run(check(json.load(sys.stdin)))
    json.dump({"ha_version": __version__, "topics": result}, sys.stdout)
