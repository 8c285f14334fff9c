"""`paybot db upgrade` and `paybot sandbox pay` on the terminal."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime

from sqlalchemy import select

from bot.cli import main
from storage.models import Payment, SandboxTransfer
from tests.conftest import ROOT
from tests.helpers import buy


def _argv(*args: str) -> list[str]:
    return ["--config", str(ROOT / "config.toml"), *args]


def test_db_upgrade(db_url, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PAYBOT_DATABASE__URL", db_url)
    assert main(_argv("db", "upgrade")) == 0
    assert "up to date" in capsys.readouterr().out


async def test_sandbox_pay_from_the_terminal(app, fake, db_url, monkeypatch, capsys) -> None:
    # the terminal command runs on the real clock, so the app's clock starts there too
    app.clock.now = datetime.now(UTC)
    pid = await buy(fake, "/buy pro sol")
    monkeypatch.setenv("PAYBOT_DATABASE__URL", db_url)
    code = await asyncio.to_thread(main, _argv("sandbox", "pay", str(pid), "0.5"))
    assert code == 0
    assert f"sandbox: paid 0.5 sol for payment #{pid}" in capsys.readouterr().out
    async with app.db.sessions() as session:
        steps = (
            await session.scalars(select(SandboxTransfer.status).order_by(SandboxTransfer.id))
        ).all()
        payment = await session.get(Payment, pid)
    assert steps == ["confirming", "partially_paid"]
    # the running app picks the steps up through its own sweeper
    app.clock.now = max(app.clock.now, datetime.now(UTC))
    await app.countdown.sweep(app.clock())
    app.clock.advance(5)
    await app.countdown.sweep(app.clock())
    async with app.db.sessions() as session:
        payment = await session.get(Payment, pid)
    assert payment.status == "partially_paid" and str(payment.actually_paid) == "0.5"

    assert await asyncio.to_thread(main, _argv("sandbox", "pay", "999")) == 1
    assert "not found" in capsys.readouterr().err
    assert await asyncio.to_thread(main, _argv("sandbox", "pay", str(pid), "abc")) == 2


def test_options_go_before_or_after_the_command(db_url, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PAYBOT_DATABASE__URL", db_url)
    assert main(["db", "upgrade", "--config", str(ROOT / "config.toml")]) == 0
    assert main(["db", "upgrade", "--config", "/nonexistent.toml"]) == 2
    assert "not found" in capsys.readouterr().err


async def test_paybot_chat_outside_the_repository_runs_on_the_built_in_defaults(tmp_path) -> None:
    """`pip install -e . && paybot chat` anywhere: no config.toml there, no --config, no
    PAYBOT_CONFIG, yet the shop opens (the README calls the defaults embedded)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYBOT_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "chat",
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(b"/plans\n"), 60)
    assert process.returncode == 0, err.decode()
    assert "Pro: $299.00 per 30 days" in out.decode() and not err
    assert (tmp_path / "paybot.db").exists()  # the defaults' SQLite file, where it ran
