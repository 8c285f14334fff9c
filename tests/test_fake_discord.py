"""The fake Discord, driven by a plain discord.py client (no paybot code): proves that what the
fake answers is what discord.py 2.x can work with, and that it enforces Discord's rules."""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from tests.fakes.discord_server import (
    ADMINISTRATOR,
    CREATE_INSTANT_INVITE,
    MANAGE_ROLES,
    VIEW_CHANNEL,
    FakeDiscord,
)

GUILD = 700000000000000001
ALICE = 600000000000000001
BOB = 600000000000000002


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    server.install(monkeypatch)  # discord.py's REST base and gateway URL, undone after the test
    yield server
    await server.stop()


def make_client(intents: discord.Intents | None = None) -> discord.Client:
    # guild_ready_timeout: don't wait the default 2 s for more GUILD_CREATEs after READY
    return discord.Client(intents=intents or discord.Intents.default(), guild_ready_timeout=0.01)


@asynccontextmanager
async def running(client: discord.Client, fake: FakeDiscord) -> AsyncIterator[discord.Client]:
    """client.start() as a background task, until the client is ready; closed afterwards."""
    task = asyncio.create_task(client.start(fake.token))
    try:
        await fake.wait_ready()
        await asyncio.wait_for(client.wait_until_ready(), 5)
        yield client
    finally:
        await client.close()
        await asyncio.wait_for(task, 5)


class PayButton(discord.ui.DynamicItem[discord.ui.Button], template=r"pay:(?P<plan>\w+)"):
    """A persistent button: discord.py rebuilds it from the custom_id of the pressed button."""

    pressed: list[tuple[str, int]] = []

    def __init__(self, plan: str) -> None:
        super().__init__(discord.ui.Button(label="Pay", custom_id=f"pay:{plan}"))
        self.plan = plan

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any
    ) -> PayButton:
        return cls(match["plan"])

    async def callback(self, interaction: discord.Interaction) -> None:
        PayButton.pressed.append((self.plan, interaction.user.id))
        await interaction.response.edit_message(content=f"paying for {self.plan}", view=None)


