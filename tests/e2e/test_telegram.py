"""Telegram end to end: the real python-telegram-bot client against the fake Bot API server.

The app runs as in production (polling or webhook, scheduler, relay) on the real clock; the
sandbox provider plays the chain.
"""

from __future__ import annotations

import asyncio
import html
import io
import re
import time

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select

from bot.adapters.telegram import from_config
from bot.app import App
from storage import writes
from storage.models import OutboxItem, Payment
from tests.conftest import free_port, make_config
from tests.fakes.telegram_server import FakeTelegram
from tests.helpers import paybot_run
from tools.clock import system_clock
from tools.views import payment_link

USER = 424242
GROUP = -100777


def telegram_config(db_url: str, fake: FakeTelegram, **overrides: str):
    port = free_port()
    values = {
        "TELEGRAM__ENABLED": "true",
        "PROVIDER__ALLOW_SANDBOX_IN_CHATS": "true",  # a test shop on the sandbox
        "TELEGRAM__BASE_URL": fake.url,
        "TELEGRAM_TOKEN": fake.token,
        "TELEGRAM__GLOBAL_PER_SECOND": str(fake.global_per_second),
        "TELEGRAM__PER_CHAT_PER_SECOND": str(fake.per_chat_per_second),
        "WEBHOOKS__PORT": str(port),
        "WEBHOOKS__PUBLIC_URL": f"http://127.0.0.1:{port}",
        "TIMERS__SWEEP_INTERVAL_SECONDS": "0.2",
        "PROVIDER__SANDBOX__CONFIRM_SECONDS": "0",
        "PROVIDER__SANDBOX__FINISH_SECONDS": "1",
    }
    values.update(overrides)
    return make_config(db_url, **values)


@pytest.fixture
async def telegram():
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def tg_app(db_url, telegram):
    config = telegram_config(db_url, telegram)
    app = App(config, adapters=[from_config(config)], clock=system_clock)
    await app.start()
    yield app
    await app.stop()


def _calls(fake: FakeTelegram, method: str, chat: int | None = None) -> list:
    """Successful calls of `method` (to `chat`, when given)."""
    return [
        r
        for r in fake.calls(method)
        if (chat is None or str(r.chat_id) == str(chat)) and r.status == 200
    ]


async def _payment(app: App, pid: int) -> Payment:
    async with app.db.sessions() as session:
        return await session.get(Payment, pid)


async def test_private_chat_buys_pays_and_sees_the_card_change(tg_app, telegram) -> None:
    # the commands menu is registered in every language
    assert [c["command"] for c in telegram.my_commands("de")][:3] == ["start", "plans", "plan"]
    for lang in ("de", "es", "fr", "zh", "ja"):
        assert (
            telegram.my_commands(lang)[1]["description"]
            != telegram.my_commands("en")[1]["description"]
        ), lang

    telegram.push_message(USER, "/buy pro sol", user_id=USER, language_code="en")
    photo = (await telegram.wait_for(lambda f: _calls(f, "sendPhoto", USER)))[0]
    caption = photo.params["caption"]
    pid = int(re.search(r"Payment #(\d+)", caption).group(1))
    row = await _payment(tg_app, pid)
    assert "<code>1.99333334</code> SOL" in caption
    assert f"<code>{row.pay_address}</code>" in caption and "Solana" in caption
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(photo.files["photo"])))
    assert decoded[0].text == payment_link(tg_app.catalog, row, row.pay_amount)
    keyboard = [b for rowb in photo.params["reply_markup"]["inline_keyboard"] for b in rowb]
    assert keyboard[0]["copy_text"]["text"] == row.pay_address
    assert keyboard[1]["callback_data"] == f"/status {pid}"

    card_id = telegram.sent(USER)[-1]["message_id"]
    telegram.push_callback(USER, card_id, f"/status {pid}", user_id=USER)
    await telegram.wait_for(lambda f: f.answered_callbacks)
    # "Check status" on the card updates that card in place, no second QR photo
    # (nothing changed yet, so Telegram answers "message is not modified", which is fine)
    edits = await telegram.wait_for(lambda f: f.calls("editMessageCaption"))
    assert edits[0].params["message_id"] == card_id
    assert len(_calls(telegram, "sendPhoto", USER)) == 1

    await tg_app.payments.sandbox_pay(None, pid, None)
    await telegram.wait_for(
        lambda f: any(
            "is complete" in r.params.get("text", "") for r in _calls(f, "sendMessage", USER)
        ),
        timeout=10,
    )
    edit = await telegram.wait_for(
        lambda f: [
            r
            for r in _calls(f, "editMessageCaption", USER)
            if "Status: paid" in r.params["caption"]
        ],
        timeout=5,
    )
    assert "Pay before" not in edit[-1].params["caption"]
    assert (await _payment(tg_app, pid)).status == "finished"


