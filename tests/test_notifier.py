"""The outbox relay: delivery, retries with backoff, dead letters, and waking up at once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.adapters.base import DeliveryError
from bot.adapters.fake import FakeAdapter
from bot.app import App
from bot.notifier import Notifier
from storage import writes
from storage.models import OutboxItem
from tests.conftest import PG_URL, make_config
from tests.helpers import buy
from tests.pg_cluster import PrivatePostgres
from tools.providers.base import ProviderEvent


async def _confirming(app, fake) -> int:
    pid = await buy(fake, "/buy pro sol")
    async with app.db.sessions() as session:
        from storage.models import Payment

        p = await session.get(Payment, pid)
    await app.events.apply_event(
        ProviderEvent(p.provider_payment_id, "confirming", p.pay_amount), "ipn"
    )
    return pid


async def _item(app) -> OutboxItem:
    """The customer's one notification (a dead one also queues an operator alert)."""
    query = select(OutboxItem).where(OutboxItem.kind.not_like("alert.%"))
    async with app.db.sessions() as session:
        return (await session.scalars(query)).one()


async def test_transient_error_is_retried_with_backoff(app, fake, clock) -> None:
    pid = await _confirming(app, fake)
    fake.fail_next(DeliveryError("timeout"), times=2)
    assert await app.notifier.drain() == 1
    item = await _item(app)
    assert (item.status, item.attempts, item.last_error) == ("pending", 1, "timeout")
    assert item.next_attempt_at == clock() + timedelta(seconds=2)
    assert await app.notifier.drain() == 0  # not due yet
    clock.advance(2)
    assert await app.notifier.drain() == 1
    assert (await _item(app)).attempts == 2
    clock.advance(4)
    assert await app.notifier.drain() == 1
    item = await _item(app)
    assert item.status == "sent" and item.attempts == 3
    assert sum(f"#{pid}: we see" in t for t in fake.texts()) == 1


async def test_retry_after_is_honoured(app, fake, clock) -> None:
    await _confirming(app, fake)
    fake.fail_next(DeliveryError("429", retry_after=17))
    await app.notifier.drain()
    item = await _item(app)
    assert (item.next_attempt_at - clock()).total_seconds() == 17


async def test_permanent_error_goes_dead_without_retry(app, fake, clock) -> None:
    await _confirming(app, fake)
    fake.fail_next(DeliveryError("bot was blocked by the user", permanent=True))
    await app.notifier.drain()
    item = await _item(app)
    assert item.status == "dead" and item.attempts == 1
    clock.advance(3600)
    assert await app.notifier.drain() == 0
    assert not any("we see" in t for t in fake.texts())


async def test_an_outage_of_hours_does_not_kill_notices(app, fake, clock) -> None:
    await _confirming(app, fake)
    fake.fail_next(DeliveryError("down"), times=12)
    for _ in range(12):  # an hour of a platform answering errors
        await app.notifier.drain()
        clock.advance(301)
    assert (await _item(app)).status == "pending"
    await app.notifier.drain()
    assert (await _item(app)).status == "sent"


async def test_gives_up_after_a_day_of_failures(app, fake, clock) -> None:
    await _confirming(app, fake)
    fake.fail_next(DeliveryError("down"), times=1000)
    for _ in range(300):
        await app.notifier.drain()
        clock.advance(301)
        if (await _item(app)).status == "dead":
            break
    item = await _item(app)
    assert item.status == "dead" and item.attempts >= app.notifier.max_attempts


async def test_a_state_change_wakes_the_relay_at_once(app, fake, clock) -> None:
    app.notifier.idle_seconds = 3600  # only a wake-up can deliver within the test
    relay = asyncio.create_task(app.notifier.run())
    try:
        await asyncio.sleep(0.05)
        pid = await _confirming(app, fake)
        message = await fake.wait_for(lambda m: f"#{pid}: we see" in m.text, timeout=2)
        assert message.target.chat_id == "alice"
    finally:
        app.notifier.stop()
        await relay


