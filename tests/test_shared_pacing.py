"""Telegram's send limits held by the whole deployment: several workers (each its own
database engine, or Redis client, and adapter) send through the fake Bot API, which answers 429
the moment a limit is exceeded, and together they stay under it. PostgreSQL only (SQLite is
one worker); the slots' tests run against PostgreSQL and against Redis (PAYBOT_TEST_REDIS_URL,
else 127.0.0.1:6379 when it answers: skipped only when the variable is unset)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from bot.adapters.base import RateLimited
from bot.adapters.telegram import TelegramAdapter
from bot.app import App
from bot.messages import ChatRef, Outgoing
from bot.ratelimit import LocalPacing, Rule
from bot.shared_pacing import QUEUE_BURST, SharedPacing
from storage.db import Database
from storage.send_slots import DatabaseSlots
from tests.conftest import PG_URL, ROOT, _fresh_postgres, make_config
from tests.fakes.telegram_server import FakeTelegram

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "shared_pacing.py"
postgres = pytest.mark.skipif(not PG_URL, reason="PAYBOT_TEST_DATABASE_URL is not set")
REDIS_URL = os.environ.get("PAYBOT_TEST_REDIS_URL")


async def redis_url() -> str:
    """The Redis to test against. Set PAYBOT_TEST_REDIS_URL and an unreachable Redis fails the
    test; unset, 127.0.0.1:6379 is tried and the test skipped when nothing answers there."""
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    url = REDIS_URL or "redis://127.0.0.1:6379/0"
    client = Redis.from_url(url, socket_connect_timeout=2)
    try:
        await client.ping()
    except (OSError, RedisError) as exc:
        if REDIS_URL:
            pytest.fail(f"PAYBOT_TEST_REDIS_URL={REDIS_URL} does not answer: {exc}")
        pytest.skip(f"no Redis at {url} (set PAYBOT_TEST_REDIS_URL to require one)")
    finally:
        await client.aclose()
    return url


def make_adapter(fake: FakeTelegram, mode: str = "webhook") -> TelegramAdapter:
    return TelegramAdapter(
        fake.token,
        base_url=fake.url,
        mode=mode,
        per_second=30,
        per_chat=1,
        per_group_minute=20,
        locales=["en"],
        default_locale="en",
        menu=lambda: [("start", "Start")],
    )


@pytest.fixture(params=["postgresql", "redis"])
async def slots(request):
    """Three workers' own ways to the shared slots: engines on one fresh PostgreSQL schema, or
    Redis clients on one namespace of their own."""
    if request.param == "postgresql":
        if not PG_URL:
            pytest.skip("PAYBOT_TEST_DATABASE_URL is not set")
        await _fresh_postgres(PG_URL)
        dbs = [Database(PG_URL) for _ in range(3)]
        await dbs[0].upgrade()
        yield [DatabaseSlots(db.engine) for db in dbs]
        for db in dbs:
            await db.close()
        return
    from storage.redis_slots import RedisSlots

    url = await redis_url()
    namespace = f"paybot-test:{uuid.uuid4().hex}:"
    workers = [RedisSlots.from_url(url, namespace) for _ in range(3)]
    yield workers
    client = workers[0]._client
    async for key in client.scan_iter(match=namespace + "*"):
        await client.delete(key)
    for worker in workers:
        await worker.close()


@pytest.fixture
async def telegram():
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


async def _worker(adapter: TelegramAdapter, chats: list[int], rounds: int) -> int:
    """Send `rounds` messages to each chat at once, the way the relay does; count 429s."""
    refused = 0

    async def one(chat: int, n: int) -> None:
        nonlocal refused
        try:
            await adapter.send(Outgoing(ChatRef("telegram", str(chat)), f"m{n} to {chat}"))
        except RateLimited:
            refused += 1

    await asyncio.gather(*(one(c, n) for n in range(rounds) for c in chats))
    return refused


async def test_three_workers_together_stay_under_telegrams_limits(slots, telegram) -> None:
    adapters = [make_adapter(telegram) for _ in slots]
    for adapter, worker in zip(adapters, slots, strict=True):
        adapter.pacing = SharedPacing(worker, "telegram")
        await adapter.app.initialize()
    chats = list(range(7001, 7031))  # 30 chats, each written to by every worker
    try:
        refused = await asyncio.gather(*(_worker(a, chats, 2) for a in adapters))
    finally:
        for adapter in adapters:
            await adapter.app.shutdown()
    sends = [r for r in telegram.requests if r.method == "sendMessage"]
    assert sum(refused) == 0 and telegram.too_many == 0
    assert len(sends) == 180 and all(r.status == 200 for r in sends)
    arrivals = sorted(r.at for r in sends)
    # 180 messages under 30/s with a burst of 30 take at least (180 - 30) / 30 = 5 s
    assert arrivals[-1] - arrivals[0] >= 150 / 30
    for chat in chats:  # one chat hears from three workers, still a second apart
        times = sorted(r.at for r in sends if r.chat_id == chat)
        assert len(times) == 6
        assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.99


async def test_a_busy_chat_does_not_hold_the_shared_queue(slots) -> None:
    keys, queued = ["t:all", "t:chat:1"], [True, False]
    first = await slots[0].book(keys, [0.05, 10.0], queued)
    assert first.booked and first.wait == 0.0
    second = await slots[1].book(keys, [0.05, 10.0], queued)
    assert not second.booked and 9.0 < second.wait <= 10.0  # the chat is busy: nothing booked
    third = await slots[0].book(["t:all", "t:chat:2"], [0.05, 10.0], queued)
    assert third.booked and third.wait <= 0.05  # the queue moved on by one slot, not by ten


async def test_a_429_seen_by_one_worker_holds_every_worker(slots) -> None:
    one, two = (SharedPacing(worker, "telegram") for worker in slots[:2])
    rules = [Rule("all", 30.0, queue=True), Rule(("chat", 5), 1.0, spaced=True)]
    await one.pause(rules, 2.0)  # retry_after 2 s answered to the first worker
    booking = await slots[1].book(["telegram:all", "telegram:chat:5"], [0.03, 1.05], [True, False])
    assert 1.5 < booking.wait <= 2.0  # the second worker's next send waits for it too
    assert two.wait(rules) == 0.0  # the second worker has not looked yet: only a hint


async def test_the_app_shares_the_limits_only_on_postgresql(tmp_path) -> None:
    adapter = make_adapter(FakeTelegram(), mode="polling")
    App(make_config(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"), adapters=[adapter])
    assert isinstance(adapter.pacing, LocalPacing)
    if PG_URL:
        App(make_config(PG_URL), adapters=[adapter])
        assert isinstance(adapter.pacing, SharedPacing)
        assert isinstance(adapter.pacing._slots, DatabaseSlots)
        from storage.redis_slots import RedisSlots

        App(make_config(PG_URL, REDIS_URL="redis://127.0.0.1:1/0"), adapters=[adapter])
        assert isinstance(adapter.pacing._slots, RedisSlots)  # the database is not asked


def test_redis_is_imported_only_when_configured() -> None:
    """An idle worker without Redis does not carry its client (the issue's idle memory)."""
    url = PG_URL or "sqlite+aiosqlite:///:memory:"
    script = (
        "import sys\n"
        "from bot.app import App\n"
        "from tests.conftest import make_config\n"
        f"App(make_config({url!r}))\n"
        "assert 'redis' not in sys.modules, 'redis imported'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PAYBOT_REDIS_URL", None)
    subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT, env=env)