class Shop:
    """A client with a command tree: /buy (defer + followup + edit), autocomplete, a slow
    command and a recorder of everything seen."""

    def __init__(self, intents: discord.Intents | None = None) -> None:
        self.client = make_client(intents)
        self.tree = app_commands.CommandTree(self.client)
        self.client.add_dynamic_items(PayButton)
        self.seen: dict[str, Any] = {}
        self.events: asyncio.Queue[Any] = asyncio.Queue()
        PayButton.pressed = []

        @self.tree.command(name="buy", description="Buy a plan")
        @app_commands.describe(plan="The plan", months="How many months")
        async def buy(interaction: discord.Interaction, plan: str, months: int = 1) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            view = discord.ui.View(timeout=None)
            view.add_item(PayButton(plan))
            message = await interaction.followup.send(
                f"{plan} for {months} months",
                embed=discord.Embed(title="Invoice", description="Pay 10 USDT"),
                file=discord.File(io.BytesIO(b"\x89PNG fake qr"), "qr.png"),
                view=view,
                ephemeral=True,
                wait=True,
            )
            edited = await message.edit(content="paid", attachments=[])
            second = await interaction.followup.send("thanks", ephemeral=True, wait=True)
            self.seen.update(interaction=interaction, followup=message, edited=edited)
            self.seen.update(second=second)
            await self.events.put("buy")

        @buy.autocomplete("plan")
        async def plan_choices(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            plans = ["gold", "silver", "bronze"]
            return [app_commands.Choice(name=p, value=p) for p in plans if current in p]

        @self.tree.command(name="slow", description="Answers too late")
        async def slow(interaction: discord.Interaction) -> None:
            await asyncio.sleep(0.3)
            try:
                await interaction.response.send_message("late")
            except discord.HTTPException as exc:
                self.seen["late"] = exc
            await self.events.put("slow")

        @self.tree.error
        async def on_error(
            interaction: discord.Interaction, error: app_commands.AppCommandError
        ) -> None:
            self.seen["error"] = error
            await self.events.put("error")

        @self.client.event
        async def on_message(message: discord.Message) -> None:
            await self.events.put(message)


# ---------------------------------------------------------------------------- login and gateway


async def test_login_identify_and_ready(fake: FakeDiscord) -> None:
    client = make_client(discord.Intents.default() | discord.Intents(message_content=True))
    async with running(client, fake):
        assert client.user is not None and client.user.id == fake.bot_id and client.user.bot
        assert client.application_id == fake.app_id
        assert fake.identify is not None and fake.identify["token"] == fake.token
        assert fake.identify["intents"] == client.intents.value
        assert fake.identify["intents"] & (1 << 15)  # message content asked for and granted
        assert ("GET", "/users/@me") in fake.requests
        assert ("GET", "/oauth2/applications/@me") in fake.requests
        assert client.latency < 1  # the first heartbeat was acknowledged
    assert client.is_closed()


async def test_wrong_token_is_refused(fake: FakeDiscord) -> None:
    client = make_client()
    with pytest.raises(discord.LoginFailure):
        await client.login("not-the-token")
    await client.close()
    assert fake.requests == [("GET", "/users/@me")]


async def test_privileged_intent_refused(fake: FakeDiscord) -> None:
    fake.privileged_allowed = False
    client = make_client(discord.Intents.default() | discord.Intents(message_content=True))
    with pytest.raises(discord.PrivilegedIntentsRequired):
        await asyncio.wait_for(client.start(fake.token), 5)
    await client.close()
    assert fake.identify is None


async def test_session_resumes_after_a_drop(fake: FakeDiscord) -> None:
    shop = Shop()
    async with running(shop.client, fake):
        await fake.close_sessions(4000)
        await fake.wait_for(what="resumes")
        await fake.dispatch("MESSAGE_CREATE", fake.message_payload("back", user_id=ALICE))
        message = await asyncio.wait_for(shop.events.get(), 5)
        assert message.content == "back"
    assert fake.resumes[0]["session_id"] == shop.client.ws.session_id


async def test_zlib_stream_gateway(fake: FakeDiscord) -> None:
    """discord.py picks zstd-stream when zstandard is installed (it is here), so speak
    zlib-stream by hand: one zlib stream, every payload ending in a sync flush."""
    stream = zlib.decompressobj()
    url = f"{fake.gateway_url}?v=10&encoding=json&compress=zlib-stream"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:

        async def receive() -> dict[str, Any]:
            data = await ws.receive_bytes(timeout=5)
            assert data.endswith(b"\x00\x00\xff\xff")
            return json.loads(stream.decompress(data))

        hello = await receive()
        assert (hello["op"], hello["d"]["heartbeat_interval"]) == (10, 41250)
        await ws.send_json({"op": 1, "d": None})
        assert (await receive())["op"] == 11
        await ws.send_json({"op": 2, "d": {"token": fake.token, "intents": 513, "properties": {}}})
        ready = await receive()
        assert (ready["op"], ready["t"], ready["s"]) == (0, "READY", 1)
        assert ready["d"]["user"]["id"] == str(fake.bot_id) and ready["d"]["guilds"] == []
        await fake.dispatch("INTERACTION_CREATE", fake.slash_payload("buy", user_id=ALICE))
        event = await receive()
        assert (event["t"], event["s"], event["d"]["data"]["name"]) == (
            "INTERACTION_CREATE",
            2,
            "buy",
        )
        await ws.send_json({"op": 99})
        closed = await ws.receive(timeout=5)
        assert (closed.type, closed.data) == (aiohttp.WSMsgType.CLOSE, 4001)


async def test_message_create_respects_intents(fake: FakeDiscord) -> None:
    shop = Shop()  # default intents: no message content
    async with running(shop.client, fake):
        dm_channel = fake.dm_channel_for(ALICE)
        assert fake.dm_channel_for(ALICE) == fake.dm_channel_of(ALICE) == dm_channel
        await fake.dispatch("MESSAGE_CREATE", fake.message_payload("hi", user_id=ALICE))
        dm = await asyncio.wait_for(shop.events.get(), 5)
        assert (dm.content, dm.author.id, dm.guild) == ("hi", ALICE, None)
        assert isinstance(dm.channel, discord.DMChannel) and dm.channel.id == dm_channel

        in_guild = fake.message_payload("secret", user_id=BOB, guild_id=GUILD)
        await fake.dispatch("MESSAGE_CREATE", in_guild)
        hidden = await asyncio.wait_for(shop.events.get(), 5)
        assert hidden.content == "" and hidden.author.id == BOB
        assert hidden.guild is not None and hidden.guild.name == "Test server"  # GUILD_CREATE
        assert isinstance(hidden.channel, discord.TextChannel) and hidden.channel.guild.id == GUILD

        mention = fake.message_payload("buy", user_id=BOB, guild_id=GUILD, mention_bot=True)
        await fake.dispatch("MESSAGE_CREATE", mention)
        shown = await asyncio.wait_for(shop.events.get(), 5)
        assert shown.content == f"<@{fake.bot_id}> buy"
        assert shop.client.user in shown.mentions


# ---------------------------------------------------------------------------- app commands


class German(app_commands.Translator):
    async def translate(
        self, string: app_commands.locale_str, locale: discord.Locale, context: Any
    ) -> str | None:
        return f"de-{string.message}" if locale is discord.Locale.german else None


async def test_sync_global_and_guild(fake: FakeDiscord) -> None:
    shop = Shop()
    await shop.tree.set_translator(German())
    async with running(shop.client, fake):
        synced = await shop.tree.sync()
        shop.tree.copy_global_to(guild=discord.Object(GUILD))
        in_guild = await shop.tree.sync(guild=discord.Object(GUILD))
        again = await shop.tree.sync()
        fetched = await shop.tree.fetch_commands(guild=discord.Object(GUILD))

    assert {c.name for c in synced} == {"buy", "slow"}
    recorded = {c["name"]: c for c in fake.commands[None]}
    assert {c.id for c in synced} == {int(c["id"]) for c in recorded.values()}
    assert [c.id for c in again] == [c.id for c in synced]  # ids survive an overwrite
    buy = recorded["buy"]
    assert buy["name_localizations"] == {"de": "de-buy"}
    assert buy["description_localizations"] == {"de": "de-Buy a plan"}
    options = [(o["name"], o["type"], o["required"]) for o in buy["options"]]
    assert options == [("plan", 3, True), ("months", 4, False)]
    assert buy["options"][0]["autocomplete"] is True
    assert {c.guild_id for c in in_guild} == {GUILD}
    assert [(c.id, c.name) for c in fetched] == [(c.id, c.name) for c in in_guild]
    assert [c["name"] for c in fake.commands[GUILD]] == ["buy", "slow"]
    assert ("PUT", f"/applications/{fake.app_id}/guilds/{GUILD}/commands") in fake.requests


async def test_invalid_command_is_refused(fake: FakeDiscord) -> None:
    class Wordy(app_commands.Translator):  # discord.py shortens descriptions, not translations
        async def translate(
            self, string: app_commands.locale_str, locale: discord.Locale, context: Any
        ) -> str | None:
            where = app_commands.TranslationContextLocation.parameter_description
            if locale is discord.Locale.german and context.location is where:
                return "sehr " * 30
            return None

    shop = Shop()
    await shop.tree.set_translator(Wordy())
    async with running(shop.client, fake):
        with pytest.raises(app_commands.CommandSyncFailure) as failure:
            await shop.tree.sync()
    assert failure.value.code == 50035
    assert "'buy'" in str(failure.value) and "between 1 and 100" in str(failure.value)
    assert None not in fake.commands


# ---------------------------------------------------------------------------- interactions


async def test_slash_command_defer_followup_edit_and_button(fake: FakeDiscord) -> None:
    shop = Shop()
    async with running(shop.client, fake):
        await shop.tree.sync()
        slash = fake.slash_payload("buy", {"plan": "gold", "months": 3}, user_id=ALICE)
        await fake.dispatch("INTERACTION_CREATE", slash)
        assert await asyncio.wait_for(shop.events.get(), 5) == "buy"

        # The defer: an ephemeral "thinking" callback, answered with the callback resource.
        defer = fake.callbacks[0]
        assert (defer["type"], defer["data"], defer["token"]) == (5, {"flags": 64}, slash["token"])
        # The first followup fills in the loading message; it keeps the defer's id.
        first = fake.messages[0]
        followup = shop.seen["followup"]
        assert (first["via"], first["ephemeral"], first["token"]) == (
            "followup",
            True,
            slash["token"],
        )
        assert first["files"] == [("qr.png", b"\x89PNG fake qr")]
        assert first["attachments"][0]["filename"] == "qr.png"
        assert first["embeds"][0]["title"] == "Invoice"
        assert first["components"][0]["components"][0]["custom_id"] == "pay:gold"
        assert first["interaction_metadata"]["user"]["id"] == str(ALICE)
        assert followup.id == int(first["id"]) and followup.flags.ephemeral
        assert followup.embeds[0].description == "Pay 10 USDT"
        assert followup.attachments[0].size == len(b"\x89PNG fake qr")
        assert (await shop.seen["interaction"].original_response()).id == followup.id

        # The edit went through the followup webhook and dropped the attachment.
        edit = fake.edits[0]
        assert (edit["via"], edit["message_id"], edit["payload"]["content"]) == (
            "webhook",
            first["id"],
            "paid",
        )
        assert edit["payload"]["attachments"] == []
        assert fake.message(first["id"])["attachments"] == []
        assert shop.seen["edited"].content == "paid"
        assert shop.seen["second"].id != followup.id  # later followups are new messages
        assert fake.messages[1]["content"] == "thanks"

        # The button on the followup reaches the DynamicItem, which updates the message.
        press = fake.component_payload("pay:gold", first, user_id=ALICE)
        await fake.dispatch("INTERACTION_CREATE", press)
        update = await fake.wait_for(lambda c: c["type"] == 7, what="callbacks")
        assert (update["data"]["content"], update["data"]["components"]) == ("paying for gold", [])
        assert PayButton.pressed == [("gold", ALICE)]
        assert fake.message(first["id"])["content"] == "paying for gold"
        assert fake.edits[-1]["via"] == "callback"


async def test_slash_command_in_guild_and_autocomplete(fake: FakeDiscord) -> None:
    shop = Shop()
    got: list[discord.Interaction] = []
    shop.client.event(_collect(got))
    async with running(shop.client, fake):
        shop.tree.copy_global_to(guild=discord.Object(GUILD))
        await shop.tree.sync(guild=discord.Object(GUILD))
        typing = fake.autocomplete_payload(
            "buy", {"plan": "il"}, "plan", user_id=BOB, guild_id=GUILD, locale="de"
        )
        await fake.dispatch("INTERACTION_CREATE", typing)
        answer = await fake.wait_for(lambda c: c["type"] == 8, what="callbacks")
        assert answer["data"] == {"choices": [{"name": "silver", "value": "silver"}]}
        interaction = got[0]
        assert interaction.guild_id == GUILD and interaction.locale is discord.Locale.german
        assert isinstance(interaction.user, discord.Member)
        assert interaction.permissions.send_messages  # from the member's "permissions"
        assert interaction.user.guild_permissions.send_messages  # from the guild's roles
        assert isinstance(interaction.channel, discord.TextChannel)
        assert interaction.guild is not None and interaction.guild.me is not None
        assert typing["data"]["guild_id"] == str(GUILD)
        assert typing["data"]["id"] == fake.commands[GUILD][0]["id"]


def _collect(into: list[discord.Interaction]) -> Any:
    async def on_interaction(interaction: discord.Interaction) -> None:
        into.append(interaction)

    return on_interaction


async def test_late_and_double_callbacks(fake: FakeDiscord) -> None:
    fake.interaction_timeout = 0.2
    shop = Shop()
    async with running(shop.client, fake):
        slow = fake.slash_payload("slow", user_id=ALICE)
        await fake.dispatch("INTERACTION_CREATE", slow)
        assert await asyncio.wait_for(shop.events.get(), 5) == "slow"
    late = shop.seen["late"]
    assert isinstance(late, discord.NotFound) and late.code == 10062
    assert fake.callbacks == []

    # Discord answers once; discord.py never tries twice, so ask directly.
    fake.interaction_timeout = 3.0
    again = fake.slash_payload("slow", user_id=ALICE)
    url = f"{fake.api_base}/interactions/{again['id']}/{again['token']}/callback"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={"type": 5}) as first:
            assert first.status == 204  # without ?with_response
        async with session.post(url, json={"type": 5}) as second:
            assert (second.status, (await second.json())["code"]) == (400, 40060)


