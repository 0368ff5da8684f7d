"""Webhooks: subscriptions, signatures, event filters and the retry schedule. Pure.

A delivery is a POST of a JSON body signed with the subscription's secret::

    X-Charter-Signature: sha256=<hex HMAC-SHA256 of the raw body>
    X-Charter-Event:     stage_changed
    X-Charter-Delivery:  <a uuid, the same on every retry of one delivery>

A receiver recomputes the HMAC over the bytes it received and compares in
constant time (``verify``). Failed deliveries are retried with exponential
backoff up to ``max_attempts``, then dead-lettered and shown in the delivery log.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from charter.domain import error_codes as codes
from charter.domain import events
from charter.domain.errors import InvalidInput
from charter.domain.gates import parse_duration

SIGNATURE_HEADER = "X-Charter-Signature"
EVENT_HEADER = "X-Charter-Event"
DELIVERY_HEADER = "X-Charter-Delivery"
PING = "ping"                      # the action of a test delivery
ALL = "*"
MAX_URL = 2000
MIN_SECRET = 16
MAX_SECRET = 256

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


def known_actions() -> list[str]:
    """Every audit action (the event vocabulary), plus the test delivery's ``ping``."""
    return sorted({value for key, value in vars(events).items()
                   if key.isupper() and isinstance(value, str)
                   and key not in ("GENESIS_HASH", "TIME_FORMAT")} | {PING})


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(sign(secret, body), header or "")


def mask_secret(secret: str) -> str:
    """How a stored secret is shown back: never in full."""
    return secret[:4] + "…" if len(secret) >= MIN_SECRET else "…"


def check_url(url: object) -> str:
    """http(s) only, with a host and no credentials in it.

    The server POSTs to this URL: only admins create subscriptions, because a URL
    on the server's own network is a request the server makes for whoever wrote it
    (SSRF); see docs/governance.md.
    """
    text = url.strip() if isinstance(url, str) else ""
    parts = urlsplit(text) if text and len(text) <= MAX_URL else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(codes.WEBHOOK_URL_INVALID, f"{str(url)[:80]!r} is not an http(s) URL",
                           "give a full URL such as https://deployer.internal/charter-hook",
                           {"url": str(url)[:MAX_URL]})
    if parts.username or parts.password:
        raise InvalidInput(codes.WEBHOOK_URL_CREDENTIALS, "A webhook URL may not carry a user "
                           "name or password", "authenticate the receiver by the signature "
                           "(the secret) instead", {"url": parts.hostname})
    if any(ord(c) < 33 for c in text):
        raise InvalidInput(codes.WEBHOOK_URL_INVALID, "A webhook URL may not contain spaces or "
                           "control characters", "percent-encode them")
    return text


def redact_url(url: str) -> str:
    """A URL as the audit trail shows it: scheme and host only. Some receivers carry a
    secret in the path (``https://hooks.example.com/services/T0/B0/XXXX``), and events
    are readable by every reader of the registry."""
    parts = urlsplit(url)
    rest = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{parts.netloc}{rest}"


def check_secret(secret: object) -> str:
    if not isinstance(secret, str) or not MIN_SECRET <= len(secret) <= MAX_SECRET \
            or not secret.isprintable():
        raise InvalidInput(codes.WEBHOOK_SECRET_INVALID,
                           f"A webhook secret must be {MIN_SECRET}..{MAX_SECRET} printable "
                           "characters", "leave it out to have one generated, or use e.g. "
                           "`openssl rand -hex 32`")
    return secret


