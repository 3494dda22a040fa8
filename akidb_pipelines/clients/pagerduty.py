"""PagerDuty Events API v2 through the `pagerduty` package (python-pagerduty), one attempt per call.

Retries belong to the durable outbox (``akidb_pipelines.alerting.outbox``), not to the client: the client's own
retry loop sleeps inside the process (and retries 429 forever), which is exactly what a run that may die must not
rely on. So every call is a single attempt that either returns the dedup_key or raises :class:`DeliveryError`
saying whether a retry can help. The routing key never appears in a message, a log line or an exception.

The configuration is checked when the client is made, before anything is queued for it: the URL must be
``https://host[:port][/path]`` without credentials (the library refuses ``http://`` only when it is first used, and
a URL holding a user and password would be printed), a CA file must exist; else :class:`PagerDutyConfigError`
naming the variable, never echoing the key or a password.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from akidb_pipelines.config import DEFAULT_PAGERDUTY_URL, pagerduty_env

RETRYABLE_STATUSES = {408, 429, 500, 502, 503, 504}


class PagerDutyConfigError(ValueError):
    """The PagerDuty settings cannot work (no key, not an https URL, a missing CA file); one line, no secret."""


def check_base_url(url: str) -> str:
    """``url`` when it is https with a host and no credentials, else :class:`PagerDutyConfigError`."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        raise PagerDutyConfigError("AKIDB_PAGERDUTY_URL: not a URL (expected https://host[:port])") from None
    if parts.scheme != "https":
        raise PagerDutyConfigError(f"AKIDB_PAGERDUTY_URL: must be an https:// URL (got scheme "
                                   f"{parts.scheme or 'none'!r}): events carry the routing key")
    if not parts.hostname:
        raise PagerDutyConfigError("AKIDB_PAGERDUTY_URL: no host (expected https://host[:port])")
    if parts.username or parts.password:
        raise PagerDutyConfigError("AKIDB_PAGERDUTY_URL: must not hold a user or password (the routing key "
                                   "authenticates the events)")
    return url


class DeliveryError(Exception):
    def __init__(self, message: str, retryable: bool, status: int | None = None):
        super().__init__(message)
        self.retryable, self.status = retryable, status


@dataclass(frozen=True)
class Event:
    """One Events API v2 event, as the outbox stores it (without the routing key)."""

    action: str                      # trigger | acknowledge | resolve
    dedup_key: str
    summary: str = ""
    source: str = ""
    severity: str = "critical"       # critical | error | warning | info
    component: str | None = None
    group: str | None = None
    event_class: str | None = None
    timestamp: str | None = None     # ISO 8601
    custom_details: dict[str, Any] | None = None
    links: tuple[dict[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "dedup_key": self.dedup_key, "summary": self.summary, "source": self.source,
                "severity": self.severity, "component": self.component, "group": self.group,
                "event_class": self.event_class, "timestamp": self.timestamp,
                "custom_details": self.custom_details, "links": list(self.links)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        return cls(**{**d, "links": tuple(d.get("links") or ())})


class EventsClient:
    def __init__(self, routing_key: str, base_url: str = DEFAULT_PAGERDUTY_URL, ca_file: str | None = None,
                 timeout_s: float = 10.0):
        from pagerduty import EventsApiV2Client

        if not routing_key:
            raise PagerDutyConfigError("no PagerDuty routing key (set PAGERDUTY_ROUTING_KEY)")
        check_base_url(base_url)
        kw: dict[str, Any] = {}
        if ca_file:
            if not Path(ca_file).is_file():
                raise PagerDutyConfigError(f"AKIDB_PAGERDUTY_CA_FILE: {ca_file}: no such file")
            try:
                kw["verify"] = ssl.create_default_context(cafile=ca_file)
            except (ssl.SSLError, OSError) as exc:
                raise PagerDutyConfigError(f"AKIDB_PAGERDUTY_CA_FILE: {ca_file}: not a usable CA certificate "
                                           f"({exc.__class__.__name__})") from None
        self._key = routing_key
        self._c = EventsApiV2Client(routing_key, base_url=base_url, **kw)
        self._c.timeout = timeout_s
        # One attempt: a status listed in ``retry`` returns at once when the attempt total exceeds
        # max_http_attempts (-1: always), and 429 must be listed or the client retries it forever.
        self._c.max_http_attempts = -1
        self._c.max_network_attempts = 0
        self._c.retry = {s: 1 for s in RETRYABLE_STATUSES}
        self._c.sleep_timer = 0
        # its "exceeded maximum number of attempts (-1)" lines would mislead: the outbox records each failure
        self._c.log.setLevel(logging.CRITICAL)
        self.base_url = base_url

    @classmethod
    def from_env(cls) -> EventsClient | None:
        """The client the environment configures (``PAGERDUTY_ROUTING_KEY``, ``AKIDB_PAGERDUTY_URL``,
        ``AKIDB_PAGERDUTY_CA_FILE``), or None without a routing key (events then wait in the outbox); a setting
        that cannot work raises :class:`PagerDutyConfigError`."""
        env = pagerduty_env()
        if not env.routing_key:
            return None
        return cls(env.routing_key, env.base_url, env.ca_file)

    def __repr__(self) -> str:
        return f"EventsClient(base_url={self.base_url!r}, routing_key=***)"

    def _clean(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def send(self, ev: Event) -> str:
        """One attempt. Returns the dedup_key PagerDuty answered with."""
        import pagerduty

        try:
            if ev.action == "trigger":
                payload = {k: v for k, v in (("component", ev.component), ("group", ev.group),
                                             ("class", ev.event_class), ("timestamp", ev.timestamp)) if v}
                return self._c.trigger(ev.summary, ev.source, dedup_key=ev.dedup_key, severity=ev.severity,
                                       payload=payload or None, custom_details=ev.custom_details or None,
                                       links=list(ev.links) or None)
            if ev.action == "acknowledge":
                return self._c.acknowledge(ev.dedup_key)
            if ev.action == "resolve":
                return self._c.resolve(ev.dedup_key)
            raise DeliveryError(f"unknown event action {ev.action!r}", retryable=False)
        except pagerduty.HttpError as exc:  # ServerHttpError is a subclass
            status = getattr(getattr(exc, "response", None), "status_code", None)
            body = ""
            try:
                body = exc.response.text[:300]
            except Exception:  # noqa: BLE001 - best effort for the message
                pass
            retry = status is None or status in RETRYABLE_STATUSES or status >= 500
            raise DeliveryError(self._clean(f"PagerDuty answered HTTP {status}: {body}"), retry, status) from None
        except pagerduty.Error as exc:  # network errors, timeouts, TLS
            cause = exc.__cause__ or exc
            raise DeliveryError(self._clean(f"PagerDuty unreachable: {type(cause).__name__}: {cause}"),
                                retryable=True) from None
