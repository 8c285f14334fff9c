"""One APScheduler per process (DESIGN §5): the sweeper every second, the reconciliation
poller every few seconds and the plan reminders every minute. Their bodies are plain
`async def ...(now)` that tests call with a fixed `now`; no job per payment."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from tools.clock import Clock

log = logging.getLogger(__name__)

Job = Callable[[datetime], Awaitable[object]]


class Scheduler:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.scheduler = AsyncIOScheduler(timezone="UTC")

    def every(self, name: str, seconds: float, job: Job) -> None:
        """Run `job(now)` every `seconds`; a run never overlaps the previous one."""

        async def tick() -> None:
            try:
                await job(self.clock())
            except Exception:
                log.exception("%s failed; the next run tries again", name)

        self.scheduler.add_job(
            tick,
            IntervalTrigger(seconds=seconds),
            id=name,
            misfire_grace_time=None,
            coalesce=True,
            max_instances=1,
            replace_existing=True,
        )

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
