"""A fake Discord (REST API v10 and gateway) on 127.0.0.1 for tests, spoken to by an unmodified
discord.py client.

Point discord.py at it with ``fake.install(monkeypatch)``: that sets ``discord.http.Route.BASE``
to ``fake.api_base`` and ``DiscordWebSocket.DEFAULT_GATEWAY`` to ``fake.gateway_url`` (a plain
``discord.Client`` never asks ``GET /gateway/bot``, it connects to that hard-coded URL).

What it plays:

* REST: ``/users/@me``, ``/users/{id}``, ``/gateway/bot``, ``/oauth2/applications/@me``; bulk
  overwrite and listing of global and guild commands; DM channels; channel messages (create,
  fetch, edit, delete, typing); interaction callbacks (types 1 and 4-9, answered with the
  ``InteractionCallbackResponse`` that discord.py asks for with ``?with_response=1``); followups
  and ``@original`` through the interaction webhook. JSON and multipart (``payload_json`` +
  ``files[n]``) bodies are read. Answers carry ``Content-Type: application/json`` exactly
  (discord.py parses nothing else as JSON) and ``Via`` (discord.py takes a 429 without it for a
  Cloudflare ban and does not retry).
* Gateway: HELLO, IDENTIFY -> READY, heartbeat ACKs, RESUME -> RESUMED, transport compression as
  asked by the ``compress`` query (``zstd-stream``, which discord.py picks when ``zstandard`` is
  installed, as it is here via langsmith; or ``zlib-stream``: one zlib stream, each payload
  ended by ``Z_SYNC_FLUSH``). Servers: READY lists the servers the bot is in (``add_guild``,
  a guild command sync or a payload with a guild_id puts it in one), each followed by a
  GUILD_CREATE (the server's channels, its roles, the bot as member); a server or
  channel that appears later gets its GUILD_CREATE / CHANNEL_CREATE just before the first
  event about it, so discord.py has ``message.guild`` and ``interaction.channel`` as on
  Discord. Events honour the identified intents: guild messages need GUILD_MESSAGES, DMs
  DIRECT_MESSAGES, and without MESSAGE_CONTENT a guild message's content, embeds, attachments
  and components arrive blank unless it mentions the bot.
* Servers (``add_guild``): roles (id, name, position, permissions; @everyone has the guild's id,
  the bot joins with its own managed role, ``bot_role``, holding ``BOT_PERMISSIONS``), members
  with their roles (``add_member``, ``remove_member``, ``member_roles``), text channels with
  permission overwrites and a system channel (``add_channel``). REST: ``GET /guilds/{g}``,
  ``/guilds/{g}/roles``, ``/guilds/{g}/channels``, ``/guilds/{g}/members/{u}``;
  ``PUT``/``DELETE /guilds/{g}/members/{u}/roles/{r}`` (recorded in ``role_changes`` with
  the audit-log reason); ``POST /channels/{c}/invites`` (``invites`` as answered,
  ``invite_requests`` as asked). Permissions
  are computed as Discord documents it (base from @everyone and the member's roles,
  Administrator grants all, then channel overwrites: @everyone, roles, member; no View
  Channel, no permission in the channel). ``join`` makes a user a member and sends
  GUILD_MEMBER_ADD to the sessions that asked for the GUILD_MEMBERS intent. Changes made
  with these controls are not announced on the gateway otherwise.

Rules it enforces like Discord: ``Authorization: Bot <token>`` (not on interaction and webhook
routes); privileged intents (close 4014 unless ``privileged_allowed``); 3 s to answer an
interaction (``interaction_timeout``, then 10062) and one answer only (40060); interaction
tokens live 15 min (``token_ttl``, then 50027); the first followup after a deferred answer
(type 5) fills in the loading ``@original`` message, with the defer's ephemerality, instead of
posting a new one; ``nonce`` + ``enforce_nonce`` de-duplication; closed DMs (50007); message
limits (2000 characters, 10 embeds with Discord's field limits and 6000 characters in all,
5 rows of 5 components, 10 MiB files, no empty messages); command names, descriptions,
localization locales and option order on sync (50035); rate limits (``limits``: 50 requests/s
globally, 5 message creates per 5 s per channel, 5 requests per 2 s per interaction webhook,
50/s per other route) with Discord's ``X-RateLimit-*`` headers on every answer and 429 bodies.
Roles: changing a member's roles needs Manage Roles (or Administrator) and a role below the
bot's highest role, else 403 ``Missing Permissions`` (50013); an unknown server, member, role
or channel is 404 ``Unknown Guild`` (10004), ``Unknown Member`` (10007), ``Unknown Role``
(10011), ``Unknown Channel`` (10003). Invites need Create Invite in the channel (50013) and
``max_age`` 0-604800, ``max_uses`` 0-100 (50035); ``unique: false`` may answer an invite
with the same settings made before. ``fail_next`` injects errors, also after the message was
created (a lost answer); ``garble_next`` answers a malformed body (not JSON, the wrong shape,
an HTML error page); ``stall_next`` answers late.

Sharding: a session that identified with ``shard: [id, count]`` gets only the events of its
shard, as on Discord: a server's events go to shard ``(guild_id >> 22) % count``, DMs to shard
0; ``sessions(shard=...)`` lists the live identified sessions (one per connected worker).

Not played: reactions, threads, modal submissions, ``resolved`` option data, role
changes of members by anyone but the bot, members in GUILD_CREATE other than the bot.
``messages`` holds every message as it was first answered; later changes are in ``edits``
and ``message(id)``. A deferred answer's loading message is not in ``messages``: a followup
that fills it in is, a ``PATCH @original`` that fills it in shows in ``edits``. ``wait_for``
returns once the fake has recorded something, which is before the client has read the answer.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import math
import mimetypes
import re
import secrets
import string
import time
import urllib.parse
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

from aiohttp import WSMsgType, web

EPHEMERAL, SUPPRESS_EMBEDS, LOADING, SILENT = 1 << 6, 1 << 2, 1 << 7, 1 << 12
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message content
GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT = 1 << 9, 1 << 12, 1 << 15
MEMBER_PERMISSIONS = "2248473465835073"  # what @everyone may do in a new server
GUILD_MEMBERS = 1 << 1  # the privileged intent for member joins, leaves and updates
CREATE_INSTANT_INVITE, ADMINISTRATOR, VIEW_CHANNEL = 1 << 0, 1 << 3, 1 << 10
SEND_MESSAGES, EMBED_LINKS, ATTACH_FILES = 1 << 11, 1 << 14, 1 << 15
READ_MESSAGE_HISTORY, MANAGE_ROLES = 1 << 16, 1 << 28
ALL_PERMISSIONS = (1 << 51) - 1
# The bot's own role as README's invite link asks for it.
BOT_PERMISSIONS = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY
BOT_PERMISSIONS |= CREATE_INSTANT_INVITE | MANAGE_ROLES
OWNER_ID = 800000000000000001
INVITE_MAX_AGE = 7 * 24 * 3600
ATTACHMENT_LIMIT = 10 * 1024 * 1024
LOCALES = frozenset(
    "id da de en-GB en-US es-ES es-419 fr hr it lt hu nl no pl pt-BR ro fi sv-SE vi tr cs el bg "
    "ru uk hi th zh-CN ja zh-TW ko".split()
)
# Interaction type -> the callback types Discord accepts for it.
CALLBACK_TYPES = {1: {1}, 2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}
# Placeholders of the route table below and what they match.
_PARTS = {"token": r"[^/]+", "target": r"\d+|@original"}

_MESSAGE_DEFAULTS: dict[str, Any] = {
    "type": 0,
    "content": "",
    "edited_timestamp": None,
    "tts": False,
    "mention_everyone": False,
    "mentions": [],
    "mention_roles": [],
    "attachments": [],
    "embeds": [],
    "components": [],
    "pinned": False,
    "flags": 0,
}
_MEMBER_DEFAULTS: dict[str, Any] = {
    "roles": [],
    "joined_at": "2025-01-01T00:00:00+00:00",
    "deaf": False,
    "mute": False,
    "flags": 0,
    "pending": False,
    "nick": None,
    "avatar": None,
}
_ROLE_DEFAULTS: dict[str, Any] = {
    "color": 0,
    "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
    "hoist": False,
    "icon": None,
    "unicode_emoji": None,
    "managed": False,
    "mentionable": False,
    "flags": 0,
}
_TEXT_CHANNEL_DEFAULTS: dict[str, Any] = {
    "type": 0,
    "name": "general",
    "position": 0,
    "permission_overwrites": [],
    "nsfw": False,
    "parent_id": None,
    "last_message_id": None,
}


class DiscordError(Exception):
    """An error answer: HTTP status, Discord's JSON error code and message, more body keys."""

    def __init__(self, status: int, code: int, message: str, **extra: Any) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status, self.code, self.message, self.extra = status, code, message, extra
        self.headers: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "code": self.code, **self.extra}


def form_error(path: str, message: str) -> DiscordError:
    """400 "Invalid Form Body" with Discord's nested ``errors`` for a dotted path."""
    errors: dict[str, Any] = {"_errors": [{"code": "BASE_TYPE_INVALID", "message": message}]}
    for part in reversed(path.split(".")):
        errors = {part: errors}
    return DiscordError(400, 50035, "Invalid Form Body", errors=errors)


