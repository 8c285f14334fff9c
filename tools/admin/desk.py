"""The operator's desk: one payment's story, a user's facts, manual grants and revocations,
resending a notification, reconciling with the provider. Every change is audited with the
operator as actor; customers are told through the outbox like any other notification.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from storage import reports, repos, writes
from storage.db import Database
from storage.models import (
    AccessGrant,
    AccessLogEntry,
    Activation,
    AttentionSettled,
    AuditEntry,
    OutboxItem,
    Payment,
    PaymentEvent,
    User,
)
from tools.catalog import Catalog
from tools.clock import Clock
from tools.errors import ProviderError, ShopError
from tools.linking import AccountLinks
from tools.money import jsonable
from tools.providers.base import ProviderEvent
from tools.states import OPEN, Status
from tools.transitions import PaymentEvents

MAX_GRANT_DAYS = 3650
RECONCILE_LIMIT = 500  # payments read from the provider per run
RECONCILE_AT_ONCE = 4  # concurrent provider reads
MATCHES_SHOWN = 10  # users listed when a name is ambiguous
ACCESS_LOG_SHOWN = 20  # access changes shown by `access USER`


class AdminError(Exception):
    """An operator command that cannot be done. `str()` says why in English (the chat's and
    the terminal's operator answers); `code` names the situation and `params` fill the
    dashboard's translation of it (`bot.web.refusals`), as `ShopError` does for customers."""

    def __init__(self, code: str, message: str, **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Story:
    payment: Payment
    user: User
    activation: Activation | None
    children: list[Payment]
    events: list[PaymentEvent]
    notices: list[OutboxItem]
    audit: list[AuditEntry]


@dataclass(frozen=True)
class UserFacts:
    user: User
    activations: list[Activation]  # not ended yet (revoked ones too)
    open_payments: list[Payment]
    last_payments: list[Payment]
    grants: list[AccessGrant] = field(default_factory=list)  # what their plans open
    access_log: list[AccessLogEntry] = field(default_factory=list)  # newest first
    linked: list[User] = field(default_factory=list)  # other platforms' accounts linked to them


@dataclass(frozen=True)
class Mismatch:
    payment: Payment
    provider_status: str
    provider_paid: Decimal
    applicable: bool  # the normal transition code would take it (payments never go back)
    applied: bool = False


@dataclass
class Reconciliation:
    checked: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    unreadable: list[tuple[int, str]] = field(default_factory=list)
    truncated: bool = False

    @property
    def applicable(self) -> list[Mismatch]:
        return [m for m in self.mismatches if m.applicable]


def parse_ref(ref: str) -> tuple[str | None, str]:
    """`platform:id` or `@name` → (platform or None, key)."""
    if ref.startswith("@") and len(ref) > 1:
        return None, ref[1:]
    platform, sep, key = ref.partition(":")
    if sep and platform and key:
        return platform.lower(), key
    raise AdminError(
        "not_a_reference", f"not a user reference: {ref!r} (use platform:id or @name)", ref=ref
    )


def _agrees(payment: Payment, answer: ProviderEvent) -> bool:
    """Our record says what the provider says. A quote our countdown expired, or its customer
    cancelled, while the provider still waits for money (nothing paid) agrees: the deadline
    and the cancel are ours."""
    own = payment.actually_paid - payment.topup_paid
    if answer.actually_paid != own:
        return False
    return answer.status == payment.status or (
        payment.status in (Status.EXPIRED, Status.CANCELLED)
        and answer.status in (Status.WAITING, Status.EXPIRED)
    )


class OperatorDesk:
    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        events: PaymentEvents,
        clock: Clock,
        *,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.events = events
        self.provider = events.provider
        self.clock = clock
        self.on_change = on_change

    async def audited(self, actor: str, action: str, subject: str, **detail: object) -> None:
        """Record an operator action that changed nothing else (an export, a lookup)."""
        async with self.db.transaction() as session:
            writes.audit(session, self.clock(), actor, action, subject, **detail)

    # --- reading ------------------------------------------------------------------------

    async def story(self, payment_id: int) -> Story:
        async with self.db.sessions() as session:
            payment = await repos.payment_by_id(session, payment_id)
            if payment is None:
                raise AdminError("no_payment", f"no payment #{payment_id}", payment_id=payment_id)
            user = await session.get(User, payment.user_id)
            return Story(
                payment,
                user,
                await reports.activation_of_payment(session, payment.id),
                list(await reports.children_of(session, payment.id)),
                list(await reports.events_of(session, payment.id)),
                list(await reports.notices_of(session, payment.id)),
                await reports.audit_about(session, payment.id),
            )

    async def find_user(self, ref: str, *, account: bool = False) -> User:
        """The customer `ref` names (an account linked to a customer names that customer),
        or with `account` the platform account itself."""
        platform, key = parse_ref(ref)
        async with self.db.sessions() as session:
            found = list(await reports.users_by_ref(session, platform, key, MATCHES_SHOWN + 1))
        if not found:
            raise AdminError("no_user", f"no user {ref}", ref=ref)
        if len(found) > 1:
            names = ", ".join(f"{u.platform}:{u.platform_user_id}" for u in found[:MATCHES_SHOWN])
            more = " and more" if len(found) > MATCHES_SHOWN else ""
            raise AdminError(
                "several_users",
                f"{ref} is more than one user: {names}{more}; use platform:id",
                ref=ref,
                names=names + ("…" if more else ""),
            )
        if found[0].linked_to is not None and not account:
            async with self.db.sessions() as session:
                customer = await session.get(User, found[0].linked_to)
            return customer or found[0]
        return found[0]

    async def user_facts(self, ref: str, last: int = 5) -> UserFacts:
        user = await self.find_user(ref)
        now = self.clock()
        async with self.db.sessions() as session:
            return UserFacts(
                user,
                list(await reports.activations_of_user(session, user.id, now)),
                list(await repos.payments_with_status(session, user.id, [s.value for s in OPEN])),
                list(await repos.recent_payments(session, user.id, last)),
                list(
                    await session.scalars(
                        select(AccessGrant)
                        .where(AccessGrant.user_id == user.id)
                        .order_by(AccessGrant.id)
                    )
                ),
                list(
                    await session.scalars(
                        select(AccessLogEntry)
                        .where(AccessLogEntry.user_id == user.id)
                        .order_by(AccessLogEntry.id.desc())
                        .limit(ACCESS_LOG_SHOWN)
                    )
                ),
                list(await session.scalars(select(User).where(User.linked_to == user.id))),
            )

    async def unlink(self, actor: str, ref: str) -> int:
        """Undo a `/link`: the account `ref` stops acting for the customer it was linked to
        (what it held on its platform closes); returns that customer's id."""
        account = await self.find_user(ref, account=True)
        customer = await AccountLinks(self.db, self.events.access).unlink(
            actor, account, self.clock()
        )
        if customer is None:
            ref = f"{account.platform}:{account.platform_user_id}"
            raise AdminError("not_linked", f"{ref} is not linked", ref=ref)
        self.on_change()
        return customer

    async def retry_access(self, actor: str, ref: str) -> int:
        """Queue again the customer's access changes the relay gave up (dead rows: a join
        link, a role, an event for the shop's service); returns how many."""
        user = await self.find_user(ref)
        now = self.clock()
        async with self.db.transaction() as session:
            rows = list(
                await session.scalars(
                    select(OutboxItem).where(
                        OutboxItem.user_id == user.id,
                        OutboxItem.kind.like("access.%"),
                        OutboxItem.status == "dead",
                    )
                )
            )
            for row in rows:
                row.status, row.attempts, row.next_attempt_at = "pending", 0, now
                row.created_at = now  # a fresh schedule of retries
            writes.audit(
                session, now, actor, "admin.access_retry", f"user:{user.id}", rows=len(rows)
            )
        self.on_change()
        return len(rows)

    # --- entitlements -------------------------------------------------------------------

    async def grant(self, actor: str, ref: str, plan_code: str, days: int) -> Activation:
        """Give a plan for `days`, extending the user's current period of that plan."""
        try:
            plan = self.catalog.plan(plan_code)
        except ShopError:
            valid = ", ".join(self.catalog.plan_codes)
            raise AdminError(
                "unknown_plan",
                f"unknown plan {plan_code!r}: one of {valid}",
                plan=plan_code,
                valid=valid,
            ) from None
        if not 1 <= days <= MAX_GRANT_DAYS:
            raise AdminError(
                "bad_days", f"days must be between 1 and {MAX_GRANT_DAYS}", most=MAX_GRANT_DAYS
            )
        user = await self.find_user(ref)
        now = self.clock()
        async with self.db.transaction() as session:
            # periods are decided under the customer's lock, as payments' are (no overlap)
            await session.run_sync(lambda sync: writes.lock_customer(sync, user.id))
            current = [
                a.period_end
                for a in await repos.active_activations(session, user.id, now)
                if a.plan == plan.code
            ]
            start = max([now, *current])
            activation = Activation(
                payment_id=None,
                user_id=user.id,
                plan=plan.code,
                period_start=start,
                period_end=start + timedelta(days=days),
                source=f"operator:{actor}"[:40],
                created_at=now,
                next_notice_at=now,  # the renewal sweeper schedules its reminders
                notices_sent="",
            )
            session.add(activation)
            await session.flush()
            writes.audit(
                session,
                now,
                actor,
                "admin.grant",
                f"user:{user.id}",
                plan=plan.code,
                days=days,
                activation_id=activation.id,
                period_end=activation.period_end.isoformat(),
            )
            access = self.events.access
            if access is not None:
                await session.run_sync(
                    lambda sync: access.refresh(sync, user.id, now, f"grant:{actor}"[:60])
                )
            await self._tell(
                session,
                user,
                "plan.granted",
                f"grant:{activation.id}",
                plan=plan.code,
                plan_name=plan.name,
                period_end=activation.period_end.isoformat(),
            )
        self.on_change()
        return activation

    async def revoke(self, actor: str, ref: str, plan_code: str | None = None) -> list[Activation]:
        """End the user's current plans (or one plan) now; returns what was revoked."""
        user = await self.find_user(ref)
        now = self.clock()
        async with self.db.transaction() as session:
            await session.run_sync(lambda sync: writes.lock_customer(sync, user.id))
            running = await reports.activations_of_user(session, user.id, now)
            active = [
                a
                for a in running
                if a.revoked_at is None and (plan_code is None or a.plan == plan_code.lower())
            ]
            if not active:
                what = f"no {plan_code} plan" if plan_code else "no plan"
                ref = f"{user.platform}:{user.platform_user_id}"
                raise AdminError(
                    "nothing_to_revoke", f"{ref} has {what} to revoke", ref=ref, plan=plan_code
                )
            for activation in active:
                activation.revoked_at = now
                activation.revoked_by = actor[:100]
                activation.next_notice_at = None
            for other in running:  # a plan that went quiet for the revoked one speaks again
                if other.revoked_at is None and other.next_notice_at is None:
                    other.next_notice_at = now  # the renewal sweeper decides once more
            access = self.events.access
            if access is not None:  # what only the revoked plans opened closes at once
                await session.flush()
                await session.run_sync(
                    lambda sync: access.refresh(
                        sync, user.id, now, f"revoke:{actor}"[:60], revoking=True
                    )
                )
            writes.audit(
                session,
                now,
                actor,
                "admin.revoke",
                f"user:{user.id}",
                activations=[a.id for a in active],
                plans=sorted({a.plan for a in active}),
            )
            for plan in sorted({a.plan for a in active}):
                first = min(a.id for a in active if a.plan == plan)
                name = self.catalog.plan(plan).name if plan in self.catalog.plan_codes else plan
                await self._tell(
                    session, user, "plan.revoked", f"revoke:{first}", plan=plan, plan_name=name
                )
        self.on_change()
        return active

    async def _tell(self, session, user: User, kind: str, key: str, **payload: object) -> None:
        """A notice to the customer's private chat (the user id is the private chat)."""
        await session.run_sync(
            lambda sync: writes.enqueue(
                sync,
                chat_platform=user.platform,
                chat_id=user.platform_user_id,
                user_id=user.id,
                kind=kind,
                payload=jsonable(payload),
                locale=user.locale or "en",
                dedupe_key=key,
                created_at=self.clock(),
            )
        )

    # --- notifications ------------------------------------------------------------------

    async def resend(self, actor: str, payment_id: int) -> OutboxItem:
        """Queue the payment's last notification again (a warning only while it still
        applies); the original row keeps its own history."""
        now = self.clock()
        async with self.db.transaction() as session:
            payment = await repos.payment_by_id(session, payment_id)
            if payment is None:
                raise AdminError("no_payment", f"no payment #{payment_id}", payment_id=payment_id)
            notices = [n for n in await reports.notices_of(session, payment.id) if n.user_id]
            current = [
                n
                for n in notices
                if n.kind != "payment.warning" or payment.status == Status.WAITING
            ]
            if not current:
                raise AdminError(
                    "nothing_to_resend",
                    f"payment #{payment_id} has no notification to resend",
                    payment_id=payment_id,
                )
            last = current[-1]
            copy = OutboxItem(
                chat_platform=last.chat_platform,
                chat_id=last.chat_id,
                user_id=last.user_id,
                kind=last.kind,
                payload=dict(last.payload),
                locale=last.locale,
                dedupe_key=f"resend:{payment.id}:{last.id}:{now.isoformat()}",
                status="pending",
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
            session.add(copy)
            writes.audit(
                session,
                now,
                actor,
                "admin.resend",
                f"payment:{payment.id}",
                kind=last.kind,
                original=last.id,
                original_status=last.status,
            )
        self.on_change()
        return copy

    async def settle(self, actor: str, payment_id: int) -> None:
        """Mark a payment that needed a human as handled: it leaves "needs a human" until
        something about it happens later."""
        now = self.clock()
        async with self.db.transaction() as session:
            if await repos.payment_by_id(session, payment_id) is None:
                raise AdminError("no_payment", f"no payment #{payment_id}", payment_id=payment_id)
            mark = await session.get(AttentionSettled, payment_id)
            if mark is None:
                session.add(
                    AttentionSettled(payment_id=payment_id, settled_at=now, settled_by=actor)
                )
            else:
                mark.settled_at, mark.settled_by = now, actor
            writes.audit(session, now, actor, "admin.settle", f"payment:{payment_id}")

    # --- reconciliation -----------------------------------------------------------------

    async def reconcile(
        self,
        actor: str,
        since: datetime | None,
        *,
        apply: bool = False,
        payment_id: int | None = None,
    ) -> Reconciliation:
        """Compare our payments created since `since` (or the one payment `payment_id`) with
        the provider's records. With `apply`, every difference the normal transition code
        accepts is applied through it (recorded as an `operator` event); payments never move
        backwards."""
        now = self.clock()
        async with self.db.sessions() as session:
            if payment_id is not None:
                one = await session.get(Payment, payment_id)
                if one is None or one.provider != self.provider.name:
                    raise AdminError(
                        "no_payment", f"no payment #{payment_id}", payment_id=payment_id
                    )
                payments = [one]
            else:
                payments = list(
                    await reports.payments_since(
                        session, self.provider.name, since, RECONCILE_LIMIT + 1
                    )
                )
        report = Reconciliation(truncated=len(payments) > RECONCILE_LIMIT)
        payments = payments[:RECONCILE_LIMIT]
        gate = asyncio.Semaphore(RECONCILE_AT_ONCE)

        async def read(p: Payment):
            async with gate:
                try:
                    return p, await self.provider.get_payment(p.provider_payment_id)
                except ProviderError as exc:
                    return p, exc

        for payment, answer in await asyncio.gather(*(read(p) for p in payments)):
            report.checked += 1
            if isinstance(answer, ProviderError):
                reason = f"{answer} ({answer.detail})" if answer.detail else str(answer)
                report.unreadable.append((payment.id, reason))
                continue
            if _agrees(payment, answer):
                continue
            applicable = self.events.would_change(payment, answer, now)
            applied = False
            if apply and applicable:
                result = await self.events.apply_event(answer, "operator")
                applied = result.outcome == "applied"
            report.mismatches.append(
                Mismatch(payment, answer.status, answer.actually_paid, applicable, applied)
            )
        async with self.db.transaction() as session:
            writes.audit(
                session,
                now,
                actor,
                "admin.reconcile",
                f"payment {payment_id}"
                if payment_id is not None
                else since.isoformat()
                if since
                else "all",
                apply=apply,
                checked=report.checked,
                mismatches=[m.payment.id for m in report.mismatches],
                applied=[m.payment.id for m in report.mismatches if m.applied],
            )
        return report
