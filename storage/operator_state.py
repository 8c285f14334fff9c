"""State the workers share for operator alerts (`operator_state`): one row per situation,
read and changed under its row lock, so every worker counts into the same window and exactly
one of them decides to raise an alert. Works inside the caller's transaction (a sync
`Session`, `Database.run`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import OperatorState


def locked(session: Session, key: str) -> OperatorState:
    """The row for `key` (created empty when missing), locked until the transaction ends
    (`FOR UPDATE` on PostgreSQL; on SQLite the writer's transaction holds the only write
    lock already)."""
    dialect = session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(OperatorState)
    session.execute(insert.values(key=key, marks=[], detail="").on_conflict_do_nothing())
    query = select(OperatorState).where(OperatorState.key == key).with_for_update()
    return session.scalars(query.execution_options(populate_existing=True)).one()


def since(session: Session, key: str) -> datetime | None:
    """`since` of `key` without a lock (None when there is no row): a cheap look first."""
    query = select(OperatorState.since).where(OperatorState.key == key)
    return session.scalars(query).first()
