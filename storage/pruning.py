"""Deleting what is old enough to go (the retention in `[retention]`), a batch per call so
that no statement holds locks for long: delivered outbox rows, and provider events of payments
that are no longer watched. Undelivered notifications (pending or dead) are never deleted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from storage.models import OutboxItem, Payment, PaymentEvent

DELIVERED = ("sent", "skipped")


def prune_outbox(session: Session, before: datetime, limit: int) -> int:
    """Delete up to `limit` outbox rows delivered (sent or skipped) before `before`; how many."""
    ids: list[int] = []
    for status in DELIVERED:  # one indexed range (status, sent_at) each
        ids += session.scalars(
            select(OutboxItem.id)
            .where(OutboxItem.status == status, OutboxItem.sent_at < before)
            .order_by(OutboxItem.sent_at)
            .limit(limit - len(ids))
        ).all()
        if len(ids) >= limit:
            break
    if not ids:
        return 0
    session.execute(
        delete(OutboxItem)
        .where(OutboxItem.id.in_(ids), OutboxItem.status.in_(DELIVERED))
        .execution_options(synchronize_session=False)
    )
    return len(ids)


def prune_events(session: Session, before: datetime, limit: int) -> int:
    """Delete up to `limit` provider events received before `before` whose payment is no
    longer watched (no sweeper check, no reconciliation read ahead) or unknown; how many."""
    settled = or_(
        PaymentEvent.payment_id.is_(None),
        and_(Payment.next_check_at.is_(None), Payment.next_poll_at.is_(None)),
    )
    ids = session.scalars(
        select(PaymentEvent.id)
        .outerjoin(Payment, Payment.id == PaymentEvent.payment_id)
        .where(PaymentEvent.received_at < before, settled)
        .order_by(PaymentEvent.received_at)
        .limit(limit)
    ).all()
    if not ids:
        return 0
    session.execute(
        delete(PaymentEvent)
        .where(PaymentEvent.id.in_(list(ids)))
        .execution_options(synchronize_session=False)
    )
    return len(ids)
