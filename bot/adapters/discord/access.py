"""What a paid plan opens in a Discord server (issue 15): a role given and taken back, the
member's roles, a single-use invite, and what keeps the bot from giving a role.

Everything is read fresh over REST through discord.py's HTTP client (the gateway's cache may
lag behind an operator who has just fixed the bot's rights). Discord's answers become
paybot's errors (`bot.adapters.base`): a refusal only an operator can fix is `AccessRefused`
with a one-line fix naming the server and the role; a user who is not in the server is
`NotAMember`; 5xx, network failures, timeouts and unreadable answers are `DeliveryError`
(retried later); a 429 longer than discord.py waits itself is `RateLimited`. Never a
discord.py exception, and never the token.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import discord

from bot.adapters.base import UNREADABLE, AccessRefused, DeliveryError, NotAMember, RateLimited
from bot.adapters.discord_support import delivery_error

UNKNOWN_GUILD, UNKNOWN_MEMBER, UNKNOWN_ROLE = 10004, 10007, 10011
MISSING_ACCESS, MISSING_PERMISSIONS = 50001, 50013
GONE = (UNKNOWN_GUILD, MISSING_ACCESS)  # the bot is not in that server (or it does not exist)
INVITE_AGE = 7 * 24 * 3600  # seconds: Discord's longest
ROLE_REASON = "paybot: subscription"  # shown in the server's audit log
INVITE_REASON = "paybot: invite for a paying customer"
NO_MANAGE_ROLES = "no Manage Roles permission"
GUILD_NOT_FOUND, ROLE_NOT_FOUND = "guild not found", "role not found"


@dataclass
class _Check:
    """Whether the bot can give a role: the server and the role as an operator knows them
    (name and id), and what stands in the way (nothing: it can)."""

    guild: str
    role: str
    problems: list[str]

    def fix(self) -> str:
        if GUILD_NOT_FOUND in self.problems:
            return f"invite the bot to guild {self.guild}, or correct the guild id"
        if ROLE_NOT_FOUND in self.problems:
            return f"create the role {self.role} in guild {self.guild}, or correct the role id"
        manage = NO_MANAGE_ROLES in self.problems
        below = any(p.endswith("not below the bot's highest role") for p in self.problems)
        if manage and not below:
            return f"give the bot the Manage Roles permission in guild {self.guild}"
        if below and not manage:
            return f"move the bot's role above the role {self.role} in guild {self.guild}"
        return (
            f"give the bot the Manage Roles permission in guild {self.guild} "
            f"and move its role above the role {self.role}"
        )


class GuildAccess:
    """Roles and invites through `client` (logged in); each call bounded to `timeout` s."""

    def __init__(self, client: discord.Client, *, timeout: float) -> None:
        self.client = client
        self.timeout = timeout

    async def add_role(self, guild_id: str, user_id: str, role_id: str) -> None:
        ids = _ids(guild_id, user_id, role_id)
        async with self._guarded():
            try:
                await self.client.http.add_role(*ids, reason=ROLE_REASON)
            except discord.HTTPException as exc:
                raise await self._role_refused(exc, guild_id, user_id, role_id) from None

    async def remove_role(self, guild_id: str, user_id: str, role_id: str) -> None:
        """Take the role back; a user who left the server has none of its roles: done."""
        ids = _ids(guild_id, user_id, role_id)
        async with self._guarded():
            try:
                await self.client.http.remove_role(*ids, reason=ROLE_REASON)
            except discord.HTTPException as exc:
                if _code(exc) == UNKNOWN_MEMBER:
                    return
                raise await self._role_refused(exc, guild_id, user_id, role_id) from None

    async def member_roles(self, guild_id: str, user_id: str) -> set[str] | None:
        """The ids of the member's roles (@everyone not among them); None: not a member."""
        guild, user = _member_ids(guild_id, user_id)
        async with self._guarded():
            try:
                member = await self.client.http.get_member(guild, user)
            except discord.HTTPException as exc:
                if _code(exc) == UNKNOWN_MEMBER:
                    return None
                if _code(exc) in GONE:
                    raise _refused(_Check(guild_id, "", [GUILD_NOT_FOUND])) from None
                raise
            return {str(int(role)) for role in member["roles"]}

    async def missing_permissions(self, guild_id: str, role_id: str) -> list[str]:
        """What keeps the bot from giving the role, in short English ([]: nothing)."""
        return (await self._check(guild_id, role_id)).problems

    async def guild_invite(self, guild_id: str) -> str:
        """A single-use invite (7 days) to the server's system channel, else to its first
        text channel where the bot may create invites."""
        guild_number = _snowflake(guild_id)
        if guild_number is None:
            raise _refused(_Check(guild_id, "", [GUILD_NOT_FOUND]))
        async with self._guarded():
            try:
                guild = await self.client.fetch_guild(guild_number, with_counts=False)
                me = await guild.fetch_member(self._bot_id())
                channels = await guild.fetch_channels()
            except discord.HTTPException as exc:
                if _code(exc) in GONE:
                    raise _refused(_Check(guild_id, "", [GUILD_NOT_FOUND])) from None
                raise
            label = _label(guild.name, guild.id)
            texts = [c for c in channels if isinstance(c, discord.TextChannel)]
            cached = self.client.get_guild(guild.id)  # the gateway knows the system channel
            system = cached.system_channel if cached is not None else None
            texts.sort(key=lambda c: (system is None or c.id != system.id, c.position, c.id))
            usable = [c for c in texts if c.permissions_for(me).create_instant_invite]
            fix = f"give the bot the Create Invite permission in a text channel of guild {label}"
            if not usable:
                reason = "no text channel where the bot may create invites"
                raise AccessRefused(f"{reason} in guild {label}", fix)
            try:
                invite = await usable[0].create_invite(
                    max_age=INVITE_AGE, max_uses=1, unique=True, reason=INVITE_REASON
                )
            except discord.HTTPException as exc:
                if _code(exc) == MISSING_PERMISSIONS:
                    raise AccessRefused(f"Missing Permissions in guild {label}", fix) from None
                raise
            return invite.url

    # --- the rest -------------------------------------------------------------------------

    async def _check(self, guild_id: str, role_id: str) -> _Check:
        guild_number, role_number = _snowflake(guild_id), _snowflake(role_id)
        if guild_number is None:
            return _Check(guild_id, role_id, [GUILD_NOT_FOUND])
        async with self._guarded():
            try:
                guild = await self.client.fetch_guild(guild_number, with_counts=False)
                me = await guild.fetch_member(self._bot_id())
            except discord.HTTPException as exc:
                if _code(exc) in (*GONE, UNKNOWN_MEMBER):
                    return _Check(guild_id, role_id, [GUILD_NOT_FOUND])
                raise
        role = guild.get_role(role_number) if role_number is not None else None
        problems = [] if me.guild_permissions.manage_roles else [NO_MANAGE_ROLES]
        if role is None or role.is_default():
            problems.append(ROLE_NOT_FOUND)
        elif guild.owner_id != me.id and not role < me.top_role:
            problems.append(f"role {role.name} is not below the bot's highest role")
        named = _label(role.name, role.id) if role is not None else role_id
        return _Check(_label(guild.name, guild.id), named, problems)

    async def _role_refused(
        self, exc: discord.HTTPException, guild_id: str, user_id: str, role_id: str
    ) -> DeliveryError:
        """Discord's refusal of a role change, as what the caller can act on."""
        code = _code(exc)
        if code == UNKNOWN_MEMBER:
            return NotAMember(f"user {user_id} is not a member of guild {guild_id}")
        if code in GONE:
            return _refused(_Check(guild_id, role_id, [GUILD_NOT_FOUND]))
        if code == UNKNOWN_ROLE:
            return _refused(_Check(guild_id, role_id, [ROLE_NOT_FOUND]))
        if code != MISSING_PERMISSIONS:
            return _failure(exc)
        try:  # which permission is it? Ask, to say what to fix
            check = await self._check(guild_id, role_id)
        except (DeliveryError, RateLimited):
            check = _Check(guild_id, role_id, [])
        if not check.problems:
            return AccessRefused(f"Missing Permissions in guild {check.guild}", check.fix())
        return _refused(check)

    def _bot_id(self) -> int:
        if self.client.user is None:
            raise DeliveryError("Discord: the bot is not logged in yet")
        return self.client.user.id

    @asynccontextmanager
    async def _guarded(self) -> AsyncIterator[None]:
        """Bounded in time; what discord.py and aiohttp raise becomes paybot's errors."""
        try:
            async with asyncio.timeout(self.timeout):
                yield
        except discord.RateLimited as exc:  # longer than discord.py waits itself
            raise RateLimited(exc.retry_after) from None
        except discord.HTTPException as exc:
            raise _failure(exc) from None
        except TimeoutError:
            raise DeliveryError(f"Discord did not answer within {self.timeout:g} s") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise DeliveryError(f"Discord: {type(exc).__name__}: {exc}") from None
        except UNREADABLE as exc:  # an answer not in Discord's shape
            reason = f"Discord's answer is not valid ({type(exc).__name__}: {exc})"
            raise DeliveryError(reason) from None


