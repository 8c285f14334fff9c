"""The HTTP side on a real local port: health, metrics, and webhooks verified before use."""

from __future__ import annotations

import asyncio
import threading

import aiohttp
import pytest

from bot.app import App
from bot.webhooks import WebhookServer
from tests.conftest import make_config
from tests.helpers import buy
from tools.transitions import PaymentEvents


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


async def test_metrics_stay_on_this_machine_without_a_token(served) -> None:
    _app, http = served
    async with http.get("/metrics") as response:  # from 127.0.0.1, directly
        assert response.status == 200
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):  # through a proxy
        async with http.get("/metrics", headers={header: "203.0.113.7"}) as response:
            assert response.status == 403
            assert "PAYBOT_METRICS_TOKEN" in await response.text()
    async with http.get("/healthz", headers={"X-Forwarded-For": "203.0.113.7"}) as response:
        assert response.status == 200  # health stays public


async def test_metrics_with_a_token_want_it_from_everyone(db_url, fake, clock) -> None:
    environ = {"WEBHOOKS__ENABLED": "true", "WEBHOOKS__PORT": "0", "METRICS_TOKEN": "s3cret"}
    config = make_config(db_url, **environ)  # PAYBOT_METRICS_TOKEN
    app = App(config, adapters=[fake], clock=clock)
    await app.start(background=False)
    await app.webhooks.start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{app.webhooks.bound_port}") as http:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
                async with http.get("/metrics", headers=headers) as response:
                    assert response.status == 401
                    assert response.headers["WWW-Authenticate"].startswith("Bearer")
            good = {"Authorization": "Bearer s3cret", "X-Forwarded-For": "203.0.113.7"}
            async with http.get("/metrics", headers=good) as response:
                assert response.status == 200
                assert 'paybot_ipn_total{outcome="applied"} 0' in await response.text()
    finally:
        await app.stop()


async def _started(db_url, fake, clock, **environ):
    config = make_config(db_url, WEBHOOKS__ENABLED="true", WEBHOOKS__PORT="0", **environ)
    app = App(config, adapters=[fake], clock=clock)
    await app.start(background=False)
    await app.webhooks.start()
    return app, f"http://127.0.0.1:{app.webhooks.bound_port}"


async def test_metrics_behind_a_same_host_proxy_need_the_token(
    db_url, fake, clock, caplog
) -> None:
    """A proxy on this machine that adds no forwarding header (plain proxy_pass, a TLS
    terminator) makes every visitor look local: with a public URL elsewhere and no token,
    nobody reads the metrics, and the operator is told at start."""
    with caplog.at_level("WARNING", logger="bot.webhooks"):
        app, base = await _started(
            db_url, fake, clock, WEBHOOKS__PUBLIC_URL="https://shop.example.com"
        )
    try:
        async with aiohttp.ClientSession(base) as http:
            async with http.get("/metrics") as response:  # loopback, no forwarding header
                assert response.status == 403
                assert "set PAYBOT_METRICS_TOKEN" in await response.text()
            async with http.get("/healthz") as response:
                assert response.status == 200
        assert "metrics are off until PAYBOT_METRICS_TOKEN is set" in caplog.text
    finally:
        await app.stop()

    caplog.clear()
    with caplog.at_level("WARNING", logger="bot.webhooks"):
        app, base = await _started(
            db_url,
            fake,
            clock,
            WEBHOOKS__PUBLIC_URL="https://shop.example.com",
            METRICS_TOKEN="s3cret",
        )
    try:
        assert "PAYBOT_METRICS_TOKEN" not in caplog.text
        async with aiohttp.ClientSession(base) as http:
            async with http.get("/metrics") as response:
                assert response.status == 401
            bearer = {"Authorization": "Bearer s3cret"}
            async with http.get("/metrics", headers=bearer) as response:
                assert response.status == 200
                assert "paybot_ipn_total" in await response.text()
    finally:
        await app.stop()


