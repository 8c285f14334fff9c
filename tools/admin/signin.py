"""Signing operators in to the web dashboard without passwords.

An operator asks in a chat where they are already known (`/admin web`) or on the server's
terminal (`paybot admin web-login`) and gets a link holding a random token: it works once,
for `[dashboard] link_minutes`, and only for the operator it was made for. Redeeming it starts
a session: a new random id for the browser's cookie (never one the browser brought: no
fixation), kept in the database as its SHA-256 with an end and a revocation time. Tokens and
session ids are never stored as they are, so a copy of the database signs no one in.

The CSRF token of a session is derived from its id (`csrf_token`): no second secret to store,
different for every session, and useless without the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from storage import writes
from storage.db import Database
from storage.models import WebSession, WebSignIn
from tools.clock import Clock

TOKEN_BYTES = 32


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def csrf_token(session_id: str) -> str:
    """The token every form of this session carries."""
    return hashlib.sha256(b"paybot-csrf:" + session_id.encode()).hexdigest()


def csrf_ok(session_id: str, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(csrf_token(session_id), sent or "")


@dataclass(frozen=True)
class SignedIn:
    operator: str
    session_id: str  # the cookie's value (only the browser has it)
    expires_at: datetime


@dataclass(frozen=True)
class SessionInfo:
    id: int
    operator: str
    created_at: datetime
    expires_at: datetime
    user_agent: str


class WebSignIns:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        link_ttl: timedelta,
        session_ttl: timedelta,
        is_operator: Callable[[str], bool],
    ) -> None:
        """`is_operator(actor)` says whether `platform:id` is still an operator now: a link
        or a session of someone taken off `[operators]` stops working."""
        self.db = db
        self.clock = clock
        self.link_ttl = link_ttl
        self.session_ttl = session_ttl
        self.is_operator = is_operator

    async def new_link_token(self, operator: str) -> str:
        """A fresh single-use token for `operator` (audited); the link carries it."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self.clock()
        async with self.db.transaction() as session:
            session.add(
                WebSignIn(
                    token_hash=digest(token),
                    operator=operator,
                    created_at=now,
                    expires_at=now + self.link_ttl,
                )
            )
            writes.audit(session, now, operator, "web.link", "dashboard")
        return token

    async def link_operator(self, token: str) -> str | None:
        """Whose unused, unexpired link this is (None: no such link any more). Reading it
        uses nothing up: link previews and the confirmation page may look."""
        now = self.clock()
        async with self.db.sessions() as session:
            row = (
                await session.scalars(
                    select(WebSignIn).where(WebSignIn.token_hash == digest(token))
                )
            ).first()
        if row is None or row.used_at is not None or row.expires_at <= now:
            return None
        return row.operator if self.is_operator(row.operator) else None

    async def redeem(self, token: str, user_agent: str = "") -> SignedIn | None:
        """Use the link up and start a session for its operator; None when the link is
        unknown, used, expired or its operator is no longer one (each attempt is audited)."""
        now = self.clock()
        session_id = secrets.token_urlsafe(TOKEN_BYTES)
        async with self.db.transaction() as session:
            row = (
                await session.scalars(
                    select(WebSignIn).where(WebSignIn.token_hash == digest(token))
                )
            ).first()
            # compare-and-set: of two browsers racing with one link, one wins
            taken = (
                await session.execute(
                    update(WebSignIn)
                    .where(
                        WebSignIn.token_hash == digest(token),
                        WebSignIn.used_at.is_(None),
                        WebSignIn.expires_at > now,
                    )
                    .values(used_at=now)
                )
            ).rowcount
            operator = row.operator if row is not None else "unknown"
            if not taken or not self.is_operator(operator):
                writes.audit(session, now, operator, "web.refused", "sign-in link")
                return None
            expires = now + self.session_ttl
            session.add(
                WebSession(
                    session_hash=digest(session_id),
                    operator=operator,
                    created_at=now,
                    expires_at=expires,
                    user_agent=user_agent[:200],
                )
            )
            writes.audit(session, now, operator, "web.sign_in", "dashboard")
        return SignedIn(operator, session_id, expires)

    async def operator_of(self, session_id: str | None) -> str | None:
        """The operator a cookie signs in, while its session is neither expired nor revoked
        and they are still an operator; else None."""
        if not session_id:
            return None
        now = self.clock()
        async with self.db.sessions() as session:
            row = (
                await session.scalars(
                    select(WebSession).where(WebSession.session_hash == digest(session_id))
                )
            ).first()
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            return None
        return row.operator if self.is_operator(row.operator) else None

    async def sign_out(self, session_id: str) -> None:
        now = self.clock()
        async with self.db.transaction() as session:
            row = (
                await session.scalars(
                    select(WebSession).where(WebSession.session_hash == digest(session_id))
                )
            ).first()
            if row is not None and row.revoked_at is None:
                row.revoked_at = now
                writes.audit(session, now, row.operator, "web.sign_out", "dashboard")

    async def sessions_of(self, operator: str) -> list[SessionInfo]:
        """The operator's sessions still running, newest first."""
        now = self.clock()
        async with self.db.sessions() as session:
            rows = (
                await session.scalars(
                    select(WebSession)
                    .where(
                        WebSession.operator == operator,
                        WebSession.revoked_at.is_(None),
                        WebSession.expires_at > now,
                    )
                    .order_by(WebSession.id.desc())
                    .limit(50)
                )
            ).all()
        return [
            SessionInfo(r.id, r.operator, r.created_at, r.expires_at, r.user_agent) for r in rows
        ]

    async def row_of(self, session_id: str) -> int | None:
        """The stored session's row id (the sessions page marks "this browser")."""
        async with self.db.sessions() as session:
            return (
                await session.scalars(
                    select(WebSession.id).where(WebSession.session_hash == digest(session_id))
                )
            ).first()

    async def revoke(self, operator: str, session_row: int) -> bool:
        """End one of the operator's own sessions (another browser of theirs)."""
        now = self.clock()
        async with self.db.transaction() as session:
            done = (
                await session.execute(
                    update(WebSession)
                    .where(
                        WebSession.id == session_row,
                        WebSession.operator == operator,
                        WebSession.revoked_at.is_(None),
                    )
                    .values(revoked_at=now)
                )
            ).rowcount
            if done:
                writes.audit(session, now, operator, "web.revoke", f"session {session_row}")
        return bool(done)
