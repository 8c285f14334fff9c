"""The live payments table across workers: worker A serves the dashboard, worker B takes the
IPN (two `App`s, each with its own engine, webhook server and dashboard, on one database).
A's stream learns of B's change from the database, not from an in-process wake-up, within a
second. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bot.adapters.fake import FakeAdapter
from bot.app import App
from storage.models import Payment
from tests.conftest import ManualClock, free_port, nowpayments_config
from tests.helpers import buy
from tests.test_dashboard import _next_event, base, client, link_for, sign_in

OP = {"OPERATORS__TELEGRAM": '["op"]', "DASHBOARD__ENABLED": "true", "DASHBOARD__PORT": "0"}


@pytest.fixture
async def workers(db_url, nowpayments, clock: ManualClock) -> AsyncIterator[list[tuple]]:
    started = []
    for _ in range(2):
        fake = FakeAdapter("telegram")
        config = nowpayments_config(db_url, nowpayments.url, free_port(), **OP)
        app = App(config, adapters=[fake], clock=clock)
        await app.start(background=False)
        await app.webhooks.start()
        await app.dashboard.start()
        started.append((app, fake))
    yield started
    for app, _fake in started:
        await app.stop()


async def test_an_ipn_taken_by_another_worker_shows_live_within_a_second(
    workers, nowpayments
) -> None:
    (a, fake_a), (b, _fake_b) = workers
    pid = await buy(fake_a, "/buy pro usdttrc20", user="alice")
    async with a.db.sessions() as session:
        remote = int((await session.get(Payment, pid)).provider_payment_id)
    woken = []
    a.dashboard.changed = lambda: woken.append(1)  # B's change must not reach A in-process
    async with client() as http:
        await sign_in(a, http, await link_for(a, fake_a))
        url = base(a) + "/payments/stream"
        async with http.get(url, params={"since": a.clock().isoformat()}) as stream:
            await asyncio.sleep(0.6)  # the stream has polled once and is waiting
            hook = b.config.webhooks.public_url + "/webhooks/nowpayments"
            body = nowpayments.ipn_body(remote, "finished", Decimal(299))
            assert await nowpayments.send_ipn(remote, body, url=hook) == 200
            answered = time.monotonic()
            while True:
                event = await asyncio.wait_for(_next_event(stream), 1.0)
                data = json.loads(event["data"])
                if data["id"] == pid and data["status_code"] == "finished":
                    break
            assert time.monotonic() - answered < 1.0
    assert woken == []
