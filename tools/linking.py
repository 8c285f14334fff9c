"""One customer across Telegram and Discord (`/link`).

The customer asks for a code on one platform (`/link`) and sends it to the bot on the other
(`/link CODE`). The code is short, single-use, bound to the customer who asked, and expires
after `CODE_TTL`; an account may get at most `TRIES` wrong codes an hour. Linking marks the
second platform's account as belonging to the customer (`users.linked_to`): from then on its
messages act for that customer, whose plan, payments, history and access they share, and the
access the customer's plans open on that platform is granted to that account at once.

An account that already has purchases of its own is not linked (its money and periods would
have to be merged): the customer is told to ask the shop. Operators see links in
`/admin user` and undo them with `/admin unlink REF`.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from storage import writes
from storage.db import Database
from storage.models import Activation, AuditEntry, LinkCode, Payment, User
from tools.access.grants import AccessGrants

CODE_TTL = timedelta(minutes=10)
TRIES = 5  # wrong codes per account and hour
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def normalize(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())[:16]


class AccountLinks:
    def __init__(self, db: Database, access: AccessGrants | None = None) -> None:
        self.db = db
        self.access = access

    async def new_code(self, user_id: int, platform: str, now: datetime) -> str:
        """A fresh code for the customer (their earlier codes stop working)."""
        code = "".join(secrets.choice(ALPHABET) for _ in range(8))

        def work(session: Session) -> None:
            session.execute(delete(LinkCode).where(LinkCode.user_id == user_id))
            session.add(
                LinkCode(code=code, user_id=user_id, platform=platform, expires_at=now + CODE_TTL)
            )

        await self.db.run(work)
        return code

    async def redeem(self, platform: str, account_id: str, code: str, now: datetime) -> str:
        """Link this account (`platform`, its platform user id) to the customer whose code it
        is. Returns "linked", "bad_code", "too_many", "same_platform", "has_purchases",
        "already_linked"."""
        return await self.db.run(lambda s: self._redeem(s, platform, account_id, code, now))

    def _redeem(
        self, session: Session, platform: str, account_id: str, code: str, now: datetime
    ) -> str:
        actor = f"{platform}:{account_id}"
        tries = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.actor == actor,
                AuditEntry.action == "link.bad_code",
                AuditEntry.at > now - timedelta(hours=1),
            )
        )
        if tries >= TRIES:
            return "too_many"
        row = session.scalar(select(LinkCode).where(LinkCode.code == normalize(code)))
        if row is None or row.expires_at <= now:
            writes.audit(session, now, actor, "link.bad_code", "")
            return "bad_code"
        customer = session.get(User, row.user_id)
        if row.platform == platform or customer is None or customer.platform == platform:
            return "same_platform"  # one account per platform and customer
        writes.lock_customer(session, row.user_id)  # the customer's facts change
        account = session.scalar(
            select(User).where(User.platform == platform, User.platform_user_id == account_id)
        )
        if account is None or account.id == row.user_id:
            return "bad_code"
        if account.linked_to is not None:
            return "already_linked"
        owned = session.scalar(
            select(func.count()).select_from(Payment).where(Payment.user_id == account.id)
        ) or session.scalar(
            select(func.count()).select_from(Activation).where(Activation.user_id == account.id)
        )
        if owned:
            return "has_purchases"
        taken = session.scalar(
            select(User.id).where(User.linked_to == row.user_id, User.platform == platform)
        )
        if taken is not None:
            return "already_linked"
        account.linked_to = row.user_id
        session.delete(row)
        writes.audit(session, now, actor, "link.linked", f"user:{row.user_id}")
        if self.access is not None:  # what the plan opens on this platform, at once
            self.access.refresh(session, row.user_id, now, f"linked:{platform}")
        return "linked"

    async def unlink(self, actor: str, account: User, now: datetime) -> int | None:
        """Undo a link (operators); the customer it belonged to, or None if not linked."""

        def work(session: Session) -> int | None:
            row = session.get(User, account.id)
            if row is None or row.linked_to is None:
                return None
            customer = row.linked_to
            writes.lock_customer(session, customer)
            row.linked_to = None
            writes.audit(session, now, actor, "admin.unlink", f"user:{row.id}", customer=customer)
            if self.access is not None:  # what it held on that platform closes
                self.access.refresh(session, customer, now, f"unlinked:{actor}"[:60])
            return customer

        return await self.db.run(work)
