"""The write side of payments as synchronous queries on one `Session`.

State changes (provider events, countdown steps) run as one synchronous unit of work through
`Database.run`: on SQLite in one worker-thread hop instead of several per statement, on
PostgreSQL through the async session's `run_sync`. Everything here happens inside the
caller's transaction.

The statements an IPN runs (the hot path: `owner_of_event`, `payment_for_event`, the
compare-and-set and the INSERT ... ON CONFLICT DO NOTHING rows) are built once with bound
parameters and executed as Core statements on the session's connection: building a statement
and its cache key on every call, and the ORM's bulk INSERT/UPDATE layer around a plain row
write, cost more worker CPU than the database round trip itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from storage.models import (
    PRIORITIES,
    Activation,
    AuditEntry,
    OutboxItem,
    Payment,
    PaymentEvent,
    User,
)


def _connection(session: Session) -> Connection:
    """The session's connection for a Core statement, after what `session.execute` would
    have flushed first (objects added to the session must be in the database before)."""
    if session.autoflush:
        session.flush()  # a no-op when nothing is pending
    return session.connection()


@cache
def _insert_ignore_statement(dialect: str, table: Table) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing()


def insert_ignore(session: Session, model: type, values: dict[str, Any]) -> bool:
    """INSERT unless a unique key already exists; True when a row was written. `values` are
    plain values (no SQL expressions): they are bound as parameters of one cached statement
    per table, and the columns' Python defaults fill in the rest."""
    connection = _connection(session)
    statement = _insert_ignore_statement(connection.dialect.name, model.__table__)  # type: ignore[attr-defined]
    return bool(connection.execute(statement, values).rowcount)


def plan_end_of_owner(now: Any) -> Any:
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


@cache
def _owner_statement(lock: bool) -> Any:
    """The customer and parent payment of the payment with this provider id; with `lock`,
    the customer's row is held (FOR UPDATE OF users) by the same statement."""
    payments, users = Payment.__table__, User.__table__
    query = (
        select(users.c.id, payments.c.parent_payment_id)
        .select_from(payments.join(users, users.c.id == payments.c.user_id))
        .where(
            payments.c.provider == bindparam("provider"),
            payments.c.provider_payment_id == bindparam("provider_payment_id"),
        )
    )
    return query.with_for_update(of=users) if lock else query