async def test_the_cancel_button_cancels_and_the_card_shows_it(tg_app, telegram) -> None:
    telegram.push_message(USER, "/buy pro sol", user_id=USER, language_code="de")
    photo = (await telegram.wait_for(lambda f: _calls(f, "sendPhoto", USER)))[0]
    pid = int(re.search(r"Zahlung #(\d+)", photo.params["caption"]).group(1))
    keyboard = [b for rowb in photo.params["reply_markup"]["inline_keyboard"] for b in rowb]
    cancel = next(b for b in keyboard if b.get("callback_data") == f"/cancel {pid}")
    assert cancel["text"] == "Zahlung stornieren"
    card_id = telegram.sent(USER)[-1]["message_id"]
    telegram.push_callback(USER, card_id, f"/cancel {pid}", user_id=USER, language_code="de")
    answer = await telegram.wait_for(
        lambda f: [
            r
            for r in _calls(f, "sendMessage", USER)
            if f"Zahlung #{pid} ist storniert" in r.params.get("text", "")
        ],
        timeout=10,
    )
    buttons = answer[0].params["reply_markup"]["inline_keyboard"]
    assert buttons[0][0]["callback_data"] == "/buy pro sol"
    edit = await telegram.wait_for(
        lambda f: [
            r
            for r in _calls(f, "editMessageCaption", USER)
            if "Status: storniert" in r.params["caption"]
        ],
        timeout=10,
    )
    assert edit[-1].params["message_id"] == card_id
    assert "/cancel" not in str(edit[-1].params.get("reply_markup"))
    assert (await _payment(tg_app, pid)).status == "cancelled"


async def test_a_group_gets_a_deep_link_and_no_payment_details(tg_app, telegram) -> None:
    telegram.push_message(GROUP, "good morning everyone", user_id=USER, chat_type="group")
    telegram.push_message(GROUP, "/buy@paybot_test_bot pro sol", user_id=USER, chat_type="group")
    mention = [{"type": "mention", "offset": 0, "length": len("@paybot_test_bot")}]
    telegram.push_message(
        GROUP,
        "@paybot_test_bot what is my plan?",
        user_id=USER,
        chat_type="group",
        entities=mention,
    )
    fan = [{"type": "mention", "offset": 0, "length": len("@paybot_test_botfan")}]
    telegram.push_message(
        GROUP, "@paybot_test_botfan hi", user_id=USER, chat_type="group", entities=fan
    )  # someone else
    telegram.push_message(GROUP, "/buy@other_bot pro sol", user_id=USER, chat_type="group")
    telegram.push_message(GROUP, "/plans", user_id=USER, chat_type="group")
    await telegram.wait_for(lambda f: len(_calls(f, "sendMessage", GROUP)) == 3, timeout=8)
    await asyncio.sleep(0.5)
    sent = _calls(telegram, "sendMessage", GROUP)
    assert len(sent) == 3  # nothing for the chatter
    links = [
        b["url"]
        for r in sent
        for rowb in (r.params.get("reply_markup") or {}).get("inline_keyboard", [])
        for b in rowb
        if "url" in b
    ]
    assert "https://t.me/paybot_test_bot?start=buy_pro_sol" in links
    assert not _calls(telegram, "sendPhoto", GROUP)
    async with tg_app.db.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(Payment))).scalar() == 0
    assert any("Pro: $299.00" in r.params["text"] for r in sent)  # prices are public

    telegram.push_message(USER, "/start buy_pro_sol", user_id=USER)  # the deep link, privately
    await telegram.wait_for(lambda f: _calls(f, "sendPhoto", USER))


