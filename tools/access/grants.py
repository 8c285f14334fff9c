"""Keeping each customer's access in line with what they paid for (DESIGN §7).

`AccessGrants.refresh(session, user_id, now, reason)` runs inside the transaction that changed
the customer's plans (an activation, an operator's grant or revoke) or found a grant due (the
sweeper), under the customer's lock (`storage.writes.lock_customer`). It compares, for every
thing a plan opens, the end of the customer's paid periods with their grant row, and opens,
extends or closes the grant. Each change queues its outside effect as an outbox row in the
same transaction, deduplicated per grant and opening, so a crash between the decision and the
effect loses nothing and a retry does nothing twice:

- `access.open` / `access.close` on the resource's platform (a join link for a Telegram chat,
  a Discord role), addressed to the customer's account there;
- `access.event` on the `webhook` platform: a Standard Webhooks event for the shop's service
  (`access.granted`, `access.renewed`, `access.ended`, `access.revoked`; `payment.finished`).

Access stays open while a paid period runs and for the grace period after it; a renewal
inside the grace period changes nothing outside; a revoke closes at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage import writes
from storage.models import AccessGrant, AccessLogEntry, Activation, Payment, User
from tools.access.resources import TELEGRAM_CHAT, WEBHOOK, AccessCatalog, Resource
from tools.access.webhook_events import plain

OPEN, CLOSED = "open", "closed"
FRESH_EVERY = timedelta(minutes=10)  # a customer's new join links, at most this often
JOINED = "joined"  # a grant's last result once the customer is in the chat


def log(
    session: Session,
    now: datetime,
    grant: AccessGrant | None,
    user_id: int,
    action: str,
    reason: str,
    result: str = "ok",
) -> None:
    session.add(
        AccessLogEntry(
            at=now,
            grant_id=grant.id if grant is not None else None,
            user_id=user_id,
            action=action,
            reason=reason[:60],
            result=result[:300],
        )
    )


class AccessGrants:
    def __init__(self, catalog: AccessCatalog) -> None:
        self.catalog = catalog

    def refresh(
        self,
        session: Session,
        user_id: int,
        now: datetime,
        reason: str,
        *,
        revoking: bool = False,
        payment: Payment | None = None,
    ) -> None:
        """Open, extend or close the customer's grants to match their paid periods
        (`payment`: the one that just finished, told to the shop's service)."""
        if self.catalog.empty:
            return
        user = session.get(User, user_id)
        if user is None:
            return
        ends = self._paid_until(session, user_id)
        grants = {
            (g.kind, g.ref): g
            for g in session.scalars(
                select(AccessGrant)
                .where(AccessGrant.user_id == user_id)
                .execution_options(populate_existing=True)
            )
        }
        accounts = self._accounts(session, user)
        for resource in sorted(self.catalog.everything(), key=lambda r: (r.kind, r.ref)):
            grant = grants.get((resource.kind, resource.ref))
            account = "shop" if resource.kind == WEBHOOK else accounts.get(resource.platform)
            if account is None:  # a Discord role for a Telegram-only customer: not reachable
                if grant is not None and grant.status == OPEN:  # an account unlinked
                    self._close(session, user, grant, now, "unlinked")
                continue
            plans = self.catalog.plans_opening(resource)
            until = max((ends[p] for p in plans if p in ends), default=None)
            covered = until is not None and (
                until > now or (not revoking and until + self.catalog.grace > now)
            )
            if covered:
                held = sorted(p for p in plans if p in ends and ends[p] > now - self.catalog.grace)
                self._open(session, user, resource, grant, until, now, reason, held, account)  # type: ignore[arg-type]
            elif grant is not None and grant.status == OPEN:
                self._close(session, user, grant, now, "revoke" if revoking else reason)
        sold = {(r.kind, r.ref) for r in self.catalog.everything()}
        for key, grant in grants.items():  # a chat or role taken out of every plan's access
            if key not in sold and grant.status == OPEN:
                self._close(session, user, grant, now, "no longer sold")
        if payment is not None and any(
            r.kind == WEBHOOK for r in self.catalog.resources(payment.plan)
        ):
            p = payment
            self._event(
                session,
                user,
                now,
                "payment.finished",
                f"payment:{p.id}",
                reason,
                payment_id=p.id,
                plan=p.plan,
                price={"amount": p.price_amount, "currency": p.price_currency},
                paid={"amount": p.actually_paid, "currency": p.pay_currency},
            )

    def fresh_link(self, session: Session, user_id: int, now: datetime) -> str:
        """A customer asks for a new join link (theirs was lost, or used by someone who was
        declined): each open chat grant gets a new link, the old one revoked, at most once per
        `FRESH_EVERY`. Returns "queued", "none" (no chat to join) or "too_soon"."""
        grants = list(
            session.scalars(
                select(AccessGrant).where(
                    AccessGrant.user_id == user_id,
                    AccessGrant.kind == TELEGRAM_CHAT,
                    AccessGrant.status == OPEN,
                )
            )
        )
        if not grants:
            return "none"
        last = session.scalar(
            select(func.max(AccessLogEntry.at)).where(
                AccessLogEntry.user_id == user_id, AccessLogEntry.action == "fresh"
            )
        )
        if last is not None and now - last < FRESH_EVERY:
            return "too_soon"
        user = session.get(User, user_id)
        for grant in grants:
            n = session.scalar(
                select(func.count())
                .select_from(AccessLogEntry)
                .where(AccessLogEntry.grant_id == grant.id, AccessLogEntry.action == "fresh")
            )
            old, grant.invite_link, grant.updated_at = grant.invite_link, None, now
            log(session, now, grant, user_id, "fresh", "customer asked")
            self._effect(
                session, user, grant, "access.open", now, suffix=f":fresh{n + 1}", revoke=old
            )
        return "queued"

    def _paid_until(self, session: Session, user_id: int) -> dict[str, datetime]:
        """Per plan, the end of the customer's last paid (not revoked) period."""
        rows = session.execute(
            select(Activation.plan, func.max(Activation.period_end))
            .where(Activation.user_id == user_id, Activation.revoked_at.is_(None))
            .group_by(Activation.plan)
        )
        return {plan: end for plan, end in rows}

    @staticmethod
    def _accounts(session: Session, user: User) -> dict[str, str]:
        """The customer's account on each platform: their own, and those linked to them."""
        linked = session.scalars(select(User).where(User.linked_to == user.id))
        return {u.platform: u.platform_user_id for u in linked} | {
            user.platform: user.platform_user_id
        }

    def _open(
        self,
        session: Session,
        user: User,
        resource: Resource,
        grant: AccessGrant | None,
        until: datetime,
        now: datetime,
        reason: str,
        plans: list[str],
        account: str,
    ) -> None:
        close_at = until + self.catalog.grace
        if grant is not None and grant.status == OPEN:
            if until > (grant.paid_until or until) and grant.kind == WEBHOOK:
                self._event(
                    session,
                    user,
                    now,
                    "access.renewed",
                    f"{grant.id}:{until.isoformat()}",
                    reason,
                    plans=plans,
                    paid_until=until,
                    previous_paid_until=grant.paid_until,
                )
                log(session, now, grant, user.id, "extend", reason, f"until {until.isoformat()}")
            grant.paid_until, grant.close_at, grant.updated_at = until, close_at, now
            return
        if grant is None:
            grant = AccessGrant(
                user_id=user.id,
                kind=resource.kind,
                ref=resource.ref,
                account=account,
                opened=0,
                applied=False,
                created_at=now,
            )
            session.add(grant)
        grant.status, grant.opened, grant.applied = OPEN, grant.opened + 1, False
        grant.account = account
        grant.paid_until, grant.close_at, grant.updated_at = until, close_at, now
        grant.invite_link = None  # a new purchase later gives a new link
        session.flush()
        log(session, now, grant, user.id, "open", reason)
        if resource.kind == WEBHOOK:
            self._event(
                session,
                user,
                now,
                "access.granted",
                f"{grant.id}:{grant.opened}",
                reason,
                plans=plans,
                paid_until=until,
            )
            return
        self._effect(session, user, grant, "access.open", now)

    def _close(
        self, session: Session, user: User, grant: AccessGrant, now: datetime, reason: str
    ) -> None:
        grant.status, grant.close_at, grant.updated_at = CLOSED, None, now
        log(session, now, grant, user.id, "close", reason)
        if grant.kind == WEBHOOK:
            kind = "access.revoked" if reason == "revoke" else "access.ended"
            self._event(
                session,
                user,
                now,
                kind,
                f"{grant.id}:{grant.opened}",
                reason,
                paid_until=grant.paid_until,
            )
            return
        self._effect(session, user, grant, "access.close", now)

    def _effect(
        self,
        session: Session,
        user: User,
        grant: AccessGrant,
        kind: str,
        now: datetime,
        *,
        suffix: str = "",
        revoke: str | None = None,
    ) -> None:
        """The platform's part, carried by the outbox to the customer's account there
        (`revoke`: a link the new one replaces)."""
        writes.enqueue(
            session,
            chat_platform=Resource(grant.kind, grant.ref).platform,
            chat_id=grant.account,
            user_id=user.id,
            kind=kind,
            payload={
                "grant_id": grant.id,
                "resource": grant.kind,
                "ref": grant.ref,
                **({"revoke": revoke} if revoke else {}),
            },
            locale=user.locale or "en",
            dedupe_key=f"access:{grant.id}:{kind}:{grant.opened}{suffix}",
            created_at=now,
        )

    def _event(
        self,
        session: Session,
        user: User,
        now: datetime,
        kind: str,
        fact: str,
        reason: str,
        **data: object,
    ) -> None:
        """A Standard Webhooks event for the shop's service, one per fact."""
        key = f"{kind}:{user.id}:{fact}"
        writes.enqueue(
            session,
            chat_platform="webhook",
            chat_id="shop",
            user_id=user.id,
            kind="access.event",
            payload={
                "type": kind,
                "fact": key,
                "at": now.isoformat(),
                "data": plain(
                    {
                        "customer": {
                            "id": user.id,
                            "platform": user.platform,
                            "platform_user_id": user.platform_user_id,
                        },
                        "reason": reason,
                        **data,
                    }
                ),
            },
            locale=user.locale or "en",
            dedupe_key=f"access:event:{key}"[:200],
            created_at=now,
        )
