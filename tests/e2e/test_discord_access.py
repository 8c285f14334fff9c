"""What a paid plan opens on Discord (issue 15): the adapter's role, member and invite calls and
member joins, through the real discord.py client against the fake Discord, which refuses what
Discord refuses (Manage Roles, the role hierarchy, Create Invite, unknown servers, members and
roles) and answers late, garbled or not at all when told to."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import discord
import pytest
from sqlalchemy import select

from bot.adapters.base import AccessRefused, DeliveryError, NotAMember, RateLimited
from bot.adapters.discord import DiscordAdapter, from_config
from bot.app import App
from bot.messages import Incoming
from storage.models import User
from tests.e2e.test_discord import GUILD, USER, discord_config
from tests.fakes.discord_server import (
    CREATE_INSTANT_INVITE,
    MANAGE_ROLES,
    VIEW_CHANNEL,
    FakeDiscord,
)
from tools.clock import system_clock

OTHER = USER + 7  # a user who is not in the server
SHOP = f"Shop ({GUILD})"


@pytest.fixture
async def fake(monkeypatch) -> AsyncIterator[FakeDiscord]:
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)  # restored after
    server = FakeDiscord()
    await server.start()
    server.add_guild(GUILD, "Shop")  # before the start: the gateway introduces it
    server.edit_role(GUILD, server.bot_role(GUILD), position=5)
    server.add_member(GUILD, USER, "alice")
    yield server
    await server.stop()


@asynccontextmanager
async def started(
    fake: FakeDiscord, tmp_path: Path, handler=None, **overrides: str
) -> AsyncIterator[DiscordAdapter]:
    """The adapter as `paybot run` makes it, started with `handler` (default: ignore all)."""
    config = discord_config(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}", fake, **overrides)
    adapter = from_config(config)

    async def ignore(incoming, reply=None) -> None:
        return None

    try:
        await adapter.start(handler or ignore)
        for connection in adapter.connections():  # no other worker: this one runs them
            await connection.open()
        yield adapter
    finally:
        await adapter.stop()


def no_token(error: Exception, fake: FakeDiscord) -> Exception:
    assert fake.token not in str(error) and fake.token not in getattr(error, "fix", "")
    return error


async def test_a_role_is_given_read_and_taken_back(fake, tmp_path):
    vip = fake.create_role(GUILD, "VIP", position=2)
    async with started(fake, tmp_path) as adapter:
        assert await adapter.missing_permissions(str(GUILD), str(vip)) == []
        await adapter.add_role(str(GUILD), str(USER), str(vip))
        assert fake.member_roles(GUILD, USER) == {vip}
        assert await adapter.member_roles(str(GUILD), str(USER)) == {str(vip)}
        await adapter.add_role(str(GUILD), str(USER), str(vip))  # again: still given once
        await adapter.remove_role(str(GUILD), str(USER), str(vip))
        assert fake.member_roles(GUILD, USER) == set()
        assert await adapter.member_roles(str(GUILD), str(USER)) == set()
        await adapter.remove_role(str(GUILD), str(USER), str(vip))  # not there: fine
    assert [c["method"] for c in fake.role_changes] == ["PUT", "PUT", "DELETE", "DELETE"]
    assert {(c["guild_id"], c["user_id"], c["role_id"]) for c in fake.role_changes} == {
        (GUILD, USER, vip)
    }
    assert {c["reason"] for c in fake.role_changes} == {"paybot: subscription"}  # audit log


async def test_someone_not_in_the_server(fake, tmp_path):
    vip = fake.create_role(GUILD, "VIP", position=2)
    async with started(fake, tmp_path) as adapter:
        with pytest.raises(NotAMember) as outside:
            await adapter.add_role(str(GUILD), str(OTHER), str(vip))
        assert not isinstance(outside.value, AccessRefused)
        assert str(outside.value) == f"user {OTHER} is not a member of guild {GUILD}"
        assert await adapter.member_roles(str(GUILD), str(OTHER)) is None

        await adapter.add_role(str(GUILD), str(USER), str(vip))
        fake.remove_member(GUILD, USER)  # left the server: the role went with them
        await adapter.remove_role(str(GUILD), str(USER), str(vip))  # done, not an error
        assert await adapter.member_roles(str(GUILD), str(USER)) is None
    assert [c["method"] for c in fake.role_changes] == ["PUT"]


async def test_missing_rights_are_refused_with_a_fix_until_fixed(fake, tmp_path):
    vip = fake.create_role(GUILD, "VIP", position=7)  # above the bot's role (5)
    bot_role = fake.bot_role(GUILD)
    fake.edit_role(GUILD, bot_role, permissions=VIEW_CHANNEL)  # no Manage Roles
    role = f"VIP ({vip})"
    async with started(fake, tmp_path) as adapter:
        assert await adapter.missing_permissions(str(GUILD), str(vip)) == [
            "no Manage Roles permission",
            "role VIP is not below the bot's highest role",
        ]
        with pytest.raises(AccessRefused) as refused:
            await adapter.add_role(str(GUILD), str(USER), str(vip))
        assert no_token(refused.value, fake).fix == (
            f"give the bot the Manage Roles permission in guild {SHOP} and move its role "
            f"above the role {role}"
        )
        assert "no Manage Roles permission" in str(refused.value)

        fake.edit_role(GUILD, bot_role, permissions=MANAGE_ROLES)  # half fixed
        assert await adapter.missing_permissions(str(GUILD), str(vip)) == [
            "role VIP is not below the bot's highest role"
        ]
        with pytest.raises(AccessRefused) as refused:
            await adapter.add_role(str(GUILD), str(USER), str(vip))
        assert refused.value.fix == f"move the bot's role above the role {role} in guild {SHOP}"

        fake.edit_role(GUILD, vip, position=3)  # fixed
        assert await adapter.missing_permissions(str(GUILD), str(vip)) == []
        await adapter.add_role(str(GUILD), str(USER), str(vip))
        assert fake.member_roles(GUILD, USER) == {vip}

        fake.edit_role(GUILD, bot_role, permissions=VIEW_CHANNEL)  # taking it back is refused
        with pytest.raises(AccessRefused) as refused:
            await adapter.remove_role(str(GUILD), str(USER), str(vip))
        assert refused.value.fix == f"give the bot the Manage Roles permission in guild {SHOP}"
        assert fake.member_roles(GUILD, USER) == {vip}


async def test_unknown_servers_roles_and_ids(fake, tmp_path):
    vip = fake.create_role(GUILD, "VIP", position=2)
    elsewhere = str(GUILD + 99)
    async with started(fake, tmp_path) as adapter:
        assert await adapter.missing_permissions(elsewhere, str(vip)) == ["guild not found"]
        assert await adapter.missing_permissions(str(GUILD), "12345") == ["role not found"]
        assert await adapter.missing_permissions(str(GUILD), str(GUILD)) == ["role not found"]
        assert await adapter.missing_permissions("shop", "vip") == ["guild not found"]
        calls = [
            lambda: adapter.add_role(elsewhere, str(USER), str(vip)),
            lambda: adapter.remove_role(elsewhere, str(USER), str(vip)),
            lambda: adapter.member_roles(elsewhere, str(USER)),
            lambda: adapter.guild_invite(elsewhere),
        ]
        for call in calls:
            with pytest.raises(AccessRefused) as refused:
                await call()
            assert str(refused.value) == "guild not found"
            assert refused.value.fix == (
                f"invite the bot to guild {elsewhere}, or correct the guild id"
            )
        for change, role in (
            (adapter.add_role, "12345"),
            (adapter.remove_role, "12345"),  # must not pass for done
            (adapter.add_role, "VIP"),
        ):
            with pytest.raises(AccessRefused) as refused:
                await change(str(GUILD), str(USER), role)
            assert str(refused.value) == "role not found"
            assert "or correct the role id" in refused.value.fix
        with pytest.raises(DeliveryError) as wrong:
            await adapter.add_role(str(GUILD), "alice", str(vip))
        assert wrong.value.permanent and not isinstance(wrong.value, AccessRefused)
    assert fake.role_changes == []


async def test_discord_failing_is_a_retry_never_a_traceback(fake, tmp_path):
    vip = fake.create_role(GUILD, "VIP", position=2)
    ids = (str(GUILD), str(USER), str(vip))
    roles = rf"/guilds/{GUILD}/members/{USER}/roles/{vip}"
    async with started(fake, tmp_path) as adapter:
        fake.fail_next("PUT", roles, 503)
        with pytest.raises(DeliveryError) as failed:
            await adapter.add_role(*ids)
        assert not failed.value.permanent and not isinstance(failed.value, AccessRefused)
        assert "503" in str(no_token(failed.value, fake))

        fake.fail_next("DELETE", roles, 429, retry_after=60)  # longer than discord.py waits
        with pytest.raises(RateLimited) as limited:
            await adapter.remove_role(*ids)
        assert limited.value.retry_after == 60

        fake.garble_next("GET", rf"/guilds/{GUILD}/members/{USER}", "<html>oops</html>")
        with pytest.raises(DeliveryError) as garbled:
            await adapter.member_roles(str(GUILD), str(USER))
        assert "not valid" in str(garbled.value) and not garbled.value.permanent

        fake.fail_next("GET", rf"/guilds/{GUILD}/members/{USER}", 401)
        with pytest.raises(AccessRefused) as token:
            await adapter.member_roles(str(GUILD), str(USER))
        assert token.value.fix == "check PAYBOT_DISCORD_TOKEN"

        adapter.access.timeout = 0.3
        fake.stall_next("PUT", roles, 2.0)
        with pytest.raises(DeliveryError) as slow:
            await adapter.add_role(*ids)
        assert str(slow.value) == "Discord did not answer within 0.3 s"
        adapter.access.timeout = 20.0

        await fake.stop()  # Discord cannot be reached at all
        with pytest.raises(DeliveryError) as unreachable:
            await adapter.add_role(*ids)
        assert not unreachable.value.permanent
        assert "ClientConnectorError" in str(no_token(unreachable.value, fake))


async def test_a_single_use_invite_where_the_bot_may_invite(fake, tmp_path):
    fake.add_channel(GUILD, "voice", kind=2)
    rules = fake.add_channel(GUILD, "rules", position=0)
    welcome = fake.add_channel(GUILD, "welcome", position=1, system=True)
    async with started(fake, tmp_path) as adapter:
        url = await adapter.guild_invite(str(GUILD))
        invite = fake.invites[-1]
        assert url == f"https://discord.gg/{invite['code']}"
        assert int(invite["channel"]["id"]) == welcome  # the system channel comes first
        asked = fake.invite_requests[-1]
        assert (asked["max_uses"], asked["max_age"], asked["unique"]) == (1, 604800, True)
        assert asked["reason"] == "paybot: invite for a paying customer"

        deny = {"id": fake.bot_role(GUILD), "deny": CREATE_INSTANT_INVITE}
        fake.channels[welcome]["permission_overwrites"] = [
            {"id": str(deny["id"]), "type": 0, "allow": "0", "deny": str(deny["deny"])}
        ]
        second = await adapter.guild_invite(str(GUILD))
        assert second != url and int(fake.invites[-1]["channel"]["id"]) == rules

        fake.edit_role(GUILD, GUILD, permissions=VIEW_CHANNEL)  # @everyone may not invite
        fake.edit_role(GUILD, fake.bot_role(GUILD), permissions=MANAGE_ROLES | VIEW_CHANNEL)
        with pytest.raises(AccessRefused) as refused:
            await adapter.guild_invite(str(GUILD))
        assert no_token(refused.value, fake).fix == (
            f"give the bot the Create Invite permission in a text channel of guild {SHOP}"
        )
        assert len(fake.invites) == 2

        fake.fail_next("POST", rf"/channels/{rules}/invites", 403, code=50013)  # a race
        fake.edit_role(GUILD, fake.bot_role(GUILD), permissions=CREATE_INSTANT_INVITE | 1024)
        with pytest.raises(AccessRefused) as refused:
            await adapter.guild_invite(str(GUILD))
        assert refused.value.fix.startswith("give the bot the Create Invite permission")
        assert re.fullmatch(r"https://discord\.gg/\w+", await adapter.guild_invite(str(GUILD)))


async def test_joins_reach_the_handler_only_with_the_members_intent(fake, tmp_path):
    for members in (True, False):
        seen: asyncio.Queue[Incoming] = asyncio.Queue()

        intent = "true" if members else "false"
        async with started(fake, tmp_path, seen.put, DISCORD__MEMBERS_INTENT=intent) as adapter:
            assert bool(fake.identify["intents"] & (1 << 1)) is members
            newcomer = OTHER + int(members)
            fake.user_payload(fake.bot_id + 1, "otherbot")
            fake.users[fake.bot_id + 1]["bot"] = True
            await fake.join(GUILD, fake.bot_id + 1)  # another bot: not a customer
            await fake.join(GUILD, newcomer, "carol")
            channel = fake.dm_channel_for(USER)  # a DM after the joins, as a marker
            await fake.dispatch(
                "MESSAGE_CREATE", fake.message_payload("hi", user_id=USER, channel_id=channel)
            )
            first = await asyncio.wait_for(seen.get(), 5)
            if members:
                assert first == Incoming(
                    platform="discord",
                    chat_id=str(GUILD),
                    user_id=str(newcomer),
                    user_name="Carol",
                    is_private=False,
                    private_chat_id=str(newcomer),
                    event="member_join",
                )
                first = await asyncio.wait_for(seen.get(), 5)
                # joiners are not kept in memory: access is read from Discord when needed
                assert adapter.client.get_guild(GUILD).get_member(newcomer) is None
            assert (first.event, first.text) == (None, "hi")
            assert seen.empty()
        fake.remove_member(GUILD, fake.bot_id + 1)
    assert fake.member_requests == []  # no member lists fetched at start


async def test_a_join_reaches_the_app_and_changes_nothing_yet(db_url, fake, caplog):
    caplog.set_level(logging.WARNING)
    config = discord_config(db_url, fake, DISCORD__MEMBERS_INTENT="true")
    app = App(config, adapters=[from_config(config)], clock=system_clock)
    await app.start()
    try:
        await fake.join(GUILD, OTHER, "carol")
        channel = fake.dm_channel_for(USER)
        await fake.dispatch(
            "MESSAGE_CREATE", fake.message_payload("/plans", user_id=USER, channel_id=channel)
        )
        await fake.wait_for(lambda m: m["via"] == "channel", timeout=10)
        await app.wait_settled("discord", str(OTHER), waiting=True, timeout=5)
        async with app.db.sessions() as session:
            users = (await session.scalars(select(User))).all()
    finally:
        await app.stop()
    assert [m["channel_id"] for m in fake.messages] == [str(channel)]  # the joiner got nothing
    assert [u.platform_user_id for u in users] == [str(USER)]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_the_members_intent_refused_says_how_to_fix_it(fake, tmp_path):
    fake.privileged_allowed = False
    with pytest.raises(ConnectionError) as refused:
        async with started(
            fake, tmp_path, DISCORD__MEMBERS_INTENT="true", DISCORD__MESSAGE_CONTENT="false"
        ):
            pass
    assert str(refused.value) == (
        "Discord: the server members intent is not enabled for this application (developer "
        "portal, Bot, Privileged Gateway Intents); enable it or set [discord] "
        "members_intent = false"
    )
    with pytest.raises(ConnectionError, match="message content and server members intents"):
        async with started(fake, tmp_path, DISCORD__MEMBERS_INTENT="true"):
            pass
