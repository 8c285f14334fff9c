"""Operator alerts end to end: each reaches every configured operator once, with an audit row.

Customers talk on the `fake` platform; the operators are `console:admin`, `telegram:1001` and
`telegram:1002`, each platform played by its own fake adapter, so an alert is seen arriving.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, select

from bot.adapters.base import DeliveryError
from bot.adapters.fake import FakeAdapter
from bot.app import App
from bot.config import ConfigError, load_config
from storage.models import AuditEntry, OutboxItem, Payment
from tests.conftest import ROOT, ManualClock, free_port, make_config, nowpayments_config
from tests.helpers import buy, settle
from tools.errors import ProviderError

OPERATORS = {"OPERATORS__CONSOLE": '["admin"]', "OPERATORS__TELEGRAM": '["1001", "1002"]'}
EVERY_OPERATOR = [("console", "admin"), ("telegram", "1001"), ("telegram", "1002")]


@pytest.fixture
def ops() -> dict[str, FakeAdapter]:
    """The operators' platforms."""
    return {"console": FakeAdapter("console"), "telegram": FakeAdapter("telegram")}


@pytest.fixture
async def shop(db_url: str, fake: FakeAdapter, ops, clock: ManualClock) -> AsyncIterator[App]:
    """The sandbox shop with three operators on two platforms."""
    app = App(make_config(db_url, **OPERATORS), adapters=[fake, *ops.values()], clock=clock)
    await app.start(background=False)
    yield app
    await app.stop()


@pytest.fixture
async def np_shop(db_url, nowpayments, fake, ops, clock) -> AsyncIterator[App]:
    """The shop selling through the fake NOWPayments, its webhook server on a local port."""
    config = nowpayments_config(db_url, nowpayments.url, free_port(), **OPERATORS)
    app = App(config, adapters=[fake, *ops.values()], clock=clock)
    await app.start(background=False)
    await app.webhooks.start()
    yield app
    await app.stop()


async def _count(app: App, model, *where) -> int:
    async with app.db.sessions() as session:
        query = select(func.count()).select_from(model).where(*where)
        return (await session.execute(query)).scalar_one()


async def _relay(app: App) -> None:
    while await app.notifier.drain():
        pass
    await app.notifier.edits_done()


def _received(ops: dict[str, FakeAdapter], kind_text: str) -> dict[tuple[str, str], list[str]]:
    """Operator messages containing `kind_text`, per operator chat."""
    got: dict[tuple[str, str], list[str]] = {}
    for adapter in ops.values():
        for message in adapter.sent:
            if message.text.startswith("[operator]") and kind_text in message.text:
                got.setdefault((adapter.platform, message.target.chat_id), []).append(message.text)
    return got


async def assert_alerted(app: App, ops, kind: str, text: str, times: int = 1) -> str:
    """`kind` was raised `times` times: one audit row and one delivered message per operator
    each time; returns the text the operators read."""
    await _relay(app)
    async with app.db.sessions() as session:
        rows = (await session.scalars(select(OutboxItem).where(OutboxItem.kind == kind))).all()
    assert sorted((r.chat_platform, r.chat_id) for r in rows) == sorted(EVERY_OPERATOR * times)
    assert {r.status for r in rows} == {"sent"}
    assert await _count(app, AuditEntry, AuditEntry.action == kind) == times
    received = _received(ops, text)
    assert sorted(received) == sorted(EVERY_OPERATOR), received
    assert all(len(texts) == times for texts in received.values()), received
    return received[EVERY_OPERATOR[0]][-1]


async def assert_not_alerted(app: App, kind: str) -> None:
    assert await _count(app, OutboxItem, OutboxItem.kind == kind) == 0
    assert await _count(app, AuditEntry, AuditEntry.action == kind) == 0


async def _payment(app: App, pid: int) -> Payment:
    async with app.db.sessions() as session:
        return await session.get(Payment, pid)


async def _customer_kinds(app: App, pid: int) -> list[str]:
    async with app.db.sessions() as session:
        query = (
            select(OutboxItem.kind)
            .where(OutboxItem.dedupe_key.like(f"payment:{pid}:%"))
            .order_by(OutboxItem.id)
        )
        return list((await session.scalars(query)).all())


# --- the alert writer --------------------------------------------------------------------


