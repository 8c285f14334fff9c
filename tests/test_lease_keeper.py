"""The lease keeper (bot/leases.py): each connection opened by exactly one worker, shards
divided among the live workers, a dead worker's connections taken over once its leases
expire, a clean stop handing over at once. Workers are keepers with their own engines on one
database (SQLite and PostgreSQL); time is a manual clock; connections record their opens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.adapters.base import Connection
from bot.leases import LeaseKeeper
from storage.db import Database
from tests.conftest import ManualClock

_TTL = timedelta(seconds=6)
NAMES = ("telegram:polling", "discord:shard:0", "discord:shard:1", "discord:shard:2")


class Worker:
    """A keeper over four connections that records which are open in this worker."""

    def __init__(self, db: Database, clock: ManualClock, name: str) -> None:
        self.open: set[str] = set()
        self.opened: list[str] = []
        connections = [
            Connection(
                n, self._opener(n), self._closer(n), group="discord" if "shard" in n else ""
            )
            for n in NAMES
        ]
        self.keeper = LeaseKeeper(db, connections, ttl=_TTL, owner=name, clock=clock)

    def _opener(self, name: str):
        async def open_() -> None:
            self.open.add(name)
            self.opened.append(name)

        return open_

    def _closer(self, name: str):
        async def close() -> None:
            self.open.discard(name)

        return close

    async def round(self) -> None:
        for task in await self.keeper.round():
            await task


@pytest.fixture
async def dbs(db_url: str) -> AsyncIterator[list[Database]]:
    first = Database(db_url)
    await first.upgrade()
    all_ = [first, Database(db_url), Database(db_url)]
    yield all_
    for db in all_:
        await db.close()


def _owners(workers: list[Worker]) -> dict[str, list[int]]:
    return {n: [i for i, w in enumerate(workers) if n in w.open] for n in NAMES}


async def test_one_owner_each_shards_divided_and_dead_workers_replaced(dbs, clock) -> None:
    workers = [Worker(db, clock, f"w{i}") for i, db in enumerate(dbs)]
    await workers[0].keeper.start(background=False)  # alone: it runs everything
    assert workers[0].open == set(NAMES)
    for worker in workers[1:]:
        await worker.keeper.start(background=False)
    for _ in range(2):  # the first one sees three workers and gives shards back
        for worker in workers:
            clock.advance(0.5)
            await worker.round()
    owners = _owners(workers)
    assert all(len(o) == 1 for o in owners.values()), owners
    shards = [sum(n.startswith("discord") for n in w.open) for w in workers]
    assert sorted(shards) == [1, 1, 1], shards  # three shards, three workers: one each
    report = workers[0].keeper.report()
    assert report["workers"] == 3 and set(report["owners"]) == set(NAMES)
    lines = workers[0].keeper.metric_lines()
    assert "paybot_workers_live 3" in lines

    dead = owners["telegram:polling"][0]  # killed: no release, no more rounds
    alive = [w for i, w in enumerate(workers) if i != dead]
    lost = set(workers[dead].open)
    clock.advance(2)
    for worker in alive:
        await worker.round()
    assert not lost & (alive[0].open | alive[1].open)  # not expired yet: nobody steals
    clock.advance(4.5)  # past the dead worker's expiry
    for _ in range(2):
        for worker in alive:
            await worker.round()
        clock.advance(0.1)
    owners = _owners(alive)
    assert all(len(o) == 1 for o in owners.values()), owners  # everything owned once again
    assert sorted(sum(n.startswith("discord") for n in w.open) for w in alive) == [1, 2]

    await alive[0].keeper.stop()  # a clean stop: the other takes over in its next round
    assert alive[0].open == set()
    clock.advance(0.1)
    await alive[1].round()
    assert alive[1].open == set(NAMES)


async def test_a_renewal_that_finds_the_lease_taken_closes_the_connection(dbs, clock) -> None:
    a, b = Worker(dbs[0], clock, "a"), Worker(dbs[1], clock, "b")
    await a.keeper.start(background=False)
    await b.keeper.start(background=False)
    assert "telegram:polling" in a.open and "telegram:polling" not in b.open
    clock.advance(7)  # a was frozen past its lease: b takes over
    await b.round()
    assert "telegram:polling" in b.open
    await a.round()  # a wakes up: the lease is b's, so a stops polling
    assert "telegram:polling" not in a.open
    assert a.opened.count("telegram:polling") == 1


async def test_without_the_database_a_worker_keeps_its_connections_only_until_expiry(
    dbs, clock
) -> None:
    a = Worker(dbs[0], clock, "a")
    await a.keeper.start(background=False)
    assert a.open == set(NAMES)
    away = Database("postgresql+asyncpg://postgres@127.0.0.1:1/away")  # nothing listens
    a.keeper.db = away
    try:
        clock.advance(3)
        await a.round()  # cannot renew, but its leases run until +6 s: nobody else has them
        assert a.open == set(NAMES)
        clock.advance(3)
        await a.round()  # expired now: another worker may have them, so stop
        assert a.open == set()
    finally:
        await away.close()
