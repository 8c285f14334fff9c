"""One test per row of the policy table (DESIGN §3), through the provider-event path."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bot.app import App
from bot.notices import operator_text
from storage.models import Activation, AuditEntry, OutboxItem, Payment, PaymentEvent
from tests.conftest import make_config
from tests.helpers import buy, settle
from tools.providers.base import ProviderEvent
from tools.states import Status, can_move


async def _payment(app: App, pid: int) -> Payment:
    async with app.db.sessions() as session:
        return await session.get(Payment, pid)


async def _event(app: App, pid: int, status: str, paid: str) -> str:
    payment = await _payment(app, pid)
    result = await app.events.apply_event(
        ProviderEvent(payment.provider_payment_id, status, Decimal(paid)), "ipn"
    )
    return result.outcome


async def _count(app: App, model, *where) -> int:
    async with app.db.sessions() as session:
        return (
            await session.execute(select(func.count()).select_from(model).where(*where))
        ).scalar_one()


async def _kinds(app: App, pid: int) -> list[str]:
    async with app.db.sessions() as session:
        rows = (
            await session.scalars(
                select(OutboxItem)
                .where(OutboxItem.dedupe_key.like(f"payment:{pid}:%"))
                .order_by(OutboxItem.id)
            )
        ).all()
    return [r.kind for r in rows]


async def test_finished_and_paid_activates_once_and_notifies(app, fake) -> None:
    pid = await buy(fake, "/buy pro sol")
    asked = (await _payment(app, pid)).pay_amount
    assert await _event(app, pid, "confirming", str(asked)) == "applied"
    assert await _event(app, pid, "finished", str(asked)) == "applied"
    assert await _event(app, pid, "finished", str(asked)) == "duplicate"
    assert await _count(app, Activation, Activation.payment_id == pid) == 1
    assert (await _payment(app, pid)).status == "finished"
    assert await _kinds(app, pid) == ["payment.confirming", "payment.activated"]


async def test_paid_within_tolerance_activates(app, fake) -> None:
    pid = await buy(fake, "/buy pro usdttrc20")
    asked = (await _payment(app, pid)).pay_amount
    assert await _event(app, pid, "finished", str(asked * Decimal("0.996"))) == "applied"
    assert await _count(app, Activation, Activation.payment_id == pid) == 1


async def test_partially_paid_tells_the_rest_with_qr_and_does_not_activate(app, fake) -> None:
    pid = await buy(fake, "/buy pro usdttrc20")
    assert await _event(app, pid, "partially_paid", "100") == "applied"
    assert await _count(app, Activation) == 0
    await settle(app, app.clock)
    notice = await fake.wait_for(lambda m: "received" in m.text)
    assert "100 of 299 USDT" in notice.text and "Send 199 USDT more" in notice.text
    assert notice.image and notice.image.startswith(b"\x89PNG")
    assert "amount=199" in notice.extra["uri"]


async def test_finished_with_too_little_counts_as_partial(app, fake) -> None:
    pid = await buy(fake, "/buy pro usdttrc20")
    assert await _event(app, pid, "finished", "150") == "applied"
    payment = await _payment(app, pid)
    assert payment.status == "partially_paid"
    assert await _count(app, Activation) == 0


async def test_top_ups_that_reach_the_price_activate_once(app, fake) -> None:
    pid = await buy(fake, "/buy pro usdttrc20")
    assert await _event(app, pid, "partially_paid", "100") == "applied"
    assert await _event(app, pid, "partially_paid", "200") == "applied"  # more money arrived
    assert await _event(app, pid, "confirming", "299") == "ignored"
    assert await _event(app, pid, "finished", "299") == "applied"
    assert await _event(app, pid, "finished", "299") == "duplicate"
    assert await _count(app, Activation, Activation.payment_id == pid) == 1
    assert await _kinds(app, pid) == ["payment.partial", "payment.partial", "payment.activated"]


async def test_finished_after_expiry_is_a_late_payment(app, fake, clock) -> None:
    pid = await buy(fake, "/buy pro sol")
    await settle(app, clock, seconds=901, step=30)
    assert (await _payment(app, pid)).status == "expired"
    asked = (await _payment(app, pid)).pay_amount
    assert await _event(app, pid, "finished", str(asked)) == "applied"
    payment = await _payment(app, pid)
    assert payment.status == "finished" and payment.late
    assert await _count(app, Activation, Activation.payment_id == pid) == 1
    assert await _count(app, AuditEntry, AuditEntry.action == "alert.late") == 1
    assert (
        await _count(
            app, OutboxItem, OutboxItem.kind == "alert.late", OutboxItem.chat_id == "admin"
        )
        == 1
    )


async def test_late_payment_held_when_configured(db_url, fake, clock) -> None:
    config = make_config(db_url, PAYMENTS__ACTIVATE_LATE="false")
    app = App(config, adapters=[fake], clock=clock)
    await app.start(background=False)
    try:
        pid = await buy(fake, "/buy pro sol")
        await settle(app, clock, seconds=901, step=60)
        asked = (await _payment(app, pid)).pay_amount
        assert await _event(app, pid, "finished", str(asked)) == "applied"
        assert await _count(app, Activation) == 0
        assert "payment.late_held" in await _kinds(app, pid)
    finally:
        await app.stop()


async def test_overpaid_activates_records_surplus_and_tells_operator(app, fake) -> None:
    pid = await buy(fake, "/buy pro usdttrc20")
    assert await _event(app, pid, "finished", "310.5") == "applied"
    payment = await _payment(app, pid)
    assert payment.surplus == Decimal("11.5")
    assert await _count(app, Activation, Activation.payment_id == pid) == 1
    assert await _count(app, OutboxItem, OutboxItem.kind == "alert.overpaid") == 1
    # the customer hears it too, through the outbox: plan active, surplus recorded
    assert await _kinds(app, pid) == ["payment.activated", "payment.overpaid"]
    await app.notifier.drain()
    (told,) = [t for t in fake.texts() if "more than the" in t]
    assert told == (
        f"💰 Payment #{pid}: 310.5 USDT arrived, 11.5 USDT more than the 299 USDT asked. Your "
        "plan is active; the extra is recorded and the shop has been told about it, so there "
        "is nothing you need to do."
    )


@pytest.mark.parametrize("status", ["failed", "refunded", "expired"])
async def test_terminal_without_money_notifies_and_offers_retry(app, fake, status) -> None:
    pid = await buy(fake, "/buy pro sol")
    assert await _event(app, pid, status, "0") == "applied"
    assert (await _payment(app, pid)).status == status
    assert await _kinds(app, pid) == [f"payment.{status}"]
    await settle(app, app.clock)
    notice = fake.sent[-1]
    assert f"#{pid}" in notice.text
    expected = "/buy pro sol" if status == "refunded" else f"/retry {pid}"
    assert notice.buttons[0].action == expected
    assert await _count(app, Activation) == 0


async def test_lower_rank_after_finished_is_ignored_but_recorded(app, fake) -> None:
    pid = await buy(fake, "/buy pro sol")
    asked = str((await _payment(app, pid)).pay_amount)
    await _event(app, pid, "finished", asked)
    assert await _event(app, pid, "confirming", asked) == "ignored"
    assert await _event(app, pid, "waiting", "0") == "ignored"
    assert await _event(app, pid, "failed", "0") == "ignored"
    assert (await _payment(app, pid)).status == "finished"
    assert await _count(app, PaymentEvent, PaymentEvent.payment_id == pid) == 4
    assert (
        await _count(
            app, PaymentEvent, PaymentEvent.payment_id == pid, PaymentEvent.applied.is_(True)
        )
        == 1
    )


async def test_out_of_order_events_never_move_backwards(app, fake) -> None:
    pid = await buy(fake, "/buy pro sol")
    asked = str((await _payment(app, pid)).pay_amount)
    assert await _event(app, pid, "sending", asked) == "applied"
    assert await _event(app, pid, "confirming", asked) == "ignored"
    assert await _event(app, pid, "confirmed", asked) == "ignored"
    assert (await _payment(app, pid)).status == "sending"


async def test_unknown_payment_is_audited_not_applied(app) -> None:
    result = await app.events.apply_event(ProviderEvent("999", "finished", Decimal(1)), "ipn")
    assert result.outcome == "unknown_payment"
    assert await _count(app, AuditEntry, AuditEntry.action == "unknown_payment") == 1


def test_state_machine_rules() -> None:
    for final in (Status.FINISHED, Status.FAILED, Status.REFUNDED):
        assert not any(can_move(final, s) for s in Status)
    assert can_move(Status.EXPIRED, Status.FINISHED)
    assert can_move(Status.EXPIRED, Status.CONFIRMING)
    assert not can_move(Status.EXPIRED, Status.WAITING)
    assert not can_move(Status.EXPIRED, Status.FAILED)
    assert not can_move(Status.CONFIRMING, Status.EXPIRED)
    assert can_move(Status.WAITING, Status.EXPIRED)


async def test_a_remainder_finer_than_the_coin_is_rounded_up_in_the_link(app, fake) -> None:
    pid = await buy(fake, "/buy pro usdttrc20")  # USDT on TRON has 6 decimals
    assert await _event(app, pid, "partially_paid", "100.0000001") == "applied"
    await settle(app, app.clock)
    notice = await fake.wait_for(lambda m: "received" in m.text)
    assert "Send 198.9999999 USDT more" in notice.text  # what is missing, exactly
    assert "amount=199&" in notice.extra["uri"]  # a wallet cannot send less than that
    status = await fake.say(f"/status {pid}")
    assert "partially paid" in status[0].text


async def test_extra_money_on_a_finished_payment_is_reported(app, fake) -> None:
    pid = await buy(fake, "/buy pro usdttrc20")
    assert await _event(app, pid, "finished", "299") == "applied"
    assert await _event(app, pid, "finished", "350") == "ignored"
    assert await _count(app, AuditEntry, AuditEntry.action == "alert.extra_money") == 1
    assert await _count(app, OutboxItem, OutboxItem.kind == "alert.extra_money") == 1


async def test_an_unfinished_payment_is_reported_when_monitoring_ends(app, fake, clock) -> None:
    pid = await buy(fake, "/buy pro usdttrc20")
    assert await _event(app, pid, "partially_paid", "100") == "applied"
    await settle(app, clock)
    clock.advance(15 * 60 + 24 * 3600 + 1)
    await app.countdown.sweep(clock())
    assert await _count(app, OutboxItem, OutboxItem.kind == "alert.unfinished") == 1
    assert (await _payment(app, pid)).next_check_at is None
    # and it no longer blocks new purchases
    for coin in ("sol", "eth", "ltc"):
        reply = await fake.say(f"/buy pro {coin}")
        assert "Payment #" in reply[0].text


async def test_amounts_beyond_28_digits_stay_exact(app, fake) -> None:
    pid = await buy(fake, "/buy pro usdttrc20")
    paid = "299.000000000000000000000000001"  # 30 significant digits
    assert await _event(app, pid, "finished", paid) == "applied"
    payment = await _payment(app, pid)
    assert payment.actually_paid == Decimal(paid)
    assert payment.surplus == Decimal("1e-27")


@pytest.mark.parametrize("reversal", ["refunded", "failed"])
async def test_a_reversal_after_finished_alerts_once_and_keeps_the_plan(
    app, fake, reversal
) -> None:
    pid = await buy(fake, "/buy pro sol")
    asked = (await _payment(app, pid)).pay_amount
    assert await _event(app, pid, "finished", str(asked)) == "applied"
    assert await _event(app, pid, reversal, str(asked)) == "ignored"
    assert await _event(app, pid, reversal, "0") == "ignored"  # the provider says it again
    assert await _event(app, pid, "refunded" if reversal == "failed" else "failed", "0") == (
        "ignored"
    )
    payment = await _payment(app, pid)
    assert payment.status == "finished"
    assert await _count(app, Activation, Activation.payment_id == pid) == 1
    assert await _count(app, Activation, Activation.revoked_at.is_(None)) == 1
    kind = "alert.reversed_after_finish"
    assert await _count(app, AuditEntry, AuditEntry.action == kind) == 1
    alerts = await _count(app, OutboxItem, OutboxItem.kind == kind, OutboxItem.chat_id == "admin")
    assert alerts == 1
    async with app.db.sessions() as session:
        row = await session.scalar(select(OutboxItem).where(OutboxItem.kind == kind))
    text = operator_text(kind, row.payload, pid, "SOL")
    assert f"payment #{pid}" in text and reversal in text and "/admin revoke" in text
