"""Duplicates, reordering, replays and concurrent copies of IPNs (hypothesis), over HTTP."""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from storage.models import Activation, OutboxItem, Payment, PaymentEvent
from tests.helpers import buy
from tools.states import RANK, Status

FULL = ("confirming", "confirmed", "sending", "finished")
PARTIAL = ("confirming", "partially_paid")
_users = itertools.count()


@st.composite
def deliveries(draw):
    full = draw(st.booleans())
    path = FULL if full else PARTIAL
    seen = draw(st.lists(st.sampled_from(path), min_size=1, max_size=len(path), unique=True))
    copies = [status for status in seen for _ in range(draw(st.integers(1, 5)))]
    order = draw(st.permutations(copies))
    sizes = draw(st.lists(st.integers(1, 4), min_size=len(order), max_size=len(order)))
    batches, start = [], 0
    for size in sizes:
        if start >= len(order):
            break
        batches.append(order[start : start + size])  # each batch is sent concurrently
        start += size
    return full, seen, batches


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=deliveries())
async def test_any_delivery_order_ends_right(np_app, nowpayments, fake, clock, case) -> None:
    full, seen, batches = case
    pid = await buy(fake, "/buy pro usdttrc20", user=f"prop-{next(_users)}")
    async with np_app.db.sessions() as session:
        remote = int((await session.get(Payment, pid)).provider_payment_id)
    amount = Decimal(299) if full else Decimal(120)
    hook = np_app.config.webhooks.public_url + "/webhooks/nowpayments"
    bodies = {s: nowpayments.ipn_body(remote, s, amount) for s in seen}
    for batch in batches:
        answers = await asyncio.gather(
            *(nowpayments.send_ipn(remote, bodies[s], url=hook) for s in batch)
        )
        assert set(answers) == {200}

    async with np_app.db.sessions() as session:
        payment = await session.get(Payment, pid)
        applied = (
            await session.scalars(
                select(PaymentEvent.new_status)
                .where(PaymentEvent.payment_id == pid, PaymentEvent.applied.is_(True))
                .order_by(PaymentEvent.id)
            )
        ).all()
        activations = (
            await session.execute(
                select(func.count()).select_from(Activation).where(Activation.payment_id == pid)
            )
        ).scalar_one()
        kinds = (
            await session.scalars(
                select(OutboxItem.kind).where(OutboxItem.dedupe_key.like(f"payment:{pid}:%"))
            )
        ).all()
    highest = max(seen, key=lambda s: RANK[Status(s)])
    assert payment.status == highest
    ranks = [RANK[Status(s)] for s in applied]
    assert ranks == sorted(set(ranks)), "a status moved backwards or applied twice"
    assert activations == (1 if highest == "finished" else 0)
    assert kinds.count("payment.activated") == activations
    # every applied step that speaks to the customer queued its notice exactly once ...
    speaks = {
        "confirming": "payment.confirming",
        "partially_paid": "payment.partial",
        "finished": "payment.activated",
    }
    assert sorted(kinds) == sorted(speaks[s] for s in applied if s in speaks)
    # ... and each one reaches the chat exactly once
    while await np_app.notifier.drain():
        pass
    said = [m.text for m in fake.sent if f"#{pid}" in m.text and m.target.chat_id != "admin"]
    for kind, words in (
        ("payment.confirming", "we see"),
        ("payment.partial", "received"),
        ("payment.activated", "is complete"),
    ):
        assert sum(words in t for t in said) == kinds.count(kind), (kind, said)

    clock.advance(86400)  # a finished IPN replayed much later changes nothing
    status = await nowpayments.send_ipn(remote, bodies[highest], url=hook)
    assert status == 200
    async with np_app.db.sessions() as session:
        again = await session.get(Payment, pid)
        total = (
            await session.execute(
                select(func.count()).select_from(Activation).where(Activation.payment_id == pid)
            )
        ).scalar_one()
    assert (again.status, again.updated_at, total) == (
        payment.status,
        payment.updated_at,
        activations,
    )
