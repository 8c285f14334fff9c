"""Provider events arriving together share one transaction (`tools/event_batches.py`), and
batching changes none of the guarantees of one event alone."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, update

from bot.app import App
from storage.models import Activation, OutboxItem, Payment, PaymentEvent
from tests.helpers import buy
from tools.errors import ShopError
from tools.event_batches import EventBatches
from tools.providers.base import ProviderEvent


async def _payments(app: App, fake, count: int, prefix: str) -> list[Payment]:
    found = []
    for n in range(count):
        pid = await buy(fake, "/buy pro sol", user=f"{prefix}{n}")
        async with app.db.sessions() as session:
            found.append(await session.get(Payment, pid))
    return found


def _finished(payment: Payment) -> ProviderEvent:
    return ProviderEvent(payment.provider_payment_id, "finished", payment.pay_amount)


async def _count(app: App, model: type, *where: object) -> int:
    async with app.db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


async def _once_each(app: App, payments: list[Payment]) -> None:
    """Every payment finished, activated once, its activation notice queued once."""
    for p in payments:
        async with app.db.sessions() as session:
            assert (await session.get(Payment, p.id)).status == "finished", p.id
        assert await _count(app, Activation, Activation.payment_id == p.id) == 1, p.id
        told = OutboxItem.dedupe_key == f"payment:{p.id}:activated"
        assert await _count(app, OutboxItem, told) == 1, p.id


async def test_events_arriving_together_share_a_transaction(app, fake) -> None:
    """While one batch is written the next gathers: the first event goes alone and at once,
    the eleven behind it in one batch, with a duplicate, a lower status after the finished
    one, an unknown payment and an unknown status among them, each answered as alone."""
    batches = EventBatches(app.events, at_once=1)
    payments = await _payments(app, fake, 9, "together")
    first, dup, lower, *rest = payments
    events = [
        _finished(first),
        _finished(dup),
        _finished(dup),
        _finished(lower),
        ProviderEvent(lower.provider_payment_id, "confirming", lower.pay_amount),
        ProviderEvent("no-such-payment", "finished", lower.pay_amount),
        ProviderEvent(first.provider_payment_id, "brand_new_status", first.pay_amount),
        *(_finished(p) for p in rest),
    ]
    results = await asyncio.gather(*(batches.apply(e, "ipn") for e in events))
    assert list(batches.sizes) == [1, len(events) - 1]
    assert batches.failed == 0
    outcomes = [r.outcome for r in results]
    assert outcomes[:7] == [
        "applied",
        "applied",
        "duplicate",
        "applied",
        "ignored",
        "unknown_payment",
        "unknown_status",
    ]
    assert outcomes[7:] == ["applied"] * len(rest)
    await _once_each(app, payments)
    assert await _count(app, PaymentEvent, PaymentEvent.payment_id == lower.id) == 2


async def test_an_event_that_fails_fails_alone(app, fake) -> None:
    """One event of a batch raises (its payment names a plan the shop no longer sells): the
    batch is rolled back and its events applied one by one, so only that one fails (its
    webhook answers 503 and the provider retries) and the others are applied once."""
    batches = EventBatches(app.events, at_once=1)
    payments = await _payments(app, fake, 5, "bad")
    first, bad, *good = payments
    async with app.db.transaction() as session:
        await session.execute(update(Payment).where(Payment.id == bad.id).values(plan="retired"))
    results = await asyncio.gather(
        *(batches.apply(_finished(p), "ipn") for p in payments), return_exceptions=True
    )
    assert list(batches.sizes) == [1, len(payments) - 1]
    assert batches.failed == 1
    assert isinstance(results[1], ShopError)
    assert [r.outcome for r in results if not isinstance(r, BaseException)] == ["applied"] * 4
    await _once_each(app, [first, *good])
    assert await _count(app, Activation, Activation.payment_id == bad.id) == 0
    assert await _count(app, PaymentEvent, PaymentEvent.payment_id == bad.id) == 0


@pytest.mark.parametrize("rounds", [6])
async def test_two_workers_batching_the_same_events_apply_each_once(
    workers, fake, rounds: int
) -> None:
    """Two workers receive the same IPNs at the same moment, one in the reverse order of the
    other, in batches: their batches lock the payments in one order (customer, payment), so
    neither waits for the other in a ring, and each payment is applied once in all."""
    first, second = workers
    for n in range(rounds):
        payments = await _payments(first, fake, 8, f"both{n}-")
        plugs = await _payments(first, fake, 2, f"plug{n}-")  # hold each worker's first turn
        one, two = EventBatches(first.events, at_once=1), EventBatches(second.events, at_once=1)
        events = [_finished(p) for p in payments]
        results = await asyncio.gather(
            one.apply(_finished(plugs[0]), "ipn"),
            two.apply(_finished(plugs[1]), "ipn"),
            *(one.apply(e, "ipn") for e in events),
            *(two.apply(e, "ipn") for e in reversed(events)),
        )
        assert list(one.sizes) == list(two.sizes) == [1, len(events)], f"round {n}"
        assert one.failed == two.failed == 0, f"round {n}"
        outcomes = sorted(r.outcome for r in results[2:])
        assert outcomes == ["applied"] * len(events) + ["duplicate"] * len(events), f"round {n}"
        await _once_each(first, payments + plugs)
