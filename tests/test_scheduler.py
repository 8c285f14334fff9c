"""The process scheduler's shutdown: nothing runs against a database that is closing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.scheduler import Scheduler


def _clock() -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC)


async def test_a_run_created_just_before_stop_does_nothing() -> None:
    runs: list[datetime] = []

    async def job(now: datetime) -> None:
        runs.append(now)

    scheduler = Scheduler(_clock)
    scheduler.every("job", 3600, job)
    scheduler.start()
    # What APScheduler's executor does when the interval fires: it creates the run's task,
    # which starts at the loop's next turn, here after `stop()` has begun.
    late = asyncio.get_running_loop().create_task(scheduler.scheduler.get_job("job").func())
    await scheduler.stop()
    await late
    assert runs == []


async def test_stop_waits_for_a_run_under_way() -> None:
    started = asyncio.Event()
    finished: list[bool] = []

    async def job(now: datetime) -> None:
        started.set()
        await asyncio.sleep(0.2)
        finished.append(True)

    scheduler = Scheduler(_clock)
    scheduler.every("job", 3600, job)
    scheduler.start()
    run = asyncio.get_running_loop().create_task(scheduler.scheduler.get_job("job").func())
    await started.wait()
    await scheduler.stop()
    assert finished == [True]
    await run


async def test_stop_lets_the_schedulers_own_run_finish() -> None:
    """APScheduler's shutdown cancels the runs its executor started; stopping must not."""
    started = asyncio.Event()
    outcome: list[str] = []

    async def job(now: datetime) -> None:
        started.set()
        try:
            await asyncio.sleep(0.3)
            outcome.append("finished")
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    scheduler = Scheduler(_clock)
    scheduler.every("job", 0.05, job)
    scheduler.start()
    await asyncio.wait_for(started.wait(), 5)
    await scheduler.stop()
    assert outcome == ["finished"]


async def test_an_overrun_tick_is_coalesced_without_a_warning(caplog) -> None:
    """A run longer than the interval: the ticks it spans are folded into the next run, and
    nothing is logged at WARNING (APScheduler would log "maximum number of running instances
    reached ... skipped" for each tick it could not start)."""
    import logging

    runs: list[float] = []
    third = asyncio.Event()

    async def job(now: datetime) -> None:
        runs.append(asyncio.get_running_loop().time())
        if len(runs) == 3:
            third.set()
        await asyncio.sleep(0.25)  # five intervals

    scheduler = Scheduler(_clock)
    scheduler.every("job", 0.05, job)
    caplog.set_level(logging.DEBUG)
    scheduler.start()
    await asyncio.wait_for(third.wait(), 10)
    await scheduler.stop()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == []
    assert all(b - a >= 0.25 for a, b in zip(runs, runs[1:], strict=False))  # never overlapping