async def test_a_429_during_a_send_outlasts_the_answer(slots) -> None:
    """The chat is held while its send is in flight and freed when it is answered; when the
    answer was a 429 with a longer retry_after, the chat stays closed that long."""
    one = SharedPacing(slots[0], "telegram")
    rules = [Rule("all", 30.0, queue=True), Rule(("chat", 6), 1.0, spaced=True)]
    keys = ["telegram:all", "telegram:chat:6"]
    await one.acquire(rules)
    booking = await slots[1].book(keys, [0.03, 1.05], [True, False])
    assert not booking.booked and booking.held == {"telegram:chat:6"}  # in flight: held
    await one.pause(rules, 3.0)
    await one.answered(rules)
    booking = await slots[1].book(keys, [0.03, 1.05], [True, False])
    assert not booking.held and 2.5 < booking.wait <= 3.0  # the platform's 3 s, not 1


@pytest.mark.parametrize("kept_in", ["postgresql", "redis"])
async def test_a_send_goes_out_when_the_database_is_away(kept_in, caplog) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from storage.redis_slots import RedisSlots
    from tests.conftest import free_port

    if kept_in == "redis":  # nothing listens there
        away = RedisSlots.from_url(f"redis://127.0.0.1:{free_port()}/0")
    else:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none"
        away = DatabaseSlots(create_async_engine(url))
    pacing = SharedPacing(away, "telegram")
    rules = [Rule("all", 30.0, queue=True), Rule(("chat", 7), 1.0, spaced=True)]
    await asyncio.wait_for(pacing.acquire(rules), 5)  # paced by this process alone
    await pacing.answered(rules)
    assert pacing.wait(rules) > 0.9  # and still paced: the chat's next second
    assert "shared send limits unavailable" in caplog.text
    await away.close()
    if kept_in == "postgresql":
        await away._engine.dispose()


@postgres
@pytest.mark.parametrize("kept_in", ["postgresql", "redis"])
async def test_three_worker_processes_relay_under_telegrams_limits(kept_in) -> None:
    """Three real worker processes (an app each, the Telegram adapter, the relay) drain one
    outbox through the fake Bot API run here: no 429, every notice once, at most 30/s; the
    limits shared through the database, or through Redis."""
    import importlib.util

    redis = await redis_url() if kept_in == "redis" else ""
    spec = importlib.util.spec_from_file_location("shared_pacing_bench", BENCHMARK)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rate, too_many, delivered = await bench.one_run(PG_URL, rows=90, workers=3, redis=redis)
    assert too_many == 0
    assert delivered == 90
    # first to last, less the few sends the shared queue lets go at once (a bucket's burst)
    span = (delivered - 1) / rate
    assert (delivered - 1 - QUEUE_BURST) / span <= 30.0


