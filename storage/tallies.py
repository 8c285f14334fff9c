"""The payment tallies the overview and `/admin stats` read (table `payment_tallies`, kept by
triggers on `payments`, migration 0012): what the purchases add per quarter hour, exact.

Reading sums every row of the period in one statement (one snapshot), folded or not, so a
fold running beside it changes nothing it sees. Folding merges rows into one per key in one
transaction: the rows it read are deleted and their sums inserted. On PostgreSQL it takes
its rows with `FOR UPDATE SKIP LOCKED`, so two folders never read the same row (two rows
left for one key still sum right); on SQLite writers take turns. Amounts are summed as
`Decimal` in Python (SQLite keeps money as text).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import PaymentTally

FOLD_AT_ONCE = 5_000  # rows merged per transaction (a short hold of the write lock)
KEY = (
    "kind",
    "slot",
    "status",
    "plan",
    "coin",
    "price_currency",
    "price_amount",
    "outcome_currency",
    "fee_currency",
)
AMOUNTS = ("paid", "outcome", "fee_deposit", "fee_withdrawal", "fee_service")
SLOT = 900  # seconds: every time zone's midnight (UTC+5:45 included) starts a quarter hour


@dataclass
class Tally:
    n: int = 0
    amounts: list[Decimal] = field(default_factory=lambda: [Decimal(0)] * len(AMOUNTS))

    def add(self, sign: int, n: int, amounts: Iterable[Decimal | None]) -> None:
        self.n += sign * n
        for i, value in enumerate(amounts):
            if value is not None:
                self.amounts[i] += sign * value

    @property
    def empty(self) -> bool:
        return self.n == 0 and not any(self.amounts)

    def amount(self, name: str) -> Decimal:
        return self.amounts[AMOUNTS.index(name)]


def _columns() -> list[Any]:
    table = PaymentTally.__table__.c
    return [table.sign, table.n, *(table[k] for k in KEY), *(table[a] for a in AMOUNTS)]


def _merge(rows: Iterable[Sequence[Any]], into: dict[tuple, Tally]) -> None:
    width = len(KEY)
    for sign, n, *rest in rows:
        key = tuple(rest[:width])
        into.setdefault(key, Tally()).add(sign, n, rest[width:])


async def totals(session: AsyncSession, since_slot: int | None) -> dict[tuple, Tally]:
    """Every key's tally from `since_slot` on (all with None), keyed like `KEY`."""
    query = select(*_columns())
    if since_slot is not None:
        query = query.where(PaymentTally.slot >= since_slot)
    found: dict[tuple, Tally] = {}
    _merge((await session.execute(query)).all(), found)
    return {key: tally for key, tally in found.items() if not tally.empty}


async def fold(session: AsyncSession, limit: int = FOLD_AT_ONCE) -> int:
    """Merge up to `limit` new rows (and the folded rows of their quarter hours) into one row
    per key, inside the caller's transaction; returns how many new rows were merged."""
    lock = session.bind.dialect.name != "sqlite"
    new = select(PaymentTally.id, PaymentTally.slot, *_columns()).where(PaymentTally.folded == 0)
    new = new.order_by(PaymentTally.id).limit(limit)
    if lock:
        new = new.with_for_update(skip_locked=True)
    fresh = (await session.execute(new)).all()
    if not fresh:
        return 0
    slots = {row[1] for row in fresh}
    old = select(PaymentTally.id, PaymentTally.slot, *_columns()).where(
        PaymentTally.folded == 1, PaymentTally.slot >= min(slots), PaymentTally.slot <= max(slots)
    )
    if lock:
        old = old.with_for_update(skip_locked=True)
    earlier = [row for row in (await session.execute(old)).all() if row[1] in slots]
    merged: dict[tuple, Tally] = {}
    _merge((row[2:] for row in [*earlier, *fresh]), merged)
    ids = [row[0] for row in [*earlier, *fresh]]
    for first in range(0, len(ids), 1000):
        await session.execute(
            delete(PaymentTally).where(PaymentTally.id.in_(ids[first : first + 1000]))
        )
    rows = [
        {
            "sign": 1,
            "folded": 1,
            "n": t.n,
            **dict(zip(KEY, key, strict=True)),
            **dict(zip(AMOUNTS, t.amounts, strict=True)),
        }
        for key, t in merged.items()
        if not t.empty
    ]
    for first in range(0, len(rows), 1000):
        await session.execute(insert(PaymentTally), rows[first : first + 1000])
    return len(fresh)


async def fold_all(db: Database, now: datetime | None = None) -> int:
    """Fold everything new, `FOLD_AT_ONCE` rows per transaction (a short hold of SQLite's
    write lock each); the scheduler's `tallies` job and every stats read run it."""
    merged = 0
    while True:
        async with db.transaction() as session:
            done = await fold(session)
        merged += done
        if done < FOLD_AT_ONCE:
            return merged


def slot_of(moment: datetime) -> int:
    """The quarter hour `moment` falls in (UTC epoch seconds)."""
    return int(moment.timestamp()) // SLOT * SLOT