def owner_of_event(
    session: Session,
    provider: str,
    provider_payment_id: str,
    parent_payment_id: str | None,
    *,
    lock: bool = False,
) -> tuple[int, int | None] | None:
    """Whose payment an event is about and the id of the parent payment it rolls up into, if
    any (a new top-up's parent is the one the event names). Without `lock` read without
    locks: the caller locks in the fixed order, customer first (`lock_customer`), then the
    parent. With `lock` the customer is locked here (one round trip for the usual event)."""
    connection = _connection(session)
    postgres = connection.dialect.name == "postgresql"
    row = connection.execute(
        _owner_statement(lock and postgres),
        {"provider": provider, "provider_payment_id": provider_payment_id},
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
    if row is None:
        return None
    if lock:
        lock_customer(session, row[0])
    return row[0], row[1]


def payment_for_event(
    session: Session, provider: str, provider_payment_id: str, now: datetime, *, lock: bool
) -> tuple[Payment | None, str | None, datetime | None]:
    """The payment an event is about, its owner's locale and current end of the same plan
    (read afresh: the caller holds the customer's lock, see `lock_customer`)."""
    row = session.execute(
        _payment_for_event_statement(lock),
        {"provider": provider, "provider_payment_id": provider_payment_id, "now": now},
    ).first()
    return (row[0], row[1], row[2]) if row else (None, None, None)


@cache
def _payment_for_event_statement(lock: bool) -> Any:
    now = bindparam("now", type_=Activation.__table__.c.period_end.type)
    query = (
        select(Payment, User.locale, plan_end_of_owner(now))
        .join(User, User.id == Payment.user_id)
        .where(
            Payment.provider == bindparam("provider"),
            Payment.provider_payment_id == bindparam("provider_payment_id"),
        )
        .execution_options(populate_existing=True)
    )
    return query.with_for_update(of=Payment) if lock else query


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


def claim_due_rows(
    session: Session, ids: Sequence[int], now: datetime, *, skip_locked: bool
) -> Sequence[Any]:
    """`claim_due_payments` as plain rows, for a batch handled as a set: the columns a warning
    or an expiry is decided and told from, and the owner's locale (one query, no objects).
    Only the payments are locked, not their owners."""
    p = Payment.__table__.c
    query = (
        select(
            p.id,
            p.status,
            p.status_rank,
            p.expires_at,
            p.warnings_sent,
            p.actually_paid,
            p.topup_paid,
            p.parent_payment_id,
            p.chat_platform,
            p.chat_id,
            p.user_id,
            p.plan,
            p.pay_currency,
            User.locale,
        )
        .join(User, User.id == p.user_id)
        .where(p.id.in_(list(ids)), p.next_check_at <= now)
        .order_by(p.id)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True, of=Payment.__table__)
    return _connection(session).execute(query).all()


@cache
def _guarded_update(guard: tuple[str, ...], columns: tuple[str, ...]) -> Any:
    """UPDATE payments SET <columns> WHERE id = :pid AND <guard columns> = :was_<column>, for
    executemany (one statement, one round trip for the whole batch)."""
    table = Payment.__table__
    c = table.c
    where = [c.id == bindparam("pid", type_=c.id.type)]
    where += [c[name] == bindparam(f"was_{name}", type_=c[name].type) for name in guard]
    values = {name: bindparam(name, type_=c[name].type) for name in columns}
    return update(table).where(*where).values(values)


def update_guarded(
    session: Session, guard: tuple[str, ...], rows: Sequence[dict[str, Any]]
) -> None:
    """Write each row's new values (keys: `pid`, `was_<guard>`, the columns) only where the
    guard columns still hold what the decision was made from; all rows in one executemany.
    The batch holds its payments (`claim_due_rows`), so the guard is a second line."""
    if not rows:
        return
    columns = tuple(k for k in rows[0] if k != "pid" and not k.startswith("was_"))
    _connection(session).execute(_guarded_update(guard, columns), list(rows))


def enqueue_many(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """`enqueue` for many notices in one executemany; a dedupe key already queued is
    ignored."""
    if not rows:
        return
    connection = _connection(session)
    statement = _insert_ignore_statement(connection.dialect.name, OutboxItem.__table__)
    values = [
        {"status": "pending", "attempts": 0, "next_attempt_at": row["created_at"], **row}
        for row in rows
    ]
    connection.execute(statement, values)


def children(session: Session, parent_id: int) -> Sequence[Payment]:
    query = select(Payment).where(Payment.parent_payment_id == parent_id).order_by(Payment.id)
    return session.scalars(query.execution_options(populate_existing=True)).all()


@cache
def _compare_and_set_statement() -> Any:
    """UPDATE payments SET <the columns passed> WHERE nothing the move was decided from
    changed; the WHERE values are bound as `was_*` (no column has such a name)."""
    table = Payment.__table__
    c = table.c
    return update(table).where(
        c.id == bindparam("was_id", type_=c.id.type),
        c.status_rank == bindparam("was_status_rank", type_=c.status_rank.type),
        c.status == bindparam("was_status", type_=c.status.type),
        c.actually_paid == bindparam("was_actually_paid", type_=c.actually_paid.type),
        c.topup_paid == bindparam("was_topup_paid", type_=c.topup_paid.type),
    )


def compare_and_set_status(session: Session, old: Payment, values: dict[str, Any]) -> bool:
    """Move a payment only if nobody changed what the move was decided from since we read it:
    its status and rank, and the money it had (its own and its top-ups'). `values` are plain
    values keyed by column; the loaded `old` is not changed (the caller sets what was
    written)."""
    result = _connection(session).execute(
        _compare_and_set_statement(),
        {
            **values,
            "was_id": old.id,
            "was_status_rank": old.status_rank,
            "was_status": old.status,
            "was_actually_paid": old.actually_paid,
            "was_topup_paid": old.topup_paid,
        },
    )
    return result.rowcount == 1


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
    """Claim up to `limit` due notifications for these platforms, urgent ones first, each
    priority in due order: write `token` on them, count an attempt, and lease them until
    `lease_until`. A platform named
    in `chats` is claimed only for those chat ids (a console delivers only to its own user;
    another console on the same database takes the rest). On PostgreSQL the rows other
    relays are claiming are skipped (`SKIP LOCKED`); the UPDATE takes only rows still due, so
    two relays never claim one row on SQLite either."""
    chats = chats or {}
    found: list[tuple[int, datetime, int]] = []
    for platform in dict.fromkeys(platforms):
        for priority in PRIORITIES:  # one indexed range per (platform, priority), due order
            room = limit - sum(1 for p, _at, _i in found if p < priority)
            if room <= 0:  # more urgent rows fill the batch
                break
            due = (
                select(OutboxItem.next_attempt_at, OutboxItem.id)
                .where(
                    OutboxItem.status == "pending",
                    OutboxItem.chat_platform == platform,
                    OutboxItem.priority == priority,
                    OutboxItem.next_attempt_at <= now,
                )
                .order_by(OutboxItem.next_attempt_at, OutboxItem.id)
                .limit(room)
            )
            if platform in chats:
                due = due.where(OutboxItem.chat_id.in_(list(chats[platform])))
            if skip_locked:
                due = due.with_for_update(skip_locked=True)
            found += [(priority, at, i) for at, i in session.execute(due).all()]
    ids = [i for _p, _at, i in sorted(found)[:limit]]  # the rows locked beyond: until commit
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


@cache
def _remember_card_statement() -> Any:
    payments = Payment.__table__
    return (
        update(payments)
        .where(payments.c.id == bindparam("payment"), payments.c.user_id == bindparam("owner"))
        .values(card_message_ref=bindparam("ref"))
    )


def remember_card(conn: Connection, payment_id: int, user_id: int, ref: str) -> None:
    """The customer's card for their payment was just posted as `ref` (button presses on it
    edit it): one cached UPDATE, nothing if the payment is not theirs (`Database.write`)."""
    conn.execute(_remember_card_statement(), {"payment": payment_id, "owner": user_id, "ref": ref})


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
