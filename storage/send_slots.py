"""The platforms' send limits shared by every worker (PostgreSQL): one row per limit key with
the next moment a send under it may start, in the database's clock (epoch seconds), so the
workers' own clocks never have to agree.

`book()` locks the keys of one send (in key order, so two sends never deadlock), decides and
books in one short transaction; `release()` sets a key held during a send free again a step
after its answer; `push_back()` moves keys later (the platform's "retry after")."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_LOCK = text(
    "INSERT INTO send_slots (key, next_at) "
    "SELECT k, 0 FROM unnest(CAST(:keys AS varchar[])) AS k ORDER BY k "
    "ON CONFLICT (key) DO UPDATE SET next_at = send_slots.next_at "
    "RETURNING key, next_at, CAST(extract(epoch FROM clock_timestamp()) AS float8) AS now"
)
_BOOK = text(
    "UPDATE send_slots SET next_at = v.next_at "
    "FROM unnest(CAST(:keys AS varchar[]), CAST(:nexts AS float8[])) AS v(key, next_at) "
    "WHERE send_slots.key = v.key"
)
_PUSH = text(
    "INSERT INTO send_slots (key, next_at) "
    "SELECT k, CAST(extract(epoch FROM clock_timestamp()) AS float8) + s "
    "FROM unnest(CAST(:keys AS varchar[]), CAST(:seconds AS float8[])) AS v(k, s) ORDER BY k "
    "ON CONFLICT (key) DO UPDATE SET next_at = greatest(send_slots.next_at, excluded.next_at)"
)
_RELEASE = text(
    "UPDATE send_slots SET next_at = "
    "CAST(extract(epoch FROM clock_timestamp()) AS float8) + v.seconds "
    "FROM unnest(CAST(:keys AS varchar[]), CAST(:seconds AS float8[])) AS v(key, seconds) "
    "WHERE send_slots.key = v.key"
)
_PRUNE = text(
    "DELETE FROM send_slots "
    "WHERE next_at < CAST(extract(epoch FROM clock_timestamp()) AS float8) - :idle"
)


async def book(
    engine: AsyncEngine, keys: Sequence[str], steps: Sequence[float], queued: Sequence[bool]
) -> tuple[bool, float, dict[str, float]]:
    """Book one send under `keys` (each next free `step` seconds after its slot).

    A `queued` key (a limit many chats share) may be booked at its next free slot even when
    that is later than now; the other keys (one chat, one group) must be free by then, or
    nothing is booked. Returns (booked, seconds to wait, each key's next slot in seconds
    from now)."""
    async with engine.begin() as conn:
        rows = (await conn.execute(_LOCK, {"keys": list(keys)})).all()
        now = max(row.now for row in rows)
        slots = {row.key: row.next_at for row in rows}
        queue_at = max([now, *(slots[k] for k, q in zip(keys, queued, strict=True) if q)])
        hold_at = max([now, *(slots[k] for k, q in zip(keys, queued, strict=True) if not q)])
        if hold_at > queue_at:  # a chat is busy past the shared slot: keep the queue moving
            return False, hold_at - now, {k: v - now for k, v in slots.items()}
        nexts = [queue_at + step for step in steps]
        await conn.execute(_BOOK, {"keys": list(keys), "nexts": nexts})
    return True, queue_at - now, {k: n - now for k, n in zip(keys, nexts, strict=True)}


async def push_back(engine: AsyncEngine, keys: Sequence[str], seconds: Sequence[float]) -> None:
    """Nothing under each key before `seconds` from now (never pulls a slot forward)."""
    async with engine.begin() as conn:
        await conn.execute(_PUSH, {"keys": list(keys), "seconds": list(seconds)})


async def release(engine: AsyncEngine, keys: Sequence[str], seconds: Sequence[float]) -> None:
    """Keys a send held while in flight: free again `seconds` from now (earlier or later)."""
    async with engine.begin() as conn:
        await conn.execute(_RELEASE, {"keys": list(keys), "seconds": list(seconds)})


async def prune(engine: AsyncEngine, idle_seconds: float) -> int:
    """Forget keys idle for `idle_seconds` (chats long quiet); how many."""
    async with engine.begin() as conn:
        return (await conn.execute(_PRUNE, {"idle": idle_seconds})).rowcount
