"""The subscription life cycle: reminders before a plan ends, a notice when it lapses.

`Renewals.sweep(now)` reads only activations whose `next_notice_at` has come (an indexed range
scan, a batch at a time) and handles each in its own transaction (`Database.run`), claimed
with `SKIP LOCKED` on PostgreSQL, so several workers never send a notice twice.

The rule for everyone who inserts an activation (a payment in `tools.transitions`, an
operator's grant): set `next_notice_at` to its creation time. The sweeper takes it from there:
- revoked: silent from then on;
- superseded: the same user holds a non-revoked activation of the same plan that ends later
  (a renewal paid before the end starts at this one's end), or of a plan of higher rank that
  ends no earlier (an upgrade): that one carries the notices, so this one falls silent. This
  is what stops reminders after a renewal or an upgrade. (An operator's revoke hands the
  notices back: it wakes the user's other running activations, and this check runs again.)
- a reminder `reminder_days` before the end, each once; after a pause only the closest due
  one is sent (one message, not several). Reminder moments not after the activation's creation
  are skipped: a 2-day plan gets no "3 days left" the minute it is bought;
- at the end, one lapse notice, then nothing more.
Notices go through the outbox to the user's private chat, with a one-tap Renew button that
runs `/buy PLAN COIN` (the coin paid last time, while accepted) or `/recommend PLAN`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from storage import repos, writes
from storage.db import Database
from storage.models import Activation
from tools.catalog import Catalog

log = logging.getLogger(__name__)
RETRY_LATER = timedelta(minutes=5)
LAPSED = "lapsed"  # in `notices_sent`, beside the reminder days


@dataclass
class RenewalReport:
    due: int = 0
    scheduled: int = 0  # looked at, nothing to send yet
    reminders: int = 0
    lapsed: int = 0
    revoked: int = 0
    superseded: int = 0


def sent_notices(text: str) -> set[str]:
    return {token for token in text.split(",") if token}


def reminder_moments(activation: Activation, days: Sequence[int]) -> dict[int, datetime]:
    """When each reminder is due, leaving out those not after the activation's creation
    (they would only repeat what the activation notice has just said)."""
    moments = {d: activation.period_end - timedelta(days=d) for d in days}
    return {d: at for d, at in moments.items() if at > activation.created_at}


def renew_action(catalog: Catalog, plan: str, coin: str | None) -> str | None:
    """The Renew button's command: the same plan in the same coin while both are sold, any
    coin (a recommendation) when the coin is gone, no button when the plan is gone."""
    if plan not in catalog.plan_codes:
        return None
    if coin and coin in catalog.coin_codes:
        return f"/buy {plan} {coin}"
    return f"/recommend {plan}"


class Renewals:
    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        reminder_days: Sequence[int],
        *,
        on_change: Callable[[], None] = lambda: None,
        batch: int = 500,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.reminder_days = tuple(sorted(set(reminder_days), reverse=True))
        self.on_change = on_change
        self.batch = batch

    async def sweep(self, now: datetime) -> RenewalReport:
        report = RenewalReport()
        async with self.db.sessions() as session:
            due = await repos.due_activations(session, now, self.batch)
        report.due = len(due)
        for activation_id in due:
            try:  # one transaction each: one bad row cannot stall the rest
                outcome = await self.db.run(
                    lambda session, aid=activation_id: self._check(session, aid, now)
                )
            except Exception:
                log.exception("activation %s could not be checked; trying later", activation_id)
                await self.db.run(
                    lambda session, aid=activation_id: writes.push_notice(
                        session, aid, now + RETRY_LATER
                    )
                )
                continue
            if outcome is not None:
                setattr(report, outcome, getattr(report, outcome) + 1)
        if report.reminders or report.lapsed:
            self.on_change()
        return report

    def _check(self, session: Session, activation_id: int, now: datetime) -> str | None:
        """Handle one due activation; returns the report field it counts towards."""
        activation = writes.claim_due_activation(
            session, activation_id, now, skip_locked=not self.db.is_sqlite
        )
        if activation is None:
            return None  # another worker has it, or it is no longer due
        if activation.revoked_at is not None:
            activation.next_notice_at = None
            return "revoked"
        if writes.covering_activation_exists(session, activation, self._better(activation)):
            activation.next_notice_at = None
            return "superseded"
        sent = sent_notices(activation.notices_sent)
        if now >= activation.period_end:
            activation.next_notice_at = None
            if LAPSED in sent:
                return None
            self._tell(session, activation, "plan.lapsed", LAPSED, now)
            activation.notices_sent = ",".join(sorted(sent | {LAPSED}))
            return "lapsed"
        moments = reminder_moments(activation, self.reminder_days)
        due = [d for d, at in moments.items() if str(d) not in sent and at <= now]
        if due:
            closest = min(due)  # after a pause, remind once with the nearest offset
            self._tell(
                session, activation, "plan.reminder", f"remind:{closest}", now, days=closest
            )
            sent |= {str(d) for d in due}
            activation.notices_sent = ",".join(sorted(sent))
        later = [at for d, at in moments.items() if str(d) not in sent and at > now]
        activation.next_notice_at = min([*later, activation.period_end])
        return "reminders" if due else "scheduled"

    async def still_current(self, activation_id: int) -> bool:
        """Whether the activation still carries its own notices (not revoked, not covered by a
        renewal or an upgrade): the relay asks before delivering a reminder queued earlier."""

        def check(session: Session) -> bool:
            activation = session.get(Activation, activation_id)
            if activation is None or activation.revoked_at is not None:
                return False
            return not writes.covering_activation_exists(
                session, activation, self._better(activation)
            )

        async with self.db.sessions() as session:
            return await session.run_sync(check)

    def _better(self, activation: Activation) -> list[str]:
        """The plans that rank above this activation's plan (none once it is off the shelf:
        its notices then stop only for a renewal of the same plan)."""
        if activation.plan not in self.catalog.plan_codes:
            return []
        rank = self.catalog.plan(activation.plan).rank
        return [p.code for p in self.catalog.plans if p.rank > rank]

    def _tell(
        self,
        session: Session,
        activation: Activation,
        kind: str,
        key: str,
        now: datetime,
        **extra: object,
    ) -> None:
        """Queue a notice for the user's private chat (on every platform we serve, a user's
        private chat is reached by their user id)."""
        user, coin = writes.activation_owner(session, activation)
        plan = activation.plan
        name = self.catalog.plan(plan).name if plan in self.catalog.plan_codes else plan
        writes.enqueue(
            session,
            chat_platform=user.platform,
            chat_id=user.platform_user_id,
            user_id=user.id,
            kind=kind,
            payload={
                "activation_id": activation.id,
                "plan": plan,
                "plan_name": name,
                "period_end": activation.period_end.isoformat(),
                "renew": renew_action(self.catalog, plan, coin),
                **extra,
            },
            locale=user.locale or "en",
            dedupe_key=f"activation:{activation.id}:{key}",
            created_at=now,
        )
