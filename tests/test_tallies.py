"""The payment tallies (kept by triggers, folded now and then) say exactly what the payments
themselves say: the stats `/admin stats` and the dashboard's overview show are read from them
and must equal the figures worked out from every payment row, in any time zone, whichever
way a payment was written, and while folds and payment changes run side by side."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select, text

from storage import reports, tallies
from storage.models import Payment, PaymentTally
from tests.helpers import buy
from tests.test_ledger_memory import seed_payments
from tools.admin.stats import PERIODS, period, settled_per_coin, shop_stats
from tools.providers.base import ProviderEvent

ZONES = ("UTC", "Asia/Kathmandu", "America/New_York", "Pacific/Chatham")


async def from_the_rows(db, the_period):
    """The stats' figures worked out from every payment row, as they were before tallies."""
    start = the_period.start
    async with db.sessions() as session:
        created = await reports.created_per_day(session, start, None, the_period.zone)
        paid = await reports.paid_per_day(session, start, None, the_period.zone)
        settlement = await settled_per_coin(session, start, None)
        median = await reports.median_time_to_pay(session, start, None)
    by_status: Counter[str] = Counter()
    per_day: dict = defaultdict(Counter)
    for day, status, n in created:
        by_status[status] += n
        per_day[day][status] += n
    by_plan: dict = defaultdict(Decimal)
    by_coin: dict = defaultdict(Decimal)
    per_day_revenue: dict = defaultdict(Decimal)
    for day, plan, coin, _currency, price, n in paid:
        by_plan[plan] += price * n
        by_coin[coin] += price * n
        per_day_revenue[day] += price * n
    return {
        "by_status": +by_status,
        "by_plan": dict(by_plan),
        "by_coin": dict(by_coin),
        "paid": sum(n for *_rest, n in paid),
        "per_day": {d: +c for d, c in per_day.items() if +c},
        "revenue_per_day": {d: r for d, r in per_day_revenue.items() if r},
        "settlement": settlement,
        "median": median,
    }


async def from_the_tallies(app, the_period):
    stats = await shop_stats(app.db, the_period, "USD", app.clock(), timedelta(hours=24))
    return {
        "by_status": +stats.by_status,
        "by_plan": stats.revenue_by_plan,
        "by_coin": stats.revenue_by_coin,
        "paid": stats.paid,
        "per_day": {d.day: +d.created for d in stats.days if +d.created},
        "revenue_per_day": {d.day: d.revenue for d in stats.days if d.revenue},
        "settlement": stats.settlement,
        "median": stats.median_to_pay,
    }


async def _pay(app, pid: int, status: str, amount: Decimal | None = None, **extra) -> None:
    async with app.db.sessions() as session:
        payment = await session.get(Payment, pid)
    paid = payment.pay_amount if amount is None else amount
    await app.events.apply_event(
        ProviderEvent(payment.provider_payment_id, status, paid, **extra), "ipn"
    )


async def _a_week_of_shop(app, fake) -> None:
    """Purchases over several days and statuses: paid, overpaid with settlement figures in
    the coin and in another currency, partially paid, failed, expired, still waiting."""
    users = iter(f"u{n}" for n in range(100))
    for day in range(6):
        for command in ("/buy starter sol", "/buy pro btc", "/buy business eth"):
            pid = await buy(fake, command, user=next(users))
            app.clock.advance(37 + day * 11)
            if day % 3 == 0:
                await _pay(app, pid, "finished")
            elif day % 3 == 1:
                await _pay(
                    app,
                    pid,
                    "finished",
                    Decimal("7.123456789012345678"),
                    outcome_amount=Decimal("7.000000000000000001"),
                    outcome_currency="usdc" if "btc" in command else None,
                    fees={"deposit": Decimal("0.01"), "service": Decimal("0.000000000000000003")},
                    fee_currency="sol",
                )
            elif "sol" in command:
                await _pay(app, pid, "partially_paid", Decimal("0.5"))
            elif "btc" in command:
                await _pay(app, pid, "failed", Decimal(0))
        app.clock.advance(3600 * 7 + 1234)  # the next purchases fall on another local day
        await app.countdown.sweep(app.clock())  # countdowns end: some expire


async def _check_every_zone_and_period(app) -> None:
    for zone in ZONES:
        for name in PERIODS:
            the_period = period(name, app.clock(), zone)
            assert await from_the_tallies(app, the_period) == await from_the_rows(
                app.db, the_period
            ), (zone, name)


async def test_the_tallies_say_what_every_payment_says(app, fake) -> None:
    await _a_week_of_shop(app, fake)
    await _check_every_zone_and_period(app)
    # rows the app never wrote count too: a bulk insert, a hand-made UPDATE and DELETE
    await seed_payments(app.db, 50)
    async with app.db.transaction() as session:
        await session.execute(
            text("UPDATE payments SET status = 'refunded' WHERE order_id = 'order-7'")
        )
        await session.execute(text("DELETE FROM payments WHERE order_id = 'order-9'"))
    await _check_every_zone_and_period(app)
    async with app.db.sessions() as session:  # and folding left one row per key
        unfolded = select(func.count()).where(PaymentTally.folded == 0)
        assert (await session.execute(unfolded)).scalar_one() == 0
        keys = select(func.count()).select_from(PaymentTally)
        assert (await session.execute(keys)).scalar_one() < 100


async def test_folds_beside_payment_changes_lose_nothing(app, fake) -> None:
    """Payments move while several folds run, each in its own transaction (on PostgreSQL
    at once, with SKIP LOCKED between them); the tallies still equal the rows."""
    pids = [await buy(fake, "/buy pro sol", user=f"c{n}") for n in range(12)]
    app.clock.advance(90)

    async def fold() -> None:
        for _ in range(3):
            async with app.db.transaction() as session:
                await tallies.fold(session, limit=7)
            await asyncio.sleep(0)

    await asyncio.gather(
        *(_pay(app, pid, "finished") for pid in pids[:6]),
        *(_pay(app, pid, "partially_paid", Decimal("0.25")) for pid in pids[6:]),
        *(fold() for _ in range(4)),
    )
    await _check_every_zone_and_period(app)


async def test_the_scheduler_keeps_the_tallies_folded(app, fake) -> None:
    """The app's `tallies` job folds what the triggers wrote, so no page waits for it."""
    await buy(fake, "/buy pro sol", user="dora")
    job = app.scheduler.scheduler.get_job("tallies")
    assert job is not None
    await job.func()  # one tick, as APScheduler runs it
    async with app.db.sessions() as session:
        unfolded = select(func.count()).where(PaymentTally.folded == 0)
        assert (await session.execute(unfolded)).scalar_one() == 0
