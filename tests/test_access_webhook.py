"""Access events for the shop's own service: Standard Webhooks format, signature, sender.

The receiver is a real aiohttp server on 127.0.0.1 that checks every request with the
`standardwebhooks` package (the spec's reference library), not with our code."""

from __future__ import annotations

import asyncio
import base64
import json
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from email.utils import format_datetime

import httpx
import pytest
from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from bot.access_webhook import AccessWebhook, new_client, parse_retry_after
from bot.adapters.base import DeliveryError
from tools.access.webhook_events import (
    ATTEMPTS,
    GIVE_UP_AFTER,
    RETRY_DELAYS,
    event_body,
    event_id,
    retry_delay,
    secret_key,
    sign,
)

SECRET = "whsec_" + base64.b64encode(bytes(range(7, 39))).decode()
TIMEOUT = 0.3  # the sender's timeout in these tests; a slow receiver sleeps past it
CUSTOMER = {"id": 7, "platform": "telegram", "platform_user_id": "4242"}


@dataclass
class Seen:
    headers: dict[str, str]
    body: bytes
    verified: str  # "ok" or the library's complaint


@dataclass
class Receiver:
    """The shop's service: verifies, then answers as scripted ("500", "slow", "410", "429 120"
    = status and Retry-After, ...); "ok" (200) once the script is used up."""

    script: list[str] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            Webhook(SECRET).verify(body, dict(request.headers))
            verified = "ok"
        except WebhookVerificationError as exc:
            verified = str(exc)
        self.seen.append(Seen(dict(request.headers), body, verified))
        if verified != "ok":
            return web.Response(status=400, text=verified)
        step = self.script.pop(0) if self.script else "200"
        if step == "slow":
            await asyncio.sleep(TIMEOUT + 0.5)
            return web.Response(status=200)
        status, _, wait = step.partition(" ")
        headers = {"Retry-After": wait} if wait else {}
        if status.startswith("3"):
            headers["Location"] = self.url  # followed, it would be delivered
        return web.Response(status=int(status), headers=headers)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    service = Receiver()
    app = web.Application()
    app.add_routes([web.post("/hooks/paybot", service.handle)])
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    service.url = f"http://127.0.0.1:{port}/hooks/paybot?token=tok-in-the-url"
    yield service
    await runner.cleanup()


@pytest.fixture
async def sender(receiver: Receiver) -> AsyncIterator[AccessWebhook]:
    async with new_client(TIMEOUT) as client:
        yield AccessWebhook(receiver.url, SECRET, client, timeout=TIMEOUT)


def granted(plan: str = "pro") -> bytes:
    return event_body(
        "access.granted",
        datetime(2026, 11, 21, 12, 0, 5, tzinfo=UTC),
        {
            "customer": CUSTOMER,
            "plan": plan,
            "period_end": datetime(2026, 12, 21, 13, 0, 5, tzinfo=timezone(timedelta(hours=1))),
            "activation_id": 3,
            "payment_id": 11,
        },
    )


def wall() -> datetime:
    """The library checks timestamps against the real clock, so deliveries use it here."""
    return datetime.now(UTC)


async def test_retried_through_errors_and_timeouts_then_accepted(
    receiver: Receiver, sender: AccessWebhook
) -> None:
    receiver.script = ["500", "500", "slow", "slow"]
    ident, body = event_id("activation:3:granted"), granted()
    for expected in ["answered 500", "answered 500", "no answer in time", "no answer in time"]:
        with pytest.raises(DeliveryError, match=expected) as err:
            await sender.deliver(ident, body, wall())
        assert not err.value.permanent and err.value.retry_after is None
    await sender.deliver(ident, body, wall())
    assert [s.verified for s in receiver.seen] == ["ok"] * 5
    assert {s.headers["webhook-id"] for s in receiver.seen} == {ident}
    assert {s.body for s in receiver.seen} == {body}
    assert receiver.seen[-1].headers["Content-Type"] == "application/json"
    assert json.loads(receiver.seen[-1].body) == {
        "type": "access.granted",
        "timestamp": "2026-11-21T12:00:05Z",
        "data": {
            "customer": CUSTOMER,
            "plan": "pro",
            "period_end": "2026-12-21T12:00:05Z",
            "activation_id": 3,
            "payment_id": 11,
        },
    }


