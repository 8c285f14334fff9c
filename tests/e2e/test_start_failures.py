"""`paybot run` whose chat platform answers a start-up call with something malformed (not
JSON, no `ok`, no result, a result of the wrong shape, a proxy's HTML error page) stops with
one line naming the platform, the call and the problem, exit code 2, no traceback, no token.
Malformed answers to getUpdates later on are retried with one warning each."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.e2e.test_telegram import USER, _calls
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.telegram_server import FakeTelegram
from tests.helpers import paybot, paybot_run

BAD_GATEWAY = "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body>\n</html>"


def _assert_one_line(code: int, err: str, starts: str, *secrets: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    assert all(secret not in err for secret in secrets), err
    last = err.strip().splitlines()[-1]
    assert last.startswith(starts), err
    assert not [line for line in err.splitlines() if " ERROR " in line or " CRITICAL " in line]


@pytest.mark.parametrize(
    ("mode", "method", "body", "status", "content_type", "problem"),
    [
        ("polling", "getMe", "hello", 200, "text/plain", "the answer is not a JSON object"),
        ("polling", "getMe", {"result": {"id": 1}}, 200, "application/json", "has no result"),
        ("polling", "getMe", {"ok": True}, 200, "application/json", "has no result"),
        ("polling", "getMe", {"ok": True, "result": []}, 200, "application/json", "not valid"),
        ("polling", "setMyCommands", BAD_GATEWAY, 502, "text/html", "Bad Gateway (502)"),
        ("polling", "deleteWebhook", [], 200, "application/json", "not a JSON object"),
        ("webhook", "setWebhook", {"ok": False}, 200, "application/json", "has no result"),
    ],
    ids=[
        "getMe-not-json",
        "getMe-no-ok",
        "getMe-no-result",
        "getMe-wrong-shape",
        "setMyCommands-502-html",
        "deleteWebhook-list",
        "setWebhook-ok-false",
    ],
)
async def test_a_malformed_telegram_answer_at_start_is_one_line(
    db_url: str,
    tmp_path: Path,
    mode: str,
    method: str,
    body: object,
    status: int,
    content_type: str,
    problem: str,
) -> None:
    fake = FakeTelegram()
    await fake.start()
    fake.garble_next(method, body, status=status, content_type=content_type)
    port = free_port()
    try:
        process = await paybot_run(
            db_url,
            tmp_path,
            TELEGRAM__ENABLED="true",
            PROVIDER__ALLOW_SANDBOX_IN_CHATS="true",
            TELEGRAM__MODE=mode,
            TELEGRAM__BASE_URL=fake.url,
            TELEGRAM_TOKEN=fake.token,
            TELEGRAM_WEBHOOK_SECRET="run-secret",
            WEBHOOKS__PORT=str(port),
            WEBHOOKS__PUBLIC_URL=f"http://127.0.0.1:{port}",
        )
        _, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await fake.stop()
    text = err.decode()
    _assert_one_line(process.returncode, text, f"cannot start: Telegram: {method}: ", fake.token)
    assert problem in text.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "call"),
    [
        ("GET", "/users/@me", "hello", "application/json", "login"),
        ("GET", "/users/@me", {"id": "1"}, "application/json", "login"),
        ("PUT", r"/applications/\d+/commands", {"not": "a list"}, "application/json", "command"),
    ],
    ids=["login-not-json", "login-no-fields", "sync-wrong-shape"],
)
async def test_a_malformed_discord_answer_at_start_is_one_line(
    db_url: str, tmp_path: Path, method: str, path: str, body: object, content_type: str, call: str
) -> None:
    fake = FakeDiscord()
    await fake.start()
    fake.garble_next(method, path, body, content_type=content_type)
    try:
        process = await paybot_run(
            db_url,
            tmp_path,
            DISCORD__ENABLED="true",
            PROVIDER__ALLOW_SANDBOX_IN_CHATS="true",
            DISCORD__API_BASE=fake.api_base,
            DISCORD_TOKEN=fake.token,
        )
        _, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await fake.stop()
    text = err.decode()
    _assert_one_line(process.returncode, text, f"cannot start: Discord: {call}", fake.token)
    assert "the answer is not valid" in text


async def test_a_malformed_get_updates_answer_is_retried_with_one_warning(
    db_url: str, tmp_path: Path
) -> None:
    fake = FakeTelegram()
    await fake.start()
    fake.garble_next("getUpdates", BAD_GATEWAY, status=200, content_type="text/html")
    process = await paybot_run(
        db_url,
        tmp_path,
        TELEGRAM__ENABLED="true",
        PROVIDER__ALLOW_SANDBOX_IN_CHATS="true",
        TELEGRAM__BASE_URL=fake.url,
        TELEGRAM_TOKEN=fake.token,
    )
    try:
        await fake.wait_for(lambda f: len(f.calls("getUpdates")) >= 2, timeout=30)
        fake.push_message(USER, "/buy pro sol", user_id=USER)
        await fake.wait_for(lambda f: _calls(f, "sendPhoto", USER), timeout=15)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 20)
        await fake.stop()
    err = (await process.stderr.read()).decode()
    assert code == 0, err
    assert "Traceback" not in err and fake.token not in err
    [warning] = [line for line in err.splitlines() if "getUpdates failed" in line]
    assert "WARNING bot.adapters.telegram: Telegram: getUpdates failed, trying again" in warning
    assert "not a JSON object" in warning


@pytest.mark.parametrize(
    ("command", "platform"),
    [("run", "TELEGRAM"), ("run", "DISCORD"), ("chat", "TELEGRAM")],
    ids=["run-telegram", "run-discord", "chat-telegram"],
)
async def test_a_chat_platform_on_the_sandbox_is_refused_unless_allowed(
    db_url: str, tmp_path: Path, command: str, platform: str
) -> None:
    """The README's Telegram and Discord steps (token, `enabled = true`, `paybot run`) on the
    shipped config would sell on the simulated provider: refused in one line, exit code 2."""
    fake = FakeTelegram() if platform == "TELEGRAM" else FakeDiscord()
    await fake.start()
    where = fake.url if isinstance(fake, FakeTelegram) else fake.api_base
    settings = {
        f"{platform}__ENABLED": "true",
        f"{platform}_TOKEN": fake.token,
        f"{platform}__{'BASE_URL' if platform == 'TELEGRAM' else 'API_BASE'}": where,
    }
    try:
        process = await paybot(
            db_url, tmp_path, command, stdin=asyncio.subprocess.DEVNULL, **settings
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await fake.stop()
    text = err.decode()
    _assert_one_line(process.returncode, text, "config error: provider.name: ", fake.token)
    assert len(text.strip().splitlines()) == 1 and not out
    assert f"takes no real money, but {platform.capitalize()} is enabled" in text
    assert 'name = "nowpayments"' in text and "allow_sandbox_in_chats = true" in text
    assert not fake.requests  # refused before the platform was called
