"""A fake Telegram Bot API server on 127.0.0.1 for tests, spoken to by python-telegram-bot.

Point the real client at it with ``ApplicationBuilder().token(TOKEN).base_url(f"{fake.url}/bot")``
(or ``telegram.Bot(TOKEN, base_url=f"{fake.url}/bot")``); PTB appends the token, so requests
arrive as ``POST /bot<token>/<method>``. The file URL for downloads is ``f"{fake.url}/file/bot"``.

What PTB actually sends (python-telegram-bot 22, ``HTTPXRequest``): every call is a POST whose
body is ``application/x-www-form-urlencoded`` -- not JSON -- with each non-string value
JSON-encoded (``chat_id=123``, ``reply_markup={"inline_keyboard": ...}``, ``true``), and
``multipart/form-data`` with the same fields as text parts once a file is uploaded. The fake also
takes JSON bodies and query strings, and decodes all of these into typed ``params``.

The fake answers in the Bot API's shapes (``{"ok": true, "result": ...}`` and
``{"ok": false, "error_code", "description"[, "parameters"]}``), keeps chats, messages, uploaded
photos, updates, commands and the webhook in memory, enforces Telegram's flood limits, rejects
what Telegram rejects (unknown or unmodified edits, malformed HTML, over-long texts, bad callback
data) and can inject failures: error answers, malformed answers (`garble_next`), dropped
connections and blocked users. Groups and channels with the bot's rights, members, invite links
and join requests are in `tests/fakes/telegram_chats.py`.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import io
import itertools
import json
import math
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.telegram_chats import FakeGroup, FakeGroups, FakeLink, Member
from tests.fakes.telegram_errors import ApiError

BOT_ID = 999
BOT_FIRST_NAME = "Paybot"

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
DOCUMENT_LIMIT = 50 * 1024 * 1024  # bots upload files up to 50 MB
CALLBACK_DATA_LIMIT = 64

# Form fields that are plain strings even when they look like JSON (`text="42"` stays "42").
_STRING_FIELDS = frozenset(
    (
        "text caption data url secret_token language_code parse_mode callback_query_id "
        "inline_message_id ip_address description short_description name title photo document "
        "audio video animation voice sticker thumbnail file_id action emoji "
        "business_connection_id message_effect_id query invite_link"
    ).split()
)

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)

_HTML_TAGS = frozenset(
    ("b strong i em u ins s strike del span tg-spoiler a code pre blockquote tg-emoji").split()
)

_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


@dataclass
class Recorded:
    """One request the fake received (also the failed, throttled and dropped ones)."""

    method: str  # canonical name, e.g. "sendMessage", or as sent when unknown
    params: dict[str, Any]  # decoded: ints, bools, dicts (reply_markup) and lists are parsed
    files: dict[str, bytes]  # uploaded multipart files by field name
    at: float  # time.monotonic() of arrival
    chat_id: int | str | None
    http_method: str = "POST"
    status: int | None = None  # HTTP status answered; None while pending or when dropped
    description: str | None = None  # the error answer's description, as Telegram words it
    filenames: dict[str, str] = field(default_factory=dict)
    client: str | None = None  # the tag in the caller's base URL (`url_for`), if any

    @property
    def time(self) -> float:
        return self.at


@dataclass
class _Fault:
    status: int
    description: str
    retry_after: int | None


@dataclass
class _Garbled:
    body: str
    status: int
    content_type: str


def _caption(params: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """A media message's rendered caption (checked against the limit) and its source."""
    source = params.get("caption")
    if source in (None, ""):
        return {}, None
    caption = _render(str(source), params.get("parse_mode"))
    if len(caption) > CAPTION_LIMIT:
        raise ApiError(400, "Bad Request: message caption is too long")
    return {"caption": caption}, str(source)


class _Upload(bytes):
    """An uploaded file's bytes, with the name the client gave it."""

    filename: str

    def __new__(cls, data: bytes, filename: str) -> _Upload:
        upload = super().__new__(cls, data)
        upload.filename = filename
        return upload


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    width: int
    height: int
    path: str


@dataclass
class _StoredMessage:
    message: dict[str, Any]
    source: str | None = None  # text/caption as sent (before HTML rendering)
    parse_mode: str | None = None
    photo: bytes | None = None


class _Bucket:
    """Token bucket: `capacity` tokens, refilled at `rate` per second."""

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = now

    def wait(self, now: float) -> float:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1.0


