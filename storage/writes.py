"""The write side of payments as synchronous queries on one `Session`.

State changes (provider events, countdown steps) run as one synchronous unit of work through
`Database.run`: on SQLite in one worker-thread hop instead of several per statement, on
PostgreSQL through the async session's `run_sync`. Everything here happens inside the
caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from storage.models import Activation, AuditEntry, OutboxItem, Payment, PaymentEvent, User


def insert_ignore(session: Session, model: type, values: dict[str, Any]) -> bool:
    """INSERT unless a unique key already exists; True when a row was written."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    result = session.execute(insert(model).values(**values).on_conflict_do_nothing())
    return bool(result.rowcount)  # type: ignore[attr-defined]


def plan_end_of_owner(now: datetime) -> Any:
    """End of the owner's active activation of the payment's plan (a renewal starts there)."""
    return (
        select(func.max(Activation.period_end))
        .where(
            Activation.user_id == Payment.user_id,
            Activation.plan == Payment.plan,
            Activation.revoked_at.is_(None),
            Activation.period_end > now,
        )
        .scalar_subquery()
    )


def lock_customer(session: Session, user_id: int) -> None:
    """Hold the customer's row until the transaction ends: the first lock every decision about
    a customer's money or periods takes (lock order: customer, parent payment, payment).

    On PostgreSQL a row lock; on SQLite a no-op, as its writers already queue (one process's
    write lock, and `BEGIN IMMEDIATE` between processes: see `storage.db`).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(User.id).where(User.id == user_id).with_for_update())


def owner_of_event(
    session: Session, provider: str, provider_payment_id: str, parent_payment_id: str | None
) -> tuple[int, int | None] | None:
    """Whose payment an event is about and the id of the parent payment it rolls up into, if
    any (a new top-up's parent is the one the event names), read without locks: the caller
    locks in the fixed order, customer first (`lock_customer`), then the parent."""
    row = session.execute(
        select(Payment.user_id, Payment.parent_payment_id).where(
            Payment.provider == provider, Payment.provider_payment_id == provider_payment_id
        )
    ).first()
    if row is not None:
        return row[0], row[1]
    if not parent_payment_id:
        return None
    row = session.execute(
        select(Payment.user_id, Payment.id).where(
            Payment.provider == provider, Payment.provider_payment_id == parent_payment_id
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


def payment_for_event(
    session: Session, provider: str, provider_payment_id: str, now: datetime, *, lock: bool
) -> tuple[Payment | None, str | None, datetime | None]:
    """The payment an event is about, its owner's locale and current end of the same plan
    (read afresh: the caller holds the customer's lock, see `lock_customer`)."""
    query = (
        select(Payment, User.locale, plan_end_of_owner(now))
        .join(User, User.id == Payment.user_id)
        .where(Payment.provider == provider, Payment.provider_payment_id == provider_payment_id)
        .execution_options(populate_existing=True)
    )
    if lock:
        query = query.with_for_update(of=Payment)
    row = session.execute(query).first()
    return (row[0], row[1], row[2]) if row else (None, None, None)


def owner_facts(
    session: Session, payment: Payment, now: datetime
) -> tuple[str | None, datetime | None]:
    """The owner's locale and current end of the same plan (see `payment_for_event`)."""
    row = session.execute(
        select(User.locale, plan_end_of_owner(now))
        .select_from(Payment)
        .join(User, User.id == Payment.user_id)
        .where(Payment.id == payment.id)
    ).first()
    return (row[0], row[1]) if row else (None, None)


def payment_by_provider_id(
    session: Session, provider: str, provider_payment_id: str, *, lock: bool
) -> Payment | None:
    query = select(Payment).where(
        Payment.provider == provider, Payment.provider_payment_id == provider_payment_id
    )
    if lock:
        query = query.with_for_update()
    return session.scalars(query.execution_options(populate_existing=True)).first()


def lock_payment(session: Session, payment_id: int) -> Payment | None:
    """A payment read afresh and held until the transaction ends (PostgreSQL)."""
    query = select(Payment).where(Payment.id == payment_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalars(query.execution_options(populate_existing=True)).first()


def claim_due_payments(
    session: Session, ids: Sequence[int], now: datetime, *, skip_locked: bool
) -> Sequence[Payment]:
    """Lock the due payments among `ids` (in id order); those another worker holds or that
    are no longer due are left out."""
    query = (
        select(Payment)
        .where(Payment.id.in_(list(ids)), Payment.next_check_at <= now)
        .order_by(Payment.id)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    return session.scalars(query).all()


def children(session: Session, parent_id: int) -> Sequence[Payment]:
    query = select(Payment).where(Payment.parent_payment_id == parent_id).order_by(Payment.id)
    return session.scalars(query.execution_options(populate_existing=True)).all()


def compare_and_set_status(session: Session, old: Payment, values: dict[str, Any]) -> bool:
    """Move a payment only if nobody changed what the move was decided from since we read it:
    its status and rank, and the money it had (its own and its top-ups')."""
    result = session.execute(
        update(Payment)
        .where(
            Payment.id == old.id,
            Payment.status_rank == old.status_rank,
            Payment.status == old.status,
            Payment.actually_paid == old.actually_paid,
            Payment.topup_paid == old.topup_paid,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def record_event(session: Session, **values: Any) -> bool:
    return insert_ignore(session, PaymentEvent, values)


def mark_event(session: Session, dedupe_key: str, applied: bool) -> None:
    session.execute(
        update(PaymentEvent).where(PaymentEvent.dedupe_key == dedupe_key).values(applied=applied)
    )


def add_activation(session: Session, **values: Any) -> bool:
    return insert_ignore(session, Activation, values)


def claim_due_activation(
    session: Session, activation_id: int, now: datetime, *, skip_locked: bool
) -> Activation | None:
    """Lock one activation whose notice is due; None if another worker holds it or it is no
    longer due."""
    query = select(Activation).where(
        Activation.id == activation_id, Activation.next_notice_at <= now
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    return session.scalars(query).first()


def covering_activation_exists(
    session: Session, activation: Activation, better_plans: Sequence[str]
) -> bool:
    """Whether the same user holds another non-revoked activation that carries this one's
    notices: the same plan ending later (a renewal), or a better plan ending no earlier (an
    upgrade)."""
    query = select(Activation.id).where(
        Activation.user_id == activation.user_id,
        Activation.revoked_at.is_(None),
        Activation.id != activation.id,
        or_(
            and_(
                Activation.plan == activation.plan,
                Activation.period_end > activation.period_end,
            ),
            and_(
                Activation.plan.in_(list(better_plans)),
                Activation.period_end >= activation.period_end,
            ),
        ),
    )
    return session.scalars(query.limit(1)).first() is not None


def activation_owner(session: Session, activation: Activation) -> tuple[User, str | None]:
    """The activation's user and the coin of the payment that activated it (None for a grant
    or a payment gone)."""
    row = session.execute(
        select(User, Payment.pay_currency)
        .select_from(Activation)
        .join(User, User.id == Activation.user_id)
        .outerjoin(Payment, Payment.id == Activation.payment_id)
        .where(Activation.id == activation.id)
    ).one()
    return row[0], row[1]


def push_notice(session: Session, activation_id: int, at: datetime) -> None:
    session.execute(
        update(Activation).where(Activation.id == activation_id).values(next_notice_at=at)
    )


def enqueue(session: Session, **values: Any) -> bool:
    """Queue a notification once: a second row with the same dedupe key is ignored."""
    values.setdefault("status", "pending")
    values.setdefault("attempts", 0)
    values.setdefault("next_attempt_at", values["created_at"])
    return insert_ignore(session, OutboxItem, values)


def claim_outbox(
    session: Session,
    now: datetime,
    limit: int,
    token: str,
    lease_until: datetime,
    *,
    platforms: Sequence[str],
    skip_locked: bool,
    chats: Mapping[str, Sequence[str]] | None = None,
) -> list[OutboxItem]:
    """Claim up to `limit` due notifications for these platforms, in due order: write
    `token` on them, count an attempt, and lease them until `lease_until`. A platform named
    in `chats` is claimed only for those chat ids (a console delivers only to its own user;
    another console on the same database takes the rest). On PostgreSQL the rows other
    relays are claiming are skipped (`SKIP LOCKED`); the UPDATE takes only rows still due, so
    two relays never claim one row on SQLite either."""
    chats = chats or {}
    found: list[tuple[datetime, int]] = []
    for platform in dict.fromkeys(platforms):  # one indexed range per platform, in due order
        due = (
            select(OutboxItem.next_attempt_at, OutboxItem.id)
            .where(
                OutboxItem.status == "pending",
                OutboxItem.chat_platform == platform,
                OutboxItem.next_attempt_at <= now,
            )
            .order_by(OutboxItem.next_attempt_at, OutboxItem.id)
            .limit(limit)
        )
        if platform in chats:
            due = due.where(OutboxItem.chat_id.in_(list(chats[platform])))
        if skip_locked:
            due = due.with_for_update(skip_locked=True)
        found += [(at, i) for at, i in session.execute(due).all()]
    ids = [i for _at, i in sorted(found)[:limit]]  # the rows locked beyond it: until commit
    if not ids:
        return []
    claimed = session.scalars(
        update(OutboxItem)
        .where(
            OutboxItem.id.in_(ids),
            OutboxItem.status == "pending",
            OutboxItem.next_attempt_at <= now,
        )
        .values(claim_token=token, attempts=OutboxItem.attempts + 1, next_attempt_at=lease_until)
        .returning(OutboxItem)
        .execution_options(synchronize_session=False)
    ).all()
    rows = {row.id: row for row in claimed}
    return [rows[i] for i in ids if i in rows]


def renew_outbox_lease(
    session: Session, ids: Sequence[int], token: str, lease_until: datetime
) -> set[int]:
    """Extend the lease of the claimed rows among `ids` that still carry `token`; returns
    their ids (the others are not ours any more)."""
    query = (
        update(OutboxItem)
        .where(OutboxItem.id.in_(list(ids)), OutboxItem.claim_token == token)
        .values(next_attempt_at=lease_until)
        .returning(OutboxItem.id)
        .execution_options(synchronize_session=False)
    )
    return set(session.scalars(query).all())


def settle_outbox(session: Session, ids: Sequence[int], token: str, **values: Any) -> set[int]:
    """Record what became of claimed rows and release them, only where `token` is still on
    them; returns those ids (the others belong to another relay now and are not changed)."""
    query = (
        update(OutboxItem)
        .where(OutboxItem.id.in_(list(ids)), OutboxItem.claim_token == token)
        .values(claim_token=None, **values)
        .returning(OutboxItem.id)
        .execution_options(synchronize_session=False)
    )
    return set(session.scalars(query).all())


def remember_cards(session: Session, cards: Sequence[tuple[int, str]]) -> None:
    """Keep the message refs of payment cards just posted: later notices edit them."""
    for payment_id, ref in cards:
        session.execute(
            update(Payment).where(Payment.id == payment_id).values(card_message_ref=ref)
        )


def audit(
    session: Session | AsyncSession,
    now: datetime,
    actor: str,
    action: str,
    subject: str = "",
    **detail: Any,
) -> None:
    session.add(AuditEntry(at=now, actor=actor, action=action, subject=subject, detail=detail))


def push_check(session: Session, payment_id: int, at: datetime) -> None:
    session.execute(update(Payment).where(Payment.id == payment_id).values(next_check_at=at))
