"""Provider events → payment state, activation and notifications, in one transaction.

The one path for IPNs, sandbox steps, polls and our own expiry (DESIGN §3): the event is
recorded with a unique dedupe key (a duplicate stops there), the policy picks the effective
status, the payment moves only by compare-and-set on its rank when the state machine allows,
and the activation (unique per payment) and outbox rows are written alongside: what a move
means to the customer and the operators is `tools.consequences`; top-ups stay here, as a
child's money re-judges its parent through the same move.

An activation is inserted with `next_notice_at` = its creation time, as every code path that
inserts one must do: that hands it to the renewal sweeper (`tools.renewals`), which schedules
its reminders and its lapse notice from there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from storage import event_writes, writes
from storage.db import Database
from storage.models import Payment
from tools.access.grants import AccessGrants
from tools.alerts import OperatorAlerts
from tools.catalog import Catalog
from tools.clock import Clock
from tools.consequences import Consequences, Owner
from tools.money import exact
from tools.policy import PaymentSettings, effective_status, enough_paid, next_poll
from tools.providers.base import PaymentProvider, ProviderEvent
from tools.states import (
    FINAL,
    LATE_WHEN_PAID,
    MONEY_SEEN,
    RANK,
    Status,
    can_move,
    parse_status,
)

log = logging.getLogger(__name__)


def observed_status(event: ProviderEvent) -> Status | None:
    """The status an event reports; None for one we do not know (the provider added it
    later) or may not take from a provider (only a customer cancels)."""
    try:
        observed = parse_status(event.status)
    except ValueError:
        return None
    return None if observed is Status.CANCELLED else observed


@dataclass(frozen=True)
class ApplyResult:
    outcome: str  # applied, duplicate, ignored, unknown_payment
    payment_id: int | None = None
    status: str | None = None


def _settlement(event: ProviderEvent) -> dict[str, object]:
    """The provider's settlement figures, kept for the operator ledger when it sends them."""
    values: dict[str, object] = {}
    if event.outcome_amount is not None:
        values.update(outcome_amount=event.outcome_amount, outcome_currency=event.outcome_currency)
    if event.fees:
        values.update(
            fee_currency=event.fee_currency,
            fee_deposit=event.fees.get("deposit"),
            fee_withdrawal=event.fees.get("withdrawal"),
            fee_service=event.fees.get("service"),
        )
    return values