def parse_event_filter(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"stage_changed,rolled_back"`` or a list; empty or ``*`` means every event."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    wanted = sorted({str(item).strip().lower() for item in items if str(item).strip()})
    if not wanted or ALL in wanted:
        return ()
    known = known_actions()
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise InvalidInput(codes.WEBHOOK_EVENTS_UNKNOWN, f"Unknown event(s): {', '.join(unknown)}",
                           f"use * or some of: {', '.join(known)}", {"unknown": unknown})
    return tuple(wanted)


def matches(event_filter: Iterable[str], action: str) -> bool:
    wanted = tuple(event_filter)
    return not wanted or action in wanted or action == PING


def backoff(attempt: int, base: float, cap: float) -> timedelta:
    """The wait after failed attempt ``attempt`` (1-based): base, 2·base, 4·base, … ≤ cap."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempt - 1)))


@dataclass(frozen=True)
class WebhookSettings:
    """``[webhooks]`` in the configuration file (docs/governance.md)."""

    worker: bool = True                 # charter serve runs the delivery worker
    poll_interval: float = 0.5          # seconds between looks at the outbox when idle
    timeout: float = 10.0               # per delivery attempt
    max_attempts: int = 8
    backoff_base: float = 5.0           # seconds after the first failure, doubling
    backoff_max: float = 3600.0
    batch: int = 20
    keep_delivered: float = 30 * 86400.0  # seconds a delivered delivery stays in the log

    @property
    def keep(self) -> timedelta:
        return timedelta(seconds=self.keep_delivered)

    @property
    def lease(self) -> timedelta:
        """How long a claimed delivery is reserved before another worker may retry it."""
        return timedelta(seconds=self.timeout * 2 + 30)


_SETTING_KEYS = {"worker": bool, "poll_interval": float, "timeout": float, "max_attempts": int,
                 "backoff_base": float, "backoff_max": float, "batch": int,
                 "keep_delivered": float}


def parse_webhook_settings(config: Mapping[str, Any]) -> WebhookSettings:
    section = config.get("webhooks", {})
    if not isinstance(section, Mapping):
        raise InvalidInput(codes.CONFIG_INVALID, "[webhooks] must be a table",
                           "e.g. max_attempts = 8 under it")
    unknown = sorted(set(section) - set(_SETTING_KEYS))
    if unknown:
        raise InvalidInput(codes.CONFIG_INVALID, f"[webhooks]: unknown key(s) {', '.join(unknown)}",
                           f"webhook settings are: {', '.join(_SETTING_KEYS)}")
    values: dict[str, Any] = {}
    for key, kind in _SETTING_KEYS.items():
        if key not in section:
            continue
        raw = section[key]
        if kind is bool:
            if not isinstance(raw, bool):
                raise InvalidInput(codes.CONFIG_INVALID, f"[webhooks] {key} must be true or false",
                                   f"e.g. {key} = true")
            values[key] = raw
        elif kind is int:
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
                raise InvalidInput(codes.CONFIG_INVALID, f"[webhooks] {key} must be a whole "
                                   "number >= 1", f"e.g. {key} = 8")
            values[key] = raw
        else:
            seconds = parse_duration(raw, where=f"[webhooks] {key}").total_seconds()
            if seconds <= 0:
                raise InvalidInput(codes.CONFIG_INVALID, f"[webhooks] {key} must be positive",
                                   f"e.g. {key} = \"5s\"")
            values[key] = seconds
    return WebhookSettings(**values)


# --- records ---------------------------------------------------------------------------


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class WebhookRecord:
    id: int
    url: str
    events: tuple[str, ...]           # empty: every event
    description: str
    active: bool
    secret_hint: str                  # the secret, masked
    created_by: str
    created_at: datetime
    secret: str = ""                  # only in the answer that generated it, never again

    def to_dict(self) -> dict[str, Any]:
        data = {"id": self.id, "url": self.url, "events": list(self.events) or [ALL],
                "description": self.description, "active": self.active,
                "secret_hint": self.secret_hint, "created_by": self.created_by,
                "created_at": self.created_at.isoformat()}
        if self.secret:
            data["secret"] = self.secret
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WebhookRecord:
        wanted = tuple(e for e in data.get("events", []) if e != ALL)
        return cls(int(data["id"]), data["url"], wanted, data.get("description", ""),
                   bool(data["active"]), data.get("secret_hint", ""), data.get("created_by", ""),
                   datetime.fromisoformat(data["created_at"]), data.get("secret", ""))


@dataclass(frozen=True)
class AttemptRecord:
    attempt: int
    at: datetime
    status_code: int | None
    ok: bool
    error: str
    duration_ms: int

    def to_dict(self) -> dict[str, Any]:
        return {"attempt": self.attempt, "at": self.at.isoformat(),
                "status_code": self.status_code, "ok": self.ok, "error": self.error,
                "duration_ms": self.duration_ms}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AttemptRecord:
        return cls(int(data["attempt"]), datetime.fromisoformat(data["at"]),
                   data.get("status_code"), bool(data["ok"]), data.get("error", ""),
                   int(data.get("duration_ms", 0)))


@dataclass(frozen=True)
class DeliveryRecord:
    id: int
    uuid: str
    webhook_id: int
    url: str
    action: str
    event_seq: int | None
    model: str
    status: str                       # pending | delivered | dead
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str
    log: tuple[AttemptRecord, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "uuid": self.uuid, "webhook_id": self.webhook_id,
                "url": self.url, "action": self.action, "event_seq": self.event_seq,
                "model": self.model, "status": self.status, "attempts": self.attempts,
                "created_at": self.created_at.isoformat(),
                "next_attempt_at": _iso(self.next_attempt_at),
                "delivered_at": _iso(self.delivered_at),
                "last_status_code": self.last_status_code, "last_error": self.last_error,
                "log": [a.to_dict() for a in self.log]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeliveryRecord:
        return cls(int(data["id"]), data["uuid"], int(data["webhook_id"]), data["url"],
                   data["action"], data.get("event_seq"), data.get("model", ""),
                   data["status"], int(data["attempts"]),
                   datetime.fromisoformat(data["created_at"]),
                   _time(data.get("next_attempt_at")), _time(data.get("delivered_at")),
                   data.get("last_status_code"), data.get("last_error", ""),
                   tuple(AttemptRecord.from_dict(a) for a in data.get("log", [])))
