"""The outbox relay: delivery, retries with backoff, dead letters, and waking up at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from bot.adapters.base import DeliveryError
from storage.models import OutboxItem
from tests.helpers import buy
from tools.providers.base import ProviderEvent


async def _confirming(app, fake) -> int:
    pid = await buy(fake, "/buy pro sol")
    async with app.db.sessions() as session:
        from storage.models import Payment

        p = await session.get(Payment, pid)
    await app.events.apply_event(
        ProviderEvent(p.provider_payment_id, "confirming", p.pay_amount), "ipn"
    )
    return pid


async def _item(app) -> OutboxItem:
    """The customer's one notification (a dead one also queues an operator alert)."""
    query = select(OutboxItem).where(OutboxItem.kind.not_like("alert.%"))
    async with app.db.sessions() as session:
        return (await session.scalars(query)).one()


async def test_transient_error_is_retried_with_backoff(app, fake, clock) -> None:
    pid = await _confirming(app, fake)
    fake.fail_next(DeliveryError("timeout"), times=2)
    assert await app.notifier.drain() == 1
    item = await _item(app)
    assert (item.status, item.attempts, item.last_error) == ("pending", 1, "timeout")
    assert item.next_attempt_at == clock() + timedelta(seconds=2)
    assert await app.notifier.drain() == 0  # not due yet
    clock.advance(2)
    assert await app.notifier.drain() == 1
    assert (await _item(app)).attempts == 2
    clock.advance(4)
    assert await app.notifier.drain() == 1
    item = await _item(app)
    assert item.status == "sent" and item.attempts == 3
    assert sum(f"#{pid}: we see" in t for t in fake.texts()) == 1


async def test_retry_after_is_honoured(app, fake, clock) -> None:
    await _confirming(app, fake)
    fake.fail_next(DeliveryError("429", retry_after=17))
    await app.notifier.drain()
    item = await _item(app)
    assert (item.next_attempt_at - clock()).total_seconds() == 17


async def test_permanent_error_goes_dead_without_retry(app, fake, clock) -> None:
    await _confirming(app, fake)
    fake.fail_next(DeliveryError("bot was blocked by the user", permanent=True))
    await app.notifier.drain()
    item = await _item(app)
    assert item.status == "dead" and item.attempts == 1
    clock.advance(3600)
    assert await app.notifier.drain() == 0
    assert not any("we see" in t for t in fake.texts())


async def test_an_outage_of_hours_does_not_kill_notices(app, fake, clock) -> None:
    await _confirming(app, fake)
    fake.fail_next(DeliveryError("down"), times=12)
    for _ in range(12):  # an hour of a platform answering errors
        await app.notifier.drain()
        clock.advance(301)
    assert (await _item(app)).status == "pending"
    await app.notifier.drain()
    assert (await _item(app)).status == "sent"


async def test_gives_up_after_a_day_of_failures(app, fake, clock) -> None:
    await _confirming(app, fake)
    fake.fail_next(DeliveryError("down"), times=1000)
    for _ in range(300):
        await app.notifier.drain()
        clock.advance(301)
        if (await _item(app)).status == "dead":
            break
    item = await _item(app)
    assert item.status == "dead" and item.attempts >= app.notifier.max_attempts


async def test_a_state_change_wakes_the_relay_at_once(app, fake, clock) -> None:
    app.notifier.idle_seconds = 3600  # only a wake-up can deliver within the test
    relay = asyncio.create_task(app.notifier.run())
    try:
        await asyncio.sleep(0.05)
        pid = await _confirming(app, fake)
        message = await fake.wait_for(lambda m: f"#{pid}: we see" in m.text, timeout=2)
        assert message.target.chat_id == "alice"
    finally:
        app.notifier.stop()
        await relay


async def test_card_is_edited_in_place_with_the_notice(app, fake, clock) -> None:
    pid = await _confirming(app, fake)
    await app.notifier.drain()
    await app.notifier.edits_done()
    card_ref = "fake:1"  # the payment card was the first message sent
    assert fake.edits and fake.edits[-1].edit_of == card_ref
    assert "payment seen, confirming" in fake.edits[-1].text
    assert fake.edits[-1].payment_id == pid
