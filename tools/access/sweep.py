"""Taking access away when its time has come: the grace period after a plan ended is over.

`AccessSweeper.sweep(now)` reads only grants whose `close_at` has come (an index), and judges
each customer once more in a transaction of its own under the customer's lock, so a renewal
paid a moment ago keeps the access and two workers never close one grant twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from storage import writes
from storage.db import Database
from storage.models import AccessGrant
from tools.access.grants import OPEN, AccessGrants

log = logging.getLogger(__name__)


class AccessSweeper:
    def __init__(self, db: Database, grants: AccessGrants, batch: int = 200) -> None:
        self.db = db
        self.grants = grants
        self.batch = batch

    async def sweep(self, now: datetime) -> int:
        """Close what is due; returns how many customers were judged."""
        if self.grants.catalog.empty:
            return 0
        async with self.db.sessions() as session:
            users = list(
                await session.scalars(
                    select(AccessGrant.user_id)
                    .where(AccessGrant.status == OPEN, AccessGrant.close_at <= now)
                    .group_by(AccessGrant.user_id)
                    .limit(self.batch)
                )
            )
        for user_id in users:
            try:
                await self.db.run(lambda session, uid=user_id: self._judge(session, uid, now))
            except Exception:
                log.exception("access of user %s could not be judged; trying again later", user_id)
        return len(users)

    def _judge(self, session, user_id: int, now: datetime) -> None:
        writes.lock_customer(session, user_id)
        self.grants.refresh(session, user_id, now, "lapse")
