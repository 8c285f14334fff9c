"""The fake Telegram Bot API, driven by the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import telegram
from aiohttp import web
from PIL import Image
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler

from tests.fakes.telegram_server import FakeTelegram

TOKEN = "123456:TEST-TOKEN"
FAST = {"per_chat_per_second": 1000.0, "per_group_per_minute": 10_000, "global_per_second": 1e6}


def png(width: int = 4, height: int = 3) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), "blue").save(buf, "PNG")
    return buf.getvalue()


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d.upper(), callback_data=d) for d in data]])


@pytest.fixture(autouse=True)
def _timedelta_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    """PTB 22 warns about int `retry_after` (even while building RetryAfter) unless opted in."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram(TOKEN, **FAST)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[telegram.Bot]:
    async with telegram.Bot(
        TOKEN, base_url=f"{tg.url}/bot", base_file_url=f"{tg.url}/file/bot"
    ) as client:
        yield client


async def test_get_me(tg: FakeTelegram, bot: telegram.Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.first_name, me.username) == (999, True, "Paybot", tg.username)
    assert tg.url.startswith("http://127.0.0.1:")
    assert tg.calls("getMe")[0].http_method == "POST"


async def test_wrong_token_and_unknown_method(tg: FakeTelegram, bot: telegram.Bot) -> None:
    with pytest.raises(telegram.error.InvalidToken):
        async with telegram.Bot("1:WRONG", base_url=f"{tg.url}/bot"):
            pass
    assert tg.requests[-1].status == 401
    with pytest.raises(telegram.error.EndPointNotFound):
        await bot.do_api_request("frobnicate")
    assert tg.requests[-1].status == 404


async def test_send_message_recorded_with_parsed_params(
    tg: FakeTelegram, bot: telegram.Bot
) -> None:
    first = await bot.send_message(42, "hello", reply_markup=keyboard("a", "b"))
    second = await bot.send_message(42, "again")
    other = await bot.send_message(-100777, "group hello")

    assert (first.message_id, second.message_id, other.message_id) == (1, 2, 1)
    assert first.chat.type == "private" and other.chat.type == "supergroup"
    assert first.from_user.id == 999
    assert first.reply_markup == keyboard("a", "b")

    record = tg.calls("sendMessage")[0]
    assert record.chat_id == 42
    assert record.params["chat_id"] == 42
    assert record.params["reply_markup"]["inline_keyboard"][0][1]["callback_data"] == "b"
    assert [m["text"] for m in tg.sent(42)] == ["hello", "again"]
    assert tg.texts() == ["hello", "again", "group hello"]


