"""The Bot API client PTB talks through (aiohttp under PTB's `BaseRequest`): the same
requests as PTB's own client, against the fake Bot API and against servers that misbehave."""

from __future__ import annotations

import asyncio
import time

import pytest
import telegram
from aiohttp import web
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import NetworkError, TelegramError, TimedOut

from bot.adapters.telegram.client import CheckedRequest
from tests.conftest import free_port
from tests.fakes.telegram_server import FakeTelegram

TOKEN = "123456:TEST-TOKEN"
FAST = {"per_chat_per_second": 1000.0, "per_group_per_minute": 10_000, "global_per_second": 1e6}


def bot_at(url: str, **timeouts: float) -> telegram.Bot:
    return telegram.Bot(TOKEN, base_url=f"{url}/bot", request=CheckedRequest(**timeouts))


async def test_calls_files_and_keyboards_reach_the_bot_api_as_ptb_sends_them() -> None:
    fake = FakeTelegram(TOKEN, **FAST)
    await fake.start()
    try:
        async with bot_at(fake.url) as bot:
            markup = InlineKeyboardMarkup([[InlineKeyboardButton("Pay", callback_data="/pay")]])
            sent = await bot.send_message(
                42, "<b>ünïcode</b> &amp; more", parse_mode="HTML", reply_markup=markup
            )
            picture = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # any bytes, binary-safe
            photo = await bot.send_photo(
                42, InputFile(picture, filename="qr.png"), caption="the card", reply_markup=markup
            )
        message, upload = fake.calls("sendMessage")[-1], fake.calls("sendPhoto")[-1]
        assert sent.text == "ünïcode & more"  # the answer read back
        assert (
            message.params["chat_id"] == 42
            and message.params["text"] == "<b>ünïcode</b> &amp; more"
        )
        assert message.params["reply_markup"] == markup.to_dict()
        assert upload.files["photo"] == picture and upload.filenames["photo"] == "qr.png"
        assert upload.params["caption"] == "the card" and photo.caption == "the card"
        assert upload.params["reply_markup"] == markup.to_dict()
    finally:
        await fake.stop()


async def test_a_server_that_does_not_answer_times_out_after_the_read_timeout() -> None:
    done = asyncio.Event()

    async def silent(_request: web.Request) -> web.Response:
        await done.wait()  # answers only when the test is over
        return web.json_response({"ok": True, "result": True})

    app = web.Application()
    app.router.add_post("/{path:.*}", silent)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    request = CheckedRequest(read_timeout=0.3)
    await request.initialize()
    try:
        started = time.monotonic()
        with pytest.raises(TimedOut):
            await request.post(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe")
        assert time.monotonic() - started < 3
    finally:
        done.set()
        await request.shutdown()
        await runner.cleanup()


async def test_nothing_listening_is_a_network_error_and_a_bad_answer_a_telegram_error() -> None:
    request = CheckedRequest()
    await request.initialize()
    try:
        with pytest.raises(NetworkError, match="aiohttp"):
            await request.post(f"http://127.0.0.1:{free_port()}/bot{TOKEN}/getMe")
        with pytest.raises(NetworkError, match="InvalidUrl") as caught:  # it names the URL
            await request.post(f"http://127.0.0.1:port/bot{TOKEN}/getMe")
        assert TOKEN not in str(caught.value) and "/bot<token>/getMe" in str(caught.value)
    finally:
        await request.shutdown()
    fake = FakeTelegram(TOKEN, **FAST)
    await fake.start()
    request = CheckedRequest()
    bot = telegram.Bot(TOKEN, base_url=f"{fake.url}/bot", request=request)
    try:
        fake.garble_next("getMe", "<html>bad gateway</html>", content_type="text/html")
        with pytest.raises(TelegramError, match="not a JSON object.*bad gateway"):
            await bot.initialize()  # getMe
    finally:
        await request.shutdown()  # PTB leaves it open when getMe fails (the adapter closes it)
        await fake.stop()


async def test_an_unused_client_closes_cleanly_and_refuses_requests_after() -> None:
    request = CheckedRequest()
    await request.initialize()
    await request.shutdown()
    await request.shutdown()  # twice is harmless (the adapter closes on failed starts too)
    with pytest.raises(NetworkError, match="not initialized"):  # PTB wraps what we raise
        await request.post("http://127.0.0.1:1/bot1:x/getMe")
