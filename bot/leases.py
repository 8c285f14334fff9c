"""One owner for each connection: the worker that holds a connection's lease runs it.

`LeaseKeeper` runs in every `paybot run` worker. Every `ttl / 3` it renews its own heartbeat
lease (`worker:<owner>`, so the workers know how many of them are alive) and, for each
connection the adapters name (`bot.adapters.base.Connection`), renews the lease it holds or
tries to take the one it lacks; it opens a connection when it gains the lease and closes it
when it loses it. Connections of a group (Discord's shards) are divided among the live
workers: a worker holds at most its share (rounded up) and gives back what is over it, so a
new worker gets shards too. A worker that dies without releasing (SIGKILL) leaves its leases
to expire: another worker takes each within `ttl` plus one round. A clean stop releases them
at once. The leases live in the database (`storage/leases.py`); why not advisory locks:
docs/decisions.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import socket
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.adapters.base import Connection
from storage import leases
from storage.db import Database
from tools.clock import Clock, system_clock

log = logging.getLogger(__name__)


def worker_id() -> str:
    """This process's name in the leases: host, pid and a random tail (pids are reused)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"


class LeaseKeeper:
    def __init__(
        self,
        db: Database,
        connections: Sequence[Connection],
        *,
        ttl: timedelta,
        owner: str | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.db = db
        self.connections = {c.name: c for c in connections}
        self.ttl = ttl
        self.owner = owner or worker_id()
        self.clock = clock
        self.owned: dict[str, datetime] = {}  # lease -> until when it is ours (last renewal)
        self.workers = 1  # live workers seen at the last round
        self.holders: list[leases.Holder] = []  # every connection's owner at the last round
        self._opening: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def interval(self) -> float:
        return self.ttl.total_seconds() / 3

    async def start(self, *, background: bool = True) -> None:
        """The first round, waiting for the connections this worker gains to open (their
        failure stops start-up); then, with `background`, the rounds go on every `interval`."""
        opening = await self.round(first=True)
        if background:  # renewing goes on while the first connections open (a shard can
            self._task = asyncio.create_task(self._run(), name="lease-keeper")  # take long)
        results = await asyncio.gather(*opening, return_exceptions=True)
        # an opening cancelled because its lease went to another worker meanwhile is no error
        failed = [r for r in results if isinstance(r, Exception)]
        if failed:
            await self.stop()
            raise failed[0]

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.round()
            except Exception:
                log.exception("lease round failed")

    async def round(self, *, first: bool = False) -> list[asyncio.Task[None]]:
        """Renew, take and give back leases once; close the connections lost and start opening
        those gained (the tasks opening them; in the `first` round their failure is raised
        when they are awaited, later it is logged and the lease given back)."""
        now = self.clock()
        try:
            ours = set(self.owned)
            held, workers, holders = await self.db.run(lambda s: self._decide(s, now, ours))
        except Exception as exc:  # the database is away: keep what is ours until it expires
            log.warning("leases could not be renewed: %s", type(exc).__name__)
            later = self.clock()  # the failure may have taken a while
            held = {n for n, until in self.owned.items() if until > later}
            gained = []
        else:
            self.workers, self.holders = workers, holders
            gained = [n for n in self.connections if n in held and n not in self.owned]
            for name in held & self.owned.keys():  # renewed until now + ttl
                self.owned[name] = now + self.ttl
        lost = [n for n in list(self.owned) if n not in held]
        for name in lost:
            del self.owned[name]
            log.info("lease %s lost: closing it here", name)
            await self._close(name)
        opening = []
        for name in gained:
            log.info("lease %s taken by %s: opening it here", name, self.owner)
            self.owned[name] = now + self.ttl
            task = asyncio.create_task(self._open(name, raise_errors=first))
            self._opening[name] = task
            opening.append(task)
        return opening

    def _decide(self, session: Session, now: datetime, ours: set[str]):
        ttl = self.ttl
        leases.take(session, leases.WORKER + self.owner, self.owner, now, ttl)
        workers = max(1, leases.live_workers(session, now))
        held: set[str] = set()
        groups: dict[str, list[str]] = {}
        for name, connection in self.connections.items():
            groups.setdefault(connection.group or name, []).append(name)
        for names in groups.values():
            share = math.ceil(len(names) / workers) if len(names) > 1 else 1
            mine = [n for n in names if n in ours]
            kept = [n for n in mine if leases.take(session, n, self.owner, now, ttl)]
            over = kept[share:]
            if over:  # more than our share: give it back for the newcomers
                leases.release(session, over, self.owner)
                kept = kept[:share]
            for name in names:
                if len(kept) >= share:
                    break
                if name not in kept and leases.take(session, name, self.owner, now, ttl):
                    kept.append(name)
            held.update(kept)
        holders = [h for h in leases.holders(session, now) if h.name in self.connections]
        leases.prune(session, now, timedelta(hours=1))
        return held, workers, holders

    async def _open(self, name: str, *, raise_errors: bool = False) -> None:
        try:
            await self.connections[name].open()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if raise_errors:
                raise
            log.warning("connection %s could not be opened: %s", name, exc)
            self.owned.pop(name, None)  # another worker (or the next round) tries again
            with contextlib.suppress(Exception):
                await self.db.run(lambda s: leases.release(s, [name], self.owner))
        finally:
            self._opening.pop(name, None)

    async def _close(self, name: str) -> None:
        opening = self._opening.pop(name, None)
        if opening is not None:
            opening.cancel()
            await asyncio.gather(opening, return_exceptions=True)
        try:
            await self.connections[name].close()
        except Exception as exc:
            log.warning("connection %s did not close cleanly: %s", name, exc)

    async def stop(self) -> None:
        """Close what is ours and give the leases back, so another worker takes over now."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        names = list(self.owned)
        for name in names:
            await self._close(name)
        self.owned.clear()
        with contextlib.suppress(Exception):
            mine = [*names, leases.WORKER + self.owner]
            await self.db.run(lambda s: leases.release(s, mine, self.owner))

    def report(self) -> dict[str, object]:
        """For /healthz: this worker, what it owns, and who owns each connection."""
        return {
            "worker": self.owner,
            "owns": sorted(self.owned),
            "workers": self.workers,
            "owners": {h.name: h.owner for h in self.holders},
        }

    def metric_lines(self) -> list[str]:
        """For /metrics: 1 for each connection this worker owns, 0 for the others; and how
        many workers are alive."""
        lines = ["# TYPE paybot_connection_owned gauge"]
        for name in sorted(self.connections):
            owned = 1 if name in self.owned else 0
            lines.append(f'paybot_connection_owned{{connection="{name}"}} {owned}')
        lines += ["# TYPE paybot_workers_live gauge", f"paybot_workers_live {self.workers}"]
        return lines
