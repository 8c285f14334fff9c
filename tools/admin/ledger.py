"""The settlement ledger as CSV: one row per payment, money exact, streamed.

Rows are read in chunks and written as they come, so an export of 100,000 payments takes the
memory of one chunk. Amounts are written with every digit they have (`format(x, "f")`, never
through a float); times are ISO 8601 in UTC; flags are `yes`/`no`.

Text from outside (names, ids and codes a platform or provider gave us, plans and statuses) is
written so a spreadsheet never runs it: a text cell that starts with `=`, `+`, `-` or `@` (after
any leading spaces), a tab or a carriage return gets a leading `'` (OWASP's rule for CSV
injection). Numbers we format ourselves (ids, amounts, times, flags) are left as they are, so a
negative amount stays a number. Lines end in CRLF (RFC 4180), which also makes the writer quote
a carriage return inside a cell instead of letting it split the row.
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


FORMULA_START = ("=", "+", "-", "@")


def text(value: str | None) -> str:
    """A text cell a spreadsheet shows as text, never runs as a formula."""
    value = value or ""
    if value.startswith(("\t", "\r")) or value.lstrip().startswith(FORMULA_START):
        return "'" + value
    return value


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
        text(p.order_id),
        str(p.parent_payment_id or ""),
        str(p.retried_from_id or ""),
        text(p.provider),
        text(p.provider_payment_id),
        str(p.user_id),
        text(platform),
        text(platform_user_id),
        text(name),
        text(p.plan),
        money(p.price_amount),
        text(p.price_currency),
        text(p.pay_currency),
        money(p.pay_amount),
        money(p.actually_paid),
        money(p.outcome_amount),
        text(p.outcome_currency),
        text(p.fee_currency),
        money(p.fee_deposit),
        money(p.fee_withdrawal),
        money(p.fee_service),
        money(p.surplus),
        flag(p.late),
        flag(partial),
        flag(overpaid),
        text(p.status),
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
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    written = 0
    async for row in ledger(db, start, end):
        writer.writerow(row)
        written += 1
        if written % reports.STREAM_CHUNK == 0:
            progress(reports.STREAM_CHUNK)
    progress(written % reports.STREAM_CHUNK)
    return written
