"""Expiry and reconciliation at scale: do they keep up with what is due?

    python benchmarks/due_at_scale.py warnings [--count 20000] [--open N] [--history N]
                                               [--runs 3] [--db URL]
    python benchmarks/due_at_scale.py expiry [--count 20000] [--runs 3] [--db URL]
    python benchmarks/due_at_scale.py reconcile [--open 100000] [--seconds 20] [--runs 3]

Both run the whole app (scheduler, relay, webhook server) against the fake NOWPayments API,
which runs in a separate process, seeded with every payment (so each status poll is a real
HTTP request answered by it).

warnings: `--count` waiting payments whose 5-minute warnings come due spread evenly over one
minute. With `--open N` (N > count), N - count more waiting payments are open beside them,
their first warnings due 2 to 10 minutes after the run's first (not within it); with `--history
N`, N payments of the past, half finished (activated) and half expired, each with its provider
event and its sent notices, so the tables have the size of a shop that has been running
(`--open 100000 --history 100000`: 20,000 of 100,000 open payments due within the minute,
200,000 payments, 380,000 sent notices in the outbox). The worker (the whole app on the sandbox
provider, its relay sending at Telegram's 30 messages/s) runs in its own process; this process
watches the outbox from outside (a read every 0.1 s) and takes, for each warning, the time it
first saw it minus its due time (an upper bound on the lag). Printed: the share queued within 2
s of its due time, the median and the worst lag, and the worker's whole CPU time over the
minute divided by the warnings (its relay and other ticks included, so an upper bound on the
sweeper's cost). On PostgreSQL the tables are ANALYZEd after seeding (autovacuum would do it
within a minute of such inserts; SQLite's planner has no statistics unless asked, and the app
never asks). Goals: >= 99.9 % within 2 s, <= 0.3 ms of worker CPU per due payment.

expiry: `--count` waiting payments share one deadline a few seconds ahead (their warnings
already sent). Printed: how long after the deadline the last one is expired with its notice
queued, and the last notice handed to the chat adapter (the fake adapter: no platform limits).
Goal: all within a minute at 20,000.

reconcile: `--open` waiting payments, all silent for longer than `reconcile.after_seconds`
(every one due for a status read), one of them (the least silent, so read last) paid at the
provider with its IPN lost. `--workers` whole apps run in their own processes for `--seconds`
(or until every payment was read); this process counts the payments read in the database
every 0.5 s. Printed: reads per second (after a 5 s warm-up), the share of the open payments
read, the time a full pass takes at that rate against `after_seconds` (a lost IPN is
recovered within the interval when a pass fits in it), when the lost IPN was recovered, and
the workers' CPU per read. `--max-per-minute`, `--at-once` set `[reconcile]`; `--latency`
makes the fake NOWPayments answer a read that much later (a real API's round trip).

Each figure is the median of `--runs` runs with the range, and the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import bindparam, func, select  # noqa: E402

from bot.adapters.fake import FakeAdapter  # noqa: E402
from bot.app import App  # noqa: E402
from bot.messages import Outgoing  # noqa: E402
from storage.models import Activation, OutboxItem, Payment, PaymentEvent  # noqa: E402
from tests.bulk import a_user, analyze, insert_rows, outbox_row, payment_row  # noqa: E402
from tests.conftest import free_port, make_config, nowpayments_config  # noqa: E402
from tools.states import RANK, Status  # noqa: E402


async def serve(count: int, lost: int = 0, latency: float = 0.0) -> None:
    """The fake NOWPayments, seeded with payments 1..count (waiting; payment `lost` finished,
    its IPN never sent), answering a payment's read after `latency` seconds (a real API's
    round trip), until stdin closes."""
    from tests.fakes.nowpayments_server import FakeNowPayments, FakePayment

    class Distant(FakeNowPayments):
        async def get(self, request):  # type: ignore[no-untyped-def]
            await asyncio.sleep(latency)
            return await super().get(request)

    server = Distant()
    for n in range(1, count + 1):
        body = {
            "payment_id": str(n),
            "payment_status": "waiting",
            "pay_address": f"bc1qfake{n}",
            "price_amount": 299,
            "price_currency": "usd",
            "pay_amount": 2,
            "pay_currency": "sol",
            "order_id": f"bulk-{n}",
            "actually_paid": 0,
            "outcome_amount": None,
            "outcome_currency": None,
        }
        server.payments[n] = FakePayment(n, body, None)
    if lost:
        server.set_state(lost, "finished", Decimal(2))
    url = await server.start()
    print(url, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.stop()


class Counting(FakeAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.last = 0.0
        self.count = 0

    async def send(self, message: Outgoing) -> str | None:
        self.count += 1
        self.last = time.monotonic()
        return f"fake:{self.count}"


async def _provider(
    count: int, lost: int = 0, latency: float = 0.0
) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "serve",
        "--count",
        str(count),
        "--lost",
        str(lost),
        "--latency",
        str(latency),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    url = (await process.stdout.readline()).decode().strip()  # type: ignore[union-attr]
    return process, url


async def _app(url: str, provider_url: str, adapter: FakeAdapter) -> App:
    if url.startswith("postgresql"):
        from tests.conftest import _fresh_postgres

        await _fresh_postgres(url)
    app = App(nowpayments_config(url, provider_url, free_port()), adapters=[adapter])
    await app.db.upgrade()
    return app


async def _count(app: App, model: type, *where: object) -> int:
    async with app.db.sessions() as session:
        return (
            await session.execute(select(func.count()).select_from(model).where(*where))
        ).scalar_one()


class Paced(Counting):
    """The fake adapter at Telegram's overall limit (30 messages/s, one at a time)."""

    async def send(self, message: Outgoing) -> str | None:
        await asyncio.sleep(1 / 30)
        return await super().send(message)


