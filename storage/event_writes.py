"""The usual provider event (a payment that is no top-up moving forward) in few round trips.

An IPN used to cost eight round trips on PostgreSQL: BEGIN, the customer's lock, the payment
read, the event row, the compare-and-set, the activation, its notice, COMMIT; each one a
socket write and a trip through SQLAlchemy and asyncpg, which was most of a worker's CPU per
IPN. Here the same work is five, each statement keeping what the separate ones guaranteed:

- `event_payment`: the customer's row and then the payment's are held by one statement
  (`FOR UPDATE OF users, payments` locks them in that order: the lock order of DESIGN §7);
  only a payment without a parent is read this way (a top-up locks its parent in between,
  `tools.transitions` takes the longer way for it).
- `record_and_move`: the event row (unique dedupe key) and, only when it is new, the
  compare-and-set of the payment on everything the move was decided from, as two
  data-modifying CTEs of one statement; the same statement reads the owner's current end of
  the plan (a renewal starts there), after the locks are held, so no activation committed
  while this transaction waited for the customer is missed.
- `activate_and_enqueue`: the activation (unique per payment) and, only when it was written,
  the customer's notice, in one statement.

On SQLite (one writer at a time, the transaction holds the write lock from its BEGIN) each
is the plain statements in a row, through the same functions.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import ARRAY, Connection, any_, bindparam, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from storage import writes
from storage.driver_statements import on_driver
from storage.models import Activation, OutboxItem, Payment, PaymentEvent, User

_EVENT = PaymentEvent.__table__
_PAYMENT = Payment.__table__
_ACTIVATION = Activation.__table__
_OUTBOX = OutboxItem.__table__
_GUARD = ("id", "status_rank", "status", "actually_paid", "topup_paid")  # bound as was_*


def _postgres(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


def _connection(session: Session) -> Connection:
    """The session's connection, after a flush of what was added to the session."""
    if session.autoflush:
        session.flush()  # a no-op when nothing is pending
    return session.connection()


def _binds(table: Any, keys: tuple[str, ...], prefix: str) -> dict[str, Any]:
    return {key: bindparam(f"{prefix}{key}", type_=table.c[key].type) for key in keys}


