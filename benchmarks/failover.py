"""How long the deployment is deaf after the worker holding Telegram polling dies.

Run from the repository root:
``python benchmarks/failover.py --db postgresql+asyncpg://... [--runs 3] [--workers 2]``.
Each run starts fresh `paybot run` workers (real processes, this checkout) on one PostgreSQL
database against the fake Telegram Bot API of the tests in polling mode, waits until one of
them owns the polling lease (`/healthz`), SIGKILLs that one (no release: its lease must
expire), and measures from this separate process the time until another worker says it owns
the lease ("takeover") and until a customer's `/buy`, sent right after the kill, is answered
("answer"). Prints the median of the runs with the range and the machine's load average.
The whole schema of the database is dropped first: use a scratch database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.conftest import _fresh_postgres, free_port  # noqa: E402
from tests.fakes.telegram_server import FakeTelegram  # noqa: E402

POLLING = "telegram:polling"


async def start_worker(db: str, fake: FakeTelegram, cwd: str, lease: str):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYBOT_")}
    env.update(
        PYTHONPATH=str(ROOT),
        PAYBOT_DATABASE__URL=db,
        PAYBOT_PROVIDER__ALLOW_SANDBOX_IN_CHATS="true",
        PAYBOT_TELEGRAM__ENABLED="true",
        PAYBOT_TELEGRAM__BASE_URL=fake.url,
        PAYBOT_TELEGRAM_TOKEN=fake.token,
        PAYBOT_WEBHOOKS__ENABLED="true",
        PAYBOT_WEBHOOKS__PORT=str(port),
        PAYBOT_WEBHOOKS__PUBLIC_URL=f"http://127.0.0.1:{port}",
        PAYBOT_WORKERS__LEASE_SECONDS=lease,
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        "--config",
        str(ROOT / "config.toml"),
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return process, port


async def owns(http: httpx.AsyncClient, port: int) -> bool:
    try:
        health = (await http.get(f"http://127.0.0.1:{port}/healthz", timeout=2)).json()
    except httpx.HTTPError:
        return False
    return POLLING in health.get("connections", {}).get("owns", [])


def answered(fake: FakeTelegram, chat: int) -> bool:
    return any(str(c.chat_id) == str(chat) and c.status == 200 for c in fake.calls("sendPhoto"))


async def one_run(db: str, workers: int, lease: str) -> tuple[float, float]:
    await _fresh_postgres(db)
    fake = FakeTelegram()
    await fake.start()
    with tempfile.TemporaryDirectory() as cwd:
        procs = []
        try:
            procs.append(await start_worker(db, fake, cwd, lease))
            async with httpx.AsyncClient() as http:
                while not await owns(http, procs[0][1]):  # noqa: ASYNC110 (polls /healthz)
                    await asyncio.sleep(0.2)
                for _ in range(workers - 1):
                    procs.append(await start_worker(db, fake, cwd, lease))
                await asyncio.sleep(8)  # every worker up and renewing
                owner = [p for p in procs if await owns(http, p[1])][0]
                owner[0].send_signal(signal.SIGKILL)
                killed = time.perf_counter()
                fake.push_message(7001, "/buy pro sol", user_id=7001)
                others = [p for p in procs if p is not owner]
                takeover = answer = None
                while takeover is None or answer is None:
                    now = time.perf_counter() - killed
                    if takeover is None and any([await owns(http, p[1]) for p in others]):
                        takeover = now
                    if answer is None and answered(fake, 7001):
                        answer = now
                    if now > 60:
                        raise SystemExit("no takeover within 60 s")
                    await asyncio.sleep(0.05)
                return takeover, answer
        finally:
            for process, _port in procs:
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
            for process, _port in procs:
                await process.wait()
            await fake.stop()


def line(name: str, values: list[float]) -> str:
    return (
        f"{name:<9} median {statistics.median(values):5.2f} s  "
        f"range {min(values):5.2f}–{max(values):5.2f} s"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a scratch PostgreSQL database URL")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--lease-seconds", default="6")
    args = parser.parse_args()
    results = [await one_run(args.db, args.workers, args.lease_seconds) for _ in range(args.runs)]
    load = os.getloadavg()
    print(
        f"failover: {args.workers} workers, lease {args.lease_seconds} s, {args.runs} runs, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)"
    )
    print(line("takeover", [r[0] for r in results]))
    print(line("answer", [r[1] for r in results]))


if __name__ == "__main__":
    asyncio.run(main())
