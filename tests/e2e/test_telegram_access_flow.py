"""A paid plan opens a Telegram group, end to end: the whole app (scheduler and relay running)
on python-telegram-bot against the fake Bot API, which keeps the group's members, links and
join requests and refuses as Telegram does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.adapters.telegram import from_config
from bot.app import App
from storage.models import AuditEntry, OutboxItem, Payment
from tests.conftest import ManualClock
from tests.e2e.test_telegram import _calls, telegram_config
from tests.fakes.telegram_server import FakeTelegram
from tests.helpers import count_rows, paybot
from tools.providers.base import ProviderEvent

GROUP = -1001234567890
ANN, BOB, MALLORY = 6101, 6102, 6103


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def shop(db_url, telegram) -> AsyncIterator[tuple[App, ManualClock]]:
    config = telegram_config(
        db_url,
        telegram,
        PLANS__PRO__ACCESS__TELEGRAM_CHATS=f"[{GROUP}]",
        ACCESS__SYNC_SECONDS="1",
    )
    clock = ManualClock()
    app = App(config, adapters=[from_config(config)], clock=clock)
    await app.start(background=False)
    yield app, clock
    await app.stop()


async def settle(app: App, clock: ManualClock) -> None:
    """Sweep, then relay until nothing is waiting (Telegram's 1 message a second per chat is
    paced in real time: deferred rows come back a moment later; retries due later wait)."""
    await app.access_sweeper.sweep(clock())
    for _ in range(40):
        while await app.notifier.drain():
            pass
        soon = clock() + timedelta(seconds=5)
        waiting = await count_rows(
            app, OutboxItem, OutboxItem.status == "pending", OutboxItem.next_attempt_at <= soon
        )
        if not waiting:
            return
        await asyncio.sleep(0.3)
        clock.advance(1)


async def buy_and_pay(app: App, telegram: FakeTelegram, user: int) -> None:
    before = len(_calls(telegram, "sendPhoto", user))
    telegram.push_message(user, "/buy pro sol", user_id=user)
    await telegram.wait_for(lambda f: len(_calls(f, "sendPhoto", user)) > before)
    async with app.db.sessions() as session:
        payment = await session.scalar(select(Payment).order_by(Payment.id.desc()).limit(1))
    await app.events.apply_event(
        ProviderEvent(payment.provider_payment_id, "finished", payment.pay_amount), "ipn"
    )


def link_sent_to(telegram: FakeTelegram, user: int) -> list[str]:
    texts = [r.params.get("text", "") for r in _calls(telegram, "sendMessage", user)]
    return [word for t in texts for word in t.split() if word.startswith("https://t.me/+")]


async def ask_to_join(telegram: FakeTelegram, link: str, user: int) -> None:
    telegram.push_join_request(GROUP, link, user_id=user)
    for _ in range(100):  # the bot answers the request (approve or decline)
        if user not in telegram.groups[GROUP].requests:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the join request was not answered")


async def test_buy_join_stranger_lapse_renew_revoke(shop, telegram) -> None:
    app, clock = shop
    group = telegram.add_group(GROUP)
    await buy_and_pay(app, telegram, ANN)
    await settle(app, clock)
    (link,) = link_sent_to(telegram, ANN)
    assert group.links[link].creates_join_request
    await ask_to_join(telegram, link, ANN)
    assert group.is_in(ANN)
    await ask_to_join(telegram, link, MALLORY)  # the link forwarded to a stranger
    assert not group.is_in(MALLORY)
    # the stranger is told after the decline (on PostgreSQL its chat's slot is booked first)
    told = await telegram.wait_for(lambda f: _calls(f, "sendMessage", MALLORY))
    assert "paid plan" in told[0].params["text"]

    await buy_and_pay(app, telegram, BOB)
    await settle(app, clock)
    (bob_link,) = link_sent_to(telegram, BOB)
    await ask_to_join(telegram, bob_link, BOB)
    clock.advance(30 * 86400 + 12 * 3600)  # both plans over, in the grace period
    await settle(app, clock)
    assert group.is_in(ANN) and group.is_in(BOB)
    await buy_and_pay(app, telegram, BOB)  # Bob renews inside the grace period
    await settle(app, clock)
    clock.advance(13 * 3600)
    await settle(app, clock)
    assert not group.is_in(ANN) and group.status(ANN).status == "left"  # removed, not banned
    assert group.links[link].revoked
    assert group.is_in(BOB) and link_sent_to(telegram, BOB) == [bob_link]

    await app.desk.revoke("admin", f"telegram:{BOB}")
    await settle(app, clock)
    assert not group.is_in(BOB)


async def test_a_bot_without_rights_alerts_then_the_sync_grants(shop, telegram) -> None:
    app, clock = shop
    group = telegram.add_group(GROUP, can_invite_users=False)
    await buy_and_pay(app, telegram, ANN)
    await settle(app, clock)
    assert not link_sent_to(telegram, ANN)
    async with app.db.sessions() as session:
        alert = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "alert.access_refused")
        )
    assert alert is not None and str(GROUP) in alert.detail["fix"]
    group.can_invite_users = True  # the owner fixes the rights
    clock.advance(600)
    await settle(app, clock)
    (link,) = link_sent_to(telegram, ANN)
    await ask_to_join(telegram, link, ANN)
    assert group.is_in(ANN)
    alerts = await count_rows(app, AuditEntry, AuditEntry.action == "alert.access_refused")
    assert alerts == 1


async def test_config_check_names_the_chat_and_what_the_bot_lacks(
    db_url, telegram, tmp_path
) -> None:
    telegram.add_group(GROUP, can_restrict_members=False)
    process = await paybot(
        db_url,
        tmp_path,
        "config",
        "check",
        "--full",
        TELEGRAM__ENABLED="true",
        PROVIDER__ALLOW_SANDBOX_IN_CHATS="true",
        TELEGRAM__BASE_URL=telegram.url,
        TELEGRAM_TOKEN=telegram.token,
        PLANS__PRO__ACCESS__TELEGRAM_CHATS=f"[{GROUP}]",
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0
    assert json.loads(out)["plans"]["pro"]["access"]["telegram_chats"] == [GROUP]
    lines = err.decode().strip().splitlines()
    assert lines == [f"access: Telegram chat {GROUP}: cannot restrict members"]
    assert telegram.token not in err.decode()