@pytest.mark.parametrize(
    ("client_timeout", "timeout", "expected"),
    [
        (10.0, TIMEOUT, r"no answer in time \(0.3 s\)"),  # all in, whatever the client waits
        (TIMEOUT, 5.0, r"no answer in time \(ReadTimeout\)"),  # the client's own bound
    ],
)
async def test_a_receiver_that_does_not_answer_in_time(
    receiver: Receiver, client_timeout: float, timeout: float, expected: str
) -> None:
    receiver.script = ["slow"]
    async with new_client(client_timeout) as client:
        hook = AccessWebhook(receiver.url, SECRET, client, timeout=timeout)
        started = asyncio.get_running_loop().time()
        with pytest.raises(DeliveryError, match=expected) as err:
            await hook.deliver(event_id("x"), granted(), wall())
    assert asyncio.get_running_loop().time() - started < TIMEOUT + 0.4
    assert not err.value.permanent and err.value.retry_after is None


async def test_one_fact_one_id(receiver: Receiver, sender: AccessWebhook) -> None:
    assert event_id("activation:3:granted") == event_id("activation:3:granted")
    assert event_id("activation:3:granted") != event_id("activation:4:granted")
    assert event_id("activation:3:granted").startswith("msg_")
    await sender.deliver(event_id("activation:3:granted"), granted(), wall())
    await sender.deliver(event_id("activation:3:granted"), granted(), wall())  # a replay
    await sender.deliver(event_id("activation:4:granted"), granted(), wall())
    ids = [s.headers["webhook-id"] for s in receiver.seen]
    assert ids[0] == ids[1] != ids[2]
    assert [s.verified for s in receiver.seen] == ["ok"] * 3


async def test_a_body_changed_after_signing_is_rejected(
    receiver: Receiver, sender: AccessWebhook
) -> None:
    await sender.deliver(event_id("activation:3:granted"), granted(), wall())
    sent = receiver.seen[0]
    assert sent.verified == "ok"
    respaced = json.dumps(json.loads(sent.body)).encode()  # same JSON, other bytes
    for changed in (sent.body.replace(b'"pro"', b'"business"'), respaced):
        with pytest.raises(WebhookVerificationError):
            Webhook(SECRET).verify(changed, sent.headers)
        async with httpx.AsyncClient() as client:
            headers = {k: v for k, v in sent.headers.items() if k.startswith("webhook-")}
            answer = await client.post(receiver.url, content=changed, headers=headers)
        assert answer.status_code == 400
    assert receiver.seen[-1].verified == "No matching signature found"


async def test_signed_with_the_delivery_time(receiver: Receiver, sender: AccessWebhook) -> None:
    ident, body = event_id("activation:3:granted"), granted()
    days_ago = wall() - timedelta(days=3)
    with pytest.raises(DeliveryError, match="answered 400") as err:
        await sender.deliver(ident, body, days_ago)
    assert not err.value.permanent
    assert receiver.seen[0].verified == "Message timestamp too old"
    assert receiver.seen[0].headers["webhook-timestamp"] == str(math.floor(days_ago.timestamp()))
    now = wall()
    await sender.deliver(ident, body, now)  # the retry, days later, is signed anew
    assert receiver.seen[1].verified == "ok"
    assert receiver.seen[1].headers["webhook-timestamp"] == str(math.floor(now.timestamp()))
    assert receiver.seen[1].headers["webhook-id"] == ident


@pytest.mark.parametrize(
    ("step", "permanent", "retry_after"),
    [
        ("404", False, None),
        ("401", False, None),
        ("408", False, None),
        ("429 120", False, 120),
        ("503 30", False, 30),
        ("503 999999", False, 36000),  # capped at the longest scheduled wait
        ("500 soon", False, None),
        ("307", False, None),  # redirects are not followed
        ("410", True, None),
    ],
)
async def test_answers(
    receiver: Receiver, sender: AccessWebhook, step: str, permanent: bool, retry_after: float
) -> None:
    receiver.script = [step]
    with pytest.raises(DeliveryError) as err:
        await sender.deliver(event_id("x"), granted(), wall())
    assert err.value.permanent is permanent
    assert err.value.retry_after == retry_after
    assert len(receiver.seen) == 1 and receiver.seen[0].verified == "ok"
    assert "tok-in-the-url" not in str(err.value) and SECRET[6:] not in str(err.value)


