"""The common due payments handled as a set (issue 18, item 5): a waiting payment whose warning
has come, and a waiting payment with nothing paid that reached its deadline. A batch of them
costs one locking read, one executemany UPDATE of the payments (guarded by the state the
decision was made from) and one executemany INSERT of the notices, in the batch's one
transaction, instead of objects, a compare-and-set and a notice per payment. Everything else
due (partly paid payments, top-ups, the end of a monitoring window) takes the per-payment path
in `tools.countdown`.

What each does is what the per-payment path does for the same payment: the same columns, the
same notices with the same dedupe keys (`payment:ID:warn:OFFSET`, `payment:ID:expired`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from storage import writes
from storage.models import URGENT
from tools.policy import PaymentSettings, due_warnings, next_check, next_poll, sent_offsets
from tools.states import RANK, Status

log = logging.getLogger(__name__)
WAITING = Status.WAITING.value
ZERO = Decimal(0)


@dataclass
class Split:
    warn: list[Any] = field(default_factory=list)  # waiting, deadline not reached
    expire: list[Any] = field(default_factory=list)  # waiting, nothing paid, deadline reached
    other: list[int] = field(default_factory=list)  # ids for the per-payment path


def split(rows: Sequence[Any], now: datetime) -> Split:
    parts = Split()
    for row in rows:
        if row.status != WAITING or row.parent_payment_id is not None:
            parts.other.append(row.id)
        elif now < row.expires_at:
            parts.warn.append(row)
        elif row.actually_paid == ZERO and (row.topup_paid or ZERO) == ZERO:
            parts.expire.append(row)
        else:
            parts.other.append(row.id)
    return parts


def _notice(row: Any, now: datetime, kind: str, key: str, payload: dict) -> dict[str, Any]:
    return dict(
        chat_platform=row.chat_platform,
        chat_id=row.chat_id,
        user_id=row.user_id,
        kind=kind,
        payload=payload,
        locale=row.locale or "en",
        dedupe_key=f"payment:{row.id}:{key}",
        created_at=now,
    )


def warn(session: Session, rows: Sequence[Any], now: datetime, offsets: tuple[int, ...]) -> int:
    """The warnings that have come for these waiting payments (after a pause, one with the
    nearest offset) and each payment's next check; returns how many were queued."""
    changes: list[dict[str, Any]] = []
    notices: list[dict[str, Any]] = []
    for row in rows:
        sent = sent_offsets(row.warnings_sent)
        due = due_warnings(now, row.expires_at, offsets, sent)
        written = row.warnings_sent
        if due:
            closest = min(due)
            seconds_left = max(math.ceil((row.expires_at - now).total_seconds()), 0)
            payload = {
                "payment_id": row.id,
                "offset": closest,
                "seconds_left": seconds_left,
                "expires_at": row.expires_at.isoformat(),
            }
            notice = _notice(row, now, "payment.warning", f"warn:{closest}", payload)
            notices.append({**notice, "priority": URGENT})  # late, a warning is useless
            sent |= set(due)
            written = ",".join(str(o) for o in sorted(sent, reverse=True))
        changes.append(
            dict(
                pid=row.id,
                was_status=WAITING,
                was_warnings_sent=row.warnings_sent,
                warnings_sent=written,
                next_check_at=next_check(now, row.expires_at, offsets, sent),
            )
        )
    writes.update_guarded(session, ("status", "warnings_sent"), changes)
    writes.enqueue_many(session, notices)
    return len(notices)


def expire(
    session: Session,
    rows: Sequence[Any],
    now: datetime,
    settings: PaymentSettings,
    unasked: Collection[int] = (),
) -> int:
    """Waiting payments with nothing paid at their deadline: expired, watched for late money
    until the monitoring window ends, each customer told once (a one-tap new payment). Those
    in `unasked` (the provider was not asked first) are due for the poller at once."""
    if not rows:
        return 0
    expired = Status.EXPIRED
    changes = [
        dict(
            pid=row.id,
            was_status=WAITING,
            was_status_rank=row.status_rank,
            status=expired.value,
            status_rank=RANK[expired],
            updated_at=now,
            last_event_at=now,
            next_poll_at=now
            if row.id in unasked
            else next_poll(expired, now, row.expires_at, settings),
            next_check_at=row.expires_at + settings.monitoring,
        )
        for row in rows
    ]
    writes.update_guarded(session, ("status", "status_rank"), changes)
    notices = [
        _notice(
            row,
            now,
            "payment.expired",
            "expired",
            {"payment_id": row.id, "plan": row.plan, "coin": row.pay_currency},
        )
        for row in rows
    ]
    writes.enqueue_many(session, notices)
    log.info("%s payments: waiting -> expired (%s)", len(rows), ", ".join(str(r.id) for r in rows))
    return len(rows)
