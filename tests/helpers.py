"""Small helpers for driving the app in tests."""

from __future__ import annotations

import re

from bot.adapters.fake import FakeAdapter
from bot.app import App
from tests.conftest import ManualClock


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
