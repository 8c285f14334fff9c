"""`paybot chat` selling through a NOWPayments-compatible server on 127.0.0.1.

The payment is created on the fake NOWPayments API; its signed IPNs arrive at the chat's own
webhook server, and the console shows each step and the activation within a second.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.conftest import free_port
from tests.e2e.test_console_session import Chat, _env, spawn


async def test_chat_sells_through_nowpayments(db_url: str, tmp_path: Path, nowpayments) -> None:
    port = free_port()
    env = _env(db_url, tmp_path)
    env.update(
        {
            "PAYBOT_PROVIDER__NAME": "nowpayments",
            "PAYBOT_PROVIDER__NOWPAYMENTS__BASE_URL": nowpayments.url,
            "PAYBOT_NOWPAYMENTS_API_KEY": nowpayments.api_key,
            "PAYBOT_NOWPAYMENTS_IPN_SECRET": nowpayments.ipn_secret,
            "PAYBOT_WEBHOOKS__PORT": str(port),
            "PAYBOT_WEBHOOKS__PUBLIC_URL": f"http://127.0.0.1:{port}",
            "PAYBOT_TIMERS__PAYMENT_TTL_SECONDS": "900",
        }
    )
    process = await spawn("chat", "--user", "dana", cwd=tmp_path, env=env)
    chat = Chat(process)
    try:
        await chat.say("/buy pro btc")
        pid = (await chat.expect(r"Payment #(\d+) · Pro plan")).group(1)
        await chat.expect(r"Send exactly: 0\.0046 BTC")
        [remote] = nowpayments.payments
        assert nowpayments.payments[remote].callback == (
            f"http://127.0.0.1:{port}/webhooks/nowpayments"
        )

        for status, shown in (
            ("confirming", rf"Payment #{pid}: we see 0\.0046 BTC"),
            ("finished", rf"Payment #{pid} is complete"),
        ):
            body = nowpayments.ipn_body(
                remote, status, nowpayments.payments[remote].body["pay_amount"]
            )
            sent = time.monotonic()
            assert await nowpayments.send_ipn(remote, body) == 200
            await chat.expect(shown)
            assert time.monotonic() - sent < 1.0, f"{status} took too long to show"
        chat.process.stdin.close()
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
