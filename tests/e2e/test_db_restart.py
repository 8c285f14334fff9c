"""Three `paybot run` workers while their PostgreSQL server restarts in the middle of load.

The workers run on a private PostgreSQL server started for this test (`tests/pg_cluster.py`),
so that it can really be stopped and started again (`pg_ctl`) without touching the shared one.
Customers buy through the fake Bot API in webhook mode, spread over the workers; then the fake
NOWPayments sends `finished` IPNs with duplicates and stale reorders to all the workers, and
halfway through the server goes away for a few seconds and comes back. IPNs refused meanwhile
are sent again, as NOWPayments does. Afterwards: every worker is alive and healthy again, every
payment is activated exactly once, every notification is delivered exactly once (none left
claimed or pending) and no worker wrote a traceback. Needs PostgreSQL (SQLite is one worker):
it runs whenever PAYBOT_TEST_DATABASE_URL is set, on its own server, not on that one.
"""

from __future__ import annotations

import asyncio
import collections
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import PG_URL
from tests.e2e.test_telegram import _calls
from tests.e2e.test_workers import Worker, shop_worker, stop_workers
from tests.fakes.nowpayments_server import FakeNowPayments
from tests.fakes.telegram_server import FakeTelegram
from tests.pg_cluster import PrivatePostgres

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs PAYBOT_TEST_DATABASE_URL")

CUSTOMERS = 24
SECRET = "restart-secret"
DOWN_SECONDS = 3.0  # how long the server stays away, IPNs arriving all the while
FIRST_CHAT = 7001


async def _wait(what: str, check, timeout: float, show=None) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout} s; {show() if show else ''}")
        await asyncio.sleep(0.2)


async def _healthy(http: httpx.AsyncClient, workers: list[Worker]) -> bool:
    for worker in workers:
        try:
            answer = await http.get(f"http://127.0.0.1:{worker.port}/healthz", timeout=2)
        except httpx.HTTPError:
            return False
        if answer.status_code != 200:
            return False
    return True


async def _deliver(np: FakeNowPayments, remote: int, body: bytes, url: str, log: list) -> None:
    """One IPN, sent again every 0.2 s until it is acknowledged (NOWPayments retries too)."""
    deadline = time.monotonic() + 40
    while True:
        try:
            status = await np.send_ipn(remote, body, url=url)
        except OSError as exc:  # aiohttp's connection errors are OSErrors
            status = type(exc).__name__
        log.append(status)
        if status == 200:
            return
        assert time.monotonic() < deadline, f"IPN for {remote} never acknowledged: {status}"
        await asyncio.sleep(0.2)


def _finished(np: FakeNowPayments, remote: int) -> tuple[bytes, bytes]:
    """The `finished` IPN for a payment paid in full, and a stale `confirming` one."""
    payment = np.payments[remote]
    paid = Decimal(str(payment.body["pay_amount"]))
    extra = {
        "outcome_amount": (paid * Decimal("0.995")).quantize(Decimal("1e-8")),
        "outcome_currency": payment.body["pay_currency"],
    }
    np.set_state(remote, "finished", paid)  # what the reconciliation poller reads, too
    payment.body.update(extra)
    return np.ipn_body(remote, "finished", paid, **extra), np.ipn_body(remote, "confirming", paid)


async def _rows(url: str, query: str) -> list[tuple]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(row) for row in (await conn.exec_driver_sql(query)).all()]
    finally:
        await engine.dispose()