async def test_a_chat_in_flight_is_busy_for_about_a_second_not_for_its_crash_hold(
    slots,
) -> None:
    """The relay asks `wait()` whether a chat is busy. While a send to it is in flight (here
    the same worker's background card edit; elsewhere another worker's) the chat is held in
    the database until the answer, a guard against a worker dying mid-send; the relay must
    read that as "free about a second after the answer", not as the guard's length, and an
    answer brings the chat's time forward again."""
    pacing = SharedPacing(slots[0], "telegram")
    rules = [Rule("all", 30.0, queue=True), Rule(("chat", 8), 1.0, spaced=True)]
    await pacing.acquire(rules)  # the card edit: in flight
    second = asyncio.create_task(pacing.acquire(rules))  # a notice to the same chat
    await asyncio.sleep(0.3)
    assert not second.done()  # held: nothing goes to the chat while the edit is in flight
    assert pacing.wait(rules) <= 1.1  # the relay defers it a second, not 30
    await pacing.answered(rules)
    await asyncio.wait_for(second, 3)  # a second after the edit's answer
    await pacing.answered(rules)
    assert 0.9 < pacing.wait(rules) <= 1.1


async def test_a_send_given_up_while_it_waits_for_its_slot_frees_the_chat(slots) -> None:
    """A send cancelled after its booking (the relay's time limit, a shutdown) does not leave
    its chat held until the crash guard runs out."""
    await slots[0].book(["telegram:all"], [0.6], [True])  # the shared queue: next slot later
    pacing = SharedPacing(slots[0], "telegram")
    rules = [Rule("all", 30.0, queue=True), Rule(("chat", 9), 1.0, spaced=True)]
    task = asyncio.create_task(pacing.acquire(rules))
    await asyncio.sleep(0.2)  # booked, sleeping until its slot
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    other = SharedPacing(slots[1], "telegram")
    await asyncio.wait_for(other.acquire(rules), 2)  # a second at most, not the hold


async def test_the_shared_queue_lets_a_burst_go_then_one_a_step(slots) -> None:
    """The bot's overall limit is a token bucket: with room for 3 more slots, 4 sends start at
    once (the one due and 3 early), the 5th a step (1 s) after the first; never an endless
    burst."""
    began = time.monotonic()
    waits = []
    for n in range(5):
        waits.append((await slots[n % 3].book(["t:all"], [1.0], [True], None, [3.0])).wait)
    elapsed = time.monotonic() - began  # the 5th booking came this much after the first
    assert all(w < 0.05 for w in waits[:4])
    assert 1.0 - elapsed - 0.01 <= waits[4] <= 1.0 and elapsed < 0.9


async def test_a_chat_stays_held_while_its_send_is_in_flight_past_its_step(slots) -> None:
    """A send slower than the chat's interval (here 0.2 s) still holds the chat: no other
    worker sends to it until the answer frees it (or the crash guard runs out)."""
    keys, steps, queued = ["t:all", "t:chat:3"], [0.01, 0.2], [True, False]
    first = await slots[0].book(keys, steps, queued, [0.0, 10.0])
    assert first.booked
    await asyncio.sleep(0.4)  # past the chat's interval, the send still in flight
    second = await slots[1].book(keys, steps, queued, [0.0, 10.0])
    assert not second.booked and second.held == {"t:chat:3"}
    await slots[0].release(["t:chat:3"], [0.2])  # answered: free an interval from now
    await asyncio.sleep(0.3)
    assert (await slots[1].book(keys, steps, queued, [0.0, 10.0])).booked


@postgres
async def test_a_connection_cut_under_a_booking_is_not_handed_out_again(caplog) -> None:
    """The bookings run on asyncpg itself, beside SQLAlchemy: a connection PostgreSQL ended
    (a restart, an idle timeout) fails one booking, which paces alone, and is dropped from the
    pool, so the next booking gets a new connection instead of the broken one back."""
    await _fresh_postgres(PG_URL)
    db, other = Database(PG_URL), Database(PG_URL)
    await db.upgrade()
    slots = DatabaseSlots(db.engine)
    pacing = SharedPacing(slots, "telegram")
    rules = [Rule("all", 30.0, queue=True)]
    try:
        assert (await slots.book(["t:all"], [0.01], [True])).booked  # a connection in the pool
        async with other.engine.connect() as conn:  # the server ends every other session
            await conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        await asyncio.wait_for(pacing.acquire(rules), 5)  # the cut connection: paced alone
        assert "shared send limits unavailable" in caplog.text
        for _ in range(3):  # then the shared slots again, on a new connection each time
            assert (await slots.book(["t:all"], [0.01], [True])).booked
    finally:
        await db.close()
        await other.close()
