"""The sweeper handles the common due payments as a set (issue 18, item 5): a batch costs a
fixed number of statements however many payments it holds, and two sweepers on one database
never queue a warning or an expiry twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from bot.adapters.fake import FakeAdapter
from bot.app import App
from storage.models import OutboxItem, Payment
from tests.bulk import Statements, a_user, insert_rows, payment_row
from tests.helpers import count_rows


def _writes(seen: Statements) -> list[str]:
    return [
        s
        for s, _ in seen.seen
        if s.lstrip().upper().startswith(("UPDATE PAYMENTS", "INSERT INTO OUTBOX"))
    ]


async def test_a_batch_costs_the_same_statements_for_ten_or_a_hundred_payments(
    app: App, clock
) -> None:
    now = clock()
    user = await a_user(app.db)
    counts = []
    for start, size in ((0, 10), (10, 100)):
        rows = (
            payment_row(n, user, now, now + timedelta(seconds=200), next_check_at=now)
            for n in range(start, start + size)
        )
        await insert_rows(app.db, Payment, rows)
        with Statements(app.db) as seen:
            report = await app.countdown.sweep(now)
        assert report.warnings == size
        counts.append(len(_writes(seen)))
    assert counts[0] == counts[1] == 2  # one UPDATE of the payments, one INSERT of the notices
    assert await count_rows(app, Payment, Payment.warnings_sent == "300") == 110
    assert await count_rows(app, OutboxItem, OutboxItem.kind == "payment.warning") == 110

    deadline = now + timedelta(seconds=200)
    with Statements(app.db) as seen:
        report = await app.countdown.sweep(deadline)
    assert report.expired == 110
    assert len(_writes(seen)) == 2
    assert await count_rows(app, OutboxItem, OutboxItem.kind == "payment.expired") == 110
    async with app.db.sessions() as session:
        p = await session.get(Payment, 1)
    assert p.status == "expired" and p.next_check_at == deadline + timedelta(hours=24)
    assert p.next_poll_at is not None and p.next_poll_at > deadline


async def test_two_sweepers_on_one_database_queue_each_warning_and_expiry_once(
    app: App, config, clock
) -> None:
    """Two workers' sweepers run at once over the same due payments (real parallel
    transactions on PostgreSQL): each payment is warned once and expired once, and the two
    reports add up to exactly the number of payments (a notice written twice would have
    been counted twice, even where the dedupe key then ignored it)."""
    count = 2000
    now = clock()
    deadline = now + timedelta(seconds=200)
    user = await a_user(app.db)
    rows = (payment_row(n, user, now, deadline, next_check_at=now) for n in range(count))
    await insert_rows(app.db, Payment, rows)
    other = App(config, adapters=[FakeAdapter()], clock=clock)
    await other.start(background=False)
    try:
        for countdown in (app.countdown, other.countdown):
            countdown.batch = 100
        for at, field in ((now, "warnings"), (deadline, "expired")):
            first, second = await asyncio.gather(
                app.countdown.sweep(at), other.countdown.sweep(at)
            )
            assert getattr(first, field) + getattr(second, field) == count, field
    finally:
        await other.stop()
    async with app.db.sessions() as session:
        per_kind = dict(
            (
                await session.execute(
                    select(OutboxItem.kind, func.count()).group_by(OutboxItem.kind)
                )
            ).all()
        )
    assert per_kind == {"payment.warning": count, "payment.expired": count}
    assert await count_rows(app, Payment, Payment.warnings_sent == "300") == count
    assert await count_rows(app, Payment, Payment.status == "expired") == count


async def test_the_relay_claims_warnings_before_older_less_urgent_notices(app: App, clock) -> None:
    """A backlog of ordinary notices (due for an hour) does not hold back a countdown
    warning that has just come: the claim takes the urgent rows first."""
    from storage import writes
    from tests.bulk import outbox_row

    now = clock()
    await insert_rows(
        app.db,
        OutboxItem,
        (outbox_row(n, "fake", now - timedelta(hours=1)) for n in range(80)),
    )
    user = await a_user(app.db)
    await insert_rows(
        app.db,
        Payment,
        (
            payment_row(n, user, now, now + timedelta(seconds=200), next_check_at=now)
            for n in range(3)
        ),
    )
    await app.countdown.sweep(now)
    claimed = await app.db.run(
        lambda session: writes.claim_outbox(
            session,
            now,
            50,
            "t" * 32,
            now + timedelta(seconds=60),
            platforms=["fake"],
            skip_locked=not app.db.is_sqlite,
        )
    )
    kinds = [row.kind for row in claimed]
    assert len(kinds) == 50
    assert kinds[:3] == ["payment.warning"] * 3 and "payment.warning" not in kinds[3:]


async def test_past_the_ask_budget_payments_expire_unasked_and_are_read_next(
    app: App, clock
) -> None:
    """The provider is asked before expiry only for `ask_budget` seconds a tick; the rest
    expire at once and are due for the poller right away instead of in
    `expired_every_seconds`."""
    now = clock()
    user = await a_user(app.db)
    await insert_rows(app.db, Payment, (payment_row(n, user, now, now) for n in range(30)))
    app.countdown.ask_budget = 0.0
    report = await app.countdown.sweep(now)
    assert report.expired == 30 and report.unasked == 30
    assert await count_rows(app, Payment, Payment.next_poll_at == now) == 30
    assert await count_rows(app, OutboxItem, OutboxItem.kind == "payment.expired") == 30
