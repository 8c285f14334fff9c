"""Nothing costs more as history grows that should not (issue 18, item 8): the relay's claim
reads only rows this process can deliver, `/metrics` counts only what is open, old rows are
pruned, expiry and reconciliation take all that is due, and a long tick ends at a batch
boundary when the process stops."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import select

from bot.app import App
from bot.scheduler import Scheduler
from storage import repos, writes
from storage.models import OutboxItem, Payment, PaymentEvent
from tests.bulk import (
    Statements,
    a_user,
    analyze,
    insert_rows,
    outbox_row,
    payment_row,
    plans,
)
from tests.conftest import make_config
from tests.helpers import buy, count_rows

ELSEWHERE = 20_000  # rows for a platform no process here runs


def _full_scans(plan: str) -> list[str]:
    """Lines of a plan that read a whole table or index instead of a range of it."""
    lines = plan.splitlines()
    return [
        line
        for line in lines
        if "Seq Scan on" in line
        or (line.lstrip().startswith("SCAN") and not line.lstrip().startswith("SCAN anon_"))
    ]  # scanning a subquery's own bounded result is no table scan


async def test_a_claim_reads_only_rows_this_process_can_deliver(app: App, clock) -> None:
    now = clock()
    await insert_rows(
        app.db,
        OutboxItem,
        (outbox_row(n, "discord", now - timedelta(hours=1)) for n in range(ELSEWHERE)),
    )
    await insert_rows(
        app.db, OutboxItem, (outbox_row(n, "fake", now - timedelta(minutes=1)) for n in range(3))
    )
    await analyze(app.db)
    with Statements(app.db, "FROM outbox") as seen:
        claimed = await app.db.run(
            lambda session: writes.claim_outbox(
                session,
                now,
                50,
                "t" * 32,
                now + timedelta(seconds=60),
                platforms=list(app.notifier.adapters),
                skip_locked=not app.db.is_sqlite,
                chats=app.notifier.own_chats,
            )
        )
    assert sorted(row.chat_platform for row in claimed) == ["fake"] * 3
    selects = [s for s in seen.seen if s[0].lstrip().upper().startswith("SELECT")]
    assert selects
    for plan in await plans(app.db, selects):
        assert "chat_platform" in plan and "ix_outbox_status_platform_priority_next" in plan, plan
        assert not _full_scans(plan), plan
        if not app.db.is_sqlite:  # the platform is part of the index range, not a filter
            assert "Filter" not in plan, plan


async def test_the_sweeper_reads_only_the_due_payments_among_many_open(app: App, clock) -> None:
    """20 of 5,020 open payments are due: the sweeper's query (and its keyset continuation)
    is a range of the due-time index, never a scan of the open ones (issue 18: on time among
    100,000 open payments; measured by benchmarks/due_at_scale.py warnings --open)."""
    now = clock()
    user = await a_user(app.db)
    soon, later = now + timedelta(minutes=5), now + timedelta(minutes=10)
    await insert_rows(
        app.db,
        Payment,
        (payment_row(n, user, now, later, next_check_at=soon) for n in range(5000)),
    )
    due = now - timedelta(seconds=1)
    await insert_rows(
        app.db,
        Payment,
        (payment_row(n, user, now, soon, next_check_at=due) for n in range(5000, 5020)),
    )
    if not app.db.is_sqlite:  # as autovacuum would; the app never runs ANALYZE on SQLite
        await analyze(app.db)
    with Statements(app.db, "next_check_at <=") as seen:
        async with app.db.sessions() as session:
            first = await repos.due_payments(session, now, 10)
            after = (first[-1].next_check_at, first[-1].id)
            rest = await repos.due_payments(session, now, 10, after=after)
    assert len(first) == 10 and len(rest) == 10
    assert len(seen.seen) == 2
    for plan in await plans(app.db, seen.seen):
        assert "ix_payments_next_check_at" in plan, plan
        assert not _full_scans(plan), plan


@pytest.fixture
async def served(db_url, fake, clock):
    config = make_config(db_url, WEBHOOKS__ENABLED="true", WEBHOOKS__PORT="0")
    app = App(config, adapters=[fake], clock=clock)
    await app.start(background=False)
    await app.webhooks.start()
    async with aiohttp.ClientSession(f"http://127.0.0.1:{app.webhooks.bound_port}") as http:
        yield app, http
    await app.stop()


async def test_metrics_count_only_open_payments_and_undelivered_notices(served, clock) -> None:
    app, http = served
    now = clock()
    user = await a_user(app.db)
    await insert_rows(
        app.db,
        Payment,
        (
            payment_row(
                n,
                user,
                now - timedelta(days=30),
                now - timedelta(days=29),
                status="finished",
                status_rank=5,
                next_check_at=None,
            )
            for n in range(ELSEWHERE)
        ),
    )
    await insert_rows(
        app.db,
        Payment,
        (payment_row(ELSEWHERE + n, user, now, now + timedelta(minutes=10)) for n in range(4)),
    )
    await insert_rows(
        app.db,
        OutboxItem,
        (outbox_row(n, "fake", now, status="sent", sent_at=now) for n in range(ELSEWHERE)),
    )
    await analyze(app.db)
    with Statements(app.db, "count(") as seen:
        async with http.get("/metrics") as response:
            text = await response.text()
    assert 'paybot_payments{status="waiting"} 4' in text
    assert 'paybot_outbox{status="pending"} 0' in text
    assert seen.seen
    for plan in await plans(app.db, seen.seen):
        assert not _full_scans(plan), plan


async def test_old_delivered_notices_and_settled_events_are_pruned(app: App, clock) -> None:
    now = clock()
    old, recent = now - timedelta(days=31), now - timedelta(days=29)
    user = await a_user(app.db)
    settled = dict(status="finished", status_rank=5, next_check_at=None, next_poll_at=None)
    await insert_rows(
        app.db,
        Payment,
        [
            payment_row(1, user, old, old, **settled),
            payment_row(2, user, old, old, next_poll_at=now),  # still watched
        ],
    )
    async with app.db.sessions() as session:
        done, watched = (await session.scalars(select(Payment.id).order_by(Payment.id))).all()
    rows = [
        outbox_row(1, "fake", old, status="sent", sent_at=old),  # goes
        outbox_row(2, "fake", old, status="skipped", sent_at=old),  # goes
        outbox_row(3, "fake", recent, status="sent", sent_at=recent),  # too young
        outbox_row(4, "fake", old, status="dead"),  # undelivered: never
        outbox_row(5, "fake", old, status="pending"),  # undelivered: never
    ]
    await insert_rows(app.db, OutboxItem, rows)
    event = dict(provider="sandbox", source="ipn", new_status="waiting", raw="")
    ago = now - timedelta(days=400)
    await insert_rows(
        app.db,
        PaymentEvent,
        [
            dict(payment_id=done, dedupe_key="a", received_at=ago, **event),
            dict(payment_id=done, dedupe_key="b", received_at=recent, **event),  # too young
            dict(payment_id=watched, dedupe_key="c", received_at=ago, **event),
            dict(payment_id=None, dedupe_key="d", received_at=ago, **event),
        ],
    )
    app.pruner.batch = 1  # several batches
    report = await app.pruner.prune(now)
    assert (report.outbox, report.events) == (2, 2)
    async with app.db.sessions() as session:
        left = (await session.scalars(select(OutboxItem.dedupe_key))).all()
        events = (await session.scalars(select(PaymentEvent.dedupe_key))).all()
    assert sorted(left) == ["bulk:fake:3", "bulk:fake:4", "bulk:fake:5"]
    assert sorted(events) == ["b", "c"]
    assert (await app.pruner.prune(now)).outbox == 0


async def test_payments_with_one_deadline_all_expire_in_one_tick(app: App, clock, fake) -> None:
    """No cap per tick (there were 20 expiries a tick): every payment due is expired and its
    customer told, closest deadlines first, in batches."""
    now = clock()
    user = await a_user(app.db, platform="fake")
    deadline = now + timedelta(seconds=1)
    await insert_rows(
        app.db,
        Payment,
        (payment_row(n, user, now, deadline, warnings_sent="300,60") for n in range(300)),
    )
    app.countdown.batch = 50
    report = await app.countdown.sweep(deadline)
    assert report.expired == 300
    assert await count_rows(app, Payment, Payment.status == "expired") == 300
    assert await count_rows(app, OutboxItem, OutboxItem.kind == "payment.expired") == 300


async def test_stopping_during_a_long_sweep_ends_it_at_a_batch_boundary(
    app: App, clock, caplog
) -> None:
    """The scheduler's stop ends a tick over thousands of due payments after the batch under
    way: no tick is left running into the database's closing, nothing is logged as an error,
    and every batch that ran is committed whole."""
    now = clock()
    user = await a_user(app.db)
    await insert_rows(
        app.db,
        Payment,
        (
            payment_row(n, user, now, now + timedelta(seconds=200), next_check_at=now)
            for n in range(3000)
        ),
    )
    app.countdown.batch = 50
    scheduler = Scheduler(clock, app.countdown.stopping)
    scheduler.every("sweep", 0.05, app.countdown.sweep)
    caplog.set_level(logging.WARNING)
    scheduler.start()
    for _ in range(600):  # until the tick is under way
        await asyncio.sleep(0.05)
        if await count_rows(app, OutboxItem, OutboxItem.kind == "payment.warning") >= 100:
            break
    await scheduler.stop(grace=2.0)
    assert not scheduler._running, "the tick ran on past the grace"
    warned = await count_rows(app, OutboxItem, OutboxItem.kind == "payment.warning")
    marked = await count_rows(app, Payment, Payment.warnings_sent == "300")
    assert 100 <= warned < 3000 and warned == marked and warned % 50 == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_reconciliation_reads_everything_due_longest_silent_first(
    np_app: App, nowpayments, fake, clock
) -> None:
    """The poller's rate grows with what is due (there were 5 reads a run: 60 a minute, so a
    lost IPN among 100,000 open payments waited about 28 hours); the longest silent go first
    when its ceiling is reached."""
    # the default: 30,000 a minute over 12 runs on SQLite; on PostgreSQL a run goes on while
    # the workers' shared budget (30,000 a minute) has room
    assert np_app.reconciler.per_run == (2500 if np_app.db.is_sqlite else 30000)
    nowpayments.ipn_enabled = False  # every IPN is lost
    ids = []
    for n in range(40):
        ids.append(await buy(fake, "/buy pro btc", user=f"u{n}"))
        clock.advance(1)  # each one silent a second less than the one before
    lost = ids[-1]
    async with np_app.db.sessions() as session:
        provider_id = (await session.get(Payment, lost)).provider_payment_id
    await nowpayments.pay(int(provider_id))
    clock.advance(300)  # every one is due for a read
    np_app.reconciler.per_run = 10  # the ceiling: the ten longest silent
    nowpayments.requests.clear()
    report = await np_app.reconciler.poll(clock())
    read = [p.rsplit("/", 1)[1] for _, p in nowpayments.requests if "/payment/" in p]
    async with np_app.db.sessions() as session:
        first = (
            await session.scalars(
                select(Payment.provider_payment_id).where(Payment.id.in_(ids[:10]))
            )
        ).all()
    assert report.read == 10 and sorted(read) == sorted(first)
    np_app.reconciler.per_run = 2500
    report = await np_app.reconciler.poll(clock())
    assert report.read == 30 and report.applied == 1
    async with np_app.db.sessions() as session:
        assert (await session.get(Payment, lost)).status == "finished"


async def test_stopping_ends_a_poller_batch_without_reading_the_rest(
    np_app: App, nowpayments, fake, clock
) -> None:
    """A poller batch (up to 500 reads) can outlast the stop's grace: once stopping, the
    reads not started are left undone and stay due, so the batch ends instead of being
    cancelled under way (a traceback), and nothing is rescheduled as if it had been read."""
    ids = [await buy(fake, "/buy pro btc", user=f"u{n}") for n in range(40)]
    clock.advance(300)  # every one is due for a read
    now = clock()
    np_app.reconciler.at_once = 1
    nowpayments.latency = 0.05  # 40 reads one at a time take 2 s: the stop comes during them
    nowpayments.requests.clear()
    run = asyncio.get_running_loop().create_task(np_app.reconciler.poll(now))
    for _ in range(1000):  # until the batch is under way
        await asyncio.sleep(0.01)
        if len([p for _, p in nowpayments.requests if "/payment/" in p]) >= 3:
            break
    np_app.reconciler.stopping.set()
    await asyncio.wait_for(run, 10)
    read = len([p for _, p in nowpayments.requests if "/payment/" in p])
    assert 3 <= read < 40
    still_due = await count_rows(np_app, Payment, Payment.id.in_(ids), Payment.next_poll_at <= now)
    assert still_due >= 40 - read


async def test_retention_zero_keeps_everything(db_url: str, fake, clock) -> None:
    config = make_config(db_url, RETENTION__OUTBOX_DAYS="0", RETENTION__EVENTS_DAYS="0")
    app = App(config, adapters=[fake], clock=clock)
    await app.start(background=False)
    try:
        old = clock() - timedelta(days=999)
        await insert_rows(
            app.db, OutboxItem, [outbox_row(1, "fake", old, status="sent", sent_at=old)]
        )
        report = await app.pruner.prune(clock())
        assert (report.outbox, report.events) == (0, 0)
        assert await count_rows(app, OutboxItem) == 1
    finally:
        await app.stop()


def test_retention_settings_are_checked() -> None:
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match="retention"):
        make_config("sqlite+aiosqlite:///x.db", RETENTION__OUTBOX_DAYS="-1")
