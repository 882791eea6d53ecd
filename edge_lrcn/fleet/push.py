"""``edge-lrcn push``: send a bundle to one device or every device that announced it takes pushes, and wait for the
answers (docs/fleet.md). The devices check everything; this client only frames and sends the file, so a refusal
always comes with the device's own reason."""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from pathlib import Path

from ..config.sections import MqttSettings
from ..errors import EXIT_UNEXPECTED, BundleError, UsageError
from ..logsafe import quote
from ..publish.mqtt import new_client, read_password
from ..publish.urls import SinkType, parse_sink
from .protocol import MODEL, MODEL_RESPONSE, MODEL_SET, encode_push, json_object, new_transaction, response, transaction

ANNOUNCEMENT_MAX = 64 * 1024  # a retained <prefix>/model or an answer: small JSON objects


class Pusher:
    """One connection; ``announced`` collects the retained ``<prefix>/model`` objects, ``answers`` the responses
    that carry one of our transactions."""

    def __init__(self, args):
        try:
            target = parse_sink(args.broker)
        except ValueError as exc:
            raise UsageError(f"--broker: {exc}") from None
        if target.type is not SinkType.MQTT:
            raise UsageError("--broker: give mqtt://host[:port] or mqtts://host[:port]")
        settings = MqttSettings(username=args.username, ca_file=args.ca_file, cert_file=args.cert_file,
                                key_file=args.key_file, tls_insecure=args.tls_insecure,
                                password_file=args.password_file, password_env=args.password_env,
                                password_credential=None)
        self.client = new_client(target, settings, read_password(settings), f"edge-lrcn-push-{uuid.uuid4().hex[:8]}")
        self.announced: dict[str, dict] = {}
        self.answers: dict[str, dict] = {}
        self._connected, self._lock = threading.Event(), threading.Lock()
        self.client.on_connect = lambda c, u, f, rc, p: (self._connected.set() if not rc.is_failure else None)
        self.client.on_message = self._on_message
        self.client.suppress_exceptions = True
        try:
            self.client.connect(target.host, target.port, 30)
        except OSError as exc:
            raise UsageError(f"cannot connect to the MQTT broker {target.host}:{target.port}: {exc}") from None
        self.client.loop_start()
        if not self._connected.wait(10):
            self.close()
            raise UsageError(f"the MQTT broker {target.host}:{target.port} did not accept the connection (user "
                             f"name, password, TLS?)")

    def _on_message(self, client, userdata, msg) -> None:
        """Any retained ``model`` topic and any answer, whoever wrote it: what is not a device's announcement or
        an answer to us is ignored (said once on stderr), never an exception in paho's thread."""
        try:
            obj = json_object(msg.payload, "message", ANNOUNCEMENT_MAX, 3)
        except ValueError as exc:
            self._ignored(msg.topic, str(exc))
            return
        with self._lock:
            if msg.topic.endswith("/" + MODEL_RESPONSE):
                tx = transaction(obj)
                if tx is not None:
                    self.answers[tx] = obj
            elif msg.topic.endswith("/" + MODEL) and msg.retain:
                if not (isinstance(obj.get("id"), str) and isinstance(obj.get("updates"), bool)):
                    self._ignored(msg.topic, "not a device's announcement (id, updates)")
                    return
                self.announced[msg.topic[:-len(MODEL) - 1]] = obj

    def _ignored(self, topic: str, why: str) -> None:
        if topic.endswith("/" + MODEL):
            print(f"ignoring {quote(topic)}: {why}", file=sys.stderr, flush=True)

    def listen(self, topics: list[str], seconds: float) -> None:
        for topic in topics:
            self.client.subscribe(topic, qos=1)
        time.sleep(seconds)  # the broker sends the retained objects at once; this waits for them to arrive

    def send(self, prefix: str, payload: bytes) -> None:
        self.client.publish(f"{prefix}/{MODEL_SET}", payload, qos=1, retain=False).wait_for_publish(60)

    def wait(self, transactions: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if all(t in self.answers for t in transactions):
                    return
            time.sleep(0.05)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _refusal(prefix: str, info: dict | None, size: int) -> str | None:
    """Why a device that announced itself cannot take this push (checked before sending it)."""
    if info is None:
        return None
    if info.get("updates") is False:
        return f"{prefix} takes no pushes (it has no trusted keys)"
    cap = info.get("max_bytes")
    if isinstance(cap, int) and size > cap:
        return f"the bundle is {size} bytes, over {prefix}'s max_model_bytes {cap}"
    return None


def push_command(args) -> int:
    try:
        data = Path(args.model).read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read {args.model}: {exc.strerror or exc}") from None
    if not args.all and not args.device and not args.topic_prefix:
        raise UsageError("name the target: --device ID, --topic-prefix PREFIX or --all")
    pusher = Pusher(args)
    try:
        if args.all:
            pusher.listen([f"{args.base}/+/{MODEL}"], args.discover_s)
            prefixes = sorted(p for p, info in pusher.announced.items() if info.get("updates"))
            if not prefixes:
                raise UsageError(f"no device under {args.base}/ announced that it takes pushes (a retained "
                                 f"{args.base}/<device>/{MODEL} with updates: true)")
        else:
            prefixes = [(args.topic_prefix or f"{args.base}/{args.device}").rstrip("/")]
            pusher.listen([f"{prefixes[0]}/{MODEL}"], min(args.discover_s, 1.0))
        return _push_all(pusher, prefixes, data, args.timeout)
    finally:
        pusher.close()


def _push_all(pusher: Pusher, prefixes: list[str], data: bytes, timeout: float) -> int:
    pusher.listen([f"{p}/{MODEL_RESPONSE}" for p in prefixes], 0.2)
    sent: dict[str, str] = {}
    results: dict[str, dict] = {}
    for prefix in prefixes:
        tx = new_transaction()
        why = _refusal(prefix, pusher.announced.get(prefix), len(data))
        if why:
            results[prefix] = response("error", tx, model=None, error=why)
            continue
        pusher.send(prefix, encode_push(data, tx))
        sent[prefix] = tx
    pusher.wait(list(sent.values()), timeout)
    for prefix, tx in sent.items():
        results[prefix] = pusher.answers.get(tx) or response(
            "error", tx, model=None, error=f"no answer from {prefix} in {timeout:g} s (is it online, with trusted "
                                           f"keys and an MQTT sink on this broker?)")
    for prefix in prefixes:
        print(json.dumps({"device": prefix, **results[prefix]}), flush=True)
    return 0 if all(r.get("status") == "ok" for r in results.values()) else EXIT_UNEXPECTED