async def test_expired_token(fake: FakeDiscord) -> None:
    shop = Shop()
    fake.token_ttl = 0.0
    async with running(shop.client, fake):
        slash = fake.slash_payload("buy", {"plan": "gold"}, user_id=ALICE)
        await fake.dispatch("INTERACTION_CREATE", slash)
        assert await asyncio.wait_for(shop.events.get(), 5) == "error"
    error = shop.seen["error"].original  # the followup failed: the token is no longer valid
    assert isinstance(error, discord.HTTPException) and (error.status, error.code) == (401, 50027)
    assert fake.callbacks[0]["type"] == 5 and fake.messages == []


# ---------------------------------------------------------------------------- messages and DMs


async def test_dm_send_edit_and_closed_dms(fake: FakeDiscord) -> None:
    async with running(make_client(), fake) as client:
        alice = await client.fetch_user(ALICE)
        sent = await alice.send("hello", file=discord.File(io.BytesIO(b"data"), "a.txt"))
        assert sent.channel.id == fake.dm_channel_of(ALICE)
        assert fake.messages[0]["via"] == "channel" and fake.messages[0]["content"] == "hello"
        assert fake.messages[0]["files"] == [("a.txt", b"data")]
        edited = await sent.edit(content="bye", attachments=[])
        assert edited.content == "bye" and edited.attachments == []
        assert fake.edits[0]["via"] == "channel" and fake.edits[0]["payload"]["attachments"] == []

        fake.dm_closed.add(BOB)
        bob = await client.fetch_user(BOB)
        with pytest.raises(discord.Forbidden) as closed:
            await bob.send("hello")
        assert closed.value.code == 50007
        with pytest.raises(discord.HTTPException) as empty:
            await alice.send(embed=discord.Embed(description="x" * 4097))
        assert empty.value.code == 50035
    assert len(fake.messages) == 1


