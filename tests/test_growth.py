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
from storage import writes
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
from tests.helpers import count_rows

ELSEWHERE = 20_000  # rows for a platform no process here runs


def _full_scans(plan: str) -> list[str]:
    """Lines of a plan that read a whole table or index instead of a range of it."""
    lines = plan.splitlines()
    return [line for line in lines if "Seq Scan" in line or line.lstrip().startswith("SCAN")]


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
        assert "chat_platform" in plan and "ix_outbox_status_platform_next" in plan, plan
        assert not _full_scans(plan), plan
        if not app.db.is_sqlite:  # the platform is part of the index range, not a filter
            assert "Filter" not in plan, plan


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
