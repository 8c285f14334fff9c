"""`paybot run` with Discord and Telegram enabled: both shops in one real process."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from tests.e2e.test_discord import CHANNEL, GUILD, USER
from tests.e2e.test_telegram import _calls
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.telegram_server import FakeTelegram
from tests.helpers import paybot_run


async def test_paybot_run_serves_discord_next_to_telegram(db_url: str, tmp_path: Path) -> None:
    discord_fake, telegram_fake = FakeDiscord(), FakeTelegram()
    await discord_fake.start()
    await telegram_fake.start()
    process = await paybot_run(
        db_url,
        tmp_path,
        DISCORD__ENABLED="true",
        PROVIDER__ALLOW_SANDBOX_IN_CHATS="true",
        DISCORD__API_BASE=discord_fake.api_base,
        DISCORD_TOKEN=discord_fake.token,
        TELEGRAM__ENABLED="true",
        TELEGRAM__BASE_URL=telegram_fake.url,
        TELEGRAM_TOKEN=telegram_fake.token,
    )
    try:
        await discord_fake.wait_ready(timeout=30)
        assert {c["name"] for c in discord_fake.commands[None]} >= {"buy", "status", "admin"}
        await discord_fake.dispatch(
            "INTERACTION_CREATE",
            discord_fake.slash_payload(
                "buy",
                {"plan": "pro", "coin": "sol"},
                user_id=USER,
                guild_id=GUILD,
                channel_id=CHANNEL,
            ),
        )
        card = await discord_fake.wait_for(lambda m: m["embeds"], timeout=10)
        assert card["ephemeral"] and "Payment \\#1" in card["embeds"][0]["description"]
        await telegram_fake.wait_for(lambda f: f.commands, timeout=10)
        telegram_fake.push_message(USER, "/buy pro btc", user_id=USER)
        photo = await telegram_fake.wait_for(lambda f: _calls(f, "sendPhoto", USER), timeout=10)
        assert "Payment #2" in photo[0].params["caption"]
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 20)
        await discord_fake.stop()
        await telegram_fake.stop()
    err = (await process.stderr.read()).decode()
    assert code == 0, err
    assert "Traceback" not in err


async def test_a_refused_token_stops_paybot_run_with_one_line(db_url: str, tmp_path: Path) -> None:
    fake = FakeDiscord()
    await fake.start()
    try:
        process = await paybot_run(
            db_url,
            tmp_path,
            DISCORD__ENABLED="true",
            PROVIDER__ALLOW_SANDBOX_IN_CHATS="true",
            DISCORD__API_BASE=fake.api_base,
            DISCORD_TOKEN="not-the-token",
        )
        _, err = await asyncio.wait_for(process.communicate(), 30)
    finally:
        await fake.stop()
    assert process.returncode == 2
    assert err.decode().strip().splitlines()[-1] == (
        "cannot start: Discord: the token was refused (PAYBOT_DISCORD_TOKEN)"
    )
    assert "Traceback" not in err.decode()
