"""`paybot run` with Telegram enabled, as a real process, in polling and in webhook mode."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port
from tests.e2e.test_telegram import USER, _calls
from tests.fakes.telegram_server import FakeTelegram


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_paybot_run_serves_telegram(db_url: str, tmp_path: Path, mode: str) -> None:
    fake = FakeTelegram()
    await fake.start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYBOT_")}
    env.update(
        {
            "PAYBOT_DATABASE__URL": db_url,
            "PAYBOT_TELEGRAM__ENABLED": "true",
            "PAYBOT_TELEGRAM__MODE": mode,
            "PAYBOT_TELEGRAM__BASE_URL": fake.url,
            "PAYBOT_TELEGRAM_TOKEN": fake.token,
            "PAYBOT_TELEGRAM_WEBHOOK_SECRET": "run-secret",
            "PAYBOT_WEBHOOKS__PORT": str(port),
            "PAYBOT_WEBHOOKS__PUBLIC_URL": f"http://127.0.0.1:{port}",
        }
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        "--config",
        str(ROOT / "config.toml"),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
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
