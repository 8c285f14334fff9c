"""The web dashboard's pages with 100,000 payments in the database.

Run from the repository root: ``python benchmarks/dashboard_pages.py [--payments N] [--db URL]
[--runs 3] [--requests 5]`` (default: a temporary SQLite file). Seeds finished payments in
bulk, starts the app with the dashboard on a local port, and has a separate client process
sign in and fetch every page `--requests` times per run. Printed per page: the median of the
runs' median times, with the range of the runs, and the load average before and after.
The goal is every page under 200 ms. The bulk insert bypasses the app, but the tallies'
triggers see it: the first overview folds its 200,000 tally rows (seconds, once; it is one of
the first run's requests, so the median hides it and the range shows it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PAGES = [
    "/",
    "/?period=30d",
    "/?period=all",
    "/payments",
    "/payments?status=finished&coin=btc&plan=pro",
    "/payments?customer=telegram:1&from=2026-11-01&to=2026-11-01",
    "/payments/{middle}",
    "/customers/telegram:1",
    "/attention",
    "/ledger.csv?from=2026-11-02&to=2026-11-02",
]


async def client(base: str, token: str, runs: int, requests: int, middle: int) -> None:
    """The other process: sign in, then time every page (milliseconds, per run)."""
    import aiohttp

    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.post(f"{base}/signin", data={"token": token}) as answer:
            assert answer.status == 200, answer.status
        pages = [page.format(middle=middle) for page in PAGES]
        results: dict[str, list[float]] = {page: [] for page in pages}
        for _ in range(runs):
            for page in pages:
                times = []
                for _ in range(requests):
                    started = time.perf_counter()
                    async with http.get(base + page) as answer:
                        await answer.read()
                        assert answer.status == 200, (page, answer.status)
                    times.append((time.perf_counter() - started) * 1000)
                results[page].append(statistics.median(times))
    print(json.dumps(results))


async def main(payments: int, url: str | None, runs: int, requests: int) -> None:
    import shutil
    import tempfile

    from bot.app import App
    from bot.config import load_config
    from tests.test_ledger_memory import START, seed_payments

    folder = tempfile.mkdtemp()
    config = load_config(
        ROOT / "config.toml",
        {
            "PAYBOT_DATABASE__URL": url or f"sqlite+aiosqlite:///{folder}/bench.db",
            "PAYBOT_DASHBOARD__ENABLED": "true",
            "PAYBOT_DASHBOARD__PORT": "0",
        },
    )
    now = START + timedelta(seconds=payments + 3600)
    app = App(config, clock=lambda: now)
    if url:  # a server database: emptied first, like benchmarks/fresh.py
        async with app.db.engine.begin() as conn:
            await conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            await conn.exec_driver_sql("CREATE SCHEMA public")
    await app.db.upgrade()
    await seed_payments(app.db, payments)
    if url:  # what autovacuum does soon after a bulk insert (PostgreSQL 13+ vacuums after
        # inserts too): the planner's statistics and the visibility map index-only scans read
        async with app.db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("VACUUM ANALYZE")
    await app.dashboard.start()
    try:
        token = await app.signins.new_link_token("cli:bench")
        base = f"http://127.0.0.1:{app.dashboard.bound_port}"
        load_before = os.getloadavg()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--client",
            base,
            token,
            str(runs),
            str(requests),
            str(max(1, payments // 2)),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await process.communicate()
        load_after = os.getloadavg()
    finally:
        await app.dashboard.stop()
        await app.db.close()
        shutil.rmtree(folder, ignore_errors=True)
    results = json.loads(out)
    print(
        f"{payments:,} payments on {app.db.url.get_backend_name()}; {runs} runs x {requests} "
        f"requests per page, from another process"
    )
    for page, values in results.items():
        verdict = "ok" if statistics.median(values) < 200 else "SLOW"
        print(
            f"  {page:<62} {statistics.median(values):7.1f} ms "
            f"[{min(values):.1f}..{max(values):.1f}] {verdict}"
        )
    print(
        "load avg before "
        + " ".join(f"{x:.2f}" for x in load_before)
        + ", after "
        + " ".join(f"{x:.2f}" for x in load_after)
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        base, token, runs, requests, middle = sys.argv[2:7]
        asyncio.run(client(base, token, int(runs), int(requests), int(middle)))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--db", help="a database URL (default: a temporary SQLite file)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=5)
    options = parser.parse_args()
    asyncio.run(main(options.payments, options.db, options.runs, options.requests))
