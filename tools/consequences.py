"""What a payment's move means, written in the move's own transaction (`tools.transitions`):
the customer's notices (outbox rows, once per dedupe key), the plan's activation (at most one
per payment) with what the plan opens, and the operators' alerts (once per key).

Also the money that arrives where no move is left to make: extra money for a payment already
final, and a reversal after `finished`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from storage import event_writes, writes
from storage.models import Payment
from tools.access.grants import AccessGrants
from tools.alerts import OperatorAlerts
from tools.catalog import Catalog
from tools.money import jsonable
from tools.policy import PaymentSettings
from tools.providers.base import ProviderEvent
from tools.states import FINAL, MONEY_SEEN, Status, parse_status
from tools.views import payment_link

log = logging.getLogger(__name__)


class Tell:
    """Queues a payment's notices to its customer: outbox rows, once per dedupe key."""

    def __init__(self, session: Session, p: Payment, locale: str, now: datetime) -> None:
        self.session = session
        self.p = p
        self.locale = locale
        self.now = now

    def row(self, kind: str, key: str, **extra: object) -> dict[str, object]:
        """The outbox row of one notice (see `writes.enqueue`), not written."""
        p = self.p
        base = {"payment_id": p.id, "plan": p.plan, "coin": p.pay_currency}
        return dict(
            chat_platform=p.chat_platform,
            chat_id=p.chat_id,
            user_id=p.user_id,
            kind=kind,
            payload=jsonable({**base, **extra}),
            locale=self.locale,
            dedupe_key=f"payment:{p.id}:{key}",
            created_at=self.now,
        )

    def __call__(self, kind: str, key: str, **extra: object) -> None:
        writes.enqueue(self.session, **self.row(kind, key, **extra))


@dataclass(frozen=True)
class Owner:
    """What the consequences of a move need to know about the payment's owner."""

    locale: str | None
    plan_end: datetime | None  # end of their active activation of this plan, if any