async def test_an_alert_reaches_every_operator_once_and_is_audited_once(shop, ops) -> None:
    paid = Decimal("1.500000000000000000000000000001000")  # exact beyond 28 digits
    alert = {"payment_id": 7, "paid": paid, "coin": "sol"}
    assert await shop.alerts.raise_alert("late:7", "alert.late", **alert)
    assert not await shop.alerts.raise_alert("late:7", "alert.late", **alert)
    text = await assert_alerted(shop, ops, "alert.late", "late payment #7")
    assert text == (
        "[operator] late payment #7: 1.500000000000000000000000000001 SOL arrived after the "
        "deadline"
    )
    async with shop.db.sessions() as session:
        audit = (await session.scalars(select(AuditEntry))).one()
    assert (audit.actor, audit.subject) == ("system", "late:7")
    assert audit.detail["paid"] == "1.500000000000000000000000000001"


async def test_without_operators_the_audit_log_alone_dedupes(db_url, fake, clock) -> None:
    config = make_config(db_url, OPERATORS__CONSOLE="[]")
    app = App(config, adapters=[fake], clock=clock)
    await app.start(background=False)
    try:
        assert await app.alerts.raise_alert("k:1", "alert.unfinished", payment_id=1)
        assert not await app.alerts.raise_alert("k:1", "alert.unfinished", payment_id=1)
        assert await _count(app, AuditEntry, AuditEntry.action == "alert.unfinished") == 1
        assert await _count(app, OutboxItem) == 0
    finally:
        await app.stop()


# --- partial payment expired -------------------------------------------------------------


async def test_a_partial_payment_reaching_its_deadline_is_reported_once(
    shop, fake, ops, clock
) -> None:
    pid = await buy(fake, "/buy pro usdttrc20")
    await fake.say(f"/pay {pid} 100")
    await settle(shop, clock, seconds=10)
    payment = await _payment(shop, pid)
    assert payment.status == "partially_paid"
    assert payment.next_check_at == payment.expires_at  # looked at again at the deadline
    await settle(shop, clock, seconds=880, step=20)  # just before the deadline
    await assert_not_alerted(shop, "alert.partial_expired")

    await settle(shop, clock, seconds=30, step=5)  # the deadline passes, the sweeper goes on
    text = await assert_alerted(shop, ops, "alert.partial_expired", f"payment #{pid}")
    assert text == (
        f"[operator] payment #{pid} expired partially paid: 100 of 299 USDT received; the "
        "customer can still top up until 2026-11-22 12:15:00 UTC"
    )
    payment = await _payment(shop, pid)
    assert payment.status == "partially_paid"
    assert payment.next_check_at == payment.expires_at + timedelta(hours=24)
    # the customer hears what happened (no warning, no "expired"; see tests/test_countdown.py)
    assert await _customer_kinds(shop, pid) == [
        "payment.confirming",
        "payment.partial",
        "payment.partial_expired",
    ]

    # a top-up still counts after the deadline; a second partial amount alerts no one again
    await fake.say(f"/pay {pid} 50")
    await settle(shop, clock, seconds=10)
    assert (await _payment(shop, pid)).actually_paid == Decimal(150)
    await assert_alerted(shop, ops, "alert.partial_expired", f"payment #{pid}")

    # the end of the monitoring window is still reported as before
    clock.now = payment.expires_at + timedelta(hours=24)
    await settle(shop, clock)
    await assert_alerted(shop, ops, "alert.unfinished", f"payment #{pid} left its monitoring")
    assert (await _payment(shop, pid)).next_check_at is None


async def test_money_arriving_partially_after_the_deadline_is_reported_at_once(
    shop, fake, ops, clock
) -> None:
    pid = await buy(fake, "/buy pro usdttrc20")
    await settle(shop, clock, seconds=901, step=60)
    assert (await _payment(shop, pid)).status == "expired"
    await fake.say(f"/pay {pid} 10")
    await settle(shop, clock, seconds=6)
    assert (await _payment(shop, pid)).status == "partially_paid"
    text = await assert_alerted(shop, ops, "alert.partial_expired", f"payment #{pid}")
    assert "10 of 299 USDT received" in text


async def test_a_completed_payment_raises_no_partial_alert(shop, fake, ops, clock) -> None:
    pid = await buy(fake, "/buy pro usdttrc20")
    await fake.say(f"/pay {pid} 100")
    await settle(shop, clock, seconds=10)
    await fake.say(f"/pay {pid}")  # the rest, before the deadline
    await settle(shop, clock, seconds=1000, step=50)
    assert (await _payment(shop, pid)).status == "finished"
    await assert_not_alerted(shop, "alert.partial_expired")


# --- a notification gone dead ------------------------------------------------------------


