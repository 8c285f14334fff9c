"""Read-only queries for the people who run the shop: stats, the settlement ledger, one
payment's story, user lookup. Money columns come back as `Decimal`; sums of money are left to
the caller (SQLite keeps money as text, so SQL `SUM` would round through a float there).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Select,
    bindparam,
    distinct,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Activation,
    AttentionSettled,
    AuditEntry,
    OutboxItem,
    Payment,
    PaymentEvent,
    User,
)
from storage.types import UTCDateTime

STREAM_CHUNK = 500  # rows fetched at a time by the streamed ledger


def as_date(value: Any) -> date:
    """`date(...)` comes back as text on SQLite and as a date on PostgreSQL."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _day(session: AsyncSession, column: Any, zone: str) -> Any:
    """The calendar day of `column` in time zone `zone` (an IANA name), as SQL."""
    if zone == "UTC":
        return func.date(column)
    if session.bind.dialect.name == "sqlite":
        return func.paybot_local_date(column, zone)
    return func.date(func.timezone(zone, func.timezone("UTC", column)))  # stored naive UTC


def _between(column: Any, start: datetime | None, end: datetime | None) -> list[Any]:
    where = []
    if start is not None:
        where.append(column >= start)
    if end is not None:
        where.append(column < end)
    return where


# --- stats -----------------------------------------------------------------------------------


async def created_per_day(
    session: AsyncSession, start: datetime | None, end: datetime | None, zone: str = "UTC"
) -> list[tuple[date, str, int]]:
    """(day in `zone`, status, count) of the purchases created in the period (top-ups not
    counted)."""
    day = _day(session, Payment.created_at, zone)
    query = (
        select(day, Payment.status, func.count())
        .where(Payment.parent_payment_id.is_(None), *_between(Payment.created_at, start, end))
        .group_by(day, Payment.status)
    )
    return [(as_date(d), s, n) for d, s, n in (await session.execute(query)).all()]


async def paid_per_day(
    session: AsyncSession, start: datetime | None, end: datetime | None, zone: str = "UTC"
) -> list[tuple[date, str, str, str, Any, int]]:
    """(day paid in `zone`, plan, coin, price currency, price, count) of the purchases finished
    in the period. Prices come from the catalog, so there are few distinct ones to multiply."""
    day = _day(session, Payment.paid_at, zone)
    query = (
        select(
            day,
            Payment.plan,
            Payment.pay_currency,
            Payment.price_currency,
            Payment.price_amount,
            func.count(),
        )
        .where(
            Payment.parent_payment_id.is_(None),
            Payment.status == "finished",
            *_between(Payment.paid_at, start, end),
        )
        .group_by(
            day, Payment.plan, Payment.pay_currency, Payment.price_currency, Payment.price_amount
        )
    )
    rows = (await session.execute(query)).all()
    return [(as_date(d), plan, coin, cur, price, n) for d, plan, coin, cur, price, n in rows]


async def settlement_totals(
    session: AsyncSession, start: datetime | None, end: datetime | None
) -> list[tuple[str, str | None, str | None, int, Decimal, Decimal, Decimal]]:
    """Per (coin, outcome currency, fee currency) of the purchases finished in the period
    (paid_at): count, sum actually paid, sum of outcome amounts, sum of all fees, exact.
    PostgreSQL sums its NUMERIC columns itself; SQLite keeps money as text, where `SUM` would
    go through a float, so there the rows are read in chunks and summed as `Decimal`."""
    finished = [
        Payment.parent_payment_id.is_(None),
        Payment.status == "finished",
        *_between(Payment.paid_at, start, end),
    ]
    keys = (Payment.pay_currency, Payment.outcome_currency, Payment.fee_currency)
    if session.bind.dialect.name != "sqlite":
        fees = (
            func.coalesce(Payment.fee_deposit, 0)
            + func.coalesce(Payment.fee_withdrawal, 0)
            + func.coalesce(Payment.fee_service, 0)
        )
        query = (
            select(
                *keys,
                func.count(),
                func.sum(Payment.actually_paid),
                func.coalesce(func.sum(Payment.outcome_amount), 0),
                func.sum(fees),
            )
            .where(*finished)
            .group_by(*keys)
        )
        return [
            (coin, out, fee, n, Decimal(paid), Decimal(outcome), Decimal(fee_sum))
            for coin, out, fee, n, paid, outcome, fee_sum in await session.execute(query)
        ]
    totals: dict[tuple, list] = {}
    after = 0
    while True:
        rows = (
            await session.execute(
                select(
                    Payment.id,
                    *keys,
                    Payment.actually_paid,
                    Payment.outcome_amount,
                    Payment.fee_deposit,
                    Payment.fee_withdrawal,
                    Payment.fee_service,
                )
                .where(*finished, Payment.id > after)
                .order_by(Payment.id)
                .limit(20 * STREAM_CHUNK)
            )
        ).all()
        if not rows:
            break
        for pid, coin, out, fee, paid, outcome, *fees in rows:
            t = totals.setdefault((coin, out, fee), [0, Decimal(0), Decimal(0), Decimal(0)])
            t[0] += 1
            t[1] += paid
            t[2] += outcome or 0
            t[3] += sum((f for f in fees if f is not None), Decimal(0))
            after = pid
    return [(*k, *v) for k, v in totals.items()]


