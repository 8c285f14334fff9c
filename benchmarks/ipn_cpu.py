"""Worker CPU per applied IPN, and the scaling table (IPN/s and ack p99 per number of workers).

    python benchmarks/ipn_cpu.py [--ipns 2000] [--rate 400] [--workers 1,2] [--runs 3]
                                 [--warmup N] [--db URL] [--root DIR]

This script plays NOWPayments (the fake API of `tests/fakes`, in this process) and prepares
`--ipns` open payments on a fresh database (one made through the app, the rest copied from
it in bulk, each for its own customer). Then it starts `python -m bot.cli run` workers as
separate processes (`--root`'s code: before/after), each with its own webhook port, and a
separate sender process (`benchmarks/ipn_sender.py`) POSTs one signed `finished` IPN per
payment at `--rate` per second, spread over the workers in turn. Per run it reads the
workers' CPU time (user + system, from /proc) before and after and divides by the IPNs
applied (each activates a plan and queues its notice; the workers run no chat platform, so
the figure is the IPN path: verify, parse, apply, outbox row, relay wake-up, not a chat
delivery), and the sender's ack latencies. On PostgreSQL it also reads the CPU of the
database's backends serving the workers (from /proc, with those that closed during the run,
as the postmaster's reaped children: the server must run on this machine, and nothing else
may use it meanwhile) and the sender's own CPU, so the table shows what
one IPN costs the whole machine. Prints the median of `--runs` runs with the range and the
machine's load average. `--warmup N` first sends N more IPNs at the same rate, not
counted, so the latency is that of warm workers (pool connections open, statements prepared).
A SQLite database takes one worker only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from bot.adapters.fake import FakeAdapter  # noqa: E402
from bot.app import App  # noqa: E402
from storage.models import Payment, User  # noqa: E402
from tests.conftest import _fresh_postgres, free_port, nowpayments_config  # noqa: E402
from tests.fakes.nowpayments_server import FakeNowPayments  # noqa: E402
from tools.providers.ipn_signature import sign  # noqa: E402


def cpu_seconds(pid: int) -> tuple[float, float]:
    """The process's user and system CPU time so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


async def prepare(url: str, server: FakeNowPayments, count: int) -> list[bytes]:
    """`count` open payments (one through the app, the others copied from it) and their
    `finished` IPN bodies."""
    port = free_port()
    adapter = FakeAdapter()
    app = App(nowpayments_config(url, server.url, port), adapters=[adapter])
    await app.start(background=False)
    await adapter.say("/buy pro btc", user="bench-0")
    remote = max(server.payments)
    amount = server.payments[remote].body["pay_amount"]
    async with app.db.transaction() as session:
        template = (await session.scalars(select(Payment))).one()
        owner = await session.get(User, template.user_id)
        skip = {"id", "user_id", "chat_id", "order_id", "provider_payment_id"}
        row = {c.key: getattr(template, c.key) for c in Payment.__mapper__.column_attrs}
        row = {k: v for k, v in row.items() if k not in skip}
        person = {c.key: getattr(owner, c.key) for c in User.__mapper__.column_attrs}
        person.pop("id")
        for start in range(1, count, 500):
            chunk = range(start, min(count, start + 500))
            users = await session.scalars(
                insert(User)
                .values([{**person, "platform_user_id": f"bench-{n}"} for n in chunk])
                .returning(User.id)
            )
            await session.execute(
                insert(Payment),
                [
                    {
                        **row,
                        "user_id": uid,
                        "chat_id": f"bench-{n}",
                        "order_id": f"bench-order-{n}",
                        "provider_payment_id": str(9_000_000_000 + n),
                    }
                    for n, uid in zip(chunk, users.all(), strict=True)
                ],
            )
    if app.db.engine.dialect.name == "postgresql":
        # fresh statistics, as autovacuum keeps them for a table that grew by degrees: the
        # planner would otherwise take the bulk-filled tables for the empty ones it last saw
        async with app.db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("ANALYZE")
    await app.stop()
    ids = [remote] + [9_000_000_000 + n for n in range(1, count)]
    return [server.ipn_body(remote, "finished", amount, payment_id=i) for i in ids]