async def _enqueue(app: App, chats: list[int], kind: str = "payment.expired") -> None:
    now = app.clock()

    def work(session) -> None:
        for n, chat in enumerate(chats):
            writes.enqueue(
                session,
                chat_platform="telegram",
                chat_id=str(chat),
                user_id=None,
                kind=kind,
                payload={"payment_id": 900000 + n, "plan": "pro", "coin": "sol"},
                locale="en",
                dedupe_key=f"load:{chat}:{n}",
                created_at=now,
            )

    await app.db.run(work)
    app.notifier.wake()


async def until(read, done, timeout: float) -> None:
    """Poll `await read()` until `done(value)`, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not done(await read()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not done within {timeout}s")
        await asyncio.sleep(0.05)


async def _outbox(app: App) -> dict[str, int]:
    async with app.db.sessions() as session:
        rows = (
            await session.execute(
                select(OutboxItem.status, func.count()).group_by(OutboxItem.status)
            )
        ).all()
    return dict(rows)


@pytest.fixture
async def fast_telegram():
    """Telegram's limits scaled up tenfold on both sides, so the load test takes seconds."""
    fake = FakeTelegram(global_per_second=300.0, per_chat_per_second=10.0)
    await fake.start()
    yield fake
    await fake.stop()


async def test_a_thousand_chats_and_one_busy_chat_without_a_single_429(db_url, fast_telegram):
    app = App(
        telegram_config(db_url, fast_telegram),
        clock=system_clock,
        adapters=[from_config(telegram_config(db_url, fast_telegram))],
    )
    await app.start()
    try:
        started = time.monotonic()
        await _enqueue(app, [10_000 + n for n in range(1000)] + [USER] * 100)
        await until(lambda: _outbox(app), lambda rows: rows.get("sent", 0) == 1100, 60)
        elapsed = time.monotonic() - started
        assert (await _outbox(app)) == {"sent": 1100}
        assert fast_telegram.too_many == 0
        busy = [r.at for r in _calls(fast_telegram, "sendMessage", USER)]
        assert len(busy) == 100
        assert min(b - a for a, b in zip(busy, busy[1:], strict=False)) >= 0.09  # 10/s paced
        print(f"1100 messages in {elapsed:.1f}s, zero 429")
    finally:
        await app.stop()


async def test_twenty_customers_at_once_over_a_slow_network_all_get_answers(
    db_url, fast_telegram, caplog
) -> None:
    """Each Bot API call takes 0.2 s here, as over a real network; twenty customers write
    at once. On one pooled connection (PTB's default) the answers went out one after the
    other, the last about 4 s after the first; on eight, in three rounds."""
    fast_telegram.latency = 0.2
    config = telegram_config(db_url, fast_telegram)
    app = App(config, adapters=[from_config(config)], clock=system_clock)
    await app.start()
    try:
        chats = [20_000 + n for n in range(20)]
        for chat in chats:
            fast_telegram.push_message(chat, "/help", user_id=chat)
        await fast_telegram.wait_for(
            lambda f: {int(r.chat_id) for r in _calls(f, "sendMessage")} >= set(chats),
            timeout=15,
        )
        sent = _calls(fast_telegram, "sendMessage")
        assert len(sent) == len(chats)  # none sent twice
        assert sent[-1].at - sent[0].at < 2.0  # side by side, not queued behind each other
        assert "could not be sent" not in caplog.text
    finally:
        await app.stop()


