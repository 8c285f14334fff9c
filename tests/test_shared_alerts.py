"""Operator alert windows are the deployment's, not a worker's: two workers (two `App`s, each
with its own engine and webhook server, on one database) count into one window, and each alert
is raised once. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import event, select

from bot.adapters.fake import FakeAdapter
from bot.app import App
from bot.webhooks import COUNT_EVERY
from storage.models import AuditEntry, OutboxItem
from tests.conftest import ManualClock, free_port, nowpayments_config
from tests.helpers import count_rows
from tools.errors import ProviderError

OPERATORS = {"OPERATORS__CONSOLE": '["admin"]'}
BODY = b'{"payment_id": 5077125051, "payment_status": "finished", "actually_paid": 1}'


@pytest.fixture
async def workers(db_url, nowpayments, clock: ManualClock) -> AsyncIterator[list[App]]:
    apps = []
    for _ in range(2):
        config = nowpayments_config(db_url, nowpayments.url, free_port(), **OPERATORS)
        app = App(config, adapters=[FakeAdapter(), FakeAdapter("console")], clock=clock)
        await app.start(background=False)
        await app.webhooks.start()
        apps.append(app)
    yield apps
    for app in apps:
        await app.stop()


async def _bad(app: App, http: httpx.AsyncClient) -> int:
    url = f"http://127.0.0.1:{app.webhooks.bound_port}/webhooks/nowpayments"
    headers = {"content-type": "application/json", "x-nowpayments-sig": "ab" * 64}
    return (await http.post(url, content=BODY, headers=headers)).status_code


async def _alerts(app: App, kind: str) -> tuple[int, int]:
    """(audit rows, operator notices) of `kind`."""
    audited = await count_rows(app, AuditEntry, AuditEntry.action == kind)
    queued = await count_rows(app, OutboxItem, OutboxItem.kind == kind)
    return audited, queued


async def _settled(app: App, kind: str, expected: tuple[int, int]) -> tuple[int, int]:
    """The alerts of `kind` once every worker wrote its 401s (at most `COUNT_EVERY` late),
    waiting up to 3 s for `expected`."""
    for _ in range(30):
        if (found := await _alerts(app, kind)) == expected:
            await asyncio.sleep(COUNT_EVERY + 0.3)  # and nothing more comes
            return await _alerts(app, kind)
        await asyncio.sleep(0.1)
    return found


async def test_two_workers_count_bad_signatures_into_one_window(workers, clock) -> None:
    """Ten bad signatures, five at each worker: one burst, one alert (each worker alone saw
    five, under the threshold of ten); ten more at each in the same window: still one."""
    a, b = workers
    async with httpx.AsyncClient() as http:
        for i in range(9):
            assert await _bad(workers[i % 2], http) == 401
        await asyncio.sleep(COUNT_EVERY + 0.3)  # every 401 written by now
        assert await _alerts(a, "alert.bad_signatures") == (0, 0)
        assert await _bad(b, http) == 401  # the tenth within the window
        assert await _settled(a, "alert.bad_signatures", (1, 1)) == (1, 1)
        clock.advance(20)
        for _ in range(10):
            assert await _bad(a, http) == 401
            assert await _bad(b, http) == 401
        await asyncio.sleep(COUNT_EVERY + 0.3)
        assert await _alerts(b, "alert.bad_signatures") == (1, 1)
        clock.advance(45)  # a new window, the attack goes on: once more, for both workers
        assert await _bad(a, http) == 401
        assert await _bad(b, http) == 401
        assert await _settled(b, "alert.bad_signatures", (2, 2)) == (2, 2)


async def test_an_outage_seen_by_two_workers_is_reported_once(workers, nowpayments, clock) -> None:
    """Worker A fails first, worker B two minutes later: B reports the outage since A's
    first failure; A's later failures add nothing; B's answer ends it for both, once."""
    a, b = workers
    coin = a.catalog.coin("btc")
    nowpayments.fail_next = [503] * 10_000
    started = clock()
    with pytest.raises(ProviderError):
        await a.provider.min_amount(coin)
    clock.advance(121)
    with pytest.raises(ProviderError):
        await b.provider.min_amount(coin)
    assert await _alerts(a, "alert.provider_down") == (1, 1)
    clock.advance(5)
    with pytest.raises(ProviderError):
        await a.provider.min_amount(coin)
    assert await _alerts(a, "alert.provider_down") == (1, 1)
    nowpayments.fail_next.clear()
    clock.advance(5)
    await b.provider.min_amount(coin)
    await a.provider.min_amount(coin)
    assert await _alerts(a, "alert.provider_up") == (1, 1)
    async with a.db.sessions() as session:
        up = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action.like("alert.provider_%"))
            )
        ).all()
    down_detail, up_detail = (e.detail for e in sorted(up, key=lambda e: e.id))
    assert down_detail["since"] == up_detail["since"] == started.isoformat()  # A's failure
    assert up_detail["seconds"] == 131


async def test_bad_signatures_arriving_together_are_all_counted(workers) -> None:
    """401s that come while a count is being written join the next write: none is lost."""
    a, b = workers
    async with httpx.AsyncClient() as http:
        first = await asyncio.gather(*(_bad(w, http) for w in (a, b) * 4))
        assert first == [401] * 8
        await asyncio.sleep(COUNT_EVERY + 0.3)
        assert await _alerts(a, "alert.bad_signatures") == (0, 0)
        assert await asyncio.gather(*(_bad(w, http) for w in (a, b))) == [401, 401]
    assert await _settled(a, "alert.bad_signatures", (1, 1)) == (1, 1)


async def test_a_flood_is_not_a_write_per_request(workers, clock) -> None:
    """Past a reported burst, one worker's 401s are written together at most once a second:
    200 of them within a second are one or two writes (the row's marks show the batches)."""
    a, _b = workers
    async with httpx.AsyncClient() as http:
        for _ in range(10):
            assert await _bad(a, http) == 401
        assert await _alerts(a, "alert.bad_signatures") == (1, 1)  # one worker: at once
        writes = 0

        def seen(_conn, _cursor, statement: str, *_args) -> None:  # the database's traffic
            nonlocal writes
            writes += statement.lstrip().upper().startswith("INSERT INTO OPERATOR_STATE")

        engines = [e for e in (a.db.engine.sync_engine, a.db._sync_engine) if e is not None]
        for engine in engines:
            event.listen(engine, "before_cursor_execute", seen)
        started = asyncio.get_running_loop().time()
        for _ in range(200):
            assert await _bad(a, http) == 401
        elapsed = asyncio.get_running_loop().time() - started
        await asyncio.sleep(COUNT_EVERY + 0.3)
    assert 1 <= writes <= elapsed / COUNT_EVERY + 2, (writes, elapsed)
    assert await _alerts(a, "alert.bad_signatures") == (1, 1)