def _sent(kind: str, key: str, at: datetime, payment_id: int) -> dict[str, object]:
    """A notice about a payment, delivered at `at`."""
    return outbox_row(
        payment_id,
        "fake",
        at,
        kind=kind,
        payload={"payment_id": payment_id},
        dedupe_key=f"payment:{payment_id}:{key}",
        status="sent",
        attempts=1,
        sent_at=at,
    )


def open_beside(user: int, first: datetime, others: int) -> tuple[list[dict], list[dict]]:
    """`others` waiting payments open beside the run's (ids from 10,000,000, each with its sent
    card) whose first warning is due 2 to 10 minutes after `first`, the run's first due time:
    deadlines 7 to 15 minutes ahead, as the default 15-minute quotes have."""
    rows, cards = [], []
    for k in range(others):
        n = 10_000_000 + k
        warn_at = first + timedelta(seconds=120 + 480 * k / others)
        expires = warn_at + timedelta(seconds=300)
        created = expires - timedelta(minutes=15)
        rows.append(payment_row(n, user, created, expires, id=n, next_check_at=warn_at))
        cards.append(_sent("payment.card", "card", created, n))
    return rows, cards


async def seed_history(app: App, user: int, now: datetime, history: int) -> None:
    """`history` past payments (ids from 20,000,000), half finished and activated, half
    expired more than a day ago (neither watched any more), each with its provider event and
    its sent notices."""
    past, events, notices, activations = [], [], [], []
    for k in range(history):
        n = 20_000_000 + k
        created = now - timedelta(days=2, minutes=k % 40_000)
        expires = created + timedelta(minutes=15)
        finished = k % 2 == 0
        status = Status.FINISHED if finished else Status.EXPIRED
        paid_at = created + timedelta(minutes=3) if finished else None
        past.append(
            payment_row(
                n,
                user,
                created,
                expires,
                id=n,
                status=status.value,
                status_rank=RANK[status],
                actually_paid=Decimal("1.99333334") if finished else Decimal(0),
                paid_at=paid_at,
                last_event_at=paid_at or expires,
                updated_at=paid_at or expires,
                next_check_at=None,
                warnings_sent="" if finished else "300,60",
            )
        )
        events.append(
            dict(
                payment_id=n,
                provider="sandbox",
                dedupe_key=f"bulk:{n}:{status.value}",
                received_at=paid_at or expires,
                source="sandbox" if finished else "poll",
                old_status="waiting",
                new_status=status.value,
                applied=True,
                raw="{}",
            )
        )
        notices.append(_sent("payment.card", "card", created, n))
        if finished:
            notices.append(_sent("payment.paid", "paid", paid_at, n))
            activations.append(
                dict(
                    payment_id=n,
                    user_id=user,
                    plan="pro",
                    period_start=paid_at,
                    period_end=paid_at + timedelta(days=30),
                    created_at=paid_at,
                    next_notice_at=paid_at + timedelta(days=27),
                )
            )
        else:
            for offset in (300, 60):
                warned = expires - timedelta(seconds=offset)
                notices.append(_sent("payment.warning", f"warn:{offset}", warned, n))
            notices.append(_sent("payment.expired", "expired", expires, n))
    await insert_rows(app.db, Payment, past)
    await insert_rows(app.db, PaymentEvent, events)
    await insert_rows(app.db, OutboxItem, notices)
    await insert_rows(app.db, Activation, activations)