async def test_card_is_edited_in_place_with_the_notice(app, fake, clock) -> None:
    pid = await _confirming(app, fake)
    await app.notifier.drain()
    await app.notifier.edits_done()
    card_ref = "fake:1"  # the payment card was the first message sent
    assert fake.edits and fake.edits[-1].edit_of == card_ref
    assert "payment seen, confirming" in fake.edits[-1].text
    assert fake.edits[-1].payment_id == pid


# --- several relays on one database -----------------------------------------------------------


class SlowAdapter(FakeAdapter):
    """A platform that takes `seconds` (on the injected clock) to answer each send, and lets
    the other relay run meanwhile."""

    def __init__(self, clock, seconds: float, gate: asyncio.Event | None = None) -> None:
        super().__init__()
        self.clock, self.seconds, self.gate = clock, seconds, gate
        self.entered = asyncio.Event()

    async def send(self, message):
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(0.02)  # real time: the other relay gets its turns
        self.clock.advance(self.seconds)
        return await super().send(message)


async def _queue(app, count: int) -> None:
    now = app.clock()

    def work(session) -> None:
        for n in range(count):
            writes.enqueue(
                session,
                chat_platform="fake",
                chat_id=f"chat-{n}",
                user_id=None,
                kind="payment.expired",
                payload={"payment_id": 900000 + n, "plan": "pro", "coin": "sol"},
                locale="en",
                dedupe_key=f"race:{n}",
                created_at=now,
            )

    await app.db.run(work)


async def _statuses(app) -> list[str]:
    async with app.db.sessions() as session:
        return list((await session.scalars(select(OutboxItem.status))).all())


async def test_a_batch_that_outlasts_its_lease_is_not_sent_twice(config, clock) -> None:
    """Each send takes 30 s, a batch of 8 four minutes: the lease (60 s) is renewed under
    the work, so the second relay, draining all the while, never takes a row the first one
    still holds (before: it took and sent again every row still waiting after a minute)."""
    adapters = [SlowAdapter(clock, 30), SlowAdapter(clock, 30)]
    apps = [App(config, adapters=[a], clock=clock) for a in adapters]
    for one in apps:
        await one.start(background=False)
    try:
        await _queue(apps[0], 8)

        async def relay(one: App) -> None:
            for _ in range(200):
                await one.notifier.drain()
                if set(await _statuses(one)) == {"sent"}:
                    return
                await asyncio.sleep(0.005)

        await asyncio.gather(*(relay(one) for one in apps))
        delivered = Counter(m.target.chat_id for a in adapters for m in a.sent)
        assert delivered == Counter({f"chat-{n}": 1 for n in range(8)})
        assert await _statuses(apps[0]) == ["sent"] * 8
    finally:
        for one in apps:
            await one.stop()


async def test_a_relay_whose_row_was_taken_over_records_nothing(config, clock, caplog) -> None:
    """A send that outlasted the lease (say the machine slept): the second relay takes the
    row and delivers it; the first one's late outcome must not overwrite the row's."""
    gate = asyncio.Event()
    first, second = SlowAdapter(clock, 0, gate), SlowAdapter(clock, 0)
    apps = [App(config, adapters=[a], clock=clock) for a in (first, second)]
    for one in apps:
        await one.start(background=False)
    try:
        await _queue(apps[0], 1)
        held = asyncio.create_task(apps[0].notifier.drain())
        await asyncio.wait_for(first.entered.wait(), 5)
        clock.advance(61)  # the first relay's lease is over, its send still under way
        assert await apps[1].notifier.drain() == 1
        taken = clock()
        clock.advance(5)
        gate.set()
        assert await held == 0  # not counted as its own
        async with apps[0].db.sessions() as session:
            row = (await session.scalars(select(OutboxItem))).one()
        assert (row.status, row.sent_at, row.attempts, row.claim_token) == ("sent", taken, 2, None)
        assert "taken over by another relay" in caplog.text
    finally:
        for one in apps:
            await one.stop()


