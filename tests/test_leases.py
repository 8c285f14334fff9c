"""Leases (storage/leases.py): take, renew, expire, and steal only when expired — with real
parallel connections (`asyncio.gather` over separate `Database`s, as separate workers are) on
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from storage import leases
from storage.db import Database

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
TTL = timedelta(seconds=6)


@pytest.fixture
async def dbs(db_url: str) -> AsyncIterator[list[Database]]:
    """Four workers' own engines on one database."""
    first = Database(db_url)
    await first.upgrade()
    others = [Database(db_url) for _ in range(3)]
    yield [first, *others]
    for db in (first, *others):
        await db.close()


async def _take(db: Database, name: str, owner: str, now: datetime) -> bool:
    return await db.run(lambda s: leases.take(s, name, owner, now, TTL))


async def _held(db: Database, now: datetime) -> dict[str, str]:
    return {h.name: h.owner for h in await db.run(lambda s: leases.holders(s, now))}


async def test_a_free_lease_is_taken_and_renewed_by_its_owner_only(dbs) -> None:
    a, b = dbs[0], dbs[1]
    assert await _take(a, "telegram:polling", "A", NOW)
    assert not await _take(b, "telegram:polling", "B", NOW + timedelta(seconds=1))
    assert await _take(a, "telegram:polling", "A", NOW + timedelta(seconds=5))  # renewed
    # renewed at +5 s: still A's at +10 s, where the first term alone would have ended
    assert not await _take(b, "telegram:polling", "B", NOW + timedelta(seconds=10))
    assert await _held(a, NOW + timedelta(seconds=10)) == {"telegram:polling": "A"}
    holder = (await a.run(lambda s: leases.holders(s, NOW)))[0]
    assert holder.acquired_at == NOW  # a renewal keeps when it was taken


async def test_an_expired_lease_is_taken_over_and_the_old_owner_cannot_renew(dbs) -> None:
    a, b = dbs[0], dbs[1]
    assert await _take(a, "discord:shard:0", "A", NOW)
    later = NOW + TTL  # expired exactly now
    assert await _held(a, later) == {}
    assert await _take(b, "discord:shard:0", "B", later)
    assert not await _take(a, "discord:shard:0", "A", later + timedelta(seconds=1))
    holder = (await a.run(lambda s: leases.holders(s, later)))[0]
    assert (holder.owner, holder.acquired_at) == ("B", later)


@pytest.mark.parametrize("expired", [False, True])
async def test_racing_workers_never_both_win(dbs, expired: bool) -> None:
    """Four connections race for one lease, free or just expired, many times: exactly one
    wins each time."""
    for round_ in range(15):
        name = f"race:{round_}"
        now = NOW + timedelta(minutes=round_)
        if expired:
            assert await _take(dbs[0], name, "old", now - TTL - timedelta(seconds=1))
        results = await asyncio.gather(
            *(_take(db, name, f"W{i}", now) for i, db in enumerate(dbs))
        )
        assert sum(results) == 1, results
        winner = f"W{results.index(True)}"
        assert await _held(dbs[0], now) == {name: winner}


async def test_release_hands_over_at_once_and_only_the_owners_lease(dbs) -> None:
    a, b = dbs[0], dbs[1]
    assert await _take(a, "telegram:polling", "A", NOW)
    assert await b.run(lambda s: leases.release(s, ["telegram:polling"], "B")) == 0
    assert not await _take(b, "telegram:polling", "B", NOW)
    assert await a.run(lambda s: leases.release(s, ["telegram:polling"], "A")) == 1
    assert await _take(b, "telegram:polling", "B", NOW)


async def test_live_workers_counts_current_heartbeats(dbs) -> None:
    a = dbs[0]
    for owner in ("A", "B", "C"):
        assert await _take(a, f"{leases.WORKER}{owner}", owner, NOW)
    assert await _take(a, f"{leases.WORKER}A", "A", NOW + timedelta(seconds=4))
    assert await a.run(lambda s: leases.live_workers(s, NOW + timedelta(seconds=5))) == 3
    assert await a.run(lambda s: leases.live_workers(s, NOW + timedelta(seconds=7))) == 1
    assert await a.run(lambda s: leases.prune(s, NOW + timedelta(minutes=5), TTL)) == 3
    assert await a.run(lambda s: leases.live_workers(s, NOW)) == 0
