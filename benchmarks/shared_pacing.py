"""Telegram's send limit held by a whole deployment: three workers' relays on one PostgreSQL
push notices through the fake Bot API (which answers 429 whenever a limit is exceeded).

    python benchmarks/shared_pacing.py --db postgresql+asyncpg://... [--rows 450] [--workers 3]
                                       [--redis redis://127.0.0.1:6379/0]

This process runs the fake Bot API; `--workers` separate processes each run an app with the real
Telegram adapter (python-telegram-bot) and drain the outbox with their relays, sharing the send
limits through the database (or, with `--redis URL`, through Redis: each worker gets
`PAYBOT_REDIS_URL`; the outbox stays in PostgreSQL). Once every worker says it is up, this process
queues `--rows` customer notices (`payment.expired`, one per chat, as the sweeper would), so the
figure is the deployment's, not one worker's while the others are still starting. Printed, as the
median of `--runs` runs with the range: the deployment's push rate (messages the fake accepted per
second, first to last) as a share of Telegram's 30 messages/s, and the 429s the fake answered; with
the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.adapters.telegram import TelegramAdapter  # noqa: E402
from bot.app import App  # noqa: E402
from storage import writes  # noqa: E402
from storage.db import Database  # noqa: E402
from tests.conftest import _fresh_postgres, free_port, make_config  # noqa: E402
from tests.fakes.telegram_server import FakeTelegram  # noqa: E402

LIMIT = 30.0


async def worker(url: str, api: str, token: str, redis: str = "") -> None:
    """One worker: an app with the Telegram adapter whose relay drains until nothing is left."""
    port = free_port()
    adapter = TelegramAdapter(
        token,
        base_url=api,
        mode="webhook",  # several workers: Telegram posts updates, nobody polls
        webhook_url=f"http://127.0.0.1:{port}/webhooks/telegram",
        webhook_secret="bench-secret",
        per_second=LIMIT,
        per_chat=1,
        per_group_minute=20,
        locales=["en"],
        default_locale="en",
        menu=lambda: [("start", "Start")],
    )
    shared = {"REDIS_URL": redis} if redis else {}
    config = make_config(url, WEBHOOKS__ENABLED="true", WEBHOOKS__PORT=str(port), **shared)
    app = App(config, adapters=[adapter])
    await app.start(background=False)
    print("ready", flush=True)  # the notices are queued once every worker is up
    try:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # queued
        idle = 0
        while idle < 3:
            idle = 0 if await app.notifier.drain() else idle + 1
            await asyncio.sleep(0.05 * idle)
    finally:
        await app.stop()


async def _forget_slots(redis: str) -> None:
    """No slot left booked in Redis between runs (the database's go with its schema)."""
    from redis.asyncio import Redis

    client = Redis.from_url(redis)
    async for key in client.scan_iter(match="paybot:send:*"):
        await client.delete(key)
    await client.aclose()


async def one_run(url: str, rows: int, workers: int, redis: str = "") -> tuple[float, int, int]:
    await _fresh_postgres(url)
    if redis:
        await _forget_slots(redis)
    db = Database(url)
    await db.upgrade()
    app = App(make_config(url))  # only for its clock
    now = app.clock()

    def queue(session) -> None:
        for n in range(rows):
            writes.enqueue(
                session,
                chat_platform="telegram",
                chat_id=str(100000 + n),
                user_id=None,
                kind="payment.expired",
                payload={"payment_id": 900000 + n, "plan": "pro", "coin": "sol"},
                locale="en",
                dedupe_key=f"bench:{n}",
                created_at=now,
            )

    fake = FakeTelegram()
    await fake.start()
    try:
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--worker",
                "--db",
                url,
                "--api",
                fake.url,
                "--token",
                fake.token,
                "--redis",
                redis,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            for _ in range(workers)
        ]
        for proc in procs:  # started: an app each, adapter and relay ready
            assert (await proc.stdout.readline()).strip() == b"ready"
        await db.run(queue)
        for proc in procs:  # go: drain until nothing is left
            proc.stdin.write(b"queued\n")
            await proc.stdin.drain()
        for proc in procs:
            await proc.wait()
    finally:
        await fake.stop()
        await db.close()
        await app.db.close()
        if redis:
            await _forget_slots(redis)
    sent = sorted(
        r.at for r in fake.requests if r.method in ("sendMessage", "sendPhoto") and r.status == 200
    )
    rate = (len(sent) - 1) / (sent[-1] - sent[0]) if len(sent) > 1 else 0.0
    return rate, fake.too_many, len(sent)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=os.environ.get("PAYBOT_TEST_DATABASE_URL", ""))
    parser.add_argument("--rows", type=int, default=450)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--api", default="")
    parser.add_argument("--token", default="")
    parser.add_argument("--redis", default="", help="share the send limits through Redis")
    args = parser.parse_args()
    if args.worker:
        await worker(args.db, args.api, args.token, args.redis)
        return
    if not args.db.startswith("postgresql"):
        sys.exit("shared limits need PostgreSQL: --db postgresql+asyncpg://...")
    load_before = os.getloadavg()[0]
    results = [
        await one_run(args.db, args.rows, args.workers, args.redis) for _ in range(args.runs)
    ]
    shares = [100 * rate / LIMIT for rate, _, _ in results]
    refusals = [too_many for _, too_many, _ in results]
    delivered = [n for _, _, n in results]
    print(
        f"{args.workers} workers (limits in {'Redis' if args.redis else 'PostgreSQL'}), "
        f"{args.rows} notices to {args.rows} chats, {args.runs} runs: "
        f"push rate {statistics.median(shares):.1f}% of Telegram's 30 msg/s "
        f"(range {min(shares):.1f}-{max(shares):.1f}%), "
        f"429s median {statistics.median(refusals):.0f} (range {min(refusals)}-{max(refusals)}), "
        f"delivered {min(delivered)}-{max(delivered)} of {args.rows}; "
        f"load avg {load_before:.2f} before, "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} after"
    )


if __name__ == "__main__":
    asyncio.run(main())
