"""Does a relay claim or a `/metrics` scrape cost more as history grows?

    python benchmarks/history_growth.py [--db URL] [--sizes 0,100000,1000000] [--runs 3]

Fills a fresh database, step by step, with N rows of each kind of history a long-lived shop
piles up: outbox rows for a platform this process does not run (still pending and due), outbox
rows delivered long ago, and finished payments. At each size a separate client process times
(a) the relay's claim for the platform it runs (`storage.writes.claim_outbox`, three rows due,
in a transaction rolled back afterwards) and (b) `GET /metrics` on the running webhook server.
Each run is the median of 15 calls; printed: the median of `--runs` runs, their range, and the
machine's load. Goal: the same cost at every size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bot.adapters.fake import FakeAdapter  # noqa: E402
from bot.app import App  # noqa: E402
from storage import writes  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import OutboxItem  # noqa: E402
from tests.bulk import a_user, insert_rows, outbox_row  # noqa: E402
from tests.conftest import free_port, make_config  # noqa: E402

NOW = datetime.now(UTC)
CALLS = 15


def _stamp(db: Database, at: datetime) -> object:
    naive = at.astimezone(UTC).replace(tzinfo=None)
    return naive.strftime("%Y-%m-%d %H:%M:%S.%f") if db.is_sqlite else naive


def _numbers(db: Database) -> str:
    if db.is_sqlite:
        return (
            "WITH RECURSIVE s(g) AS (SELECT :start UNION ALL SELECT g + 1 FROM s WHERE g < :stop) "
        )
    return ""


def _from(db: Database) -> str:
    return (
        "FROM s"
        if db.is_sqlite
        else "FROM generate_series(CAST(:start AS integer), CAST(:stop AS integer)) AS s(g)"
    )


async def _grow(db: Database, start: int, stop: int, user_id: int) -> None:
    """Rows start..stop of each kind of history."""
    if stop < start:
        return
    old = _stamp(db, NOW - timedelta(days=3))
    due = _stamp(db, NOW - timedelta(hours=1))
    key = "('h:' || g)" if db.is_sqlite else "('h:' || g::text)"
    statements = [
        # pending and due, for a platform this process does not run
        f"{_numbers(db)}INSERT INTO outbox (chat_platform, chat_id, kind, payload, locale, "
        "dedupe_key, status, attempts, created_at, next_attempt_at) SELECT 'discord', 'c', "
        f"'payment.card', '{{}}', 'en', 'u' || {key}, 'pending', 0, :due, :due {_from(db)}",
        # delivered long ago
        f"{_numbers(db)}INSERT INTO outbox (chat_platform, chat_id, kind, payload, locale, "
        "dedupe_key, status, attempts, created_at, next_attempt_at, sent_at) SELECT 'telegram', "
        f"'c', 'payment.card', '{{}}', 'en', 's' || {key}, 'sent', 1, :old, :old, :old "
        f"{_from(db)}",
        # finished payments
        f"{_numbers(db)}INSERT INTO payments (user_id, chat_platform, chat_id, order_id, plan, "
        "price_amount, price_currency, pay_currency, pay_amount, pay_address, provider, "
        "provider_payment_id, status, status_rank, actually_paid, topup_paid, created_at, "
        "updated_at, expires_at, warnings_sent, late) SELECT :user, 'telegram', 'c', "
        f"'o' || {key}, 'pro', 299, 'USD', 'sol', 2, 'a', 'sandbox', 'p' || {key}, 'finished', "
        f"5, 2, 0, :old, :old, :old, '', false {_from(db)}",
    ]
    params = dict(start=start, stop=stop, old=old, due=due, user=user_id)
    async with db.engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement), params)
    async with db.engine.connect() as conn:
        await conn.exec_driver_sql("ANALYZE")
        await conn.commit()


async def _client(url: str, metrics: str) -> None:
    """The separate client: times claims and scrapes, prints their medians (ms) as JSON."""
    import aiohttp

    db = Database(url)
    claims = []
    for _ in range(CALLS):
        async with db.sessions() as session:
            started = time.perf_counter()
            rows = await session.run_sync(
                lambda s: writes.claim_outbox(
                    s,
                    datetime.now(UTC),
                    50,
                    "b" * 32,
                    datetime.now(UTC) + timedelta(seconds=60),
                    platforms=["telegram", "fake"],
                    skip_locked=not db.is_sqlite,
                )
            )
            claims.append((time.perf_counter() - started) * 1000)
            assert len(rows) == 3, len(rows)
            await session.rollback()
    scrapes = []
    async with aiohttp.ClientSession() as http:
        for _ in range(CALLS):
            started = time.perf_counter()
            async with http.get(metrics) as response:
                await response.read()
                assert response.status == 200, response.status
            scrapes.append((time.perf_counter() - started) * 1000)
    await db.close()
    print(json.dumps({"claim": statistics.median(claims), "metrics": statistics.median(scrapes)}))


async def _run_client(url: str, metrics: str) -> dict[str, float]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--client", metrics, "--db", url, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    return json.loads(out)


def _line(name: str, values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{name} {statistics.median(values):7.2f} ms (range {low:.2f}-{high:.2f})"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db")
    parser.add_argument("--sizes", default="0,100000,1000000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--client")
    args = parser.parse_args()
    if args.client:
        await _client(args.db, args.client)
        return
    tmp = tempfile.TemporaryDirectory()
    url = args.db or f"sqlite+aiosqlite:///{tmp.name}/bench.db"
    if url.startswith("postgresql"):
        from tests.conftest import _fresh_postgres

        await _fresh_postgres(url)
    port = free_port()
    config = make_config(url, WEBHOOKS__ENABLED="true", WEBHOOKS__PORT=str(port))
    app = App(config, adapters=[FakeAdapter()])
    await app.start(background=False)  # no relay or sweeper: nothing moves the rows
    await app.webhooks.start()
    user = await a_user(app.db, platform="telegram")
    due = NOW - timedelta(minutes=1)
    rows = [outbox_row(n, "telegram", due, dedupe_key=f"due:{n}") for n in range(3)]
    await insert_rows(app.db, OutboxItem, rows)
    metrics = f"http://127.0.0.1:{port}/metrics"
    print(f"{app.db.url.get_backend_name()}: history rows of each kind; client process")
    done = 0
    for size in [int(s) for s in args.sizes.split(",")]:
        started = time.perf_counter()
        await _grow(app.db, done + 1, size, user)
        filled = time.perf_counter() - started
        done = max(done, size)
        runs = [await _run_client(url, metrics) for _ in range(args.runs)]
        load = os.getloadavg()
        print(
            f"{size:>9,} rows (filled in {filled:5.1f} s): "
            f"{_line('claim', [r['claim'] for r in runs])}  "
            f"{_line('GET /metrics', [r['metrics'] for r in runs])}  "
            f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
            flush=True,
        )
    await app.stop()
    tmp.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
