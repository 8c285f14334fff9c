"""Small helpers for driving the app in tests."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from bot.adapters.fake import FakeAdapter
from bot.app import App
from tests.conftest import ROOT, ManualClock


def payment_id_in(text: str) -> int:
    match = re.search(r"#(\d+)", text)
    assert match, f"no payment id in {text!r}"
    return int(match.group(1))


async def settle(app: App, clock: ManualClock, seconds: float = 0, step: float = 1) -> None:
    """Let `seconds` pass on the clock, sweeping and relaying as the scheduler would."""
    elapsed = 0.0
    while True:
        await app.countdown.sweep(clock())
        while await app.notifier.drain():
            pass
        await app.notifier.edits_done()
        if elapsed >= seconds:
            return
        clock.advance(step)
        elapsed += step


async def buy(fake: FakeAdapter, command: str, user: str = "alice") -> int:
    replies = await fake.say(command, user=user)
    assert replies, "no reply"
    return payment_id_in(replies[0].text)


async def paybot(
    db_url: str, cwd: Path, *args: str, stdin: int | None = None, **settings: str
) -> asyncio.subprocess.Process:
    """`paybot ARGS` as a real process on the shipped config.toml; `settings` become
    `PAYBOT_<KEY>` variables (e.g. `TELEGRAM__ENABLED="true"`), nothing else of ours leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYBOT_")}
    env["PAYBOT_DATABASE__URL"] = db_url
    env.update({f"PAYBOT_{key.upper()}": value for key, value in settings.items()})
    # this checkout's code, not an installed paybot (the process runs in a temporary directory)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        "--config",
        str(ROOT / "config.toml"),
        cwd=cwd,
        env=env,
        stdin=stdin,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def paybot_run(db_url: str, cwd: Path, **settings: str) -> asyncio.subprocess.Process:
    """`paybot run` as a real process (see `paybot`)."""
    return await paybot(db_url, cwd, "run", **settings)


async def count_rows(app: App, model: type, *where: object) -> int:
    """How many rows of `model` match `where` (a test's look at what the app stored)."""
    from sqlalchemy import func, select

    async with app.db.sessions() as session:
        query = select(func.count()).select_from(model).where(*where)  # type: ignore[arg-type]
        return (await session.execute(query)).scalar_one()
