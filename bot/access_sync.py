"""Keeping access true on the platforms: what changed there behind paybot's back is repaired.

Every `[access] sync_seconds` the sync compares a batch of grants with the platform, the ones
compared longest ago first (`checked_at`), so every grant is looked at in turn:
- an open Discord role a moderator took away is given again; a customer who joined the guild
  since gets the role they were waiting for;
- a closed Telegram chat whose former member is still in it (a removal that failed, a member
  let back in by hand) is removed again;
- an open grant whose last outside change was given up (a dead outbox row) is tried again.
Each repair is recorded in the access log with the reason `sync`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from bot.adapters.base import DeliveryError, RateLimited
from storage.db import Database
from storage.models import AccessGrant, OutboxItem
from tools.access.grants import CLOSED, OPEN, log
from tools.access.resources import DISCORD_ROLE, TELEGRAM_CHAT

logger = logging.getLogger(__name__)
KEEP_CHECKING_CLOSED = timedelta(days=7)  # closed chats are compared this long after closing


class AccessSync:
    def __init__(self, db: Database, adapters: Mapping[str, Any], batch: int = 50) -> None:
        self.db = db
        self.adapters = adapters
        self.batch = batch

    async def sync(self, now: datetime) -> int:
        """Compare one batch; returns how many grants were repaired."""
        async with self.db.sessions() as session:
            rows = (
                await session.execute(
                    select(AccessGrant, AccessGrant.account)
                    .where(
                        AccessGrant.kind.in_([TELEGRAM_CHAT, DISCORD_ROLE]),
                        or_(
                            AccessGrant.status == OPEN,
                            AccessGrant.updated_at > now - KEEP_CHECKING_CLOSED,
                        ),
                    )
                    .order_by(AccessGrant.checked_at.is_not(None), AccessGrant.checked_at)
                    .limit(self.batch)
                )
            ).all()
        repaired = 0
        for grant, account in rows:
            try:
                reason = await self._compare(grant, account, now)
            except RateLimited:
                break  # the platform asks us to slow down: the next run goes on
            except DeliveryError as exc:
                reason = None
                logger.info("access sync of grant %s: %s", grant.id, exc)
            await self._checked(grant, now, reason)
            repaired += reason is not None
        return repaired

    async def _compare(self, grant: AccessGrant, account: str, now: datetime) -> str | None:
        """Repair one grant if the platform disagrees; what was done, or None."""
        adapter = self.adapters.get("telegram" if grant.kind == TELEGRAM_CHAT else "discord")
        if adapter is None:
            return None
        if grant.status == OPEN and await self._given_up(grant):
            await self.db.run(lambda session: self._retry(session, grant, now))
            return "given up before: tried again"
        if grant.kind == TELEGRAM_CHAT and grant.status == CLOSED:
            if await adapter.is_member(grant.ref, account):
                await adapter.remove_member(grant.ref, account)
                return "still in the chat: removed"
        if grant.kind == DISCORD_ROLE and grant.status == OPEN:
            guild, role = grant.ref.split(":", 1)
            roles = await adapter.member_roles(guild, account)
            if roles is not None and role not in roles:
                await adapter.add_role(guild, account, role)
                return "role missing: given again"
        return None

    async def _given_up(self, grant: AccessGrant) -> bool:
        async with self.db.sessions() as session:
            status = await session.scalar(
                select(OutboxItem.status).where(
                    OutboxItem.dedupe_key == f"access:{grant.id}:access.open:{grant.opened}"
                )
            )
        return status == "dead"

    @staticmethod
    def _retry(session, grant: AccessGrant, now: datetime) -> None:
        session.execute(
            update(OutboxItem)
            .where(OutboxItem.dedupe_key == f"access:{grant.id}:access.open:{grant.opened}")
            .values(status="pending", attempts=0, next_attempt_at=now, created_at=now)
        )

    async def _checked(self, grant: AccessGrant, now: datetime, repair: str | None) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                update(AccessGrant).where(AccessGrant.id == grant.id).values(checked_at=now)
            )
            if repair is not None:
                await session.run_sync(
                    lambda sync: log(sync, now, grant, grant.user_id, "repair", "sync", repair)
                )
                logger.info("access sync: grant %s %s", grant.id, repair)
