"""Access: a paid plan opens a Telegram chat (join-request links), and closes it when it ends.

Played on the fake platform named "telegram" (a real adapter whose chats keep the platform's
rules in memory); the Bot API itself is played in the Telegram end-to-end tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.adapters.fake import FakeAdapter
from bot.app import App
from bot.config import load_config
from bot.messages import Incoming
from storage.models import AccessGrant, AccessLogEntry, AuditEntry, OutboxItem, Payment
from tests.conftest import ROOT
from tests.helpers import buy, count_rows
from tools.providers.base import ProviderEvent

CHAT = "-1001234567890"
ACCESS = f"""
[plans.pro.access]
telegram_chats = [{CHAT}]
"""  # with the shipped [access] grace_hours = 24


def access_config(db_url: str, tmp_path: Path, extra: str = ACCESS):
    path = tmp_path / "config.toml"
    path.write_text((ROOT / "config.toml").read_text() + extra)
    environ = {"PAYBOT_DATABASE__URL": db_url, "PAYBOT_OPERATORS__TELEGRAM": '["boss"]'}
    return load_config(path, environ)


@pytest.fixture
async def shop(db_url, tmp_path, clock) -> AsyncIterator[tuple[App, FakeAdapter]]:
    fake = FakeAdapter("telegram")
    app = App(access_config(db_url, tmp_path), adapters=[fake], clock=clock)
    await app.start(background=False)
    yield app, fake
    await app.stop()


@pytest.fixture
async def discord_shop(db_url, tmp_path, clock) -> AsyncIterator[tuple[App, FakeAdapter]]:
    """The same shop on the fake platform named "discord", Pro giving the role 111:222."""
    extra = '\n[plans.pro.access]\ndiscord_roles = ["111:222"]\n'
    fake = FakeAdapter("discord")
    app = App(access_config(db_url, tmp_path, extra), adapters=[fake], clock=clock)
    await app.start(background=False)
    yield app, fake
    await app.stop()


async def pay(app: App, pid: int) -> None:
    async with app.db.sessions() as session:
        p = await session.get(Payment, pid)
    result = await app.events.apply_event(
        ProviderEvent(p.provider_payment_id, "finished", p.pay_amount), "ipn"
    )
    assert result.outcome == "applied"


async def relay(app: App) -> None:
    while await app.notifier.drain():
        pass


async def join(app: App, user: str, chat: str = CHAT) -> None:
    await app.handle(
        Incoming(
            "telegram", chat, user, user, "en", False, event="join_request", private_chat_id=user
        )
    )


async def grants(app: App) -> list[AccessGrant]:
    async with app.db.sessions() as session:
        return list(await session.scalars(select(AccessGrant).order_by(AccessGrant.id)))


async def test_a_paid_plan_sends_a_personal_link_and_lets_only_its_customer_in(shop) -> None:
    app, fake = shop
    await pay(app, await buy(fake, "/buy pro sol", user="alice"))
    await relay(app)
    links = [m.text for m in fake.sent if "t.me/+" in m.text and m.target.chat_id == "alice"]
    assert len(links) == 1
    ((link, (chat, name, revoked)),) = fake.chats.links.items()
    assert link in links[0] and chat == CHAT and not revoked and "#" in name
    await join(app, "alice")
    assert (CHAT, "alice") in fake.chats.members
    await join(app, "mallory")  # the link forwarded to a stranger
    assert (CHAT, "mallory") not in fake.chats.members
    assert (CHAT, "mallory") in fake.chats.declined
    told = [m for m in fake.sent if m.target.chat_id == "mallory"]
    assert told and told[0].buttons[0].action == "/plans"
    await relay(app)  # nothing is sent twice
    assert len([m for m in fake.sent if "t.me/+" in m.text]) == 1


async def test_the_link_speaks_the_customers_language(shop) -> None:
    app, fake = shop
    await fake.say("/language de", user="alice")
    await pay(app, await buy(fake, "/buy pro sol", user="alice"))
    await relay(app)
    (link,) = fake.chats.links
    (text,) = [m.text for m in fake.sent if link in m.text]
    assert text.startswith("Ihr Tarif öffnet einen privaten Chat")


async def test_access_ends_after_the_grace_period_and_a_renewal_inside_it_keeps_it(
    shop, clock
) -> None:
    app, fake = shop
    await pay(app, await buy(fake, "/buy pro sol", user="alice"))
    await pay(app, await buy(fake, "/buy pro sol", user="bob"))
    await relay(app)
    await join(app, "alice")
    await join(app, "bob")
    clock.advance(timedelta(days=30, hours=12).total_seconds())  # both plans ended, in grace
    await app.access_sweeper.sweep(clock())
    await relay(app)
    assert {(CHAT, "alice"), (CHAT, "bob")} <= fake.chats.members
    await pay(app, await buy(fake, "/buy pro sol", user="bob"))  # bob renews in the grace
    await relay(app)
    clock.advance(timedelta(hours=13).total_seconds())
    await app.access_sweeper.sweep(clock())
    await relay(app)
    assert (CHAT, "alice") not in fake.chats.members  # removed, not banned: may buy again
    assert (CHAT, "bob") in fake.chats.members
    revoked = [link for link, (_c, _n, gone) in fake.chats.links.items() if gone]
    assert len(revoked) == 1
    bob_links = [m for m in fake.sent if "t.me/+" in m.text and m.target.chat_id == "bob"]
    assert len(bob_links) == 1  # the renewal changed nothing outside
    await pay(app, await buy(fake, "/buy pro sol", user="alice"))  # a new purchase later
    await relay(app)
    alice_links = [m for m in fake.sent if "t.me/+" in m.text and m.target.chat_id == "alice"]
    assert len(alice_links) == 2 and alice_links[0].text != alice_links[1].text


async def test_a_revoke_removes_at_once(shop) -> None:
    app, fake = shop
    await pay(app, await buy(fake, "/buy pro sol", user="alice"))
    await relay(app)
    await join(app, "alice")
    await app.desk.revoke("admin", "telegram:alice")
    await relay(app)
    assert (CHAT, "alice") not in fake.chats.members
    async with app.db.sessions() as session:
        actions = list(
            await session.scalars(select(AccessLogEntry.action).order_by(AccessLogEntry.id))
        )
    assert actions == ["open", "grant", "approve", "close", "remove"]


async def test_a_bot_without_rights_alerts_once_and_the_fix_is_picked_up(shop, clock) -> None:
    app, fake = shop
    fake.chats.refuse = f"make the bot an administrator of {CHAT} who may invite users"
    await pay(app, await buy(fake, "/buy pro sol", user="alice"))
    for _ in range(3):
        await relay(app)
        clock.advance(301)
    assert not fake.chats.links
    alerts = await count_rows(app, AuditEntry, AuditEntry.action == "alert.access_refused")
    assert alerts == 1
    fake.chats.refuse = None  # the operator fixed the rights
    clock.advance(600)
    await relay(app)
    assert len(fake.chats.links) == 1
    assert [g.last_result.startswith("join link sent") for g in await grants(app)] == [True]


async def test_the_decision_survives_a_crash_before_the_link_goes_out(
    db_url, tmp_path, clock
) -> None:
    config = access_config(db_url, tmp_path)
    first = App(config, adapters=[FakeAdapter("telegram")], clock=clock)
    await first.start(background=False)
    fake = first.adapters["telegram"]
    await pay(first, await buy(fake, "/buy pro sol", user="alice"))
    await first.stop()  # gone before the relay ran (kill -9 leaves the same rows)
    again = FakeAdapter("telegram")
    second = App(config, adapters=[again], clock=clock)
    await second.start(background=False)
    try:
        await relay(second)
        await relay(second)
        assert len([m for m in again.sent if "t.me/+" in m.text]) == 1
        rows = await count_rows(
            second, OutboxItem, OutboxItem.kind == "access.open", OutboxItem.status == "sent"
        )
        assert rows == 1
    finally:
        await second.stop()


def test_roles_must_name_a_guild_and_a_role(tmp_path) -> None:
    from bot.config import ConfigError

    extra = '\n[plans.pro.access]\ndiscord_roles = ["123"]\n'
    with pytest.raises(ConfigError, match="guild id"):
        access_config("sqlite+aiosqlite:///x.db", tmp_path, extra)


async def test_plan_shows_the_link_until_it_is_used(shop) -> None:
    app, fake = shop
    await pay(app, await buy(fake, "/buy pro sol", user="alice"))
    await relay(app)
    (link,) = fake.chats.links
    shown = (await fake.say("/plan", user="alice"))[0].text
    assert link in shown
    await join(app, "alice")
    shown = (await fake.say("/plan", user="alice"))[0].text
    assert link not in shown and "you are in" in shown
    await fake.say("/language de", user="alice")
    assert "Sie sind drin" in (await fake.say("/plan", user="alice"))[0].text


async def test_operators_see_every_grant_and_change(shop) -> None:
    app, fake = shop
    await pay(app, await buy(fake, "/buy pro sol", user="alice"))
    await relay(app)
    await join(app, "alice")
    text = (await fake.say("/admin access telegram:alice", user="boss"))[0].text
    assert f"telegram_chat {CHAT}: open" in text
    for change in ("open payment:", "grant outbox: join link sent", "approve join request"):
        assert change in text, text
    user = (await fake.say("/admin user telegram:alice", user="boss"))[0].text
    assert f"telegram_chat {CHAT}: open" in user


async def test_the_sync_repairs_what_changed_behind_our_back(discord_shop, clock) -> None:
    app, fake = discord_shop
    fake.chats.members.add(("111", "alice"))
    await pay(app, await buy(fake, "/buy pro sol", user="alice"))
    await relay(app)
    assert ("111", "alice", "222") in fake.chats.roles
    fake.chats.roles.clear()  # a moderator took the role away
    assert await app.access_sync.sync(clock()) == 1
    assert ("111", "alice", "222") in fake.chats.roles
    assert await app.access_sync.sync(clock()) == 0  # nothing more to repair


async def test_the_sync_removes_a_former_member_still_in_the_chat(shop, clock) -> None:
    app, fake = shop
    await pay(app, await buy(fake, "/buy pro sol", user="alice"))
    await relay(app)
    await join(app, "alice")
    await app.desk.revoke("admin", "telegram:alice")
    await relay(app)
    fake.chats.members.add((CHAT, "alice"))  # let back in by hand
    assert await app.access_sync.sync(clock()) == 1
    assert (CHAT, "alice") not in fake.chats.members


async def test_a_stranger_in_the_guild_waits_for_the_role_until_they_join(
    discord_shop,
) -> None:
    app, fake = discord_shop
    await pay(app, await buy(fake, "/buy pro sol", user="alice"))
    await relay(app)
    invites = [m.text for m in fake.sent if "discord.gg/" in m.text]
    assert len(invites) == 1 and not fake.chats.roles
    fake.chats.members.add(("111", "alice"))  # they joined with the invite
    await app.handle(Incoming("discord", "111", "alice", event="member_join"))
    assert ("111", "alice", "222") in fake.chats.roles


async def test_a_customer_may_ask_for_a_new_link_now_and_then(shop, clock) -> None:
    app, fake = shop
    assert "no private chat" in (await fake.say("/newlink", user="alice"))[0].text
    await pay(app, await buy(fake, "/buy pro sol", user="alice"))
    await relay(app)
    (first,) = fake.chats.links
    assert "on its way" in (await fake.say("/newlink", user="alice"))[0].text
    await relay(app)
    assert fake.chats.links[first][2]  # the old link is revoked
    (second,) = [link for link, (_c, _n, gone) in fake.chats.links.items() if not gone]
    assert any(second in m.text for m in fake.sent if m.target.chat_id == "alice")
    assert "few minutes ago" in (await fake.say("/newlink", user="alice"))[0].text
    await relay(app)
    assert len(fake.chats.links) == 2  # asked too soon: nothing new
    clock.advance(11 * 60)
    await fake.say("/language fr", user="alice")
    assert "nouveau lien" in (await fake.say("/newlink", user="alice"))[0].text
    await relay(app)
    assert len(fake.chats.links) == 3
    await join(app, "alice")
    assert (CHAT, "alice") in fake.chats.members


async def test_a_role_owed_is_given_when_the_customer_next_speaks(discord_shop) -> None:
    app, fake = discord_shop
    await pay(app, await buy(fake, "/buy pro sol", user="alice"))
    await relay(app)
    assert not fake.chats.roles  # not in the guild: an invite was sent instead
    fake.chats.members.add(("111", "alice"))  # joined; no member event (no intent)
    await fake.say("/plan", user="alice")
    assert ("111", "alice", "222") in fake.chats.roles


async def test_a_chat_no_plan_opens_any_more_is_closed(db_url, tmp_path, clock) -> None:
    fake = FakeAdapter("telegram")
    app = App(access_config(db_url, tmp_path), adapters=[fake], clock=clock)
    await app.start(background=False)
    try:
        await pay(app, await buy(fake, "/buy pro sol", user="alice"))
        await relay(app)
        await join(app, "alice")
    finally:
        await app.stop()
    fake = FakeAdapter("telegram")  # restarted with the chat taken out of Pro's access
    other = "\n[plans.pro.access]\ntelegram_chats = [-1009]\n"
    app = App(access_config(db_url, tmp_path, other), adapters=[fake], clock=clock)
    await app.start(background=False)
    try:
        await app.desk.grant("admin", "telegram:alice", "pro", 1)
        closed = [g for g in await grants(app) if g.ref == CHAT]
        assert [g.status for g in closed] == ["closed"]
    finally:
        await app.stop()
