"""Operator commands on a seeded shop, through the fake adapter (`/admin ...`)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from PIL import Image
from sqlalchemy import func, select

from bot.adapters.fake import FakeAdapter
from bot.app import App
from storage.models import Activation, AuditEntry, Payment, PaymentEvent, User
from tests.conftest import ManualClock, make_config
from tests.helpers import buy, payment_id_in, settle
from tools.providers.base import ProviderEvent

OP = "op"


async def _payment(app: App, pid: int) -> Payment:
    async with app.db.sessions() as session:
        return await session.get(Payment, pid)


async def _event(app: App, pid: int, status: str, paid: Decimal | str) -> None:
    payment = await _payment(app, pid)
    await app.events.apply_event(
        ProviderEvent(payment.provider_payment_id, status, Decimal(paid)), "ipn"
    )


async def seed(app: App, fake: FakeAdapter, clock: ManualClock) -> dict[str, int]:
    """Five purchases a shop sees in a day: paid, partial, late, overpaid, abandoned."""
    ids = {}
    ids["paid"] = await buy(fake, "/buy pro sol", user="alice")
    asked = (await _payment(app, ids["paid"])).pay_amount
    await _event(app, ids["paid"], "confirming", asked)
    clock.advance(90)
    await _event(app, ids["paid"], "finished", asked)
    ids["partial"] = await buy(fake, "/buy starter usdttrc20", user="bob")
    await _event(app, ids["partial"], "partially_paid", "10.5")
    ids["late"] = await buy(fake, "/buy business btc", user="carol")
    ids["over"] = await buy(fake, "/buy pro eth", user="dave")
    over = (await _payment(app, ids["over"])).pay_amount
    await _event(app, ids["over"], "finished", over + Decimal("0.000000000000000123"))
    ids["abandoned"] = await buy(fake, "/buy pro sol", user="erin")
    await settle(app, clock, 16 * 60, step=60)  # every open quote expires
    late = await _payment(app, ids["late"])
    await _event(app, ids["late"], "finished", late.pay_amount)
    await settle(app, clock)
    return ids


@pytest.fixture
async def shop(db_url: str, clock: ManualClock):
    """The app on a Telegram-like fake adapter whose user `op` is an operator."""
    fake = FakeAdapter("telegram")
    config = make_config(db_url, OPERATORS__TELEGRAM=f'["{OP}"]')
    app = App(config, adapters=[fake], clock=clock)
    await app.start(background=False)
    ids = await seed(app, fake, clock)
    yield app, fake, ids
    await app.stop()


async def admin(fake: FakeAdapter, line: str, user: str = OP):
    return await fake.say(f"/admin {line}", user=user)


async def test_stats_answer_how_much_in_what_and_what_needs_a_human(shop) -> None:
    app, fake, ids = shop
    text, chart = await admin(fake, "stats 7d")
    # alice's and dave's pro (299 each) and carol's late business (599), in dollars, exactly
    assert "Revenue: 1,197 USD from 3 paid purchases" in text.text
    assert "per plan: Business 599 USD, Pro 598 USD" in text.text
    assert "per coin: BTC 599 USD, ETH 299 USD, SOL 299 USD" in text.text
    assert "Payments created: 5 · conversion 60.0% · expired 20.0% · failed 0.0%" in text.text
    assert "Median time to pay: 1m 30s" in text.text  # 0 s (dave), 90 s (alice), 16 min
    assert "Active subscribers: Business 1, Pro 2" in text.text
    assert f"#{ids['late']} (finished): paid late" in text.text
    assert f"#{ids['over']} (finished): overpaid by " in text.text
    assert f"#{ids['partial']} (partially_paid): expired partially paid: 10.5 of" in text.text
    assert f"#{ids['abandoned']} " not in text.text and f"#{ids['paid']} " not in text.text
    picture = Image.open(io.BytesIO(chart.image))
    picture.verify()  # a whole, valid PNG
    assert picture.format == "PNG" and picture.size == (800, 550)


async def test_stats_of_today_and_all_and_a_bad_period(shop, clock) -> None:
    app, fake, _ = shop
    clock.advance(3 * 86400)
    today, _chart = await admin(fake, "stats today")
    assert "Revenue: 0 USD from 0 paid purchases" in today.text
    assert "Payments created: 0 · conversion -" in today.text
    everything, _chart = await admin(fake, "stats all")
    assert "Revenue: 1,197 USD" in everything.text
    (bad,) = await admin(fake, "stats week")
    assert "invalid choice: 'week'" in bad.text and "usage: /admin stats" in bad.text


async def test_export_is_the_exact_settlement_ledger_as_a_csv_file(shop) -> None:
    app, fake, ids = shop
    (reply,) = await admin(fake, "export 2026-11-21 2026-11-21")
    assert reply.text == "Settlement ledger: 5 payments." and reply.file is not None
    assert not reply.file.exists()  # the temporary file is gone once sent
    rows = list(csv.DictReader(io.StringIO(fake.files[reply.file.name].decode())))
    by_id = {int(r["payment_id"]): r for r in rows}
    assert sorted(by_id) == sorted(ids.values())
    over = await _payment(app, ids["over"])
    row = by_id[ids["over"]]
    assert row["actually_paid"] == format(over.actually_paid, "f")
    assert Decimal(row["actually_paid"]) - Decimal(row["amount_asked"]) == Decimal(
        "0.000000000000000123"
    )
    assert row["surplus"] == "0.000000000000000123" and row["overpaid"] == "yes"
    assert (row["price_amount"], row["price_currency"], row["plan"]) == ("299", "USD", "pro")
    assert (row["platform"], row["platform_user_id"], row["user_name"]) == (
        "telegram",
        "dave",
        "dave",
    )
    assert by_id[ids["late"]]["late"] == "yes" and by_id[ids["paid"]]["late"] == "no"
    assert by_id[ids["partial"]]["partial"] == "yes" and by_id[ids["partial"]]["status"] == (
        "partially_paid"
    )
    assert by_id[ids["abandoned"]]["status"] == "expired"
    assert by_id[ids["paid"]]["paid_at"].startswith("2026-11-21T12:01:30")
    (none,) = await admin(fake, "export 2026-11-22")
    assert none.text == "Settlement ledger: 0 payments."
    (bad,) = await admin(fake, "export 2026-11-22 2026-11-01")
    assert bad.text == "FROM must not be after TO" and bad.file is None


SPREADSHEET_FORMULAS = ['=HYPERLINK("http://evil","x")', "+1", "-1+1", "@SUM(A1)", "\tx", " =1+1"]


async def test_the_ledger_never_hands_a_spreadsheet_a_formula(shop) -> None:
    """Customers whose names a spreadsheet would run as formulas, who paid: in the export
    every such text cell starts with `'` (OWASP's rule), while a negative amount stays a
    number."""
    app, fake, ids = shop
    paid = {}
    for i, name in enumerate([*SPREADSHEET_FORMULAS, "\rx"]):
        replies = await fake.say("/buy pro sol", user=f"formula{i}", name=name)
        pid = payment_id_in(replies[0].text)
        await _event(app, pid, "finished", (await _payment(app, pid)).pay_amount)
        paid[pid] = name
    pid_cr = pid
    async with app.db.transaction() as session:
        # a carriage return cannot come in through a chat (control characters are dropped),
        # but a row written by an older version, or a provider's id, can hold one
        payment = await session.get(Payment, pid_cr)
        (await session.get(User, payment.user_id)).display_name = "\rx"
        payment.provider_payment_id = "=1+2"
        (await session.get(Payment, ids["paid"])).fee_deposit = Decimal("-0.25")
    (reply,) = await admin(fake, "export")
    rows = list(csv.DictReader(io.StringIO(fake.files[reply.file.name].decode(), newline="")))
    by_id = {int(r["payment_id"]): r for r in rows}
    assert {pid: by_id[pid]["user_name"] for pid in paid} == {
        pid: "'" + name for pid, name in paid.items()
    }
    assert by_id[pid_cr]["provider_payment_id"] == "'=1+2"
    assert by_id[ids["paid"]]["fee_deposit"] == "-0.25"  # money stays a number
    assert by_id[ids["paid"]]["user_name"] == "alice"  # ordinary names are left alone


async def test_payment_story_tells_events_notices_and_activation(shop) -> None:
    app, fake, ids = shop
    (story,) = await admin(fake, f"payment {ids['late']}")
    text = story.text
    assert text.startswith(f"Payment #{ids['late']} · finished · late · sandbox")
    assert "Customer: telegram:carol 'carol'" in text
    lines = text.splitlines()
    expired = lines.index(
        "2026-11-21 12:16:30  notice to customer: payment.expired – sent 12:16:30"
    )
    assert lines[expired + 1 :] == [
        "2026-11-21 12:17:30  ipn: expired → finished",
        "2026-11-21 12:17:30  notice to customer: payment.activated – sent 12:17:30",
        "2026-11-21 12:17:30  activated business 2026-11-21 12:17 → 2026-12-21 12:17",
        "2026-11-21 12:17:30  system: alert.late",
    ]
    assert len(text.splitlines()) < 40  # one screen
    (missing,) = await admin(fake, "payment 99999")
    assert missing.text == "no payment #99999"


async def test_user_lookup_by_platform_id_and_by_name(shop) -> None:
    app, fake, ids = shop
    (by_id,) = await admin(fake, "user telegram:alice")
    assert "telegram:alice 'alice'" in by_id.text
    assert "Plan: Pro until 2026-12-21" in by_id.text
    assert f"#{ids['paid']} 2026-11-21 12:00 pro 299 USD in SOL: finished" in by_id.text
    (by_name,) = await admin(fake, "user @Alice")
    assert by_name.text == by_id.text
    (nobody,) = await admin(fake, "user @mallory")
    assert nobody.text == "no user @mallory"
    (bad,) = await admin(fake, "user alice")
    assert "use platform:id or @name" in bad.text


async def test_grant_and_revoke_change_the_customers_plan_and_tell_them(shop, clock) -> None:
    app, fake, _ = shop
    async with app.db.sessions() as session:
        erin = (await session.scalars(select(User).where(User.platform_user_id == "erin"))).one()
    now = clock()
    assert await app.shop.plans.current(erin.id, now) == (None, None)
    (granted,) = await admin(fake, "grant telegram:erin starter 10")
    assert granted.text.startswith("Granted Starter to telegram:erin")
    assert await app.shop.plans.current(erin.id, now) == ("starter", now + timedelta(days=10))
    await admin(fake, "grant @erin starter 5")  # extends the current period
    assert await app.shop.plans.current(erin.id, now) == ("starter", now + timedelta(days=15))
    await settle(app, clock)
    told = [m.text for m in fake.sent if m.target.chat_id == "erin"]
    assert sum("gave you the Starter plan" in t for t in told) == 2
    (plan,) = await fake.say("/plan", user="erin")
    assert "Starter" in plan.text
    (revoked,) = await admin(fake, "revoke telegram:erin")
    assert revoked.text == "Revoked Starter of telegram:erin; they are told."
    assert await app.shop.plans.current(erin.id, now) == (None, None)
    await settle(app, clock)
    assert any("Starter plan was ended" in m.text for m in fake.sent if m.target.chat_id == "erin")
    (again,) = await admin(fake, "revoke telegram:erin")
    assert again.text == "telegram:erin has no plan to revoke"
    async with app.db.sessions() as session:
        grants = (
            await session.scalars(select(Activation).where(Activation.user_id == erin.id))
        ).all()
        audit = (
            await session.scalars(
                select(AuditEntry.action).where(AuditEntry.actor == f"telegram:{OP}")
            )
        ).all()
    assert [g.source for g in grants] == [f"operator:telegram:{OP}"] * 2
    assert all(g.revoked_by == f"telegram:{OP}" and g.payment_id is None for g in grants)
    assert audit.count("admin.grant") == 2 and audit.count("admin.revoke") == 1
    (bad,) = await admin(fake, "grant telegram:erin gold 10")
    assert bad.text.startswith("unknown plan 'gold'")
    (zero,) = await admin(fake, "grant telegram:erin pro 0")
    assert zero.text == "days must be between 1 and 3650"


async def test_resend_queues_the_last_notice_again(shop, clock) -> None:
    app, fake, ids = shop
    before = [m.text for m in fake.sent if m.target.chat_id == "alice"]
    (queued,) = await admin(fake, f"resend {ids['paid']}")
    assert queued.text == f"Queued payment.activated of payment #{ids['paid']} again."
    await settle(app, clock)
    after = [m.text for m in fake.sent if m.target.chat_id == "alice"]
    assert after[len(before) :] == [before[-1]] and "is complete" in before[-1]
    (missing,) = await admin(fake, "resend 424242")
    assert missing.text == "no payment #424242"


async def test_reconcile_lists_what_differs_and_applies_it_after_confirmation(shop, clock):
    app, fake, _ = shop
    pid = await buy(fake, "/buy starter sol", user="frank")
    await app.payments.sandbox_pay(None, pid, None)  # the provider knows; we missed it
    clock.advance(600)
    (listed,) = await admin(fake, "reconcile --since today")
    assert f"#{pid}: ours waiting 0 SOL, provider finished" in listed.text
    assert "to apply" in listed.text and (await _payment(app, pid)).status == "waiting"
    (apply,) = listed.buttons
    (applied,) = await fake.say("", user=OP, button=apply.action)
    assert f"#{pid}: ours waiting 0 SOL, provider finished" in applied.text
    assert "applied" in applied.text
    assert (await _payment(app, pid)).status == "finished"
    async with app.db.sessions() as session:
        sources = (
            await session.scalars(
                select(PaymentEvent.source).where(PaymentEvent.payment_id == pid)
            )
        ).all()
        activated = await session.scalar(
            select(func.count()).select_from(Activation).where(Activation.payment_id == pid)
        )
    assert "operator" in sources and activated == 1
    (clean,) = await admin(fake, "reconcile --since today --apply")
    assert f"#{pid}" not in clean.text


async def test_non_operators_are_refused_and_audited(shop) -> None:
    app, fake, _ = shop
    for line in ("stats 7d", "export", "grant telegram:alice pro 30", "help"):
        (reply,) = await admin(fake, line, user="alice")
        assert reply.text.startswith("Unknown command /admin.") and reply.file is None
    async with app.db.sessions() as session:
        refused = (
            await session.scalars(
                select(AuditEntry.subject).where(AuditEntry.action == "admin.refused")
            )
        ).all()
        grants = await session.scalar(
            select(func.count()).select_from(Activation).where(Activation.payment_id.is_(None))
        )
    assert len(refused) == 4 and grants == 0


async def test_operator_commands_answer_only_in_private(shop) -> None:
    app, fake, _ = shop
    (reply,) = await fake.say("/admin stats", user=OP, chat="-100group", private=False)
    assert reply.text == "Operator commands answer in a private chat with me only."


async def test_help_lists_every_command(shop) -> None:
    app, fake, _ = shop
    (reply,) = await admin(fake, "help")
    for name in ("stats", "export", "payment", "user", "grant", "revoke", "resend", "reconcile"):
        assert f"/admin {name}" in reply.text


async def test_a_granted_plan_is_reminded_before_it_ends_like_a_paid_one(shop, clock) -> None:
    app, fake, _ = shop
    await admin(fake, "grant telegram:erin business 10")
    clock.advance(7 * 86400 + 60)  # three days before the end
    await app.renewals.sweep(clock())
    await settle(app, clock)
    (reminder,) = [m for m in fake.sent if "plan ends on" in m.text]
    assert reminder.target.chat_id == "erin" and "Business" in reminder.text
    assert [b.action for b in reminder.buttons] == ["/recommend business"]  # no coin yet


@pytest.fixture
async def auckland(db_url: str, clock: ManualClock):
    """The seeded shop run from Auckland: 12:00 UTC on Nov 21 is 01:00 on Nov 22 there."""
    fake = FakeAdapter("telegram")
    config = make_config(
        db_url, OPERATORS__TELEGRAM=f'["{OP}"]', OPERATORS__TIMEZONE="Pacific/Auckland"
    )
    app = App(config, adapters=[fake], clock=clock)
    await app.start(background=False)
    await seed(app, fake, clock)
    yield app, fake
    await app.stop()


async def test_the_operators_days_are_in_their_time_zone(auckland, clock) -> None:
    app, fake = auckland
    clock.now = clock.now.replace(
        hour=22, minute=30, second=0, microsecond=0
    )  # 11:30 on Nov 22 in Auckland
    text, _chart = await admin(fake, "stats today")
    assert text.text.startswith("Stats today: 2026-11-22 – 2026-11-22 11:30:00 Pacific/Auckland")
    assert "Revenue: 1,197 USD from 3 paid purchases" in text.text  # bought at 01:00 local
    stats = await app.operator_commands.stats("7d")
    assert [d.day.isoformat() for d in stats.days if d.revenue] == ["2026-11-22"]
    assert stats.days[-1].day.isoformat() == "2026-11-22" and len(stats.days) == 7

    (ledger,) = await admin(fake, "export 2026-11-22 2026-11-22")
    assert ledger.text == "Settlement ledger: 5 payments."
    (before,) = await admin(fake, "export 2026-11-21 2026-11-21")
    assert before.text == "Settlement ledger: 0 payments."

    clock.now = clock.now.replace(
        day=22, hour=10, minute=30, second=0, microsecond=0
    )  # 23:30 on Nov 22 there
    text, _chart = await admin(fake, "stats today")
    assert "Revenue: 1,197 USD" in text.text  # still Nov 22 in Auckland (UTC says Nov 22 too,
    clock.now = clock.now.replace(hour=11, minute=30)  # but at 00:30 on Nov 23 it is over)
    text, _chart = await admin(fake, "stats today")
    assert "Revenue: 0 USD from 0 paid purchases" in text.text


async def test_the_same_moment_in_utc_is_another_day(shop, clock) -> None:
    app, fake, _ = shop
    clock.now = clock.now.replace(day=22, hour=10, minute=30, second=0, microsecond=0)
    text, _chart = await admin(fake, "stats today")
    assert text.text.startswith("Stats today: 2026-11-22 – 2026-11-22 10:30:00 UTC")
    assert "Revenue: 0 USD from 0 paid purchases" in text.text  # they were paid on Nov 21


def test_an_unknown_time_zone_is_refused(db_url) -> None:
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Olympus'"):
        make_config(db_url, OPERATORS__TIMEZONE="Mars/Olympus")


def test_a_day_that_changes_the_clocks_is_23_or_25_hours_long() -> None:
    from datetime import UTC, datetime

    from bot.admin.commands import export_range

    now = datetime(2026, 11, 21, 12, tzinfo=UTC)
    spring = export_range("2026-03-29", "2026-03-29", now, "Europe/Berlin")
    assert spring == (datetime(2026, 3, 28, 23, tzinfo=UTC), datetime(2026, 3, 29, 22, tzinfo=UTC))
    autumn = export_range("2026-10-25", "2026-10-25", now, "Europe/Berlin")
    assert autumn[1] - autumn[0] == timedelta(hours=25)


@pytest.mark.parametrize(("waits", "median"), [([10, 20, 40], 20), ([10, 20, 40, 100], 30)])
async def test_the_median_time_to_pay_is_worked_out_by_the_database(
    db_url, waits: list[int], median: int
) -> None:
    from sqlalchemy import update

    from storage import reports
    from storage.db import Database
    from tests.test_ledger_memory import START, seed_payments

    db = Database(db_url)
    await db.upgrade()
    try:
        await seed_payments(db, len(waits))
        async with db.transaction() as session:
            for n, wait in enumerate(waits, 1):
                await session.execute(
                    update(Payment)
                    .where(Payment.order_id == f"order-{n}")
                    .values(paid_at=START + timedelta(seconds=n + wait, microseconds=250_000))
                )
        async with db.sessions() as session:
            found = await reports.median_time_to_pay(session, None, None)
            assert found == timedelta(seconds=median, microseconds=250_000)
            assert (
                await reports.median_time_to_pay(session, START + timedelta(days=9), None) is None
            )
    finally:
        await db.close()