async def test_injected_429s_are_delivered_after_retry_after(tg_app, telegram) -> None:
    telegram.fail_next("sendMessage", 429, retry_after=1, times=3)
    await _enqueue(tg_app, [501, 502, 503])
    await telegram.wait_for(lambda f: len(_calls(f, "sendMessage")) == 3, timeout=10)
    for chat in (501, 502, 503):
        tries = [r for r in telegram.calls("sendMessage") if str(r.chat_id) == str(chat)]
        assert tries[-1].status == 200 and {r.status for r in tries[:-1]} <= {429}
        if len(tries) > 1:  # never before the retry_after Telegram asked for
            assert tries[-1].at - tries[-2].at >= 1.0
    await until(lambda: _outbox(tg_app), lambda rows: rows == {"sent": 3}, 5)
    assert [r.status for r in telegram.calls("sendMessage")].count(429) == 3


async def test_a_blocked_user_is_dead_after_one_attempt(db_url, telegram) -> None:
    operator = 777
    config = telegram_config(db_url, telegram, OPERATORS__TELEGRAM=f'["{operator}"]')
    assert config.operators.console == ["admin"]  # left in the shipped config: not alerted
    app = App(config, adapters=[from_config(config)], clock=system_clock)
    await app.start()
    try:
        telegram.block(USER)
        await _enqueue(app, [USER])
        told = await telegram.wait_for(lambda f: _calls(f, "sendMessage", operator))
        async with app.db.sessions() as session:
            row, alert = (await session.scalars(select(OutboxItem).order_by(OutboxItem.id))).all()
    finally:
        await app.stop()
    assert (row.status, row.attempts) == ("dead", 1)
    assert (alert.kind, alert.chat_platform, alert.chat_id) == (
        "alert.dead_notice",
        "telegram",
        str(operator),
    )  # the operator is told, in Telegram; nothing waits for a console that is not running
    assert told[0].params["text"].startswith("[operator]")
    tries = [r for r in telegram.calls("sendMessage") if str(r.chat_id) == str(USER)]
    assert [r.status for r in tries] == [403]  # one attempt, never retried


async def test_webhook_mode_checks_the_secret(db_url, telegram) -> None:
    config = telegram_config(
        db_url, telegram, TELEGRAM__MODE="webhook", TELEGRAM_WEBHOOK_SECRET="s3cret-token"
    )
    app = App(config, clock=system_clock, adapters=[from_config(config)])
    await app.start()
    try:
        url = config.webhooks.public_url + "/webhooks/telegram"
        assert telegram.webhook["url"] == url
        assert telegram.webhook["secret_token"] == "s3cret-token"
        update = telegram.push_message(USER, "/plans", user_id=USER)
        telegram._pending.clear()  # delivered by webhook below, not by polling
        assert await telegram.post_update(url, update, secret_token="wrong") == 403
        assert await telegram.post_update(url, update) == 403
        assert await telegram.post_update(
            url, {"nonsense": True}, secret_token="s3cret-token"
        ) in (200, 400)
        assert await telegram.post_update(url, update, secret_token="s3cret-token") == 200
        await telegram.wait_for(lambda f: _calls(f, "sendMessage", USER))
        assert len(_calls(telegram, "sendMessage", USER)) == 1
    finally:
        await app.stop()


async def test_hostile_text_is_escaped_and_quick_repeats_do_not_race(tg_app, telegram) -> None:
    telegram.push_message(USER, "/buy <b>pro</b> sol&co", user_id=USER, first_name="<i>Eve</i>")
    reply = await telegram.wait_for(lambda f: _calls(f, "sendMessage", USER))
    assert "&lt;b&gt;pro&lt;/b&gt;" in reply[0].params["text"]  # accepted by Telegram's parser
    for _ in range(3):  # three quick taps or messages
        telegram.push_message(USER, "/buy pro sol", user_id=USER)
    await telegram.wait_for(lambda f: len(_calls(f, "sendPhoto", USER)) == 1, timeout=8)
    await telegram.wait_for(lambda f: len(_calls(f, "sendMessage", USER)) >= 1)
    await asyncio.sleep(3)  # the paced repeats answer with the same open payment
    async with tg_app.db.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(Payment))).scalar() == 1