def _prefixed(values: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {f"{prefix}{key}": value for key, value in values.items()}


@cache
def _defaults(table: Any) -> dict[str, Any]:
    """The columns' plain Python defaults, which an INSERT inside a CTE does not fill in."""
    return {c.key: c.default.arg for c in table.c if c.default is not None and c.default.is_scalar}


def _payments_with_locale(among: Any, lock: bool) -> Any:
    """The payments (no top-up) of a provider that `among` picks, each with its owner's
    locale; with `lock`, the customer's row and then the payment's locked."""
    query = (
        select(Payment, User.locale)
        .select_from(User)
        .join(Payment, Payment.user_id == User.id)
        .where(
            Payment.provider == bindparam("provider"),
            among,
            Payment.parent_payment_id.is_(None),
        )
        .execution_options(populate_existing=True)
    )
    return query.with_for_update(of=[User.__table__, Payment.__table__]) if lock else query


@cache
def _event_payment_statement(lock: bool) -> Any:
    among = Payment.provider_payment_id == bindparam("provider_payment_id")
    return _payments_with_locale(among, lock)


def event_payment(
    session: Session, provider: str, provider_payment_id: str
) -> tuple[Payment, str | None] | None:
    """The payment (no top-up) an event is about and its owner's locale, the customer's row
    and the payment's held (PostgreSQL) until the transaction ends; None when there is no
    such payment (unknown, or a top-up: see the module's docstring)."""
    connection = _connection(session)
    row = session.execute(
        _event_payment_statement(_postgres(connection)),
        {"provider": provider, "provider_payment_id": provider_payment_id},
    ).first()
    return (row[0], row[1]) if row else None


@cache
def _event_payments_statement(postgres: bool) -> Any:
    ids = Payment.provider_payment_id
    if postgres:  # one array parameter: one prepared statement whatever the batch's size
        among = ids == any_(bindparam("ids", type_=ARRAY(ids.type)))
    else:
        among = ids.in_(bindparam("ids", expanding=True))
    return _payments_with_locale(among, postgres).order_by(User.id, Payment.id)


def event_payments(
    session: Session, provider: str, provider_payment_ids: list[str]
) -> dict[str, tuple[Payment, str | None]]:
    """`event_payment` for the events of one batch (`tools.event_batches`): each payment
    (no top-up) by its provider id, with its owner's locale. On PostgreSQL the rows are locked
    by one statement in the order customer id, payment id (the sort comes before the lock), so
    every batch takes its locks in one global order, which the one-payment transactions
    (customer, then payment) keep as well: two batches never wait for each other in a ring."""
    connection = _connection(session)
    rows = session.execute(
        _event_payments_statement(_postgres(connection)),
        {"provider": provider, "ids": sorted(set(provider_payment_ids))},
    ).all()
    return {row[0].provider_payment_id: (row[0], row[1]) for row in rows}


def _plan_end(user_id: Any, plan: Any, now: Any) -> Any:
    """The end of the customer's active activation of the plan (see `writes.plan_end_of_owner`)."""
    return (
        select(func.max(Activation.period_end))
        .where(
            Activation.user_id == user_id,
            Activation.plan == plan,
            Activation.revoked_at.is_(None),
            Activation.period_end > now,
        )
        .scalar_subquery()
    )


def _plan_end_params() -> tuple[Any, Any, Any]:
    return (
        bindparam("owner_id", type_=_ACTIVATION.c.user_id.type),
        bindparam("owner_plan", type_=_ACTIVATION.c.plan.type),
        bindparam("owner_now", type_=_ACTIVATION.c.period_end.type),
    )


@cache
def _plan_end_statement() -> Any:
    return select(_plan_end(*_plan_end_params()))


@cache
def _record_and_move_statement(event_keys: tuple[str, ...], moved_keys: tuple[str, ...]) -> Any:
    event = (
        insert(_EVENT)
        .values(_binds(_EVENT, event_keys, "ev_"))
        .on_conflict_do_nothing()
        .returning(_EVENT.c.id)
        .cte("recorded")
    )
    c = _PAYMENT.c
    move = (
        update(_PAYMENT)
        .where(
            *(c[key] == bindparam(f"was_{key}", type_=c[key].type) for key in _GUARD),
            exists(select(event.c.id)),
        )
        .values(_binds(_PAYMENT, moved_keys, "set_"))
        .returning(c.id)
        .cte("moved")
    )
    return select(
        select(func.count()).select_from(event).scalar_subquery(),
        select(func.count()).select_from(move).scalar_subquery(),
        _plan_end(*_plan_end_params()),
    )


def record_and_move(
    session: Session,
    event: dict[str, Any],
    payment: Payment,
    values: dict[str, Any],
    now: datetime,
) -> tuple[bool, bool, datetime | None]:
    """Record `event` (a `payment_events` row) unless its dedupe key is known, and only then
    move `payment` by compare-and-set to `values` (see `writes.compare_and_set_status`).
    Returns (recorded, moved, the owner's current end of the payment's plan). The caller
    holds the customer's lock (`event_payment`), so that end is final for this
    transaction."""
    connection = _connection(session)
    owner = {"owner_id": payment.user_id, "owner_plan": payment.plan, "owner_now": now}
    if not _postgres(connection):
        if not writes.record_event(session, **event):
            return False, False, None
        if not writes.compare_and_set_status(session, payment, values):
            return True, False, None
        end = connection.execute(_plan_end_statement(), owner).scalar()
        return True, True, end
    event = _defaults(_EVENT) | event
    statement = _record_and_move_statement(tuple(event), tuple(values))
    guard = {f"was_{key}": getattr(payment, key) for key in _GUARD}
    params = {**_prefixed(event, "ev_"), **_prefixed(values, "set_"), **guard, **owner}
    recorded, moved, end = on_driver(statement, connection.dialect).one(connection, params)
    return bool(recorded), bool(moved), end


@cache
def _activate_and_enqueue_statement(
    activation_keys: tuple[str, ...], notice_keys: tuple[str, ...]
) -> Any:
    activation = (
        insert(_ACTIVATION)
        .values(_binds(_ACTIVATION, activation_keys, "act_"))
        .on_conflict_do_nothing()
        .returning(_ACTIVATION.c.id)
        .cte("activated")
    )
    notice_values = select(*_binds(_OUTBOX, notice_keys, "ob_").values()).where(
        exists(select(activation.c.id))
    )
    notice = (
        insert(_OUTBOX)
        .from_select(list(notice_keys), notice_values)
        .on_conflict_do_nothing()
        .returning(_OUTBOX.c.id)
        .cte("told")
    )
    return select(
        select(func.count()).select_from(activation).scalar_subquery(),
        select(func.count()).select_from(notice).scalar_subquery(),
    )


def activate_and_enqueue(
    session: Session, activation: dict[str, Any], notice: dict[str, Any]
) -> bool:
    """Insert the activation (at most one per payment) and, only when it was written, queue
    `notice` (an outbox row, once per dedupe key: see `writes.enqueue`). True when the
    activation was written."""
    connection = _connection(session)
    if not _postgres(connection):
        if not writes.add_activation(session, **activation):
            return False
        writes.enqueue(session, **notice)
        return True
    activation = _defaults(_ACTIVATION) | activation
    notice = _defaults(_OUTBOX) | {"next_attempt_at": notice["created_at"]} | notice
    statement = _activate_and_enqueue_statement(tuple(activation), tuple(notice))
    params = {**_prefixed(activation, "act_"), **_prefixed(notice, "ob_")}
    activated, _told = on_driver(statement, connection.dialect).one(connection, params)
    return bool(activated)