class _HTMLRenderer(HTMLParser):
    """Checks Telegram's HTML subset and renders the plain text the way Telegram stores it."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.lines = source.splitlines(keepends=True)
        self.parts: list[str] = []
        self.stack: list[str] = []

    def _offset(self) -> int:
        line, col = self.getpos()
        prefix = "".join(self.lines[: line - 1]) + (
            self.lines[line - 1][:col] if self.lines else ""
        )
        return len(prefix.encode())

    @staticmethod
    def _fail(reason: str) -> ApiError:
        return ApiError(400, f"Bad Request: can't parse entities: {reason}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" or tag not in _HTML_TAGS:
            raise self._fail(f'Unsupported start tag "{tag}" at byte offset {self._offset()}')
        if tag == "span" and dict(attrs).get("class") != "tg-spoiler":
            raise self._fail(
                f'Tag "span" must have class "tg-spoiler" at byte offset {self._offset()}'
            )
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise self._fail(f'Unsupported start tag "{tag}" at byte offset {self._offset()}')

    def handle_endtag(self, tag: str) -> None:
        if not self.stack:
            raise self._fail(f"Unexpected end tag at byte offset {self._offset()}")
        expected = self.stack.pop()
        if expected != tag:
            raise self._fail(
                f'Unmatched end tag at byte offset {self._offset()}, expected "</{expected}>", '
                f'found "</{tag}>"'
            )

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def render(self) -> str:
        self.feed(self.source)
        self.close()
        if self.stack:
            raise self._fail(f'Can\'t find end tag corresponding to start tag "{self.stack[-1]}"')
        return "".join(self.parts)


def _render(text: str, parse_mode: str | None) -> str:
    """The text as Telegram stores it: HTML markup is checked and stripped."""
    if parse_mode and parse_mode.lower() == "html":
        return _HTMLRenderer(text).render()
    return text  # Markdown(V2) is kept verbatim (not validated)


def _coerce_form(key: str, value: str) -> Any:
    """A form field as PTB encodes it: strings raw, everything else JSON-encoded."""
    if key in _STRING_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _coerce_json(key: str, value: Any) -> Any:
    """A JSON body value; JSON-in-a-string objects (e.g. reply_markup) are parsed too."""
    if isinstance(value, str) and key not in _STRING_FIELDS and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _norm_chat_id(value: Any) -> int | str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


# What Telegram sends when `allowed_updates` is not given (or empty): all but these.
_NOT_BY_DEFAULT = frozenset(("chat_member", "message_reaction", "message_reaction_count"))


def _wanted(update: dict[str, Any], allowed: list[str] | None) -> bool:
    kinds = set(update) - {"update_id"}
    if not allowed:
        return not kinds <= _NOT_BY_DEFAULT
    return not kinds.isdisjoint(allowed)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _image_size(data: bytes) -> tuple[int, int]:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:  # not an image PIL knows, or PIL missing
        return (320, 320)


Handler = Callable[[dict[str, Any], dict[str, bytes]], Any]


class FakeTelegram(FakeGroups):
    """A Telegram Bot API server for one bot token; see the module docstring (groups, rights,
    invite links and join requests: `tests/fakes/telegram_chats.py`)."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        username: str = "paybot_test_bot",
        *,
        per_chat_per_second: float | None = 1.0,
        per_group_per_minute: int | None = 20,
        global_per_second: float | None = 30.0,
    ) -> None:
        self.token = token
        self.username = username
        # Flood limits; None (or 0) switches a limit off.
        self.per_chat_per_second = per_chat_per_second
        self.per_group_per_minute = per_group_per_minute
        self.global_per_second = global_per_second
        self.group_window = 60.0  # seconds over which per_group_per_minute counts
        # Seconds one unit of `retry_after` stands for: retry_after = ceil(wait / unit), >= 1.
        self.retry_after_unit = 1.0
        # When true, sending to a chat the fake never saw (no push, no prior send) answers
        # 400 "Bad Request: chat not found", as Telegram does for users who never wrote.
        self.known_chats_only = False
        # Seconds each sending call takes before it is answered, as over a real network
        # (0: at once).
        self.latency = 0.0

        self.url = ""
        self.requests: list[Recorded] = []
        self.too_many = 0
        self.answered_callbacks: list[dict[str, Any]] = []
        self.deleted: list[tuple[int | str, int]] = []
        self.webhook: dict[str, Any] = {"url": "", "secret_token": None}
        self.webhook_deliveries: list[tuple[str, int]] = []
        # (scope as sorted JSON, language_code) -> list of {"command", "description"}
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.chats: dict[int | str, dict[str, Any]] = {}

        self._messages: dict[tuple[int | str, int], _StoredMessage] = {}
        self._log: list[dict[str, Any]] = []
        self._message_ids: dict[int | str, itertools.count[int]] = {}
        self._files: dict[str, _StoredFile] = {}
        self._file_paths: dict[str, _StoredFile] = {}
        self._photo_sizes: dict[str, list[dict[str, Any]]] = {}
        self._file_seq = itertools.count(1)
        self._update_seq = itertools.count(1)
        self._callback_seq = itertools.count(1)
        self._issued_callbacks: set[str] = set()
        self._pending: list[dict[str, Any]] = []
        self._allowed_updates: list[str] | None = None
        self._wakeup = asyncio.Event()
        self._poll_generation = 0
        self._closing = False
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._drops: dict[str, int] = defaultdict(int)
        self._unanswered: dict[tuple[str, str | None], asyncio.Event] = {}
        self.unanswered: list[Recorded] = []  # calls carried out whose answer never went back
        self._garbled: dict[str, deque[_Garbled]] = defaultdict(deque)
        self._blocked: dict[int | str, str] = {}
        self._chat_buckets: dict[int | str, _Bucket] = {}
        self._group_sends: dict[int | str, deque[float]] = defaultdict(deque)
        self._global_bucket: _Bucket | None = None

        self._methods: dict[str, tuple[str, Handler]] = {}
        for name, handler in {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "editMessageText": self._edit_text,
            "editMessageCaption": self._edit_caption,
            "editMessageReplyMarkup": self._edit_reply_markup,
            "deleteMessage": self._delete_message,
            "sendChatAction": self._send_chat_action,
            "answerCallbackQuery": self._answer_callback,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "getFile": self._get_file,
            "close": self._true,
            "logOut": self._true,
        }.items():
            self.register(name, handler)
        self.users: dict[int, dict[str, Any]] = {}  # every user the fake has seen, by id
        self._init_groups()

        self._runner: web.AppRunner | None = None
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        self.app.router.add_route("*", "/{client}/bot{token}/{method}", self._dispatch)
        self.app.router.add_get("/file/bot{token}/{path:.+}", self._download)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        """Listen on 127.0.0.1 on a free port; returns the base URL (also `self.url`)."""
        self._closing = False
        self._runner = web.AppRunner(
            self.app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        """Answer waiting long polls (empty) and shut the server down."""
        self._closing = True
        self._signal()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """What to pass as PTB's `base_url`."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """What to pass as PTB's `base_file_url`."""
        return f"{self.url}/file/bot"

    # ------------------------------------------------------------------ test controls

    def register(self, method: str, handler: Handler) -> None:
        """Serve (or override) a method: handler(params, files) -> result, sync or async;
        raise ApiError for an error answer."""
        self._methods[method.lower()] = (method, handler)

    def fail_next(
        self,
        method: str,
        status: int,
        *,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls of `method` with this error (not counted in too_many).
        A 429 without retry_after gets retry_after=1."""
        if status == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            if status == 429:
                description = f"Too Many Requests: retry after {retry_after}"
            else:
                description = _DEFAULT_DESCRIPTIONS.get(status, "Internal Server Error")
        key = self._canonical(method)
        for _ in range(times):
            self._faults[key].append(_Fault(status, description, retry_after))

    def garble_next(
        self,
        method: str,
        body: str | Any,
        *,
        status: int = 200,
        content_type: str = "application/json",
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls of `method` with exactly this body instead of the Bot
        API's envelope: a string is sent as it is (not JSON, an HTML error page), anything
        else as JSON (`{"ok": True}` without a result, `[]`, a result of the wrong shape)."""
        text = body if isinstance(body, str) else json.dumps(body)
        key = self._canonical(method)
        for _ in range(times):
            self._garbled[key].append(_Garbled(text, status, content_type))

    def url_for(self, client: str) -> str:
        """A base URL (like `url`) whose requests are recorded with `client` as their tag,
        so a test with several processes knows which one sent what."""
        return f"{self.url}/{client}"

    def lose_answer_next(self, method: str, client: str | None = None) -> asyncio.Event:
        """Carry out the next call of `method` (from `client`, when given) as usual, but
        never answer it: the message is delivered and the connection stays silent until the
        caller gives up or dies, so the caller never learns that Telegram acted. The event
        is set once that call has been carried out (its record is in `unanswered`)."""
        event = asyncio.Event()
        self._unanswered[(self._canonical(method), client)] = event
        return event

    def drop_next(self, method: str, times: int = 1) -> None:
        """Close the connection without answering the next `times` calls of `method`
        (PTB raises telegram.error.NetworkError)."""
        self._drops[self._canonical(method)] += times

    def block(self, chat_id: int | str, description: str | None = None) -> None:
        """Every send/edit to this chat answers 403 (blocked by the user / kicked from group)."""
        key = _norm_chat_id(chat_id)
        if description is None:
            if isinstance(key, int) and key < 0:
                description = "Forbidden: bot was kicked from the group chat"
            else:
                description = "Forbidden: bot was blocked by the user"
        self._blocked[key] = description  # type: ignore[index]

    def unblock(self, chat_id: int | str) -> None:
        self._blocked.pop(_norm_chat_id(chat_id), None)  # type: ignore[arg-type]

    def reset_limits(self) -> None:
        """Forget flood-limit history (full buckets again)."""
        self._chat_buckets.clear()
        self._group_sends.clear()
        self._global_bucket = None

    # ------------------------------------------------------------------ inspection

    def calls(self, method: str | None = None) -> list[Recorded]:
        """Recorded requests, optionally of one method."""
        if method is None:
            return list(self.requests)
        key = self._canonical(method)
        return [r for r in self.requests if r.method == key]

    def sent(self, chat_id: int | str | None = None) -> list[dict[str, Any]]:
        """Message objects the bot sent or edited (edits carry "edit_date"), in order."""
        key = _norm_chat_id(chat_id)
        return [copy.deepcopy(m) for m in self._log if key is None or m["chat"]["id"] == key]

    def texts(self, chat_id: int | str | None = None) -> list[str]:
        """Text (or caption) of each entry of sent()."""
        return [m.get("text", m.get("caption", "")) for m in self.sent(chat_id)]

    def message(self, chat_id: int | str, message_id: int) -> dict[str, Any]:
        """The current state of a message (KeyError if unknown or deleted)."""
        return copy.deepcopy(self._messages[(_norm_chat_id(chat_id), message_id)].message)  # type: ignore[index]

    def photo_bytes(self, chat_id: int | str, message_id: int) -> bytes:
        stored = self._messages[(_norm_chat_id(chat_id), message_id)]  # type: ignore[index]
        if stored.photo is None:
            raise KeyError(f"message {message_id} in chat {chat_id} has no photo")
        return stored.photo

    def my_commands(self, language_code: str = "", scope: dict[str, Any] | None = None) -> list:
        return copy.deepcopy(self.commands.get((self._scope_key(scope), language_code), []))

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self._pending)

    async def wait_for(
        self, predicate: Callable[[FakeTelegram], Any], timeout: float = 5.0
    ) -> Any:
        """Wait until predicate(self) is truthy (polled every 10 ms); returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self)
            if value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError(f"condition not met within {timeout} s")
            await asyncio.sleep(0.01)

    # ------------------------------------------------------------------ updates for the bot

    def push_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        first_name: str = "Alice",
        language_code: str = "en",
        chat_type: str = "private",
        entities: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Queue an Update with a user's text message (bot_command entity for "/..." text)."""
        user = self._user(chat_id, user_id, first_name, language_code)
        if chat_type == "private":
            chat = {"id": chat_id, "type": "private", "first_name": first_name}
        else:
            chat = {"id": chat_id, "type": chat_type, "title": f"Test {chat_type} {chat_id}"}
        self.chats[chat_id] = chat
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "from": user,
            "chat": dict(chat),
            "date": int(time.time()),
            "text": text,
        }
        if entities is None and text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            entities = [{"type": "bot_command", "offset": 0, "length": _utf16_len(command)}]
        if entities:
            message["entities"] = entities
        self._messages[(chat_id, message["message_id"])] = _StoredMessage(message, source=text)
        return self._queue({"message": copy.deepcopy(message)})

    def push_callback(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        user_id: int | None = None,
        first_name: str = "Alice",
        language_code: str = "en",
    ) -> dict[str, Any]:
        """Queue an Update with a button press on the bot's message `message_id` (which is
        included as it currently is)."""
        stored = self._messages.get((chat_id, message_id))
        if stored is None:
            raise KeyError(f"no message {message_id} in chat {chat_id}")
        query_id = f"{4_200_000_000 + next(self._callback_seq)}"
        self._issued_callbacks.add(query_id)
        query = {
            "id": query_id,
            "from": self._user(chat_id, user_id, first_name, language_code),
            "message": copy.deepcopy(stored.message),
            "chat_instance": f"-{abs(chat_id) * 7 + 13}",
            "data": data,
        }
        return self._queue({"callback_query": query})

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue any update payload (e.g. {"my_chat_member": {...}}); update_id is added."""
        return self._queue(copy.deepcopy(update))

    async def post_update(
        self, url: str, update: dict[str, Any], secret_token: str | None = None
    ) -> int:
        """POST an update to a webhook URL as Telegram does; returns the HTTP status."""
        headers = {"Content-Type": "application/json"}
        if secret_token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret_token
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=json.dumps(update), headers=headers) as response,
        ):
            await response.read()
            status = response.status
        self.webhook_deliveries.append((url, status))
        return status

    async def deliver_webhook_updates(self) -> list[int]:
        """POST every pending update to the registered webhook (with its secret token); the
        ones answered 2xx leave the queue. Returns the statuses. As Telegram, updates of a kind
        the webhook's `allowed_updates` leaves out are never sent (they leave the queue)."""
        url = self.webhook["url"]
        if not url:
            raise AssertionError("no webhook is set")
        self._pending = [
            u for u in self._pending if _wanted(u, self.webhook.get("allowed_updates"))
        ]
        statuses = []
        for update in list(self._pending):
            status = await self.post_update(url, update, self.webhook["secret_token"])
            statuses.append(status)
            if 200 <= status < 300:
                self._pending.remove(update)
        return statuses

    # ------------------------------------------------------------------ HTTP plumbing

    def _canonical(self, method: str) -> str:
        entry = self._methods.get(method.lower())
        return entry[0] if entry else method

    @staticmethod
    def _answer(body: dict[str, Any], status: int = 200) -> web.Response:
        return web.Response(
            text=json.dumps(body, ensure_ascii=False),
            status=status,
            content_type="application/json",
        )

    async def _read_params(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, bytes], dict[str, str]]:
        params: dict[str, Any] = {k: _coerce_form(k, v) for k, v in request.query.items()}
        files: dict[str, bytes] = {}
        filenames: dict[str, str] = {}
        if not request.can_read_body:
            return params, files, filenames
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError as exc:
                raise ApiError(400, "Bad Request: can't parse JSON object") from exc
            if isinstance(body, dict):
                params.update({k: _coerce_json(k, v) for k, v in body.items()})
        elif request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = _Upload(value.file.read(), value.filename)
                    filenames[key] = value.filename
                else:
                    params[key] = _coerce_form(key, str(value))
        return params, files, filenames

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["method"]
        entry = self._methods.get(name.lower())
        method = entry[0] if entry else name
        record = Recorded(
            method=method,
            params={},
            files={},
            at=time.monotonic(),
            chat_id=None,
            http_method=request.method,
            client=request.match_info.get("client"),
        )
        self.requests.append(record)
        try:
            params, files, filenames = await self._read_params(request)
            record.params, record.files, record.filenames = params, files, filenames
            record.chat_id = _norm_chat_id(params.get("chat_id"))
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            if entry is None:
                raise ApiError(404, "Not Found")
            if self._drops.get(method):
                self._drops[method] -= 1
                return await self._drop(request)
            garbled = self._garbled.get(method)
            if garbled:
                answer = garbled.popleft()
                record.status = answer.status
                return web.Response(
                    text=answer.body, status=answer.status, content_type=answer.content_type
                )
            faults = self._faults.get(method)
            if faults:
                fault = faults.popleft()
                raise ApiError(fault.status, fault.description, retry_after=fault.retry_after)
            if self.latency and method.startswith(("send", "edit", "copy")):
                await asyncio.sleep(self.latency)
            if record.chat_id in self._blocked and method.startswith(("send", "edit", "copy")):
                raise ApiError(403, self._blocked[record.chat_id])  # type: ignore[index]
            result = entry[1](params, files)
            if inspect.isawaitable(result):
                result = await result
        except ApiError as error:
            record.status, record.description = error.status, error.description
            return self._answer(error.body(), error.status)
        record.status = 200
        unanswered = self._unanswered.pop((method, record.client), None)
        if unanswered is not None:
            self.unanswered.append(record)
            unanswered.set()
            # silent until the caller gives up or dies (handler_cancellation ends this then)
            await asyncio.sleep(3600)
            raise AssertionError("unreachable")  # pragma: no cover
        return self._answer({"ok": True, "result": result})

    async def _drop(self, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            transport.abort()
        # handler_cancellation cancels this handler once the connection is gone.
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _download(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return self._answer(ApiError(401, "Unauthorized").body(), 401)
        stored = self._file_paths.get(request.match_info["path"])
        if stored is None:
            return self._answer(ApiError(404, "Not Found").body(), 404)
        return web.Response(body=stored.data, content_type="application/octet-stream")

    # ------------------------------------------------------------------ helpers

    def _signal(self) -> None:
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    def _queue(self, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_seq), **payload}
        self._pending.append(update)
        self._signal()
        return copy.deepcopy(update)

    def _next_message_id(self, chat_id: int | str) -> int:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    def _user(
        self, chat_id: int, user_id: int | None, first_name: str, language_code: str
    ) -> dict[str, Any]:
        if user_id is None:
            user_id = chat_id if chat_id > 0 else 4242
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if language_code:
            user["language_code"] = language_code
        self.users[user_id] = user
        return copy.deepcopy(user)

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": self.username,
        }

    def _chat(self, chat_id: int | str) -> dict[str, Any]:
        chat = self.chats.get(chat_id)
        if chat is not None:
            return dict(chat)
        if self.known_chats_only:
            raise ApiError(400, "Bad Request: chat not found")
        if isinstance(chat_id, str):
            chat = {
                "id": -1001000000000,
                "type": "channel",
                "title": chat_id,
                "username": chat_id[1:],
            }
        elif chat_id > 0:
            chat = {"id": chat_id, "type": "private", "first_name": "User"}
        elif str(chat_id).startswith("-100"):
            chat = {"id": chat_id, "type": "supergroup", "title": f"Supergroup {chat_id}"}
        else:
            chat = {"id": chat_id, "type": "group", "title": f"Group {chat_id}"}
        self.chats[chat_id] = chat
        return dict(chat)

    @staticmethod
    def _require_chat(params: dict[str, Any]) -> int | str:
        chat_id = _norm_chat_id(params.get("chat_id"))
        if chat_id is None:
            raise ApiError(400, "Bad Request: chat_id is empty")
        return chat_id

    def _throttle(self, chat_id: int | str) -> None:
        """Enforce the flood limits for one delivery to chat_id (consumes on success)."""
        now = time.monotonic()
        waits = [0.0]
        chat_bucket = None
        if self.per_chat_per_second:
            chat_bucket = self._chat_buckets.get(chat_id)
            if chat_bucket is None or chat_bucket.rate != self.per_chat_per_second:
                chat_bucket = _Bucket(self.per_chat_per_second, 1.0, now)
                self._chat_buckets[chat_id] = chat_bucket
            waits.append(chat_bucket.wait(now))
        group = None
        if self.per_group_per_minute and isinstance(chat_id, int) and chat_id < 0:
            group = self._group_sends[chat_id]
            while group and group[0] <= now - self.group_window:
                group.popleft()
            if len(group) >= self.per_group_per_minute:
                waits.append(group[0] + self.group_window - now)
        if self.global_per_second:
            bucket = self._global_bucket
            if bucket is None or bucket.rate != self.global_per_second:
                rate = self.global_per_second
                bucket = self._global_bucket = _Bucket(rate, max(1.0, rate), now)
            waits.append(bucket.wait(now))
        wait = max(waits)
        if wait > 0:
            self.too_many += 1
            retry_after = max(1, math.ceil(wait / self.retry_after_unit - 1e-9))
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )
        if chat_bucket is not None:
            chat_bucket.take()
        if group is not None:
            group.append(now)
        if self._global_bucket is not None and self.global_per_second:
            self._global_bucket.take()

    @staticmethod
    def _check_markup(markup: Any) -> dict[str, Any] | None:
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if not button.get("text"):
                    raise ApiError(
                        400, "Bad Request: text buttons are unallowed in the inline keyboard"
                    )
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= CALLBACK_DATA_LIMIT:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                url = button.get("url")
                if url is not None and not re.match(r"^(https?|tg)://[^\s/]+", str(url)):
                    raise ApiError(
                        400, f"Bad Request: inline keyboard button URL '{url}' is invalid"
                    )
        return markup

    def _deliver(
        self,
        chat_id: int | str,
        content: dict[str, Any],
        params: dict[str, Any],
        source: str | None,
        photo: bytes | None = None,
    ) -> dict[str, Any]:
        chat = self._chat(chat_id)
        reply_to = None
        reply = params.get("reply_parameters") or {}
        reply_id = reply.get("message_id") if isinstance(reply, dict) else None
        reply_id = reply_id or params.get("reply_to_message_id")
        if reply_id:
            stored = self._messages.get((chat_id, int(reply_id)))
            if stored is None:
                allow = params.get("allow_sending_without_reply") or (
                    isinstance(reply, dict) and reply.get("allow_sending_without_reply")
                )
                if not allow:
                    raise ApiError(400, "Bad Request: message to be replied not found")
            else:
                reply_to = copy.deepcopy(stored.message)
                reply_to.pop("reply_to_message", None)
        markup = self._check_markup(params.get("reply_markup"))
        self._throttle(chat_id)
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "from": self._bot_user(),
            "chat": chat,
            "date": int(time.time()),
            **content,
        }
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        if markup is not None:
            message["reply_markup"] = markup
        self._messages[(chat_id, message["message_id"])] = _StoredMessage(
            message, source=source, parse_mode=params.get("parse_mode"), photo=photo
        )
        self._log.append(copy.deepcopy(message))
        return copy.deepcopy(message)

    def _new_photo(self, data: bytes) -> list[dict[str, Any]]:
        width, height = _image_size(data)
        sizes = []
        dims = [(width, height)]
        if max(width, height) > 90:
            scale = 90 / max(width, height)
            dims.insert(0, (max(1, round(width * scale)), max(1, round(height * scale))))
        for w, h in dims:
            n = next(self._file_seq)
            stored = _StoredFile(
                file_id=f"AgACAgIAAxkDAAI{n:010d}FakePhoto",
                file_unique_id=f"AQAD{n:06d}",
                data=data,
                width=w,
                height=h,
                path=f"photos/file_{n}.jpg",
            )
            self._files[stored.file_id] = stored
            self._file_paths[stored.path] = stored
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "file_size": len(data),
                    "width": w,
                    "height": h,
                }
            )
        for size in sizes:
            self._photo_sizes[size["file_id"]] = sizes
        return sizes

    def _editable(self, params: dict[str, Any]) -> tuple[tuple[int | str, int], _StoredMessage]:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        chat_id = self._require_chat(params)
        try:
            message_id = int(params.get("message_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise ApiError(400, "Bad Request: message identifier is not specified") from exc
        key = (chat_id, message_id)
        stored = self._messages.get(key)
        if stored is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if stored.message["from"]["id"] != BOT_ID:
            raise ApiError(400, "Bad Request: message can't be edited")
        return key, stored

    @staticmethod
    def _scope_key(scope: Any) -> str:
        if not scope:
            scope = {"type": "default"}
        return json.dumps(scope, sort_keys=True)

    # ------------------------------------------------------------------ methods

    def _true(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        return True

    def _get_me(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(
        self, params: dict[str, Any], files: dict[str, bytes]
    ) -> list[dict[str, Any]]:
        if self.webhook["url"]:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        if "allowed_updates" in params:
            self._allowed_updates = list(params["allowed_updates"] or []) or None
        if offset < 0:
            del self._pending[: max(0, len(self._pending) + offset)]
        elif offset:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        self._pending = [u for u in self._pending if _wanted(u, self._allowed_updates)]
        # A newer getUpdates terminates an older one still waiting, as Telegram does.
        self._poll_generation += 1
        generation = self._poll_generation
        self._signal()
        deadline = time.monotonic() + timeout
        while True:
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            self._pending = [u for u in self._pending if _wanted(u, self._allowed_updates)]
            if self._pending or self._closing:
                return copy.deepcopy(self._pending[:limit])
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            wakeup = self._wakeup
            try:
                await asyncio.wait_for(wakeup.wait(), remaining)
            except TimeoutError:
                pass

    def _send_message(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        chat_id = self._require_chat(params)
        source = params.get("text")
        if source is None or str(source) == "":
            raise ApiError(400, "Bad Request: message text is empty")
        source = str(source)
        text = _render(source, params.get("parse_mode"))
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > TEXT_LIMIT:
            raise ApiError(400, "Bad Request: message is too long")
        return self._deliver(chat_id, {"text": text}, params, source)

    def _send_photo(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        chat_id = self._require_chat(params)
        content, caption_source = _caption(params)
        photo = params.get("photo")
        if "photo" in files:
            data = files["photo"]
            sizes = self._new_photo(data)
        elif isinstance(photo, str) and photo.startswith("attach://") and photo[9:] in files:
            data = files[photo[9:]]
            sizes = self._new_photo(data)
        elif isinstance(photo, str) and photo:
            known = self._files.get(photo)
            if known is not None:
                data = known.data
                sizes = copy.deepcopy(self._photo_sizes[photo])
            else:  # an unknown file_id or a URL: accepted, nothing to show
                data = b""
                sizes = self._new_photo(b"")
        else:
            raise ApiError(400, "Bad Request: there is no photo in the request")
        content["photo"] = sizes
        return self._deliver(chat_id, content, params, caption_source, photo=data)

    def _send_document(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        """An uploaded document (50 MB at most, like the Bot API), kept for download."""
        chat_id = self._require_chat(params)
        document = params.get("document")
        if "document" in files:
            data = files["document"]
        elif isinstance(document, str) and document.startswith("attach://"):
            data = files.get(document[9:], b"")
        else:
            data = None
        if data is None:
            raise ApiError(400, "Bad Request: there is no document in the request")
        if len(data) > DOCUMENT_LIMIT:
            raise ApiError(400, "Bad Request: file is too big")
        content, caption_source = _caption(params)
        n = next(self._file_seq)
        stored = _StoredFile(
            file_id=f"BQACAgIAAxkDAAI{n:010d}FakeDoc",
            file_unique_id=f"AgAD{n:06d}",
            data=data,
            width=0,
            height=0,
            path=f"documents/file_{n}",
        )
        self._files[stored.file_id] = stored
        self._file_paths[stored.path] = stored
        content["document"] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": getattr(data, "filename", None),
            "file_size": len(data),
        }
        return self._deliver(chat_id, content, params, caption_source)

    def _edit_text(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        key, stored = self._editable(params)
        if "text" not in stored.message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        source = params.get("text")
        if source is None or str(source) == "":
            raise ApiError(400, "Bad Request: message text is empty")
        source = str(source)
        text = _render(source, params.get("parse_mode"))
        if len(text) > TEXT_LIMIT:
            raise ApiError(400, "Bad Request: message is too long")
        markup = self._check_markup(params.get("reply_markup"))
        if (
            source == stored.source
            and params.get("parse_mode") == stored.parse_mode
            and markup == stored.message.get("reply_markup")
        ):
            raise ApiError(400, _NOT_MODIFIED)
        self._throttle(key[0])
        stored.source, stored.parse_mode = source, params.get("parse_mode")
        stored.message["text"] = text
        self._set_markup(stored, markup)
        return self._finish_edit(stored)

    def _edit_caption(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        key, stored = self._editable(params)
        if "photo" not in stored.message:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        source = params.get("caption")
        source = None if source in (None, "") else str(source)
        caption = _render(source, params.get("parse_mode")) if source is not None else None
        if caption is not None and len(caption) > CAPTION_LIMIT:
            raise ApiError(400, "Bad Request: message caption is too long")
        markup = self._check_markup(params.get("reply_markup"))
        if (
            source == stored.source
            and params.get("parse_mode") == stored.parse_mode
            and markup == stored.message.get("reply_markup")
        ):
            raise ApiError(400, _NOT_MODIFIED)
        self._throttle(key[0])
        stored.source, stored.parse_mode = source, params.get("parse_mode")
        if caption is None:
            stored.message.pop("caption", None)
        else:
            stored.message["caption"] = caption
        self._set_markup(stored, markup)
        return self._finish_edit(stored)

    def _edit_reply_markup(
        self, params: dict[str, Any], files: dict[str, bytes]
    ) -> dict[str, Any]:
        key, stored = self._editable(params)
        markup = self._check_markup(params.get("reply_markup"))
        if markup == stored.message.get("reply_markup"):
            raise ApiError(400, _NOT_MODIFIED)
        self._throttle(key[0])
        self._set_markup(stored, markup)
        return self._finish_edit(stored)

    @staticmethod
    def _set_markup(stored: _StoredMessage, markup: dict[str, Any] | None) -> None:
        # As on Telegram, an edit without reply_markup removes the inline keyboard.
        if markup is None:
            stored.message.pop("reply_markup", None)
        else:
            stored.message["reply_markup"] = markup

    def _finish_edit(self, stored: _StoredMessage) -> dict[str, Any]:
        stored.message["edit_date"] = int(time.time())
        self._log.append(copy.deepcopy(stored.message))
        return copy.deepcopy(stored.message)

    def _delete_message(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        chat_id = self._require_chat(params)
        message_id = int(params.get("message_id") or 0)
        if self._messages.pop((chat_id, message_id), None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        self.deleted.append((chat_id, message_id))
        return True

    def _send_chat_action(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        self._require_chat(params)
        return True

    def _answer_callback(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._issued_callbacks:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is "
                "invalid",
            )
        self.answered_callbacks.append(dict(params))
        return True

    def _set_my_commands(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        for command in commands:
            if not _COMMAND_RE.match(str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        key = (self._scope_key(params.get("scope")), str(params.get("language_code") or ""))
        self.commands[key] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _get_my_commands(self, params: dict[str, Any], files: dict[str, bytes]) -> list:
        key = (self._scope_key(params.get("scope")), str(params.get("language_code") or ""))
        return copy.deepcopy(self.commands.get(key, []))

    def _delete_my_commands(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        key = (self._scope_key(params.get("scope")), str(params.get("language_code") or ""))
        self.commands.pop(key, None)
        return True

    def _set_webhook(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        url = str(params.get("url") or "")
        secret = params.get("secret_token")
        if url and not re.match(r"^https?://[^\s/]+", url):
            raise ApiError(400, "Bad Request: bad webhook: Failed to resolve host")
        if secret is not None and not _SECRET_RE.match(str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._pending.clear()
        self.webhook = {
            "url": url,
            "secret_token": None if secret is None else str(secret),
            "allowed_updates": params.get("allowed_updates"),
            "max_connections": params.get("max_connections", 40),
            "ip_address": params.get("ip_address"),
            "has_custom_certificate": "certificate" in files,
        }
        if not url:
            self.webhook = {"url": "", "secret_token": None}
        self._signal()
        return True

    def _delete_webhook(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        if params.get("drop_pending_updates"):
            self._pending.clear()
        self.webhook = {"url": "", "secret_token": None}
        return True

    def _get_webhook_info(self, params: dict[str, Any], files: dict[str, bytes]) -> dict:
        info: dict[str, Any] = {
            "url": self.webhook["url"],
            "has_custom_certificate": bool(self.webhook.get("has_custom_certificate")),
            "pending_update_count": len(self._pending),
        }
        if self.webhook["url"]:
            info["max_connections"] = self.webhook.get("max_connections") or 40
            if self.webhook.get("allowed_updates"):
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    def _get_file(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        stored = self._files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.path,
        }


__all__ = ["ApiError", "FakeGroup", "FakeLink", "FakeTelegram", "Member", "Recorded"]
