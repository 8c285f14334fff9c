"""One APScheduler per process (DESIGN §5): the sweeper every second, the reconciliation
poller every few seconds and the plan reminders every minute. Their bodies are plain
`async def ...(now)` that tests call with a fixed `now`; no job per payment."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from tools.clock import Clock
from tools.stopping import Stopping

log = logging.getLogger(__name__)

Job = Callable[[datetime], Awaitable[object]]


class Scheduler:
    def __init__(self, clock: Clock, stopping: Stopping | None = None) -> None:
        self.clock = clock
        # raised by `stop()`: long jobs given the same flag end at their next batch boundary
        self.stopping = stopping if stopping is not None else Stopping()
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self._running: set[asyncio.Task[object]] = set()  # ticks under way
        self._stopping = False

    def every(self, name: str, seconds: float, job: Job) -> None:
        """Run `job(now)` every `seconds`; a run never overlaps the previous one. A run longer
        than the interval pauses the job until it ends and then resumes it at the trigger's
        next time: the ticks it spanned are folded into that one, quietly (APScheduler
        would otherwise log a WARNING "maximum number of running instances reached" for each
        tick it had to skip)."""

        async def tick() -> None:
            if self._stopping:
                # APScheduler may have created this run's task just before `stop()`; it
                # starts after the database began closing, so it does nothing.
                return
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
            paused = self._pause(name)
            try:
                await job(self.clock())
            except Exception:
                log.exception("%s failed; the next run tries again", name)
            finally:
                self._running.discard(task)  # type: ignore[arg-type]
                if paused and not self._stopping:
                    self.scheduler.resume_job(name)  # the next interval boundary from now

        self.scheduler.add_job(
            tick,
            IntervalTrigger(seconds=seconds),
            id=name,
            misfire_grace_time=None,
            coalesce=True,
            max_instances=1,
            replace_existing=True,
        )

    def _pause(self, name: str) -> bool:
        """Hold the job's trigger while its run is under way (True when it was held)."""
        if not self.scheduler.running or self.scheduler.get_job(name) is None:
            return False  # a run started by hand (tests) or after shutdown
        self.scheduler.pause_job(name)
        return True

    def start(self) -> None:
        self._stopping = False
        self.stopping.clear()
        self.scheduler.start()

    async def stop(self, grace: float = 5.0) -> None:
        """No new runs; the ones under way end at their next batch boundary (the jobs that
        share `stopping`) and get `grace` seconds for it (a tick cut off by the database
        closing under it would end in a traceback)."""
        self._stopping = True
        self.stopping.set()
        running = self.scheduler.running
        if running:
            self.scheduler.pause()  # shutdown() cancels the runs under way: first let them end
        if self._running:
            await asyncio.wait(set(self._running), timeout=grace)
        if running:
            self.scheduler.shutdown(wait=False)