async def warnings_worker(db_url: str, count: int, open_: int, history: int) -> None:
    """The worker of a `warnings` run: prints the first due time (epoch seconds), runs until
    stdin closes, then prints its CPU seconds since that time, and those spent while a sweep
    was under way (other tasks running during its awaits included)."""
    from tools.countdown import Countdown

    in_sweeps = [0.0]
    sweep = Countdown.sweep

    async def timed(self: Countdown, now: datetime) -> object:
        began = time.process_time()
        try:
            return await sweep(self, now)
        finally:
            in_sweeps[0] += time.process_time() - began

    Countdown.sweep = timed  # type: ignore[method-assign]
    app = App(make_config(db_url), adapters=[Paced()])
    await app.db.upgrade()
    user = await a_user(app.db)
    await seed_history(app, user, datetime.now(UTC), history)
    others = max(open_ - count, 0)
    lead = 10 + (count + others) / 2000  # the rows are written before the first one is due
    first = datetime.now(UTC) + timedelta(seconds=lead)
    rows = []
    for n in range(1, count + 1):
        due = first + timedelta(seconds=60 * (n - 1) / count)
        expires = due + timedelta(seconds=300)
        rows.append(payment_row(n, user, first, expires, id=n, next_check_at=due))
    beside, cards = open_beside(user, first, others)
    await insert_rows(app.db, Payment, rows + beside)
    await insert_rows(app.db, OutboxItem, cards)
    if not app.db.is_sqlite:
        await analyze(app.db)
    await app.start()
    if time.time() > first.timestamp():
        print(
            f"seeding overran the first due time by {time.time() - first.timestamp():.1f} s",
            file=sys.stderr,
        )
    print(first.timestamp(), flush=True)
    await asyncio.sleep(max(0.0, first.timestamp() - time.time()))
    cpu, in_sweeps[0] = time.process_time(), 0.0
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    cpu = time.process_time() - cpu
    await app.stop()
    print(cpu, in_sweeps[0], flush=True)