def _path_regex(path: str) -> re.Pattern[str]:
    """A path like "/channels/{channel}/messages" as a regex, a named group per placeholder."""

    def group(placeholder: re.Match[str]) -> str:
        name = placeholder[1]
        return f"(?P<{name}>{_PARTS.get(name, r'[0-9]+')})"

    return re.compile(re.sub(r"\{(\w+)\}", group, path))


def _walk(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """All components, depth first (rows, then their buttons and selects)."""
    found = []
    for component in components:
        found += [component, *_walk(component.get("components") or [])]
    return found


def _option_type(value: Any) -> int:
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    return 10 if isinstance(value, float) else 3


def _stream_compressor(kind: str | None) -> Callable[[bytes], bytes] | None:
    """Gateway transport compression: one stream per connection, flushed after each payload."""
    if kind == "zlib-stream":
        stream = zlib.compressobj()
        return lambda data: stream.compress(data) + stream.flush(zlib.Z_SYNC_FLUSH)
    if kind == "zstd-stream":
        import zstandard

        zstd = zstandard.ZstdCompressor().compressobj()
        return lambda data: zstd.compress(data) + zstd.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
    return None


@dataclass
class _Window:
    """A Discord bucket: `limit` requests, then none until `per` s after the first one."""

    limit: int
    per: float
    name: str
    start: float = -math.inf
    used: int = 0

    def take(self, now: float) -> float:
        """Count a request: 0 if allowed, else the seconds until the bucket resets."""
        if now - self.start >= self.per:
            self.start, self.used = now, 0
        if self.used >= self.limit:
            return self.start + self.per - now
        self.used += 1
        return 0.0

    def headers(self, now: float) -> dict[str, str]:
        reset_after = math.ceil(max(0.0, self.start + self.per - now) * 1000) / 1000  # round up
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.limit - self.used),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": hashlib.md5(self.name.encode()).hexdigest(),
        }


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    code: int
    retry_after: float | None
    after_create: bool


@dataclass
class _Interaction:
    id: int
    token: str
    kind: int  # 2 command, 3 component, 4 autocomplete
    channel_id: int
    user: dict[str, Any]
    component_message: int | None = None  # the message whose button was pressed
    sent_at: float = field(default_factory=time.monotonic)  # set again by dispatch()
    responded: bool = False
    original: int | None = None  # the @original message
    message_ids: set[int] = field(default_factory=set)  # the messages its token may edit


@dataclass
class _Request:
    match: dict[str, str]  # the route's placeholders
    query: Any
    payload: Any  # the JSON body, or a multipart body's payload_json; {} when empty
    files: dict[int, tuple[str, bytes]]  # uploads by n of files[n]: (filename, bytes)
    reason: str | None = None  # X-Audit-Log-Reason


@dataclass
class _Guild:
    """A server the bot is in: roles by id (@everyone has the guild's id), members by user id
    (each a member object with "roles"), the bot among them."""

    id: int
    name: str
    roles: dict[int, dict[str, Any]] = field(default_factory=dict)
    members: dict[int, dict[str, Any]] = field(default_factory=dict)
    owner_id: int = OWNER_ID
    system_channel_id: int | None = None


@dataclass
class _Session:
    ws: web.WebSocketResponse
    compress: Callable[[bytes], bytes] | None
    session_id: str | None = None
    seq: int = 0
    intents: int = 0
    known: set[int] = field(default_factory=set)  # guilds and channels it was told about
    shard: tuple[int, int] | None = None  # [id, count] from IDENTIFY
    peer: tuple[str, int] | None = None  # the client's address (which process holds it)


