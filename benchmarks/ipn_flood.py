"""Does an IPN flood stall the process? `/healthz` latency while junk IPNs pour in.

    python benchmarks/ipn_flood.py [--rate 50] [--seconds 5] [--runs 3] [--db URL]

This process runs the whole app (webhook server, relay, scheduler) selling through a
NOWPayments-compatible server on 127.0.0.1, SQLite by default. Two other processes play the
outside world, as a real attacker and a real monitor would be: one floods
`POST /webhooks/nowpayments` at `--rate` per second, the other asks `GET /healthz` 20 times a
second on a fixed schedule (open loop: a slow answer does not delay the next question, and
latency counts from the scheduled moment). Scenarios:

- idle: no flood (the reference);
- unsigned 64 KiB: ~63 KiB of JSON (32,000 array elements), no `x-nowpayments-sig`;
- signed 14 KiB: a well-formed header with a wrong signature over 14 KiB of JSON holding 900
  doubles (within every bound, so it is canonicalized before the HMAC says no).

Each scenario runs `--runs` times; printed: the median of the runs' /healthz p50 and p99 with
their range, the flood's answers, and the load average before and after. Goal: p99 < 50 ms
under both floods at 50 requests per second.
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
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROBE_RATE = 20.0
TIMEOUT = 30.0


def unsigned_64k() -> tuple[bytes, dict[str, str]]:
    pad = ",".join(["1"] * 32_000)
    body = f'{{"payment_id":1,"payment_status":"finished","pad":[{pad}]}}'.encode()
    return body, {"content-type": "application/json"}


def signed_14k() -> tuple[bytes, dict[str, str]]:
    doubles = ",".join(f"0.{n:013d}" for n in range(1_000_000_000_001, 1_000_000_000_901))
    body = f'{{"payment_id":1,"payment_status":"finished","pad":[{doubles}]}}'.encode()
    return body, {"content-type": "application/json", "x-nowpayments-sig": "ab" * 64}


KINDS = {"unsigned 64 KiB": unsigned_64k, "signed 14 KiB": signed_14k}


# --- the outside world (child processes) --------------------------------------------------


async def flood(url: str, kind: str, rate: float, seconds: float) -> None:
    import aiohttp

    body, headers = KINDS[kind]()
    answers: Counter[str] = Counter()
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def post() -> None:
            try:
                async with http.post(url, data=body, headers=headers) as response:
                    await response.read()
                    answers[str(response.status)] += 1
            except Exception as exc:  # a closed connection or a timeout is an answer too
                answers[type(exc).__name__] += 1

        await _scheduled(post, rate, seconds)
    print(json.dumps(dict(answers)))


async def probe(url: str, seconds: float) -> None:
    import aiohttp

    latencies: list[float] = []
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as http:

        async def ask(due: float) -> None:
            try:
                async with http.get(url) as response:
                    await response.read()
            except Exception:
                latencies.append(TIMEOUT)  # never answered in time: counts as the timeout
                return
            latencies.append(time.monotonic() - due)

        await _scheduled(ask, PROBE_RATE, seconds, pass_due=True)
    print(json.dumps(latencies))


async def _scheduled(work, rate: float, seconds: float, *, pass_due: bool = False) -> None:
    begin = time.monotonic()
    tasks = []
    for n in range(int(rate * seconds)):
        due = begin + n / rate
        if (delay := due - time.monotonic()) > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(work(due) if pass_due else work()))
    await asyncio.gather(*tasks)


# --- the server and the report (this process) ---------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


async def child(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, *args, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    return out.decode()


async def settle(base: str) -> None:
    """Wait until /healthz answers promptly again (a flood may have left work behind)."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            start = time.monotonic()
            async with http.get(base + "/healthz") as response:
                await response.read()
            if time.monotonic() - start < 0.02:
                return
            await asyncio.sleep(0.1)


async def one_run(base: str, kind: str | None, rate: float, seconds: float) -> dict:
    await settle(base)
    load_before = os.getloadavg()[0]
    jobs = [child("probe", base + "/healthz", str(seconds))]
    if kind is not None:
        jobs.append(child("flood", base + "/webhooks/nowpayments", kind, str(rate), str(seconds)))
    outputs = await asyncio.gather(*jobs)
    latencies = json.loads(outputs[0])
    return {
        "p50": pct(latencies, 0.5),
        "p99": pct(latencies, 0.99),
        "answers": json.loads(outputs[1]) if kind else {},
        "load": (load_before, os.getloadavg()[0]),
    }


def summary(label: str, runs: list[dict]) -> None:
    def spread(key: str) -> str:
        values = [r[key] for r in runs]
        return f"{key} {statistics.median(values):8.1f} ms [{min(values):.1f}..{max(values):.1f}]"

    answers: Counter[str] = Counter()
    for r in runs:
        answers.update(r["answers"])
    loads = " ".join(f"{a:.2f}->{b:.2f}" for a, b in (r["load"] for r in runs))
    print(f"{label:<16} /healthz {spread('p50')}  {spread('p99')}")
    print(f"{'':<16} flood answers {dict(answers) or '-'}; load avg per run {loads}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", default=None)
    parser.add_argument("--only", choices=["idle", *KINDS], default=None)
    args = parser.parse_args()

    from bot.adapters.fake import FakeAdapter
    from bot.app import App
    from tests.conftest import free_port, nowpayments_config
    from tests.fakes.nowpayments_server import FakeNowPayments

    tmp = tempfile.TemporaryDirectory()
    url = args.db or f"sqlite+aiosqlite:///{tmp.name}/bench.db"
    if url.startswith("postgresql"):  # a clean schema, like the tests
        from tests.conftest import _fresh_postgres

        await _fresh_postgres(url)
    server = FakeNowPayments()
    await server.start()
    port = free_port()
    app = App(nowpayments_config(url, server.url, port), adapters=[FakeAdapter()])
    await app.start()
    base = f"http://127.0.0.1:{port}"
    print(
        f"flood {args.rate:.0f}/s for {args.seconds:.0f}s, /healthz {PROBE_RATE:.0f}/s, "
        f"{args.runs} runs each, {app.db.url.get_backend_name()}, cpus {os.cpu_count()}, "
        f"load avg {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    try:
        for kind in ("idle", *KINDS):
            if args.only and kind != args.only:
                continue
            flood_kind = None if kind == "idle" else kind
            runs = [
                await one_run(base, flood_kind, args.rate, args.seconds) for _ in range(args.runs)
            ]
            summary(kind, runs)
    finally:
        await app.stop()
        await server.stop()
        tmp.cleanup()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "flood":
        asyncio.run(flood(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])))
    elif len(sys.argv) > 1 and sys.argv[1] == "probe":
        asyncio.run(probe(sys.argv[2], float(sys.argv[3])))
    else:
        asyncio.run(main())
