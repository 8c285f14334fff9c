"""The platforms' send limits shared by every worker (PostgreSQL): one row per limit key with
the next moment a send under it may start and, for a limit that allows no burst (one chat's
one message a second), until when a send in flight holds it, both in the database's clock
(epoch seconds), so the workers' own clocks never have to agree.

`book()` locks the keys of one send (in key order, so two sends never deadlock), decides and
books in one short transaction; `release()` ends a hold when its send is answered (the key is
free again a step later), `unhold()` when its send never went; `push_back()` moves keys later
(the platform's "retry after")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

NOW = "CAST(extract(epoch FROM clock_timestamp()) AS float8)"

_LOCK = text(
    "INSERT INTO send_slots (key, next_at) "
    "SELECT k, 0 FROM unnest(CAST(:keys AS varchar[])) AS k ORDER BY k "
    "ON CONFLICT (key) DO UPDATE SET next_at = send_slots.next_at "
    f"RETURNING key, next_at, held_until, {NOW} AS now"
)
_BOOK = text(
    "UPDATE send_slots SET next_at = v.next_at, held_until = v.held_until "
    "FROM unnest(CAST(:keys AS varchar[]), CAST(:nexts AS float8[]), "
    "CAST(:helds AS float8[])) AS v(key, next_at, held_until) "
    "WHERE send_slots.key = v.key"
)
_PUSH = text(
    "INSERT INTO send_slots (key, next_at) "
    f"SELECT k, {NOW} + s "
    "FROM unnest(CAST(:keys AS varchar[]), CAST(:seconds AS float8[])) AS v(k, s) ORDER BY k "
    "ON CONFLICT (key) DO UPDATE SET next_at = greatest(send_slots.next_at, excluded.next_at)"
)
_RELEASE = text(
    f"UPDATE send_slots SET next_at = {NOW} + v.seconds, held_until = NULL "
    "FROM unnest(CAST(:keys AS varchar[]), CAST(:seconds AS float8[])) AS v(key, seconds) "
    "WHERE send_slots.key = v.key"
)
_UNHOLD = text(
    "UPDATE send_slots SET held_until = NULL WHERE key = ANY(CAST(:keys AS varchar[]))"
)
_PRUNE = text(
    f"DELETE FROM send_slots WHERE next_at < {NOW} - :idle "
    f"AND (held_until IS NULL OR held_until < {NOW})"
)


@dataclass(frozen=True)
class Booking:
    """What `book()` decided: whether the send is booked; how long to wait (for the booked
    slot, or before asking again); each key's next slot in seconds from now; the keys another
    send holds in flight (free a step after that send's answer, which the database cannot
    foresee)."""

    booked: bool
    wait: float
    free_in: dict[str, float]
    held: frozenset[str]


async def book(
    engine: AsyncEngine,
    keys: Sequence[str],
    steps: Sequence[float],
    queued: Sequence[bool],
    holds: Sequence[float] | None = None,
) -> Booking:
    """Book one send under `keys` (each next free `step` seconds after its slot).

    A `queued` key (a limit many chats share) may be booked at its next free slot even when
    that is later than now; the other keys (one chat, one group) must be free by then and not
    held, or nothing is booked. A key with a `hold` (seconds, 0 for none) is held by this send
    from now until `release()` or until the hold runs out (a worker that died mid-send)."""
    holds = list(holds) if holds is not None else [0.0] * len(keys)
    async with engine.begin() as conn:
        rows = (await conn.execute(_LOCK, {"keys": list(keys)})).all()
        now = max(row.now for row in rows)
        slots = {row.key: row.next_at for row in rows}
        held = frozenset(
            row.key for row in rows if row.held_until is not None and row.held_until > now
        )
        free_in = {k: v - now for k, v in slots.items()}
        marks = list(zip(keys, queued, strict=True))
        queue_at = max([now, *(slots[k] for k, q in marks if q)])
        hold_at = max([now, *(slots[k] for k, q in marks if not q)])
        if held or hold_at > queue_at:  # a chat is busy: keep the shared queue moving
            return Booking(False, hold_at - now, free_in, held)
        nexts = [queue_at + step for step in steps]
        helds = [now + hold if hold > 0 else None for hold in holds]
        await conn.execute(_BOOK, {"keys": list(keys), "nexts": nexts, "helds": helds})
    free_in = {k: n - now for k, n in zip(keys, nexts, strict=True)}
    return Booking(True, queue_at - now, free_in, frozenset())


async def push_back(engine: AsyncEngine, keys: Sequence[str], seconds: Sequence[float]) -> None:
    """Nothing under each key before `seconds` from now (never pulls a slot forward)."""
    async with engine.begin() as conn:
        await conn.execute(_PUSH, {"keys": list(keys), "seconds": list(seconds)})


async def release(engine: AsyncEngine, keys: Sequence[str], seconds: Sequence[float]) -> None:
    """Keys a send held while in flight: no longer held, free again `seconds` from now."""
    async with engine.begin() as conn:
        await conn.execute(_RELEASE, {"keys": list(keys), "seconds": list(seconds)})


async def unhold(engine: AsyncEngine, keys: Sequence[str]) -> None:
    """Keys booked for a send that never went: no longer held (their next slots stay)."""
    async with engine.begin() as conn:
        await conn.execute(_UNHOLD, {"keys": list(keys)})


async def prune(engine: AsyncEngine, idle_seconds: float) -> int:
    """Forget keys idle for `idle_seconds` (chats long quiet); how many."""
    async with engine.begin() as conn:
        return (await conn.execute(_PRUNE, {"idle": idle_seconds})).rowcount
