"""Pacing for platforms with send limits (Telegram: ~30 messages/s overall, 1/s per chat,
20/min per group).

Each limit is a virtual schedule: a key (e.g. the chat) may send again `1/rate` seconds after
its last reserved slot. `reserve()` books the next slot under every rule that applies and says
how long to wait for it; `wait()` only looks, so the relay can defer a notification instead of
blocking behind one busy chat. A 429 from the platform pushes a key back with `pause()`.

A request reaches the platform some time between its booking and its answer, and that time
varies (a busy event loop, a slow connection). For limits that allow no burst at all (Telegram's
one message per second per chat) a `spaced` rule therefore counts the next slot from the
answer as well (`answered()`), so jitter cannot bring two arrivals closer than allowed.

With several workers the limits must hold for the whole deployment: `LocalPacing` and
`bot/shared_pacing.py`'s `SharedPacing` give the adapters the same asynchronous face
(`acquire`, `answered`, `pause`, and `wait` as a hint for the relay), one schedule per process
or one in the database for every worker.

`TextLimit` is the other direction: how much free text one customer may send us.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Rule:
    key: Hashable
    per_second: float
    spaced: bool = False  # no bursts: the next send also waits 1/rate after the last answer
    queue: bool = False  # shared by many chats: a worker may book a later slot in its queue


class Pacer:
    def __init__(self, clock: Callable[[], float] = time.monotonic, slack: float = 0.05) -> None:
        self._clock = clock
        self._slack = 1.0 + slack  # requests travel for a while: keep a little air between them
        self._next: dict[Hashable, float] = {}

    def wait(self, rules: Sequence[Rule], ahead: int = 0) -> float:
        """Seconds until all `rules` allow a send (0 when they do now), after `ahead` other
        sends already waiting in line; books nothing."""
        now = self._clock()
        return max(
            [0.0, *(self._next.get(r.key, now) - now + ahead / r.per_second for r in rules)]
        )

    def try_reserve(self, rules: Sequence[Rule]) -> float:
        """Book a slot if every rule allows a send right now (returns 0); otherwise book
        nothing and return how long to wait before asking again. Booking only at the moment
        of sending keeps one slow chat from pushing the shared limits ahead."""
        wait = self.wait(rules)
        if wait > 0:
            return wait
        self.reserve(rules)
        return 0.0

    def reserve(self, rules: Sequence[Rule]) -> float:
        """Book the earliest slot every rule allows; returns how long to wait for it."""
        now = self._clock()
        start = now + self.wait(rules)
        for rule in rules:
            self._next[rule.key] = start + self._slack / rule.per_second
        if len(self._next) > 50_000:  # forget chats that are long idle
            self._next = {k: v for k, v in self._next.items() if v > now}
        return start - now

    def answered(self, rules: Sequence[Rule]) -> None:
        """A send under `rules` has just been answered (or failed): its request arrived by now,
        so a spaced rule's next slot is at least a full interval from here."""
        now = self._clock()
        for rule in rules:
            if rule.spaced:
                after = now + self._slack / rule.per_second
                self._next[rule.key] = max(self._next.get(rule.key, after), after)

    def pause(self, rules: Sequence[Rule], seconds: float) -> None:
        """The platform said "too many requests": nothing under these rules before then."""
        until = self._clock() + seconds
        for rule in rules:
            self._next[rule.key] = max(self._next.get(rule.key, 0.0), until)


class Pacing(Protocol):
    """What an adapter asks before and after each send."""

    def wait(self, rules: Sequence[Rule], ahead: int = 0) -> float: ...

    async def acquire(self, rules: Sequence[Rule]) -> None: ...

    async def answered(self, rules: Sequence[Rule]) -> None: ...

    async def pause(self, rules: Sequence[Rule], seconds: float) -> None: ...


class LocalPacing:
    """The limits paced by this process alone (SQLite: one worker)."""

    def __init__(self, pacer: Pacer | None = None) -> None:
        self.pacer = pacer or Pacer()

    def wait(self, rules: Sequence[Rule], ahead: int = 0) -> float:
        return self.pacer.wait(rules, ahead)

    async def acquire(self, rules: Sequence[Rule]) -> None:
        """Return when a send under `rules` may start (its slot booked)."""
        while (wait := self.pacer.try_reserve(rules)) > 0:  # noqa: ASYNC110 - paced by time
            await asyncio.sleep(wait)

    async def answered(self, rules: Sequence[Rule]) -> None:
        self.pacer.answered(rules)

    async def pause(self, rules: Sequence[Rule], seconds: float) -> None:
        self.pacer.pause(rules, seconds)


class TextLimit:
    """Free text per customer: a token bucket of `burst` messages refilled at `per_minute`.

    `take(key)` answers OK, or WARN for the first message refused since the customer's last
    accepted one (tell them once), or DROP for the rest of that burst (say nothing: a flood
    must not be answered message by message). The clock is the app's, in seconds.
    """

    OK, WARN, DROP = "ok", "warn", "drop"

    def __init__(self, burst: int, per_minute: float, clock: Callable[[], float]) -> None:
        self.burst = float(burst)
        self.rate = per_minute / 60.0  # tokens per second
        self._clock = clock
        self._buckets: dict[Hashable, tuple[float, float, bool]] = {}  # tokens, at, warned
        self._prune_at = 50_000

    def take(self, key: Hashable) -> str:
        now = self._clock()
        tokens, at, warned = self._buckets.get(key, (self.burst, now, False))
        tokens = min(self.burst, tokens + max(0.0, now - at) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now, False)
            verdict = self.OK
        else:
            self._buckets[key] = (tokens, now, True)
            verdict = self.DROP if warned else self.WARN
        if len(self._buckets) > self._prune_at:  # forget customers whose bucket is full again
            self._buckets = {
                k: v
                for k, v in self._buckets.items()
                if v[0] + (now - v[1]) * self.rate < self.burst
            }
            self._prune_at = max(50_000, 2 * len(self._buckets))
        return verdict
