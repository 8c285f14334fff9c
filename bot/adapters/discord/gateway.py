"""The Discord client of one worker: REST for every worker, gateway shards only for those
whose lease this worker holds (`bot/leases.py`, `DiscordAdapter.open_shard`)."""

from __future__ import annotations

import asyncio
import time
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

    async def launch_shards(self) -> None:  # discord.py's would launch every shard at once
        _count, url, _limit = await self.http.get_bot_gateway()
        self.gateway = yarl.URL(url)
        self._connection.shard_count = self.shard_count
        self._connection.shard_ids = []
        self.launched.set()

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
