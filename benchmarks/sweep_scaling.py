"""Does a sweeper tick cost what is due, not what is open?

    python benchmarks/sweep_scaling.py [--db URL] [--ticks N] [--due N]

Fills a fresh database with 1,000 and then 100,000 open (waiting) payments whose next check
lies in the future, adds `--due` payments that are due at each tick (each gets its 5-minute
warning), and times `Countdown.sweep(now)` — the exact body the APScheduler job runs. Prints
the median tick time for both sizes and their ratio (the goal: within 2x).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import load_config  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import Payment, User  # noqa: E402
from tools.catalog import Catalog  # noqa: E402
from tools.countdown import Countdown  # noqa: E402
from tools.policy import PaymentSettings  # noqa: E402
from tools.providers.sandbox import SandboxProvider  # noqa: E402
from tools.transitions import PaymentEvents  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _row(n: int, user_id: int, created: datetime, expires: datetime, check: datetime) -> dict:
    return dict(
        user_id=user_id,
        chat_platform="bench",
        chat_id="bench",
        order_id=f"bench-{n}",
        plan="pro",
        price_amount=Decimal(299),
        price_currency="USD",
        pay_currency="sol",
        pay_amount=Decimal("1.99333334"),
        pay_address="addr",
        provider="sandbox",
        provider_payment_id=str(n),
        status="waiting",
        status_rank=0,
        actually_paid=Decimal(0),
        created_at=created,
        updated_at=created,
        expires_at=expires,
        next_check_at=check,
        warnings_sent="",
        late=False,
    )


async def _fill(db: Database, start: int, count: int, user_id: int) -> None:
    expires = NOW + timedelta(hours=2)  # open, first warning far in the future
    check = expires - timedelta(minutes=5)
    async with db.transaction() as session:
        for base in range(start, start + count, 5000):
            rows = [
                _row(n, user_id, NOW, expires, check)
                for n in range(base, min(base + 5000, start + count))
            ]
            await session.execute(insert(Payment), rows)


async def _measure(
    service: PaymentEvents, db: Database, next_id: int, ticks: int, due: int, user_id: int
) -> tuple[list[float], int]:
    countdown = Countdown(service)
    times = []
    now = NOW
    for _ in range(ticks):
        now += timedelta(seconds=1)
        expires = now + timedelta(seconds=200)  # inside the 5-minute warning window
        async with db.transaction() as session:
            await session.execute(
                insert(Payment),
                [_row(next_id + k, user_id, now, expires, now) for k in range(due)],
            )
        next_id += due
        started = time.perf_counter()
        report = await countdown.sweep(now)
        times.append(time.perf_counter() - started)
        assert report.warnings == due, report
    return times, next_id


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=None, help="database URL (default: a temp SQLite file)")
    parser.add_argument("--ticks", type=int, default=30)
    parser.add_argument("--due", type=int, default=20)
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url = args.db or f"sqlite+aiosqlite:///{tmp.name}/bench.db"
    if args.db and args.db.startswith("postgresql"):
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(args.db)
        async with engine.begin() as conn:
            await conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            await conn.exec_driver_sql("CREATE SCHEMA public")
        await engine.dispose()
    config = load_config(ROOT / "config.toml", {"PAYBOT_DATABASE__URL": url})
    db = Database(url)
    await db.upgrade()
    catalog = Catalog.from_config(config.plans, config.coins, "USD")
    provider = SandboxProvider(
        db, lambda: NOW, rates=config.provider.sandbox.rates, min_amounts={}
    )
    service = PaymentEvents(db, catalog, provider, lambda: NOW, PaymentSettings())
    async with db.transaction() as session:
        session.add(
            User(
                platform="bench",
                platform_user_id="bench",
                display_name="bench",
                created_at=NOW,
                locale="en",
                locale_chosen=False,
            )
        )
    async with db.sessions() as session:
        user_id = (await session.execute(text("SELECT id FROM users"))).scalar_one()

    results = {}
    next_id, filled = 0, 0
    for size in (1_000, 100_000):
        await _fill(db, next_id, size - filled, user_id)
        next_id += size - filled
        filled = size
        if not db.is_sqlite:
            async with db.engine.begin() as conn:
                await conn.exec_driver_sql("ANALYZE payments")
        await _measure(service, db, next_id + 10_000_000, 3, args.due, user_id)  # warm-up
        times, _ = await _measure(
            service, db, next_id + 20_000_000 + size, args.ticks, args.due, user_id
        )
        results[size] = statistics.median(times)
        print(
            f"{size:>7,} open payments: median tick {results[size] * 1000:7.2f} ms "
            f"({args.due} due per tick, {args.ticks} ticks, {db.url.get_backend_name()})"
        )
    ratio = results[100_000] / results[1_000]
    print(f"ratio 100k/1k: {ratio:.2f}x (goal: <= 2x) -> {'OK' if ratio <= 2 else 'TOO SLOW'}")
    await db.close()
    tmp.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
