from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import inspect, select, text

from storage import repos, writes
from storage.db import Database
from storage.models import AuditEntry, OutboxItem, SandboxTransfer

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
AMOUNTS = ["0.1", "19.99", "1e-18", "123456789.123456789012345678"]


@pytest.fixture
async def db(db_url: str):
    database = Database(db_url)
    await database.upgrade()
    yield database
    await database.close()


async def test_migrations_create_every_table(db: Database) -> None:
    async with db.engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert {
        "users",
        "payments",
        "payment_events",
        "activations",
        "outbox",
        "chat_history",
        "audit_log",
        "alembic_version",
    } <= names


async def test_upgrade_twice_is_harmless(db: Database) -> None:
    await db.upgrade()
    async with db.engine.connect() as conn:
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    from alembic.script import ScriptDirectory

    from storage.db import alembic_config

    assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_the_head_read_without_alembic_is_alembics_head() -> None:
    """A started worker skips Alembic when the schema is at this head: it must be Alembic's."""
    from alembic.script import ScriptDirectory

    from storage.db import alembic_config, migrations_head

    assert migrations_head() == ScriptDirectory.from_config(alembic_config()).get_current_head()


async def test_migrations_match_the_models(db: Database) -> None:
    """A column added to a model without a migration (or the reverse) shows up here."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from storage.models import EXPRESSION_INDEXES, Base

    def compared(kind_of: object, name: str | None, kind: str, *_rest: object) -> bool:
        return not (kind == "index" and name in EXPRESSION_INDEXES)

    options = {"include_object": compared}
    async with db.engine.connect() as conn:
        diff = await conn.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c, opts=options), Base.metadata)
        )
    assert diff == []


@pytest.mark.parametrize("raw", AMOUNTS)
async def test_money_round_trips_exactly(db: Database, raw: str) -> None:
    amount = Decimal(raw)
    async with db.transaction() as session:
        session.add(
            SandboxTransfer(
                provider_payment_id=raw, status="waiting", actually_paid=amount, due_at=NOW
            )
        )
    async with db.sessions() as session:
        stored = (
            await session.scalars(
                select(SandboxTransfer.actually_paid).where(
                    SandboxTransfer.provider_payment_id == raw
                )
            )
        ).one()
    assert isinstance(stored, Decimal)
    assert stored == amount
    assert stored.normalize() == amount.normalize()
    # the column keeps every digit: no float ever touched it
    assert format(stored, "f").rstrip("0").rstrip(".") == format(amount, "f").rstrip("0").rstrip(
        "."
    )


async def test_money_refuses_floats(db: Database) -> None:
    with pytest.raises(Exception, match="Decimal"):
        async with db.transaction() as session:
            session.add(
                SandboxTransfer(
                    provider_payment_id="f", status="waiting", actually_paid=0.1, due_at=NOW
                )
            )
            await session.flush()


async def test_run_is_one_transaction(db: Database) -> None:
    """A unit of work run through `Database.run` commits as a whole or not at all."""

    def half_done(session) -> None:
        writes.audit(session, NOW, "test", "first")
        session.flush()
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await db.run(half_done)
    await db.run(lambda session: writes.audit(session, NOW, "test", "kept"))
    async with db.sessions() as session:
        actions = (await session.scalars(select(AuditEntry.action))).all()
    assert actions == ["kept"]


async def test_datetimes_come_back_aware_utc(db: Database) -> None:
    async with db.transaction() as session:
        session.add(
            SandboxTransfer(
                provider_payment_id="t", status="waiting", actually_paid=Decimal(1), due_at=NOW
            )
        )
    async with db.sessions() as session:
        row = (await session.scalars(select(SandboxTransfer))).one()
    assert row.due_at == NOW and row.due_at.tzinfo is not None


async def test_outbox_dedupe_key_writes_once(db: Database) -> None:
    async with db.transaction() as session:
        user = await repos.get_or_create_user(session, "fake", "u1", "U", NOW)

    row = dict(
        chat_platform="fake",
        chat_id="u1",
        user_id=user.id,
        kind="k",
        payload={},
        locale="en",
        dedupe_key="payment:1:x",
        created_at=NOW,
    )

    def twice(session) -> tuple[bool, bool]:
        return writes.enqueue(session, **row), writes.enqueue(session, **row)

    assert await db.run(twice) == (True, False)
    async with db.sessions() as session:
        assert len((await session.scalars(select(OutboxItem))).all()) == 1


async def test_user_is_unique_per_platform(db: Database) -> None:
    async with db.transaction() as session:
        a = await repos.get_or_create_user(session, "fake", "42", "A", NOW)
        b = await repos.get_or_create_user(session, "fake", "42", "A2", NOW)
        c = await repos.get_or_create_user(session, "console", "42", "C", NOW)
    assert a.id == b.id != c.id


async def test_chat_history_is_bounded(db: Database) -> None:
    async with db.transaction() as session:
        for n in range(7):
            await repos.add_chat_message(session, "fake", "c", "user", f"m{n}", NOW, keep=4)
    async with db.sessions() as session:
        rows = await repos.chat_messages(session, "fake", "c", 10)
    assert [r.content for r in rows] == ["m3", "m4", "m5", "m6"]


async def test_due_payments_query_uses_the_index(db: Database) -> None:
    """The sweeper's query is an index range scan, so its cost follows what is due."""
    sql = "SELECT id FROM payments WHERE next_check_at <= :now ORDER BY next_check_at LIMIT 500"
    params = {"now": NOW.replace(tzinfo=None)}
    async with db.sessions() as session:
        if db.is_sqlite:
            plan = (await session.execute(text("EXPLAIN QUERY PLAN " + sql), params)).all()
        else:
            await session.execute(text("SET enable_seqscan = off"))
            plan = (await session.execute(text("EXPLAIN " + sql), params)).all()
    assert any("ix_payments_next_check_at" in str(row) for row in plan), plan