@pytest.mark.parametrize(
    "public_url", ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"]
)
async def test_metrics_with_a_local_public_url_stay_open_to_this_machine(
    db_url, fake, clock, public_url, caplog
) -> None:
    with caplog.at_level("WARNING", logger="bot.webhooks"):
        app, base = await _started(db_url, fake, clock, WEBHOOKS__PUBLIC_URL=public_url)
    try:
        assert "PAYBOT_METRICS_TOKEN" not in caplog.text
        async with aiohttp.ClientSession(base) as http:
            async with http.get("/metrics") as response:
                assert response.status == 200
            async with http.get("/metrics", headers={"X-Real-IP": "203.0.113.7"}) as response:
                assert response.status == 403
    finally:
        await app.stop()


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


class SlowVerifier:
    """The sandbox provider, whose signature check waits at a gate (as a huge body would)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.gate = threading.Event()

    def precheck(self, headers) -> None:
        self.inner.precheck(headers)

    def verify_and_parse_webhook(self, headers, body):
        self.gate.wait(10)
        return self.inner.verify_and_parse_webhook(headers, body)


async def test_a_full_verifier_answers_503_at_once_and_the_loop_stays_free(
    app, fake, clock
) -> None:
    from bot.webhooks import VERIFY_QUEUE

    slow = SlowVerifier(app.provider)
    events = PaymentEvents(app.db, app.catalog, slow, clock, app.events.settings)
    server = WebhookServer(
        app.db, events, "127.0.0.1", 0, clock=clock, public_url="http://127.0.0.1:8080"
    )
    server.verify_inline = 0  # as if the sandbox's small body were a huge one
    await server.start()
    pid = await buy(fake, "/buy pro sol")
    await fake.say(f"/pay {pid}")
    [(_step, headers, body)] = await app.provider.due_webhooks(clock())
    url = f"http://127.0.0.1:{server.bound_port}"
    try:
        async with aiohttp.ClientSession(
            # the applies after the gate opens may take seconds on a loaded machine; the busy
            # answer and /healthz must come at once (their own 2 s limit)
            url,
            timeout=aiohttp.ClientTimeout(total=30),
            connector=aiohttp.TCPConnector(limit=0),
        ) as http:
            at_once = aiohttp.ClientTimeout(total=2)

            async def post() -> int:
                async with http.post("/webhooks/sandbox", data=body, headers=headers) as answer:
                    return answer.status

            waiting = [asyncio.create_task(post()) for _ in range(VERIFY_QUEUE)]
            for _ in range(500):  # all taken in: one in the thread, the rest waiting for it
                if server.verifying == VERIFY_QUEUE:
                    break
                await asyncio.sleep(0.01)
            assert server.verifying == VERIFY_QUEUE
            busy = http.post("/webhooks/sandbox", data=body, headers=headers, timeout=at_once)
            async with busy as answer:
                assert answer.status == 503 and answer.headers["Retry-After"] == "5"
            async with http.get("/healthz", timeout=at_once) as answer:  # the loop is free
                assert answer.status == 200
            slow.gate.set()
            assert await asyncio.gather(*waiting) == [200] * VERIFY_QUEUE
            async with http.get("/metrics") as answer:
                text = await answer.text()
        assert 'paybot_ipn_total{outcome="busy"} 1' in text
        assert 'paybot_ipn_total{outcome="applied"} 1' in text
        assert f'paybot_ipn_total{{outcome="duplicate"}} {VERIFY_QUEUE - 1}' in text
    finally:
        slow.gate.set()
        await server.stop()


def test_which_public_urls_are_this_machine() -> None:
    from bot.metrics_access import is_loopback_url

    for url in (
        "http://127.0.0.1:8080",
        "https://127.8.9.1/x",
        "http://localhost",
        "http://[::1]",
    ):
        assert is_loopback_url(url), url
    for url in (
        "https://shop.example.com",
        "http://10.0.0.5:8080",
        "http://0.0.0.0:8080",
        "http://127.0.0.1.example.com",
        "not a url",
    ):
        assert not is_loopback_url(url), url
