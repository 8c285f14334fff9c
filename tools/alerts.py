"""Operator alerts: an audit row plus one outbox row per configured operator, each once.

An alert has a `kind` (`alert.*`, worded in English by `bot.notices.OPERATOR_ALERTS`) and a
`key` naming the situation (`late:42`, `provider_down:nowpayments:...`). Every operator's
private chat (their platform user id) gets its own outbox row whose dedupe key is the alert's
key plus the operator, so raising the same alert again reaches nobody twice and writes no
second audit row. `write` works inside the caller's transaction (a sync `Session`);
`raise_alert` opens its own through `Database.run` and wakes the relay.

Windows that decide whether to alert at all (`burst`: a burst of rejected IPN signatures; the
provider's outage in `tools/providers/watched.py`) are counted in the database
(`storage/operator_state.py`), so several workers count into one window and the alert is
raised once per deployment, not once per worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, localcontext

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import operator_state, writes
from storage.db import Database
from storage.models import AuditEntry
from tools.clock import Clock
from tools.money import MONEY, jsonable

log = logging.getLogger(__name__)


class OperatorAlerts:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        operators: Mapping[str, Sequence[str]],
        *,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.operators = {platform: [str(i) for i in ids] for platform, ids in operators.items()}
        self.on_change = on_change

    def write(
        self, session: Session, now: datetime, key: str, kind: str, **payload: object
    ) -> bool:
        """Queue the alert for every operator and audit it, inside the caller's transaction.

        True when it is new; False for a repeat (nothing written)."""
        with localcontext(MONEY):  # normalize() rounds to the context's precision
            exact = {k: v.normalize() if isinstance(v, Decimal) else v for k, v in payload.items()}
        data = jsonable(exact)  # amounts as exact strings, without trailing zeros
        recipients = [(p, i) for p, ids in self.operators.items() for i in ids]
        new = False
        for platform, op_id in recipients:
            new |= writes.enqueue(
                session,
                chat_platform=platform,
                chat_id=op_id,
                user_id=None,
                kind=kind,
                payload=data,
                locale="en",
                dedupe_key=f"{key}:{platform}:{op_id}",
                created_at=now,
            )
        if not recipients:  # nobody to tell: the audit log alone says whether it is a repeat
            seen = select(AuditEntry.id).where(
                AuditEntry.action == kind, AuditEntry.subject == key
            )
            new = session.scalars(seen.limit(1)).first() is None
        if new:
            writes.audit(session, now, "system", kind, key, **data)
        return new

    async def raise_alert(self, key: str, kind: str, **payload: object) -> bool:
        """Write one alert in its own transaction, now, and wake the relay when it is new."""
        now = self.clock()
        new = await self.db.run(lambda session: self.write(session, now, key, kind, **payload))
        if new:
            log.warning("operator alert %s (%s)", kind, key)
            self.on_change()
        return new

    async def burst(
        self,
        key: str,
        threshold: int,
        within: timedelta,
        kind: str,
        times: Sequence[datetime] = (),
        **payload: object,
    ) -> Burst:
        """Count occurrences of `key` (at `times`, by default one now) for the whole
        deployment. When `threshold` of them fell within `within` and no alert for `key` was
        raised within `within`, raise `kind` (with `count` and `payload`). Only the newest
        `threshold` times are kept, so a count is at most `threshold`."""
        now = self.clock()
        marks = [t.isoformat() for t in times] or [now.isoformat()]

        def count(session: Session) -> Burst:
            state = operator_state.locked(session, key)
            recent = [t for t in state.marks if datetime.fromisoformat(t) > now - within]
            state.marks = [*recent, *marks][-threshold:]
            n = len(state.marks)
            quiet = state.alerted_at is not None and now - state.alerted_at < within
            if n < threshold or quiet:
                return Burst(n, None, state.alerted_at)
            state.alerted_at = now
            self.write(session, now, f"{key}:{now.isoformat()}", kind, count=n, **payload)
            return Burst(n, n, now)

        result = await self.db.run(count)
        if result.raised is not None:
            log.warning("operator alert %s (%s)", kind, key)
            self.on_change()
        return result


@dataclass(frozen=True)
class Burst:
    """What `OperatorAlerts.burst` found: the times counted in the window (deployment-wide),
    the count it raised the alert with (None: not raised by this call), and when the alert
    was last raised by anyone."""

    counted: int
    raised: int | None
    alerted_at: datetime | None
