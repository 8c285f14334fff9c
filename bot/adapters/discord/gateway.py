"""The Discord client of one worker: REST for every worker, gateway shards only for those
whose lease this worker holds (`bot/leases.py`, `DiscordAdapter.open_shard`)."""

from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import Any

import discord
import yarl

IDENTIFY_EVERY = 5.0  # seconds between two IDENTIFYs of one bot (max_concurrency 1)


class GatewayClient(discord.AutoShardedClient):
    """Runs the shards this worker holds the leases of: `connect` only asks Discord where its
    gateway is and then handles the shards' events; `DiscordAdapter.open_shard` launches
    each shard when its lease is gained (`bot/leases.py`)."""

    def __init__(self, adapter: Any, **options: Any) -> None:
        super().__init__(**options)
        self.adapter = adapter
        self.gateway: Any = None  # the gateway URL Discord named
        self.launched = asyncio.Event()
        self.shards_ready: dict[int, asyncio.Event] = {}
        self._identified_at = 0.0
        # per shard: discord.py's connect under way, or the closing of one given up halfway
        self._connecting: dict[int, asyncio.Task[None]] = {}

    async def launch_shards(self) -> None:  # discord.py's would launch every shard at once
        _count, url, _limit = await self.http.get_bot_gateway()
        self.gateway = yarl.URL(url)
        self._connection.shard_count = self.shard_count
        self._connection.shard_ids = []
        self.launched.set()

    async def connect_shard(self, shard_id: int) -> None:
        """Connect shard `shard_id` (once `launched`). discord.py's connect cannot be
        cancelled halfway: its socket, once identified, would stay open (and keep receiving
        the shard's events) where no one can close it. So it runs as a task of its own that
        a cancelled caller does not stop, and `close_shard` closes the shard once it is
        done."""
        earlier = self._connecting.get(shard_id)
        if earlier is not None:  # an opening given up halfway is still being closed
            await asyncio.gather(asyncio.shield(earlier), return_exceptions=True)
        self._connection.shard_ids = self.shard_ids = sorted(
            {*self._connection.shard_ids, shard_id}
        )
        connecting = asyncio.create_task(self.launch_shard(self.gateway, shard_id, initial=True))
        self._track(shard_id, connecting)
        await asyncio.shield(connecting)

    async def close_shard(self, shard_id: int) -> None:
        """Disconnect shard `shard_id`. A connect still under way is closed when it is done,
        in the background: the lease keeper's round does not wait for a gateway (its other
        leases must be renewed in time)."""
        self._connection.shard_ids = self.shard_ids = [
            i for i in self._connection.shard_ids if i != shard_id
        ]
        connecting = self._connecting.get(shard_id)
        if connecting is not None and not connecting.done():
            self._track(shard_id, asyncio.create_task(self._close_after(shard_id, connecting)))
            return
        await self._disconnect(shard_id)

    def cancel_connects(self) -> None:
        for task in list(self._connecting.values()):
            task.cancel()

    def _track(self, shard_id: int, task: asyncio.Task[None]) -> None:
        self._connecting[shard_id] = task
        task.add_done_callback(partial(self._forget, shard_id))

    def _forget(self, shard_id: int, task: asyncio.Task[None]) -> None:
        if self._connecting.get(shard_id) is task:
            del self._connecting[shard_id]

    async def _close_after(self, shard_id: int, connecting: asyncio.Task[None]) -> None:
        await asyncio.gather(connecting, return_exceptions=True)
        if shard_id not in self._connection.shard_ids:  # not gained again meanwhile
            await self._disconnect(shard_id)

    async def _disconnect(self, shard_id: int) -> None:
        shard = self.get_shard(shard_id)
        if shard is not None and not shard.is_closed():
            await shard.disconnect()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Discord lets a bot identify once every 5 s: wait only when this process just did."""
        wait = self._identified_at + IDENTIFY_EVERY - time.monotonic()
        self._identified_at = time.monotonic() + max(wait, 0.0)
        if wait > 0:
            await asyncio.sleep(wait)

    async def on_shard_ready(self, shard_id: int) -> None:
        self.shards_ready.setdefault(shard_id, asyncio.Event()).set()

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter.on_message(message)

    async def on_member_join(self, member: discord.Member) -> None:  # members intent only
        await self.adapter.on_member_join(member)
