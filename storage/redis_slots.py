"""The platforms' send limits shared by every worker, kept in Redis instead of PostgreSQL (when
`PAYBOT_REDIS_URL` is set): the same bookings as `storage.send_slots`, each one Lua script run
by Redis (atomic: no other command runs meanwhile), in Redis's clock (`TIME`), so the workers'
clocks need not agree and a booking costs the database nothing.

One hash per limit key (`next_at`, `held_until`: epoch seconds as text), under a namespace
(`paybot:send:` by default); a key idle for `idle_seconds` past its next slot expires by itself,
so there is nothing to prune. `redis` is imported only when this module is (only when Redis is
configured): an idle worker without it does not carry the client."""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from storage.send_slots import Booking

IDLE_SECONDS = 3600  # a key untouched this long after its next slot is forgotten

# KEYS: the limit keys. ARGV: idle seconds, then per key: step, hold, queued (1/0), burst.
# Decides like send_slots_book (migration 0010): a queued key may be booked at its next slot
# less its burst (a token bucket); the other keys must be free by then and none held.
# Returns now, queue_at, hold_at, booked (1/0), then per key its next_at and held_until (0 for
# none) as they were before the booking; times in whole microseconds (Redis replies with a
# Lua number as an integer: 1.8e15 is exact in a double).
_BOOK = """
local time = redis.call('TIME')
local t = tonumber(time[1]) + tonumber(time[2]) / 1000000
local idle = tonumber(ARGV[1])
local n = #KEYS
local next_at, held_until = {}, {}
local queue_at, hold_at, held = t, t, false
for i = 1, n do
    local v = redis.call('HMGET', KEYS[i], 'next_at', 'held_until')
    next_at[i] = tonumber(v[1]) or 0
    held_until[i] = tonumber(v[2])
    local base = 1 + (i - 1) * 4
    if ARGV[base + 3] == '1' then
        queue_at = math.max(queue_at, next_at[i] - tonumber(ARGV[base + 4]))
    else
        hold_at = math.max(hold_at, next_at[i])
    end
    if held_until[i] and held_until[i] > t then held = true end
end
local booked = (not held) and hold_at <= queue_at
if booked then
    for i = 1, n do
        local base = 1 + (i - 1) * 4
        local step, hold = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2])
        local after = queue_at
        if ARGV[base + 3] == '1' then after = math.max(next_at[i], queue_at) end
        local new_next = after + step
        redis.call('HSET', KEYS[i], 'next_at', string.format('%.6f', new_next))
        if hold > 0 then
            redis.call('HSET', KEYS[i], 'held_until', string.format('%.6f', t + hold))
        else
            redis.call('HDEL', KEYS[i], 'held_until')
        end
        redis.call('EXPIRE', KEYS[i], math.ceil(math.max(new_next - t, hold) + idle))
    end
end
local function us(x) return math.floor(x * 1000000 + 0.5) end
local out = {us(t), us(queue_at), us(hold_at), booked and 1 or 0}
for i = 1, n do
    out[#out + 1] = us(next_at[i])
    out[#out + 1] = us(held_until[i] or 0)
end
return out
"""

# KEYS: keys; ARGV: idle seconds, then seconds per key. Nothing under each key before then
# (never pulls a slot forward).
_PUSH = """
local time = redis.call('TIME')
local t = tonumber(time[1]) + tonumber(time[2]) / 1000000
local idle = tonumber(ARGV[1])
for i = 1, #KEYS do
    local until_ = t + tonumber(ARGV[i + 1])
    local current = tonumber(redis.call('HGET', KEYS[i], 'next_at')) or 0
    local held = tonumber(redis.call('HGET', KEYS[i], 'held_until')) or 0
    local next_at = math.max(current, until_)
    redis.call('HSET', KEYS[i], 'next_at', string.format('%.6f', next_at))
    redis.call('EXPIRE', KEYS[i], math.ceil(math.max(next_at, held) - t + idle))
end
return #KEYS
"""

# KEYS: keys a send held; ARGV: idle seconds, then seconds per key. No longer held, free again
# that long from now (keys that no longer exist are left alone).
_RELEASE = """
local time = redis.call('TIME')
local t = tonumber(time[1]) + tonumber(time[2]) / 1000000
local idle = tonumber(ARGV[1])
for i = 1, #KEYS do
    if redis.call('EXISTS', KEYS[i]) == 1 then
        local next_at = t + tonumber(ARGV[i + 1])
        redis.call('HSET', KEYS[i], 'next_at', string.format('%.6f', next_at))
        redis.call('HDEL', KEYS[i], 'held_until')
        redis.call('EXPIRE', KEYS[i], math.ceil(math.max(next_at - t, 0) + idle))
    end
end
return #KEYS
"""


class RedisSlots:
    """`storage.send_slots.DatabaseSlots`'s methods, booked in Redis."""

    errors: tuple[type[BaseException], ...] = (RedisError, OSError)

    def __init__(
        self, client: aioredis.Redis, namespace: str = "paybot:send:", idle: int = IDLE_SECONDS
    ) -> None:
        self._client = client
        self._namespace = namespace
        self._idle = idle
        self._book = client.register_script(_BOOK)
        self._push = client.register_script(_PUSH)
        self._release = client.register_script(_RELEASE)

    @classmethod
    def from_url(cls, url: str, namespace: str = "paybot:send:") -> RedisSlots:
        return cls(aioredis.Redis.from_url(url), namespace)

    def _keys(self, keys: Sequence[str]) -> list[str]:
        return [self._namespace + key for key in keys]

    async def book(
        self,
        keys: Sequence[str],
        steps: Sequence[float],
        queued: Sequence[bool],
        holds: Sequence[float] | None = None,
        bursts: Sequence[float] | None = None,
    ) -> Booking:
        holds = holds if holds is not None else [0.0] * len(keys)
        bursts = bursts if bursts is not None else [0.0] * len(keys)
        args: list[int | float | str] = [self._idle]
        for step, hold, queue, burst in zip(steps, holds, queued, bursts, strict=True):
            args += [step, hold, "1" if queue else "0", burst]
        out = [us / 1e6 for us in await self._book(keys=self._keys(keys), args=args)]
        now, queue_at, hold_at = out[0], out[1], out[2]
        seen = {key: (out[4 + 2 * i], out[5 + 2 * i]) for i, key in enumerate(keys)}
        if out[3]:
            free_in = {k: queue_at + step - now for k, step in zip(keys, steps, strict=True)}
            return Booking(True, queue_at - now, free_in, frozenset())
        held = frozenset(k for k, (_, until) in seen.items() if until > now)
        free_in = {k: next_at - now for k, (next_at, _) in seen.items()}
        return Booking(False, hold_at - now, free_in, held)

    async def push_back(self, keys: Sequence[str], seconds: Sequence[float]) -> None:
        await self._push(keys=self._keys(keys), args=[self._idle, *seconds])

    async def release(self, keys: Sequence[str], seconds: Sequence[float]) -> None:
        await self._release(keys=self._keys(keys), args=[self._idle, *seconds])

    async def unhold(self, keys: Sequence[str]) -> None:
        async with self._client.pipeline(transaction=True) as pipe:
            for key in self._keys(keys):
                pipe.hdel(key, "held_until")
            await pipe.execute()

    async def prune(self, idle_seconds: float) -> int:
        """Nothing to do: idle keys expire by themselves."""
        return 0

    async def close(self) -> None:
        await self._client.aclose()
