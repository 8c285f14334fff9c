"""IPN acknowledgement latency and IPN-to-chat latency at a steady rate of signed IPNs.

    python benchmarks/ipn_latency.py [--rate 200] [--seconds 3] [--db URL]

Runs the whole app (webhook server, relay, scheduler) on SQLite by default, with payments
created through a NOWPayments-compatible server on 127.0.0.1. Then sends one signed
`finished` IPN per payment at `--rate` per second over HTTP and reports, per IPN:
- ack: from sending the request to receiving the 200 (the provider's view);
- to chat: from sending the request to the activation message being handed to the adapter.
Goals: ack p99 < 50 ms, to chat p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.adapters.fake import FakeAdapter  # noqa: E402
from bot.app import App  # noqa: E402
from tests.conftest import free_port, nowpayments_config  # noqa: E402
from tests.fakes.nowpayments_server import FakeNowPayments  # noqa: E402
from tools.providers.ipn_signature import sign  # noqa: E402

DONE = re.compile(r"Payment #(\d+) is complete")


class TimingAdapter(FakeAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.delivered: dict[int, float] = {}

    async def send(self, message):
        ref = await super().send(message)
        if match := DONE.search(message.text):
            self.delivered.setdefault(int(match.group(1)), time.monotonic())
        return ref


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    count = int(args.rate * args.seconds)
    tmp = tempfile.TemporaryDirectory()
    url = args.db or f"sqlite+aiosqlite:///{tmp.name}/bench.db"
    if url.startswith("postgresql"):  # a clean schema, like the tests
        from tests.conftest import _fresh_postgres

        await _fresh_postgres(url)
    server = FakeNowPayments()
    await server.start()
    port = free_port()
    adapter = TimingAdapter()
    app = App(nowpayments_config(url, server.url, port), adapters=[adapter])
    await app.start()  # relay, scheduler and webhook server run as in production

    bodies: dict[int, bytes] = {}
    for n in range(count):
        replies = await adapter.say("/buy pro btc", user=f"bench-{n}")
        pid = int(re.search(r"#(\d+)", replies[0].text).group(1))
        remote = max(server.payments)
        amount = server.payments[remote].body["pay_amount"]
        bodies[pid] = server.ipn_body(remote, "finished", amount)
    hook = f"http://127.0.0.1:{port}/webhooks/nowpayments"
    print(
        f"{count} payments created; sending {count} signed IPNs at {args.rate:.0f}/s "
        f"({app.db.url.get_backend_name()})"
    )

    lines = "".join(
        json.dumps({"id": pid, "body": body.decode(), "sig": sign(body, server.ipn_secret)}) + "\n"
        for pid, body in bodies.items()
    )
    sender = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "benchmarks" / "ipn_sender.py"),
        hook,
        str(args.rate),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await sender.communicate(lines.encode())
    results = [json.loads(line) for line in out.decode().splitlines()]
    sent_at = {r["id"]: r["sent"] for r in results}
    acks = [r["ack"] for r in results]
    statuses = [r["status"] for r in results]
    elapsed = max(r["sent"] for r in results) - min(r["sent"] for r in results)
    deadline = time.monotonic() + 30
    while len(adapter.delivered) < count and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    to_chat = [adapter.delivered[pid] - sent_at[pid] for pid in bodies if pid in adapter.delivered]
    await app.stop()
    await server.stop()
    tmp.cleanup()

    print(
        f"sent in {elapsed:.2f}s ({count / elapsed:.0f}/s); answers: "
        f"{statistics.multimode(statuses)} ({statuses.count(200)}/{count} x 200)"
    )
    print(
        f"ack      p50 {pct(acks, 0.5):6.1f} ms  p95 {pct(acks, 0.95):6.1f} ms  "
        f"p99 {pct(acks, 0.99):6.1f} ms  (goal p99 < 50 ms)"
    )
    print(
        f"to chat  p50 {pct(to_chat, 0.5):6.1f} ms  p95 {pct(to_chat, 0.95):6.1f} ms  "
        f"p99 {pct(to_chat, 0.99):6.1f} ms  (goal p99 < 100 ms; {len(to_chat)}/{count} "
        "delivered)"
    )


if __name__ == "__main__":
    asyncio.run(main())
