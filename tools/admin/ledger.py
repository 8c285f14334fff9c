"""The settlement ledger as CSV: one row per payment, money exact, streamed.

Rows are read in chunks and written as they come, so an export of 100,000 payments takes the
memory of one chunk. Amounts are written with every digit they have (`format(x, "f")`, never
through a float); times are ISO 8601 in UTC; flags are `yes`/`no`.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from decimal import Decimal
from typing import TextIO

from storage import reports
from storage.db import Database
from storage.models import Payment

COLUMNS = (
    "payment_id",
    "order_id",
    "parent_payment_id",
    "retried_from_id",
    "provider",
    "provider_payment_id",
    "user_id",
    "platform",
    "platform_user_id",
    "user_name",
    "plan",
    "price_amount",
    "price_currency",
    "pay_currency",
    "amount_asked",
    "actually_paid",
    "outcome_amount",
    "outcome_currency",
    "fee_currency",
    "fee_deposit",
    "fee_withdrawal",
    "fee_service",
    "surplus",
    "late",
    "partial",
    "overpaid",
    "status",
    "created_at",
    "expires_at",
    "paid_at",
    "updated_at",
)


def money(value: Decimal | None) -> str:
    return "" if value is None else format(value, "f")


def moment(value: datetime | None) -> str:
    return "" if value is None else value.isoformat()


def flag(value: bool) -> str:
    return "yes" if value else "no"


def ledger_row(p: Payment, platform: str, platform_user_id: str, name: str) -> list[str]:
    partial = Decimal(0) < p.actually_paid < p.pay_amount
    overpaid = bool(p.surplus) or p.actually_paid > p.pay_amount
    return [
        str(p.id),
        p.order_id,
        str(p.parent_payment_id or ""),
        str(p.retried_from_id or ""),
        p.provider,
        p.provider_payment_id,
        str(p.user_id),
        platform,
        platform_user_id,
        name,
        p.plan,
        money(p.price_amount),
        p.price_currency,
        p.pay_currency,
        money(p.pay_amount),
        money(p.actually_paid),
        money(p.outcome_amount),
        p.outcome_currency or "",
        p.fee_currency or "",
        money(p.fee_deposit),
        money(p.fee_withdrawal),
        money(p.fee_service),
        money(p.surplus),
        flag(p.late),
        flag(partial),
        flag(overpaid),
        p.status,
        moment(p.created_at),
        moment(p.expires_at),
        moment(p.paid_at),
        moment(p.updated_at),
    ]


async def ledger(
    db: Database, start: datetime | None, end: datetime | None
) -> AsyncIterator[list[str]]:
    async with db.sessions() as session:
        async for payment, platform, platform_user_id, name in reports.ledger_rows(
            session, start, end
        ):
            yield ledger_row(payment, platform, platform_user_id, name)


async def ledger_size(db: Database, start: datetime | None, end: datetime | None) -> int:
    async with db.sessions() as session:
        return await reports.count_ledger(session, start, end)


async def write_ledger(
    db: Database,
    out: TextIO,
    start: datetime | None,
    end: datetime | None,
    progress: Callable[[int], None] = lambda n: None,
) -> int:
    """Write the header and every row to `out`; returns the number of payments written.
    `progress(n)` is told after every `n` rows (for a progress bar)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    written = 0
    async for row in ledger(db, start, end):
        writer.writerow(row)
        written += 1
        if written % reports.STREAM_CHUNK == 0:
            progress(reports.STREAM_CHUNK)
    progress(written % reports.STREAM_CHUNK)
    return written
