"""The reconciliation poller shared by workers (issue 18, item 8): two workers on one
PostgreSQL read every due payment once between them, a lost IPN among many is recovered by
the pass, the deployment's `max_per_minute` holds for all workers together, and a payment
whose answer brings nothing new gets no write beyond its claim."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from bot.app import App
from storage.models import Activation, Payment, PaymentEvent
from storage.polls import Budget
from tests.bulk import Statements, a_user, insert_rows, payment_row
from tests.conftest import free_port, nowpayments_config
from tests.fakes.nowpayments_server import FakePayment
from tests.helpers import count_rows

PAY_AMOUNT = Decimal("1.99333334")  # what `payment_row` asks


async def _seed(app: App, nowpayments, count: int, clock) -> None:
    """`count` waiting NOWPayments payments, all due for a read, payment n silent n seconds
    longer than n - 1; the fake provider knows each one."""
    now = clock()
    user = await a_user(app.db)
    far = now + timedelta(days=1)
    rows = (
        payment_row(
            n,
            user,
            now - timedelta(hours=2),
            far,
            provider="nowpayments",
            provider_payment_id=str(n),
            next_check_at=far,
            next_poll_at=now - timedelta(seconds=n),
        )
        for n in range(1, count + 1)
    )
    await insert_rows(app.db, Payment, rows)
    for n in range(1, count + 1):
        body = {
            "payment_id": str(n),
            "payment_status": "waiting",
            "pay_address": "addr",
            "price_amount": 299,
            "price_currency": "usd",
            "pay_amount": PAY_AMOUNT,
            "pay_currency": "sol",
            "order_id": f"bulk-{n}",
            "actually_paid": 0,
        }
        nowpayments.payments[n] = FakePayment(n, body, None)


def _reads(nowpayments) -> Counter[str]:
    return Counter(p.rsplit("/", 1)[1] for _, p in nowpayments.requests if "/payment/" in p)


@pytest.fixture
async def second(db_url: str, nowpayments, fake, clock, np_app):
    """A second worker on the same database and provider."""
    if db_url.startswith("sqlite"):
        pytest.skip("several workers share a PostgreSQL database; SQLite is one process")
    application = App(nowpayments_config(db_url, nowpayments.url, free_port()), clock=clock)
    await application.start(background=False)
    yield application
    await application.stop()


async def test_two_workers_read_each_due_payment_once_and_recover_the_lost_ipn(
    np_app: App, second: App, nowpayments, clock
) -> None:
    """Both workers run their pass at the same moment (real parallel transactions): each
    payment is read by one of them, both do part of the work, and the one whose IPN was
    lost (paid at the provider, nothing sent) is finished and activated once."""
    count = 1200
    await _seed(np_app, nowpayments, count, clock)
    nowpayments.set_state(777, "finished", PAY_AMOUNT)  # the lost IPN
    for worker in (np_app, second):
        worker.reconciler.at_once = 5  # the passes overlap for long enough to race
    nowpayments.requests.clear()
    now = clock()
    first, other = await asyncio.gather(np_app.reconciler.poll(now), second.reconciler.poll(now))
    reads = _reads(nowpayments)
    assert len(reads) == count and max(reads.values()) == 1
    assert first.read + other.read == count and first.read > 0 and other.read > 0
    assert first.applied + other.applied == 1
    async with np_app.db.sessions() as session:
        lost = await session.scalars(select(Payment).where(Payment.provider_payment_id == "777"))
        assert lost.one().status == "finished"
    assert await count_rows(np_app, Activation) == 1
    assert await count_rows(np_app, Payment, Payment.next_poll_at <= now) == 0


async def test_the_deployments_read_budget_holds_for_all_workers_together(
    np_app: App, second: App, nowpayments, clock
) -> None:
    """`max_per_minute` is the provider account's limit, not each worker's: at 120 a minute
    (2 a second, a run's 5 s of them at once) two workers together read 10, not 10 each."""
    await _seed(np_app, nowpayments, 100, clock)
    for worker in (np_app, second):
        worker.reconciler.budget = Budget(120, burst=5.0)
        worker.reconciler.per_run = 10
    nowpayments.requests.clear()
    now = clock()
    first, other = await asyncio.gather(np_app.reconciler.poll(now), second.reconciler.poll(now))
    assert first.read + other.read == sum(_reads(nowpayments).values()) == 10
    # the next run of either finds the budget spent: a read every half second from here on
    assert (await np_app.reconciler.poll(now)).read <= 1


async def test_an_unchanged_payment_costs_its_claim_and_nothing_else(
    np_app: App, nowpayments, clock
) -> None:
    """500 answers with nothing new: one claim (a locking read and one executemany setting
    the next reads), no event, no other write to the payments; the payments read are the
    longest silent."""
    await _seed(np_app, nowpayments, 600, clock)
    np_app.reconciler.per_run = 500
    nowpayments.requests.clear()
    now = clock()
    with Statements(np_app.db, "payments") as statements:
        report = await np_app.reconciler.poll(now)
    assert report.read == 500 and report.applied == 0
    assert set(_reads(nowpayments)) == {str(n) for n in range(101, 601)}  # longest silent
    sql = [s.lstrip().upper() for s, _ in statements.seen]
    writes = [s for s in sql if not s.startswith("SELECT")]
    assert len(writes) == 1 and writes[0].startswith("UPDATE PAYMENTS")
    assert await count_rows(np_app, PaymentEvent) == 0
    after = now + timedelta(seconds=np_app.config.reconcile.after_seconds)
    assert await count_rows(np_app, Payment, Payment.next_poll_at == after) == 500
