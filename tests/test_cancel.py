"""A customer cancels a payment: by command, by the card's button, in free text in six
languages; only their own, only while nothing was paid; the countdown stops, the slot frees
up, and money that still arrives is a late payment, never lost."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from storage.models import Activation, AuditEntry, OutboxItem, Payment, PaymentEvent
from tests.helpers import buy, payment_id_in, settle
from tools.providers.base import ProviderEvent


async def _payment(app, pid: int) -> Payment:
    async with app.db.sessions() as session:
        return await session.get(Payment, pid)


async def _outbox(app, *kinds: str) -> list[OutboxItem]:
    async with app.db.sessions() as session:
        query = select(OutboxItem).order_by(OutboxItem.id)
        if kinds:
            query = query.where(OutboxItem.kind.in_(kinds))
        return list((await session.scalars(query)).all())


async def _events(app, pid: int) -> list[PaymentEvent]:
    async with app.db.sessions() as session:
        query = select(PaymentEvent).where(PaymentEvent.payment_id == pid)
        return list((await session.scalars(query.order_by(PaymentEvent.id))).all())


async def _event(app, pid: int, status: str, paid: Decimal | None = None):
    p = await _payment(app, pid)
    amount = p.pay_amount if paid is None else paid
    return await app.events.apply_event(
        ProviderEvent(p.provider_payment_id, status, amount), "ipn"
    )


# ---------------------------------------------------------------- the command


async def test_cancel_by_id_cancels_the_waiting_payment(app, fake, clock) -> None:
    pid = await buy(fake, "/buy pro sol")
    reply = await fake.say(f"/cancel {pid}")
    assert len(reply) == 1
    assert f"Payment #{pid} is cancelled" in reply[0].text
    assert "Do not send money" in reply[0].text
    assert [b.action for b in reply[0].buttons] == ["/buy pro sol"]  # a fresh start
    p = await _payment(app, pid)
    assert (p.status, p.actually_paid, p.late) == ("cancelled", Decimal(0), False)
    [event] = await _events(app, pid)  # the payment's story says who did it
    assert (event.source, event.old_status, event.new_status, event.applied) == (
        "customer",
        "waiting",
        "cancelled",
        True,
    )
    status = await fake.say(f"/status {pid}")
    assert "Status: cancelled" in status[0].text
    assert p.pay_address not in status[0].text  # no address to send money to any more
    assert [b.action for b in status[0].buttons] == ["/buy pro sol"]
    # the card in the chat is edited: no address, no countdown, no cancel button
    await settle(app, clock)
    card = fake.edits[-1]
    assert card.payment_id == pid and "Status: cancelled" in card.text
    assert "Pay before" not in card.text and p.pay_address not in card.text
    assert all(not b.action.startswith("/cancel") for b in card.buttons)


async def test_cancel_alone_takes_the_only_open_payment(app, fake) -> None:
    nothing = await fake.say("/cancel")
    assert "no open payment to cancel" in nothing[0].text
    pid = await buy(fake, "/buy pro sol")
    reply = await fake.say("/cancel")
    assert f"Payment #{pid} is cancelled" in reply[0].text
    again = await fake.say("/cancel")
    assert "no open payment to cancel" in again[0].text


async def test_cancel_alone_with_several_asks_which_and_changes_nothing(app, fake) -> None:
    first = await buy(fake, "/buy pro sol")
    second = await buy(fake, "/buy starter ltc")
    reply = await fake.say("/cancel")
    assert f"several open payments (#{first}, #{second})" in reply[0].text
    assert [b.action for b in reply[0].buttons] == [f"/cancel {first}", f"/cancel {second}"]
    assert [(await _payment(app, p)).status for p in (first, second)] == ["waiting"] * 2
    pressed = await fake.say("", button=f"/cancel {second}")
    assert f"Payment #{second} is cancelled" in pressed[0].text
    assert (await _payment(app, first)).status == "waiting"


async def test_bad_arguments_get_the_usage(app, fake) -> None:
    for line in ("/cancel abc", "/cancel 1 2"):
        assert "Usage: /cancel [PAYMENT_ID]" in (await fake.say(line))[0].text
    assert "/cancel [ID]" in (await fake.say("/help"))[0].text


# ---------------------------------------------------------------- the card's button


async def test_the_card_has_a_cancel_button_that_cancels(app, fake, clock) -> None:
    reply = await fake.say("/buy pro sol")
    pid = payment_id_in(reply[0].text)
    assert f"/cancel {pid}" in [b.action for b in reply[0].buttons]
    pressed = await fake.say("", button=f"/cancel {pid}")
    assert f"Payment #{pid} is cancelled" in pressed[0].text
    assert (await _payment(app, pid)).status == "cancelled"


async def test_only_waiting_payments_offer_the_button(app, fake) -> None:
    pid = await buy(fake, "/buy pro sol")
    assert f"/cancel {pid}" in [b.action for b in fake.sent[-1].buttons]
    await _event(app, pid, "confirming")
    status = await fake.say(f"/status {pid}")
    assert all(not b.action.startswith("/cancel") for b in status[0].buttons)


# ---------------------------------------------------------------- whose, and which


async def test_only_the_owner_can_cancel(app, fake) -> None:
    pid = await buy(fake, "/buy pro sol", user="alice")
    reply = await fake.say(f"/cancel {pid}", user="mallory")
    assert reply[0].text == f"Payment #{pid} was not found."  # like a missing one
    assert (await _payment(app, pid)).status == "waiting"
    assert await _events(app, pid) == []
    for line in (f"/cancel {10**17}", "/cancel 0", "/cancel 99999"):
        assert "was not found" in (await fake.say(line, user="mallory"))[0].text


async def test_a_partially_paid_payment_is_not_cancelled(app, fake) -> None:
    pid = await buy(fake, "/buy pro sol")
    p = await _payment(app, pid)
    await _event(app, pid, "partially_paid", Decimal("0.5"))
    reply = await fake.say(f"/cancel {pid}")
    text = reply[0].text
    assert f"Payment #{pid} has already received 0.5 SOL, so it cannot be cancelled" in text
    assert f"Send the remaining {(p.pay_amount - Decimal('0.5')).normalize()} SOL" in text
    assert (await _payment(app, pid)).status == "partially_paid"
    alone = await fake.say("/cancel")  # the only open payment: the same explanation
    assert "cannot be cancelled" in alone[0].text


async def test_money_on_its_way_is_not_cancelled(app, fake) -> None:
    pid = await buy(fake, "/buy pro sol")
    await _event(app, pid, "confirming")
    reply = await fake.say(f"/cancel {pid}")
    assert f"Money for payment #{pid} is already on its way" in reply[0].text
    assert (await _payment(app, pid)).status == "confirming"


@pytest.mark.parametrize("final", ["finished", "expired", "failed"])
async def test_a_closed_payment_is_not_cancelled(app, fake, clock, final) -> None:
    pid = await buy(fake, "/buy pro sol")
    if final == "expired":
        await settle(app, clock, seconds=16 * 60, step=60)
    else:
        await _event(app, pid, final)
    label = {"finished": "paid", "expired": "expired", "failed": "failed"}[final]
    reply = await fake.say(f"/cancel {pid}")
    assert reply[0].text == (
        f"Payment #{pid} is {label}; only a payment still waiting for money can be cancelled."
    )
    assert (await _payment(app, pid)).status == final


async def test_cancelling_twice_changes_nothing_the_second_time(app, fake) -> None:
    pid = await buy(fake, "/buy pro sol")
    await fake.say(f"/cancel {pid}")
    reply = await fake.say(f"/cancel {pid}")
    assert reply[0].text == f"Payment #{pid} is already cancelled."
    assert len(await _events(app, pid)) == 1


# ---------------------------------------------------------------- countdown and slots


async def test_the_countdown_stops(app, fake, clock) -> None:
    pid = await buy(fake, "/buy pro sol")
    await fake.say(f"/cancel {pid}")
    await settle(app, clock, seconds=20 * 60, step=30)  # past both warnings and the deadline
    kinds = [o.kind for o in await _outbox(app)]
    assert "payment.warning" not in kinds and "payment.expired" not in kinds
    assert not [t for t in fake.texts() if "left to send" in t or "expired" in t]
    p = await _payment(app, pid)
    assert p.status == "cancelled"
    assert p.next_check_at == p.expires_at + timedelta(hours=24)  # only late money is watched
    clock.advance(24 * 3600)
    await settle(app, clock)
    p = await _payment(app, pid)
    assert (p.status, p.next_check_at, p.next_poll_at) == ("cancelled", None, None)
    assert not await _outbox(app, "alert.unfinished")


async def test_a_warning_already_queued_is_not_delivered_after_the_cancel(app, fake, clock):
    pid = await buy(fake, "/buy pro sol")
    clock.advance(10 * 60)
    await app.countdown.sweep(clock())  # the 5-minute warning is queued, not yet sent
    await fake.say(f"/cancel {pid}")
    await settle(app, clock)
    assert not [t for t in fake.texts() if "left to send" in t]


async def test_cancelling_frees_an_open_payment_slot(app, fake) -> None:
    pids = [await buy(fake, f"/buy {p} sol") for p in ("starter", "pro", "business")]
    refused = await fake.say("/buy pro ltc")
    assert "You already have 3 open payments" in refused[0].text
    await fake.say(f"/cancel {pids[1]}")
    created = await fake.say("/buy pro ltc")
    assert "Payment #" in created[0].text and "open payments" not in created[0].text


async def test_buying_again_after_a_cancel_is_a_new_payment(app, fake) -> None:
    pid = await buy(fake, "/buy pro sol")
    await fake.say(f"/cancel {pid}")
    again = await buy(fake, "/buy pro sol")  # not the cancelled one handed back
    assert again != pid


# ---------------------------------------------------------------- late money


async def test_money_after_a_cancel_is_a_late_payment(app, fake, clock) -> None:
    pid = await buy(fake, "/buy pro sol")
    await fake.say(f"/cancel {pid}")
    result = await _event(app, pid, "confirming")
    assert result.outcome == "applied"
    p = await _payment(app, pid)
    assert (p.status, p.late) == ("confirming", True)
    await settle(app, clock)
    told = [t for t in fake.texts() if "was cancelled, but" in t]
    assert len(told) == 1 and "arrived for it after all" in told[0]
    await _event(app, pid, "finished")
    await settle(app, clock)
    p = await _payment(app, pid)
    assert (p.status, p.late, p.actually_paid) == ("finished", True, p.pay_amount)
    async with app.db.sessions() as session:
        activations = (await session.scalars(select(Activation))).all()
        alerts = (await session.scalars(select(AuditEntry.action))).all()
    assert [a.payment_id for a in activations] == [pid]  # activated once, as a late payment
    assert "alert.cancelled_money" in alerts and "alert.late" in alerts
    assert any("is complete" in t for t in fake.texts())
    story = await app.desk.story(pid)
    moves = [(e.source, e.old_status, e.new_status) for e in story.events]
    assert moves[:2] == [("customer", "waiting", "cancelled"), ("ipn", "cancelled", "confirming")]


async def test_partial_money_after_a_cancel_is_kept_and_the_operators_told(app, fake, clock):
    pid = await buy(fake, "/buy pro sol")
    await fake.say(f"/cancel {pid}")
    await _event(app, pid, "partially_paid", Decimal("0.3"))
    p = await _payment(app, pid)
    assert (p.status, p.actually_paid, p.late) == ("partially_paid", Decimal("0.3"), True)
    assert len(await _outbox(app, "payment.cancelled_money")) == 1
    async with app.db.sessions() as session:
        alerts = (await session.scalars(select(AuditEntry.action))).all()
    assert alerts.count("alert.cancelled_money") == 1


async def test_operators_read_the_alert(app, fake, clock, config) -> None:
    from bot.notices import operator_text

    text = operator_text(
        "alert.cancelled_money",
        {"payment_id": 7, "paid": "0.3", "status": "partially_paid", "coin": "sol"},
        7,
        "SOL",
    )
    assert "payment #7 was cancelled by its customer, but 0.3 SOL arrived" in text


async def test_a_provider_cannot_cancel_a_payment(app, fake) -> None:
    pid = await buy(fake, "/buy pro sol")
    result = await _event(app, pid, "cancelled", Decimal(0))
    assert result.outcome == "unknown_status"
    assert (await _payment(app, pid)).status == "waiting"


async def test_the_sandbox_does_not_pay_a_cancelled_payment(app, fake, clock) -> None:
    pid = await buy(fake, "/buy pro sol")
    await fake.say(f"/cancel {pid}")
    reply = await fake.say(f"/pay {pid}")
    assert reply[0].text == (
        f"Payment #{pid} was cancelled, so the sandbox does not pay it. Start a new payment "
        "with /buy."
    )
    await settle(app, clock, seconds=6)
    assert (await _payment(app, pid)).status == "cancelled"


async def test_the_reconciliation_sees_no_difference_for_a_cancelled_payment(app, fake):
    pid = await buy(fake, "/buy pro sol")
    await fake.say(f"/cancel {pid}")
    assert (await _payment(app, pid)).status == "cancelled"
    report = await app.desk.reconcile("admin", None)
    assert [m.payment.id for m in report.mismatches] == []


# ---------------------------------------------------------------- free text

FREE_TEXT = [
    ("en", "please cancel my payment", "is cancelled"),
    ("de", "Bitte meine Zahlung stornieren", "ist storniert"),
    ("es", "cancela mi pago por favor", "está cancelado"),
    ("fr", "annulez mon paiement s'il vous plaît", "est annulé"),
    ("zh", "请取消我的付款", "已取消"),
    ("ja", "支払いをキャンセルしてください", "キャンセルされました"),
]


@pytest.mark.parametrize(("lang", "text", "answer"), FREE_TEXT)
async def test_free_text_cancels_in_six_languages(app, fake, lang, text, answer) -> None:
    pid = await buy(fake, "/buy pro sol")
    await fake.say(f"/language {lang}")
    reply = await fake.say(text, locale=lang)
    assert f"#{pid}" in reply[0].text and answer in reply[0].text
    assert (await _payment(app, pid)).status == "cancelled"


@pytest.mark.parametrize(
    "text",
    [
        "don't cancel my payment",
        "bitte nicht stornieren",
        "no canceles mi pago",
        "ne l'annulez pas",
        "不要取消付款",
        "キャンセルしないで",
    ],
)
async def test_free_text_never_cancels_on_a_negation(app, fake, text) -> None:
    pid = await buy(fake, "/buy pro sol")
    await fake.say(text)
    assert (await _payment(app, pid)).status == "waiting"


async def test_free_text_asking_why_it_was_cancelled_only_shows_the_status(app, fake) -> None:
    pid = await buy(fake, "/buy pro sol")
    reply = await fake.say(f"is payment {pid} cancelled?")
    assert "Status: waiting for payment" in reply[0].text
    assert (await _payment(app, pid)).status == "waiting"