async def test_a_dropped_connection_does_not_lose_the_payment_card(tg_app, telegram) -> None:
    telegram.drop_next("sendPhoto")
    telegram.push_message(USER, "/buy pro sol", user_id=USER)
    photo = await telegram.wait_for(lambda f: _calls(f, "sendPhoto", USER), timeout=8)
    assert "Payment #1" in photo[0].params["caption"]
    card = f"p:{USER}:{telegram.sent(USER)[-1]['message_id']}"
    await until(lambda: _payment(tg_app, 1), lambda row: row.card_message_ref == card, 5)
    assert [r.status for r in telegram.calls("sendPhoto")] == [None, 200]  # dropped, then sent


async def _card_row(app: App, pid: int) -> OutboxItem | None:
    query = select(OutboxItem).where(OutboxItem.dedupe_key == f"payment:{pid}:card")
    async with app.db.sessions() as session:
        return (await session.scalars(query)).first()


async def _paid_and_edited(app: App, telegram: FakeTelegram, pid: int, method: str, field: str):
    """Pay the payment; the card (wherever it came from) is edited in place to "paid"."""
    await app.payments.sandbox_pay(None, pid, None)
    return await telegram.wait_for(
        lambda f: [r for r in _calls(f, method, USER) if "Status: paid" in r.params[field]],
        timeout=10,
    )


async def test_a_card_that_fails_twice_still_arrives_once_later(tg_app, telegram) -> None:
    """sendPhoto fails for a while (the direct answer and its one retry, and the relay's
    first try): the card goes through the outbox, arrives exactly once, and is the card
    later notices edit (before: the payment existed, its card was lost)."""
    telegram.fail_next("sendPhoto", 500, times=3)
    telegram.push_message(USER, "/buy pro sol", user_id=USER)
    photo = await telegram.wait_for(lambda f: _calls(f, "sendPhoto", USER), timeout=15)
    assert "Payment #1" in photo[0].params["caption"]
    assert "<code>1.99333334</code> SOL" in photo[0].params["caption"]
    card = f"p:{USER}:{telegram.sent(USER)[-1]['message_id']}"
    await until(lambda: _payment(tg_app, 1), lambda row: row.card_message_ref == card, 5)
    row = await _card_row(tg_app, 1)
    assert (row.kind, row.status, row.attempts) == ("payment.card", "sent", 2)
    edit = await _paid_and_edited(tg_app, telegram, 1, "editMessageCaption", "caption")
    assert edit[-1].params["message_id"] == int(card.rsplit(":", 1)[1])
    assert [r.status for r in telegram.calls("sendPhoto")] == [500, 500, 500, 200]  # once


async def test_a_refused_photo_becomes_a_text_card_with_the_payment_link(tg_app, telegram):
    telegram.fail_next("sendPhoto", 400, description="Bad Request: IMAGE_PROCESS_FAILED", times=10)
    telegram.push_message(USER, "/buy pro sol", user_id=USER)
    sent = await telegram.wait_for(lambda f: _calls(f, "sendMessage", USER), timeout=8)
    text = sent[0].params["text"]
    row = await _payment(tg_app, 1)
    assert "Payment #1" in text and "<code>1.99333334</code> SOL" in text
    assert f"<code>{row.pay_address}</code>" in text
    link = payment_link(tg_app.catalog, row, row.pay_amount)
    assert f"Payment link: <code>{html.escape(link, quote=False)}</code>" in text
    keyboard = [b for line in sent[0].params["reply_markup"]["inline_keyboard"] for b in line]
    assert keyboard[0]["copy_text"]["text"] == row.pay_address
    card = f"t:{USER}:{telegram.sent(USER)[-1]['message_id']}"
    await until(lambda: _payment(tg_app, 1), lambda p: p.card_message_ref == card, 5)
    edit = await _paid_and_edited(tg_app, telegram, 1, "editMessageText", "text")
    assert edit[-1].params["message_id"] == int(card.rsplit(":", 1)[1])
    cards = [
        r for r in _calls(telegram, "sendMessage", USER) if "Send exactly" in r.params["text"]
    ]
    assert len(cards) == 1 and not telegram.calls("sendPhoto")[10:]  # one card, once
    assert await _card_row(tg_app, 1) is None  # it arrived directly


