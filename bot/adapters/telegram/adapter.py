"""The Telegram adapter: life cycle, what arrives (messages, button presses, join requests)
and what is sent (cards, edits, files), paced under Telegram's limits."""

from __future__ import annotations

import hmac
import html
import logging
from collections.abc import Callable, Sequence

from aiohttp import web
from telegram import (
    BotCommand,
    CopyTextButton,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    MessageEntity,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatJoinRequestHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.adapters.base import (
    UNREADABLE,
    Connection,
    DeliveryError,
    Handler,
    RateLimited,
    StartFailed,
    unreadable,
)
from bot.adapters.telegram.access import AccessMethods
from bot.adapters.telegram.client import CheckedRequest, seconds
from bot.i18n import using_locale
from bot.messages import Button, Incoming, Outgoing
from bot.ratelimit import LocalPacing, Pacing, Rule
from bot.render import without_picture

log = logging.getLogger(__package__)  # "bot.adapters.telegram"
PLATFORM = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
CAPTION_LIMIT = 1024
UPDATES = ["message", "callback_query", "chat_join_request"]
# Bot API connections kept open for the replies. PTB's default is one; with updates handled
# concurrently (`concurrent_updates`) the replies then wait for it one after the other (and
# under PTB's default httpx client its pool's bookkeeping was a quarter of the worker's CPU,
# benchmarks/commands_rate.py). PTB's docs ask for a pool that fits the concurrency ("pool
# size tip"); the client is `client.CheckedRequest` (aiohttp).
CONNECTIONS = 8


class TelegramAdapter(AccessMethods):
    platform = PLATFORM

    def __init__(
        self,
        token: str,
        *,
        base_url: str,
        mode: str,
        per_second: float,
        per_chat: float,
        per_group_minute: float,
        locales: Sequence[str],
        default_locale: str,
        menu: Callable[[], list[tuple[str, str]]],
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
    ) -> None:
        base = base_url.rstrip("/")
        builder = Application.builder().token(token).base_url(f"{base}/bot")
        builder = builder.base_file_url(f"{base}/file/bot").concurrent_updates(256)
        self._requests = (
            CheckedRequest(connection_pool_size=CONNECTIONS),
            CheckedRequest(connection_pool_size=1),
        )
        builder = builder.request(self._requests[0])
        builder = builder.get_updates_request(self._requests[1])
        if mode == "webhook":
            builder = builder.updater(None)
        self.app = builder.build()
        self.app.add_handler(
            MessageHandler(filters.TEXT & ~filters.UpdateType.EDITED, self._on_message)
        )
        self.app.add_handler(CallbackQueryHandler(self._on_callback))
        self.app.add_handler(ChatJoinRequestHandler(self._on_join_request))
        self.mode = mode
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret or ""
        self.locales = list(locales)
        self.default_locale = default_locale
        self.menu = menu
        self.pacing: Pacing = LocalPacing()  # shared: App, on PostgreSQL
        self._limits = (per_second, per_chat, per_group_minute / 60)
        self._handler: Handler | None = None
        self.username = ""

    # --- life cycle ----------------------------------------------------------------------

    async def start(self, handler: Handler) -> None:
        """Ask who we are, register the menus, start receiving. Any failure, also an answer
        the Bot API should never give, stops start-up with one line naming the call."""
        self._handler = handler
        menus = self._menus()
        call = "getMe"
        try:
            await self.app.initialize()  # getMe: our @username for mentions and deep links
            self.username = self.app.bot.username or ""
            call = "setMyCommands"
            for locale, commands in menus:
                await self.app.bot.set_my_commands(commands, language_code=locale)
            await self.app.start()
            if self.mode == "webhook":
                call = "setWebhook"
                await self.app.bot.set_webhook(
                    self.webhook_url, secret_token=self.webhook_secret, allowed_updates=UPDATES
                )
        except TelegramError as exc:  # unreachable, bad token, rejected webhook, bad answer
            await self._close_requests()
            raise StartFailed("Telegram", call, f"{type(exc).__name__}: {exc.message}") from None
        except UNREADABLE as exc:  # a result of the wrong shape, which PTB cannot read
            await self._close_requests()
            raise unreadable("Telegram", call, exc) from None

    async def _close_requests(self) -> None:
        """Close the HTTP clients: PTB leaves them open when its `getMe` fails at start."""
        for request in self._requests:
            await request.shutdown()

    def connections(self) -> list[Connection]:
        """Polling is one connection for the whole deployment (Telegram answers a second
        getUpdates with 409): the worker holding its lease polls. Webhooks need none."""
        if self.mode == "webhook":
            return []
        return [Connection("telegram:polling", self._start_polling, self._stop_polling)]

    async def _start_polling(self) -> None:
        call = "deleteWebhook"  # polling starts by removing any webhook; PTB's own
        try:  # call logs a traceback when it fails
            await self.app.bot.delete_webhook()
            call = "getUpdates"
            await self.app.updater.start_polling(
                allowed_updates=UPDATES, error_callback=self._polling_failed
            )
        except TelegramError as exc:
            raise StartFailed("Telegram", call, f"{type(exc).__name__}: {exc.message}") from None
        except UNREADABLE as exc:
            raise unreadable("Telegram", call, exc) from None

    async def _stop_polling(self) -> None:
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()

    @staticmethod
    def _polling_failed(exc: TelegramError) -> None:
        """While polling, PTB retries a failed getUpdates with backoff: one line each."""
        log.warning("Telegram: getUpdates failed, trying again: %s: %s", type(exc).__name__, exc)

    async def stop(self) -> None:
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()
        await self._close_requests()

    def webhook_routes(self) -> list[tuple[str, Callable]]:
        return [("/webhooks/telegram", self.handle_webhook)] if self.mode == "webhook" else []

    def _menus(self) -> list[tuple[str | None, list[BotCommand]]]:
        """The command menu for every language (None: users of other languages)."""
        menus = []
        for locale in [None, *self.locales]:
            with using_locale(locale or self.default_locale):
                menus.append((locale, [BotCommand(name, text) for name, text in self.menu()]))
        return menus

    async def handle_webhook(self, request: web.Request) -> web.Response:
        """`POST /webhooks/telegram`: only Telegram knows the secret token."""
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.webhook_secret.encode()):
            return web.json_response({"error": "bad secret token"}, status=403)
        try:
            update = Update.de_json(await request.json(), self.app.bot)
        except Exception:  # not JSON, or not an update
            return web.json_response({"error": "not an update"}, status=400)
        await self.app.update_queue.put(update)
        return web.json_response({"ok": True})

    # --- incoming ------------------------------------------------------------------------

    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, chat, user = (
            update.effective_message,
            update.effective_chat,
            update.effective_user,
        )
        if message is None or chat is None or user is None or user.is_bot or not message.text:
            return
        private = chat.type == ChatType.PRIVATE
        text = message.text.strip()
        if not private:
            text = self._addressed_to_me(text, message)
            if text is None:
                return  # groups: only commands and mentions are for us
        await self._dispatch(
            Incoming(
                platform=PLATFORM,
                chat_id=str(chat.id),
                user_id=str(user.id),
                user_name=user.full_name,
                locale_hint=user.language_code,
                is_private=private,
                text=text,
                message_id=str(message.message_id),
                private_chat_id=str(user.id),
            )
        )

    def _addressed_to_me(self, text: str, message) -> str | None:
        mention = f"@{self.username}".lower()
        if text.startswith("/"):
            head, _, rest = text.partition(" ")
            name, _, bot = head.partition("@")
            if bot and bot.lower() != self.username.lower():
                return None  # a command for another bot
            return f"{name} {rest}".strip()
        mentions = message.parse_entities([MessageEntity.MENTION]).values()
        if any(m.lower() == mention for m in mentions):
            cleaned = " ".join(w for w in text.split() if w.lower() != mention)
            return cleaned.strip() or "/help"
        reply = message.reply_to_message
        if (
            reply is not None
            and reply.from_user is not None
            and reply.from_user.id == self.app.bot.id
        ):
            return text
        return None

    async def _on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        try:
            await query.answer()  # stop the button's spinner at once
        except TelegramError as exc:
            log.info("callback %s not answered: %s", query.id, exc)
        chat = query.message.chat if query.message else None
        if chat is None or not query.data:
            return
        user = query.from_user
        pressed = query.message
        kind = "p" if getattr(pressed, "photo", None) else "t"
        await self._dispatch(
            Incoming(
                platform=PLATFORM,
                chat_id=str(chat.id),
                user_id=str(user.id),
                user_name=user.full_name,
                locale_hint=user.language_code,
                is_private=chat.type == ChatType.PRIVATE,
                button=query.data,
                message_id=f"{kind}:{chat.id}:{pressed.message_id}",
                private_chat_id=str(user.id),
            )
        )

    async def _on_join_request(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A user asks to join a chat through an invite link (the bot administers the chat)."""
        request = update.chat_join_request
        if request is None:
            return
        user = request.from_user
        await self._dispatch(
            Incoming(
                platform=PLATFORM,
                chat_id=str(request.chat.id),
                user_id=str(user.id),
                user_name=user.full_name,
                locale_hint=user.language_code,
                is_private=False,
                text=request.invite_link.invite_link if request.invite_link else "",
                event="join_request",
                private_chat_id=str(request.user_chat_id),
            )
        )

    async def _dispatch(self, incoming: Incoming) -> None:
        if self._handler is not None:
            await self._handler(incoming)

    # --- outgoing ------------------------------------------------------------------------

    def _rules(self, chat_id: int) -> list[Rule]:
        overall, per_chat, per_group = self._limits
        rules = [Rule("all", overall, queue=True), Rule(("chat", chat_id), per_chat, spaced=True)]
        if chat_id < 0:  # groups and channels have negative ids
            rules.append(Rule(("group", chat_id), per_group))
        return rules

    def send_wait(self, target, ahead: int = 0) -> float:
        return self.pacing.wait(self._rules(int(target.chat_id)), ahead)

    def _keyboard(self, buttons: Sequence[Button]) -> InlineKeyboardMarkup | None:
        rows = []
        for b in buttons:
            if b.copy is not None:
                rows.append([InlineKeyboardButton(b.label, copy_text=CopyTextButton(b.copy))])
            elif b.private:
                payload = b.action.removeprefix("/start").strip()
                url = f"https://t.me/{self.username}" + (f"?start={payload}" if payload else "")
                rows.append([InlineKeyboardButton(b.label, url=url)])
            elif b.action and len(b.action.encode()) <= 64:
                rows.append([InlineKeyboardButton(b.label, callback_data=b.action)])
        return InlineKeyboardMarkup(rows) if rows else None

    async def send(self, message: Outgoing) -> str | None:
        chat_id = int(message.target.chat_id)
        rules = self._rules(chat_id)
        await self.pacing.acquire(rules)
        text = message.html or html.escape(message.text, quote=False)
        markup = self._keyboard(message.buttons)
        bot = self.app.bot
        try:
            if message.edit_of:
                if message.edit_of.startswith("p:") and len(message.text) > CAPTION_LIMIT:
                    text = html.escape(message.text[: CAPTION_LIMIT - 1], quote=False) + "…"
                elif message.edit_of.startswith("t:"):  # a card that shows no QR code
                    text = self._text_card(message)
                return await self._edit(message.edit_of, text, markup)
            if message.file is not None:  # an operator's export
                sent = await bot.send_document(
                    chat_id,
                    message.file,
                    filename=message.file.name,
                    caption=html.escape(message.text[:CAPTION_LIMIT], quote=False),
                    parse_mode=ParseMode.HTML,
                )
                return f"t:{chat_id}:{sent.message_id}"
            if message.image and len(message.text) <= CAPTION_LIMIT:
                try:
                    sent = await bot.send_photo(
                        chat_id,
                        InputFile(message.image, filename=message.image_name or "qr.png"),
                        caption=text,
                        parse_mode=ParseMode.HTML,
                        reply_markup=markup,
                    )
                    return f"p:{chat_id}:{sent.message_id}"
                except BadRequest as exc:  # the photo refused: the card goes as text instead
                    log.warning("photo refused in %s (%s); sent as text", chat_id, exc.message)
            sent = await bot.send_message(
                chat_id,
                self._text_card(message),
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
            return f"t:{chat_id}:{sent.message_id}"
        except RetryAfter as exc:
            wait = seconds(exc.retry_after)
            await self.pacing.pause(rules, wait)
            raise RateLimited(wait) from None
        except (Forbidden, BadRequest, ChatMigrated, InvalidToken) as exc:
            # blocked, kicked, chat gone or moved, our message wrong: retrying cannot help
            raise DeliveryError(f"{type(exc).__name__}: {exc.message}", permanent=True) from None
        except TelegramError as exc:  # network trouble, 5xx, conflicts: worth another try
            raise DeliveryError(f"{type(exc).__name__}: {exc.message}") from None
        finally:
            await self.pacing.answered(rules)

    @staticmethod
    def _text_card(message: Outgoing) -> str:
        """The message as a text message; a QR code it cannot show becomes its payment link."""
        if message.extra.get("uri"):
            message = without_picture(message)
        return message.html or html.escape(message.text, quote=False)

    async def _edit(self, ref: str, text: str, markup: InlineKeyboardMarkup | None) -> str:
        kind, chat, message_id = ref.split(":")
        try:
            if kind == "p":
                await self.app.bot.edit_message_caption(
                    chat_id=int(chat),
                    message_id=int(message_id),
                    caption=text,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                )
            else:
                await self.app.bot.edit_message_text(
                    text,
                    chat_id=int(chat),
                    message_id=int(message_id),
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                )
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                raise
        return ref


def from_config(config) -> TelegramAdapter:
    """The adapter `[telegram]` describes (token and webhook secret from the environment)."""
    from bot.commands import command_menu

    settings = config.telegram
    return TelegramAdapter(
        config.secrets.telegram_token or "",
        base_url=settings.base_url,
        mode=settings.mode,
        per_second=settings.global_per_second,
        per_chat=settings.per_chat_per_second,
        per_group_minute=settings.per_group_per_minute,
        locales=config.shop.locales,
        default_locale=config.shop.default_locale,
        menu=command_menu,
        webhook_url=config.webhooks.public_url.rstrip("/") + "/webhooks/telegram",
        webhook_secret=config.secrets.telegram_webhook_secret,
    )
