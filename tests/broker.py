"""A real mosquitto broker on a free loopback port, started and stopped by the tests."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    """A loopback port nobody listens on now, below the kernel's ephemeral range (32768-60999 by default), so no
    outgoing connection takes it meanwhile. Under pytest-xdist each worker takes only ports of its own residue
    (port % workers == its index): two workers never pick the same port between freeing and binding it. (The ports
    bind(0) gives are no use for that split: Linux hands bind(0) odd ports only.)"""
    n = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    me = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0) % n
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(20000, 32000) // n * n + me
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-32000")


def mosquitto_bin() -> str | None:
    return shutil.which("mosquitto") or (Path("/usr/sbin/mosquitto").exists() and "/usr/sbin/mosquitto") or None


class PortTaken(RuntimeError):
    pass


class Broker:
    def __init__(self, workdir: Path, port: int | None = None, password_file: Path | None = None,
                 tls: dict | None = None, persistence: bool = False):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.auto_port = port is None
        self.port = port or free_port()
        self.conf = self.workdir / "mosquitto.conf"
        self.password_file, self.tls, self.persistence = password_file, tls, persistence
        self._write_conf()
        self.proc = None

    def _write_conf(self) -> None:
        password_file, tls, persistence = self.password_file, self.tls, self.persistence
        lines = [f"listener {self.port} 127.0.0.1", f"allow_anonymous {'false' if password_file else 'true'}",
                 f"persistence {'true' if persistence else 'false'}", f"persistence_location {self.workdir}/",
                 "log_dest stderr", "log_type error", "log_type warning", "log_type notice",
                 "log_type information",  # "... running": its listener is open (start() waits for it)
                 "log_type subscribe"]  # "CLIENT QOS TOPIC": what subscribed() counts
        if os.geteuid() == 0:
            # as root mosquitto would switch to the "mosquitto" user, who cannot read the tests' private files
            lines.append("user root")
        if password_file:
            lines.append(f"password_file {password_file}")
        if tls:
            lines += [f"cafile {tls['ca']}", f"certfile {tls['cert']}", f"keyfile {tls['key']}"]
            if tls.get("require_certificate"):
                lines.append("require_certificate true")
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self) -> Broker:
        for _ in range(5):
            try:
                return self._start()
            except PortTaken:
                # free_port() let the port go before mosquitto bound it, and another test (an xdist worker beside
                # this one) took it meanwhile: a fresh port, unless the test chose this one
                if not self.auto_port:
                    raise
                self.port = free_port()
                self._write_conf()
        raise RuntimeError("mosquitto found no free port in 5 tries")

    def _start(self) -> Broker:
        self.log = open(self.workdir / "broker.log", "ab")
        start = self.log.tell()  # this run's lines: a restart appends to the same log
        self.proc = subprocess.Popen([mosquitto_bin(), "-c", str(self.conf)], stdout=self.log, stderr=self.log)

        def log() -> str:
            return (self.workdir / "broker.log").read_bytes()[start:].decode(errors="replace")

        # its own "running" line, not just a connection: another process listening on the port would accept that
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.close()
                if "Address already in use" in log():
                    raise PortTaken(log())
                raise RuntimeError(f"mosquitto exited: {log()[-2000:]}")
            if " running" in log():
                with socket.create_connection(("127.0.0.1", self.port), timeout=2):
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start listening: {log()[-2000:]}")

    def subscribed(self, topic: str) -> int:
        """How many subscriptions to ``topic`` (the filter, exactly) this broker has taken since its log began: a
        test waits for its subscriber's count to grow rather than sleep before the daemon publishes."""
        log = (self.workdir / "broker.log").read_text(errors="replace")
        return sum(line.endswith(f" {topic}") for line in log.splitlines())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()


def make_certs(d: Path) -> dict:
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate, with the openssl CLI."""
    d.mkdir(parents=True, exist_ok=True)

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=edge-lrcn test CA")
    (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name, cn in (("server", "localhost"), ("client", "edge-lrcn-client")):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj",
            f"/CN={cn}")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out",
            f"{name}.crt", "-days", "2", *(["-extfile", "san.ext"] if name == "server" else []))
    return {k: d / v for k, v in {"ca": "ca.crt", "cert": "server.crt", "key": "server.key",
                                  "client_cert": "client.crt", "client_key": "client.key"}.items()}