async def test_a_dead_notification_is_reported_once(shop, fake, ops, clock) -> None:
    pid = await buy(fake, "/buy pro sol")
    await fake.say(f"/pay {pid}")
    fake.fail_next(DeliveryError("Forbidden: bot was blocked by the user", permanent=True))
    await settle(shop, clock)  # the "we see your money" notice cannot be delivered
    async with shop.db.sessions() as session:
        dead = (await session.scalars(select(OutboxItem).where(OutboxItem.status == "dead"))).one()
    assert dead.kind == "payment.confirming"
    text = await assert_alerted(shop, ops, "alert.dead_notice", "was given up")
    assert text == (
        f"[operator] a payment.confirming notification to fake:alice about payment #{pid} was "
        "given up: Forbidden: bot was blocked by the user"
    )
    await settle(shop, clock, seconds=3600, step=600)  # nothing retries it, nothing repeats
    await assert_alerted(shop, ops, "alert.dead_notice", "was given up")


async def test_a_dead_operator_alert_is_only_logged(shop, fake, ops, clock, caplog) -> None:
    ops["console"].fail_next(DeliveryError("console gone", permanent=True))
    await shop.alerts.raise_alert("overpaid:9", "alert.overpaid", payment_id=9, surplus="2")
    with caplog.at_level(logging.ERROR, logger="bot.notifier"):
        await _relay(shop)
    async with shop.db.sessions() as session:
        statuses = dict(
            (await session.execute(select(OutboxItem.chat_id, OutboxItem.status))).all()
        )
    assert statuses == {"admin": "dead", "1001": "sent", "1002": "sent"}
    await assert_not_alerted(shop, "alert.dead_notice")
    assert "operator alert alert.overpaid to console:admin could not be delivered" in caplog.text


# --- a burst of rejected IPN signatures --------------------------------------------------


async def _post_bad(app: App, http: httpx.AsyncClient, n: int) -> list[int]:
    url = f"http://127.0.0.1:{app.webhooks.bound_port}/webhooks/nowpayments"
    body = b'{"payment_id": 5077125051, "payment_status": "finished", "actually_paid": 1}'
    answers = []
    for i in range(n):
        headers = {"content-type": "application/json"}
        if i % 2:  # every other one has no signature at all
            headers["x-nowpayments-sig"] = "ab" * 64
        answers.append((await http.post(url, content=body, headers=headers)).status_code)
    return answers


async def test_a_burst_of_bad_signatures_is_reported_once_per_window(np_shop, ops, clock) -> None:
    async with httpx.AsyncClient() as http:
        assert await _post_bad(np_shop, http, 9) == [401] * 9
        clock.advance(61)  # those slide out of the window
        assert await _post_bad(np_shop, http, 9) == [401] * 9
        url = f"http://127.0.0.1:{np_shop.webhooks.bound_port}/webhooks/nowpayments"
        well_formed = {"x-nowpayments-sig": "0" * 128}
        answer = await http.post(url, content=b"not json", headers=well_formed)
        assert answer.status_code == 400  # not a signature problem: not counted
        await assert_not_alerted(np_shop, "alert.bad_signatures")

        assert await _post_bad(np_shop, http, 1) == [401]  # the tenth within 60 s
        text = await assert_alerted(np_shop, ops, "alert.bad_signatures", "bad signature")
        assert text == (
            "[operator] 10 nowpayments webhooks with a missing or bad signature in 60 s, the "
            "last from 127.0.0.1; check the IPN secret, or someone is probing"
        )
        clock.advance(30)
        assert await _post_bad(np_shop, http, 20) == [401] * 20  # same window: no second
        await assert_alerted(np_shop, ops, "alert.bad_signatures", "bad signature")

        clock.advance(31)  # a new window, still under attack: one more
        assert await _post_bad(np_shop, http, 1) == [401]
        await assert_alerted(np_shop, ops, "alert.bad_signatures", "bad signature", times=2)


# --- the provider unreachable ------------------------------------------------------------


