"""The platforms' send limits held for the whole deployment (PostgreSQL): every worker books
its sends in `send_slots` (storage/send_slots.py), or in Redis when `PAYBOT_REDIS_URL` is set
(storage/redis_slots.py: the same bookings, a Lua script each), so three workers together send
no faster than one would. SQLite is one worker and keeps `LocalPacing` (no round trip).

A send books its slots in one round trip before it goes: its chat's (and group's) slot, which must
be free, and the next slot of the limit every chat shares (`Rule.queue`), which may be a little
later: the worker then sleeps until it. Booking ahead in that shared queue keeps it full
whichever worker has work, so the deployment sends at the limit, not at a fraction of it. The
queue is paced with less air (`queue_slack`) than a chat, and a slot that a slow moment of
every worker left unused may be taken up by the next few sends (`QUEUE_BURST`): Telegram's
overall limit is a bucket that allows bursts, one chat's does not. A chat's one-per-second
limit (a `spaced` rule) allows no burst at all, and a worker may send a little after its
booked slot (a busy event loop): so the chat is held while the send is in flight and freed a
full interval after its answer, whichever worker sends next (a second round trip per such
send). The hold runs out by itself after `HOLD_SECONDS` if the worker dies mid-send; a send
given up before it went frees it at once.

`wait()` is the relay's hint (defer a busy chat, send the others): each key's time as this
worker last saw it in the database, replaced by every newer look. A chat held by a send in
flight counts as busy for one interval (it is free that long after the answer, which comes in
milliseconds), never for the length of the crash guard.

Slots are in the database's (or Redis's) clock, so the workers' clocks need not agree. When it
cannot be reached, a send is paced by this process alone rather than not sent (the relay
cannot claim work then anyway)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from bot.ratelimit import LocalPacing, Pacer, Rule
from storage.send_slots import Booking

log = logging.getLogger(__name__)

PRUNE_EVERY = 10_000  # bookings between two clean-ups of chats idle for an hour
IDLE_SECONDS = 3600.0
HOLD_SECONDS = 10.0  # a spaced key is held while its send is in flight (a crash frees it then)
QUEUE_BURST = 3  # slots of the shared queue a send may take early after slow moments left
# them unused (Telegram's overall limit is a bucket that allows bursts; a chat's is not)
POLL_HELD = 0.1  # how often a send waiting for a chat held in flight asks again
SEEN_LIMIT = 50_000  # keys remembered for the hint before the past ones are forgotten


class Slots(Protocol):
    """Where the slots are kept: `storage.send_slots.DatabaseSlots` (PostgreSQL) or
    `storage.redis_slots.RedisSlots`; `errors` are what it raises when it cannot be reached."""

    errors: tuple[type[BaseException], ...]

    async def book(
        self,
        keys: Sequence[str],
        steps: Sequence[float],
        queued: Sequence[bool],
        holds: Sequence[float] | None = None,
        bursts: Sequence[float] | None = None,
    ) -> Booking: ...

    async def push_back(self, keys: Sequence[str], seconds: Sequence[float]) -> None: ...

    async def release(self, keys: Sequence[str], seconds: Sequence[float]) -> None: ...

    async def unhold(self, keys: Sequence[str]) -> None: ...

    async def prune(self, idle_seconds: float) -> int: ...


class SharedPacing:
    def __init__(
        self,
        slots: Slots,
        prefix: str,
        *,
        slack: float = 0.05,
        queue_slack: float = 0.02,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._slots = slots
        self._clock = clock
        self._prefix = prefix
        self._air = (1.0 + slack, 1.0 + queue_slack)
        self._seen: dict[str, float] = {}  # key -> when it is free (our clock), last seen
        self._local = LocalPacing(Pacer(clock, slack))  # while the database is away
        self._bookings = 0
        self._paused: dict[str, float] = {}  # held keys the platform paused during a send

    def _key(self, rule: Rule) -> str:
        parts = rule.key if isinstance(rule.key, tuple) else (rule.key,)
        return ":".join([self._prefix, *map(str, parts)])[:120]

    def _step(self, rule: Rule) -> float:
        return self._air[rule.queue] / rule.per_second

    def _look(self, rules: Sequence[Rule], booking: Booking) -> None:
        """Remember what the database said about each key (the newest look wins)."""
        now = self._clock()
        for rule in rules:
            key = self._key(rule)
            free_in = booking.free_in.get(key, 0.0)
            if key in booking.held:  # in flight elsewhere: free a step after its answer
                free_in = max(free_in, self._step(rule))
            self._seen[key] = now + free_in
        if len(self._seen) > SEEN_LIMIT:
            self._seen = {k: v for k, v in self._seen.items() if v > now}

    def wait(self, rules: Sequence[Rule], ahead: int = 0) -> float:
        """How long this chat is busy, as this worker last saw it (the relay defers busy
        chats). The shared queue is left out: it serves every chat in turn."""
        now = self._clock()
        return max(
            [
                0.0,
                *(
                    self._seen.get(self._key(r), now) - now + ahead / r.per_second
                    for r in rules
                    if not r.queue
                ),
            ]
        )

    async def acquire(self, rules: Sequence[Rule]) -> None:
        """Return when a send under `rules` may start (its slots booked for the deployment)."""
        keys = [self._key(r) for r in rules]
        steps = [self._step(r) for r in rules]
        queued = [r.queue for r in rules]
        holds = [HOLD_SECONDS if r.spaced else 0.0 for r in rules]
        bursts = [QUEUE_BURST * self._step(r) if r.queue else 0.0 for r in rules]
        while True:
            try:
                booking = await self._slots.book(keys, steps, queued, holds, bursts)
            except self._slots.errors as exc:
                log.warning("shared send limits unavailable (%s); pacing alone", exc)
                await self._local.acquire(rules)
                return
            self._look(rules, booking)
            if booking.booked:
                break
            await asyncio.sleep(POLL_HELD if booking.held else booking.wait)
        try:
            if booking.wait > 0:
                await asyncio.sleep(booking.wait)
        except asyncio.CancelledError:  # given up before it went: the chat is not in flight
            await asyncio.shield(self._unhold([r for r in rules if r.spaced]))
            raise
        self._bookings += 1
        if self._bookings % PRUNE_EVERY == 0:
            try:
                await self._slots.prune(IDLE_SECONDS)
            except self._slots.errors as exc:
                log.warning("could not prune send slots: %s", exc)

    async def answered(self, rules: Sequence[Rule]) -> None:
        """A send has been answered: a spaced rule's key, held while the send was in flight,
        is free a full interval from now (or when the platform said, if it said later)."""
        spaced = [r for r in rules if r.spaced]
        if spaced:
            await self._local.answered(spaced)
            now = self._clock()
            keys = [self._key(r) for r in spaced]
            waits = [
                max(self._step(r), self._paused.pop(k, now) - now)
                for r, k in zip(spaced, keys, strict=True)
            ]
            for key, wait in zip(keys, waits, strict=True):
                self._seen[key] = now + wait
            try:
                await self._slots.release(keys, waits)
            except self._slots.errors as exc:
                log.warning("could not free a chat's send slot: %s", exc)

    async def _unhold(self, spaced: Sequence[Rule]) -> None:
        """A booked send that never went: its keys are not in flight (their slots stay)."""
        if spaced:
            try:
                await self._slots.unhold([self._key(r) for r in spaced])
            except self._slots.errors as exc:
                log.warning("could not free a chat's send slot: %s", exc)

    async def pause(self, rules: Sequence[Rule], seconds: float) -> None:
        """The platform said "too many requests": nothing under `rules` before then, anywhere."""
        await self._local.pause(rules, seconds)
        until = self._clock() + seconds
        for rule in rules:
            key = self._key(rule)
            self._seen[key] = max(self._seen.get(key, until), until)
            if rule.spaced:  # held by this send: `answered` frees it no earlier than this
                self._paused[key] = until
        try:
            await self._slots.push_back([self._key(r) for r in rules], [seconds] * len(rules))
        except self._slots.errors as exc:
            log.warning("could not share a send limit's delay: %s", exc)