class FakeDiscord:
    """Discord for one bot application; see the module docstring."""

    def __init__(
        self,
        *,
        token: str = "discord-test-token",
        app_id: int = 900000000000000001,
        bot_id: int = 900000000000000001,
        bot_name: str = "paybot",
        privileged_allowed: bool = True,
    ) -> None:
        self.token, self.app_id, self.bot_id = token, app_id, bot_id
        self.privileged_allowed = privileged_allowed
        self.heartbeat_interval = 41250  # ms, sent in HELLO
        self.interaction_timeout = 3.0  # s to answer an interaction after dispatch()
        self.token_ttl = 15 * 60.0  # s an interaction token works after dispatch()
        self.nonce_window = 5 * 60.0  # s a message nonce is remembered
        # Bucket -> (requests, per seconds); call reset_limits() after changing them.
        self.limits = {
            "global": (50, 1.0),
            "message-create": (5, 5.0),
            "webhook": (5, 2.0),
            "route": (50, 1.0),
        }
        self.api_base = self.gateway_url = ""
        self.bot_user = self._user(bot_id, bot_name, bot=True)
        self.users: dict[int, dict[str, Any]] = {bot_id: self.bot_user}
        self.guilds: dict[int, _Guild] = {}  # the servers the bot is in
        self.channels: dict[int, dict[str, Any]] = {}
        self.dm_closed: set[int] = set()

        self.identify: dict[str, Any] | None = None
        self.resumes: list[dict[str, Any]] = []
        self.member_requests: list[dict[str, Any]] = []  # gateway op 8, as asked
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        self.callbacks: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.edits: list[dict[str, Any]] = []
        self.deleted: list[int] = []
        self.requests: list[tuple[str, str]] = []
        self.rate_limited = 0
        self.role_changes: list[dict[str, Any]] = []  # PUT/DELETE of a member's role, served
        self.invites: list[dict[str, Any]] = []  # invites created, as answered
        self.invite_requests: list[dict[str, Any]] = []  # each served: body, reason, code

        self._last_id = 0
        self._stored: dict[int, dict[str, Any]] = {}  # message id -> the message as it is now
        self._nonces: dict[tuple[int, str], tuple[float, int]] = {}
        self._interactions: dict[int, _Interaction] = {}
        self._by_token: dict[str, _Interaction] = {}
        self._faults: list[_Fault] = []
        self._garbled: list[tuple[str, re.Pattern[str], web.Response]] = []
        self._stalls: list[tuple[str, re.Pattern[str], float]] = []
        self._windows: dict[str, _Window] = {}
        self._sessions: list[_Session] = []
        self._shards: dict[str, tuple[int, int] | None] = {}  # session id -> its shard
        self._known: dict[str, set[int]] = {}  # session id -> servers, channels it knows
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None

        message = "/channels/{channel}/messages/{message}"
        hook = "/webhooks/{app}/{token}"
        commands = "/applications/{app}/commands"
        guild_commands = "/applications/{app}/guilds/{guild}/commands"
        member_role = "/guilds/{guild}/members/{user}/roles/{role}"
        # method, path, handler, bucket (None: no limits), the bucket's major parameter
        routes = [
            ("GET", "/users/@me", self._get_me, "route", ""),
            ("GET", "/users/{user}", self._get_user, "route", ""),
            ("GET", "/gateway/bot", self._get_gateway, "route", ""),
            ("GET", "/oauth2/applications/@me", self._get_application, "route", ""),
            ("GET", commands, self._get_commands, "route", ""),
            ("PUT", commands, self._put_commands, "route", ""),
            ("GET", guild_commands, self._get_commands, "route", "guild"),
            ("PUT", guild_commands, self._put_commands, "route", "guild"),
            ("POST", "/users/@me/channels", self._open_dm, "route", ""),
            ("POST", "/channels/{channel}/messages", self._create, "message-create", "channel"),
            ("GET", message, self._get_message, "route", "channel"),
            ("PATCH", message, self._edit_message, "route", "channel"),
            ("DELETE", message, self._delete_message, "route", "channel"),
            ("POST", "/channels/{channel}/typing", self._typing, "route", "channel"),
            ("POST", "/channels/{channel}/invites", self._create_invite, "route", "channel"),
            ("GET", "/guilds/{guild}", self._get_guild, "route", "guild"),
            ("GET", "/guilds/{guild}/roles", self._get_roles, "route", "guild"),
            ("GET", "/guilds/{guild}/channels", self._get_channels, "route", "guild"),
            ("GET", "/guilds/{guild}/members/{user}", self._get_member, "route", "guild"),
            ("PUT", member_role, self._add_member_role, "route", "guild"),
            ("DELETE", member_role, self._remove_member_role, "route", "guild"),
            ("POST", "/interactions/{id}/{token}/callback", self._callback, None, ""),
            ("POST", hook, self._followup, "webhook", "token"),
            ("GET", hook + "/messages/{target}", self._hook_get, "webhook", "token"),
            ("PATCH", hook + "/messages/{target}", self._hook_edit, "webhook", "token"),
            ("DELETE", hook + "/messages/{target}", self._hook_delete, "webhook", "token"),
        ]
        self._routes = [(method, _path_regex(path), *rest) for method, path, *rest in routes]
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_route("*", "/api/v10/{path:.*}", self._handle)
        self.app.router.add_get("/gateway", self._gateway)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen on 127.0.0.1 on a free port; sets api_base and gateway_url."""
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.api_base = f"http://127.0.0.1:{port}/api/v10"
        self.gateway_url = f"ws://127.0.0.1:{port}/gateway"

    async def stop(self) -> None:
        """Close the gateway sessions (1001) and shut down; close the client first."""
        await self.close_sessions(1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def install(self, monkeypatch: Any) -> None:
        """Point discord.py here, for one test (pytest's monkeypatch undoes it)."""
        import discord.gateway
        import discord.http
        import yarl

        monkeypatch.setattr(discord.http.Route, "BASE", self.api_base)
        gateway = yarl.URL(self.gateway_url)
        monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", gateway)

    # ------------------------------------------------------------------ test controls

    def fail_next(
        self,
        method: str,
        path_pattern: str,
        status: int,
        *,
        code: int = 0,
        retry_after: float | None = None,
        times: int = 1,
        after_create: bool = False,
    ) -> None:
        """Answer the next `times` requests of `method` whose path (after /api/v10) fully
        matches `path_pattern` with `status` and Discord's error JSON; a 429 gets retry_after
        (default 1 s) and rate-limit headers. after_create: serve the request first (the
        message is created and recorded), then answer the error -- a lost answer."""
        if status == 429 and retry_after is None:
            retry_after = 1.0
        pattern = re.compile(path_pattern)
        fault = _Fault(method.upper(), pattern, status, code, retry_after, after_create)
        self._faults += [fault] * times

    def garble_next(
        self,
        method: str,
        path_pattern: str,
        body: str | Any,
        *,
        status: int = 200,
        content_type: str = "application/json",
    ) -> None:
        """Answer the next request of `method` whose path fully matches `path_pattern` with
        exactly this body: a string as it is (not JSON, an HTML page), anything else as JSON
        (a list where an object belongs, an object without its fields)."""
        text = body if isinstance(body, str) else json.dumps(body)
        answer = web.Response(
            body=text.encode(),
            status=status,
            headers={"Content-Type": content_type, "Via": "1.1 google"},
        )
        self._garbled.append((method.upper(), re.compile(path_pattern), answer))

    def reset_limits(self) -> None:
        """Forget the rate-limit history (e.g. after changing `limits`)."""
        self._windows.clear()

    async def close_sessions(self, code: int = 4000) -> None:
        """Close every gateway connection with `code` (after 4000 discord.py resumes)."""
        for session in list(self._sessions):
            await session.ws.close(code=code, message=b"closed by the test")

    def stall_next(self, method: str, path_pattern: str, seconds: float) -> None:
        """Answer the next request of `method` whose path fully matches `path_pattern` only
        after `seconds` (a slow or hanging Discord)."""
        self._stalls.append((method.upper(), re.compile(path_pattern), seconds))

    def add_guild(self, guild_id: int, name: str = "Test server") -> None:
        """Put the bot in a server (also done by a guild command sync and by payloads with
        a guild_id): @everyone, the bot's managed role (position 1, BOT_PERMISSIONS) and the
        bot as member. Sessions get its GUILD_CREATE before the next event that concerns it."""
        if guild_id in self.guilds:
            return
        guild = self.guilds[guild_id] = _Guild(guild_id, name)
        self._put_role(guild, guild_id, "@everyone", 0, int(MEMBER_PERMISSIONS))
        bot_role = self._put_role(guild, self._snowflake(), self.bot_user["username"], 1)
        bot_role |= {"managed": True, "tags": {"bot_id": str(self.bot_id)}}
        bot_role["permissions"] = str(BOT_PERMISSIONS)
        guild.members[self.bot_id] = self._member(self.bot_id, [int(bot_role["id"])])

    def bot_role(self, guild_id: int) -> int:
        """The id of the bot's own managed role in the server."""
        roles = self.guilds[guild_id].roles.values()
        return next(int(r["id"]) for r in roles if r.get("tags", {}).get("bot_id"))

    def create_role(self, guild_id: int, name: str, *, position: int, permissions: int = 0) -> int:
        """A new role in the server (positions are taken as given; 0 is @everyone's)."""
        self.add_guild(guild_id)
        role_id = self._snowflake()
        self._put_role(self.guilds[guild_id], role_id, name, position, permissions)
        return role_id

    def edit_role(
        self,
        guild_id: int,
        role_id: int,
        *,
        position: int | None = None,
        permissions: int | None = None,
    ) -> None:
        """Move a role or set its permissions (the bot's: `bot_role`; @everyone: guild id)."""
        role = self.guilds[guild_id].roles[role_id]
        if position is not None:
            role["position"] = position
        if permissions is not None:
            role["permissions"] = str(permissions)

    def delete_role(self, guild_id: int, role_id: int) -> None:
        guild = self.guilds[guild_id]
        del guild.roles[role_id]
        for member in guild.members.values():
            member["roles"] = [r for r in member["roles"] if r != str(role_id)]

    def add_member(
        self, guild_id: int, user_id: int, name: str = "alice", roles: tuple[int, ...] = ()
    ) -> None:
        """Make a user a member of the server (as if they joined earlier: no event)."""
        self.add_guild(guild_id)
        if user_id not in self.users:
            self.user_payload(user_id, name)
        self.guilds[guild_id].members[user_id] = self._member(user_id, list(roles))

    async def join(self, guild_id: int, user_id: int, name: str = "alice") -> None:
        """The user joins the server: a member now, and GUILD_MEMBER_ADD goes to every session
        that asked for the GUILD_MEMBERS intent (none: Discord tells nobody)."""
        self.add_member(guild_id, user_id, name)
        event = copy.deepcopy(self.guilds[guild_id].members[user_id])
        await self._broadcast("GUILD_MEMBER_ADD", event | {"guild_id": str(guild_id)})

    def remove_member(self, guild_id: int, user_id: int) -> None:
        """The user left the server (no event)."""
        self.guilds[guild_id].members.pop(user_id, None)

    def member_roles(self, guild_id: int, user_id: int) -> set[int]:
        """The member's roles now (KeyError if not a member)."""
        return {int(r) for r in self.guilds[guild_id].members[user_id]["roles"]}

    def add_channel(
        self,
        guild_id: int,
        name: str = "general",
        *,
        position: int = 0,
        kind: int = 0,
        overwrites: list[dict[str, Any]] | None = None,
        system: bool = False,
    ) -> int:
        """A channel in the server (kind 0 text, 2 voice, 4 category); `overwrites` as
        Discord's permission_overwrites ({"id", "type": 0 role / 1 member, "allow", "deny"}
        with integer bits); `system`: the server's system channel."""
        self.add_guild(guild_id)
        channel_id = self._snowflake()
        channel = copy.deepcopy(_TEXT_CHANNEL_DEFAULTS) | {"name": name, "position": position}
        channel |= {"id": str(channel_id), "guild_id": str(guild_id), "type": kind}
        if kind == 2:  # voice
            channel |= {"bitrate": 64000, "user_limit": 0, "rtc_region": None}
        channel["permission_overwrites"] = [
            {"id": str(o["id"]), "type": o.get("type", 0)}
            | {"allow": str(o.get("allow", 0)), "deny": str(o.get("deny", 0))}
            for o in overwrites or []
        ]
        self.channels[channel_id] = channel
        if system:
            self.guilds[guild_id].system_channel_id = channel_id
        return channel_id

    def permissions(self, guild_id: int, user_id: int, channel_id: int | None = None) -> int:
        """A member's permissions as Discord computes them: in the server, or in a channel."""
        guild = self.guilds[guild_id]
        if user_id == guild.owner_id:
            return ALL_PERMISSIONS
        member_roles = [int(r) for r in guild.members[user_id]["roles"]]
        allowed = int(guild.roles[guild_id]["permissions"])
        for role_id in member_roles:
            allowed |= int(guild.roles[role_id]["permissions"]) if role_id in guild.roles else 0
        if allowed & ADMINISTRATOR:
            return ALL_PERMISSIONS
        if channel_id is None:
            return allowed
        overwrites = {
            int(o["id"]): (int(o["allow"]), int(o["deny"]))
            for o in self.channels[channel_id]["permission_overwrites"]
        }
        allow, deny = overwrites.get(guild_id, (0, 0))
        allowed = (allowed & ~deny) | allow
        allow = deny = 0
        for role_id in member_roles:
            allow |= overwrites.get(role_id, (0, 0))[0]
            deny |= overwrites.get(role_id, (0, 0))[1]
        allowed = (allowed & ~deny) | allow
        allow, deny = overwrites.get(user_id, (0, 0))
        allowed = (allowed & ~deny) | allow
        return allowed if allowed & VIEW_CHANNEL else 0

    def dm_channel_for(self, user_id: int) -> int:
        """The user's DM channel, opened now if need be (as POST /users/@me/channels does)."""
        return int(self._channel_for(user_id, None, None)["id"])

    def dm_channel_of(self, user_id: int) -> int | None:
        """The user's DM channel if one was opened (by the bot or a payload builder)."""
        for channel_id, channel in self.channels.items():
            if channel["type"] == 1 and channel["recipients"][0]["id"] == str(user_id):
                return channel_id
        return None

    def message(self, message_id: int | str) -> dict[str, Any]:
        """A message as it is now (KeyError if unknown or deleted)."""
        return copy.deepcopy(self._stored[int(message_id)])

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send an op 0 event to every identified gateway session, as its intents allow.
        An INTERACTION_CREATE starts the interaction's clocks (3 s to answer, token life)."""
        if not any(s.session_id and not s.ws.closed for s in self._sessions):
            raise AssertionError(f"no gateway session to dispatch {event} to")
        if event == "INTERACTION_CREATE" and int(data["id"]) in self._interactions:
            self._interactions[int(data["id"])].sent_at = time.monotonic()
        await self._broadcast(event, data)

    def sessions(self, shard: int | None = None) -> list[_Session]:
        """The live identified gateway sessions (of shard `shard` when given)."""
        live = [s for s in self._sessions if s.session_id and not s.ws.closed]
        if shard is None:
            return live
        return [s for s in live if (s.shard[0] if s.shard else 0) == shard]

    @staticmethod
    def _shard_of(session: _Session, data: dict[str, Any]) -> bool:
        """Whether the event `data` belongs to the session's shard."""
        if session.shard is None:
            return True
        shard_id, count = session.shard
        guild = data.get("guild_id")
        return (int(guild) >> 22) % count == shard_id if guild else shard_id == 0

    async def _broadcast(self, event: str, data: dict[str, Any]) -> None:
        live = [s for s in self.sessions() if self._shard_of(s, data)]
        for session in live:
            visible = self._visible(session, event, data)
            if visible is not None:
                await self._introduce(session, visible)
                await self._send_event(session, event, visible)

    async def wait_ready(self, timeout: float = 5.0) -> None:
        """Until a gateway session got READY."""
        await self._wait(lambda: any(s.session_id for s in self._sessions), timeout, "READY")

    async def wait_for(
        self,
        predicate: Callable[[Any], Any] = lambda entry: True,
        timeout: float = 5.0,
        *,
        what: str = "messages",
    ) -> Any:
        """The first entry of self.<what> ("messages", "callbacks", "edits", "requests",
        "resumes") for which predicate is true, waiting until one is recorded."""
        found: list[Any] = []

        def check() -> bool:
            found[:] = [entry for entry in getattr(self, what) if predicate(entry)][:1]
            return bool(found)

        await self._wait(check, timeout, f"no such entry in {what}: {getattr(self, what)}")
        return found[0]

    async def _wait(self, check: Callable[[], bool], timeout: float, failure: str) -> None:
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(check)
        except TimeoutError:
            raise AssertionError(f"not within {timeout} s: {failure}") from None

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------------ payload builders

    def user_payload(self, user_id: int, name: str = "alice") -> dict[str, Any]:
        """A user object; remembered, so later payloads and DMs show this user."""
        self.users[user_id] = self._user(user_id, name)
        return copy.deepcopy(self.users[user_id])

    def slash_payload(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        user_id: int,
        guild_id: int | None = None,
        channel_id: int | None = None,
        locale: str = "en-US",
        command_id: int | None = None,
        subcommand: str | None = None,
        permissions: str = MEMBER_PERMISSIONS,
        focused: str | None = None,
    ) -> dict[str, Any]:
        """An INTERACTION_CREATE "d" for chat-input command `name` (type 2; type 4 autocomplete
        with `focused`) as synced (to the guild, else globally): its id, and option types as it
        declares them (else from the Python values). subcommand: "sub" or "group sub". In a
        guild it has a member; in a DM the user and the user's DM channel."""
        synced = self.commands.get(guild_id, []) if guild_id is not None else []
        scope = guild_id if any(c["name"] == name for c in synced) else None
        command = next((c for c in self.commands.get(scope, []) if c["name"] == name), None)
        spec = command or {}
        path = subcommand.split() if subcommand else []
        for part in path:
            spec = next((o for o in spec.get("options", []) if o["name"] == part), {})
        declared = {o["name"]: o["type"] for o in spec.get("options", [])}
        built: list[dict[str, Any]] = []
        for key, value in (options or {}).items():
            option = {"name": key, "type": declared.get(key, _option_type(value)), "value": value}
            built.append(option | ({"focused": True} if key == focused else {}))
        for depth in reversed(range(len(path))):
            kind = 1 if depth == len(path) - 1 else 2
            built = [{"name": path[depth], "type": kind, "options": built}]
        data = {"id": str(command_id or (command or {}).get("id") or self._snowflake())}
        data |= {"name": name, "type": 1, "options": built}
        if scope is not None:
            data["guild_id"] = str(scope)  # a guild command
        kind = 2 if focused is None else 4
        return self._interaction(kind, data, user_id, guild_id, channel_id, locale, permissions)

    def autocomplete_payload(
        self, name: str, options: dict[str, Any], focused: str, **same: Any
    ) -> dict[str, Any]:
        """slash_payload as an autocomplete interaction (type 4) for option `focused`."""
        return self.slash_payload(name, options, focused=focused, **same)

    def component_payload(
        self,
        custom_id: str,
        message: dict[str, Any],
        *,
        user_id: int,
        guild_id: int | None = None,
        locale: str = "en-US",
        values: list[str] | None = None,
    ) -> dict[str, Any]:
        """An INTERACTION_CREATE "d" (type 3) for pressing `custom_id` (a button; a select
        with `values`) on `message` (an entry of self.messages, taken as it is now)."""
        current = self._stored[int(message["id"])]
        component = next(
            (c for c in _walk(current["components"]) if c.get("custom_id") == custom_id), None
        )
        if component is None:
            raise KeyError(f"message {current['id']} has no component {custom_id!r}")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component["type"]}
        if values is not None:
            data["values"] = values
        channel = self.channels[int(current["channel_id"])]
        guild_id = guild_id or (int(channel["guild_id"]) if "guild_id" in channel else None)
        payload = self._interaction(
            3, data, user_id, guild_id, int(channel["id"]), locale, MEMBER_PERMISSIONS
        )
        payload["message"] = copy.deepcopy(current)
        self._interactions[int(payload["id"])].component_message = int(current["id"])
        return payload

    def message_payload(
        self,
        content: str,
        *,
        user_id: int,
        channel_id: int | None = None,
        guild_id: int | None = None,
        mention_bot: bool = False,
    ) -> dict[str, Any]:
        """A MESSAGE_CREATE "d" from a user: in a guild channel, or without guild_id in the
        user's DM. mention_bot starts it with "<@bot>" and lists the bot in mentions."""
        channel = self._channel_for(user_id, guild_id, channel_id)
        if mention_bot and f"<@{self.bot_id}>" not in content:
            content = f"<@{self.bot_id}> {content}"
        message = copy.deepcopy(_MESSAGE_DEFAULTS) | {
            "id": str(self._snowflake()),
            "channel_id": channel["id"],
            "author": copy.deepcopy(self.users[user_id]),
            "content": content,
            "timestamp": datetime.now(UTC).isoformat(),
            "mentions": [copy.deepcopy(self.bot_user)] if mention_bot else [],
        }
        self._stored[int(message["id"])] = message
        if guild_id is not None:
            member = copy.deepcopy(_MEMBER_DEFAULTS)
            return copy.deepcopy(message) | {"guild_id": str(guild_id), "member": member}
        return copy.deepcopy(message)

    # ------------------------------------------------------------------ REST plumbing

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method, path = request.method, "/" + request.match_info["path"]
        self.requests.append((method, path))
        headers = {"Via": "1.1 google"}
        for garbled in self._garbled:
            if garbled[0] == method and garbled[1].fullmatch(path):
                self._garbled.remove(garbled)
                return garbled[2]
        for stall in self._stalls:
            if stall[0] == method and stall[1].fullmatch(path):
                self._stalls.remove(stall)
                await asyncio.sleep(stall[2])
                break
        try:
            handler, bucket, match, fault = self._route(request, method, path)
            if bucket is not None:
                headers |= bucket.headers(time.monotonic())
            payload, files = await self._read_body(request)
            reason = request.headers.get("X-Audit-Log-Reason")
            reason = urllib.parse.unquote(reason) if reason is not None else None
            result = await handler(_Request(match, request.query, payload, files, reason))
            if fault is not None:
                raise self._fault_error(fault)
        except (KeyError, TypeError, ValueError) as exc:  # a malformed request body
            error = form_error("_root", f"Invalid request: {exc!r}")
            return self._json(error.body(), error.status, headers)
        except DiscordError as error:
            if error.status == 429:
                self.rate_limited += 1
            return self._json(error.body(), error.status, headers | error.headers)
        finally:
            await self._notify()
        if result is None:
            return web.Response(status=204, headers=headers)
        return self._json(result, 200, headers)

    def _route(
        self, request: web.Request, method: str, path: str
    ) -> tuple[Callable[..., Any], _Window | None, dict[str, str], _Fault | None]:
        """The route's handler, after auth, rate limits and injected faults, in that order."""
        found = [(route, m) for route in self._routes if (m := route[1].fullmatch(path))]
        if not found:
            raise DiscordError(404, 0, "404: Not Found")
        route = next((r for r in found if r[0][0] == method), None)
        if route is None:
            raise DiscordError(405, 0, "405: Method Not Allowed")
        (_, pattern, handler, kind, major), match = route
        now = time.monotonic()
        if kind not in (None, "webhook"):  # interaction routes take no bot token
            if request.headers.get("Authorization") != f"Bot {self.token}":
                raise DiscordError(401, 0, "401: Unauthorized")
            self._take(self._window("global", "global"), now, is_global=True)
        bucket = None
        if kind is not None:
            name = f"{method} {pattern.pattern}" if kind == "route" else kind
            bucket = self._window(kind, name, match[major] if major else "")
            self._take(bucket, now)
        faults = [f for f in self._faults if f.method == method and f.pattern.fullmatch(path)]
        if faults:
            self._faults.remove(faults[0])
            if not faults[0].after_create:
                raise self._fault_error(faults[0])
        return handler, bucket, match.groupdict(), faults[0] if faults else None

    def _window(self, kind: str, name: str, major: str = "") -> _Window:
        key = f"{name} {major}"
        if key not in self._windows:
            self._windows[key] = _Window(*self.limits[kind], name=name)
        return self._windows[key]

    def _take(self, window: _Window, now: float, *, is_global: bool = False) -> None:
        wait = window.take(now)
        if wait > 0:
            raise self._too_many(wait, is_global, {} if is_global else window.headers(now))

    def _too_many(self, wait: float, is_global: bool, headers: dict[str, str]) -> DiscordError:
        error = DiscordError(429, 0, "You are being rate limited.", retry_after=round(wait, 3))
        error.extra["global"] = is_global
        error.headers = headers | {"Retry-After": str(math.ceil(wait))}
        error.headers["X-RateLimit-Scope"] = "global" if is_global else "user"
        if is_global:
            error.headers["X-RateLimit-Global"] = "true"
        return error

    def _fault_error(self, fault: _Fault) -> DiscordError:
        if fault.status == 429:
            wait = fault.retry_after or 1.0
            window = _Window(1, wait, "injected", start=time.monotonic(), used=1)
            return self._too_many(wait, False, window.headers(time.monotonic()))
        try:
            phrase = HTTPStatus(fault.status).phrase
        except ValueError:
            phrase = "Error"
        return DiscordError(fault.status, fault.code, f"{fault.status}: {phrase}")

    async def _read_body(self, request: web.Request) -> tuple[Any, dict[int, tuple[str, bytes]]]:
        files: dict[int, tuple[str, bytes]] = {}
        if request.content_type == "multipart/form-data":
            form = await request.post()
            for name, value in form.items():
                if isinstance(value, web.FileField):
                    index = re.fullmatch(r"files\[(\d+)\]", name)
                    n = int(index[1]) if index else len(files)
                    files[n] = (value.filename, value.file.read())
            return json.loads(str(form.get("payload_json") or "{}")), files
        if not request.can_read_body:
            return {}, files
        try:
            return await request.json(), files
        except ValueError:
            raise DiscordError(400, 50109, "The request body contains invalid JSON.") from None

    @staticmethod
    def _json(body: Any, status: int, headers: dict[str, str]) -> web.Response:
        headers = headers | {"Content-Type": "application/json"}
        return web.Response(body=json.dumps(body).encode(), status=status, headers=headers)

    # ------------------------------------------------------------------ users, app, commands

    def _user(self, user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
        return {
            "id": str(user_id),
            "username": name,
            "discriminator": "0",
            "global_name": None if bot else name.title(),
            "avatar": None,
            "bot": bot,
            "public_flags": 0,
        }

    async def _get_me(self, req: _Request) -> dict[str, Any]:
        return self.bot_user | {"verified": True, "mfa_enabled": False, "flags": 0}

    async def _get_user(self, req: _Request) -> dict[str, Any]:
        user_id = int(req.match["user"])
        return self.users.get(user_id) or self.user_payload(user_id)

    async def _get_gateway(self, req: _Request) -> dict[str, Any]:
        limit = {"total": 1000, "remaining": 999, "reset_after": 86_400_000, "max_concurrency": 1}
        return {"url": self.gateway_url, "shards": 1, "session_start_limit": limit}

    async def _get_application(self, req: _Request) -> dict[str, Any]:
        return {
            "id": str(self.app_id),
            "name": self.bot_user["username"],
            "description": "",
            "icon": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": self._user(800000000000000001, "owner"),
            "verify_key": "0" * 64,
            "flags": self._app_flags(),
            "bot": self.bot_user,
        }

    def _app_flags(self) -> int:
        # GATEWAY_PRESENCE_LIMITED, _GUILD_MEMBERS_LIMITED, _MESSAGE_CONTENT_LIMITED: switched on
        return (1 << 13) | (1 << 15) | (1 << 19) if self.privileged_allowed else 0

    def _scope(self, req: _Request) -> int | None:
        if int(req.match["app"]) != self.app_id:
            raise DiscordError(403, 50001, "Missing Access")
        if not req.match.get("guild"):
            return None
        self.add_guild(int(req.match["guild"]))
        return int(req.match["guild"])

    async def _get_commands(self, req: _Request) -> list[dict[str, Any]]:
        return copy.deepcopy(self.commands.get(self._scope(req), []))

    async def _put_commands(self, req: _Request) -> list[dict[str, Any]]:
        """Bulk overwrite: checked like Discord; commands that stay keep their ids."""
        scope = self._scope(req)
        if not isinstance(req.payload, list) or len(req.payload) > 100:
            raise form_error("_root", "Must be 100 or fewer in length.")
        old = {(c["name"], c["type"]): c["id"] for c in self.commands.get(scope, [])}
        result = []
        for index, command in enumerate(req.payload):
            key = (command.get("name"), command.get("type", 1))
            permissions = command.get("default_member_permissions")  # Discord answers a string
            self._check_command(command, str(index), chat_input=key[1] == 1)
            result.append(
                command
                | {"id": old.get(key) or str(self._snowflake()), "type": key[1]}
                | {"application_id": str(self.app_id), "version": str(self._snowflake())}
                | {"default_member_permissions": permissions and str(permissions)}
                | ({"guild_id": str(scope)} if scope else {})
            )
        if len({(c["name"], c["type"]) for c in result}) < len(result):
            raise form_error("_root", "Application command names must be unique")
        self.commands[scope] = result
        return copy.deepcopy(result)

    def _check_command(self, item: dict[str, Any], path: str, *, chat_input: bool) -> None:
        """Name and description lengths, localizations and option order, recursively."""
        texts = [("name", 32), ("description", 100)] if chat_input else [("name", 32)]
        for key, limit in texts:
            localized = item.get(f"{key}_localizations") or {}
            if not set(localized) <= LOCALES:
                raise form_error(f"{path}.{key}_localizations", "Invalid locale")
            for text in [item.get(key), *localized.values()]:
                if not isinstance(text, str) or not 1 <= len(text) <= limit:
                    raise form_error(f"{path}.{key}", f"Must be between 1 and {limit} in length.")
                name_ok = re.fullmatch(r"[-_'\w]+", text) and text == text.lower()
                if key == "name" and chat_input and not name_ok:
                    raise form_error(f"{path}.name", "Invalid application command name")
        options = item.get("options") or []
        if len(options) > 25 or len(item.get("choices") or []) > 25:
            raise form_error(f"{path}.options", "Must be 25 or fewer in length.")
        required = [bool(option.get("required")) for option in options]
        if required != sorted(required, reverse=True):
            raise form_error(f"{path}.options", "Required options must be placed first")
        for index, option in enumerate(options):
            self._check_command(option, f"{path}.options.{index}", chat_input=True)

    # ------------------------------------------------------------------ servers and members

    def _put_role(
        self, guild: _Guild, role_id: int, name: str, position: int, permissions: int = 0
    ) -> dict[str, Any]:
        role = copy.deepcopy(_ROLE_DEFAULTS) | {"id": str(role_id), "name": name}
        role |= {"position": position, "permissions": str(permissions)}
        guild.roles[role_id] = role
        return role

    def _member(self, user_id: int, roles: list[int]) -> dict[str, Any]:
        member = copy.deepcopy(_MEMBER_DEFAULTS) | {"user": copy.deepcopy(self.users[user_id])}
        member["roles"] = [str(r) for r in roles]
        return member

    def _guild(self, req: _Request) -> _Guild:
        guild = self.guilds.get(int(req.match["guild"]))
        if guild is None:
            raise DiscordError(404, 10004, "Unknown Guild")
        return guild

    def _guild_member(self, guild: _Guild, user_id: int) -> dict[str, Any]:
        if user_id not in guild.members:
            raise DiscordError(404, 10007, "Unknown Member")
        return guild.members[user_id]

    def _guild_payload(self, guild: _Guild) -> dict[str, Any]:
        """The guild object (GET /guilds/{g}, GUILD_CREATE without its gateway fields)."""
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [copy.deepcopy(r) for r in guild.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": guild.system_channel_id and str(guild.system_channel_id),
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
        }

    async def _get_guild(self, req: _Request) -> dict[str, Any]:
        guild = self._guild(req)
        payload = self._guild_payload(guild)
        if req.query.get("with_counts", "").lower() in ("1", "true"):
            payload |= {"approximate_member_count": len(guild.members)}
            payload |= {"approximate_presence_count": 0}
        return payload

    async def _get_roles(self, req: _Request) -> list[dict[str, Any]]:
        return [copy.deepcopy(r) for r in self._guild(req).roles.values()]

    async def _get_channels(self, req: _Request) -> list[dict[str, Any]]:
        guild = str(self._guild(req).id)
        return [copy.deepcopy(c) for c in self.channels.values() if c.get("guild_id") == guild]

    async def _get_member(self, req: _Request) -> dict[str, Any]:
        guild = self._guild(req)
        return copy.deepcopy(self._guild_member(guild, int(req.match["user"])))

    def _changeable_role(self, req: _Request) -> tuple[_Guild, dict[str, Any], int]:
        """Guild, member and role of a role change, after Discord's checks: the member and
        the role exist, the bot has Manage Roles and the role is below its highest role."""
        guild = self._guild(req)
        member = self._guild_member(guild, int(req.match["user"]))
        role_id = int(req.match["role"])
        if role_id not in guild.roles or role_id == guild.id:
            raise DiscordError(404, 10011, "Unknown Role")
        if not self.permissions(guild.id, self.bot_id) & MANAGE_ROLES:
            raise DiscordError(403, 50013, "Missing Permissions")
        highest = max(
            (guild.roles[int(r)]["position"] for r in guild.members[self.bot_id]["roles"]),
            default=0,
        )
        if guild.owner_id != self.bot_id and guild.roles[role_id]["position"] >= highest:
            raise DiscordError(403, 50013, "Missing Permissions")
        return guild, member, role_id

    def _record_role_change(self, req: _Request, method: str) -> None:
        change = {"method": method, "guild_id": int(req.match["guild"])}
        change |= {"user_id": int(req.match["user"]), "role_id": int(req.match["role"])}
        self.role_changes.append(change | {"reason": req.reason})

    async def _add_member_role(self, req: _Request) -> None:
        _guild, member, role_id = self._changeable_role(req)
        if str(role_id) not in member["roles"]:
            member["roles"].append(str(role_id))
        self._record_role_change(req, "PUT")

    async def _remove_member_role(self, req: _Request) -> None:
        _guild, member, role_id = self._changeable_role(req)
        member["roles"] = [r for r in member["roles"] if r != str(role_id)]
        self._record_role_change(req, "DELETE")

    async def _create_invite(self, req: _Request) -> dict[str, Any]:
        """An invite to a server channel: Create Invite needed there; unique=false may give
        back an invite with the same settings."""
        channel = self._channel(int(req.match["channel"]))
        if "guild_id" not in channel:
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        guild = self.guilds[int(channel["guild_id"])]
        max_age, max_uses = req.payload.get("max_age", 86400), req.payload.get("max_uses", 0)
        if not isinstance(max_age, int) or not 0 <= max_age <= INVITE_MAX_AGE:
            raise form_error("max_age", f"int value should be between 0 and {INVITE_MAX_AGE}.")
        if not isinstance(max_uses, int) or not 0 <= max_uses <= 100:
            raise form_error("max_uses", "int value should be between 0 and 100.")
        if not self.permissions(guild.id, self.bot_id, int(channel["id"])) & CREATE_INSTANT_INVITE:
            raise DiscordError(403, 50013, "Missing Permissions")
        temporary = bool(req.payload.get("temporary", False))
        settings = {"max_age": max_age, "max_uses": max_uses, "temporary": temporary}
        if not req.payload.get("unique", False):
            for earlier in self.invites:
                same = all(earlier[key] == value for key, value in settings.items())
                if same and earlier["channel"]["id"] == channel["id"]:
                    return copy.deepcopy(earlier)
        alphabet = string.ascii_letters + string.digits
        now = datetime.now(UTC)
        expires = now + timedelta(seconds=max_age) if max_age else None
        invite = {
            "type": 0,
            "code": "".join(secrets.choice(alphabet) for _ in range(10)),
            "inviter": copy.deepcopy(self.bot_user),
            "uses": 0,
            "created_at": now.isoformat(),
            "expires_at": expires and expires.isoformat(),
            "guild_id": str(guild.id),
            "guild": {"id": str(guild.id), "name": guild.name, "icon": None, "splash": None}
            | {"banner": None, "description": None, "features": [], "verification_level": 0}
            | {"vanity_url_code": None, "nsfw_level": 0, "premium_subscription_count": 0},
            "channel": {"id": channel["id"], "type": channel["type"], "name": channel["name"]},
        } | settings
        self.invites.append(invite)
        self.invite_requests.append({"code": invite["code"], "reason": req.reason} | req.payload)
        return copy.deepcopy(invite)

    # ------------------------------------------------------------------ channels and messages

    def _channel_for(self, user_id: int, guild_id: int | None, channel_id: int | None) -> dict:
        """The channel (remembered) something happens in: the given one, else the user's DM
        or the guild's first channel."""
        if user_id not in self.users:
            self.user_payload(user_id)
        if guild_id is None:
            channel_id = channel_id or self.dm_channel_of(user_id) or self._snowflake()
            recipients = [copy.deepcopy(self.users[user_id])]
            channel = {"id": str(channel_id), "type": 1, "recipients": recipients}
        else:
            self.add_guild(guild_id)
            channel_id = channel_id or next(
                (i for i, c in self.channels.items() if c.get("guild_id") == str(guild_id)),
                self._snowflake(),
            )
            channel = copy.deepcopy(_TEXT_CHANNEL_DEFAULTS)
            channel |= {"id": str(channel_id), "guild_id": str(guild_id)}
        return self.channels.setdefault(channel_id, channel)

    def _channel(self, channel_id: int) -> dict[str, Any]:
        if channel_id not in self.channels:
            raise DiscordError(404, 10003, "Unknown Channel")
        return self.channels[channel_id]

    async def _open_dm(self, req: _Request) -> dict[str, Any]:
        return copy.deepcopy(self._channel_for(int(req.payload["recipient_id"]), None, None))

    async def _typing(self, req: _Request) -> None:
        self._channel(int(req.match["channel"]))

    def _check_message(self, payload: dict[str, Any], files: dict, *, edit: bool = False) -> None:
        """Discord's size limits; no empty messages."""
        if len(payload.get("content") or "") > 2000:
            raise form_error("content", "Must be 2000 or fewer in length.")
        embeds = payload.get("embeds") or []
        if len(embeds) > 10:
            raise form_error("embeds", "Must be 10 or fewer in length.")
        total = 0
        for i, embed in enumerate(embeds):
            fields = embed.get("fields") or []
            if len(fields) > 25:
                raise form_error(f"embeds.{i}.fields", "Must be 25 or fewer in length.")
            texts = [
                ("title", embed.get("title"), 256),
                ("description", embed.get("description"), 4096),
                ("footer.text", (embed.get("footer") or {}).get("text"), 2048),
                ("author.name", (embed.get("author") or {}).get("name"), 256),
            ]
            for j, embed_field in enumerate(fields):
                texts.append((f"fields.{j}.name", embed_field.get("name"), 256))
                texts.append((f"fields.{j}.value", embed_field.get("value"), 1024))
            for key, text, limit in texts:
                total += len(text or "")
                if len(text or "") > limit:
                    raise form_error(f"embeds.{i}.{key}", f"Must be {limit} or fewer in length.")
        if total > 6000:
            raise form_error("embeds", "Embed size exceeds maximum size of 6000")
        rows = payload.get("components") or []
        if len(rows) > 5 or any(len(row.get("components") or []) > 5 for row in rows):
            raise form_error("components", "Must be 5 or fewer in length.")
        for component in _walk(rows):
            if (
                len(component.get("custom_id") or "") > 100
                or len(component.get("label") or "") > 80
            ):
                raise form_error("components", "custom_id (100) or label (80) is too long.")
        if any(len(data) > ATTACHMENT_LIMIT for _, data in files.values()):
            raise DiscordError(413, 40005, "Request entity too large")
        keys = ("content", "embeds", "components", "sticker_ids", "poll", "attachments")
        if not edit and not files and not any(payload.get(key) for key in keys):
            raise DiscordError(400, 50006, "Cannot send an empty message")

    def _attachments(self, channel_id: int, payload: dict, files: dict) -> list[dict[str, Any]]:
        """Attachment objects for the uploads files[n] (described by payload attachment id n)."""
        described = {str(a.get("id")): a for a in payload.get("attachments") or []}
        result = []
        for index, (filename, data) in sorted(files.items()):
            info = described.get(str(index), {})
            attachment_id, name = self._snowflake(), info.get("filename") or filename
            url = f"https://cdn.discordapp.com/attachments/{channel_id}/{attachment_id}/{name}"
            attachment = {"id": str(attachment_id), "filename": name, "size": len(data)}
            attachment |= {"url": url, "proxy_url": url.replace("cdn.", "media.")}
            attachment["content_type"] = (
                mimetypes.guess_type(name)[0] or "application/octet-stream"
            )
            if info.get("description"):
                attachment["description"] = info["description"]
            result.append(attachment)
        return result

    def _new_message(
        self,
        channel_id: int,
        payload: dict[str, Any],
        files: dict,
        *,
        flags: int = 0,
        interaction: _Interaction | None = None,
    ) -> dict[str, Any]:
        """A message by the bot, stored (not recorded) and returned."""
        message = copy.deepcopy(_MESSAGE_DEFAULTS) | {
            "id": str(self._snowflake()),
            "type": 19 if payload.get("message_reference") else 0,
            "channel_id": str(channel_id),
            "author": copy.deepcopy(self.bot_user),
            "timestamp": datetime.now(UTC).isoformat(),
            "tts": bool(payload.get("tts")),
            "flags": flags,
        }
        if payload.get("nonce") is not None:
            message["nonce"] = payload["nonce"]
        self._apply_edit(message, payload, files, "", record=False)
        message["edited_timestamp"] = None
        if interaction is not None:
            message["webhook_id"] = message["application_id"] = str(self.app_id)
            message["type"] = 20 if interaction.kind == 2 else 0  # CHAT_INPUT_COMMAND
            metadata = {"id": str(interaction.id), "type": interaction.kind}
            metadata |= {"user": interaction.user, "authorizing_integration_owners": {}}
            if interaction.original is not None:
                metadata["original_response_message_id"] = str(interaction.original)
            if interaction.component_message is not None:
                metadata["interacted_message_id"] = str(interaction.component_message)
            message["interaction_metadata"] = metadata
            interaction.message_ids.add(int(message["id"]))
        self._stored[int(message["id"])] = message
        return message

    def _record(self, message: dict, via: str, files: dict, token: str | None = None) -> None:
        entry = copy.deepcopy(message) | {"via": via, "token": token}
        entry["files"] = [files[n] for n in sorted(files)]
        entry["ephemeral"] = bool(message["flags"] & EPHEMERAL)
        self.messages.append(entry)

    def _apply_edit(
        self, message: dict, payload: dict, files: dict, via: str, *, record: bool = True
    ) -> None:
        """Set content, embeds, components and attachments as given. `attachments` lists the
        old attachments to keep (by id) and describes new uploads (id n for files[n])."""
        self._check_message(payload, files, edit=True)
        if "content" in payload:
            message["content"] = payload["content"] or ""
        if "embeds" in payload:
            message["embeds"] = [{"type": "rich"} | e for e in payload["embeds"] or []]
        if "components" in payload:
            message["components"] = copy.deepcopy(payload["components"] or [])
            for number, component in enumerate(_walk(message["components"]), start=1):
                component.setdefault("id", number)  # Discord numbers the components
        if "flags" in payload:  # of the flags, an edit may change only SUPPRESS_EMBEDS
            wanted = (payload["flags"] or 0) & SUPPRESS_EMBEDS
            message["flags"] = (message["flags"] & ~SUPPRESS_EMBEDS) | wanted
        new = self._attachments(int(message["channel_id"]), payload, files)
        if payload.get("attachments") is not None:
            keep = {str(a.get("id")) for a in payload["attachments"]}
            message["attachments"] = [a for a in message["attachments"] if a["id"] in keep]
        message["attachments"] += new
        message["edited_timestamp"] = datetime.now(UTC).isoformat()
        if record:
            edit = {"message_id": message["id"], "channel_id": message["channel_id"], "via": via}
            edit |= {"payload": copy.deepcopy(payload), "files": [files[n] for n in sorted(files)]}
            self.edits.append(edit)

    async def _create(self, req: _Request) -> dict[str, Any]:
        channel_id = int(req.match["channel"])
        channel = self._channel(channel_id)
        if channel["type"] == 1 and int(channel["recipients"][0]["id"]) in self.dm_closed:
            raise DiscordError(403, 50007, "Cannot send messages to this user")
        self._check_message(req.payload, req.files)
        nonce, now = req.payload.get("nonce"), time.monotonic()
        if nonce is not None and req.payload.get("enforce_nonce"):
            earlier = self._nonces.get((channel_id, str(nonce)))
            if earlier and now - earlier[0] < self.nonce_window and earlier[1] in self._stored:
                return copy.deepcopy(self._stored[earlier[1]])
        flags = (req.payload.get("flags") or 0) & (SUPPRESS_EMBEDS | SILENT)
        message = self._new_message(channel_id, req.payload, req.files, flags=flags)
        if nonce is not None:
            self._nonces[(channel_id, str(nonce))] = (now, int(message["id"]))
        self._record(message, "channel", req.files)
        return copy.deepcopy(message)

    def _channel_message(self, req: _Request) -> dict[str, Any]:
        message = self._stored.get(int(req.match["message"]))
        if message is None or message["channel_id"] != req.match["channel"]:
            raise DiscordError(404, 10008, "Unknown Message")
        return message

    async def _get_message(self, req: _Request) -> dict[str, Any]:
        return copy.deepcopy(self._channel_message(req))

    async def _edit_message(self, req: _Request) -> dict[str, Any]:
        message = self._channel_message(req)
        if message["author"]["id"] != str(self.bot_id):
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        self._apply_edit(message, req.payload, req.files, "channel")
        return copy.deepcopy(message)

    async def _delete_message(self, req: _Request) -> None:
        message = self._channel_message(req)
        del self._stored[int(message["id"])]
        self.deleted.append(int(message["id"]))

    # ------------------------------------------------------------------ interactions

    def _interaction(
        self,
        kind: int,
        data: dict[str, Any],
        user_id: int,
        guild_id: int | None,
        channel_id: int | None,
        locale: str,
        permissions: str,
    ) -> dict[str, Any]:
        """An INTERACTION_CREATE "d", and the fake's record of the interaction."""
        channel = self._channel_for(user_id, guild_id, channel_id)
        user = copy.deepcopy(self.users[user_id])
        interaction_id = self._snowflake()
        token = f"aW50ZXJhY3Rpb246{interaction_id}:{secrets.token_urlsafe(48)}"
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.app_id),
            "type": kind,
            "data": data,
            "token": token,
            "version": 1,
            "channel": copy.deepcopy(channel),
            "channel_id": channel["id"],
            "locale": locale,
            "app_permissions": MEMBER_PERMISSIONS,
            "entitlements": [],
            "attachment_size_limit": ATTACHMENT_LIMIT,
        }
        if guild_id is not None:
            payload["guild_id"] = str(guild_id)
            payload["guild"] = {"id": str(guild_id), "locale": "en-US", "features": []}
            payload["guild_locale"] = "en-US"
            payload["member"] = copy.deepcopy(_MEMBER_DEFAULTS)
            payload["member"] |= {"user": user, "permissions": permissions}
            payload["channel"]["permissions"] = permissions
            payload |= {"authorizing_integration_owners": {"0": str(guild_id)}, "context": 0}
        else:
            payload |= {"user": user, "authorizing_integration_owners": {"1": str(user_id)}}
            payload["context"] = 1  # BOT_DM
        record = _Interaction(interaction_id, token, kind, int(channel["id"]), user)
        self._interactions[interaction_id] = self._by_token[token] = record
        return payload

    async def _callback(self, req: _Request) -> dict[str, Any] | None:
        """The first answer to an interaction; with ?with_response=1 Discord returns
        {"interaction": {id, type, response_message_*}, "resource": {type, message?}}."""
        interaction = self._interactions.get(int(req.match["id"]))
        if interaction is None or interaction.token != req.match["token"]:
            raise DiscordError(404, 10062, "Unknown interaction")
        if interaction.responded:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        if time.monotonic() - interaction.sent_at > self.interaction_timeout:
            raise DiscordError(404, 10062, "Unknown interaction")
        kind, data = req.payload.get("type"), req.payload.get("data") or {}
        no_message = kind in (6, 7) and interaction.component_message is None
        if kind not in CALLBACK_TYPES.get(interaction.kind, set()) or no_message:
            raise form_error("type", "Value must be one of the valid callback types.")
        resource: dict[str, Any] = {"type": kind}
        if kind == 4 or kind == 5:  # a new message (5: a "thinking" one, to fill in later)
            flags = (data.get("flags") or 0) & (EPHEMERAL | SUPPRESS_EMBEDS | SILENT)
            if kind == 4:
                self._check_message(data, req.files)
            content = data if kind == 4 else {}
            flags |= LOADING if kind == 5 else 0
            message = self._new_message(
                interaction.channel_id, content, req.files, flags=flags, interaction=interaction
            )
            interaction.original = int(message["id"])
            if kind == 4:
                self._record(message, "callback", req.files, interaction.token)
                resource["message"] = copy.deepcopy(message)
        elif kind == 6 or kind == 7:  # (later) updates the message whose button was pressed
            interaction.original = interaction.component_message
            interaction.message_ids.add(interaction.original)
            if kind == 7:
                message = self._stored[interaction.original]
                self._apply_edit(message, data, req.files, "callback")
                resource["message"] = copy.deepcopy(message)
        answer: dict[str, Any] = {"id": str(interaction.id), "type": interaction.kind}
        if interaction.original is not None:
            message = self._stored[interaction.original]
            answer["response_message_id"] = message["id"]
            answer["response_message_loading"] = bool(message["flags"] & LOADING)
            answer["response_message_ephemeral"] = bool(message["flags"] & EPHEMERAL)
        interaction.responded = True
        record = {"interaction_id": interaction.id, "token": interaction.token, "type": kind}
        record |= {"data": copy.deepcopy(data), "files": [req.files[n] for n in sorted(req.files)]}
        self.callbacks.append(record)
        if req.query.get("with_response", "").lower() not in ("1", "true"):
            return None
        return {"interaction": answer, "resource": resource}

    def _hook_interaction(self, req: _Request) -> _Interaction:
        if int(req.match["app"]) != self.app_id:
            raise DiscordError(404, 10015, "Unknown Webhook")
        interaction = self._by_token.get(req.match["token"])
        if interaction is None or time.monotonic() - interaction.sent_at > self.token_ttl:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        return interaction

    def _hook_message(self, req: _Request) -> dict[str, Any]:
        interaction = self._hook_interaction(req)
        target = req.match["target"]
        message_id = interaction.original if target == "@original" else int(target)
        if message_id not in interaction.message_ids or message_id not in self._stored:
            raise DiscordError(404, 10008, "Unknown Message")
        return self._stored[message_id]

    async def _followup(self, req: _Request) -> dict[str, Any] | None:
        """A followup message; the first one after a deferred answer fills in its loading
        message (same id, ephemeral as deferred) instead of posting a new one."""
        interaction = self._hook_interaction(req)
        if not interaction.responded:
            raise DiscordError(404, 10015, "Unknown Webhook")
        self._check_message(req.payload, req.files)
        original = self._stored.get(interaction.original or 0)
        if original is not None and original["flags"] & LOADING:
            self._apply_edit(original, req.payload, req.files, "", record=False)
            original["flags"] &= ~LOADING
            original["edited_timestamp"] = None
            message = original
        else:
            flags = (req.payload.get("flags") or 0) & (EPHEMERAL | SUPPRESS_EMBEDS | SILENT)
            message = self._new_message(
                interaction.channel_id,
                req.payload,
                req.files,
                flags=flags,
                interaction=interaction,
            )
        self._record(message, "followup", req.files, interaction.token)
        if req.query.get("wait", "").lower() not in ("1", "true"):
            return None
        return copy.deepcopy(message)

    async def _hook_get(self, req: _Request) -> dict[str, Any]:
        return copy.deepcopy(self._hook_message(req))

    async def _hook_edit(self, req: _Request) -> dict[str, Any]:
        message = self._hook_message(req)
        self._apply_edit(message, req.payload, req.files, "webhook")
        message["flags"] &= ~LOADING
        return copy.deepcopy(message)

    async def _hook_delete(self, req: _Request) -> None:
        message = self._hook_message(req)
        del self._stored[int(message["id"])]
        self.deleted.append(int(message["id"]))

    # ------------------------------------------------------------------ gateway

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        compress = request.query.get("compress")
        if compress not in (None, "zlib-stream", "zstd-stream") or (
            request.query.get("encoding", "json") != "json"
        ):
            await ws.close(code=4000, message=b"Unsupported encoding or compression.")
            return ws
        session = _Session(ws, _stream_compressor(compress))
        session.peer = request.transport.get_extra_info("peername") if request.transport else None
        self._sessions.append(session)
        try:
            await self._send(
                session, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval}}
            )
            async for frame in ws:
                try:
                    payload = json.loads(frame.data) if frame.type is WSMsgType.TEXT else None
                    op, data = payload["op"], payload.get("d")
                except (ValueError, KeyError, TypeError):
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                await self._gateway_op(session, op, data)
        finally:
            self._sessions.remove(session)
        return ws

    async def _gateway_op(self, session: _Session, op: int, data: Any) -> None:
        ws = session.ws
        data = data if isinstance(data, dict) else {}
        if op == 1:  # HEARTBEAT
            await self._send(session, {"op": 11})
        elif op == 2:  # IDENTIFY
            if session.session_id is not None:
                await ws.close(code=4005, message=b"Already authenticated.")
            elif data.get("token") != self.token:
                await ws.close(code=4004, message=b"Authentication failed.")
            elif not isinstance(data.get("intents"), int):
                await ws.close(code=4013, message=b"Invalid intent(s).")
            elif data["intents"] & PRIVILEGED_INTENTS and not self.privileged_allowed:
                await ws.close(code=4014, message=b"Disallowed intent(s).")
            else:
                self.identify = copy.deepcopy(data)
                session.session_id, session.intents = secrets.token_hex(16), data["intents"]
                if isinstance(data.get("shard"), list) and len(data["shard"]) == 2:
                    session.shard = (int(data["shard"][0]), int(data["shard"][1]))
                self._shards[session.session_id] = session.shard
                ready = {
                    "v": 10,
                    "user": self.bot_user | {"verified": True, "mfa_enabled": False},
                    "guilds": [{"id": str(g), "unavailable": True} for g in self.guilds],
                    "session_id": session.session_id,
                    "session_type": "normal",
                    "resume_gateway_url": self.gateway_url,
                    "application": {"id": str(self.app_id), "flags": self._app_flags()},
                    "private_channels": [],
                }
                if "shard" in data:
                    ready["shard"] = data["shard"]
                session.known = self._known.setdefault(session.session_id, set())
                await self._send_event(session, "READY", ready)
                for guild_id in self.guilds:
                    await self._introduce(session, {"guild_id": guild_id})
        elif op == 6:  # RESUME
            if data.get("token") != self.token:
                await ws.close(code=4004, message=b"Authentication failed.")
            elif self.identify is None or data.get("session_id") not in self._known:
                await self._send(session, {"op": 9, "d": False})  # INVALID_SESSION
            else:
                self.resumes.append(copy.deepcopy(data))
                session.session_id, session.seq = data["session_id"], data.get("seq") or 0
                session.known = self._known[session.session_id]
                session.shard = self._shards.get(session.session_id)
                session.intents = self.identify["intents"]
                await self._send_event(session, "RESUMED", {})
        elif session.session_id is None:
            await ws.close(code=4003, message=b"Not authenticated.")
        elif op == 8:  # REQUEST_GUILD_MEMBERS: all of them with GUILD_MEMBERS, else the bot
            self.member_requests.append(copy.deepcopy(data))
            guild = self.guilds.get(int(data.get("guild_id") or 0))
            members = list(guild.members.values()) if guild else []
            if not session.intents & GUILD_MEMBERS:
                members = [m for m in members if m["user"]["id"] == str(self.bot_id)]
            chunk = {"guild_id": data.get("guild_id"), "members": copy.deepcopy(members)}
            chunk |= {"chunk_index": 0, "chunk_count": 1, "nonce": data.get("nonce")}
            await self._send_event(session, "GUILD_MEMBERS_CHUNK", chunk)
        elif op not in (3, 4, 8, 31):  # presence, voice state, request members / soundboard
            await ws.close(code=4001, message=b"Unknown opcode.")
        await self._notify()

    async def _introduce(self, session: _Session, data: dict[str, Any]) -> None:
        """Send GUILD_CREATE or CHANNEL_CREATE first for the server or channel of an event
        that the session has not heard of (as if the bot just joined, or it was just made)."""
        guild_id, channel_id = int(data.get("guild_id") or 0), int(data.get("channel_id") or 0)
        if not guild_id:
            return
        self.add_guild(guild_id)
        channels = [c for c in self.channels.values() if c.get("guild_id") == str(guild_id)]
        if guild_id not in session.known:
            guild = self.guilds[guild_id]
            payload = self._guild_payload(guild) | {"channels": copy.deepcopy(channels)}
            payload |= {"threads": [], "members": [copy.deepcopy(guild.members[self.bot_id])]}
            payload |= {"member_count": len(guild.members), "large": False}
            payload |= {"joined_at": _MEMBER_DEFAULTS["joined_at"]}
            await self._send_event(session, "GUILD_CREATE", payload)
            session.known |= {guild_id, *(int(c["id"]) for c in channels)}
        if channel_id in self.channels and channel_id not in session.known:
            await self._send_event(session, "CHANNEL_CREATE", self.channels[channel_id])
            session.known.add(channel_id)

    def _visible(self, session: _Session, event: str, data: dict) -> dict[str, Any] | None:
        """What Discord sends this session of an event, given its intents (None: nothing)."""
        if event.startswith("GUILD_MEMBER_") and event != "GUILD_MEMBERS_CHUNK":
            return data if session.intents & GUILD_MEMBERS else None
        if event != "MESSAGE_CREATE":
            return data
        in_guild = "guild_id" in data
        if not session.intents & (GUILD_MESSAGES if in_guild else DIRECT_MESSAGES):
            return None
        mentioned = any(user["id"] == str(self.bot_id) for user in data.get("mentions", []))
        if in_guild and not mentioned and not session.intents & MESSAGE_CONTENT:
            return data | {"content": "", "embeds": [], "attachments": [], "components": []}
        return data

    async def _send_event(self, session: _Session, event: str, data: dict[str, Any]) -> None:
        session.seq += 1
        await self._send(session, {"op": 0, "t": event, "s": session.seq, "d": data})

    async def _send(self, session: _Session, frame: dict[str, Any]) -> None:
        text = json.dumps({"t": None, "s": None, "d": None} | frame)
        if session.compress is None:
            await session.ws.send_str(text)
        else:
            await session.ws.send_bytes(session.compress(text.encode()))

    def _snowflake(self) -> int:
        """Snowflake-like ids: milliseconds since Discord's epoch (2015), strictly increasing."""
        stamp = (int(time.time() * 1000) - 1_420_070_400_000) << 22
        self._last_id = max(self._last_id + 1, stamp)
        return self._last_id
