"""The subscription life cycle through the real app on the fake adapter: reminders before a
plan ends fire once each and stop after a renewal, which extends from the old end; a lapse
notice at the end, once; revoked, short and paused activations."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.adapters.base import DeliveryError
from bot.adapters.fake import FakeAdapter
from bot.app import App
from bot.config import Config, load_config
from bot.i18n import using_locale, when
from bot.messages import Outgoing
from storage.models import Activation, OutboxItem, Payment
from tests.conftest import ROOT, ManualClock, make_config
from tests.helpers import buy, payment_id_in, settle
from tools.catalog import Catalog
from tools.renewals import renew_action

DAY = timedelta(days=1)


async def pay(app: App, fake: FakeAdapter, clock: ManualClock, pid: int) -> None:
    """Pay in full through the sandbox and let its steps arrive (seconds on the clock)."""
    await fake.say(f"/pay {pid}")
    await settle(app, clock, seconds=5)
    assert (await _payment(app, pid)).status == "finished"


async def buy_and_pay(app: App, fake: FakeAdapter, clock: ManualClock, command: str) -> int:
    pid = await buy(fake, command)
    await pay(app, fake, clock, pid)
    return pid


async def _payment(app: App, pid: int) -> Payment:
    async with app.db.sessions() as session:
        return await session.get(Payment, pid)


async def _activation(app: App, pid: int) -> Activation:
    async with app.db.sessions() as session:
        query = select(Activation).where(Activation.payment_id == pid)
        return (await session.scalars(query)).one()


async def _notices(app: App) -> list[str]:
    """Dedupe keys of the plan notices queued so far, in order."""
    async with app.db.sessions() as session:
        query = (
            select(OutboxItem.dedupe_key)
            .where(OutboxItem.dedupe_key.like("activation:%"))
            .order_by(OutboxItem.id)
        )
        return list((await session.scalars(query)).all())


async def at(app: App, clock: ManualClock, moment: datetime):
    """Move the clock to `moment`, sweep once and deliver what it queued."""
    clock.now = moment
    report = await app.renewals.sweep(moment)
    while await app.notifier.drain():
        pass
    return report


def plan_messages(fake: FakeAdapter) -> list[Outgoing]:
    return [m for m in fake.sent if re.search(r"Your \w+ plan (ends|has ended)", m.text)]


def buttons(message: Outgoing) -> list[tuple[str, str]]:
    return [(b.label, b.action) for b in message.buttons]


async def test_reminders_once_each_then_renewal_extends_from_the_end(app, fake, clock) -> None:
    pid = await buy_and_pay(app, fake, clock, "/buy pro sol")
    old = await _activation(app, pid)
    assert old.next_notice_at == old.created_at  # handed to the sweeper at once
    report = await at(app, clock, clock())
    assert (report.due, report.scheduled, report.reminders) == (1, 1, 0)
    assert (await _activation(app, pid)).next_notice_at == old.period_end - 3 * DAY
    assert await _notices(app) == []

    report = await at(app, clock, old.period_end - 3 * DAY)
    assert report.reminders == 1
    [reminder] = plan_messages(fake)
    assert reminder.target.chat_id == "alice"  # the customer's private chat
    with using_locale("en"):
        ends = when(old.period_end)
    assert reminder.text == (
        f"🔔 Your Pro plan ends on {ends} (in 3 days). Renew now to keep it without a gap."
    )
    assert buttons(reminder) == [("Renew", "/buy pro sol")]

    for later in (timedelta(0), timedelta(hours=1), DAY):  # ticks before the next reminder
        report = await at(app, clock, old.period_end - 3 * DAY + later)
        assert report.due == 0
    assert await _notices(app) == [f"activation:{old.id}:remind:3"]
    assert len(plan_messages(fake)) == 1

    await at(app, clock, old.period_end - DAY)
    assert await _notices(app) == [
        f"activation:{old.id}:remind:3",
        f"activation:{old.id}:remind:1",
    ]
    second = plan_messages(fake)[-1]
    assert "(in 1 day)" in second.text and buttons(second) == [("Renew", "/buy pro sol")]

    # the Renew button runs the same command as typing it: a payment for the same plan
    replies = await fake.say("", button="/buy pro sol")
    renewal = payment_id_in(replies[0].text)
    assert renewal != pid
    payment = await _payment(app, renewal)
    assert (payment.plan, payment.pay_currency, payment.status) == ("pro", "sol", "waiting")

    clock.advance(3600)  # paid a day before the end: the new period starts at the old end
    await pay(app, fake, clock, renewal)
    new = await _activation(app, renewal)
    assert new.period_start == old.period_end
    assert new.period_end == old.period_end + 30 * DAY
    assert new.next_notice_at == new.created_at

    for moment in (clock(), old.period_end, old.period_end + DAY, new.period_end - 4 * DAY):
        await at(app, clock, moment)
    assert await _notices(app) == [
        f"activation:{old.id}:remind:3",
        f"activation:{old.id}:remind:1",
    ]  # the old activation's lapse never comes
    async with app.db.sessions() as session:
        silent = await session.get(Activation, old.id)
    assert silent.next_notice_at is None

    for moment in (new.period_end - 3 * DAY, new.period_end - DAY, new.period_end):
        await at(app, clock, moment)
    await at(app, clock, new.period_end + DAY)
    assert await _notices(app) == [
        f"activation:{old.id}:remind:3",
        f"activation:{old.id}:remind:1",
        f"activation:{new.id}:remind:3",
        f"activation:{new.id}:remind:1",
        f"activation:{new.id}:lapsed",
    ]
    texts = [m.text for m in plan_messages(fake)]
    with using_locale("en"):
        assert f"ends on {when(new.period_end)} (in 3 days)" in texts[2]
    assert texts[-1] == "⌛ Your Pro plan has ended. Tap “Renew” to get it back."


async def test_lapse_notice_at_the_end_exactly_once(app, fake, clock) -> None:
    pid = await buy_and_pay(app, fake, clock, "/buy starter ltc")
    activation = await _activation(app, pid)
    report = await at(app, clock, activation.period_end)
    assert report.lapsed == 1 and report.reminders == 0  # reminders are over by now
    for later in (timedelta(0), timedelta(minutes=1), 30 * DAY):
        assert (await at(app, clock, activation.period_end + later)).due == 0
    assert await _notices(app) == [f"activation:{activation.id}:lapsed"]
    [lapse] = plan_messages(fake)
    assert lapse.text.startswith("⌛ Your Starter plan has ended.")
    assert buttons(lapse) == [("Renew", "/buy starter ltc")]
    async with app.db.sessions() as session:
        row = await session.get(Activation, activation.id)
    assert row.next_notice_at is None and row.notices_sent == "lapsed"


async def test_a_revoked_activation_sends_nothing(app, fake, clock) -> None:
    pid = await buy_and_pay(app, fake, clock, "/buy pro sol")
    activation = await _activation(app, pid)
    await at(app, clock, clock())  # scheduled for its first reminder
    async with app.db.transaction() as session:  # what an operator's revoke leaves behind
        row = await session.get(Activation, activation.id)
        row.revoked_at = clock()
        row.revoked_by = "console:admin"
    report = await at(app, clock, activation.period_end - 3 * DAY)
    assert report.revoked == 1
    for moment in (activation.period_end - DAY, activation.period_end, activation.period_end):
        assert (await at(app, clock, moment)).due == 0
    assert await _notices(app) == []
    assert plan_messages(fake) == []


async def test_an_upgrade_silences_the_lower_plan_until_it_is_revoked(app, fake, clock) -> None:
    starter = await _activation(app, await buy_and_pay(app, fake, clock, "/buy starter ltc"))
    clock.advance(DAY.total_seconds())
    pro = await _activation(app, await buy_and_pay(app, fake, clock, "/buy pro sol"))
    assert pro.period_start < starter.period_end < pro.period_end  # Pro runs now, ends later

    report = await at(app, clock, starter.period_end - 3 * DAY)
    assert report.superseded == 1 and report.reminders == 0
    assert await _notices(app) == []  # no "renew your Starter plan" to a Pro customer

    revoked = await app.desk.revoke("console:admin", "fake:alice", "pro")
    assert [a.id for a in revoked] == [pro.id]
    await at(app, clock, starter.period_end - DAY)  # Starter carries its own notices again
    await at(app, clock, starter.period_end)
    assert await _notices(app) == [
        f"activation:{starter.id}:remind:1",
        f"activation:{starter.id}:lapsed",
    ]
    assert [m.text[:22] for m in plan_messages(fake)] == [
        "🔔 Your Starter plan en",
        "⌛ Your Starter plan ha",
    ]


async def test_a_lower_plan_bought_later_leaves_the_higher_ones_notices(app, fake, clock) -> None:
    pro = await _activation(app, await buy_and_pay(app, fake, clock, "/buy pro sol"))
    clock.advance(DAY.total_seconds())
    starter = await _activation(app, await buy_and_pay(app, fake, clock, "/buy starter ltc"))
    assert starter.period_end > pro.period_end
    await at(app, clock, pro.period_end - 3 * DAY)
    await at(app, clock, pro.period_end)
    assert await _notices(app) == [
        f"activation:{pro.id}:remind:3",
        f"activation:{starter.id}:remind:3",  # due a day before Pro ends, on its own
        f"activation:{pro.id}:lapsed",
    ]


@pytest.mark.parametrize("days", [2, 3])
async def test_a_short_activation_gets_no_stale_reminder(db_url, clock, days) -> None:
    fake = FakeAdapter()
    app = App(make_config(db_url, PLANS__PRO__PERIOD_DAYS=str(days)), adapters=[fake], clock=clock)
    await app.start(background=False)
    try:
        pid = await buy_and_pay(app, fake, clock, "/buy pro sol")
        activation = await _activation(app, pid)
        assert activation.period_end == activation.created_at + days * DAY
        report = await at(app, clock, clock())  # no "3 days left" the minute it is bought
        assert report.reminders == 0 and await _notices(app) == []
        assert (await _activation(app, pid)).next_notice_at == activation.period_end - DAY
        await at(app, clock, activation.period_end - DAY)
        await at(app, clock, activation.period_end)
        assert await _notices(app) == [
            f"activation:{activation.id}:remind:1",
            f"activation:{activation.id}:lapsed",
        ]
        assert "(in 1 day)" in plan_messages(fake)[0].text
    finally:
        await app.stop()


async def test_after_a_pause_one_reminder_not_two(app, fake, clock) -> None:
    pid = await buy_and_pay(app, fake, clock, "/buy pro sol")
    activation = await _activation(app, pid)
    # the sweeper was down from the purchase until half a day before the end
    report = await at(app, clock, activation.period_end - DAY / 2)
    assert report.reminders == 1
    assert await _notices(app) == [f"activation:{activation.id}:remind:1"]
    [reminder] = plan_messages(fake)
    assert "(in 12 hours)" in reminder.text
    row = await _activation(app, pid)
    assert row.notices_sent == "1,3" and row.next_notice_at == activation.period_end
    await at(app, clock, activation.period_end - DAY / 4)
    assert len(plan_messages(fake)) == 1


async def test_after_a_pause_past_the_end_only_the_lapse(app, fake, clock) -> None:
    pid = await buy_and_pay(app, fake, clock, "/buy pro sol")
    activation = await _activation(app, pid)
    await at(app, clock, activation.period_end + 2 * DAY)
    assert await _notices(app) == [f"activation:{activation.id}:lapsed"]
    assert len(plan_messages(fake)) == 1


async def test_a_reminder_held_up_past_the_end_is_not_delivered(app, fake, clock) -> None:
    pid = await buy_and_pay(app, fake, clock, "/buy pro sol")
    activation = await _activation(app, pid)
    clock.now = activation.period_end - DAY
    await app.renewals.sweep(clock())  # queued, but the relay is down until after the end
    await at(app, clock, activation.period_end + timedelta(minutes=1))
    assert await _notices(app) == [
        f"activation:{activation.id}:remind:1",
        f"activation:{activation.id}:lapsed",
    ]
    assert [m.text.split(" plan ")[1][:9] for m in plan_messages(fake)] == ["has ended"]


async def test_a_reminder_held_up_until_after_a_renewal_is_not_delivered(app, fake, clock) -> None:
    old = await _activation(app, await buy_and_pay(app, fake, clock, "/buy pro sol"))
    fake.fail_next(DeliveryError("platform unreachable", retry_after=3600))
    await at(app, clock, old.period_end - 3 * DAY)  # queued; its delivery fails for an hour
    assert await _notices(app) == [f"activation:{old.id}:remind:3"]
    await buy_and_pay(app, fake, clock, "/buy pro sol")  # renewed in the meantime
    clock.advance(3600)
    while await app.notifier.drain():
        pass
    async with app.db.sessions() as session:
        row = (
            await session.scalars(select(OutboxItem).where(OutboxItem.kind == "plan.reminder"))
        ).one()
    assert row.status == "skipped"
    assert plan_messages(fake) == []


async def test_no_reminders_when_none_are_configured(db_url, clock) -> None:
    fake = FakeAdapter()
    app = App(make_config(db_url, SUBSCRIPTIONS__REMINDER_DAYS="[]"), adapters=[fake], clock=clock)
    await app.start(background=False)
    try:
        pid = await buy_and_pay(app, fake, clock, "/buy pro sol")
        activation = await _activation(app, pid)
        await at(app, clock, clock())
        assert (await _activation(app, pid)).next_notice_at == activation.period_end
        for moment in (activation.period_end - DAY, activation.period_end):
            await at(app, clock, moment)
        assert await _notices(app) == [f"activation:{activation.id}:lapsed"]
    finally:
        await app.stop()


async def test_concurrent_sweeps_remind_once(app, fake, clock, config) -> None:
    """Several workers on PostgreSQL (SKIP LOCKED); on SQLite, which serves one worker, the
    sweeps of that one worker overlapping."""
    pid = await buy_and_pay(app, fake, clock, "/buy pro sol")
    activation = await _activation(app, pid)
    other = app
    if not app.db.is_sqlite:
        other = App(config, adapters=[FakeAdapter()], clock=clock)  # a second worker
        await other.start(background=False)
    try:
        moment = activation.period_end - 3 * DAY
        clock.now = moment
        reports = await asyncio.gather(
            *(worker.renewals.sweep(moment) for worker in (app, other, app, other))
        )
    finally:
        if other is not app:
            await other.stop()
    assert sum(r.reminders for r in reports) == 1
    assert await _notices(app) == [f"activation:{activation.id}:remind:3"]


def config_without(table: str, db_url: str, folder: Path) -> Config:
    """The shipped config with one `[table]` block (up to the next blank line) removed."""
    text = (ROOT / "config.toml").read_text()
    path = folder / f"config-without-{table}.toml"
    path.write_text(re.sub(rf"\n\[{re.escape(table)}\]\n.*?\n\n", "\n\n", text, flags=re.S))
    return load_config(path, {"PAYBOT_DATABASE__URL": db_url})


async def test_renew_button_follows_the_catalog(app, fake, clock, db_url, tmp_path) -> None:
    pid = await buy_and_pay(app, fake, clock, "/buy pro sol")
    activation = await _activation(app, pid)

    async def restarted(config: Config, moment: datetime) -> tuple[App, FakeAdapter]:
        fake2 = FakeAdapter()
        worker = App(config, adapters=[fake2], clock=clock)
        await worker.start(background=False)
        await at(worker, clock, moment)
        return worker, fake2

    # Solana is no longer accepted: the button asks which coin instead
    no_sol = config_without("coins.sol", db_url, tmp_path)
    assert "sol" not in no_sol.coins
    worker, fake2 = await restarted(no_sol, activation.period_end - DAY)
    try:
        [reminder] = plan_messages(fake2)
        assert buttons(reminder) == [("Renew", "/recommend pro")]
        replies = await fake2.say("", button="/recommend pro")
        assert "Pro" in replies[0].text and "SOL" not in replies[0].text
    finally:
        await worker.stop()

    # the plan is no longer sold: told it ended, with no button to buy it again
    no_pro = config_without("plans.pro", db_url, tmp_path)
    assert "pro" not in no_pro.plans
    worker, fake2 = await restarted(no_pro, activation.period_end)
    try:
        [lapse] = plan_messages(fake2)
        assert lapse.text == "⌛ Your pro plan has ended." and lapse.buttons == ()
    finally:
        await worker.stop()


def test_renew_action() -> None:
    config = load_config(ROOT / "config.toml", {})
    catalog = Catalog.from_config(config.plans, config.coins, "USD")
    assert renew_action(catalog, "pro", "sol") == "/buy pro sol"
    assert renew_action(catalog, "pro", "doge") == "/recommend pro"
    assert renew_action(catalog, "pro", None) == "/recommend pro"  # an operator's grant
    assert renew_action(catalog, "gold", "sol") is None
