"""One customer across Telegram and Discord: `/link` on one platform, the code on the other.

Both platforms are fake adapters in one app (real adapters, chats and roles kept in memory);
Pro opens a Telegram chat and a Discord role."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from bot.adapters.fake import FakeAdapter
from bot.app import App
from tests.helpers import buy
from tests.test_access import CHAT, access_config, pay, relay

ROLE = "111:222"
ACCESS = f'\n[plans.pro.access]\ntelegram_chats = [{CHAT}]\ndiscord_roles = ["{ROLE}"]\n'


@pytest.fixture
async def shop(db_url, tmp_path, clock) -> AsyncIterator[tuple[App, FakeAdapter, FakeAdapter]]:
    telegram, discord = FakeAdapter("telegram"), FakeAdapter("discord")
    app = App(access_config(db_url, tmp_path, ACCESS), adapters=[telegram, discord], clock=clock)
    await app.start(background=False)
    yield app, telegram, discord
    await app.stop()


async def code_for(fake: FakeAdapter, user: str) -> str:
    text = (await fake.say("/link", user=user))[0].text
    return re.search(r"/link (\w+)", text).group(1)


async def test_a_telegram_purchase_gives_the_discord_role_once_linked(shop, clock) -> None:
    app, telegram, discord = shop
    await pay(app, await buy(telegram, "/buy pro sol", user="alice"))
    await relay(app)
    assert not discord.chats.roles  # no Discord account known yet
    code = await code_for(telegram, "alice")
    discord.chats.members.add(("111", "alice-d"))
    reply = (await discord.say(f"/link {code}", user="alice-d"))[0].text
    assert reply.startswith("Linked")
    await relay(app)
    assert ("111", "alice-d", "222") in discord.chats.roles
    plan = (await discord.say("/plan", user="alice-d"))[0].text
    assert "Your plan: Pro" in plan  # the plan bought on Telegram
    history = (await discord.say("/history", user="alice-d"))[0].text
    assert "#1" in history
    used = (await discord.say(f"/link {code}", user="alice-d"))[0].text
    assert "not valid" in used  # a code is good once
    again = await discord.say(f"/link {await code_for(telegram, 'alice')}", user="alice-d")
    assert "already linked" in again[0].text


async def test_wrong_expired_and_guessed_codes_change_nothing(shop, clock) -> None:
    app, telegram, discord = shop
    await pay(app, await buy(telegram, "/buy pro sol", user="alice"))
    code = await code_for(telegram, "alice")
    assert "not valid" in (await discord.say("/link WRONG123", user="mallory"))[0].text
    assert "other platform" in (await telegram.say(f"/link {code}", user="bob"))[0].text
    clock.advance(11 * 60)
    assert "not valid" in (await discord.say(f"/link {code}", user="mallory"))[0].text
    for _ in range(3):
        await discord.say("/link GUESS000", user="mallory")
    fresh = await code_for(telegram, "alice")
    assert "Too many" in (await discord.say(f"/link {fresh}", user="mallory"))[0].text
    await relay(app)
    assert not discord.chats.roles
    assert "no active plan" in (await discord.say("/plan", user="mallory"))[0].text


async def test_an_account_with_purchases_of_its_own_is_not_linked(shop) -> None:
    app, telegram, discord = shop
    await buy(discord, "/buy starter sol", user="carol-d")
    code = await code_for(telegram, "carol")
    assert "purchases of its own" in (await discord.say(f"/link {code}", user="carol-d"))[0].text


async def test_operators_see_and_undo_a_link(shop) -> None:
    app, telegram, discord = shop
    await pay(app, await buy(telegram, "/buy pro sol", user="alice"))
    discord.chats.members.add(("111", "alice-d"))
    await discord.say(f"/link {await code_for(telegram, 'alice')}", user="alice-d")
    await relay(app)
    user = (await telegram.say("/admin user telegram:alice", user="boss"))[0].text
    assert "Linked accounts: discord:alice-d" in user
    undone = (await telegram.say("/admin unlink discord:alice-d", user="boss"))[0].text
    assert "unlinked" in undone
    await relay(app)
    assert not discord.chats.roles  # what the link opened on Discord is closed
    assert "no active plan" in (await discord.say("/plan", user="alice-d"))[0].text


async def test_an_operator_grant_to_a_linked_account_goes_to_its_customer(shop) -> None:
    app, telegram, discord = shop
    discord.chats.members.add(("111", "alice-d"))
    await telegram.say("/start", user="alice")
    await discord.say(f"/link {await code_for(telegram, 'alice')}", user="alice-d")
    await app.desk.grant("admin", "discord:alice-d", "pro", 10)
    await relay(app)
    assert "Your plan: Pro" in (await telegram.say("/plan", user="alice"))[0].text
    assert ("111", "alice-d", "222") in discord.chats.roles
    assert (await telegram.say("/newlink", user="alice"))[0].text.startswith("A new link")


async def test_a_second_account_on_the_customers_own_platform_is_not_linked(shop) -> None:
    app, telegram, discord = shop
    await telegram.say("/start", user="alice")
    await discord.say(f"/link {await code_for(telegram, 'alice')}", user="alice-d")
    code = await code_for(discord, "alice-d")  # a code asked on Discord: for alice, again
    reply = (await telegram.say(f"/link {code}", user="alice-2"))[0].text
    assert "other platform" in reply
