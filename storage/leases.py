"""Leases: a named thing (a connection, a worker's heartbeat) owned by one worker at a time.

A lease is a row of `leases`: its owner holds it until `expires_at` and keeps it by renewing
before then; once it has expired anyone may take it. Taking and renewing are one statement
each (an INSERT that ignores a conflict, then a compare-and-set UPDATE whose condition is
"mine, or expired"), so two workers racing for one lease cannot both win: on PostgreSQL the
second UPDATE waits for the first and re-checks its condition against the row the first
wrote. Every function works inside the caller's transaction (a sync `Session`,
`Database.run`); times come from the caller's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import Lease

WORKER = "worker:"  # heartbeat leases: one per live worker, named after it


@dataclass(frozen=True)
class Holder:
    name: str
    owner: str
    acquired_at: datetime
    expires_at: datetime


def take(session: Session, name: str, owner: str, now: datetime, ttl: timedelta) -> bool:
    """Take `name` for `owner` until `now + ttl`, or renew it when `owner` holds it: True when
    `owner` holds it afterwards. A lease someone else holds is taken only once it expired."""
    expires = now + ttl
    dialect = session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Lease)
    added = session.execute(
        insert.values(
            name=name, owner=owner, acquired_at=now, expires_at=expires
        ).on_conflict_do_nothing()
    )
    if added.rowcount:
        return True
    mine = Lease.owner == owner
    changed = session.execute(
        update(Lease)
        .where(Lease.name == name, mine | (Lease.expires_at <= now))
        .values(
            owner=owner,
            expires_at=expires,
            # a renewal keeps the time it was taken; a takeover starts a new one
            acquired_at=case((mine, Lease.acquired_at), else_=now),
        )
        .execution_options(synchronize_session=False)
    )
    return bool(changed.rowcount)


def release(session: Session, names: list[str], owner: str) -> int:
    """Give up the leases among `names` that `owner` holds (at a clean stop: another worker
    takes them at once instead of waiting for them to expire); how many were held."""
    if not names:
        return 0
    gone = session.execute(
        delete(Lease)
        .where(Lease.name.in_(names), Lease.owner == owner)
        .execution_options(synchronize_session=False)
    )
    return gone.rowcount or 0


def holders(session: Session, now: datetime, prefix: str = "") -> list[Holder]:
    """The leases held at `now` (not expired) whose names start with `prefix`, by name."""
    query = select(Lease).where(Lease.expires_at > now).order_by(Lease.name)
    if prefix:
        query = query.where(Lease.name.startswith(prefix, autoescape=True))
    return [
        Holder(row.name, row.owner, row.acquired_at, row.expires_at)
        for row in session.scalars(query)
    ]


def live_workers(session: Session, now: datetime) -> int:
    """How many workers' heartbeats are current."""
    query = select(func.count()).where(
        Lease.name.startswith(WORKER, autoescape=True), Lease.expires_at > now
    )
    return session.execute(query).scalar_one()


def prune(session: Session, now: datetime, older_than: timedelta) -> int:
    """Forget leases expired more than `older_than` ago (dead workers' heartbeats)."""
    gone = session.execute(
        delete(Lease)
        .where(Lease.expires_at <= now - older_than)
        .execution_options(synchronize_session=False)
    )
    return gone.rowcount or 0