def _seconds_between(session: AsyncSession, earlier: Any, later: Any) -> Any:
    """`later - earlier` in seconds, as SQL (a duration, not money)."""
    if session.bind.dialect.name == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * literal_column("86400")
    return func.extract("epoch", later - earlier)


# the partial indexes of migration 0012 are used only when a query names their conditions
# as written there (SQLite matches them term by term, with literals, not bound values)
FINISHED_PURCHASE = (
    Payment.parent_payment_id.is_(None),
    Payment.status == literal_column("'finished'"),
)
MAY_NEED_A_HUMAN = or_(
    Payment.late,
    Payment.surplus.is_not(None),
    Payment.status.in_(
        [
            literal_column(f"'{s}'")
            for s in ("failed", "refunded", "partially_paid", "confirming", "confirmed", "sending")
        ]
    ),
)


async def median_time_to_pay(
    session: AsyncSession, start: datetime | None, end: datetime | None, count: int | None = None
) -> timedelta | None:
    """The median time from creation to payment of the purchases finished in the period,
    worked out by the database: a count and one or two middle rows, however many payments,
    read in the order of the `ix_payments_time_to_pay` index (no sort). `count`: how many
    there are, when the caller knows (the tallies do)."""
    where = (*FINISHED_PURCHASE, *_between(Payment.paid_at, start, end))
    seconds = _seconds_between(session, Payment.created_at, Payment.paid_at)
    if session.bind.dialect.name == "sqlite":  # its planner may pick the status index instead
        return await _sqlite_median(session, start, end, count)
    if count is None:
        count = (
            await session.execute(select(func.count()).select_from(Payment).where(*where))
        ).scalar_one()
    if not count:
        return None
    middle = select(seconds).where(*where).order_by(seconds)
    middle = middle.offset((count - 1) // 2).limit(2 - count % 2)  # even: the middle two
    return _to_the_millisecond((await session.scalars(middle)).all())


def _to_the_millisecond(middle: Sequence[Any]) -> timedelta:
    # SQLite's julianday() is a double, good to ~50 microseconds
    values = [Decimal(str(v)) for v in middle]
    return timedelta(milliseconds=round(sum(values) * 1000 / len(values)))


async def _sqlite_median(
    session: AsyncSession, start: datetime | None, end: datetime | None, count: int | None
) -> timedelta | None:
    """`median_time_to_pay` on SQLite, told to walk `ix_payments_time_to_pay` (`INDEXED
    BY`, which SQLAlchemy does not write for SQLite)."""
    where = "parent_payment_id IS NULL AND status = 'finished'"
    where += " AND paid_at >= :start" if start is not None else ""
    where += " AND paid_at < :end" if end is not None else ""
    values = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
    types = [bindparam(k, type_=UTCDateTime()) for k in values]
    source = f"FROM payments INDEXED BY ix_payments_time_to_pay WHERE {where}"
    if count is None:
        count_query = text(f"SELECT count(*) {source}").bindparams(*types)
        count = (await session.execute(count_query, values)).scalar_one()
    if not count:
        return None
    seconds = "(julianday(paid_at) - julianday(created_at)) * 86400"
    middle = text(
        f"SELECT {seconds} {source} ORDER BY {seconds} LIMIT {2 - count % 2} "
        f"OFFSET {(count - 1) // 2}"
    ).bindparams(*types)
    return _to_the_millisecond((await session.execute(middle, values)).scalars().all())


async def subscribers_per_plan(session: AsyncSession, now: datetime) -> dict[str, int]:
    """How many people hold each plan right now."""
    query = (
        select(Activation.plan, func.count(distinct(Activation.user_id)))
        .where(
            Activation.revoked_at.is_(None),
            Activation.period_start <= now,
            Activation.period_end > now,
        )
        .group_by(Activation.plan)
    )
    return {plan: n for plan, n in (await session.execute(query)).all()}


async def attention_candidates(
    session: AsyncSession, since: datetime | None, now: datetime, limit: int
) -> Sequence[Payment]:
    """Purchases touched in the period that may need a human: late, overpaid, left partially
    paid, closed after money arrived, or still unconfirmed after their deadline. The caller
    judges the amounts (exact `Decimal`s)."""
    query = (
        select(Payment)
        .where(
            Payment.parent_payment_id.is_(None),
            MAY_NEED_A_HUMAN,  # ix_payments_attention: the few rows that may, not the period's
            *_between(Payment.updated_at, since, None),
            or_(
                Payment.late.is_(True),
                Payment.surplus.is_not(None),
                Payment.status.in_(["failed", "refunded"]),
                (Payment.status.in_(["partially_paid", "confirming", "confirmed", "sending"]))
                & (Payment.expires_at < now),
            ),
        )
        .order_by(Payment.updated_at.desc(), Payment.id.desc())
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def dead_notices(
    session: AsyncSession, since: datetime | None, limit: int
) -> Sequence[OutboxItem]:
    """Customer notifications that could not be delivered (newest first)."""
    query = (
        select(OutboxItem)
        .where(
            OutboxItem.status == "dead",
            OutboxItem.user_id.is_not(None),
            *_between(OutboxItem.created_at, since, None),
        )
        .order_by(OutboxItem.id.desc())
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def settled_marks(session: AsyncSession, ids: Sequence[int]) -> dict[int, datetime]:
    """When each of these payments was last marked as handled by an operator."""
    if not ids:
        return {}
    rows = await session.execute(
        select(AttentionSettled.payment_id, AttentionSettled.settled_at).where(
            AttentionSettled.payment_id.in_(list(ids))
        )
    )
    return {pid: at for pid, at in rows}


async def activated_payment_ids(session: AsyncSession, ids: Sequence[int]) -> set[int]:
    query = select(Activation.payment_id).where(Activation.payment_id.in_(list(ids)))
    return set((await session.scalars(query)).all())


# --- the settlement ledger -------------------------------------------------------------------


def ledger_query(start: datetime | None, end: datetime | None) -> Select[Any]:
    """One row per payment (top-ups included, with their parent), oldest first."""
    return (
        select(Payment, User.platform, User.platform_user_id, User.display_name)
        .join(User, User.id == Payment.user_id)
        .where(*_between(Payment.created_at, start, end))
        .order_by(Payment.id)
    )


async def count_ledger(session: AsyncSession, start: datetime | None, end: datetime | None) -> int:
    query = select(func.count()).select_from(Payment)
    query = query.where(*_between(Payment.created_at, start, end))
    return (await session.execute(query)).scalar_one()


async def ledger_rows(
    session: AsyncSession, start: datetime | None, end: datetime | None
) -> AsyncIterator[tuple[Payment, str, str, str]]:
    """The ledger streamed in chunks (a server-side cursor on PostgreSQL): memory stays flat
    however many payments there are (the session holds loaded rows only weakly)."""
    query = ledger_query(start, end).execution_options(yield_per=STREAM_CHUNK)
    result = await session.stream(query)
    async for chunk in result.partitions():
        for row in chunk:
            yield row[0], row[1], row[2], row[3]


# --- one payment's story, one user -----------------------------------------------------------


async def events_of(session: AsyncSession, payment_id: int) -> Sequence[PaymentEvent]:
    query = (
        select(PaymentEvent)
        .where(PaymentEvent.payment_id == payment_id)
        .order_by(PaymentEvent.received_at, PaymentEvent.id)
    )
    return (await session.scalars(query)).all()


async def notices_of(session: AsyncSession, payment_id: int) -> Sequence[OutboxItem]:
    """Every notification about the payment: to its owner and the operator alerts."""
    prefixes = [f"payment:{payment_id}:", f"resend:{payment_id}:"]
    query = (
        select(OutboxItem)
        .where(or_(*(OutboxItem.dedupe_key.startswith(p) for p in prefixes)))
        .order_by(OutboxItem.created_at, OutboxItem.id)
    )
    return (await session.scalars(query)).all()


async def audit_about(session: AsyncSession, payment_id: int) -> list[AuditEntry]:
    """Operator actions on the payment (subject `payment:ID`) and the alerts about it (their
    subject ends in the id, their detail names it)."""
    query = (
        select(AuditEntry)
        .where(
            or_(
                AuditEntry.subject == f"payment:{payment_id}",
                AuditEntry.subject.like(f"%:{payment_id}"),
                AuditEntry.subject.like(f"%:{payment_id}:%"),
            )
        )
        .order_by(AuditEntry.id)
    )
    rows = (await session.scalars(query)).all()
    return [
        a
        for a in rows
        if a.subject == f"payment:{payment_id}"
        or str(a.detail.get("payment_id")) == str(payment_id)
    ]


async def children_of(session: AsyncSession, payment_id: int) -> Sequence[Payment]:
    query = select(Payment).where(Payment.parent_payment_id == payment_id).order_by(Payment.id)
    return (await session.scalars(query)).all()


async def activation_of_payment(session: AsyncSession, payment_id: int) -> Activation | None:
    query = select(Activation).where(Activation.payment_id == payment_id)
    return (await session.scalars(query)).first()


async def users_by_ref(
    session: AsyncSession, platform: str | None, key: str, limit: int
) -> Sequence[User]:
    """Users by platform id, or (platform None) by display name, case-insensitively."""
    if platform is not None:
        query = select(User).where(User.platform == platform, User.platform_user_id == key)
    else:
        query = (
            select(User)
            .where(func.lower(User.display_name) == key.lower())
            .order_by(User.id)
            .limit(limit)
        )
    return (await session.scalars(query)).all()


async def activations_of_user(
    session: AsyncSession, user_id: int, now: datetime
) -> Sequence[Activation]:
    """The user's activations that have not ended yet (revoked ones included)."""
    query = (
        select(Activation)
        .where(Activation.user_id == user_id, Activation.period_end > now)
        .order_by(Activation.period_end)
    )
    return (await session.scalars(query)).all()


async def payments_since(
    session: AsyncSession, provider: str, since: datetime | None, limit: int
) -> Sequence[Payment]:
    """The provider's payments created since `since`, newest first (for reconciliation)."""
    query = (
        select(Payment)
        .where(Payment.provider == provider, *_between(Payment.created_at, since, None))
        .order_by(Payment.id.desc())
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def count_by_status(
    session: AsyncSession,
    model: type[Payment] | type[OutboxItem],
    statuses: Sequence[str],
    *,
    cap: int = 10_000,
) -> dict[str, int]:
    """How many rows have each of `statuses` (0 for none), counted up to `cap` (a count at the
    cap means at least that many): one bounded indexed range per status, so the cost is
    neither the whole table nor an unbounded backlog."""
    counts = {}
    for status in statuses:
        rows = select(literal(1)).where(model.status == status).limit(cap).subquery()
        query = select(func.count()).select_from(rows)
        counts[str(status)] = int((await session.execute(query)).scalar_one())
    return counts


async def payments_table(
    session: AsyncSession,
    *,
    status: str | None = None,
    coin: str | None = None,
    plan: str | None = None,
    customer: tuple[str | None, str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    updated_since: datetime | None = None,
    limit: int = 100,
) -> Sequence[tuple[Payment, User]]:
    """The dashboard's payments table: newest first (by id, the primary key), or, with
    `updated_since`, those changed since then (the `updated_at` index), each with its
    customer. `customer` is (platform, id) or (None, display name)."""
    query = select(Payment, User).join(User, User.id == Payment.user_id)
    if status:
        query = query.where(Payment.status == status)
    if coin:
        query = query.where(Payment.pay_currency == coin)
    if plan:
        query = query.where(Payment.plan == plan)
    if customer is not None:
        platform, key = customer
        if platform is None:
            who = func.lower(User.display_name) == key.lower()
        else:
            who = (User.platform == platform) & (User.platform_user_id == key)
        ids = (await session.scalars(select(User.id).where(who).limit(20))).all()
        query = query.where(Payment.user_id.in_(ids))  # the index on (user_id, created_at)
    query = query.where(*_between(Payment.created_at, start, end))
    if updated_since is not None:
        query = query.where(Payment.updated_at >= updated_since).order_by(Payment.updated_at)
    elif customer is not None:  # ix_payments_user_created serves the filter and the order
        query = query.order_by(Payment.user_id, Payment.created_at.desc(), Payment.id.desc())
    else:
        query = query.order_by(Payment.id.desc())
    return [(p, u) for p, u in await session.execute(query.limit(limit))]