async def test_lost_answer_is_retried_without_a_duplicate(fake: FakeDiscord) -> None:
    async with running(make_client(), fake) as client:
        alice = await client.fetch_user(ALICE)
        await alice.create_dm()
        fake.fail_next("POST", r"/channels/\d+/messages", 502, after_create=True)
        sent = await alice.send("only once")  # discord.py retries 5xx itself, same nonce
    assert [m["content"] for m in fake.messages] == ["only once"]
    assert sent.id == int(fake.messages[0]["id"])
    posts = [r for r in fake.requests if r[0] == "POST" and r[1].endswith("/messages")]
    assert len(posts) == 2


async def test_rate_limits_are_honoured(fake: FakeDiscord) -> None:
    async with running(make_client(), fake) as client:
        alice = await client.fetch_user(ALICE)
        await alice.create_dm()
        fake.fail_next("POST", r"/channels/\d+/messages", 429, retry_after=0.3)
        started = time.monotonic()
        await alice.send("after the 429")
        assert time.monotonic() - started >= 0.3
        assert fake.rate_limited == 1 and len(fake.messages) == 1

        # The per-channel bucket's headers make discord.py pace itself: no 429 at all.
        fake.limits["message-create"] = (2, 0.4)
        dm = fake.dm_channel_of(ALICE)
        fake.reset_limits()
        started = time.monotonic()
        for n in range(5):
            await alice.send(f"burst {n}")
        assert time.monotonic() - started >= 0.7
        assert fake.rate_limited == 1 and len(fake.messages) == 6
        assert dm is not None

        # Over the global limit Discord answers 429 with "global": true; discord.py waits.
        fake.limits["global"] = (3, 0.3)
        fake.reset_limits()
        started = time.monotonic()
        users = [await client.fetch_user(ALICE + n) for n in range(5)]
        assert len(users) == 5 and time.monotonic() - started >= 0.2
        assert fake.rate_limited == 2


