"""Access events for the shop's own service, in the Standard Webhooks format.

https://www.standardwebhooks.com: each event is a JSON body `{"type", "timestamp", "data"}`
sent with three headers: `webhook-id` (one per fact: a retried or replayed delivery carries
the same id, so the receiver can drop duplicates), `webhook-timestamp` (the delivery's time,
integer seconds) and `webhook-signature` (`v1,` + base64 HMAC-SHA256 over
`"{id}.{timestamp}.{body}"`, keyed with the base64-decoded part of a `whsec_...` secret).
Any Standard Webhooks library verifies them. Pure: no I/O, no clock.

The fields of `data` per event type are listed in docs/access_webhooks.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

EVENT_TYPES = frozenset(
    {"access.granted", "access.renewed", "access.ended", "access.revoked", "payment.finished"}
)
SECRET_PREFIX = "whsec_"
MIN_KEY_BYTES = 24  # the spec: secrets of 24 to 64 random bytes
MAX_KEY_BYTES = 64

# How long to wait after each failed delivery: Standard Webhooks' suggested schedule (5 s,
# 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after the first, immediate, attempt: about 27 h),
# continued every 10 h so that a receiver that is down for a weekend still gets its events:
# 13 attempts over 3 days 5 h 35 min. After the last one the event is given up (dead).
RETRY_DELAYS = tuple(
    timedelta(seconds=s) for s in (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, *[10 * 3600] * 7)
)
GIVE_UP_AFTER = sum(RETRY_DELAYS, timedelta())
ATTEMPTS = len(RETRY_DELAYS) + 1


def retry_delay(attempts: int) -> timedelta | None:
    """How long to wait after the `attempts`-th failed delivery of an event (1 after the
    first), or None when that was the last attempt."""
    if attempts < 1:
        raise ValueError("attempts counts from 1")
    return RETRY_DELAYS[attempts - 1] if attempts <= len(RETRY_DELAYS) else None


def event_id(fact_key: str) -> str:
    """The event's `webhook-id`: the same for every delivery of one fact, different for
    different facts (`msg_` + 128 bits of SHA-256 over the fact key)."""
    if not fact_key:
        raise ValueError("an event needs a fact key")
    return "msg_" + hashlib.sha256(fact_key.encode()).hexdigest()[:32]


def _utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def plain(value: Any, where: str = "data") -> Any:
    """The JSON form of `value`: money (Decimal) as a string, never a float; times as
    ISO-8601 UTC."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{where}: not a finite amount")
        return format(value, "f")  # every digit, never an exponent
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"{where}: {type(value).__name__} has no place in an event (money: Decimal)")


def event_body(kind: str, at: datetime, data: Mapping[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact JSON, ASCII only, keys in the given order."""
    if kind not in EVENT_TYPES:
        raise ValueError(f"unknown event type {kind!r}")
    event = {"type": kind, "timestamp": _utc(at), "data": plain(data, "data")}
    return json.dumps(event, separators=(",", ":")).encode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret; ValueError (never showing the secret) when
    it does not look like one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"must start with {SECRET_PREFIX}")
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"must be {SECRET_PREFIX} followed by base64") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(
            f"must hold {MIN_KEY_BYTES} to {MAX_KEY_BYTES} random bytes "
            f"(e.g. {SECRET_PREFIX} + base64 of 32 bytes)"
        )
    return key


def sign(secret: str, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for sending `body` at `timestamp` (Unix seconds)."""
    signed = f"{event_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode("ascii"),
    }