async def test_telegram_unreachable_at_start_is_one_line(db_url, tmp_path) -> None:
    process = await paybot_run(
        db_url,
        tmp_path,
        TELEGRAM__ENABLED="true",
        PROVIDER__ALLOW_SANDBOX_IN_CHATS="true",
        TELEGRAM__BASE_URL=f"http://127.0.0.1:{free_port()}",
        TELEGRAM_TOKEN="1:x",
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    lines = [line for line in err.decode().splitlines() if "INFO" not in line]
    assert process.returncode == 2, err.decode()
    assert lines[-1].startswith("cannot start: Telegram:") and "Traceback" not in err.decode()


async def test_warnings_edit_the_card_and_language_follows_the_user(db_url, telegram) -> None:
    config = telegram_config(
        db_url, telegram, TIMERS__PAYMENT_TTL_SECONDS="6", TIMERS__WARNING_SECONDS="[4]"
    )
    app = App(config, clock=system_clock, adapters=[from_config(config)])
    await app.start()
    try:
        telegram.push_message(USER, "/plans", user_id=USER, language_code="de-AT")
        first = await telegram.wait_for(lambda f: _calls(f, "sendMessage", USER))
        assert first[0].params["text"].startswith("Pläne:")
        telegram.push_message(USER, "/language en", user_id=USER, language_code="de-AT")
        telegram.push_message(USER, "/buy pro sol", user_id=USER, language_code="de-AT")
        photo = await telegram.wait_for(lambda f: _calls(f, "sendPhoto", USER), timeout=8)
        assert "Send exactly" in photo[0].params["caption"]  # the choice beats the hint
        warning = await telegram.wait_for(
            lambda f: [
                r for r in _calls(f, "sendMessage", USER) if "left to send" in r.params["text"]
            ],
            timeout=10,
        )
        assert "1.99333334 SOL" in warning[0].params["text"]
        edit = await telegram.wait_for(
            lambda f: [
                r for r in _calls(f, "editMessageCaption", USER) if "left)" in r.params["caption"]
            ],
            timeout=5,
        )
        assert "seconds left" in edit[0].params["caption"]
        expired = await telegram.wait_for(
            lambda f: [r for r in _calls(f, "sendMessage", USER) if "expired" in r.params["text"]],
            timeout=10,
        )
        buttons = expired[0].params["reply_markup"]["inline_keyboard"]
        assert buttons[0][0]["callback_data"] == "/retry 1"
    finally:
        await app.stop()


async def test_operators_get_answers_and_files_everyone_else_unknown_command(db_url, telegram):
    operator = 777
    config = telegram_config(db_url, telegram, OPERATORS__TELEGRAM=f'["{operator}"]')
    app = App(config, adapters=[from_config(config)], clock=system_clock)
    await app.start()
    try:
        telegram.push_message(USER, "/admin stats 7d", user_id=USER, language_code="en")
        refused = await telegram.wait_for(lambda f: _calls(f, "sendMessage", USER))
        assert refused[0].params["text"].startswith("Unknown command /admin.")
        telegram.push_message(USER, "/buy pro sol", user_id=USER, language_code="en")
        await telegram.wait_for(lambda f: _calls(f, "sendPhoto", USER))
        telegram.push_message(operator, "/admin stats 7d", user_id=operator)
        chart = await telegram.wait_for(lambda f: _calls(f, "sendPhoto", operator))
        assert Image.open(io.BytesIO(chart[0].files["photo"])).format == "PNG"
        text = _calls(telegram, "sendMessage", operator)[0].params["text"]
        assert "Payments created: 1" in text and "waiting 1" in text
        telegram.push_message(operator, "/admin export", user_id=operator)
        sent = await telegram.wait_for(lambda f: _calls(f, "sendDocument", operator))
        assert sent[0].filenames["document"] == "ledger-start-now.csv"
        lines = sent[0].files["document"].decode().splitlines()
        assert lines[0].startswith("payment_id,order_id,") and len(lines) == 2
        assert telegram.sent(operator)[-1]["document"]["file_name"] == "ledger-start-now.csv"
    finally:
        await app.stop()