# ---------------------------------------------------------------------------- servers and roles


async def test_roles_need_manage_roles_and_a_lower_position(fake: FakeDiscord) -> None:
    fake.add_guild(GUILD, "Shop")
    fake.edit_role(GUILD, fake.bot_role(GUILD), position=5)
    vip = fake.create_role(GUILD, "VIP", position=2)
    staff = fake.create_role(GUILD, "Staff", position=7)
    level = fake.create_role(GUILD, "Level", position=5)  # the bot's level: not below it
    fake.add_member(GUILD, ALICE)
    async with running(make_client(), fake) as client:
        guild = await client.fetch_guild(GUILD)
        assert {r.name for r in guild.roles} >= {"@everyone", "paybot", "VIP", "Staff"}
        assert guild.get_role(fake.bot_role(GUILD)).managed
        alice = await guild.fetch_member(ALICE)
        await alice.add_roles(discord.Object(vip), reason="paid: pro")
        await alice.add_roles(discord.Object(vip))  # again: nothing changes, still 204
        assert fake.member_roles(GUILD, ALICE) == {vip}
        assert [r.id for r in (await guild.fetch_member(ALICE)).roles if not r.is_default()] == [
            vip
        ]
        assert fake.role_changes[0] == {
            "method": "PUT",
            "guild_id": GUILD,
            "user_id": ALICE,
            "role_id": vip,
            "reason": "paid: pro",
        }
        for above in (staff, level):
            with pytest.raises(discord.Forbidden) as refused:
                await alice.add_roles(discord.Object(above))
            assert (refused.value.code, refused.value.text) == (50013, "Missing Permissions")

        fake.edit_role(GUILD, fake.bot_role(GUILD), permissions=0)  # Manage Roles taken away
        with pytest.raises(discord.Forbidden) as refused:
            await alice.remove_roles(discord.Object(vip))
        assert refused.value.code == 50013 and fake.member_roles(GUILD, ALICE) == {vip}
        fake.edit_role(GUILD, fake.bot_role(GUILD), permissions=ADMINISTRATOR)  # fixed
        await alice.remove_roles(discord.Object(vip))
        await alice.remove_roles(discord.Object(vip))  # not there any more: still 204
        assert fake.member_roles(GUILD, ALICE) == set()
        assert [c["method"] for c in fake.role_changes] == ["PUT", "PUT", "DELETE", "DELETE"]
        with pytest.raises(discord.Forbidden):  # Administrator does not lift the hierarchy
            await alice.add_roles(discord.Object(staff))


