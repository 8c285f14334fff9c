"""The Discord adapter: life cycle, incoming interactions and messages, outgoing sends.

Slash commands (`commands`) and buttons (`parts.ActionButton`) become `Incoming` lines; DMs
and messages that mention the bot are free text. Every interaction is deferred at once
(Discord allows 3 s) and answered through the interaction: ephemerally in a server, so payment
details stay private, and in the DM in a DM. Pushes go by DM; cards are embeds with the QR
attached and a live `<t:UNIX:R>` countdown, edited in place (`parts`). Roles and invites in
servers are in `access`; plain helpers that need no SDK in `discord_support`.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
import discord
from discord import app_commands

from bot.adapters.base import (
    UNREADABLE,
    Connection,
    DeliveryError,
    Handler,
    RateLimited,
    Send,
    unreadable,
)
from bot.adapters.discord.access import GuildAccess
from bot.adapters.discord.commands import Translator, build
from bot.adapters.discord.gateway import GatewayClient
from bot.adapters.discord.parts import ActionButton, parts
from bot.adapters.discord_support import (
    PLATFORM,
    delivery_error,
    message_ref,
    nonce,
    remember,
    to_incoming,
)
from bot.i18n import _, language_name, using_locale
from bot.messages import ChatRef, Incoming, Outgoing
from bot.ratelimit import LocalPacing, Pacing, Rule

log = logging.getLogger(__name__)
CHANNEL = "channel:"  # chat ids of server channels; a bare id is the user's DM
SEND_TIMEOUT = 20.0  # discord.py retries 5xx itself; past this the relay tries again later
CANNOT_DM = 50007


class DiscordAdapter:
    platform = PLATFORM

    def __init__(
        self,
        token: str,
        settings: Any,  # the [discord] section
        *,
        locales: Sequence[str],
        default_locale: str,
        menu: Callable[[], list[tuple[str, str]]],
        plans: Sequence[tuple[str, str]],
        coins: Sequence[tuple[str, str]],
    ) -> None:
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False  # no voice here
        intents = discord.Intents.none()
        intents.guilds = intents.dm_messages = intents.guild_messages = True
        intents.message_content = settings.message_content
        intents.members = settings.members_intent  # privileged: joins become events
        self.client = GatewayClient(
            self,
            intents=intents,
            shard_count=settings.shard_count,
            shard_ids=[],
            max_ratelimit_timeout=5.0,
            chunk_guilds_at_startup=False,  # no member lists: access is read when needed
            member_cache_flags=discord.MemberCacheFlags.none(),
        )
        self.access = GuildAccess(self.client, timeout=SEND_TIMEOUT)
        self.tree = app_commands.CommandTree(self.client)
        self.token = token
        self.settings = settings
        self.locales = list(locales)
        self.default_locale = default_locale
        self.menu = menu
        self.choices = {"plan": list(plans), "coin": list(coins)}
        self.choices["code"] = [(code, language_name(code)) for code in self.locales]
        self.pacing: Pacing = LocalPacing()  # shared: App, on PostgreSQL
        self._limits = (settings.global_per_second, settings.per_channel_per_second)
        self._handler: Handler | None = None
        self._runner: asyncio.Task[None] | None = None
        self._logging_in = False
        self._editable: dict[int, tuple[discord.Webhook, float]] = {}  # ephemeral replies
        self._recent: dict[int, tuple[discord.Interaction, float]] = {}  # per user
        self._told_closed: set[int] = set()

    # --- life cycle ----------------------------------------------------------------------

    async def start(self, handler: Handler) -> None:
        self._handler = handler
        # discord.py has one API base per process (Discord's, unless a test points elsewhere)
        discord.http.Route.BASE = self.settings.api_base.rstrip("/")
        self.client.add_dynamic_items(ActionButton)
        step = "login"
        self._logging_in = True  # from here on, stop() has a client to close
        try:
            await self.client.login(self.token)
            step = "command sync"
            await self._sync_commands()
        except discord.LoginFailure:
            raise ConnectionError(
                "Discord: the token was refused (PAYBOT_DISCORD_TOKEN)"
            ) from None
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            raise ConnectionError(f"Discord: {type(exc).__name__}: {exc}") from None
        except UNREADABLE as exc:  # an answer not in Discord's shape
            raise unreadable("Discord", step, exc) from None
        self._runner = asyncio.create_task(self.client.connect(), name="discord-gateway")

    def connections(self) -> list[Connection]:
        """Each gateway shard is one connection of the deployment (Discord would send each
        event to every session of a shard, so two workers would answer twice)."""
        return [
            Connection(f"discord:shard:{i}", self._opener(i), self._closer(i), group="discord")
            for i in range(self.settings.shard_count)
        ]

    def _opener(self, shard_id: int) -> Callable[[], Awaitable[None]]:
        return lambda: self.open_shard(shard_id)

    def _closer(self, shard_id: int) -> Callable[[], Awaitable[None]]:
        return lambda: self.close_shard(shard_id)

    async def open_shard(self, shard_id: int) -> None:
        """Connect shard `shard_id` and wait until it is ready (30 s at most: discord.py
        itself retries a gateway it cannot reach without end)."""
        runner = self._runner
        if runner is None or runner.done():
            raise ConnectionError("Discord: the client is not running")
        ready = self.client.shards_ready[shard_id] = asyncio.Event()
        opening = asyncio.create_task(self._launch(shard_id, ready))
        done, _pending = await asyncio.wait(
            {runner, opening}, timeout=30, return_when=asyncio.FIRST_COMPLETED
        )
        if opening not in done:
            opening.cancel()
            await asyncio.gather(opening, return_exceptions=True)
            await self.close_shard(shard_id)  # whatever discord.py connects in the end
            error = runner.exception() if runner in done else None
            if isinstance(error, discord.PrivilegedIntentsRequired):
                raise ConnectionError(self._privileged_refused())
            raise ConnectionError(f"Discord: the gateway did not get ready ({error or 'timeout'})")
        opening.result()

    async def _launch(self, shard_id: int, ready: asyncio.Event) -> None:
        await self.client.launched.wait()  # the client knows where the gateway is
        await self.client.connect_shard(shard_id)
        await ready.wait()

    async def close_shard(self, shard_id: int) -> None:
        """Disconnect shard `shard_id` (its lease went to another worker)."""
        await self.client.close_shard(shard_id)

    def _privileged_refused(self) -> str:
        """Discord does not say which privileged intent it refused: name those we asked for."""
        asked = []
        if self.client.intents.message_content:
            asked.append(("message content", "message_content"))
        if self.client.intents.members:
            asked.append(("server members", "members_intent"))
        names = " and ".join(name for name, _key in asked)
        keys = " and ".join(f"{key} = false" for _name, key in asked)
        several = len(asked) > 1
        return (
            f"Discord: the {names} intent{'s are' if several else ' is'} not enabled for this "
            "application (developer portal, Bot, Privileged Gateway Intents); enable "
            f"{'them' if several else 'it'} or set [discord] {keys}"
        )

    async def stop(self) -> None:
        if not self._logging_in:  # never started (start-up failed before Discord's turn)
            return
        self.client.cancel_connects()
        await self.client.close()
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)

    async def _sync_commands(self) -> None:
        await self.tree.set_translator(Translator(self.locales))
        with using_locale("en"):  # the source texts; the translator adds every language
            for command in build(self.on_command, self.menu(), self.choices):
                self.tree.add_command(command)
        if not self.settings.guild_ids:  # global commands reach every server, after a while
            await self.tree.sync()
        for guild_id in self.settings.guild_ids:  # test servers: at once
            guild = discord.Object(guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)

    # --- incoming ------------------------------------------------------------------------

    async def on_command(self, interaction: discord.Interaction, *args: object) -> None:
        """A slash command: acknowledged at once, then answered through the interaction."""
        if not await self._defer(interaction, thinking=True):
            return
        words = [interaction.command.name if interaction.command else "help"]
        words += [shlex.quote(str(a)) for a in args if a is not None]
        await self._dispatch(interaction, text="/" + " ".join(words))

    async def on_button(self, interaction: discord.Interaction, action: str) -> None:
        if await self._defer(interaction, thinking=False):
            await self._dispatch(interaction, button=action)

    async def _defer(self, interaction: discord.Interaction, *, thinking: bool) -> bool:
        try:
            await interaction.response.defer(
                ephemeral=interaction.guild_id is not None, thinking=thinking
            )
        except discord.HTTPException as exc:  # too late (3 s) or already answered
            log.warning("interaction %s not acknowledged: %s", interaction.id, exc)
            return False
        return True

    async def _dispatch(
        self, interaction: discord.Interaction, *, text: str = "", button: str | None = None
    ) -> None:
        user = interaction.user
        remember(self._recent, user.id, interaction)
        pressed = message_ref(interaction.message) if interaction.message else None
        incoming = to_incoming(  # answers are private: the user's DM is the conversation
            user, str(user.id), True, text, button, pressed, str(interaction.locale)
        )
        if self._handler is not None:
            await self._handler(incoming, self._replier(interaction, pressed))

    async def on_message(self, message: discord.Message) -> None:
        """DMs and mentions are free text for the agent; other channel talk is not for us."""
        me = self.client.user
        if message.author.bot or me is None or message.webhook_id is not None:
            return
        private = message.guild is None
        if not private and me not in message.mentions:
            return
        text = message.content.replace(f"<@{me.id}>", " ").replace(f"<@!{me.id}>", " ")
        text = " ".join(text.split())
        target = str(message.author.id) if private else f"{CHANNEL}{message.channel.id}"
        if (not self.settings.message_content or not text) and not text.startswith("/"):
            with using_locale(self.default_locale):
                hint = _("Please use my slash commands here, e.g. /plans or /buy.")
            await self.send(Outgoing(ChatRef(PLATFORM, target), hint))
            return
        if self._handler is not None:
            await self._handler(
                to_incoming(message.author, target, private, text, None, message_ref(message))
            )

    async def on_member_join(self, member: discord.Member) -> None:
        """Someone joined a server the bot is in (only with `members_intent`): an event for
        the app, which may open what the user paid for. Other bots are not customers."""
        if member.bot or self._handler is None:
            return
        await self._handler(
            Incoming(
                platform=PLATFORM,
                chat_id=str(member.guild.id),
                user_id=str(member.id),
                user_name=member.display_name,
                is_private=False,
                private_chat_id=str(member.id),  # pushes to the user go by DM
                event="member_join",
            )
        )

    # --- access (issue 15): what a paid plan opens in a server; see `access` ------------

    async def add_role(self, guild_id: str, user_id: str, role_id: str) -> None:
        await self.access.add_role(guild_id, user_id, role_id)

    async def remove_role(self, guild_id: str, user_id: str, role_id: str) -> None:
        await self.access.remove_role(guild_id, user_id, role_id)

    async def member_roles(self, guild_id: str, user_id: str) -> set[str] | None:
        return await self.access.member_roles(guild_id, user_id)

    async def guild_invite(self, guild_id: str) -> str:
        return await self.access.guild_invite(guild_id)

    async def missing_permissions(self, guild_id: str, role_id: str) -> list[str]:
        return await self.access.missing_permissions(guild_id, role_id)

    # --- outgoing ------------------------------------------------------------------------

    def _replier(self, interaction: discord.Interaction, pressed: str | None) -> Send:
        ephemeral = interaction.guild_id is not None

        async def reply(message: Outgoing) -> str | None:
            try:
                if message.edit_of and message.edit_of == pressed:
                    await interaction.edit_original_response(**parts(message, edit=True))
                    self._keep_editable(interaction, pressed)
                    return pressed
                if message.edit_of:
                    return await self.send(message)
                sent = await interaction.followup.send(
                    ephemeral=ephemeral, wait=True, **parts(message)
                )
            except discord.HTTPException as exc:
                raise delivery_error(exc) from None
            ref = message_ref(sent)
            self._keep_editable(interaction, ref)
            return ref

        return reply

    def _keep_editable(self, interaction: discord.Interaction, ref: str | None) -> None:
        if ref and ref.startswith("e:"):
            remember(self._editable, int(ref.rsplit(":", 1)[1]), interaction.followup)

    def _rules(self, chat_id: str) -> list[Rule]:
        overall, per_channel = self._limits
        return [Rule("all", overall, queue=True), Rule(("chat", chat_id), per_channel)]

    def send_wait(self, target, ahead: int = 0) -> float:
        return self.pacing.wait(self._rules(target.chat_id), ahead)

    async def send(self, message: Outgoing) -> str | None:
        rules = self._rules(message.target.chat_id)
        await self.pacing.acquire(rules)
        try:
            if message.edit_of:
                await asyncio.wait_for(self._edit(message), SEND_TIMEOUT)
                return message.edit_of
            channel = await self._channel(message.target.chat_id)
            sent = await asyncio.wait_for(
                channel.send(nonce=nonce(message.key), **parts(message)), SEND_TIMEOUT
            )
        except discord.RateLimited as exc:  # longer than discord.py itself waits
            await self.pacing.pause(rules, exc.retry_after)
            raise RateLimited(exc.retry_after) from None
        except discord.HTTPException as exc:
            if getattr(exc, "code", 0) == CANNOT_DM:
                await self._tell_dms_closed(message.target.chat_id)
            raise delivery_error(exc) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
        self._told_closed.discard(int(message.target.chat_id.removeprefix(CHANNEL)))
        return message_ref(sent)

    async def _channel(self, chat_id: str) -> discord.abc.Messageable:
        if chat_id.startswith(CHANNEL):
            return self.client.get_partial_messageable(int(chat_id.removeprefix(CHANNEL)))
        return await self.client.create_dm(discord.Object(int(chat_id)))  # cached after once

    async def _edit(self, message: Outgoing) -> None:
        kind, channel_id, message_id = message.edit_of.split(":")
        edited = parts(message, edit=True)
        if kind == "m":
            channel = self.client.get_partial_messageable(int(channel_id))
            await channel.get_partial_message(int(message_id)).edit(**edited)
            return
        webhook, until = self._editable.get(int(message_id), (None, 0.0))
        if webhook is None or until < time.monotonic():
            raise DeliveryError(
                "an ephemeral reply is editable for 15 minutes only", permanent=True
            )
        await webhook.edit_message(int(message_id), **edited)

    async def _tell_dms_closed(self, chat_id: str) -> None:
        """The user's DMs are closed: say so once, privately, where they last talked to us."""
        user_id = int(chat_id)
        interaction, until = self._recent.get(user_id, (None, 0.0))
        if interaction is None or until < time.monotonic() or user_id in self._told_closed:
            return
        self._told_closed.add(user_id)
        text = _(
            "I can't send you direct messages, so payment updates can't reach you. Allow "
            "direct messages from this server's members, or check with /status."
        )
        try:
            await interaction.followup.send(text, ephemeral=True)
        except discord.HTTPException as exc:
            log.info("could not tell %s that their DMs are closed: %s", user_id, exc)


def _network_unless_name(name: str, network: str) -> str:
    """The network after a coin's name (", Polygon"), none when it is the name ("SOL Solana")."""
    return "" if network.casefold() == name.casefold() else f", {network}"


def from_config(config) -> DiscordAdapter:
    """The adapter `[discord]` describes (token from the environment)."""
    from bot.commands import command_menu

    return DiscordAdapter(
        config.secrets.discord_token or "",
        config.discord,
        locales=config.shop.locales,
        default_locale=config.shop.default_locale,
        menu=command_menu,
        plans=[(code, plan.name) for code, plan in config.plans.items()],
        coins=[
            (code, f"{coin.symbol} {coin.name}" + _network_unless_name(coin.name, coin.network))
            for code, coin in config.coins.items()
        ],
    )
