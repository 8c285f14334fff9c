"""One APScheduler per process; its only job is a plain `sweep(now)` (DESIGN §5)."""

from __future__ import annotations

import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from tools.clock import Clock
from tools.countdown import Countdown

log = logging.getLogger(__name__)


class Sweeper:
    def __init__(self, countdown: Countdown, clock: Clock, interval_seconds: float) -> None:
        self.countdown = countdown
        self.clock = clock
        self.interval = interval_seconds
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.ticks = 0

    async def tick(self) -> None:
        try:
            await self.countdown.sweep(self.clock())
        except Exception:
            log.exception("sweep failed; the next tick tries again")
        self.ticks += 1

    def start(self) -> None:
        self.scheduler.add_job(
            self.tick,
            IntervalTrigger(seconds=self.interval),
            id="sweep",
            misfire_grace_time=None,
            coalesce=True,
            max_instances=1,
            replace_existing=True,
        )
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
