"""The shop's own service hears about access through signed events, end to end: a plan with
`webhook = true` is paid, renewed and revoked in the app; a real HTTP receiver verifies every
request with the `standardwebhooks` library (not our code) while it is down for a while."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.adapters.fake import FakeAdapter
from bot.admin.parser import parse_chat
from bot.app import App
from bot.config import load_config
from storage.models import OutboxItem
from tests.conftest import ROOT, ManualClock
from tests.helpers import buy, count_rows
from tests.test_access import pay, relay
from tests.test_access_webhook import SECRET, receiver  # noqa: F401 (the receiver fixture)


@pytest.fixture
async def shop(db_url, tmp_path, receiver) -> AsyncIterator[tuple[App, FakeAdapter, ManualClock]]:  # noqa: F811
    """The app on the fake platform, Pro telling the receiver (`webhook = true`)."""
    path = tmp_path / "config.toml"
    text = (ROOT / "config.toml").read_text()
    text = text.replace(
        '# webhook_url = "https://shop.example.com/hooks/paybot"',
        f'webhook_url = "{receiver.url}"',
    )
    path.write_text(text + "\n[plans.pro.access]\nwebhook = true\n")
    environ = {"PAYBOT_DATABASE__URL": db_url, "PAYBOT_ACCESS_WEBHOOK_SECRET": SECRET}
    clock = ManualClock()  # the app's time; events are signed with the real time of sending
    fake = FakeAdapter()
    app = App(load_config(path, environ), adapters=[fake], clock=clock)
    await app.start(background=False)
    yield app, fake, clock
    await app.stop()


async def test_events_arrive_once_each_after_the_receiver_comes_back(
    shop,
    receiver,  # noqa: F811
) -> None:
    app, fake, clock = shop
    receiver.script = ["500", "500", "503", "502"]  # down for a while
    await pay(app, await buy(fake, "/buy pro sol"))
    for _ in range(8):  # the relay retries on the events' schedule
        await relay(app)
        clock.advance(3 * 3600)
    await pay(app, await buy(fake, "/buy pro ltc"))  # a renewal
    await app.desk.revoke("admin", "fake:alice")
    await relay(app)
    await relay(app)
    assert receiver.seen and all(s.verified == "ok" for s in receiver.seen)  # valid each time
    failed, answered = receiver.seen[:4], receiver.seen[4:]  # the script: 4 failures, then 200s
    retried = {s.headers["webhook-id"] for s in failed}
    assert retried <= {s.headers["webhook-id"] for s in answered}  # each got through later
    ids = Counter(s.headers["webhook-id"] for s in answered)
    assert set(ids.values()) == {1}, "an event reached the service twice"
    types = Counter(json.loads(s.body)["type"] for s in answered)
    assert types == {
        "access.granted": 1,
        "payment.finished": 2,
        "access.renewed": 1,
        "access.revoked": 1,
    }
    events = {json.loads(s.body)["type"]: json.loads(s.body)["data"] for s in answered}
    finished = events["payment.finished"]
    assert finished["price"] == {"amount": "299", "currency": "USD"}
    assert isinstance(finished["paid"]["amount"], str) and finished["plan"] == "pro"
    granted = events["access.granted"]
    assert granted["plans"] == ["pro"] and granted["customer"]["platform_user_id"] == "alice"
    renewed = events["access.renewed"]
    assert renewed["paid_until"] > renewed["previous_paid_until"] == granted["paid_until"]
    assert events["access.revoked"]["reason"] == "revoke"
    for event in retried:  # a retry is the same event (same id, same body), signed anew
        assert len({s.body for s in receiver.seen if s.headers["webhook-id"] == event}) == 1
    async with app.db.sessions() as session:
        rows = list(
            await session.scalars(select(OutboxItem).where(OutboxItem.kind == "access.event"))
        )
    assert {r.status for r in rows} == {"sent"} and len(rows) == 5


async def test_a_dead_event_can_be_sent_again_by_an_operator(
    shop,
    receiver,  # noqa: F811
) -> None:
    app, fake, clock = shop
    receiver.script = ["410", "410"]  # the service says its endpoint is gone
    await pay(app, await buy(fake, "/buy pro sol"))
    await relay(app)
    dead = await count_rows(
        app, OutboxItem, OutboxItem.kind == "access.event", OutboxItem.status == "dead"
    )
    assert dead == 2  # given up at once, and the operators told (alert.dead_notice)
    replies = await app.operator_commands.run(
        "console:admin", parse_chat("access --retry fake:alice")
    )
    assert replies[0].text == "2 given-up access change(s) queued again."
    await relay(app)
    delivered = [s for s in receiver.seen[2:]]
    assert sorted(json.loads(s.body)["type"] for s in delivered) == [
        "access.granted",
        "payment.finished",
    ]
    first = {s.headers["webhook-id"] for s in receiver.seen[:2]}
    assert {s.headers["webhook-id"] for s in delivered} == first  # the same events again
