"""Money under real concurrency: two workers (apps) on one database apply events at once.

On PostgreSQL each `apply_event` runs in its own transaction on its own connection, so
`asyncio.gather` over two apps is two workers racing; on SQLite the same tests pass through the
process's write queue (one writer), which is the baseline they must agree with.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from bot.app import App
from storage.models import Activation, Payment, PaymentEvent
from tests.helpers import buy
from tools.caller import Caller
from tools.errors import ShopError
from tools.providers.base import ProviderEvent

ROUNDS = 8  # each round races once; before the fix PostgreSQL lost money in 14 of 15


async def _payment(app: App, pid: int) -> Payment:
    async with app.db.sessions() as session:
        return await session.get(Payment, pid)


async def _activations(app: App, user_id: int) -> list[Activation]:
    async with app.db.sessions() as session:
        rows = await session.scalars(
            select(Activation)
            .where(Activation.user_id == user_id)
            .order_by(Activation.period_start)
        )
        return list(rows)


async def test_two_top_ups_finishing_together_both_count(workers, fake) -> None:
    first, second = workers
    for n in range(ROUNDS):
        pid = await buy(fake, "/buy pro usdttrc20", user=f"topup{n}")
        parent = await _payment(first, pid)
        await first.events.apply_event(
            ProviderEvent(parent.provider_payment_id, "partially_paid", Decimal(100)), "ipn"
        )

        def child(k: int, status: str, parent_id: str = parent.provider_payment_id):
            return ProviderEvent(
                f"{parent_id}-child{k}", status, Decimal(100), parent_payment_id=parent_id
            )

        for k in (0, 1):  # the provider announces both top-ups, then both finish at once
            await first.events.apply_event(child(k, "confirming"), "ipn")
        results = await asyncio.gather(
            *(
                app.events.apply_event(child(k, "finished"), "ipn")
                for k, app in enumerate((first, second))
            )
        )
        assert [r.outcome for r in results] == ["applied", "applied"]
        parent = await _payment(first, pid)
        assert (parent.status, parent.actually_paid, parent.topup_paid) == (
            "finished",
            Decimal(300),
            Decimal(200),
        ), f"round {n}"
        assert len(await _activations(first, parent.user_id)) == 1


async def test_two_purchases_of_one_plan_finishing_together_give_two_periods(
    workers, fake
) -> None:
    first, second = workers
    for n in range(ROUNDS):
        user = f"twice{n}"
        pids = [
            await buy(fake, "/buy pro sol", user=user),
            await buy(fake, "/buy pro ltc", user=user),
        ]
        payments = [await _payment(first, pid) for pid in pids]
        await asyncio.gather(
            *(
                app.events.apply_event(
                    ProviderEvent(p.provider_payment_id, "finished", p.pay_amount), "ipn"
                )
                for app, p in zip((first, second), payments, strict=True)
            )
        )
        periods = await _activations(first, payments[0].user_id)
        assert len(periods) == 2, f"round {n}"
        assert periods[1].period_start == periods[0].period_end, f"round {n}: overlap"
        total = sum((a.period_end - a.period_start for a in periods), timedelta())
        assert total == timedelta(days=60), f"round {n}"


async def test_a_grant_and_a_purchase_at_once_do_not_overlap(workers, fake) -> None:
    first, second = workers
    for n in range(ROUNDS):
        user = f"granted{n}"
        pid = await buy(fake, "/buy pro sol", user=user)
        payment = await _payment(first, pid)
        await asyncio.gather(
            first.events.apply_event(
                ProviderEvent(payment.provider_payment_id, "finished", payment.pay_amount), "ipn"
            ),
            second.desk.grant("admin", f"fake:{user}", "pro", 10),
        )
        periods = await _activations(first, payment.user_id)
        assert len(periods) == 2, f"round {n}"
        assert periods[1].period_start == periods[0].period_end, f"round {n}: overlap"
        total = sum((a.period_end - a.period_start for a in periods), timedelta())
        assert total == timedelta(days=40), f"round {n}"


async def test_a_cancel_racing_a_payment_never_loses_the_money(workers, fake) -> None:
    """The customer cancels while the provider reports the money: either the money landed
    first (the cancel is refused) or the cancel did (the money is a late payment, activated
    once); never a cancelled payment with its money dropped, never a step backwards."""
    first, second = workers
    outcomes = set()
    for n in range(ROUNDS):
        user = f"cancel{n}"
        pid = await buy(fake, "/buy pro sol", user=user)
        payment = await _payment(first, pid)
        caller = Caller(payment.user_id, "fake", user, "en")
        status = "confirming" if n % 2 else "finished"
        cancelled, result = await asyncio.gather(
            first.payments.cancel(caller, pid),
            second.events.apply_event(
                ProviderEvent(payment.provider_payment_id, status, payment.pay_amount), "ipn"
            ),
            return_exceptions=True,
        )
        assert result.outcome == "applied", f"round {n}: the money was dropped"
        after = await _payment(first, pid)
        assert (after.status, after.actually_paid) == (status, payment.pay_amount), f"round {n}"
        async with first.db.sessions() as session:
            sources = (
                await session.scalars(
                    select(PaymentEvent.source)
                    .where(PaymentEvent.payment_id == pid, PaymentEvent.applied)
                    .order_by(PaymentEvent.id)
                )
            ).all()
        if isinstance(cancelled, ShopError):  # the money came first
            assert cancelled.code in ("cancel_in_flight", "not_cancellable"), f"round {n}"
            assert (after.late, list(sources)) == (False, ["ipn"]), f"round {n}"
            outcomes.add("refused")
        else:  # the cancel came first: the money is a late payment
            assert cancelled.status == "cancelled", f"round {n}: {cancelled!r}"
            assert (after.late, list(sources)) == (True, ["customer", "ipn"]), f"round {n}"
            outcomes.add("late")
        activations = await _activations(first, payment.user_id)
        assert len(activations) == (1 if status == "finished" else 0), f"round {n}"
    assert outcomes  # (which side wins varies with the scheduling; both are right)
