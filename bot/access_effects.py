"""Doing what `tools.access` decided: one outbox row, one platform call (for the relay).

The relay hands every `access.*` row here, so access changes get what notifications get:
a lease, retries with backoff, a dead state and an operator alert when given up. A platform
that refuses for a reason only an operator can fix (`AccessRefused`: the bot is no
administrator, a role sits above the bot's) raises `alert.access_refused` once per grant and
problem, and the row is retried later, so fixing the rights is all it takes.

- `access.open`, Telegram chat: a join-request link made for this customer alone (named for
  them and the grant, kept on the grant so a retry sends the same link), sent to them;
  `paybot` approves their join request when it comes (`bot.access_joins`).
- `access.open`, Discord role: the role; a customer not in the guild gets a single-use invite
  and the role when they join (or at the next sync).
- `access.close`: the member removed without a permanent ban, their link revoked; the role
  removed.
- `access.event`: the Standard Webhooks event, signed at delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import update

from bot.adapters.base import AccessRefused, DeliveryError, NotAMember
from bot.i18n import _, using_locale
from bot.messages import ChatRef, Outgoing
from storage.db import Database
from storage.models import AccessGrant, OutboxItem
from tools.access.grants import OPEN, log
from tools.access.resources import DISCORD_ROLE, TELEGRAM_CHAT
from tools.access.webhook_events import event_body, event_id
from tools.alerts import OperatorAlerts
from tools.clock import Clock, system_clock

log_ = logging.getLogger(__name__)
REFUSED_RETRY = 300.0  # seconds before a refused change is tried again (rights fixed?)


class AccessEffects:
    def __init__(
        self,
        db: Database,
        adapters: Mapping[str, Any],
        clock: Clock,
        alerts: OperatorAlerts | None = None,
        *,
        wall: Clock = system_clock,
    ) -> None:
        self.db = db
        self.adapters = adapters
        self.clock = clock
        # a webhook is signed with the real time of its delivery: the receiver compares it
        # with its own clock (Standard Webhooks refuses timestamps 5 minutes off)
        self.wall = wall
        self.alerts = alerts

    async def perform(self, item: OutboxItem) -> str:
        """Do one row's change; "sent" or "skipped" (no longer wanted). Raises what the
        relay retries: `DeliveryError`, `RateLimited`."""
        adapter = self.adapters[item.chat_platform]
        if item.kind == "access.event":
            event = item.payload
            at = datetime.fromisoformat(event["at"])
            body = event_body(event["type"], at, event["data"])
            await adapter.deliver(event_id(event["fact"]), body, self.wall())
            return "sent"
        async with self.db.sessions() as session:
            grant = await session.get(AccessGrant, int(item.payload["grant_id"]))
        opening = item.kind == "access.open"
        if grant is None or (grant.status == OPEN) != opening:
            return "skipped"  # changed since (a revoke before the grant went out, a renewal)
        account = item.chat_id  # the customer's account on the grant's platform
        applied = opening  # the platform now does what the grant says
        try:
            with using_locale(item.locale):
                if grant.kind == TELEGRAM_CHAT and opening:
                    replaced = item.payload.get("revoke")
                    done = await self._chat_open(adapter, grant, account, replaced)
                elif grant.kind == TELEGRAM_CHAT:
                    done = await self._chat_close(adapter, grant, account)
                elif grant.kind == DISCORD_ROLE and opening:
                    done, applied = await self._role_open(adapter, grant, account)
                elif grant.kind == DISCORD_ROLE:
                    done = await self._role_close(adapter, grant, account)
                else:
                    return "skipped"
        except AccessRefused as exc:
            await self._refused(grant, exc)
            raise
        await self._record(grant, "grant" if opening else "remove", done, applied=applied)
        return "sent"

    async def _chat_open(
        self, adapter: Any, grant: AccessGrant, account: str, replaced: str | None
    ) -> str:
        link = grant.invite_link
        if replaced and replaced != link:  # a new link asked for: the old one stops working
            await adapter.revoke_link(grant.ref, replaced)
        if not link:
            name = f"paybot {grant.user_id} #{grant.id}.{grant.opened}"
            link = await adapter.create_join_link(grant.ref, name)
            await self._update(grant.id, invite_link=link)
        await adapter.send(
            Outgoing(
                ChatRef(adapter.platform, account),
                _(
                    "Your plan opens a private chat. Ask to join with your own link, and you "
                    "are let in at once: {link}"
                ).format(link=link),
                key=f"access:{grant.id}:{grant.opened}:link:{link}",
            )
        )
        return f"join link sent: {link}"

    async def _chat_close(self, adapter: Any, grant: AccessGrant, account: str) -> str:
        await adapter.remove_member(grant.ref, account)
        if grant.invite_link:
            await adapter.revoke_link(grant.ref, grant.invite_link)
        return "removed from the chat, link revoked"

    async def _role_open(self, adapter: Any, grant: AccessGrant, account: str) -> tuple[str, bool]:
        guild, role = grant.ref.split(":", 1)
        try:
            await adapter.add_role(guild, account, role)
        except NotAMember:
            invite = await adapter.guild_invite(guild)
            await adapter.send(
                Outgoing(
                    ChatRef(adapter.platform, account),
                    _(
                        "Your plan gives you a role on our server. Join with this one-time "
                        "invite and the role is yours: {link}"
                    ).format(link=invite),
                    key=f"access:{grant.id}:{grant.opened}:invite",
                )
            )
            return f"not in the guild: invite sent ({invite})", False  # the role is still owed
        return "role given", True

    async def _role_close(self, adapter: Any, grant: AccessGrant, account: str) -> str:
        guild, role = grant.ref.split(":", 1)
        await adapter.remove_role(guild, account, role)
        return "role removed"

    async def _update(self, grant_id: int, **values: object) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                update(AccessGrant).where(AccessGrant.id == grant_id).values(**values)
            )

    async def _record(self, grant: AccessGrant, action: str, result: str, applied: bool) -> None:
        now = self.clock()
        async with self.db.transaction() as session:
            await session.execute(
                update(AccessGrant)
                .where(AccessGrant.id == grant.id)
                .values(applied=applied, last_result=result[:300], updated_at=now)
            )
            await session.run_sync(
                lambda sync: log(sync, now, grant, grant.user_id, action, "outbox", result)
            )

    async def _refused(self, grant: AccessGrant, exc: AccessRefused) -> None:
        """Tell the operators once per grant and problem; the relay retries the row later."""
        exc.retry_after = exc.retry_after or REFUSED_RETRY
        now = self.clock()
        async with self.db.transaction() as session:
            await session.execute(
                update(AccessGrant)
                .where(AccessGrant.id == grant.id)
                .values(last_result=f"refused: {exc}"[:300], updated_at=now)
            )
            await session.run_sync(
                lambda sync: log(sync, now, grant, grant.user_id, "refused", "outbox", exc.fix)
            )
            if self.alerts is not None:
                alerts = self.alerts
                await session.run_sync(
                    lambda sync: alerts.write(
                        sync,
                        now,
                        f"access_refused:{grant.id}:{grant.opened}:{exc.fix}"[:200],
                        "alert.access_refused",
                        customer=grant.user_id,
                        resource=f"{grant.kind} {grant.ref}",
                        problem=str(exc),
                        fix=exc.fix,
                    )
                )
        log_.warning("access %s for user %s refused: %s", grant.ref, grant.user_id, exc)


class ShopService:
    """The shop's own service as the relay's `webhook` platform: what `access.event` rows
    are delivered through (Standard Webhooks, `bot.access_webhook`)."""

    platform = "webhook"

    def __init__(self, sender: Any, client: Any) -> None:
        self.deliver = sender.deliver
        self.close = client.aclose

    async def send(self, message: Outgoing) -> str | None:  # nothing to say in a chat
        raise DeliveryError("the shop's service takes events, not messages", permanent=True)