async def test_workers_survive_a_database_restart_and_lose_nothing(tmp_path: Path) -> None:
    telegram, np = FakeTelegram(), FakeNowPayments()
    await telegram.start()
    await np.start()
    workers: list[Worker] = []
    async with PrivatePostgres() as pg:
        try:
            for _ in range(3):
                workers.append(await shop_worker(pg.url, tmp_path, telegram, np, SECRET))
            async with httpx.AsyncClient() as http:

                async def started() -> bool:
                    assert all(w.process.returncode is None for w in workers), [
                        w.err.decode()[-2000:] for w in workers
                    ]
                    return await _healthy(http, workers)

                await _wait("workers started", started, 60)
                base = [f"http://127.0.0.1:{w.port}" for w in workers]
                chats = range(FIRST_CHAT, FIRST_CHAT + CUSTOMERS)
                for i, chat in enumerate(chats):  # each customer buys, at one of the workers
                    update = telegram.push_message(chat, "/buy pro sol", user_id=chat)
                    url = f"{base[i % 3]}/webhooks/telegram"
                    assert await telegram.post_update(url, update, SECRET) == 200
                telegram._pending.clear()  # posted by hand: nothing for a webhook to fetch
                await telegram.wait_for(
                    lambda f: all(len(_calls(f, "sendPhoto", c)) == 1 for c in chats), timeout=30
                )
                remotes = sorted(np.payments)
                assert len(remotes) == CUSTOMERS

                statuses: list = []
                sent = asyncio.Event()
                halfway = CUSTOMERS // 3

                async def pay_all() -> None:
                    deliveries = []
                    for k, remote in enumerate(remotes):
                        finished, stale = _finished(np, remote)
                        targets = [base[k % 3], base[(k + 1) % 3], base[(k + 2) % 3]]
                        for body, target in zip((finished, finished, stale), targets, strict=True):
                            url = f"{target}/webhooks/nowpayments"
                            deliveries.append(
                                asyncio.create_task(_deliver(np, remote, body, url, statuses))
                            )
                        if k == halfway:
                            sent.set()
                        await asyncio.sleep(0.15)
                    await asyncio.gather(*deliveries)

                # The server stops while a relay waits for Telegram to answer a send: that
                # relay must record the message as sent once the database is back (or
                # another relay would send it again when its claim runs out).
                outage, down = asyncio.Event(), asyncio.Event()
                send_message = telegram._methods["sendmessage"][1]

                async def stop_during_a_send(params: dict, files: dict) -> object:
                    answer = send_message(params, files)
                    if sent.is_set() and not outage.is_set():
                        outage.set()
                        await pg.stop()
                        down.set()
                    return answer

                telegram.register("sendMessage", stop_during_a_send)
                paying = asyncio.create_task(pay_all())
                await down.wait()  # in the middle of the IPNs, during a send
                stopped = time.monotonic()
                await asyncio.sleep(DOWN_SECONDS)
                await pg.start()
                print(f"PostgreSQL away for {time.monotonic() - stopped:.1f} s")
                back = time.monotonic()
                await paying
                refused = [s for s in statuses if s != 200]
                assert refused, "the restart came too late: no IPN was refused"

                await _wait("healthy again", lambda: _healthy(http, workers), 20)

                left: list = []

                async def settled() -> bool:
                    left[:] = await _rows(
                        pg.url,
                        "SELECT id, chat_id, kind, status, attempts, claim_token, "
                        "next_attempt_at, last_error FROM outbox WHERE status <> 'sent'",
                    )
                    return not left and all(_calls(telegram, "sendMessage", c) for c in chats)

                def undelivered() -> str:
                    return f"undelivered {left}; logs {[w.err.decode()[-3000:] for w in workers]}"

                await _wait("every notice delivered", settled, 30, undelivered)
                print(f"all acknowledged and delivered {time.monotonic() - back:.1f} s after")
                await asyncio.sleep(1.5)  # anything doubled would have arrived by now

                activations = await _rows(
                    pg.url, "SELECT payment_id, count(*) FROM activations GROUP BY payment_id"
                )
                assert len(activations) == CUSTOMERS
                assert all(n == 1 for _, n in activations)
                outbox = await _rows(pg.url, "SELECT chat_id, kind, status FROM outbox")
                kinds = collections.Counter(kind for _, kind, _ in outbox)
                print(f"outbox: {dict(kinds)}; IPN answers: {collections.Counter(statuses)}")
                for chat in chats:
                    texts = [c.params.get("text") for c in _calls(telegram, "sendMessage", chat)]
                    doubled = [t for t, n in collections.Counter(texts).items() if n > 1]
                    assert not doubled, (chat, texts)
                    mine = sum(1 for c, _, _ in outbox if c == str(chat))  # one message each
                    assert len(texts) == mine, (chat, texts, mine)  # (the card is a reply)
                    assert len(_calls(telegram, "sendPhoto", chat)) == 1
                assert all(w.process.returncode is None for w in workers)
        finally:
            codes = await stop_workers(workers)
            await np.stop()
            await telegram.stop()
    logs = [w.err.decode() for w in workers]
    assert codes == [0, 0, 0], (codes, [log[-3000:] for log in logs])
    for log in logs:
        assert "Traceback" not in log, log[-5000:]
    warned = collections.Counter(
        line.split(" ", 3)[3][:140]
        for log in logs
        for line in log.splitlines()
        if " WARNING " in line
    )
    print("\n".join(f"{n:4} {line}" for line, n in warned.most_common(12)))
