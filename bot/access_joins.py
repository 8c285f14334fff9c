"""Platform events about access: a Telegram join request, a Discord member joining.

A join request to a chat a plan opens is approved only for a customer whose grant for that
chat is open; anyone else (a forwarded link) is declined and told, in a private message, how
to buy. A customer who joins the Discord guild gets the roles their open grants hold.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from bot.adapters.base import DeliveryError, NotAMember
from bot.i18n import _, using_locale
from bot.messages import Button, ChatRef, Incoming, Outgoing
from storage.db import Database
from storage.models import AccessGrant, User
from tools.access.grants import JOINED, OPEN, log
from tools.access.resources import DISCORD_ROLE, TELEGRAM_CHAT
from tools.clock import Clock

logger = logging.getLogger(__name__)


class AccessJoins:
    def __init__(self, db: Database, adapters: Mapping[str, Any], clock: Clock) -> None:
        self.db = db
        self.adapters = adapters
        self.clock = clock

    async def handle(self, incoming: Incoming) -> None:
        try:
            if incoming.event == "join_request":
                await self._join_request(incoming)
            elif incoming.event == "member_join":
                await self._member_join(incoming)
        except DeliveryError as exc:  # the platform will ask again, or the sync repairs it
            logger.warning("access event %s not handled: %s", incoming.event, exc)

    async def _grants(self, incoming: Incoming, kind: str) -> tuple[User | None, list]:
        """The customer this account belongs to (itself, or the one it is linked to) and
        their open grants of `kind` for this very account."""
        async with self.db.sessions() as session:
            account = await session.scalar(
                select(User).where(
                    User.platform == incoming.platform,
                    User.platform_user_id == incoming.user_id,
                )
            )
            if account is None:
                return None, []
            user = await session.get(User, account.linked_to) if account.linked_to else account
            grants = list(
                await session.scalars(
                    select(AccessGrant).where(
                        AccessGrant.user_id == user.id,  # type: ignore[union-attr]
                        AccessGrant.kind == kind,
                        AccessGrant.status == OPEN,
                        AccessGrant.account == incoming.user_id,
                    )
                )
            )
        return user, grants

    async def _join_request(self, incoming: Incoming) -> None:
        adapter = self.adapters[incoming.platform]
        user, grants = await self._grants(incoming, TELEGRAM_CHAT)
        grant = next((g for g in grants if g.ref == incoming.chat_id), None)
        if user is not None and grant is not None:
            await adapter.approve_join(incoming.chat_id, incoming.user_id)
            await self._log(grant, user.id, "approve", "join request", last_result=JOINED)
            return
        await adapter.decline_join(incoming.chat_id, incoming.user_id)
        logger.info("join request to %s by a non-member declined", incoming.chat_id)
        if user is not None:
            await self._log(None, user.id, "decline", f"join request {incoming.chat_id}")
        if incoming.private_chat_id:  # tell the stranger how to get in
            with using_locale(user.locale if user and user.locale else incoming.locale_hint):
                await adapter.send(
                    Outgoing(
                        ChatRef(incoming.platform, incoming.private_chat_id),
                        _("This chat is for members with a paid plan. Here are the plans:"),
                        buttons=(Button(_("Show plans"), "/plans", private=True),),
                    )
                )

    async def _member_join(self, incoming: Incoming) -> None:
        adapter = self.adapters[incoming.platform]
        user, grants = await self._grants(incoming, DISCORD_ROLE)
        for grant in grants:
            guild, role = grant.ref.split(":", 1)
            if guild == incoming.chat_id and user is not None:
                await adapter.add_role(guild, incoming.user_id, role)
                await self._log(grant, user.id, "grant", "joined the guild", applied=True)

    async def roles_owed(self, incoming: Incoming) -> None:
        """A Discord customer speaks to the bot: roles still owed to them (they were not in
        the guild when they paid, and no member event came) are given now, if they joined."""
        try:
            user, grants = await self._grants(incoming, DISCORD_ROLE)
            for grant in (g for g in grants if not g.applied and user is not None):
                guild, role = grant.ref.split(":", 1)
                try:
                    await self.adapters[incoming.platform].add_role(guild, incoming.user_id, role)
                except NotAMember:
                    continue  # not there yet: the invite is waiting for them
                await self._log(grant, user.id, "grant", "spoke to the bot", applied=True)
        except DeliveryError as exc:  # the sync tries again
            logger.info("roles owed to %s not given now: %s", incoming.user_id, exc)

    async def _log(
        self, grant: AccessGrant | None, user_id: int, action: str, reason: str, **values: Any
    ) -> None:
        now = self.clock()
        async with self.db.transaction() as session:
            if grant is not None and values:
                row = await session.get(AccessGrant, grant.id)
                for key, value in values.items():
                    setattr(row, key, value)
            await session.run_sync(lambda sync: log(sync, now, grant, user_id, action, reason))
