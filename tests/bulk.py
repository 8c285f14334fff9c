"""Many rows at once, for the tests and benchmarks about tables that grow (rows written
directly, the way a long-lived shop's history would have left them)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event, insert

from storage.db import Database
from storage.models import User

CHUNK = 5000


async def a_user(db: Database, name: str = "bulk", platform: str = "fake") -> int:
    async with db.transaction() as session:
        return (
            await session.execute(
                insert(User)
                .values(
                    platform=platform,
                    platform_user_id=name,
                    display_name=name,
                    locale="en",
                    created_at=datetime(2026, 1, 1, tzinfo=UTC),
                )
                .returning(User.id)
            )
        ).scalar_one()


def payment_row(n: int, user_id: int, created: datetime, expires: datetime, **values: Any):
    row = dict(
        user_id=user_id,
        chat_platform="fake",
        chat_id=f"chat-{n % 1000}",
        order_id=f"bulk-{n}",
        plan="pro",
        price_amount=Decimal(299),
        price_currency="USD",
        pay_currency="sol",
        pay_amount=Decimal("1.99333334"),
        pay_address="addr",
        provider="sandbox",
        provider_payment_id=f"bulk-{n}",
        status="waiting",
        status_rank=0,
        actually_paid=Decimal(0),
        created_at=created,
        updated_at=created,
        expires_at=expires,
        next_check_at=expires,
        warnings_sent="",
        late=False,
    )
    row.update(values)
    return row


async def insert_rows(db: Database, model: type, rows: Iterable[dict[str, Any]]) -> None:
    batch: list[dict[str, Any]] = []
    async with db.transaction() as session:
        for row in rows:
            batch.append(row)
            if len(batch) == CHUNK:
                await session.execute(insert(model), batch)
                batch = []
        if batch:
            await session.execute(insert(model), batch)


def outbox_row(n: int, platform: str, due: datetime, **values: Any) -> dict[str, Any]:
    row = dict(
        chat_platform=platform,
        chat_id=f"chat-{n % 1000}",
        kind="payment.card",
        payload={},
        locale="en",
        dedupe_key=f"bulk:{platform}:{n}",
        status="pending",
        attempts=0,
        created_at=due,
        next_attempt_at=due,
    )
    row.update(values)
    return row


async def analyze(db: Database) -> None:
    """Fresh planner statistics (PostgreSQL's autovacuum would get there later)."""
    async with db.engine.connect() as conn:
        await conn.exec_driver_sql("ANALYZE")
        await conn.commit()


async def plans(db: Database, statements: list[tuple[str, Any]]) -> list[str]:
    """How the database runs each statement: SQLite's EXPLAIN QUERY PLAN lines, or
    PostgreSQL's EXPLAIN text, one string per statement."""
    out = []
    async with db.engine.connect() as conn:
        for statement, params in statements:
            prefix = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN "
            rows = (await conn.exec_driver_sql(prefix + statement, params)).all()
            out.append("\n".join(str(row[-1]) for row in rows))
        await conn.rollback()
    return out


class Statements:
    """The SQL statements run against the database while in the `with` block (both the
    async engine and the SQLite writer's own engine), optionally only those containing
    `needle`."""

    def __init__(self, db: Database, needle: str = "") -> None:
        self.engines = [db.engine.sync_engine]
        if db._sync_engine is not None:  # SQLite writes go through their own engine
            self.engines.append(db._sync_engine)
        self.needle = needle
        self.seen: list[tuple[str, Any]] = []

    def _record(self, _conn, _cursor, statement, parameters, _context, _many) -> None:
        if self.needle in statement:
            self.seen.append((statement, parameters))

    def __enter__(self) -> Statements:
        for engine in self.engines:
            event.listen(engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_exc: object) -> None:
        for engine in self.engines:
            event.remove(engine, "before_cursor_execute", self._record)