def reaped_cpu(pid: int) -> float:
    """User + system CPU seconds of the process's children that have exited (the postmaster's:
    the backends closed meanwhile)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


async def backend_cpu(url: str) -> dict[int, float]:
    """User + system CPU seconds of each PostgreSQL backend connected to this database (the
    workers' connections, when they are the only ones: the server must run on this machine),
    read from /proc, and under the key -1 the CPU of the server's backends that have exited
    (a connection the workers closed during the run, counted when it ends; any other
    process of the server that ended meanwhile too); {} on SQLite or when /proc does not
    show them."""
    if not url.startswith("postgresql"):
        return {}
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    async with engine.connect() as conn:
        pids = (
            await conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        ).scalars()
        found = {}
        for pid in pids:
            try:
                found[pid] = sum(cpu_seconds(pid))
            except OSError:  # gone, or another machine's
                pass
        folder = (await conn.execute(text("SHOW data_directory"))).scalar_one()
    try:
        postmaster = int((Path(folder) / "postmaster.pid").read_text().split()[0])
        found[-1] = reaped_cpu(postmaster)
    except (OSError, ValueError, IndexError):  # another machine's server
        pass
    await engine.dispose()
    return found


async def count_activations(url: str) -> int:
    from sqlalchemy import func
    from sqlalchemy.ext.asyncio import create_async_engine

    from storage.models import Activation

    engine = create_async_engine(url)
    async with engine.connect() as conn:
        count = (await conn.execute(select(func.count()).select_from(Activation))).scalar_one()
    await engine.dispose()
    return count


async def start_worker(
    root: Path, url: str, server: FakeNowPayments, workdir: str, profile: Path | None = None
):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYBOT_")}
    env.update(
        PYTHONPATH=str(root),
        PAYBOT_DATABASE__URL=url,
        PAYBOT_PROVIDER__NAME="nowpayments",
        PAYBOT_PROVIDER__NOWPAYMENTS__BASE_URL=server.url,
        PAYBOT_NOWPAYMENTS_API_KEY="test-api-key",
        PAYBOT_NOWPAYMENTS_IPN_SECRET=server.ipn_secret,
        PAYBOT_WEBHOOKS__PORT=str(port),
        PAYBOT_WEBHOOKS__PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    python = [sys.executable]
    if profile is not None:  # the main thread's profile, written when the worker stops
        python += ["-m", "cProfile", "-o", str(profile / f"worker-{port}.prof")]
    process = await asyncio.create_subprocess_exec(
        *python,
        *["-m", "bot.cli", "run", "--config", str(root / "config.toml")],
        cwd=workdir,
        env=env,
        stderr=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
    )
    import aiohttp

    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline or process.returncode is not None:
                raise SystemExit("a worker did not start")
            await asyncio.sleep(0.2)
    return process, port


async def send(lines: str, rate: float) -> bytes:
    """Run the sender (`benchmarks/ipn_sender.py`) on `lines`; what it printed."""
    sender = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "benchmarks" / "ipn_sender.py"),
        "-",
        str(rate),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await sender.communicate(lines.encode())
    return out


async def one_run(
    root: Path,
    db: str | None,
    ipns: int,
    rate: float,
    workers: int,
    profile: Path | None,
    warmup: int = 0,
) -> dict:
    server = FakeNowPayments()
    await server.start()
    with tempfile.TemporaryDirectory() as workdir:
        url = db or f"sqlite+aiosqlite:///{workdir}/ipn.db"
        if url.startswith("postgresql"):
            await _fresh_postgres(url)
        bodies = await prepare(url, server, ipns + warmup)
        procs = [await start_worker(root, url, server, workdir, profile) for _ in range(workers)]
        try:
            await asyncio.sleep(1)  # let start-up work settle
            lines = [
                json.dumps(
                    {
                        "id": n,
                        "body": body.decode(),
                        "sig": sign(body, server.ipn_secret),
                        "url": f"http://127.0.0.1:{procs[n % workers][1]}/webhooks/nowpayments",
                    }
                )
                + "\n"
                for n, body in enumerate(bodies)
            ]
            if warmup:  # workers as a running shop has them: connections open, caches full
                await send("".join(lines[:warmup]), rate)
                await asyncio.sleep(0.5)
            warmed = await count_activations(url)
            cpu = [cpu_seconds(p.pid) for p, _ in procs]
            backends = await backend_cpu(url)
            children = resource.getrusage(resource.RUSAGE_CHILDREN)  # + the sender, once done
            out = await send("".join(lines[warmup:]), rate)
            done_children = resource.getrusage(resource.RUSAGE_CHILDREN)
            sending = sum(
                getattr(done_children, f) - getattr(children, f) for f in ("ru_utime", "ru_stime")
            )
            await asyncio.sleep(0.5)  # the relay's wake-ups after the last IPN
            after = [cpu_seconds(p.pid) for p, _ in procs]
            backends_after = await backend_cpu(url)  # those opened during the run: all theirs
            database = sum(t - backends.get(pid, 0.0) for pid, t in backends_after.items())
            user = sum(a[0] - b[0] for a, b in zip(after, cpu, strict=True))
            system = sum(a[1] - b[1] for a, b in zip(after, cpu, strict=True))
            activated = await count_activations(url) - warmed
        finally:
            for process, _ in procs:
                process.terminate()
            for process, _ in procs:
                await process.wait()
            await server.stop()
    results = [json.loads(line) for line in out.decode().splitlines()]
    ok = [r for r in results if r["status"] == 200]
    sent = [r["sent"] for r in results]
    done = [r["sent"] + r["ack"] for r in results]
    acks = sorted(r["ack"] for r in ok)
    return {
        "cpu_ms": (user + system) / max(1, activated) * 1000,
        "sys_ms": system / max(1, activated) * 1000,
        "db_ms": database / max(1, activated) * 1000,
        "sender_ms": sending / max(1, activated) * 1000,
        "rate": len(ok) / (max(done) - min(sent)),
        "p99": acks[min(len(acks) - 1, int(0.99 * len(acks)))] * 1000 if acks else 0.0,
        "p50": acks[len(acks) // 2] * 1000 if acks else 0.0,
        "ok": activated,
    }


def spread(values: list[float], fmt: str) -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ipns", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=400)
    parser.add_argument("--workers", default="1")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--warmup",
        type=int,
        default=0,
        help="IPNs sent first at the same rate and not counted (for ack latency of warm workers)",
    )
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file per run)")
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose code runs")
    parser.add_argument(
        "--profile", type=Path, help="folder for each worker's cProfile output (slower)"
    )
    args = parser.parse_args()
    root = args.root.resolve()
    backend = "postgresql" if (args.db or "").startswith("postgresql") else "sqlite"
    print(
        f"{args.ipns} signed `finished` IPNs at {args.rate:.0f}/s from a separate process "
        f"(after {args.warmup} not counted), "
        f"{backend}, code from {root}"
    )
    print(
        "workers | CPU per applied IPN, ms | of which system, ms | PostgreSQL backends' CPU per "
        "IPN, ms | sender's CPU per IPN, ms | applied IPN/s | ack p50, ms | ack p99, ms | load"
    )
    for workers in (int(w) for w in args.workers.split(",")):
        runs = [
            asyncio.run(
                one_run(root, args.db, args.ipns, args.rate, workers, args.profile, args.warmup)
            )
            for _ in range(args.runs)
        ]
        load = os.getloadavg()
        failed = sum(args.ipns - r["ok"] for r in runs)
        print(
            f"{workers:7} | {spread([r['cpu_ms'] for r in runs], '.2f')} | "
            f"{spread([r['sys_ms'] for r in runs], '.2f')} | "
            f"{spread([r['db_ms'] for r in runs], '.2f')} | "
            f"{spread([r['sender_ms'] for r in runs], '.2f')} | "
            f"{spread([r['rate'] for r in runs], '.0f')} | "
            f"{spread([r['p50'] for r in runs], '.1f')} | "
            f"{spread([r['p99'] for r in runs], '.1f')} | "
            f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
            + (f" | {failed} not activated" if failed else "")
        )


if __name__ == "__main__":
    main()
