"""PostgreSQL connections are pinged before use only after they sat idle (`storage.db`):
one broken while idle is replaced before anyone uses it; a busy pool is not pinged."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from storage import db as storage_db
from storage.db import Database
from tests.conftest import PG_URL, _fresh_postgres

pytestmark = pytest.mark.skipif(not PG_URL, reason="PostgreSQL only (PAYBOT_TEST_DATABASE_URL)")


async def backend_pid(database: Database) -> int:
    async with database.sessions() as session:
        return (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()


async def kill(pid: int) -> None:
    engine = create_async_engine(PG_URL)
    async with engine.connect() as conn:
        await conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
    await engine.dispose()


def count_pings(database: Database, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    pings: list[object] = []
    dialect = database.engine.sync_engine.dialect
    real = dialect.do_ping
    monkeypatch.setattr(dialect, "do_ping", lambda conn: pings.append(conn) or real(conn))
    return pings


async def test_a_connection_broken_while_idle_is_replaced_before_use(monkeypatch) -> None:
    await _fresh_postgres(PG_URL)
    database = Database(PG_URL)
    try:
        pings = count_pings(database, monkeypatch)
        first = await backend_pid(database)
        monkeypatch.setattr(storage_db, "PING_IDLE_SECONDS", 0.0)  # everything is idle now
        await kill(first)
        second = await backend_pid(database)  # no error: the ping found it dead
        assert second != first
        assert len(pings) == 1
    finally:
        await database.close()


async def test_a_connection_used_a_moment_ago_is_not_pinged(monkeypatch) -> None:
    await _fresh_postgres(PG_URL)
    database = Database(PG_URL)
    try:
        pings = count_pings(database, monkeypatch)
        monkeypatch.setattr(storage_db, "PING_IDLE_SECONDS", 3600.0)
        pids = {await backend_pid(database) for _ in range(20)}
        assert len(pids) == 1 and pings == []  # one connection, reused, never pinged
        await kill(pids.pop())  # broken while "busy": its next statement fails once...
        with pytest.raises(Exception):  # noqa: B017,PT011 (the driver's disconnect error)
            await backend_pid(database)
        assert await backend_pid(database)  # ...and the pool reconnects for the next one
    finally:
        await database.close()