class Consequences:
    """The notices, activation and alerts of a payment's moves (see the module's text)."""

    def __init__(
        self,
        catalog: Catalog,
        settings: PaymentSettings,
        alerts: OperatorAlerts,
        access: AccessGrants | None = None,
    ) -> None:
        """`access` opens what an activated plan opens (`tools.access`)."""
        self.catalog = catalog
        self.settings = settings
        self.alerts = alerts
        self.access = access

    def after_move(
        self,
        session: Session,
        p: Payment,
        new: Status,
        now: datetime,
        owner: Owner | None,
        was: Status | None = None,
    ) -> None:
        """Tell the customer and the operators what the move to `new` means, and activate
        the plan when it finished; `was`: the status it moved from."""
        if owner is None:
            owner = Owner(*writes.owner_facts(session, p, now))
        tell = Tell(session, p, owner.locale or "en", now)
        if was is Status.CANCELLED and new in MONEY_SEEN:
            self._money_after_cancel(session, p, now, tell)  # instead of "seen"/"partial"
            if new is Status.FINISHED:
                self._finish(session, p, now, tell, owner.plan_end)
        elif new is Status.CONFIRMING:
            tell("payment.confirming", "confirming", amount=p.actually_paid)
        elif new is Status.PARTIALLY_PAID:
            remaining = p.pay_amount - p.actually_paid
            tell(
                "payment.partial",
                f"partial:{p.actually_paid.normalize()}",
                paid=p.actually_paid,
                asked=p.pay_amount,
                remaining=remaining,
                uri=payment_link(self.catalog, p, remaining),
            )
        elif new is Status.FINISHED:
            self._finish(session, p, now, tell, owner.plan_end)
        elif new in (Status.FAILED, Status.REFUNDED, Status.EXPIRED):
            tell(f"payment.{new.value}", new.value)
            if new is not Status.EXPIRED and p.actually_paid > 0:
                self.alert(
                    session,
                    now,
                    f"closed:{p.id}",
                    "alert.closed_with_money",
                    payment_id=p.id,
                    status=new.value,
                    paid=p.actually_paid,
                    coin=p.pay_currency,
                )
        if p.late and new is Status.FINISHED:
            self.alert(
                session,
                now,
                f"late:{p.id}",
                "alert.late",
                payment_id=p.id,
                paid=p.actually_paid,
                coin=p.pay_currency,
            )

    def _money_after_cancel(self, session: Session, p: Payment, now: datetime, tell: Tell) -> None:
        """Money arrived for a payment its customer cancelled: it is a late payment (activated
        like one when it completes, see `_finish`), never lost. The customer hears that it was
        seen after all, and the operators, once per payment, that it needs a look."""
        tell("payment.cancelled_money", "cancelled_money", paid=p.actually_paid, status=p.status)
        self.alert(
            session,
            now,
            f"cancelled_money:{p.id}",
            "alert.cancelled_money",
            payment_id=p.id,
            paid=p.actually_paid,
            status=p.status,
            coin=p.pay_currency,
        )

    def _finish(
        self,
        session: Session,
        p: Payment,
        now: datetime,
        tell: Tell,
        plan_end: datetime | None,
    ) -> None:
        if p.late and not self.settings.activate_late:
            tell("payment.late_held", "late_held", paid=p.actually_paid)
            return
        plan = self.catalog.plan(p.plan)
        start = max(now, plan_end) if plan_end else now  # a renewal extends from the end
        end = start + timedelta(days=plan.period_days)
        activation = dict(
            payment_id=p.id,
            user_id=p.user_id,
            plan=plan.code,
            period_start=start,
            period_end=end,
            source="payment",
            created_at=now,
            next_notice_at=now,  # the renewal sweeper takes it from here
        )
        notice = tell.row(
            "payment.activated",
            "activated",
            period_end=end.isoformat(),
            paid=p.actually_paid,
            late=p.late,
        )
        if event_writes.activate_and_enqueue(session, activation, notice):  # its notice too
            log.info(
                "payment %s: plan %s active for user %s until %s%s",
                p.id,
                plan.code,
                p.user_id,
                end.isoformat(timespec="seconds"),
                " (late payment)" if p.late else "",
            )
            if self.access is not None:  # under the customer's lock, like the period
                self.access.refresh(session, p.user_id, now, f"payment:{p.id}", payment=p)
        if p.surplus:  # the customer hears it too: the plan is active, the extra recorded
            tell(
                "payment.overpaid",
                "overpaid",
                paid=p.actually_paid,
                asked=p.pay_amount,
                surplus=p.surplus,
            )
            self.alert(
                session,
                now,
                f"overpaid:{p.id}",
                "alert.overpaid",
                payment_id=p.id,
                surplus=p.surplus,
                coin=p.pay_currency,
            )

    def unexpected_money(
        self,
        session: Session,
        payment: Payment,
        event: ProviderEvent | None,
        now: datetime,
    ) -> None:
        """Money reported for a payment that can no longer move must not vanish silently, nor
        a reversal of a finished one (see `_reversed`)."""
        if event is not None and payment.status == Status.FINISHED.value:
            self._reversed(session, payment, event, now)
        if event is None or event.actually_paid <= payment.actually_paid - payment.topup_paid:
            return
        if parse_status(payment.status) not in FINAL:
            return
        self.alert(
            session,
            now,
            f"extra:{payment.id}:{event.actually_paid.normalize()}",
            "alert.extra_money",
            payment_id=payment.id,
            paid=event.actually_paid,
            recorded=payment.actually_paid,
            status=payment.status,
            coin=payment.pay_currency,
        )

    def _reversed(
        self, session: Session, payment: Payment, event: ProviderEvent, now: datetime
    ) -> None:
        """A signed `failed` or `refunded` after `finished`: the payment keeps its final state
        and the plan stays active (revoking is the operator's call), but the operators hear
        of it once per payment, with an audit row."""
        if event.status not in (Status.FAILED.value, Status.REFUNDED.value):
            return
        self.alert(
            session,
            now,
            f"reversed:{payment.id}",
            "alert.reversed_after_finish",
            payment_id=payment.id,
            status=event.status,
            plan=payment.plan,
            paid=payment.actually_paid,
            coin=payment.pay_currency,
        )

    def alert(
        self, session: Session, now: datetime, key: str, kind: str, **payload: object
    ) -> None:
        """Tell every configured operator and audit, once per key (see `OperatorAlerts`)."""
        self.alerts.write(session, now, key, kind, **payload)
