"""`paybot admin ...` as a real process against a seeded database."""

from __future__ import annotations

import asyncio
import csv
import getpass
import io
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from bot.adapters.fake import FakeAdapter
from bot.app import App
from storage.models import Activation, AuditEntry, OutboxItem, Payment
from tests.conftest import ROOT, ManualClock, make_config
from tests.e2e.test_console_session import _env, spawn
from tests.helpers import paybot, payment_id_in
from tests.test_admin import OP, seed

PIPE = asyncio.subprocess.PIPE


async def paybot_admin(db_url: str, cwd: Path, *args: str) -> tuple[int, str, str]:
    process = await paybot(db_url, cwd, "admin", *args, stdin=asyncio.subprocess.DEVNULL)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def seeded(db_url: str):
    """The five purchases of tests/test_admin.py, made an hour ago: the CLI reads the real
    clock, so everything the seed's clock did is in its past."""
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1))
    fake = FakeAdapter("telegram")
    app = App(make_config(db_url, OPERATORS__TELEGRAM=f'["{OP}"]'), adapters=[fake], clock=clock)
    await app.start(background=False)
    ids = await seed(app, fake, clock)
    yield app, ids
    await app.stop()


async def test_stats_and_export_on_the_terminal(seeded, db_url: str, tmp_path: Path) -> None:
    app, ids = seeded
    code, out, _ = await paybot_admin(db_url, tmp_path, "stats", "7d", "--chart", "c.png")
    assert code == 0
    assert "Revenue: 1,197 USD from 3 paid purchases" in out
    assert "per coin: BTC 599 USD, ETH 299 USD, SOL 299 USD" in out
    assert f"#{ids['late']} (finished): paid late" in out
    Image.open(tmp_path / "c.png").verify()
    assert "Details: paybot admin payment ID" in out and "/admin" not in out
    code, _, err = await paybot_admin(db_url, tmp_path, "export", "--out", "ledger.csv")
    assert code == 0 and "5 payments written to ledger.csv" in err
    with (tmp_path / "ledger.csv").open(newline="") as f:
        rows = {int(r["payment_id"]): r for r in csv.DictReader(f)}
    async with app.db.sessions() as session:
        over = await session.get(Payment, ids["over"])
    assert rows[ids["over"]]["actually_paid"] == format(over.actually_paid, "f")
    assert rows[ids["over"]]["surplus"] == "0.000000000000000123"
    code, out, _ = await paybot_admin(db_url, tmp_path, "export")  # to stdout
    assert code == 0 and len(list(csv.reader(io.StringIO(out)))) == 6


async def test_lookup_grant_revoke_and_resend_on_the_terminal(seeded, db_url, tmp_path) -> None:
    app, ids = seeded
    code, out, _ = await paybot_admin(db_url, tmp_path, "payment", str(ids["late"]))
    assert code == 0 and f"Payment #{ids['late']} · finished · late" in out
    code, out, _ = await paybot_admin(db_url, tmp_path, "attention", "7d")
    assert code == 0 and out.startswith("Needs a human: 3")
    assert "Details: paybot admin payment ID" in out and "/admin" not in out
    code, out, _ = await paybot_admin(db_url, tmp_path, "user", "@carol")
    assert code == 0 and "Plan: Business until" in out
    code, out, _ = await paybot_admin(db_url, tmp_path, "grant", "telegram:erin", "pro", "7")
    assert code == 0 and out.startswith("Granted Pro to telegram:erin")
    code, out, _ = await paybot_admin(db_url, tmp_path, "revoke", "telegram:erin", "pro")
    assert code == 0 and out.strip() == "Revoked Pro of telegram:erin; they are told."
    code, out, _ = await paybot_admin(db_url, tmp_path, "resend", str(ids["paid"]))
    assert code == 0 and "Queued payment.activated" in out
    code, _, err = await paybot_admin(db_url, tmp_path, "payment", "424242")
    assert code == 1 and err.strip() == "no payment #424242"
    code, _, err = await paybot_admin(db_url, tmp_path, "stats", "week")
    assert code == 2 and "invalid choice: 'week'" in err
    actor = f"cli:{getpass.getuser()}"
    async with app.db.sessions() as session:
        erin = (
            await session.scalars(select(Activation).where(Activation.payment_id.is_(None)))
        ).one()
        actions = (
            await session.scalars(select(AuditEntry.action).where(AuditEntry.actor == actor))
        ).all()
        queued = (
            await session.scalars(
                select(OutboxItem.kind)
                .where(OutboxItem.status == "pending", OutboxItem.user_id.is_not(None))
                .order_by(OutboxItem.id)
            )
        ).all()
    assert erin.source == f"operator:{actor}" and erin.revoked_by == actor
    assert {"admin.command", "admin.grant", "admin.revoke", "admin.resend"} <= set(actions)
    # the running service delivers what the terminal queued
    assert queued == ["plan.granted", "plan.revoked", "payment.activated"]


async def test_reconcile_asks_before_applying(seeded, db_url: str, tmp_path: Path) -> None:
    app, _ = seeded
    fake = app.adapters["telegram"]
    (reply,) = await fake.say("/buy starter sol", user="frank")
    pid = payment_id_in(reply.text)
    await app.payments.sandbox_pay(None, pid, None)
    app.clock.advance(600)  # still before the real time: the steps are due for the CLI
    code, out, err = await paybot_admin(db_url, tmp_path, "reconcile", "--since", "7d")
    assert code == 0 and f"#{pid}: ours waiting 0 SOL, provider finished" in out
    assert "nothing applied: run again with --apply" in err
    async with app.db.sessions() as session:
        assert (await session.get(Payment, pid)).status == "waiting"
    code, out, _ = await paybot_admin(db_url, tmp_path, "reconcile", "--since", "7d", "--apply")
    assert code == 0 and "applied" in out
    async with app.db.sessions() as session:
        assert (await session.get(Payment, pid)).status == "finished"


async def test_a_reader_that_stops_early_ends_the_export_quietly(
    seeded, db_url: str, tmp_path: Path
) -> None:
    """`paybot admin export | head`: the pipe closes before the ledger is written; paybot
    stops without a word, with the exit status a command ended by SIGPIPE has (141)."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first row
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYBOT_")}
    env["PAYBOT_DATABASE__URL"] = db_url
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "--config",
        str(ROOT / "config.toml"),
        "admin",
        "export",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=write,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
        env=env,
    )
    os.close(write)
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 141
    assert err.decode() == ""


async def test_operator_files_in_the_console(seeded, db_url: str, tmp_path: Path) -> None:
    """`paybot chat --user admin`: the chart is a chart (not a QR code) and the chart and the
    export are written to the current directory, not among the QR codes."""
    process = await spawn(
        "chat", "--user", "admin", cwd=tmp_path, env=_env(db_url, tmp_path), stderr=PIPE
    )
    script = "/admin stats 7d\n/admin export\n/admin export\n"
    out, err = await asyncio.wait_for(process.communicate(script.encode()), 60)
    text = out.decode()
    assert process.returncode == 0, err.decode()
    assert "Details: /admin payment ID" in text
    assert "Chart: stats-7d.png" in text and "QR code" not in text
    Image.open(tmp_path / "stats-7d.png").verify()
    assert "File: ledger-start-now.csv" in text and "File: ledger-start-now-2.csv" in text
    rows = list(csv.reader((tmp_path / "ledger-start-now.csv").open(newline="")))
    assert len(rows) == 6
    assert not (tmp_path / "qr").exists() or not any((tmp_path / "qr").iterdir())
