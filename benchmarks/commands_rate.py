"""Commands per second one paybot process answers: the mixed set `/plans`, `/plan`,
`/status`, `/history`, `/help`, with no model.

Run from the repository root: ``python benchmarks/commands_rate.py [--commands 1000]
[--runs 3] [--users 20] [--db URL] [--root DIR] [--path telegram|console|both|fake]
[--profile FILE]``.

The default path (`telegram`) is a worker as it serves customers: this script is the
client and plays Telegram. It runs the fake Bot API of `tests/fakes` (flood limits off on
both sides, so the figure is paybot's own and not Telegram's 30 messages/s), starts
`python -m bot.cli run` in webhook mode as a separate process, has each of `--users`
customers buy one payment (so `/status` sends a card with its QR code and `/history` has a
line), then POSTs the mixed commands as webhook updates (with the secret token), each
customer's one after the other and the customers at once, and times until the fake has
received every answer (`sendMessage` / `sendPhoto`). The paybot process's CPU time per
command (user + system, from /proc) is printed beside the rate: on a loaded machine it is
the steadier figure.

The `console` path: this script is the client. It starts
`python -m bot.cli chat` (the real app on the shipped config.toml, sandbox provider, with
the console adapter: a real adapter over a pipe, the cheapest one, so the figure is paybot's
own cost per command and not a chat platform's) as a separate process, buys one payment (so
`/status` shows a card with its QR code and `/history` has a line), then writes the mixed
commands into its stdin as fast as it reads them and times from the first command written
to the echo of a marker command that follows the last one (the console answers in order, so
every answer before the marker is complete). Prints the median of the runs with the range
and the machine's load average, and the CPU time the paybot process spent per command
(from /proc, user + system); the console also looks after each piped line for payments it
should wait for, so this path costs more per command than a worker. `--root` runs another
checkout's code (before/after figures).

The `fake` path is paybot's own cost without any chat platform: the app in a process of its
own answers 20 customers through the in-process fake adapter and times itself (CPU and
wall), so the figure leaves out what python-telegram-bot, the webhook request and the Bot
API calls cost; the run fails unless every command got one answer and none of them is the
apology for an error (a database refusing connections must not look fast). `--profile FILE`
writes a cProfile of the `telegram` worker's main thread, counted in CPU time (one run; the
profiler slows it several times).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIXED = ("/plans", "/plan", "/status", "/history", "/help")
MARKER = "/currencies"
# `python -m bot.cli` under cProfile counting the main thread's CPU time (not wall time, which
# on a shared machine mostly counts waiting for the GIL and the cores)
PROFILED = """import cProfile, runpy, sys, time
sys.argv[0] = "bot.cli"
profiler = cProfile.Profile(time.thread_time)
profiler.enable()
try:
    runpy.run_module("bot.cli", run_name="__main__", alter_sys=True)
finally:
    profiler.disable()
    profiler.dump_stats({out!r})
