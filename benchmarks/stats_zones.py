"""Operator stats at scale, in UTC and in another time zone.

Run from the repository root: ``python benchmarks/stats_zones.py [--payments N] [--db URL]``
(default 100,000 payments in a temporary SQLite file). Seeds finished payments in bulk, then
times `stats all` the way `/admin stats all` computes it, with the operators' days in UTC
and in Asia/Tokyo: on PostgreSQL the local day is `timezone()`, on SQLite a Python function
the database calls once per row, so this shows what a time zone costs there.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.fresh import fresh_database  # noqa: E402
from tests.test_ledger_memory import START, seed_payments  # noqa: E402
from tools.admin.stats import period, shop_stats  # noqa: E402


async def main(payments: int, url: str | None) -> None:
    async with fresh_database(url) as (db, _folder):
        await seed_payments(db, payments)
        now = START + timedelta(seconds=payments + 3600)
        print(f"{payments:,} finished payments on {db.url.get_backend_name()}")
        for zone in ("UTC", "Asia/Tokyo"):
            times = []
            for _ in range(3):
                started = time.perf_counter()
                stats = await shop_stats(
                    db, period("all", now, zone), "USD", now, timedelta(hours=1)
                )
                times.append(time.perf_counter() - started)
            busy = [d.day.isoformat() for d in stats.days if d.revenue]
            print(
                f"  stats all, days in {zone:<10}: best of 3 {min(times):.2f} s, "
                f"revenue {stats.revenue:,} USD on {', '.join(busy)}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--db", help="a database URL (default: a temporary SQLite file)")
    options = parser.parse_args()
    asyncio.run(main(options.payments, options.db))