async def test_provider_down_then_up_is_reported_once_each(
    np_shop, nowpayments, fake, ops, clock
) -> None:
    pid = await buy(fake, "/buy pro btc")
    started = clock()
    nowpayments.fail_next = [503] * 10_000  # every request from now on
    clock.advance(301)
    report = await np_shop.reconciler.poll(clock())  # the poller's read fails: down since now
    assert (report.read, report.failed) == (1, 1)
    clock.advance(60)
    reply = await fake.say("/buy pro eth")
    assert "not reachable right now" in reply[0].text
    await assert_not_alerted(np_shop, "alert.provider_down")

    clock.advance(60)  # two minutes of failures
    await fake.say("/buy pro ltc")
    text = await assert_alerted(np_shop, ops, "alert.provider_down", "unreachable since")
    assert text.startswith(
        "[operator] the payment provider nowpayments has been unreachable since "
        "2026-11-21 12:05:01 UTC; last error: "
    )
    assert text.endswith("last error: create_payment: HTTP 503")  # the cause, not a shrug
    clock.advance(30)
    await fake.say("/buy pro sol")  # still down: no second alert
    await assert_alerted(np_shop, ops, "alert.provider_down", "unreachable since")
    await assert_not_alerted(np_shop, "alert.provider_up")

    nowpayments.fail_next.clear()  # healed
    clock.advance(10)
    reply = await fake.say("/buy pro eth")
    assert "Payment #" in reply[0].text
    text = await assert_alerted(np_shop, ops, "alert.provider_up", "answers again")
    assert text == (
        "[operator] the payment provider nowpayments answers again (unreachable since "
        "2026-11-21 12:05:01 UTC, 160 s)"
    )
    clock.now = started + timedelta(seconds=1000)
    await np_shop.reconciler.poll(clock())  # more answers: nothing new
    await fake.say("/status")
    await assert_alerted(np_shop, ops, "alert.provider_up", "answers again")
    assert (await _payment(np_shop, pid)).status == "waiting"


async def test_reconcile_says_why_the_provider_did_not_answer(np_shop, nowpayments, fake):
    pid = await buy(fake, "/buy pro btc")
    nowpayments.fail_next = [503] * 10
    report = await np_shop.desk.reconcile("console:admin", None)
    assert report.unreadable == [
        (pid, "The payment provider is not reachable. (HTTP 503)"),
    ]


async def test_a_refusal_is_an_answer_and_ends_an_outage(
    np_shop, nowpayments, fake, ops, clock
) -> None:
    await buy(fake, "/buy pro btc")
    nowpayments.fail_next = [503] * 10_000
    clock.advance(100)
    await fake.say("/buy pro eth")  # fails: an outage starts
    nowpayments.fail_next.clear()
    nowpayments.offered.discard("ltc")
    clock.advance(15)
    with pytest.raises(ProviderError) as refused:  # a 400 is a business refusal
        await np_shop.provider.min_amount(np_shop.catalog.coin("ltc"))
    assert refused.value.code == "coin_unavailable"
    nowpayments.fail_next = [503] * 10_000
    clock.advance(100)
    await fake.say("/buy pro sol")  # 215 s after the first failure: a new outage starts
    await assert_not_alerted(np_shop, "alert.provider_down")
    await assert_not_alerted(np_shop, "alert.provider_up")
    clock.advance(120)
    await fake.say("/buy pro sol")  # two minutes of failures since then: an outage
    await assert_alerted(np_shop, ops, "alert.provider_down", "unreachable")


# --- configuration -----------------------------------------------------------------------


def test_alert_settings_have_defaults() -> None:
    alerts = load_config(ROOT / "config.toml", {}).alerts
    assert (alerts.bad_signatures, alerts.bad_signature_window_seconds) == (10, 60)
    assert alerts.provider_down_seconds == 120


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("BAD_SIGNATURES", "0", "config error: alerts.bad_signatures: Input should be greater"),
        ("BAD_SIGNATURE_WINDOW_SECONDS", "-60", "alerts.bad_signature_window_seconds"),
        ("PROVIDER_DOWN_SECONDS", "soon", "alerts.provider_down_seconds"),
        ("PROVIDER_DOWN_SECOND", "120", "config error: alerts.provider_down_second: unknown key"),
    ],
)
def test_bad_alert_settings_name_the_key(key: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(ROOT / "config.toml", {f"PAYBOT_ALERTS__{key}": value})
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_alerts_go_to_the_platforms_the_shop_serves(db_url) -> None:
    """A console operator is alerted in the laptop shop (or while a console runs), not in a
    Telegram shop, where their alerts would wait forever for a console."""
    from bot.app import served_platforms

    laptop = make_config(db_url)
    assert served_platforms(laptop, []) == {"console"}
    assert served_platforms(laptop, ["fake"]) == {"console", "fake"}
    telegram = make_config(
        db_url,
        TELEGRAM__ENABLED="true",
        TELEGRAM_TOKEN="1:x",
        PROVIDER__ALLOW_SANDBOX_IN_CHATS="true",
    )
    assert served_platforms(telegram, []) == {"telegram"}  # `paybot admin` on that server
    assert served_platforms(telegram, ["telegram", "console"]) == {"telegram", "console"}
