"""`paybot run` with every secret set writes none of them, at the default log level or at
DEBUG, while it serves real traffic: Telegram (webhook mode) and Discord customers, a hosted
model, NOWPayments and its signed IPNs, a metrics scrape. On PostgreSQL the database URL carries
a password (trust authentication accepts any), which must not show either."""

from __future__ import annotations

import asyncio
import base64
import signal
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import free_port
from tests.e2e.test_discord import CHANNEL, GUILD
from tests.e2e.test_telegram import USER, _calls
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.nowpayments_server import FakeNowPayments
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.fakes.telegram_server import FakeTelegram
from tests.helpers import paybot_run

SECRETS = {
    "TELEGRAM_TOKEN": "4242:tg-token-SECRET-1a2b",
    "TELEGRAM_WEBHOOK_SECRET": "tg-hook-SECRET-3c4d",
    "DISCORD_TOKEN": "discord-token-SECRET-5e6f",
    "NOWPAYMENTS_API_KEY": "np-key-SECRET-7a8b",
    "NOWPAYMENTS_IPN_SECRET": "np-ipn-SECRET-9c0d",
    "OPENAI_API_KEY": "sk-openai-SECRET-1e2f",
    "METRICS_TOKEN": "metrics-SECRET-3a4b",
    # signs the access events (whsec_ + base64 of 32 bytes: "...SECRET-7e8f-access...")
    "ACCESS_WEBHOOK_SECRET": "whsec_"
    + base64.b64encode(b"webhook-SECRET-7e8f-access-key!!").decode(),
}
DB_PASSWORD = "db-pass-SECRET-5c6d"


async def _collect(stream: asyncio.StreamReader, into: bytearray) -> None:
    """Read a pipe as it fills (DEBUG writes more than a pipe holds)."""
    while chunk := await stream.read(65536):
        into += chunk


@pytest.mark.parametrize("level", [None, "DEBUG"], ids=["default", "debug"])
async def test_paybot_run_writes_no_secret(db_url: str, tmp_path: Path, level: str | None) -> None:
    secrets = dict(SECRETS)
    if db_url.startswith("postgresql"):
        db_url = make_url(db_url).set(password=DB_PASSWORD).render_as_string(hide_password=False)
        secrets["database password"] = DB_PASSWORD
    telegram = FakeTelegram(token=SECRETS["TELEGRAM_TOKEN"])
    discord = FakeDiscord(token=SECRETS["DISCORD_TOKEN"])
    provider = FakeNowPayments(SECRETS["NOWPAYMENTS_API_KEY"], SECRETS["NOWPAYMENTS_IPN_SECRET"])
    model = FakeOpenAI(api_key=SECRETS["OPENAI_API_KEY"])
    model.responder = lambda body: Reply("Hello! Ask me about our plans.")
    for fake in (telegram, discord, provider, model):
        await fake.start()
    port = free_port()
    settings = {key: value for key, value in SECRETS.items()}
    if level is not None:
        settings["LOG_LEVEL"] = level
    process = await paybot_run(
        db_url,
        tmp_path,
        TELEGRAM__ENABLED="true",
        TELEGRAM__MODE="webhook",
        TELEGRAM__BASE_URL=telegram.url,
        DISCORD__ENABLED="true",
        DISCORD__API_BASE=discord.api_base,
        PROVIDER__NAME="nowpayments",
        PROVIDER__NOWPAYMENTS__BASE_URL=provider.url,
        AGENT__MODEL="openai:test-model",
        AGENT__BASE_URL=model.url,
        WEBHOOKS__PORT=str(port),
        WEBHOOKS__PUBLIC_URL=f"http://127.0.0.1:{port}",
        # Pro tells the shop's service, which is down: its failed deliveries are logged too
        PLANS__PRO__ACCESS__WEBHOOK="true",
        ACCESS__WEBHOOK_URL=f"http://127.0.0.1:{free_port()}/hooks",
        **settings,
    )
    out, err = bytearray(), bytearray()
    readers = [
        asyncio.create_task(_collect(process.stdout, out)),
        asyncio.create_task(_collect(process.stderr, err)),
    ]
    try:
        await telegram.wait_for(lambda f: f.webhook["url"], timeout=30)
        await discord.wait_ready(timeout=30)
        hook, hook_secret = telegram.webhook["url"], SECRETS["TELEGRAM_WEBHOOK_SECRET"]
        # a Telegram customer buys through NOWPayments, pays, and says hello to the model
        update = telegram.push_message(USER, "/buy pro btc", user_id=USER)
        assert await telegram.post_update(hook, update, hook_secret) == 200
        await telegram.wait_for(lambda f: _calls(f, "sendPhoto", USER), timeout=15)
        [remote] = provider.payments
        assert await provider.pay(remote) == [200, 200, 200, 200]
        update = telegram.push_message(USER, "tell me something nice", user_id=USER)
        assert await telegram.post_update(hook, update, hook_secret) == 200
        await telegram.wait_for(
            lambda f: any("Ask me about" in t for t in f.texts(USER)), timeout=15
        )
        await telegram.wait_for(lambda f: any("complete" in t for t in f.texts(USER)), timeout=15)
        # a Discord customer asks for the plans
        payload = discord.slash_payload("plans", user_id=7, guild_id=GUILD, channel_id=CHANNEL)
        await discord.dispatch("INTERACTION_CREATE", payload)
        await discord.wait_for(lambda m: "Pro" in (m.get("content") or ""), timeout=15)
        # the operator's Prometheus scrapes the metrics
        headers = {"Authorization": f"Bearer {SECRETS['METRICS_TOKEN']}"}
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/metrics", headers=headers) as response,
        ):
            assert response.status == 200
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 30)
        await asyncio.gather(*readers)
        for fake in (telegram, discord, provider, model):
            await fake.stop()
    written = (out + err).decode()
    assert code == 0, written[-3000:]
    assert model.requests, "the hosted model was never asked"
    leaked = [name for name, value in secrets.items() if value in written]
    assert leaked == [], f"{leaked} written to the output"
    if level == "DEBUG":  # the libraries' own request logs are open, and cleaned
        assert "httpx" in written and "***" in written
    else:  # the libraries' request logs stay quiet
        assert "HTTP Request:" not in written
