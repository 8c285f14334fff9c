"""What `paybot run` writes while it runs: nothing per timer run (the sweeper runs every
second), one line per payment change and activation. A real process, its stderr read."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from bot.adapters.fake import FakeAdapter
from bot.app import App
from tests.conftest import make_config
from tests.helpers import buy, paybot_run

PER_TICK = ("Running job", "executed successfully", "Looking for jobs", "Next wakeup")


async def _stop(process: asyncio.subprocess.Process) -> str:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 20) == 0
    return (await process.stderr.read()).decode()


async def _wait_for(process: asyncio.subprocess.Process, text: str, into: list[str]) -> None:
    async def read() -> None:
        while not any(text in line for line in into):
            raw = await process.stderr.readline()
            assert raw, f"paybot run ended before {text!r}: {''.join(into)}"
            into.append(raw.decode())

    try:
        await asyncio.wait_for(read(), 20)
    except TimeoutError:
        raise AssertionError(f"no {text!r} within 20 s: {''.join(into)[-3000:]}") from None


@pytest.mark.parametrize("level", [None, "DEBUG"], ids=["default", "debug"])
async def test_no_line_per_timer_run(db_url: str, tmp_path: Path, level: str | None) -> None:
    settings = {"TIMERS__SWEEP_INTERVAL_SECONDS": "0.5"}
    if level:
        settings["LOG_LEVEL"] = level
    process = await paybot_run(db_url, tmp_path, **settings)
    lines: list[str] = []
    try:
        await _wait_for(process, "paybot is running", lines)
        await asyncio.sleep(3)  # six sweeps, a reconciliation run
    finally:
        err = "".join(lines) + await _stop(process)
    assert "paybot is running" in err
    for text in PER_TICK:
        assert text not in err, err[-2000:]


async def test_one_line_per_payment_change(db_url: str, tmp_path: Path) -> None:
    """A customer (on another process's chat) buys and pays; the service that watches the
    payment writes its changes and the activation, one line each."""
    process = await paybot_run(db_url, tmp_path, TIMERS__SWEEP_INTERVAL_SECONDS="0.5")
    lines: list[str] = []
    try:
        await _wait_for(process, "paybot is running", lines)
        fake = FakeAdapter()
        chat = App(make_config(db_url), adapters=[fake])
        await chat.start(background=False)  # the customer's side; `paybot run` does the timers
        try:
            payment_id = await buy(fake, "/buy pro sol")
            (paid,) = await fake.say(f"/pay {payment_id}")
            assert "Sandbox: sent" in paid.text, paid.text
            await _wait_for(process, f"payment {payment_id}: plan pro active", lines)
        finally:
            await chat.stop()
    finally:
        err = "".join(lines) + await _stop(process)
    assert f"payment {payment_id}: waiting -> confirming" in err
    assert f"payment {payment_id}: confirmed -> finished" in err
    assert "Traceback" not in err  # a sweep under way at the stop ends, not cancelled
    for text in PER_TICK:
        assert text not in err