def _refused(check: _Check) -> AccessRefused:
    return AccessRefused("; ".join(check.problems), check.fix())


def _failure(exc: discord.HTTPException) -> DeliveryError:
    """Any other answer: 5xx is worth a retry, a refused token needs the operator, other 4xx
    will not change by trying again."""
    if exc.status == 401:
        return AccessRefused("Discord refused the bot's token", "check PAYBOT_DISCORD_TOKEN")
    return delivery_error(exc)


def _code(exc: discord.HTTPException) -> int:
    return getattr(exc, "code", 0)


def _snowflake(value: str) -> int | None:
    """A Discord id, or None when `value` cannot be one."""
    text = str(value).strip()
    return int(text) if text.isdigit() and 0 < int(text) < 1 << 64 else None


def _member_ids(guild_id: str, user_id: str) -> tuple[int, int]:
    guild, user = _snowflake(guild_id), _snowflake(user_id)
    if guild is None:
        raise _refused(_Check(guild_id, "", [GUILD_NOT_FOUND]))
    if user is None:
        raise DeliveryError(f"{user_id!r} is not a Discord user id", permanent=True)
    return guild, user


def _ids(guild_id: str, user_id: str, role_id: str) -> tuple[int, int, int]:
    guild, user = _member_ids(guild_id, user_id)
    role = _snowflake(role_id)
    if role is None:
        raise _refused(_Check(guild_id, role_id, [ROLE_NOT_FOUND]))
    return guild, user, role


def _label(name: str, number: int) -> str:
    return f"{name} ({number})"