async def test_unknown_guild_member_and_role(fake: FakeDiscord) -> None:
    fake.add_guild(GUILD)
    vip = fake.create_role(GUILD, "VIP", position=1)
    fake.edit_role(GUILD, fake.bot_role(GUILD), position=2)
    fake.add_member(GUILD, ALICE)
    async with running(make_client(), fake) as client:
        guild = await client.fetch_guild(GUILD)
        with pytest.raises(discord.NotFound) as unknown:
            await guild.fetch_member(BOB)
        assert (unknown.value.code, unknown.value.text) == (10007, "Unknown Member")
        with pytest.raises(discord.NotFound) as unknown:
            await client.http.add_role(GUILD, BOB, vip)
        assert unknown.value.code == 10007
        with pytest.raises(discord.NotFound) as unknown:
            await client.http.add_role(GUILD, ALICE, 12345)
        assert (unknown.value.code, unknown.value.text) == (10011, "Unknown Role")
        with pytest.raises(discord.NotFound) as unknown:
            await client.http.add_role(GUILD, ALICE, GUILD)  # @everyone is nobody's to give
        assert unknown.value.code == 10011
        with pytest.raises(discord.NotFound) as unknown:
            await client.fetch_guild(GUILD + 1)
        assert (unknown.value.code, unknown.value.text) == (10004, "Unknown Guild")
        with pytest.raises(discord.NotFound) as unknown:
            await client.http.remove_role(GUILD + 1, ALICE, vip)
        assert unknown.value.code == 10004
        fake.remove_member(GUILD, ALICE)  # left the server
        with pytest.raises(discord.NotFound) as unknown:
            await client.http.remove_role(GUILD, ALICE, vip)
        assert unknown.value.code == 10007
    assert fake.role_changes == []


async def test_the_gateway_shows_roles_channels_and_the_bots_place(fake: FakeDiscord) -> None:
    fake.add_guild(GUILD, "Shop")
    rules = fake.add_channel(GUILD, "rules", position=0)
    welcome = fake.add_channel(GUILD, "welcome", position=1, system=True)
    fake.create_role(GUILD, "VIP", position=2)
    async with running(make_client(), fake) as client:
        guild = client.get_guild(GUILD)
        assert guild is not None and guild.name == "Shop"
        assert guild.me.top_role.id == fake.bot_role(GUILD)
        assert guild.me.guild_permissions.manage_roles  # BOT_PERMISSIONS, as README invites
        assert guild.me.guild_permissions.create_instant_invite
        assert {r.name for r in guild.roles} == {"@everyone", "paybot", "VIP"}
        assert guild.system_channel is not None and guild.system_channel.id == welcome
        assert [c.id for c in guild.text_channels] == [rules, welcome]
        fetched = await (await client.fetch_guild(GUILD)).fetch_channels()
        assert {c.id for c in fetched} == {rules, welcome}


