"""Shop stats for a period: payments by status, conversion, revenue per plan and coin (exact
`Decimal`s in the price currency), median time to pay, subscribers, and what needs a human.

Periods are whole days up to now in the operators' time zone (`[operators] timezone`, UTC by
default): `today`, `7d` (today and the six days before), `30d`, or `all`. Payments count in the
period (and on the day) they were created in; revenue counts when it was paid.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from storage import reports, tallies
from storage.db import Database
from tools.states import Status

PERIODS = {"today": 1, "7d": 7, "30d": 30, "all": None}
ATTENTION_LIMIT = 50


class PeriodError(ValueError):
    """Not a period name or date; the message says what is accepted."""


@dataclass(frozen=True)
class Period:
    name: str
    start: datetime | None  # None: since the first payment
    end: datetime
    zone: str = "UTC"  # whose days these are

    def days(self, first: date | None) -> list[date]:
        """Every day of the period (from the first day with data when it has no start)."""
        begin = self.local(self.start).date() if self.start else first
        if begin is None:
            return []
        last = self.local(self.end).date()
        return [begin + timedelta(days=n) for n in range((last - begin).days + 1)]

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(ZoneInfo(self.zone))


def midnight(day: date, zone: str) -> datetime:
    """The first moment of `day` in `zone`, in UTC (zoneinfo settles days that begin in a
    daylight-saving gap)."""
    local = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone))
    return local.astimezone(UTC)


def period(name: str, now: datetime, zone: str = "UTC") -> Period:
    name = name.lower()
    if name not in PERIODS:
        raise PeriodError(f"unknown period {name!r}: use one of {', '.join(PERIODS)}")
    days = PERIODS[name]
    if days is None:
        return Period(name, None, now, zone)
    today = now.astimezone(ZoneInfo(zone)).date()
    return Period(name, midnight(today - timedelta(days=days - 1), zone), now, zone)


def since(text: str, now: datetime, zone: str = "UTC") -> datetime | None:
    """A period name (its start) or a date (`2026-11-01`, its midnight in `zone`)."""
    if text.lower() in PERIODS:
        return period(text, now, zone).start
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise PeriodError(
            f"not a date or period: {text!r} (use YYYY-MM-DD or {', '.join(PERIODS)})"
        ) from None
    return midnight(day, zone)


@dataclass(frozen=True)
class Day:
    day: date
    revenue: Decimal
    created: Counter[str]


@dataclass(frozen=True)
class Attention:
    payment_id: int
    user_id: int
    status: str
    reasons: tuple[str, ...]
    at: datetime


@dataclass
class Settlement:
    """What the provider settled for one coin: received from customers, its fees, and what
    reached the shop (outcome), each exact. Fees or outcomes in another currency than the
    coin are not added up (`other_currency` counts them)."""

    received: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    net: Decimal = Decimal(0)
    payments: int = 0
    other_currency: int = 0


@dataclass(frozen=True)
class Stats:
    period: Period
    currency: str
    by_status: Counter[str]
    revenue_by_plan: dict[str, Decimal]
    revenue_by_coin: dict[str, Decimal]
    paid: int  # purchases finished in the period
    median_to_pay: timedelta | None
    subscribers: dict[str, int]
    days: list[Day]
    attention: list[Attention] = field(default_factory=list)
    settlement: dict[str, Settlement] = field(default_factory=dict)  # per coin

    @property
    def created(self) -> int:
        return sum(self.by_status.values())

    @property
    def revenue(self) -> Decimal:
        return sum(self.revenue_by_plan.values(), Decimal(0))

    def share(self, status: str) -> Decimal | None:
        """Part of the period's payments that ended in `status` (conversion: finished)."""
        if not self.created:
            return None
        return Decimal(self.by_status.get(status, 0)) / Decimal(self.created)


