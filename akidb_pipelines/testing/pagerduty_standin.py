"""A local stand-in for PagerDuty's Events API v2, over HTTPS with a self-signed certificate.

No PagerDuty is reachable from where this project is developed and demonstrated, so tests and ``make demo`` route
pages here. It does what the real endpoint does for our purposes: ``POST /v2/enqueue`` validates the event (routing
key of 32 characters, action, dedup_key, payload fields and severities), answers 202 with the dedup_key (and 400 with
the errors otherwise), and keeps PagerDuty's incident semantics per dedup_key: a trigger opens or updates an
incident, acknowledge and resolve move it on, redelivery of the same event changes nothing. Tests can inject
failures (HTTP statuses, or slow answers that time the client out) ahead of real answers.

It binds 127.0.0.1 only. The `pagerduty` client refuses plain http base URLs, hence TLS.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SEVERITIES = {"critical", "error", "warning", "info"}
ACTIONS = {"trigger", "acknowledge", "resolve"}
TOP_LEVEL = {"routing_key", "event_action", "dedup_key", "payload", "images", "links", "client", "client_url"}


def validate(ev: Any) -> list[str]:
    """The errors PagerDuty would report for this event (empty: valid)."""
    if not isinstance(ev, dict):
        return ["event must be a JSON object"]
    e = []
    if not isinstance(ev.get("routing_key"), str) or len(ev["routing_key"]) != 32:
        e.append("routing_key must be 32 characters")
    action, dk = ev.get("event_action"), ev.get("dedup_key")
    if action not in ACTIONS:
        e.append(f"event_action must be one of {sorted(ACTIONS)}")
    if dk is not None and not (isinstance(dk, str) and 0 < len(dk) <= 255):
        e.append("dedup_key must be 1..255 characters")
    if action in ("acknowledge", "resolve") and dk is None:
        e.append("dedup_key is required to acknowledge or resolve")
    if action == "trigger":
        p = ev.get("payload")
        if not isinstance(p, dict):
            e.append("payload is required")
        else:
            if not (isinstance(p.get("summary"), str) and 0 < len(p["summary"]) <= 1024):
                e.append("payload.summary must be 1..1024 characters")
            if not isinstance(p.get("source"), str) or not p["source"]:
                e.append("payload.source is required")
            if p.get("severity") not in SEVERITIES:
                e.append(f"payload.severity must be one of {sorted(SEVERITIES)}")
            if "timestamp" in p:
                try:
                    datetime.fromisoformat(str(p["timestamp"]).replace("Z", "+00:00"))
                except ValueError:
                    e.append("payload.timestamp must be ISO 8601")
            if "custom_details" in p and not isinstance(p["custom_details"], dict):
                e.append("payload.custom_details must be an object")
    for link in ev.get("links") or []:
        if not isinstance(link, dict) or "href" not in link:
            e.append("every link needs an href")
    extra = set(ev) - TOP_LEVEL
    if extra:
        e.append(f"unknown fields {sorted(extra)}")
    return e


@dataclass
class Incident:
    dedup_key: str
    status: str                       # triggered | acknowledged | resolved
    summary: str
    severity: str
    triggers: int = 0                 # trigger events received (updates of an open incident count too)
    history: list[tuple[str, float]] = field(default_factory=list)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost (openssl, valid 10 years): (cert, key)."""
    cert, key = directory / "standin-cert.pem", directory / "standin-key.pem"
    if not (cert.exists() and key.exists()):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                        str(cert), "-days", "3650", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                       check=True, capture_output=True)
    return cert, key


class PagerDutyStandIn:
    """``with PagerDutyStandIn() as pd: ...`` serves ``pd.base_url``; ``pd.ca_file`` verifies it."""

    def __init__(self, workdir: str | Path | None = None, port: int = 0):
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="akidb-pd-")
        self.workdir = Path(workdir or self._tmp.name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ca_file, self._key = make_certificate(self.workdir)
        self.events: list[dict] = []          # valid events, in arrival order
        self.arrivals: list[float] = []       # when each of them arrived (epoch seconds; events[i] at arrivals[i])
        self.requests: list[dict] = []        # every request (path, status answered)
        self.incidents: dict[str, Incident] = {}
        self.failures: list[int | float] = []  # injected: an int is an HTTP status, a float a delay in seconds
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, code: int, body: dict) -> None:
                raw = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer._lock:
                    injected = outer.failures.pop(0) if outer.failures else None
                if isinstance(injected, float):
                    time.sleep(injected)  # the client times out first
                    injected = None
                if injected is not None:
                    outer._record(self.path, injected)
                    return self._send(injected, {"status": "error", "message": "injected failure"})
                if self.path != "/v2/enqueue":
                    outer._record(self.path, 404)
                    return self._send(404, {"status": "error", "message": "not found"})
                try:
                    ev = json.loads(raw)
                except ValueError:
                    outer._record(self.path, 400)
                    return self._send(400, {"status": "invalid event", "message": "Event object is invalid",
                                            "errors": ["body is not JSON"]})
                errors = validate(ev)
                if errors:
                    outer._record(self.path, 400)
                    return self._send(400, {"status": "invalid event", "message": "Event object is invalid",
                                            "errors": errors})
                dk = outer._apply(ev)
                outer._record(self.path, 202)
                return self._send(202, {"status": "success", "message": "Event processed", "dedup_key": dk})

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.ca_file, self._key)
        self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self.base_url = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _record(self, path: str, status: int) -> None:
        with self._lock:
            self.requests.append({"path": path, "status": status, "at": time.time()})

    def _apply(self, ev: dict) -> str:
        with self._lock:
            action, now = ev["event_action"], time.time()
            self.events.append(ev)
            self.arrivals.append(now)
            dk = ev.get("dedup_key") or uuid.uuid4().hex
            inc = self.incidents.get(dk)
            if action == "trigger":
                p = ev["payload"]
                if inc is None or inc.status == "resolved":
                    inc = self.incidents[dk] = Incident(dk, "triggered", p["summary"], p["severity"])
                inc.triggers += 1
                inc.summary, inc.severity = p["summary"], p["severity"]
            elif inc is not None and inc.status != "resolved":
                inc.status = "acknowledged" if action == "acknowledge" else "resolved"
            if inc is not None:
                inc.history.append((action, now))
            return dk

    def __enter__(self) -> PagerDutyStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def start(self) -> PagerDutyStandIn:
        return self.__enter__()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._tmp is not None:
            self._tmp.cleanup()
