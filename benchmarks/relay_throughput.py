"""Outbox relay throughput: notifications delivered per second when the platform is instant.

    python benchmarks/relay_throughput.py [--rows 2000] [--workers 1] [--db URL]

Queues `--rows` customer notices (`payment.expired`, one per chat, as the sweeper would) and
lets `--workers` relays (`Notifier`s of separate apps, each with its own engine) drain them
concurrently into in-memory adapters. What is measured is the relay's own cost per row:
claiming, rendering, marking; the platform answers at once. Checks that every row was
delivered exactly once. SQLite by default (one worker, as the shop runs on SQLite).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.adapters.fake import FakeAdapter  # noqa: E402
from bot.app import App  # noqa: E402
from storage import writes  # noqa: E402
from tests.conftest import _fresh_postgres, make_config  # noqa: E402


async def run(url: str, rows: int, workers: int) -> float:
    if url.startswith("postgresql"):
        await _fresh_postgres(url)
    adapters = [FakeAdapter() for _ in range(workers)]
    apps = [App(make_config(url), adapters=[a]) for a in adapters]
    for app in apps:
        await app.start(background=False)
    now = apps[0].clock()

    def queue(session) -> None:
        for n in range(rows):
            writes.enqueue(
                session,
                chat_platform="fake",
                chat_id=f"chat-{n}",
                user_id=None,
                kind="payment.expired",
                payload={"payment_id": 900000 + n, "plan": "pro", "coin": "sol"},
                locale="en",
                dedupe_key=f"bench:{n}",
                created_at=now,
            )

    await apps[0].db.run(queue)

    async def relay(app: App) -> None:
        while await app.notifier.drain():
            pass

    started = time.perf_counter()
    await asyncio.gather(*(relay(app) for app in apps))
    elapsed = time.perf_counter() - started
    per_chat = Counter(m.target.chat_id for a in adapters for m in a.sent)
    for app in apps:
        await app.stop()
    assert len(per_chat) == rows and set(per_chat.values()) == {1}, "lost or doubled"
    return rows / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    rates = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as folder:
            url = args.db or f"sqlite+aiosqlite:///{folder}/bench.db"
            rates.append(await run(url, args.rows, args.workers))
    backend = "postgresql" if (args.db or "").startswith("postgresql") else "sqlite"
    print(
        f"{args.rows} notices, {args.workers} relay(s), {backend}: median "
        f"{statistics.median(rates):.0f}/s (range {min(rates):.0f}-{max(rates):.0f}, "
        f"{args.runs} runs)"
    )


if __name__ == "__main__":
    asyncio.run(main())
