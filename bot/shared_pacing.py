"""The platforms' send limits held for the whole deployment (PostgreSQL): every worker books
its sends in `send_slots` (storage/send_slots.py), so three workers together send no faster
than one would. SQLite is one worker and keeps `LocalPacing`.

A send books one short transaction before it goes: its chat's (and group's) slot, which must
be free, and the next slot of the limit every chat shares (`Rule.queue`), which may be a little
later: the worker then sleeps until it. Booking ahead in that shared queue keeps it full
whichever worker has work, so the deployment sends at the limit, not at a fraction of it. The
queue is paced with less air (`queue_slack`) than a chat: Telegram's overall limit allows
bursts, one chat's does not. A chat's one-per-second limit (a `spaced` rule) allows no burst
at all, and a worker may send a little after its booked slot (a busy event loop): so the
chat is held while the send is in flight and freed a full interval after its answer, whichever
worker sends next. Slots are in the database's clock, so the workers' clocks need not
agree. When the database cannot be reached, a send is paced by this process alone rather than
not sent (the relay cannot claim work then anyway)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.ratelimit import LocalPacing, Pacer, Rule
from storage.send_slots import book, prune, push_back, release

log = logging.getLogger(__name__)

PRUNE_EVERY = 10_000  # bookings between two clean-ups of chats idle for an hour
IDLE_SECONDS = 3600.0
HOLD_SECONDS = 30.0  # a spaced key is held while its send is in flight (a crash frees it then)
POLL_HELD = 0.2  # how often a send waiting for a chat held in flight asks again


class SharedPacing:
    def __init__(
        self,
        engine: AsyncEngine,
        prefix: str,
        *,
        slack: float = 0.05,
        queue_slack: float = 0.02,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._prefix = prefix
        self._air = (1.0 + slack, 1.0 + queue_slack)
        self._view = Pacer(clock, slack=0.0)  # each key's next slot as last seen: a hint
        self._local = LocalPacing(Pacer(clock, slack))  # while the database is away
        self._bookings = 0
        self._paused: dict[str, float] = {}  # held keys the platform paused during a send

    def _key(self, rule: Rule) -> str:
        parts = rule.key if isinstance(rule.key, tuple) else (rule.key,)
        return ":".join([self._prefix, *map(str, parts)])[:120]

    def _step(self, rule: Rule) -> float:
        return self._air[rule.queue] / rule.per_second

    def _booking(self, rule: Rule) -> float:
        """How long a booking keeps the key: a spaced one until its answer frees it."""
        return HOLD_SECONDS if rule.spaced else self._step(rule)

    def _note(self, rules: Sequence[Rule], seen: dict[str, float], booked: bool) -> None:
        for rule in rules:
            if not (booked and rule.spaced):  # held in flight: `answered` tells its end
                self._view.pause([rule], seen[self._key(rule)])

    def wait(self, rules: Sequence[Rule], ahead: int = 0) -> float:
        """How long this chat is busy, as this worker last saw it (the relay defers busy
        chats). The shared queue is left out: it serves every chat in turn."""
        return self._view.wait([r for r in rules if not r.queue], ahead)

    async def acquire(self, rules: Sequence[Rule]) -> None:
        """Return when a send under `rules` may start (its slots booked for the deployment)."""
        keys = [self._key(r) for r in rules]
        steps = [self._booking(r) for r in rules]
        queued = [r.queue for r in rules]
        while True:
            try:
                booked, wait, seen = await book(self._engine, keys, steps, queued)
            except (SQLAlchemyError, OSError) as exc:
                log.warning("shared send limits unavailable (%s); pacing alone", exc)
                await self._local.acquire(rules)
                return
            self._note(rules, seen, booked)
            if not booked and wait > HOLD_SECONDS / 2:  # in flight elsewhere: answered soon
                wait = POLL_HELD
            await asyncio.sleep(wait)
            if booked:
                break
        self._bookings += 1
        if self._bookings % PRUNE_EVERY == 0:
            try:
                await prune(self._engine, IDLE_SECONDS)
            except (SQLAlchemyError, OSError) as exc:
                log.warning("could not prune send slots: %s", exc)

    async def answered(self, rules: Sequence[Rule]) -> None:
        """A send has been answered: a spaced rule's key, held while the send was in flight,
        is free a full interval from now (or when the platform said, if it said later)."""
        spaced = [r for r in rules if r.spaced]
        if not spaced:
            return
        await self._local.answered(spaced)
        now = self._clock()
        keys = [self._key(r) for r in spaced]
        seconds = [
            max(self._step(r), self._paused.pop(k, now) - now)
            for r, k in zip(spaced, keys, strict=True)
        ]
        for rule, wait in zip(spaced, seconds, strict=True):
            self._view.pause([rule], wait)
        try:
            await release(self._engine, keys, seconds)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("could not free a chat's send slot: %s", exc)

    async def pause(self, rules: Sequence[Rule], seconds: float) -> None:
        """The platform said "too many requests": nothing under `rules` before then, anywhere."""
        await self._local.pause(rules, seconds)
        self._view.pause(rules, seconds)
        for rule in rules:
            if rule.spaced:  # held by this send: `answered` frees it no earlier than this
                self._paused[self._key(rule)] = self._clock() + seconds
        await self._push(rules, [seconds] * len(rules))

    async def _push(self, rules: Sequence[Rule], seconds: Sequence[float]) -> None:
        try:
            await push_back(self._engine, [self._key(r) for r in rules], seconds)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("could not share a send limit's delay: %s", exc)