async def test_html_is_checked_and_rendered(tg: FakeTelegram, bot: telegram.Bot) -> None:
    message = await bot.send_message(1, "<b>Plan</b> &amp; <i>price</i>", parse_mode="HTML")
    assert message.text == "Plan & price"
    assert tg.calls("sendMessage")[0].params["text"] == "<b>Plan</b> &amp; <i>price</i>"
    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await bot.send_message(1, "<b>unclosed", parse_mode="HTML")
    with pytest.raises(BadRequest, match="(?i)Unsupported start tag"):
        await bot.send_message(1, "<div>x</div>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="(?i)too long"):
        await bot.send_message(1, "x" * 4097)
    with pytest.raises(BadRequest, match="(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(1, "x", reply_markup=keyboard("d" * 65))
    assert len(tg.sent()) == 1


async def test_send_photo_bytes_and_file_id(tg: FakeTelegram, bot: telegram.Bot) -> None:
    image = png(200, 100)
    message = await bot.send_photo(7, image, caption="QR code")

    assert message.caption == "QR code"
    assert (message.photo[-1].width, message.photo[-1].height) == (200, 100)
    assert tg.photo_bytes(7, message.message_id) == image
    record = tg.calls("sendPhoto")[0]
    assert record.files["photo"] == image
    assert record.params == {"chat_id": 7, "caption": "QR code"}

    again = await bot.send_photo(8, message.photo[-1].file_id)
    assert again.photo[-1].file_id == message.photo[-1].file_id
    assert tg.photo_bytes(8, again.message_id) == image

    file = await bot.get_file(message.photo[-1].file_id)
    assert bytes(await file.download_as_bytearray()) == image


async def test_edits(tg: FakeTelegram, bot: telegram.Bot) -> None:
    text = await bot.send_message(3, "v1", reply_markup=keyboard("a"))
    photo = await bot.send_photo(3, png(), caption="c1", reply_markup=keyboard("a"))

    edited = await bot.edit_message_text("v2", 3, text.message_id, reply_markup=keyboard("b"))
    assert edited.text == "v2" and edited.reply_markup == keyboard("b")
    assert edited.edit_date is not None
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await bot.edit_message_text("v2", 3, text.message_id, reply_markup=keyboard("b"))

    captioned = await bot.edit_message_caption(3, photo.message_id, caption="c2")
    assert captioned.caption == "c2"
    assert captioned.reply_markup is None  # an edit without reply_markup drops the keyboard
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await bot.edit_message_caption(3, photo.message_id, caption="c2")

    marked = await bot.edit_message_reply_markup(3, photo.message_id, reply_markup=keyboard("z"))
    assert marked.reply_markup == keyboard("z")

    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await bot.edit_message_text("x", 3, 999)
    with pytest.raises(BadRequest, match="(?i)no text in the message"):
        await bot.edit_message_text("x", 3, photo.message_id)

    assert [m.get("text", m.get("caption")) for m in tg.sent(3)] == ["v1", "c1", "v2", "c2", "c2"]
    assert tg.message(3, photo.message_id)["reply_markup"] == keyboard("z").to_dict()
    assert tg.photo_bytes(3, photo.message_id) == png()


async def test_per_chat_limit() -> None:
    async with FakeTelegram(TOKEN) as fake, telegram.Bot(TOKEN, base_url=fake.base_url) as bot:
        await bot.send_message(10, "one")
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(10, "two")
        assert caught.value.retry_after == timedelta(seconds=1)
        await bot.send_message(11, "another chat is fine")
        assert fake.too_many == 1
        assert fake.texts(10) == ["one"]
        assert fake.requests[-2].status == 429


async def test_group_and_global_limits() -> None:
    async with (
        FakeTelegram(
            TOKEN, per_chat_per_second=None, per_group_per_minute=2, global_per_second=5
        ) as fake,
        telegram.Bot(TOKEN, base_url=fake.base_url) as bot,
    ):
        await bot.send_message(-5, "g1")
        await bot.send_message(-5, "g2")
        with pytest.raises(RetryAfter):
            await bot.send_message(-5, "g3")
        assert fake.too_many == 1
        for chat in (1, 2, 3):
            await bot.send_message(chat, "x")
        with pytest.raises(RetryAfter):  # 5 delivered in this second: global bucket empty
            await bot.send_message(4, "x")
        assert fake.too_many == 2
        assert len(fake.sent()) == 5


async def test_fail_next(tg: FakeTelegram, bot: telegram.Bot) -> None:
    tg.fail_next("sendMessage", 403)
    with pytest.raises(Forbidden, match="(?i)blocked by the user"):
        await bot.send_message(1, "x")
    tg.fail_next("sendmessage", 429, retry_after=3)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(1, "x")
    assert caught.value.retry_after == timedelta(seconds=3)
    tg.fail_next("sendMessage", 502, times=2)
    for _ in range(2):
        with pytest.raises(NetworkError):
            await bot.send_message(1, "x")
    await bot.send_message(1, "delivered")
    assert tg.too_many == 0
    assert tg.texts(1) == ["delivered"]
    assert [r.status for r in tg.calls("sendMessage")] == [403, 429, 502, 502, 200]


async def test_block(tg: FakeTelegram, bot: telegram.Bot) -> None:
    tg.block(5)
    with pytest.raises(Forbidden, match="(?i)bot was blocked by the user"):
        await bot.send_message(5, "x")
    with pytest.raises(Forbidden):
        await bot.send_photo(5, png())
    tg.unblock(5)
    await bot.send_message(5, "back")
    assert tg.texts(5) == ["back"]


async def test_drop_next(tg: FakeTelegram, bot: telegram.Bot) -> None:
    tg.drop_next("sendMessage")
    with pytest.raises((NetworkError, TimedOut)):
        await bot.send_message(1, "lost")
    assert tg.calls("sendMessage")[0].status is None
    await bot.send_message(1, "kept")
    assert tg.texts(1) == ["kept"]


async def test_get_updates_long_polling_and_offset(tg: FakeTelegram, bot: telegram.Bot) -> None:
    assert await bot.get_updates(timeout=0) == ()

    async def push_later() -> None:
        await asyncio.sleep(0.1)
        tg.push_message(77, "/start ref42", language_code="de")

    started = time.monotonic()
    pusher = asyncio.create_task(push_later())
    updates = await bot.get_updates(timeout=5)
    await pusher
    assert time.monotonic() - started < 1.5
    (update,) = updates
    assert update.message.text == "/start ref42"
    assert update.message.from_user.language_code == "de"
    assert update.message.chat.type == "private"
    assert update.message.entities[0].type == "bot_command"
    assert update.message.entities[0].length == len("/start")

    tg.push_message(77, "second")
    tg.push_message(77, "third")
    again = await bot.get_updates(timeout=0)  # unconfirmed: still there
    assert [u.message.text for u in again] == ["/start ref42", "second", "third"]
    limited = await bot.get_updates(offset=update.update_id + 1, limit=1, timeout=0)
    assert [u.message.text for u in limited] == ["second"]
    rest = await bot.get_updates(offset=limited[0].update_id + 1, timeout=0)
    assert [u.message.text for u in rest] == ["third"]
    assert await bot.get_updates(offset=rest[0].update_id + 1, timeout=0) == ()
    # message ids are shared by the user's and the bot's messages in a chat
    reply = await bot.send_message(77, "hi")
    assert reply.message_id == rest[0].message.message_id + 1


async def test_callback_query(tg: FakeTelegram, bot: telegram.Bot) -> None:
    sent = await bot.send_message(9, "choose", reply_markup=keyboard("plan:1"))
    update = tg.push_callback(9, sent.message_id, "plan:1")
    (got,) = await bot.get_updates(timeout=0)
    query = got.callback_query
    assert query.data == "plan:1"
    assert query.message.message_id == sent.message_id
    assert query.message.reply_markup == keyboard("plan:1")
    assert query.id == update["callback_query"]["id"]
    await bot.answer_callback_query(query.id, text="ok")
    assert tg.answered_callbacks == [{"callback_query_id": query.id, "text": "ok"}]
    with pytest.raises(BadRequest, match="(?i)query ID is invalid"):
        await bot.answer_callback_query("nope")


async def test_commands(tg: FakeTelegram, bot: telegram.Bot) -> None:
    await bot.set_my_commands([("start", "Start"), ("plans", "Plans")])
    await bot.set_my_commands([("start", "Starten")], language_code="de")
    assert tg.my_commands() == [
        {"command": "start", "description": "Start"},
        {"command": "plans", "description": "Plans"},
    ]
    assert tg.my_commands("de") == [{"command": "start", "description": "Starten"}]
    fetched = await bot.get_my_commands(language_code="de")
    assert [(c.command, c.description) for c in fetched] == [("start", "Starten")]
    with pytest.raises(BadRequest, match="(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([("Bad-Name", "x")])


async def test_webhook(tg: FakeTelegram, bot: telegram.Bot) -> None:
    received: list[tuple[str | None, dict]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/tg", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        url = f"http://127.0.0.1:{port}/tg"
        assert await bot.set_webhook(url, secret_token="s3cret_TOKEN-1")
        assert tg.webhook["url"] == url and tg.webhook["secret_token"] == "s3cret_TOKEN-1"
        info = await bot.get_webhook_info()
        assert info.url == url
        with pytest.raises(Conflict):
            await bot.get_updates(timeout=0)

        update = tg.push_message(5, "hi")
        assert await tg.post_update(url, update, secret_token="s3cret_TOKEN-1") == 200
        assert received == [("s3cret_TOKEN-1", update)]
        assert await tg.deliver_webhook_updates() == [200]
        assert tg.pending_updates == []

        assert await bot.delete_webhook()
        assert (await bot.get_webhook_info()).url == ""
    finally:
        await runner.cleanup()


async def test_application_polling_end_to_end(tg: FakeTelegram) -> None:
    async def start(update: telegram.Update, context) -> None:
        await update.message.reply_text("Pick a plan", reply_markup=keyboard("p1"))

    async def pressed(update: telegram.Update, context) -> None:
        await update.callback_query.answer()
        await update.callback_query.edit_message_text(f"You chose {update.callback_query.data}")

    app = ApplicationBuilder().token(TOKEN).base_url(f"{tg.url}/bot").build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=1)
        tg.push_message(55, "/start")
        await tg.wait_for(lambda f: f.texts(55) == ["Pick a plan"])
        bot_message = tg.sent(55)[0]
        tg.push_callback(55, bot_message["message_id"], "p1")
        await tg.wait_for(lambda f: f.texts(55)[-1:] == ["You chose p1"])
        assert len(tg.answered_callbacks) == 1
        await app.updater.stop()
        await app.stop()
    assert tg.calls("deleteWebhook")  # PTB clears the webhook before polling
    assert tg.pending_updates == []  # everything was confirmed


async def test_stop_releases_a_waiting_long_poll() -> None:
    fake = FakeTelegram(TOKEN)
    await fake.start()
    async with telegram.Bot(TOKEN, base_url=fake.base_url) as bot:
        poll = asyncio.create_task(bot.get_updates(timeout=30))
        await fake.wait_for(lambda f: f.calls("getUpdates"))
        started = time.monotonic()
        await fake.stop()
        assert await poll == ()
        assert time.monotonic() - started < 1.0


async def test_wait_for_times_out(tg: FakeTelegram) -> None:
    with pytest.raises(AssertionError):
        await tg.wait_for(lambda f: f.sent(), timeout=0.05)


# --- groups: the bot's rights, invite links, join requests, members ----------------------

GROUP = -1001234
OWNER, ANN, BOB = 11, 12, 13


async def _refused(tg: FakeTelegram, call, error=BadRequest) -> str:
    """Await `call`, which must fail with `error`; the description as Telegram worded it."""
    with pytest.raises(error):
        await call
    return tg.requests[-1].description


async def test_invite_links_need_the_right_and_follow_telegrams_rules(
    tg: FakeTelegram, bot: telegram.Bot
) -> None:
    group = tg.add_group(GROUP, can_invite_users=False, owner_id=OWNER)
    assert (
        await _refused(tg, bot.create_chat_invite_link(GROUP, creates_join_request=True))
        == "Bad Request: not enough rights to manage chat invite link"
    )
    # a member limit on an approval link is refused before the rights are looked at
    assert await _refused(
        tg, bot.create_chat_invite_link(GROUP, member_limit=1, creates_join_request=True)
    ) == (
        "Bad Request: member limit can't be specified for links requiring administrator approval"
    )
    assert group.links == {}

    group.can_invite_users = True  # the operator fixes it
    link = await bot.create_chat_invite_link(
        GROUP, name="paybot pro for user 12 who paid in full", creates_join_request=True
    )
    assert link.invite_link.startswith("https://t.me/+") and link.creates_join_request
    assert link.name == "paybot pro for user 12 who paid"  # Telegram keeps 32 characters
    assert (link.creator.id, link.is_primary, link.is_revoked) == (999, False, False)
    assert group.links[link.invite_link].name == link.name

    revoked = await bot.revoke_chat_invite_link(GROUP, link.invite_link)
    assert revoked.is_revoked and group.links[link.invite_link].revoked
    assert tg.push_join_request(GROUP, link.invite_link, user_id=ANN) is None  # a dead link
    assert (
        await _refused(tg, bot.revoke_chat_invite_link(GROUP, "https://t.me/+unknownunknown0"))
        == "Bad Request: INVITE_HASH_EXPIRED"
    )

    assert (
        await _refused(tg, bot.create_chat_invite_link(-100999)) == "Bad Request: chat not found"
    )
    group.bot_status = "kicked"
    assert (
        await _refused(tg, bot.create_chat_invite_link(GROUP), Forbidden)
        == "Forbidden: bot was kicked from the supergroup chat"
    )
    group.migrated_to = GROUP - 5
    with pytest.raises(ChatMigrated) as moved:
        await bot.create_chat_invite_link(GROUP)
    assert moved.value.new_chat_id == GROUP - 5
    tg.push_message(ANN, "hi", user_id=ANN)  # a private chat the bot knows
    assert (
        await _refused(tg, bot.create_chat_invite_link(ANN))
        == "Bad Request: can't invite members to a private chat"
    )


async def test_join_requests_arrive_as_updates_and_are_decided_once(
    tg: FakeTelegram, bot: telegram.Bot
) -> None:
    group = tg.add_group(GROUP)
    link = (await bot.create_chat_invite_link(GROUP, creates_join_request=True)).invite_link
    pushed = tg.push_join_request(GROUP, link, user_id=ANN, first_name="Ann", language_code="de")
    assert pushed is not None
    assert tg.push_join_request(GROUP, link, user_id=ANN) is None  # one pending request
    tg.push_join_request(GROUP, link, user_id=BOB)

    updates = await bot.get_updates(timeout=0)
    request = updates[0].chat_join_request
    assert (request.chat.id, request.from_user.id, request.user_chat_id) == (GROUP, ANN, ANN)
    assert request.from_user.language_code == "de" and request.date is not None
    assert request.invite_link.invite_link == link
    assert request.invite_link.pending_join_request_count == 1
    assert [u.chat_join_request.from_user.id for u in updates] == [ANN, BOB]

    assert await bot.approve_chat_join_request(GROUP, ANN)
    assert group.status(ANN).status == "member" and ANN not in group.requests
    assert (
        await _refused(tg, bot.approve_chat_join_request(GROUP, ANN))
        == "Bad Request: USER_ALREADY_PARTICIPANT"
    )
    assert await bot.decline_chat_join_request(GROUP, BOB)
    assert group.status(BOB).status == "left" and group.requests == {}
    assert (
        await _refused(tg, bot.decline_chat_join_request(GROUP, BOB))
        == "Bad Request: HIDE_REQUESTER_MISSING"
    )
    assert (
        await _refused(tg, bot.approve_chat_join_request(GROUP, 77))
        == "Bad Request: HIDE_REQUESTER_MISSING"
    )

    group.can_invite_users = False  # a bot without the right neither decides nor hears
    tg.push_join_request(GROUP, link, user_id=BOB)
    assert BOB in group.requests and len(tg.pending_updates) == len(updates) == 2
    assert (
        await _refused(tg, bot.approve_chat_join_request(GROUP, BOB))
        == "Bad Request: not enough rights to manage chat join requests"
    )


async def test_join_requests_only_reach_bots_that_asked_for_them(
    tg: FakeTelegram, bot: telegram.Bot
) -> None:
    tg.add_group(GROUP)
    link = (await bot.create_chat_invite_link(GROUP, creates_join_request=True)).invite_link
    tg.push_join_request(GROUP, link, user_id=ANN)
    assert await bot.get_updates(timeout=0, allowed_updates=["message"]) == ()

    tg.add_group(GROUP - 1)
    other = (await bot.create_chat_invite_link(GROUP - 1, creates_join_request=True)).invite_link
    tg.push_join_request(GROUP - 1, other, user_id=ANN)
    await bot.set_webhook("http://127.0.0.1:9/tg", allowed_updates=["message"])
    assert await tg.deliver_webhook_updates() == []  # never sent, and gone
    assert tg.pending_updates == []


async def test_members_are_banned_unbanned_and_looked_up(
    tg: FakeTelegram, bot: telegram.Bot
) -> None:
    group = tg.add_group(GROUP, can_restrict_members=False, owner_id=OWNER)
    tg.set_member(GROUP, ANN)
    tg.set_member(GROUP, BOB, "administrator")
    assert (
        await _refused(tg, bot.ban_chat_member(GROUP, ANN))
        == "Bad Request: not enough rights to restrict/unrestrict chat member"
    )
    assert (
        await _refused(tg, bot.unban_chat_member(GROUP, ANN, only_if_banned=True))
        == "Bad Request: not enough rights to restrict/unrestrict chat member"
    )
    group.can_restrict_members = True
    assert await bot.unban_chat_member(GROUP, ANN, only_if_banned=True)  # not banned: no-op
    assert group.status(ANN).status == "member"
    assert await bot.ban_chat_member(GROUP, ANN)
    banned = await bot.get_chat_member(GROUP, ANN)
    assert isinstance(banned, telegram.ChatMemberBanned)
    assert await bot.unban_chat_member(GROUP, ANN, only_if_banned=True)
    assert (await bot.get_chat_member(GROUP, ANN)).status == "left"  # may come back

    tg.set_member(GROUP, ANN)
    assert await bot.unban_chat_member(GROUP, ANN)  # without only_if_banned: removed
    assert group.status(ANN).status == "left"
    assert (
        await _refused(tg, bot.ban_chat_member(GROUP, OWNER))
        == "Bad Request: can't remove chat owner"
    )
    assert (
        await _refused(tg, bot.ban_chat_member(GROUP, BOB))
        == "Bad Request: user is an administrator of the chat"
    )
    assert (
        await _refused(tg, bot.ban_chat_member(GROUP, 0))
        == "Bad Request: invalid user_id specified"
    )

    tg.set_member(GROUP, 14, "restricted")
    tg.set_member(GROUP, 15, "restricted", is_member=False)
    assert (await bot.get_chat_member(GROUP, 14)).is_member is True
    assert (await bot.get_chat_member(GROUP, 15)).is_member is False
    assert isinstance(await bot.get_chat_member(GROUP, BOB), telegram.ChatMemberAdministrator)
    assert isinstance(await bot.get_chat_member(GROUP, OWNER), telegram.ChatMemberOwner)
    assert (
        await _refused(tg, bot.get_chat_member(GROUP, 123456789))
        == "Bad Request: member not found"
    )

    me = await bot.get_chat_member(GROUP, 999)
    assert (me.status, me.can_invite_users, me.can_restrict_members) == (
        "administrator",
        True,
        True,
    )
    admins = await bot.get_chat_administrators(GROUP)
    assert sorted(a.user.id for a in admins) == [OWNER, BOB, 999]
    group.bot_status = "member"
    assert (await bot.get_chat_member(GROUP, 999)).status == "member"
    group.bot_status = "left"
    assert (
        await _refused(tg, bot.get_chat_member(GROUP, 999), Forbidden)
        == "Forbidden: bot is not a member of the supergroup chat"
    )
    tg.push_message(ANN, "hi", user_id=ANN)
    assert (
        await _refused(tg, bot.get_chat_administrators(ANN))
        == "Bad Request: there are no administrators in the private chat"
    )