class PaymentEvents:
    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        provider: PaymentProvider,
        clock: Clock,
        settings: PaymentSettings,
        *,
        alerts: OperatorAlerts | None = None,
        operators: Mapping[str, list[str]] | None = None,
        on_change: Callable[[], None] = lambda: None,
        access: AccessGrants | None = None,
    ) -> None:
        """`alerts` tells the operators; without it one is made for `operators`. `access`
        opens what an activated plan opens (`tools.access`)."""
        self.access = access
        self.db = db
        self.catalog = catalog
        self.provider = provider
        self.clock = clock
        self.settings = settings
        self.alerts = alerts or OperatorAlerts(db, clock, operators or {}, on_change=on_change)
        self.consequences = Consequences(catalog, settings, self.alerts, access)
        self.on_change = on_change

    async def handle_webhook(
        self, headers: Mapping[str, str], body: bytes, source: str = "ipn"
    ) -> ApplyResult:
        """Verify first, then apply: the one entry for IPNs and sandbox steps alike."""
        event = self.provider.verify_and_parse_webhook(headers, body)
        return await self.apply_event(event, source)

    async def apply_event(self, event: ProviderEvent, source: str) -> ApplyResult:
        """Record and apply one provider event in one transaction (DESIGN §3)."""
        now = self.clock()
        observed = observed_status(event)
        if observed is None:  # a status the provider added later: keep it, tell an operator
            await self.db.run(
                lambda session: self.alert(
                    session,
                    now,
                    f"status:{event.provider_payment_id}:{event.status}",
                    "alert.unknown_status",
                    provider_payment_id=event.provider_payment_id,
                    status=event.status,
                    source=source,
                )
            )
            self.on_change()
            return ApplyResult("unknown_status")
        result = await self.db.run(
            lambda session: self._apply(session, event, observed, source, now)
        )
        if result.outcome in ("applied", "ignored"):  # ignored events may have raised alerts
            self.on_change()
        return result

    @exact
    def apply_many(
        self, session: Session, items: Sequence[tuple[ProviderEvent, Status, str]], now: datetime
    ) -> list[ApplyResult | None]:
        """Apply several events in the caller's transaction (a batch, `tools.event_batches`),
        their payments locked first by one statement (`event_writes.event_payments`). None
        for an event that statement does not find (a top-up or no such payment): the caller
        applies it alone afterwards, as the longer lock order it needs would break the batch's."""
        name = self.provider.name
        ids = [event.provider_payment_id for event, _observed, _source in items]
        found = event_writes.event_payments(session, name, ids)
        seen: set[str] = set()
        results: list[ApplyResult | None] = []
        for event, observed, source in items:
            hit = found.get(event.provider_payment_id)
            if hit is not None and event.provider_payment_id in seen:
                hit = event_writes.event_payment(session, name, event.provider_payment_id)
            seen.add(event.provider_payment_id)
            results.append(
                None if hit is None else self._apply(session, event, observed, source, now, hit)
            )
        return results

    @exact
    def _apply(
        self,
        session: Session,
        event: ProviderEvent,
        observed: Status,
        source: str,
        now: datetime,
        found: tuple[Payment, str | None] | None = None,
    ) -> ApplyResult:
        """`found`: the payment and its owner's locale, locked already (`apply_many`)."""
        name = self.provider.name
        key = f"{name}:{event.dedupe_key}"
        if found is None:
            found = event_writes.event_payment(session, name, event.provider_payment_id)
        if found is not None:  # the usual event: customer and payment held by one statement
            payment, locale = found
            decision = self._decide(payment, observed, event, now)
            if decision is not None:
                return self._record_and_move(
                    session, payment, observed, event, now, source, decision, locale
                )
            owner: Owner | None = None  # nothing moves, so nothing follows from the owner
        else:  # a top-up, or no such payment: the customer, parent payment, payment in turn
            payment, owner = self._locked_the_long_way(session, event, now)
        if payment is None and event.parent_payment_id:
            payment = self._top_up(session, event, now)
        if payment is None:
            writes.audit(
                session,
                now,
                f"provider:{name}",
                "unknown_payment",
                event.provider_payment_id,
                source=source,
            )
            return ApplyResult("unknown_payment")
        decision = self._decide(payment, observed, event, now)
        fresh = writes.record_event(
            session, **self._event_row(payment, observed, event, now, source, decision)
        )
        if not fresh:
            return ApplyResult("duplicate", payment.id, payment.status)
        moved = self.transition(
            session, payment, observed, event, now, decision=decision, owner=owner
        )
        if decision is not None and not moved:  # lost a race after all (rare)
            writes.mark_event(session, key, applied=False)
        return ApplyResult("applied" if moved else "ignored", payment.id, payment.status)

    def _locked_the_long_way(
        self, session: Session, event: ProviderEvent, now: datetime
    ) -> tuple[Payment | None, Owner]:
        """The payment an event is about, when `event_writes.event_payment` has none (a
        top-up, or no such payment), its owner's facts, in the lock order: the customer (taken
        by the same query), the parent payment, the payment."""
        name = self.provider.name
        owner = writes.owner_of_event(
            session, name, event.provider_payment_id, event.parent_payment_id, lock=True
        )
        if owner is not None and owner[1] is not None:
            writes.lock_payment(session, owner[1])
        payment, locale, plan_end = writes.payment_for_event(
            session, name, event.provider_payment_id, now, lock=not self.db.is_sqlite
        )
        return payment, Owner(locale, plan_end)

    def _event_row(
        self,
        payment: Payment,
        observed: Status,
        event: ProviderEvent,
        now: datetime,
        source: str,
        decision: object,
    ) -> dict[str, object]:
        """The `payment_events` row of an event (its inbox and audit entry)."""
        return dict(
            payment_id=payment.id,
            provider=self.provider.name,
            dedupe_key=f"{self.provider.name}:{event.dedupe_key}",
            received_at=now,
            source=source,
            old_status=payment.status,
            new_status=observed.value,
            applied=decision is not None,
            raw=event.raw[:20000],
        )

    def _record_and_move(
        self,
        session: Session,
        payment: Payment,
        observed: Status,
        event: ProviderEvent,
        now: datetime,
        source: str,
        decision: tuple[Status, dict[str, object]],
        locale: str | None,
    ) -> ApplyResult:
        """The usual event, found by `event_writes.event_payment` with the locks held: the
        event row and the compare-and-set in one statement, then what follows from the move."""
        new, values = decision
        old_status = payment.status
        row = self._event_row(payment, observed, event, now, source, decision)
        recorded, moved, plan_end = event_writes.record_and_move(
            session, row, payment, values, now
        )
        if not recorded:
            return ApplyResult("duplicate", payment.id, payment.status)
        if moved:
            self._moved(session, payment, new, values, old_status, now, Owner(locale, plan_end))
            return ApplyResult("applied", payment.id, payment.status)
        session.refresh(payment)  # changed under us after all (rare): judged anew
        if self.transition(session, payment, observed, event, now):
            return ApplyResult("applied", payment.id, payment.status)
        writes.mark_event(session, str(row["dedupe_key"]), applied=False)
        return ApplyResult("ignored", payment.id, payment.status)

    @exact
    def transition(
        self,
        session: Session,
        payment: Payment,
        observed: Status,
        event: ProviderEvent | None,
        now: datetime,
        *,
        decision: tuple[Status, dict[str, object]] | None = None,
        owner: Owner | None = None,
        topups: Decimal | None = None,
    ) -> bool:
        """Apply one observation inside the caller's transaction; False when it changes nothing.

        The move is a compare-and-set on everything it was decided from: the status and rank
        and the money we read. If another writer changed the payment in between, it is read
        again and the observation judged anew, so concurrent events never lose the higher
        status or any money. (Events hold the customer's lock, so this is a second line.)
        """
        for _ in range(5):
            decision = decision or self._decide(payment, observed, event, now, topups)
            if decision is None:
                self.consequences.unexpected_money(session, payment, event, now)
                return False
            new, values = decision
            old_status = payment.status  # what the move was judged from
            if writes.compare_and_set_status(session, payment, values):
                break
            session.refresh(payment)  # someone else moved it first: look again
            decision = None
        else:
            raise RuntimeError(f"payment {payment.id} kept changing under us")
        self._moved(session, payment, new, values, old_status, now, owner)
        return True

    def _moved(
        self,
        session: Session,
        payment: Payment,
        new: Status,
        values: dict[str, object],
        old_status: str,
        now: datetime,
        owner: Owner | None,
    ) -> None:
        """What follows once the compare-and-set moved `payment` from `old_status`."""
        for key, value in values.items():  # already written by the compare-and-set
            set_committed_value(payment, key, value)
        if new.value != old_status:  # one line per change, for whoever runs the service
            log.info(
                "payment %s: %s -> %s (paid %s of %s %s)",
                payment.id,
                old_status,
                new.value,
                payment.actually_paid,
                payment.pay_amount,
                payment.pay_currency,
            )
        if payment.parent_payment_id is not None:
            self._roll_up(session, payment, now)  # a top-up speaks through its parent
        else:
            self.consequences.after_move(
                session, payment, new, now, owner, parse_status(old_status)
            )

    def would_change(self, payment: Payment, event: ProviderEvent, now: datetime) -> bool:
        """True when applying `event` would move the payment or its recorded money."""
        try:
            observed = parse_status(event.status)
        except ValueError:
            return False
        return self._decide(payment, observed, event, now) is not None

    def _decide(
        self,
        payment: Payment,
        observed: Status,
        event: ProviderEvent | None,
        now: datetime,
        topups: Decimal | None = None,
    ) -> tuple[Status, dict[str, object]] | None:
        """The status the payment moves to and the columns that change, or None to stay.
        `topups`: a parent re-judged on its children's money (see `_roll_up`)."""
        old = parse_status(payment.status)
        own = event.actually_paid if event else Decimal(0)
        topup_paid = payment.topup_paid if topups is None else topups
        paid = max(own + topup_paid, payment.actually_paid)
        new = effective_status(
            observed, paid, payment.pay_amount, self.settings.underpaid_tolerance
        )
        more_money = new is old is Status.PARTIALLY_PAID and paid > payment.actually_paid
        if not (can_move(old, new) or more_money):
            return None
        values: dict[str, object] = dict(
            status=new.value,
            status_rank=RANK[new],
            actually_paid=paid,
            updated_at=now,
            last_event_at=now,
            late=payment.late or (old in LATE_WHEN_PAID and new in MONEY_SEEN),
            next_poll_at=next_poll(new, now, payment.expires_at, self.settings),
        )
        if topups is not None:
            values["topup_paid"] = topups
        if new in FINAL:
            values["next_check_at"] = None  # nothing left to watch
        elif new is Status.PARTIALLY_PAID and payment.parent_payment_id is None:
            # the sweeper tells the operators at the deadline (at once when it has passed),
            # then watches the payment until the monitoring window ends
            values["next_check_at"] = payment.expires_at
        elif new is Status.EXPIRED or new in MONEY_SEEN:
            # watched until the monitoring window ends (late money, stuck partial payments)
            values["next_check_at"] = payment.expires_at + self.settings.monitoring
        if new is Status.FINISHED:
            values["paid_at"] = now
            if paid > payment.pay_amount:
                values["surplus"] = paid - payment.pay_amount
        if event is not None:
            values.update(_settlement(event))
        return new, values

    def _top_up(self, session: Session, event: ProviderEvent, now: datetime) -> Payment | None:
        """More money sent to an address already used arrives as a child payment."""
        parent = writes.payment_by_provider_id(
            session,
            self.provider.name,
            str(event.parent_payment_id),
            lock=not self.db.is_sqlite,
        )
        if parent is None or parent.parent_payment_id is not None:
            return None
        child = Payment(
            user_id=parent.user_id,
            chat_platform=parent.chat_platform,
            chat_id=parent.chat_id,
            order_id=f"{parent.order_id}-{event.provider_payment_id}"[:64],
            plan=parent.plan,
            price_amount=Decimal(0),
            price_currency=parent.price_currency,
            pay_currency=parent.pay_currency,
            pay_amount=max(parent.pay_amount - parent.actually_paid, Decimal(0)),
            pay_address=parent.pay_address,
            payin_extra_id=parent.payin_extra_id,
            provider=self.provider.name,
            provider_payment_id=event.provider_payment_id,
            status=Status.WAITING.value,
            status_rank=RANK[Status.WAITING],
            actually_paid=Decimal(0),
            topup_paid=Decimal(0),
            created_at=now,
            updated_at=now,
            expires_at=parent.expires_at,
            next_check_at=None,
            next_poll_at=now + self.settings.poll_after,
            warnings_sent="",
            parent_payment_id=parent.id,
            purchase_id=parent.purchase_id,
            late=False,
        )
        session.add(child)
        session.flush()
        return child

    def _roll_up(self, session: Session, child: Payment, now: datetime) -> None:
        """Re-judge the parent on everything paid so far: its own money plus its top-ups.

        Only a child that brought money speaks (an expired top-up changes nothing, so the
        sweeper never reaches for the parent). The parent is read afresh under its lock (the
        event path already holds it, after the customer's), and the children summed from
        committed rows, so two top-ups finishing at once both count.
        """
        counted = (Status.PARTIALLY_PAID.value, Status.FINISHED.value)
        if child.status not in counted:
            return
        parent = writes.lock_payment(session, child.parent_payment_id)
        if parent is None:
            return
        if parse_status(parent.status) in FINAL:  # money for a purchase that is over
            self.alert(
                session,
                now,
                f"extra:{parent.id}:{child.provider_payment_id}",
                "alert.extra_money",
                payment_id=parent.id,
                paid=child.actually_paid,
                recorded=parent.actually_paid,
                status=parent.status,
                coin=parent.pay_currency,
            )
            return
        children = writes.children(session, parent.id)
        topups = sum((c.actually_paid for c in children if c.status in counted), Decimal(0))
        own = parent.actually_paid - parent.topup_paid
        total = own + topups
        if total <= parent.actually_paid:
            return
        observed = (
            Status.FINISHED
            if enough_paid(total, parent.pay_amount, self.settings.underpaid_tolerance)
            else Status.PARTIALLY_PAID
        )
        event = ProviderEvent(parent.provider_payment_id, observed.value, own)
        self.transition(session, parent, observed, event, now, topups=topups)

    def alert(
        self, session: Session, now: datetime, key: str, kind: str, **payload: object
    ) -> None:
        """Tell every configured operator and audit, once per key (see `OperatorAlerts`)."""
        self.alerts.write(session, now, key, kind, **payload)
