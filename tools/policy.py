"""Settings of the payment policy and the small pure decisions it makes (DESIGN §3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from tools.states import Status


@dataclass(frozen=True)
class PaymentSettings:
    ttl: timedelta = timedelta(minutes=15)
    warnings: tuple[int, ...] = (300, 60)  # seconds before the deadline, largest first
    monitoring: timedelta = timedelta(hours=24)
    underpaid_tolerance: Decimal = Decimal("0.005")
    activate_late: bool = True
    max_open_per_user: int = 3
    poll_after: timedelta = timedelta(minutes=5)  # re-read an open payment after this silence
    poll_expired_every: timedelta = timedelta(minutes=15)  # and an expired one this often


def next_poll(
    status: Status, now: datetime, expires_at: datetime, settings: PaymentSettings
) -> datetime | None:
    """When the reconciliation poller should next ask the provider about a payment."""
    if status in (Status.FINISHED, Status.FAILED, Status.REFUNDED):
        return None
    closed = status in (Status.EXPIRED, Status.CANCELLED)  # watched for late money only
    every = settings.poll_expired_every if closed else settings.poll_after
    at = now + every
    return at if at <= expires_at + settings.monitoring else None  # the window is over


def enough_paid(paid: Decimal, asked: Decimal, tolerance: Decimal) -> bool:
    return paid >= asked * (1 - tolerance)


def effective_status(
    observed: Status, paid: Decimal, asked: Decimal, tolerance: Decimal
) -> Status:
    """A `finished` that brought too little counts as partially paid: top-ups can complete it."""
    if observed is Status.FINISHED and not enough_paid(paid, asked, tolerance):
        return Status.PARTIALLY_PAID
    return observed


def deadline(now: datetime, ttl: timedelta, provider_expiry: datetime | None) -> datetime:
    """Our countdown: the configured TTL, cut short by the provider's own quote expiry."""
    ours = now + ttl
    return min(ours, provider_expiry) if provider_expiry else ours


def sent_offsets(text: str) -> set[int]:
    return {int(x) for x in text.split(",") if x}


def due_warnings(
    now: datetime, expires_at: datetime, offsets: tuple[int, ...], sent: set[int]
) -> list[int]:
    """Warning offsets whose time has come and that were not sent yet."""
    return [o for o in offsets if o not in sent and now >= expires_at - timedelta(seconds=o)]


def next_check(
    now: datetime, expires_at: datetime, offsets: tuple[int, ...], sent: set[int]
) -> datetime:
    """When the sweeper must look at a waiting payment again."""
    times = [
        expires_at - timedelta(seconds=o)
        for o in offsets
        if o not in sent and expires_at - timedelta(seconds=o) > now
    ]
    return min([*times, expires_at])