async def shop_stats(
    db: Database, the_period: Period, currency: str, now: datetime, monitoring: timedelta
) -> Stats:
    start = the_period.start  # periods run up to now: nothing is later
    await tallies.fold_all(db)  # what the triggers wrote since the scheduler's last fold
    async with db.sessions() as session:
        counted = await tallies.totals(session, tallies.slot_of(start) if start else None)
        paid = sum(t.n for key, t in counted.items() if key[0] == "paid")
        median = await reports.median_time_to_pay(session, start, None, paid)
        subscribers = await reports.subscribers_per_plan(session, now)
        attention = await needs_a_human(session, start, now, monitoring)
    zone = ZoneInfo(the_period.zone)
    by_status: Counter[str] = Counter()
    per_day: dict[date, Counter[str]] = defaultdict(Counter)
    by_plan: dict[str, Decimal] = defaultdict(Decimal)
    by_coin: dict[str, Decimal] = defaultdict(Decimal)
    revenue_per_day: dict[date, Decimal] = defaultdict(Decimal)
    settlement: dict[str, Settlement] = defaultdict(Settlement)
    count = 0
    for key, tally in counted.items():
        kind, slot, status, plan, coin, _currency, price, outcome_currency, fee_currency = key
        day = datetime.fromtimestamp(slot, UTC).astimezone(zone).date()
        n = tally.n
        if kind == "created":
            by_status[status] += n
            per_day[day][status] += n
            continue
        amount = price * n
        by_plan[plan] += amount
        by_coin[coin] += amount
        revenue_per_day[day] += amount
        count += n
        _settle(settlement[coin], coin, outcome_currency, fee_currency, tally)
    by_status = +by_status  # no status that counts nothing
    first = min([*per_day, *revenue_per_day], default=None)
    days = [
        Day(d, revenue_per_day.get(d, Decimal(0)), +per_day.get(d, Counter()))
        for d in the_period.days(first)
    ]
    return Stats(
        the_period,
        currency,
        by_status,
        dict(sorted(by_plan.items(), key=lambda kv: (-kv[1], kv[0]))),
        dict(sorted(by_coin.items(), key=lambda kv: (-kv[1], kv[0]))),
        count,
        median,
        subscribers,
        days,
        attention,
        dict(sorted(settlement.items())),
    )


def _settle(
    s: Settlement, coin: str, outcome_currency: str | None, fee_currency: str | None, t
) -> None:
    """Add one tally of finished purchases to its coin's settlement."""
    n = t.n
    s.payments += n
    s.received += t.amount("paid")
    if outcome_currency in (None, coin):
        s.net += t.amount("outcome")
    else:
        s.other_currency += n
    fees = t.amount("fee_deposit") + t.amount("fee_withdrawal") + t.amount("fee_service")
    if fees and fee_currency not in (None, coin):
        s.other_currency += n
    else:
        s.fees += fees


async def settled_per_coin(
    session, start: datetime | None, end: datetime | None
) -> dict[str, Settlement]:
    """Received, fees and net per coin of the purchases finished in the period, read from
    the payments themselves (the tallies' check)."""
    found: dict[str, Settlement] = defaultdict(Settlement)
    for (
        coin,
        outcome_currency,
        fee_currency,
        n,
        paid,
        outcome,
        fees,
    ) in await reports.settlement_totals(session, start, end):
        s = found[coin]
        s.payments += n
        s.received += paid
        if outcome_currency in (None, coin):
            s.net += outcome
        else:
            s.other_currency += n
        if fees and fee_currency not in (None, coin):
            s.other_currency += n
        else:
            s.fees += fees
    return dict(sorted(found.items()))


async def needs_a_human(
    session, start: datetime | None, now: datetime, monitoring: timedelta
) -> list[Attention]:
    """Payments an operator should look at, newest first, each with its reasons."""
    found: dict[int, Attention] = {}
    # failed or refunded ones with nothing paid are candidates too (SQLite cannot compare the
    # amounts), so read more than are shown
    candidates = await reports.attention_candidates(session, start, now, 10 * ATTENTION_LIMIT)
    activated = await reports.activated_payment_ids(session, [p.id for p in candidates])
    for p in candidates:
        reasons = []
        if p.late:
            reasons.append("paid late" + ("" if p.id in activated else ", plan not activated"))
        if p.surplus:
            reasons.append(f"overpaid by {p.surplus.normalize():f} {p.pay_currency}")
        if p.status == Status.PARTIALLY_PAID and p.expires_at < now:
            reasons.append(
                f"expired partially paid: {p.actually_paid.normalize():f} of "
                f"{p.pay_amount.normalize():f} {p.pay_currency}"
            )
        if p.status in (Status.FAILED, Status.REFUNDED) and p.actually_paid > 0:
            reasons.append(f"{p.status} after {p.actually_paid.normalize():f} arrived")
        if p.status in (Status.CONFIRMING, Status.CONFIRMED, Status.SENDING) and (
            p.expires_at + monitoring < now
        ):
            reasons.append(f"still {p.status} after the monitoring window")
        if reasons:
            found[p.id] = Attention(p.id, p.user_id, p.status, tuple(reasons), p.updated_at)
    for item in await reports.dead_notices(session, start, ATTENTION_LIMIT):
        payment_id = int(item.payload.get("payment_id") or 0)
        reason = f"notice {item.kind} not delivered: {(item.last_error or '')[:80]}"
        if not payment_id:
            continue
        if payment_id in found:
            old = found[payment_id]
            found[payment_id] = Attention(
                old.payment_id, old.user_id, old.status, (*old.reasons, reason), old.at
            )
        else:
            found[payment_id] = Attention(
                payment_id, item.user_id or 0, "", (reason,), item.created_at
            )
    settled = await reports.settled_marks(session, list(found))
    ranked = sorted(
        (a for a in found.values() if a.payment_id not in settled or a.at > settled[a.payment_id]),
        key=lambda a: (a.at, a.payment_id),
        reverse=True,
    )
    return ranked[:ATTENTION_LIMIT]
