"""The reconciliation poller's rows: claiming the payments due for a status read, and the
deployment's budget of provider reads.

A claim takes the payments due for a read, the longest silent first (the earliest
`next_poll_at`, an index range), and sets each one's next read in the same transaction; on
PostgreSQL it skips the rows another worker is claiming (`FOR UPDATE SKIP LOCKED`), so two
workers never read the same payment in one pass, and what a claim set is the only write for a
payment whose answer brings nothing new. Reads a worker took but never made (it began
stopping) are handed back with `unclaim`, guarded by what the claim wrote.

The budget is a row of `send_slots` (key `reconcile:<provider>`) used as a token bucket in
the database's clock: `next_at` is when the next read may start, a read moves it one step
later, and a claim may start reads up to `burst` seconds before it. The bucket's row is locked
for the claim's transaction, so the workers' claims are taken one after another and together
never read faster than the configured rate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Float, bindparam, cast, extract, func, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from storage.models import Payment, SendSlot


@dataclass(frozen=True)
class Due:
    """One payment claimed for a status read: what its answer is compared with, and what
    the claim set its next read to (the guard of `unclaim`)."""

    id: int
    provider_payment_id: str
    status: str
    actually_paid: Decimal
    was: datetime | None  # its next read before the claim
    next_poll_at: datetime | None  # its next read after it (None: no more reads)


@dataclass(frozen=True)
class Budget:
    """A deployment-wide rate: `per_minute` reads, up to `burst` seconds of them at once."""

    per_minute: int
    burst: float

    @property
    def step(self) -> float:
        return 60.0 / self.per_minute


def claim(
    session: Session,
    provider: str,
    now: datetime,
    limit: int,
    next_poll: Callable[[str, datetime], datetime | None],
    budget: Budget | None = None,
) -> list[Due]:
    """Claim up to `limit` payments due for a read (fewer when the budget has no room), and
    set each one's next read to `next_poll(status, expires_at)`."""
    if budget is not None:
        limit = min(limit, _room(session, provider, budget))
        if limit <= 0:
            return []
    p = Payment.__table__.c
    query = (
        select(
            p.id, p.provider_payment_id, p.status, p.actually_paid, p.next_poll_at, p.expires_at
        )
        .where(p.next_poll_at <= now, p.provider == provider)
        .order_by(p.next_poll_at, p.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Payment.__table__)
    rows = session.execute(query).all()
    due = [
        Due(r.id, r.provider_payment_id, r.status, r.actually_paid, r.next_poll_at, at)
        for r in rows
        for at in (next_poll(r.status, r.expires_at),)
    ]
    if due:
        session.execute(
            _SET_NEXT,
            [{"pid": d.id, "was": d.was, "at": d.next_poll_at} for d in due],
        )
    if budget is not None:
        _spend(session, provider, budget, len(due))
    return due


def unclaim(session: Session, claimed: Sequence[Due]) -> None:
    """Hand back reads that were claimed and never made: each payment is due again as it was,
    unless something else (an IPN) moved it since the claim."""
    if claimed:
        session.execute(
            _SET_NEXT,
            [{"pid": d.id, "was": d.next_poll_at, "at": d.was} for d in claimed],
        )


_c = Payment.__table__.c
_SET_NEXT = (
    update(Payment.__table__)
    .where(
        _c.id == bindparam("pid", type_=_c.id.type),
        _c.next_poll_at.is_not_distinct_from(bindparam("was", type_=_c.next_poll_at.type)),
    )
    .values(next_poll_at=bindparam("at", type_=_c.next_poll_at.type))
)


def _clock() -> Any:
    """The database's clock in epoch seconds (the workers' own clocks need not agree)."""
    return cast(extract("epoch", func.clock_timestamp()), Float)


def _key(provider: str) -> str:
    return f"reconcile:{provider}"


def _room(session: Session, provider: str, budget: Budget) -> int:
    """How many reads the deployment may start now; the bucket's row stays locked until the
    claim's transaction ends (created on first use)."""
    key = _key(provider)
    clock = _clock()
    session.execute(
        postgresql.insert(SendSlot)
        .values(key=key, next_at=clock)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    room = (clock + budget.burst - func.greatest(SendSlot.next_at, clock)) / budget.step
    found = session.execute(
        select(func.floor(room + 1e-9)).where(SendSlot.key == key).with_for_update()
    ).scalar_one()
    return int(found)


def _spend(session: Session, provider: str, budget: Budget, reads: int) -> None:
    if reads:
        clock = _clock()
        session.execute(
            update(SendSlot)
            .where(SendSlot.key == _key(provider))
            .values(next_at=func.greatest(SendSlot.next_at, clock) + reads * budget.step)
        )
