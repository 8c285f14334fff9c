"""The HTTP side on a real local port: health, metrics, and webhooks verified before use."""

from __future__ import annotations

import aiohttp
import pytest

from bot.app import App
from tests.conftest import make_config
from tests.helpers import buy


@pytest.fixture
async def served(db_url, fake, clock):
    config = make_config(db_url, WEBHOOKS__ENABLED="true", WEBHOOKS__PORT="0")
    app = App(config, adapters=[fake], clock=clock)
    await app.start(background=False)
    await app.webhooks.start()
    base = f"http://127.0.0.1:{app.webhooks.bound_port}"
    async with aiohttp.ClientSession(base) as http:
        yield app, http
    await app.stop()


async def test_health_and_metrics(served, fake) -> None:
    app, http = served
    async with http.get("/healthz") as response:
        assert response.status == 200 and (await response.json()) == {"database": True}
    await buy(fake, "/buy pro sol")
    async with http.get("/metrics") as response:
        text = await response.text()
    assert 'paybot_payments{status="waiting"} 1' in text
    assert 'paybot_ipn_total{outcome="applied"} 0' in text
    assert 'paybot_model_calls_total{outcome="ok"} 0' in text  # the offline router only
    assert "paybot_model_latency_seconds_count 0" in text
    await fake.say("which coins do you take?")
    async with http.get("/metrics") as response:
        assert 'paybot_agent_turns_total{path="router"} 1' in await response.text()


async def test_sandbox_webhook_applies_and_bad_ones_change_nothing(served, fake, clock) -> None:
    app, http = served
    pid = await buy(fake, "/buy pro sol")
    await fake.say(f"/pay {pid}")
    [(_step, headers, body)] = await app.provider.due_webhooks(clock())

    async with http.post(
        "/webhooks/sandbox", data=body, headers={"x-sandbox-sig": "0" * 128}
    ) as response:
        assert response.status == 401
    async with http.post(
        "/webhooks/sandbox", data=body, headers={"x-sandbox-sig": "short"}
    ) as response:
        assert response.status == 401
    async with http.post(
        "/webhooks/sandbox", data=b"x" * (70 * 1024), headers=headers
    ) as response:
        assert response.status == 413
    async with http.post("/webhooks/nowhere", data=body, headers=headers) as response:
        assert response.status == 404
    status = await fake.say(f"/status {pid}")
    assert "waiting for payment" in status[0].text

    async with http.post("/webhooks/sandbox", data=body, headers=headers) as response:
        assert response.status == 200 and (await response.json())["outcome"] == "applied"
    async with http.post("/webhooks/sandbox", data=body, headers=headers) as response:
        assert (await response.json())["outcome"] == "duplicate"
    status = await fake.say(f"/status {pid}")
    assert "payment seen, confirming" in status[0].text
    async with http.get("/metrics") as response:
        text = await response.text()
    assert 'paybot_ipn_total{outcome="rejected"} 3' in text
    assert 'paybot_ipn_total{outcome="duplicate"} 1' in text