"""


class Reader(threading.Thread):
    """Reads the console's output and notes when the echo of a marker command appears."""

    def __init__(self, stream) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.markers: list[float] = []
        self.seen = threading.Condition()
        self.lines = 0

    def run(self) -> None:
        for raw in self.stream:
            self.lines += 1
            if raw.startswith(f"> {MARKER}".encode()):
                with self.seen:
                    self.markers.append(time.perf_counter())
                    self.seen.notify_all()

    def wait(self, count: int, timeout: float = 300) -> float:
        with self.seen:
            if not self.seen.wait_for(lambda: len(self.markers) >= count, timeout):
                raise SystemExit(f"no answer to marker {count} within {timeout} s")
            return self.markers[count - 1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(root: Path, db: str | None, commands: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as workdir:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAYBOT_")}
        env["PAYBOT_DATABASE__URL"] = db or f"sqlite+aiosqlite:///{workdir}/rate.db"
        env["PYTHONPATH"] = str(root)
        if db:
            fresh_postgres(db)
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "chat", "--config", str(root / "config.toml")],
            cwd=workdir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert process.stdin is not None and process.stdout is not None
        reader = Reader(process.stdout)
        reader.start()
        try:
            warmup = ["/buy pro sol", *MIXED, *MIXED, MARKER]
            process.stdin.write("".join(f"{c}\n" for c in warmup).encode())
            process.stdin.flush()
            reader.wait(1)
            batch = "".join(f"{MIXED[i % len(MIXED)]}\n" for i in range(commands))
            cpu = cpu_seconds(process.pid)
            start = time.perf_counter()
            process.stdin.write(f"{batch}{MARKER}\n".encode())
            process.stdin.flush()
            end = reader.wait(2)
            cpu = cpu_seconds(process.pid) - cpu
        finally:
            process.kill()
            process.wait()
        return commands / (end - start), cpu / commands


def fresh_postgres(url: str) -> None:
    """An empty schema for each run on PostgreSQL (SQLite gets a new file)."""
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    async def drop() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            await conn.exec_driver_sql("CREATE SCHEMA public")
        await engine.dispose()

    if url.startswith("postgresql"):
        asyncio.run(drop())


async def telegram_run(
    root: Path, db: str | None, commands: int, users: int, profile: Path | None = None
) -> tuple[float, float]:
    """The same mixed commands as Telegram updates POSTed by this process to a `paybot run`
    worker in webhook mode; the worker answers through the fake Bot API (in this process,
    flood limits off on both sides, so the figure is paybot's and not Telegram's 30/s)."""
    import asyncio

    import aiohttp

    sys.path.insert(0, str(ROOT))
    from tests.fakes.telegram_server import FakeTelegram

    fake = FakeTelegram(
        per_chat_per_second=None, per_group_per_minute=None, global_per_second=None
    )
    await fake.start()
    with tempfile.TemporaryDirectory() as workdir:
        if db:
            await asyncio.to_thread(fresh_postgres, db)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAYBOT_")}
        env.update(
            PYTHONPATH=str(root),
            PAYBOT_DATABASE__URL=db or f"sqlite+aiosqlite:///{workdir}/rate.db",
            PAYBOT_TELEGRAM__ENABLED="true",
            PAYBOT_TELEGRAM__MODE="webhook",
            PAYBOT_TELEGRAM__BASE_URL=fake.url,
            PAYBOT_TELEGRAM__GLOBAL_PER_SECOND="100000",
            PAYBOT_TELEGRAM__PER_CHAT_PER_SECOND="100000",
            PAYBOT_TELEGRAM_TOKEN=fake.token,
            PAYBOT_TELEGRAM_WEBHOOK_SECRET="bench-secret",
            PAYBOT_PROVIDER__ALLOW_SANDBOX_IN_CHATS="true",
            PAYBOT_WEBHOOKS__PORT=str(port),
            PAYBOT_WEBHOOKS__PUBLIC_URL=f"http://127.0.0.1:{port}",
        )
        python = [sys.executable, "-m", "bot.cli"]
        if profile is not None:  # the worker's main thread, CPU time, written when it stops
            python = [sys.executable, "-c", PROFILED.format(out=str(profile))]
        worker_log = (Path(workdir) / "worker.log").open("wb")
        process = await asyncio.create_subprocess_exec(
            *python,
            *["run", "--config", str(root / "config.toml")],
            cwd=workdir,
            env=env,
            stderr=worker_log,  # shown if answers go missing
        )
        try:
            await fake.wait_for(lambda f: f.webhook["url"], timeout=60)
            url = fake.webhook["url"]
            headers = {
                "Content-Type": "application/json",
                "X-Telegram-Bot-Api-Secret-Token": "bench-secret",
            }
            async with aiohttp.ClientSession() as http:

                async def post(chat: int, text: str) -> None:
                    update = fake.push_message(chat, text, user_id=chat)
                    fake._pending.clear()
                    async with http.post(url, json=update, headers=headers) as response:
                        await response.read()
                        assert response.status == 200, response.status

                def answered() -> int:
                    return sum(
                        1 for r in fake.requests if r.method in ("sendMessage", "sendPhoto")
                    )

                chats = [7_000_000 + n for n in range(users)]
                await asyncio.gather(*(post(c, "/buy pro sol") for c in chats))
                await fake.wait_for(lambda f: answered() >= users, timeout=120)
                before = answered()
                cpu = cpu_seconds(process.pid)
                start = time.perf_counter()

                async def customer(chat: int, share: int) -> None:
                    for i in range(share):
                        await post(chat, MIXED[(i + chat) % len(MIXED)])

                shares = [commands // users + (n < commands % users) for n in range(users)]
                await asyncio.gather(*(customer(c, k) for c, k in zip(chats, shares, strict=True)))
                try:
                    await fake.wait_for(lambda f: answered() >= before + commands, timeout=600)
                except BaseException:
                    log = (Path(workdir) / "worker.log").read_text(errors="replace")
                    print(f"{answered() - before} of {commands} answered; the worker said:")
                    print("\n".join(line for line in log.splitlines() if " INFO " not in line))
                    raise
                elapsed = time.perf_counter() - start
                cpu = cpu_seconds(process.pid) - cpu
        finally:
            process.terminate()
            await process.wait()
            worker_log.close()
            await fake.stop()
    return commands / elapsed, cpu / commands


FAKE_RUN = """import asyncio, sys, tempfile, time
from bot.adapters.fake import FakeAdapter
from bot.app import App
from bot.config import load_config

MIXED, COMMANDS, DB, CONFIG = {mixed!r}, {commands}, {db!r}, {config!r}


async def main(url):
    fake = FakeAdapter()
    environ = dict(PAYBOT_DATABASE__URL=url, PAYBOT_PROVIDER__ALLOW_SANDBOX_IN_CHATS="true")
    app = App(load_config(CONFIG, environ), adapters=[fake])
    await app.start(background=False)
    users = [f"customer{{n}}" for n in range(20)]
    for user in users:
        await fake.say("/buy pro sol", user=user)
        for command in MIXED:
            await fake.say(command, user=user)

    async def customer(user, share):
        for i in range(share):
            await fake.say(MIXED[i % len(MIXED)], user=user)

    before = len(fake.sent)
    cpu, start = time.process_time(), time.perf_counter()
    await asyncio.gather(*(customer(u, COMMANDS // len(users)) for u in users))
    cpu, elapsed = time.process_time() - cpu, time.perf_counter() - start
    answers = fake.sent[before:]  # one answer per command, none of them an apology
    failed = [m.text for m in answers if "something went wrong" in m.text]
    assert len(answers) == COMMANDS and not failed, (len(answers), failed[:1])
    print(COMMANDS / elapsed, cpu / COMMANDS)
    await app.stop()


with tempfile.TemporaryDirectory() as workdir:
    asyncio.run(main(DB or f"sqlite+aiosqlite:///{{workdir}}/rate.db"))
"""


def fake_run(root: Path, db: str | None, commands: int) -> tuple[float, float]:
    """paybot's own cost, without a chat platform: the app in a process of its own, answering
    through the in-process fake adapter (20 customers at once). Its CPU time and wall time
    are measured inside that process: there is no client outside it to time from."""
    if db:
        fresh_postgres(db)
    commands -= commands % 20
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYBOT_")}
    env["PYTHONPATH"] = str(root)
    code = FAKE_RUN.format(mixed=MIXED, commands=commands, db=db, config=str(root / "config.toml"))
    with tempfile.TemporaryDirectory() as workdir:
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    rate, cpu = done.stdout.split()[-2:]
    return float(rate), float(cpu)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def report(label: str, results: list[tuple[float, float]], commands: int) -> None:
    rates = [r for r, _ in results]
    cpu = [c * 1000 for _, c in results]
    load = os.getloadavg()
    print(
        f"{label}: {commands} mixed commands per run ({', '.join(MIXED)}): "
        f"median {statistics.median(rates):.0f} commands/s "
        f"(range {min(rates):.0f}–{max(rates):.0f}, {len(results)} runs); "
        f"paybot CPU {statistics.median(cpu):.2f} ms per command "
        f"(range {min(cpu):.2f}–{max(cpu):.2f}); "
        f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


def main() -> None:
    import asyncio

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--users", type=int, default=20, help="Telegram customers at once")
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file per run)")
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose code runs")
    parser.add_argument(
        "--path", choices=("both", "telegram", "console", "fake"), default="telegram"
    )
    parser.add_argument(
        "--profile", type=Path, help="write the worker's cProfile here (one run; slower)"
    )
    args = parser.parse_args()
    root = args.root.resolve()
    if args.path in ("both", "telegram"):
        results = [
            asyncio.run(
                telegram_run(
                    root,
                    args.db,
                    args.commands,
                    args.users,
                    args.profile and args.profile.resolve(),
                )
            )
            for _ in range(args.runs)
        ]
        report(f"telegram webhook, {args.users} customers", results, args.commands)
    if args.path == "fake":
        results = [fake_run(root, args.db, args.commands) for _ in range(args.runs)]
        report("in-process fake adapter, 20 customers (no chat platform)", results, args.commands)
    if args.path in ("both", "console"):
        results = [one_run(root, args.db, args.commands) for _ in range(args.runs)]
        report("console pipe, one customer", results, args.commands)


if __name__ == "__main__":
    main()
