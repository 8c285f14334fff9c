"""`paybot run` with Telegram enabled, as a real process, in polling and in webhook mode."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.e2e.test_telegram import USER, _calls
from tests.fakes.telegram_server import FakeTelegram
from tests.helpers import paybot_run


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_paybot_run_serves_telegram(db_url: str, tmp_path: Path, mode: str) -> None:
    fake = FakeTelegram()
    await fake.start()
    port = free_port()
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
    try:
        await fake.wait_for(lambda f: f.commands, timeout=20)
        if mode == "webhook":
            await fake.wait_for(lambda f: f.webhook["url"], timeout=10)
            update = fake.push_message(USER, "/buy pro sol", user_id=USER)
            fake._pending.clear()
            assert await fake.post_update(fake.webhook["url"], update, "run-secret") == 200
        else:
            fake.push_message(USER, "/buy pro sol", user_id=USER)
        photo = await fake.wait_for(lambda f: _calls(f, "sendPhoto", USER), timeout=10)
        assert "Payment #1" in photo[0].params["caption"]
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 20)
        await fake.stop()
    err = (await process.stderr.read()).decode()
    assert code == 0, err
    assert "Traceback" not in err