async def test_a_send_that_hangs_is_given_up_and_retried(app, fake, clock) -> None:
    """No send may outlast the lease: one that hangs is abandoned after `send_limit` and
    retried later like any transient failure."""
    hang = asyncio.Event()

    class Hanging(FakeAdapter):
        async def send(self, message):
            if not hang.is_set():
                await asyncio.Event().wait()  # never answers
            return await super().send(message)

    notifier = Notifier(app.db, app.catalog, {"fake": Hanging()}, clock, send_limit=0.2)
    await _queue(app, 1)
    assert await notifier.drain() == 1
    item = (await _all(app))[0]
    assert (item.status, item.last_error) == ("pending", "no answer within 0.2 s")
    hang.set()
    clock.advance(2)
    assert await notifier.drain() == 1
    assert (await _all(app))[0].status == "sent"


async def _all(app) -> list[OutboxItem]:
    async with app.db.sessions() as session:
        return list((await session.scalars(select(OutboxItem).order_by(OutboxItem.id))).all())


@pytest.mark.skipif(not PG_URL, reason="needs PAYBOT_TEST_DATABASE_URL (PostgreSQL)")
async def test_a_send_is_recorded_once_the_database_is_back(clock) -> None:
    """PostgreSQL stops while a send is under way (a restart; on a server of the test's own):
    the relay records what it sent once the database is back, within its lease, so another
    relay never sends it again (before: the outcome was dropped, the row stayed claimed and
    went out a second time when the lease ran out)."""
    async with PrivatePostgres() as pg:
        stopped = asyncio.Event()

        class Stopping(FakeAdapter):
            async def send(self, message):
                if not self.sent:  # the first send: the database goes away meanwhile
                    await pg.stop()
                    stopped.set()
                return await super().send(message)

        first, second = Stopping(), FakeAdapter()
        config = make_config(pg.url)
        apps = [App(config, adapters=[a], clock=clock) for a in (first, second)]
        for one in apps:
            await one.start(background=False)
        try:
            await _queue(apps[0], 2)
            draining = asyncio.create_task(apps[0].notifier.drain())
            await asyncio.wait_for(stopped.wait(), 60)  # a slow stop must not meet the start
            await asyncio.sleep(1)  # the outcomes wait for the database
            assert not draining.done()
            await pg.start()
            assert await asyncio.wait_for(draining, 30) == 2
            clock.advance(61)  # past the claim's lease
            assert await apps[1].notifier.drain() == 0
            assert second.sent == [] and len(first.sent) == 2
            assert await _statuses(apps[0]) == ["sent", "sent"]
        finally:
            for one in apps:
                await one.stop()


@pytest.mark.skipif(not PG_URL, reason="needs PAYBOT_TEST_DATABASE_URL (PostgreSQL)")
async def test_rows_not_sent_when_the_database_went_away_go_out_when_it_is_back(clock) -> None:
    """A send takes 30 s and the database stops during the first: renewing the lease before
    the second send fails, the drain ends, and the row it did not send is given back (not
    left claimed for a minute), so the next drain after the restart sends it at once."""
    async with PrivatePostgres() as pg:
        stopped = asyncio.Event()

        class Stopping(FakeAdapter):
            async def send(self, message):
                if not self.sent:
                    await pg.stop()
                    stopped.set()
                clock.advance(30)
                return await super().send(message)

        adapter = Stopping()
        app = App(make_config(pg.url), adapters=[adapter], clock=clock)
        await app.start(background=False)
        try:
            await _queue(app, 2)
            draining = asyncio.create_task(app.notifier.drain())
            # started only once the stop is over and the renewal has failed (at once: nothing
            # listens), never while a slow stop is still under way (a flaky start before)
            await asyncio.wait_for(stopped.wait(), 60)
            await asyncio.sleep(1)
            assert not draining.done()  # its outcome waits for the database
            await pg.start()
            with pytest.raises(Exception):  # noqa: B017,PT011 (the driver's error)
                await asyncio.wait_for(draining, 30)
            assert sorted(await _statuses(app)) == ["pending", "sent"]
            assert await app.notifier.drain() == 1  # at once: no lease to wait for
            assert [m.target.chat_id for m in adapter.sent] == ["chat-0", "chat-1"]
            assert await _statuses(app) == ["sent", "sent"]
        finally:
            await app.stop()
