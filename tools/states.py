"""The payment state machine (DESIGN §3): statuses, ranks and which moves are allowed."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    WAITING = "waiting"
    CONFIRMING = "confirming"
    CONFIRMED = "confirmed"
    SENDING = "sending"
    PARTIALLY_PAID = "partially_paid"
    FINISHED = "finished"
    FAILED = "failed"
    REFUNDED = "refunded"
    EXPIRED = "expired"
    CANCELLED = "cancelled"  # by its customer, before any money was seen (never a provider's)


# Higher rank = further along. `expired` and `cancelled` rank low: money may still arrive for
# them (late payment).
RANK: dict[Status, int] = {
    Status.WAITING: 0,
    Status.EXPIRED: 5,
    Status.CANCELLED: 6,
    Status.CONFIRMING: 10,
    Status.CONFIRMED: 20,
    Status.SENDING: 30,
    Status.PARTIALLY_PAID: 40,
    Status.FINISHED: 50,
    Status.FAILED: 60,
    Status.REFUNDED: 70,
}

FINAL = frozenset({Status.FINISHED, Status.FAILED, Status.REFUNDED})
MONEY_SEEN = frozenset(
    {Status.CONFIRMING, Status.CONFIRMED, Status.SENDING, Status.PARTIALLY_PAID, Status.FINISHED}
)
# Still expecting something from the customer or the chain.
OPEN = frozenset(
    {Status.WAITING, Status.CONFIRMING, Status.CONFIRMED, Status.SENDING, Status.PARTIALLY_PAID}
)
# Money seen and still on its way: never counted as abandoned, whatever the deadline.
IN_FLIGHT = frozenset({Status.CONFIRMING, Status.CONFIRMED, Status.SENDING})
RETRYABLE = frozenset({Status.FAILED, Status.EXPIRED})
# Closed on our side only: the provider may still see money for it, which is a late payment.
LATE_WHEN_PAID = frozenset({Status.EXPIRED, Status.CANCELLED})


def parse_status(value: str) -> Status:
    try:
        return Status(value)
    except ValueError:
        raise ValueError(f"unknown payment status {value!r}") from None


def can_move(old: Status, new: Status) -> bool:
    """True when an observed `new` status moves a payment forward from `old`.

    Terminal statuses are final; an expired or cancelled payment only moves when money shows up
    (a late payment); everything else only moves to a higher rank, so duplicates and late
    out-of-order events are no-ops and a payment never goes backwards.
    """
    if old in FINAL:
        return False
    if old in LATE_WHEN_PAID:
        return new in MONEY_SEEN
    return RANK[new] > RANK[old]