async def test_invites_need_create_invite_in_the_channel(fake: FakeDiscord) -> None:
    fake.add_guild(GUILD, "Shop")
    general = fake.add_channel(GUILD, "general")
    hidden = fake.add_channel(
        GUILD, "hidden", position=1, overwrites=[{"id": GUILD, "deny": VIEW_CHANNEL}]
    )
    async with running(make_client(), fake) as client:
        channels = {c.id: c for c in await (await client.fetch_guild(GUILD)).fetch_channels()}
        invite = await channels[general].create_invite(
            max_uses=1, max_age=604800, unique=True, reason="for a customer"
        )
        assert re.fullmatch(r"https://discord\.gg/[A-Za-z0-9]{10}", invite.url)
        assert (invite.max_uses, invite.max_age, invite.guild.id) == (1, 604800, GUILD)
        assert invite.channel.id == general and invite.inviter.id == fake.bot_id
        assert fake.invite_requests[0]["reason"] == "for a customer"
        assert fake.invite_requests[0]["unique"] is True
        again = await channels[general].create_invite(max_uses=1, max_age=604800, unique=False)
        assert again.code == invite.code  # not unique: the same settings give the same invite
        fresh = await channels[general].create_invite(max_uses=1, max_age=604800, unique=True)
        assert fresh.code != invite.code

        with pytest.raises(discord.HTTPException) as invalid:
            await channels[general].create_invite(max_age=604801)
        assert invalid.value.code == 50035
        with pytest.raises(discord.Forbidden) as refused:  # the bot cannot see that channel
            await channels[hidden].create_invite(max_uses=1)
        assert refused.value.code == 50013

        # Neither @everyone nor the bot's role may create invites: refused everywhere ...
        fake.edit_role(GUILD, GUILD, permissions=VIEW_CHANNEL)
        fake.edit_role(GUILD, fake.bot_role(GUILD), permissions=MANAGE_ROLES)
        with pytest.raises(discord.Forbidden) as refused:
            await channels[general].create_invite(max_uses=1)
        assert refused.value.code == 50013
        # ... unless a channel's overwrite allows it to the bot's role.
        fake.channels[hidden]["permission_overwrites"] = [
            {"id": str(fake.bot_role(GUILD)), "type": 0, "allow": str(CREATE_INSTANT_INVITE)}
            | {"deny": "0"}
        ]
        assert (await channels[hidden].create_invite(max_uses=1)).max_uses == 1
    assert len(fake.invites) == 3


async def test_a_stalled_answer_comes_late(fake: FakeDiscord) -> None:
    async with running(make_client(), fake) as client:
        fake.stall_next("GET", rf"/users/{ALICE}", 1.0)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.fetch_user(ALICE), 0.2)
        assert (await client.fetch_user(ALICE)).id == ALICE  # only the next one


async def test_joins_reach_only_clients_with_the_members_intent(fake: FakeDiscord) -> None:
    fake.add_guild(GUILD)
    fake.add_member(GUILD, BOB, "bob")  # a member from before
    for members in (True, False):
        joined: asyncio.Queue[discord.Member] = asyncio.Queue()
        intents = discord.Intents.default()
        intents.members = members
        shop = Shop(intents)
        shop.client.on_member_join = joined.put  # type: ignore[attr-defined]
        async with running(shop.client, fake):
            guild = shop.client.get_guild(GUILD)
            # with the intent discord.py asks for the members at start (op 8) and gets them all
            assert (guild.get_member(BOB) is not None) is members
            assert [int(r["guild_id"]) for r in fake.member_requests] == [GUILD]  # op 8, once
            newcomer = ALICE + 10 + int(members)
            await fake.join(GUILD, newcomer, "alice")
            # a DM after the join: once it arrived, a GUILD_MEMBER_ADD would have, too
            await fake.dispatch("MESSAGE_CREATE", fake.message_payload("hi", user_id=BOB))
            assert isinstance(await asyncio.wait_for(shop.events.get(), 5), discord.Message)
            if members:
                member = await asyncio.wait_for(joined.get(), 5)
                assert (member.id, member.guild.id, member.display_name) == (
                    newcomer,
                    GUILD,
                    "Alice",
                )
            else:
                assert joined.empty()
        assert newcomer in fake.guilds[GUILD].members
