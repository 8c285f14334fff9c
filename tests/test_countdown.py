"""The sweeper with a fixed `now`: warnings once each, none after payment or expiry."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from storage.models import OutboxItem, Payment
from tests.helpers import buy
from tools.providers.base import ProviderEvent


async def _outbox(app) -> list[str]:
    async with app.db.sessions() as session:
        rows = (await session.scalars(select(OutboxItem).order_by(OutboxItem.id))).all()
    return [r.dedupe_key for r in rows]


async def _payment(app, pid) -> Payment:
    async with app.db.sessions() as session:
        return await session.get(Payment, pid)


async def test_each_warning_once_then_expiry(app, fake, clock) -> None:
    pid = await buy(fake, "/buy pro sol")
    created = clock()
    p = await _payment(app, pid)
    assert p.expires_at == created + timedelta(minutes=15)
    assert p.next_check_at == p.expires_at - timedelta(minutes=5)

    for at in (60, 300, 599):  # before the 5-minute mark: nothing is due
        assert (await app.countdown.sweep(created + timedelta(seconds=at))).due == 0
    assert await _outbox(app) == []

    t5 = created + timedelta(minutes=10)
    for _ in range(3):  # repeated ticks at the same moment warn once
        await app.countdown.sweep(t5)
    assert await _outbox(app) == [f"payment:{pid}:warn:300"]
    clock.now = t5
    await app.notifier.drain()

    t1 = created + timedelta(minutes=14)
    await app.countdown.sweep(t1)
    await app.countdown.sweep(t1 + timedelta(seconds=30))
    clock.now = t1 + timedelta(seconds=30)
    await app.notifier.drain()
    assert await _outbox(app) == [f"payment:{pid}:warn:300", f"payment:{pid}:warn:60"]

    end = created + timedelta(minutes=15)
    report = await app.countdown.sweep(end)
    assert report.expired == 1
    await app.countdown.sweep(end + timedelta(seconds=5))
    assert await _outbox(app) == [
        f"payment:{pid}:warn:300",
        f"payment:{pid}:warn:60",
        f"payment:{pid}:expired",
    ]
    p = await _payment(app, pid)
    assert p.status == "expired"
    # still watched for late money during the monitoring window, then dropped
    assert p.next_check_at == p.expires_at + timedelta(hours=24)
    await app.countdown.sweep(p.expires_at + timedelta(hours=24))
    assert (await _payment(app, pid)).next_check_at is None
    assert len(await _outbox(app)) == 3

    clock.now = end + timedelta(seconds=5)
    while await app.notifier.drain():
        pass
    texts = fake.texts()
    assert any("5 minutes left" in t for t in texts)
    assert any("1 minute left" in t for t in texts)
    expired = [m for m in fake.sent if "expired" in m.text][-1]
    assert expired.buttons[0].action == f"/retry {pid}"


async def test_no_warning_after_payment(app, fake, clock) -> None:
    pid = await buy(fake, "/buy pro sol")
    created = clock()
    p = await _payment(app, pid)
    await app.events.apply_event(
        ProviderEvent(p.provider_payment_id, "confirming", p.pay_amount), "ipn"
    )
    for minutes in (10, 14, 15, 16, 60):
        await app.countdown.sweep(created + timedelta(minutes=minutes))
    assert await _outbox(app) == [f"payment:{pid}:confirming"]
    assert (await _payment(app, pid)).status == "confirming"


async def test_no_warning_after_expiry(app, fake, clock) -> None:
    pid = await buy(fake, "/buy pro sol")
    created = clock()
    # the sweeper was down for the whole countdown: only the expiry notice goes out
    await app.countdown.sweep(created + timedelta(minutes=20))
    for minutes in (21, 30):
        await app.countdown.sweep(created + timedelta(minutes=minutes))
    assert await _outbox(app) == [f"payment:{pid}:expired"]


async def test_missed_warnings_collapse_into_the_nearest(app, fake, clock) -> None:
    pid = await buy(fake, "/buy pro sol")
    created = clock()
    await app.countdown.sweep(created + timedelta(minutes=14, seconds=30))
    assert await _outbox(app) == [f"payment:{pid}:warn:60"]
    await app.countdown.sweep(created + timedelta(minutes=14, seconds=40))
    assert await _outbox(app) == [f"payment:{pid}:warn:60"]


async def test_deadline_respects_provider_quote_expiry(db_url, fake, clock) -> None:
    from bot.app import App
    from tests.conftest import make_config

    config = make_config(db_url, PROVIDER__SANDBOX__QUOTE_TTL_SECONDS="400")
    app = App(config, adapters=[fake], clock=clock)
    await app.start(background=False)
    try:
        pid = await buy(fake, "/buy pro sol")
        p = await _payment(app, pid)
        assert p.expires_at == clock() + timedelta(seconds=400)
    finally:
        await app.stop()


async def test_sandbox_steps_arrive_through_the_webhook_path(app, fake, clock) -> None:
    pid = await buy(fake, "/buy pro sol")
    await fake.say(f"/pay {pid}")
    report = await app.countdown.sweep(clock())
    assert report.webhooks == 1
    assert (await _payment(app, pid)).status == "confirming"
    clock.advance(2)
    await app.countdown.sweep(clock())
    assert (await _payment(app, pid)).status == "confirmed"
    clock.advance(2)
    await app.countdown.sweep(clock())
    p = await _payment(app, pid)
    assert p.status == "finished" and p.actually_paid == p.pay_amount
    assert isinstance(p.actually_paid, Decimal)


async def test_one_broken_payment_does_not_stall_the_others(app, fake, clock) -> None:
    broken = await buy(fake, "/buy pro ltc")
    good = await buy(fake, "/buy pro sol")
    async with app.db.transaction() as session:
        row = await session.get(Payment, broken)
        row.status = "bogus"  # a row no code path understands
    at = clock() + timedelta(minutes=10)
    report = await app.countdown.sweep(at)
    assert report.due == 2 and report.warnings == 1
    assert await _outbox(app) == [f"payment:{good}:warn:300"]
    assert (await _payment(app, broken)).next_check_at == at + timedelta(minutes=1)


async def test_a_warning_delayed_past_payment_is_never_delivered(app, fake, clock) -> None:
    from bot.adapters.base import DeliveryError

    pid = await buy(fake, "/buy pro sol")
    clock.advance(600)
    await app.countdown.sweep(clock())
    fake.fail_next(DeliveryError("timeout"))
    await app.notifier.drain()  # the 5-minute warning fails once and waits for a retry
    p = await _payment(app, pid)
    await app.events.apply_event(
        ProviderEvent(p.provider_payment_id, "finished", p.pay_amount), "ipn"
    )
    clock.advance(10)
    while await app.notifier.drain():
        pass
    texts = fake.texts()
    assert any(f"Payment #{pid} is complete" in t for t in texts)
    assert not any("left to send" in t for t in texts)
    async with app.db.sessions() as session:
        statuses = (
            await session.scalars(
                select(OutboxItem.status).where(OutboxItem.kind == "payment.warning")
            )
        ).all()
    assert statuses == ["skipped"]


# --- a partly paid payment at its deadline: the customer is told, through the outbox ------


async def test_a_partly_paid_payment_at_its_deadline_tells_the_customer_once(
    app, fake, clock
) -> None:
    from tests.helpers import settle

    pid = await buy(fake, "/buy pro usdttrc20")
    await fake.say(f"/pay {pid} 100")
    await settle(app, clock, seconds=10)
    assert (await _payment(app, pid)).status == "partially_paid"
    await settle(app, clock, seconds=880, step=20)  # just before the deadline: nothing yet
    assert not [t for t in fake.texts() if "reached its deadline" in t]

    await settle(app, clock, seconds=60, step=5)  # the deadline passes; ticks go on
    (told,) = [m for m in fake.sent if "reached its deadline" in m.text]
    assert told.text == (
        f"⌛ Payment #{pid} reached its deadline partly paid: 100 of 299 USDT arrived, 199 "
        "USDT is missing. Your money is recorded. Send the missing 199 USDT to the same "
        "address before Nov 22, 2026, 12:15:00\u202fPM UTC and the payment completes. "
        "Otherwise the shop, which has been told, will contact you about the money received."
    )
    assert told.image and told.extra["uri"].startswith("tron:")  # a QR for the rest
    assert f"payment:{pid}:partial_expired" in await _outbox(app)

    # the top-up it promises really completes the payment after the deadline
    await fake.say(f"/pay {pid} 199")
    await settle(app, clock, seconds=10)
    assert (await _payment(app, pid)).status == "finished"
    assert len([t for t in fake.texts() if "reached its deadline" in t]) == 1


async def test_a_partial_payment_whose_window_was_missed_still_tells_the_customer(
    app, fake, clock
) -> None:
    """The sweeper was down for the whole monitoring window: the customer hears that the
    payment can no longer be completed (no top-up offer, no QR), once."""
    from tests.helpers import settle

    pid = await buy(fake, "/buy pro usdttrc20")
    await fake.say(f"/pay {pid} 100")
    await settle(app, clock, seconds=10)
    payment = await _payment(app, pid)
    clock.now = payment.expires_at + timedelta(hours=25)
    await settle(app, clock, seconds=5)
    (told,) = [m for m in fake.sent if "reached its deadline" in m.text]
    assert told.text.endswith(
        "Your money is recorded. The payment can no longer be completed; the shop has been "
        "told and will contact you about the money received."
    )
    assert told.image is None and "uri" not in told.extra
    assert (await _payment(app, pid)).next_check_at is None
