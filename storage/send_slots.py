"""The platforms' send limits shared by every worker (PostgreSQL): one row per limit key with
the next moment a send under it may start and, for a limit that allows no burst (one chat's
one message a second), until when a send in flight holds it, both in the database's clock
(epoch seconds), so the workers' own clocks never have to agree.

`book()` locks the keys of one send (in key order, so two sends never deadlock), decides and
books in one call of the function `send_slots_book` (one round trip, committed by itself:
the workers' bookings wait for each other only while PostgreSQL runs it, never across a
client's round trip); `release()` ends a hold when its send is answered (the key is
free again a step later), `unhold()` when its send never went; `push_back()` moves keys later
(the platform's "retry after"). `DatabaseSlots` binds them to one engine for
`bot.shared_pacing` (`storage.redis_slots` keeps the same slots in Redis when configured)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

NOW = "CAST(extract(epoch FROM clock_timestamp()) AS float8)"

# The statements go to asyncpg itself (`_on_driver`): through SQLAlchemy's statement layer a
# booking and its release cost about 1.2 ms of a worker's CPU per reply, on the driver 0.7 ms.
# The function (migration 0010) creates the keys it has never seen, locks all of them in key
# order, decides and books: one round trip, committed by itself, so the workers' bookings wait
# for each other only while PostgreSQL runs it, never across a client's round trip.
_BOOK = (
    "SELECT * FROM send_slots_book($1::varchar[], $2::float8[], $3::float8[], $4::boolean[], "
    "$5::float8[])"
)
_PUSH = (
    "INSERT INTO send_slots (key, next_at) "
    f"SELECT k, {NOW} + s FROM unnest($1::varchar[], $2::float8[]) AS v(k, s) ORDER BY k "
    "ON CONFLICT (key) DO UPDATE SET next_at = greatest(send_slots.next_at, excluded.next_at)"
)
_RELEASE = (
    f"UPDATE send_slots SET next_at = {NOW} + v.seconds, held_until = NULL "
    "FROM unnest($1::varchar[], $2::float8[]) AS v(key, seconds) WHERE send_slots.key = v.key"
)
_UNHOLD = "UPDATE send_slots SET held_until = NULL WHERE key = ANY($1::varchar[])"
_PRUNE = (
    f"DELETE FROM send_slots WHERE next_at < {NOW} - $1::float8 "
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
    bursts: Sequence[float] | None = None,
) -> Booking:
    """Book one send under `keys` (each next free `step` seconds after its slot).

    A `queued` key (a limit many chats share) may be booked at its next free slot even when
    that is later than now; the other keys (one chat, one group) must be free by then and not
    held, or nothing is booked. A key with a `hold` (seconds, 0 for none) is held by this send
    from now until `release()` or until the hold runs out (a worker that died mid-send). A
    queued key with a `burst` (seconds) lets a send start that much before its next slot: a
    slot a slow moment left unused is taken up by the next sends, the long-run rate stays one
    per step (a token bucket, as the platforms count).
    One round trip."""
    rows = await _on_driver(
        engine,
        "fetch",
        _BOOK,
        list(keys),
        list(steps),
        list(holds) if holds is not None else [0.0] * len(keys),
        list(queued),
        list(bursts) if bursts is not None else [0.0] * len(keys),
    )
    first = rows[0]
    now, queue_at = first["now"], first["queue_at"]
    if first["booked"]:  # (a queued key's own next slot may lie further on: not needed here)
        free_in = {k: queue_at + step - now for k, step in zip(keys, steps, strict=True)}
        return Booking(True, queue_at - now, free_in, frozenset())
    held = frozenset(
        r["key"] for r in rows if r["held_until"] is not None and r["held_until"] > now
    )
    free_in = {r["key"]: r["next_at"] - now for r in rows}
    return Booking(False, first["hold_at"] - now, free_in, held)


async def _on_driver(engine: AsyncEngine, method: str, sql: str, *args: Any) -> Any:
    """`sql` run by asyncpg's `method` (`fetch` or `execute`) on a connection of the engine's
    pool, outside a transaction: committed by itself, one round trip. A connection that fails
    under it is invalidated (SQLAlchemy does not see the driver's errors), so the next
    statement gets a new one instead of the broken one back from the pool."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        try:
            return await getattr(raw.driver_connection, method)(sql, *args)
        except BaseException:
            await conn.invalidate()
            raise


async def push_back(engine: AsyncEngine, keys: Sequence[str], seconds: Sequence[float]) -> None:
    """Nothing under each key before `seconds` from now (never pulls a slot forward)."""
    await _on_driver(engine, "execute", _PUSH, list(keys), list(seconds))


async def release(engine: AsyncEngine, keys: Sequence[str], seconds: Sequence[float]) -> None:
    """Keys a send held while in flight: no longer held, free again `seconds` from now."""
    await _on_driver(engine, "execute", _RELEASE, list(keys), list(seconds))


async def unhold(engine: AsyncEngine, keys: Sequence[str]) -> None:
    """Keys booked for a send that never went: no longer held (their next slots stay)."""
    await _on_driver(engine, "execute", _UNHOLD, list(keys))


async def prune(engine: AsyncEngine, idle_seconds: float) -> int:
    """Forget keys idle for `idle_seconds` (chats long quiet); how many."""
    status = await _on_driver(engine, "execute", _PRUNE, idle_seconds)  # "DELETE n"
    return int(status.rsplit(" ", 1)[-1])


class DatabaseSlots:
    """The functions above bound to one engine (its pool; the statements commit by
    themselves, see `_on_driver`): what
    `bot.shared_pacing.SharedPacing` books through (`storage.redis_slots.RedisSlots` has the
    same methods)."""

    errors: tuple[type[BaseException], ...] = (
        SQLAlchemyError,
        OSError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,  # e.g. a connection the server ended under a statement
    )

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def book(
        self,
        keys: Sequence[str],
        steps: Sequence[float],
        queued: Sequence[bool],
        holds: Sequence[float] | None = None,
        bursts: Sequence[float] | None = None,
    ) -> Booking:
        return await book(self._engine, keys, steps, queued, holds, bursts)

    async def push_back(self, keys: Sequence[str], seconds: Sequence[float]) -> None:
        await push_back(self._engine, keys, seconds)

    async def release(self, keys: Sequence[str], seconds: Sequence[float]) -> None:
        await release(self._engine, keys, seconds)

    async def unhold(self, keys: Sequence[str]) -> None:
        await unhold(self._engine, keys)

    async def prune(self, idle_seconds: float) -> int:
        return await prune(self._engine, idle_seconds)

    async def close(self) -> None:
        """The engine is the app's: closed with it."""
