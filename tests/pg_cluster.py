"""A private PostgreSQL server for one test, so that it can really be stopped and restarted
without touching the shared one: `initdb` into a temporary directory, `pg_ctl start` on a free
port, `pg_ctl stop` and `start` again in the middle of the test. `initdb` refuses to run as
root, so as root every command runs as the `postgres` OS user (`runuser`)."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import tempfile
from pathlib import Path

from tests.conftest import free_port


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


class PrivatePostgres:
    """`async with PrivatePostgres() as pg:` a running server at `pg.url` (trust auth)."""

    def __init__(self) -> None:
        bin_dir = _bin_dir()
        if bin_dir is None:
            raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
        self.bin = bin_dir
        self.port = free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"
        self.root = Path(tempfile.mkdtemp(prefix="paybot-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"

    def _as_owner(self, *command: str) -> list[str]:
        if os.geteuid() == 0:  # initdb and postgres refuse root: their own user runs them
            return ["runuser", "-u", "postgres", "--", *command]
        return list(command)

    async def _run(self, *command: str) -> None:
        process = await asyncio.create_subprocess_exec(
            *self._as_owner(*command),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {out.decode()[-2000:]}")

    async def __aenter__(self) -> PrivatePostgres:
        if os.geteuid() == 0:
            os.chmod(self.root, 0o777)  # the postgres user writes the cluster here
        await self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )
        await self.start()
        return self

    async def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=200"
        )
        await self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log),
            "-w", "start",
        )  # fmt: skip

    async def stop(self) -> None:
        """A fast shutdown: every session is ended, open transactions are rolled back."""
        await self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self._run(
                str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"
            )
        except RuntimeError:
            pass  # not running
        shutil.rmtree(self.root, ignore_errors=True)
