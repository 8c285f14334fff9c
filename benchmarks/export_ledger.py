"""The settlement ledger export at scale: payments per second and peak memory.

Run from the repository root: ``python benchmarks/export_ledger.py [--payments N] [--db URL]``
(default 100,000 payments in a temporary SQLite file). Seeds the payments in bulk, then
writes the CSV the way `paybot admin export --out FILE` does, twice: once to measure the
time, once under tracemalloc for the peak of Python memory (slower, so timed apart).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.fresh import fresh_database  # noqa: E402
from tests.test_ledger_memory import seed_payments  # noqa: E402
from tools.admin.ledger import write_ledger  # noqa: E402


async def main(payments: int, url: str | None) -> None:
    async with fresh_database(url) as (db, folder):
        started = time.perf_counter()
        await seed_payments(db, payments)
        print(f"seeded {payments:,} payments in {time.perf_counter() - started:.1f} s")
        out_path = folder / "ledger.csv"
        started = time.perf_counter()
        with out_path.open("w", newline="") as out:
            written = await write_ledger(db, out, None, None)
        seconds = time.perf_counter() - started
        size = out_path.stat().st_size
        print(
            f"export: {written:,} payments in {seconds:.2f} s "
            f"({written / seconds:,.0f} payments/s), {size / 1e6:.1f} MB of CSV"
        )
        tracemalloc.start()
        with out_path.open("w", newline="") as out:
            await write_ledger(db, out, None, None)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"peak Python memory while exporting: {peak / 1e6:.1f} MB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--db", default=None, help="database URL (default: temporary SQLite)")
    options = parser.parse_args()
    asyncio.run(main(options.payments, options.db))