@pytest.mark.parametrize("status", ["200", "201", "202", "204"])
async def test_any_2xx_is_delivered(
    receiver: Receiver, sender: AccessWebhook, status: str
) -> None:
    receiver.script = [status]
    await sender.deliver(event_id("x"), granted(), wall())


def test_retry_after_as_a_date() -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90
    assert parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now) == 0
    assert parse_retry_after("whenever", now) is None and parse_retry_after(None, now) is None


async def test_nobody_listening_is_retried() -> None:
    async with new_client(TIMEOUT) as client:
        hook = AccessWebhook("http://127.0.0.1:9/hooks?token=tok-in-the-url", SECRET, client)
        with pytest.raises(DeliveryError, match="ConnectError") as err:
            await hook.deliver(event_id("x"), granted(), wall())
    assert not err.value.permanent and "tok-in-the-url" not in str(err.value)


def test_signature_matches_the_reference_library() -> None:
    body = granted()
    headers = sign(SECRET, "msg_1", 1_790_000_000, body)
    expected = Webhook(SECRET).sign(
        "msg_1", datetime.fromtimestamp(1_790_000_000, UTC), body.decode()
    )
    assert headers == {
        "webhook-id": "msg_1",
        "webhook-timestamp": "1790000000",
        "webhook-signature": expected,
    }


@pytest.mark.parametrize(
    "secret",
    [
        base64.b64encode(bytes(32)).decode(),  # no prefix
        "whsec_" + base64.b64encode(bytes(16)).decode(),  # too short
        "whsec_" + base64.b64encode(bytes(80)).decode(),  # too long
        "whsec_not*base64!" + "A" * 40,
        "whsec_",
    ],
)
def test_bad_secrets_are_refused_without_showing_them(secret: str) -> None:
    with pytest.raises(ValueError) as err:
        secret_key(secret)
    assert secret not in str(err.value) or secret == "whsec_"
    with pytest.raises(ValueError):
        AccessWebhook("https://shop.example/hooks", secret, httpx.AsyncClient())


def test_unpadded_secrets_are_read() -> None:
    key = bytes(range(25))
    assert secret_key("whsec_" + base64.b64encode(key).decode().rstrip("=")) == key


def test_event_body_is_compact_json_with_exact_money() -> None:
    at = datetime(2026, 11, 21, 13, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    body = event_body(
        "payment.finished",
        at,
        {"payment_id": 11, "price": {"amount": Decimal("299.00"), "currency": "USD"}},
    )
    assert body == (
        b'{"type":"payment.finished","timestamp":"2026-11-21T12:00:00Z","data":'
        b'{"payment_id":11,"price":{"amount":"299.00","currency":"USD"}}}'
    )
    with pytest.raises(TypeError, match=r"data.price: float"):
        event_body("payment.finished", at, {"price": 299.0})
    with pytest.raises(ValueError, match="unknown event type"):
        event_body("access.extended", at, {})
    with pytest.raises(ValueError, match="timezone-aware"):
        event_body("access.ended", datetime(2026, 11, 21), {})
    with pytest.raises(ValueError, match="finite"):
        event_body("payment.finished", at, {"amount": Decimal("NaN")})


def test_retry_schedule_runs_for_about_three_days() -> None:
    spec = [5, 300, 1800, 7200, 18000, 36000, 36000]  # Standard Webhooks' suggestion
    assert [d.total_seconds() for d in RETRY_DELAYS[:7]] == spec
    assert timedelta(days=3) <= GIVE_UP_AFTER < timedelta(days=3, hours=6)
    assert retry_delay(1) == timedelta(seconds=5)
    assert retry_delay(ATTEMPTS - 1) == timedelta(hours=10)
    assert retry_delay(ATTEMPTS) is None
    with pytest.raises(ValueError):
        retry_delay(0)