async def warnings_run(db_url: str, count: int, open_: int, history: int) -> tuple[float, ...]:
    """(% within 2 s, median lag s, worst lag s, worker CPU ms per warning: whole process,
    during sweeps)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    if db_url.startswith("postgresql"):
        from tests.conftest import _fresh_postgres

        await _fresh_postgres(db_url)
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "warnings-worker",
        "--db",
        db_url,
        "--count",
        str(count),
        "--open",
        str(open_),
        "--history",
        str(history),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    first = float((await worker.stdout.readline()).decode())  # type: ignore[union-attr]
    engine = create_async_engine(db_url)
    lags: list[float] = []
    async with engine.connect() as conn:  # the history's notices are not the run's
        last = (await conn.execute(select(func.coalesce(func.max(OutboxItem.id), 0)))).scalar_one()
    query = select(OutboxItem.id, OutboxItem.payload).where(
        OutboxItem.kind == "payment.warning", OutboxItem.id > bindparam("last")
    )
    give_up = first + 60 + 120
    while len(lags) < count and time.time() < give_up:
        async with engine.connect() as conn:
            rows = (await conn.execute(query.order_by(OutboxItem.id), {"last": last})).all()
        seen = time.time()
        for row_id, payload in rows:
            last = max(last, row_id)
            if payload["payment_id"] > count:  # one of those open beside (not due in the run)
                continue
            expires = datetime.fromisoformat(payload["expires_at"]).timestamp()
            lags.append(seen - (expires - payload["offset"]))
        await asyncio.sleep(0.1)
    await engine.dispose()
    worker.stdin.close()  # type: ignore[union-attr]
    line = (await worker.stdout.readline()).decode()  # type: ignore[union-attr]
    cpu, in_sweeps = (float(x) for x in line.split())
    await worker.wait()
    on_time = sum(1 for lag in lags if lag <= 2.0)
    worst = max(lags) if len(lags) == count else float("nan")
    per = 1000 / count
    return 100 * on_time / count, statistics.median(lags), worst, cpu * per, in_sweeps * per


async def expiry_run(db_url: str, count: int) -> tuple[float, float]:
    provider, provider_url = await _provider(count)
    adapter = Counting()
    app = await _app(db_url, provider_url, adapter)
    now = datetime.now(UTC)
    deadline = now + timedelta(seconds=max(5, count / 4000))  # after the rows are written
    user = await a_user(app.db)
    rows = (
        payment_row(
            n,
            user,
            now,
            deadline,
            provider="nowpayments",
            provider_payment_id=str(n),
            warnings_sent="300,60",
        )
        for n in range(1, count + 1)
    )
    await insert_rows(app.db, Payment, rows)
    await app.start()
    wait = (deadline - datetime.now(UTC)).total_seconds()
    start = time.monotonic() + wait  # the deadline, on the monotonic clock
    expired_at = None
    while time.monotonic() < start + 300:  # gives up (nan) after 5 minutes
        await asyncio.sleep(0.25)
        if expired_at is None:
            told = await _count(app, OutboxItem, OutboxItem.kind == "payment.expired")
            if told >= count:
                expired_at = time.monotonic() - start
        if expired_at is not None and adapter.count >= count:
            break
    handed = adapter.last - start
    await app.stop()
    provider.stdin.close()  # type: ignore[union-attr]
    await provider.wait()
    return expired_at or float("nan"), handed


async def reconcile_worker(db_url: str, provider_url: str, settings: list[str]) -> None:
    """One worker of a `reconcile` run (the whole app): prints "ready" once started, runs
    until stdin closes, then prints its CPU seconds since it was ready. `settings`:
    KEY=VALUE overrides of its configuration (RECONCILE__AT_ONCE=100)."""
    overrides = dict(item.split("=", 1) for item in settings)
    config = nowpayments_config(db_url, provider_url, free_port(), **overrides)
    app = App(config, adapters=[Counting()])
    await app.start()
    print("ready", flush=True)
    cpu = time.process_time()
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    cpu = time.process_time() - cpu
    await app.stop()
    print(cpu, flush=True)


async def _worker(
    db_url: str, provider_url: str, settings: list[str]
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "reconcile-worker",
        "--db",
        db_url,
        "--provider",
        provider_url,
        *(f"--set={item}" for item in settings),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )


async def reconcile_run(
    db_url: str, count: int, seconds: float, workers: int, settings: list[str], latency: float
) -> tuple[float, float, float, float]:
    """(reads/s from the end of a warm-up until the run ends or every payment was read,
    share read by then, seconds until the lost IPN was recovered (nan: not within the run),
    worker CPU ms per read). A run ends early once every payment was claimed and the lost IPN
    recovered."""
    lost = 3600  # silent the least of all (read last in the pass): the worst case
    provider, provider_url = await _provider(count, lost, latency)
    app = await _app(db_url, provider_url, Counting())
    now = datetime.now(UTC)
    user = await a_user(app.db)
    far = now + timedelta(days=1)  # the sweeper has nothing to do
    rows = (
        payment_row(
            n,
            user,
            now - timedelta(hours=1),
            far,
            provider="nowpayments",
            provider_payment_id=str(n),
            next_check_at=far,
            next_poll_at=now - timedelta(seconds=n % 3600),  # silent for a while, all due
            pay_amount=Decimal(2),
        )
        for n in range(1, count + 1)
    )
    await insert_rows(app.db, Payment, rows)
    procs = [await _worker(db_url, provider_url, settings) for _ in range(workers)]
    for proc in procs:
        await proc.stdout.readline()  # type: ignore[union-attr]  # "ready"
    started = time.monotonic()
    # read: claimed (its next read set: read or being read), or moved by its answer
    read = (Payment.next_poll_at > now) | (Payment.status != "waiting")
    finished = (Payment.provider_payment_id == str(lost)) & (Payment.status == "finished")
    warm = min(5.0, seconds / 4)
    first = last = (0.0, 0)
    recovered = float("nan")
    while time.monotonic() - started < seconds and (last[1] < count or recovered != recovered):
        await asyncio.sleep(0.5)
        at = time.monotonic() - started
        done = await _count(app, Payment, read)
        if at >= warm and not first[0]:
            first = (at, done)
        last = (at, done)
        if recovered != recovered and await _count(app, Payment, finished):
            recovered = at
    cpu = 0.0
    for proc in procs:
        proc.stdin.close()  # type: ignore[union-attr]
        cpu += float((await proc.stdout.readline()).decode())  # type: ignore[union-attr]
        await proc.wait()
    total = await _count(app, Payment, read)
    await app.db.close()
    provider.stdin.close()  # type: ignore[union-attr]
    await provider.wait()
    rate = (last[1] - first[1]) / (last[0] - first[0])
    return rate, total / count, recovered, 1000 * cpu / max(1, total)


def _fig(values: list[float], unit: str, digits: int = 1) -> str:
    return (
        f"{statistics.median(values):.{digits}f} {unit} "
        f"(range {min(values):.{digits}f}-{max(values):.{digits}f})"
    )


def _load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "what",
        choices=[
            "warnings",
            "expiry",
            "reconcile",
            "serve",
            "warnings-worker",
            "reconcile-worker",
        ],
    )
    parser.add_argument("--provider")
    parser.add_argument("--lost", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-per-minute", type=int)  # reconcile.max_per_minute (the cap)
    parser.add_argument("--at-once", type=int)  # reconcile.at_once
    parser.add_argument("--set", action="append", default=[])  # a worker's overrides
    parser.add_argument("--latency", type=float, default=0.0)  # the provider's answer time
    parser.add_argument("--db")
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--open", type=int, help="open payments (reconcile: 100,000)")
    parser.add_argument("--history", type=int, default=0, help="past payments (warnings)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    settings = [
        f"RECONCILE__{k.upper()}={v}"
        for k, v in (("max_per_minute", args.max_per_minute), ("at_once", args.at_once))
        if v
    ]
    if args.what == "serve":
        await serve(args.count, args.lost, args.latency)
        return
    if args.what == "reconcile-worker":
        await reconcile_worker(args.db, args.provider, args.set + settings)
        return
    if args.what == "warnings-worker":
        await warnings_worker(args.db, args.count, args.open, args.history)
        return
    opened = args.open or (100_000 if args.what == "reconcile" else args.count)
    tmp = tempfile.TemporaryDirectory()
    results = []
    for run in range(args.runs):
        url = args.db or f"sqlite+aiosqlite:///{tmp.name}/bench{run}.db"
        if args.what == "warnings":
            results.append(await warnings_run(url, args.count, opened, args.history))
        elif args.what == "expiry":
            results.append(await expiry_run(url, args.count))
        else:
            results.append(
                await reconcile_run(
                    url, opened, args.seconds, args.workers, settings, args.latency
                )
            )
        print(f"run {run + 1}: {results[-1]}", flush=True)
    backend = "postgresql" if args.db and args.db.startswith("postgresql") else "sqlite"
    if args.what == "warnings":
        print(
            f"{backend}: {args.count:,} warnings due within one minute, {opened:,} payments "
            f"open, {args.history:,} past: queued within 2 s "
            f"{_fig([r[0] for r in results], '%', 2)}; median lag "
            f"{_fig([r[1] for r in results], 's', 2)}; worst "
            f"{_fig([r[2] for r in results], 's', 2)}; worker CPU "
            f"{_fig([r[3] for r in results], 'ms per warning', 3)} (whole process, its relay "
            f"included), {_fig([r[4] for r in results], 'ms', 3)} of it during sweeps; "
            f"{_load()}"
        )
    elif args.what == "expiry":
        print(
            f"{backend}: {args.count:,} payments, one deadline: all expired and their notices "
            f"queued {_fig([r[0] for r in results], 's after it')}; last notice handed to the "
            f"adapter {_fig([r[1] for r in results], 's after it')}; {_load()}"
        )
    else:
        rates = [r[0] for r in results]
        passes = [opened / r for r in rates]
        recovered = [r[2] for r in results]
        print(
            f"{backend}, {args.workers} worker(s), {' '.join(settings) or 'default config'}, "
            f"provider answers in {args.latency:.2f} s: {opened:,} open payments, all due: "
            f"{_fig(rates, 'reads/s', 0)}; read in {args.seconds:.0f} s: "
            f"{_fig([100 * r[1] for r in results], '%')}; a full pass takes "
            f"{_fig(passes, 's')} (reconcile.after_seconds = 300); the lost IPN (read last) "
            f"recovered after {_fig(recovered, 's')} (nan: not within the run); worker CPU "
            f"{_fig([r[3] for r in results], 'ms per read', 2)}; {_load()}"
        )
    tmp.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
