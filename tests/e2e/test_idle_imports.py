"""What the configuration does not use is not imported (issue 18): a real `paybot run` worker
on the shipped defaults (offline model, sandbox, no chat platform, no webhook server) reports
every module it imports (`PYTHONPROFILEIMPORTTIME`, written by the interpreter itself to
stderr); the hosted-model stack, the agent graph, the chat SDKs, matplotlib, the HTTP server
and the QR drawing are not among them until something needs them."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from tests.helpers import paybot, paybot_run

NOT_AT_IDLE = (
    "openai",
    "langchain_openai",
    "langgraph",
    "langchain",
    "langchain_core",
    "discord",
    "telegram",
    "matplotlib",
    "aiohttp",
    "qrcode",
    "PIL",
)


async def _imports_until_running(process: asyncio.subprocess.Process) -> set[str]:
    assert process.stderr is not None
    packages: set[str] = set()
    while True:
        line = (await asyncio.wait_for(process.stderr.readline(), 60)).decode()
        assert line, "paybot run stopped before it was running"
        if line.startswith("import time:"):
            packages.add(line.rsplit("|", 1)[1].strip().split(".")[0])
        elif "paybot is running" in line:
            return packages


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 20) == 0


@pytest.mark.parametrize("upgraded", [False, True], ids=["first-start", "upgraded-db"])
async def test_an_idle_default_worker_imports_only_what_it_uses(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, upgraded: bool
) -> None:
    if upgraded:  # `paybot db upgrade` first: the worker has no migration to run
        upgrade = await paybot(db_url, tmp_path, "db", "upgrade")
        assert await asyncio.wait_for(upgrade.wait(), 60) == 0
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")
    process = await paybot_run(db_url, tmp_path)
    try:
        packages = await _imports_until_running(process)
        await asyncio.sleep(1.5)  # a few scheduler ticks: idling loads nothing either
    finally:
        await _stop(process)
    rest = (await process.stderr.read()).decode()
    packages |= {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in rest.splitlines()
        if line.startswith("import time:")
    }
    assert "sqlalchemy" in packages and "apscheduler" in packages  # the report is read right
    assert sorted(packages & set(NOT_AT_IDLE)) == []
    # Alembic runs the migrations of a first start, and is not loaded once they are done
    assert ("alembic" in packages) is not upgraded
