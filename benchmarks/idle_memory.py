"""Resident memory of an idle `paybot run` worker on the shipped defaults.

Run from the repository root: ``python benchmarks/idle_memory.py [--runs 3] [--db URL]``.
Starts `python -m bot.cli run` on the shipped config.toml (offline model, sandbox provider, no
chat platform) as a separate process, waits for "paybot is running", lets it idle for two
seconds and reads its VmRSS from /proc/PID/status; then stops it with SIGTERM. Two cases: the
first start on an empty database (the worker runs the migrations itself, so Alembic is
loaded) and a worker started on a database `paybot db upgrade` has brought up to date (a
restart, or a deployment that upgrades before starting workers). Prints the median of the
runs with the range and the machine's load average, and the heavy packages the restarted
worker imported (from its own `-X importtime` report on stderr, in one extra run). `--root`
runs another checkout's code (before/after figures).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = [ROOT]  # the checkout whose code runs (`--root`)
HEAVY = (
    "langchain_openai",
    "openai",
    "langgraph",
    "langchain",
    "langchain_core",
    "discord",
    "telegram",
    "matplotlib",
    "numpy",
    "aiohttp",
    "alembic",
    "qrcode",
)


def environ(db: str | None, workdir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYBOT_")}
    env["PAYBOT_DATABASE__URL"] = db or f"sqlite+aiosqlite:///{workdir}/idle.db"
    env["PYTHONPATH"] = str(CODE[0])
    return env


def paybot(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli", *args, "--config", str(CODE[0] / "config.toml")]


def upgrade(db: str | None, workdir: str) -> None:
    subprocess.run(
        paybot("db", "upgrade"),
        cwd=workdir,
        env=environ(db, workdir),
        check=True,
        stdout=subprocess.DEVNULL,
    )


def start(db: str | None, workdir: str, importtime: bool = False) -> subprocess.Popen[bytes]:
    env = environ(db, workdir)
    if importtime:
        env["PYTHONPROFILEIMPORTTIME"] = "1"
    return subprocess.Popen(paybot("run"), cwd=workdir, env=env, stderr=subprocess.PIPE)


def wait_running(process: subprocess.Popen[bytes]) -> list[str]:
    """The stderr lines up to "paybot is running"."""
    assert process.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stderr.readline().decode(errors="replace")
        if not line:
            raise SystemExit("paybot run stopped early:\n" + "".join(lines[-20:]))
        lines.append(line)
        if "paybot is running" in line:
            return lines
    raise SystemExit("paybot run did not start within 60 s")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def one_run(db: str | None, upgraded: bool) -> float:
    with tempfile.TemporaryDirectory() as workdir:
        if db:
            fresh_postgres(db)
        if upgraded:
            upgrade(db, workdir)
        process = start(db, workdir)
        try:
            wait_running(process)
            time.sleep(2)
            return rss_mb(process.pid)
        finally:
            stop(process)


def heavy_imports(db: str | None) -> list[str]:
    with tempfile.TemporaryDirectory() as workdir:
        upgrade(db, workdir)
        process = start(db, workdir, importtime=True)
        try:
            lines = wait_running(process)
        finally:
            stop(process)
    loaded = {
        line.split("|")[-1].strip().split(".")[0] for line in lines if "import time:" in line
    }
    return [name for name in HEAVY if name in loaded]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file per run)")
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose code runs")
    args = parser.parse_args()
    CODE[0] = args.root.resolve()
    for label, upgraded in (("first start", False), ("upgraded db", True)):
        values = [one_run(args.db, upgraded) for _ in range(args.runs)]
        load = os.getloadavg()
        print(
            f"idle paybot run RSS, {label}: median {statistics.median(values):.1f} MB "
            f"(range {min(values):.1f}–{max(values):.1f} MB, {args.runs} runs; "
            f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})"
        )
    print("heavy packages imported (upgraded db):", ", ".join(heavy_imports(args.db)) or "none")


def fresh_postgres(url: str) -> None:
    """An empty schema for each run on PostgreSQL (SQLite gets a new file)."""
    if not url.startswith("postgresql"):
        return
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    async def drop() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            await conn.exec_driver_sql("CREATE SCHEMA public")
        await engine.dispose()

    asyncio.run(drop())


if __name__ == "__main__":
    main()
