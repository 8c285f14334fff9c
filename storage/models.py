"""The tables paybot remembers (DESIGN §2)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.types import Money, UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identities.
URGENT, NORMAL = 0, 1  # outbox priorities, claimed in this order
PRIORITIES = (URGENT, NORMAL)
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        Index("uq_users_platform_user", "platform", "platform_user_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    platform_user_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    locale: Mapped[str | None] = mapped_column(String(16))
    locale_chosen: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # this account belongs to another user (the customer it was linked to with /link): its
    # messages act for that customer, whose plan, payments and access they share
    linked_to: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)


# made by migration 0012 in each dialect's own words (the duration of a payment): expression
# indexes that Alembic's comparison cannot match to a model, so it is told to skip them
EXPRESSION_INDEXES = frozenset({"ix_payments_time_to_pay"})
_MAYBE = (
    "surplus IS NOT NULL OR status IN "
    "('failed', 'refunded', 'partially_paid', 'confirming', 'confirmed', 'sending')"
)


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        Index("uq_payments_provider_payment", "provider", "provider_payment_id", unique=True),
        Index("ix_payments_user_created", "user_id", "created_at"),
        Index("ix_payments_status", "status"),  # /metrics counts the open ones
        Index("ix_payments_updated_at", "updated_at"),  # the dashboard's live table
        Index(  # a payment's top-ups
            "ix_payments_parent",
            "parent_payment_id",
            sqlite_where=text("parent_payment_id IS NOT NULL"),
            postgresql_where=text("parent_payment_id IS NOT NULL"),
        ),
        # what may need a human
        Index(
            "ix_payments_attention",
            "updated_at",
            "id",
            sqlite_where=text(f"parent_payment_id IS NULL AND (late = 1 OR {_MAYBE})"),
            postgresql_where=text(f"parent_payment_id IS NULL AND (late OR {_MAYBE})"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    chat_platform: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(64))
    card_message_ref: Mapped[str | None] = mapped_column(String(128))
    order_id: Mapped[str] = mapped_column(String(64), unique=True)
    plan: Mapped[str] = mapped_column(String(32))
    price_amount: Mapped[Decimal] = mapped_column(Money)
    price_currency: Mapped[str] = mapped_column(String(10))
    pay_currency: Mapped[str] = mapped_column(String(20))
    pay_amount: Mapped[Decimal] = mapped_column(Money)
    pay_address: Mapped[str] = mapped_column(String(128))
    payin_extra_id: Mapped[str | None] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(20))
    provider_payment_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    status_rank: Mapped[int] = mapped_column(Integer)
    actually_paid: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))  # incl. top-ups
    topup_paid: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))  # from child payments
    outcome_amount: Mapped[Decimal | None] = mapped_column(Money)
    outcome_currency: Mapped[str | None] = mapped_column(String(20))
    fee_currency: Mapped[str | None] = mapped_column(String(20))
    fee_deposit: Mapped[Decimal | None] = mapped_column(Money)
    fee_withdrawal: Mapped[Decimal | None] = mapped_column(Money)
    fee_service: Mapped[Decimal | None] = mapped_column(Money)
    surplus: Mapped[Decimal | None] = mapped_column(Money)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    warnings_sent: Mapped[str] = mapped_column(String(100), default="")
    retried_from_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    purchase_id: Mapped[str | None] = mapped_column(String(64))
    parent_payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    late: Mapped[bool] = mapped_column(default=False)


class PaymentEvent(Base):
    __tablename__ = "payment_events"
    __table_args__ = (Index("ix_payment_events_received", "received_at"),)  # pruning by age

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(20))
    old_status: Mapped[str | None] = mapped_column(String(20))
    new_status: Mapped[str] = mapped_column(String(20))
    applied: Mapped[bool] = mapped_column(default=False)
    raw: Mapped[str] = mapped_column(Text, default="")


class Activation(Base):
    __tablename__ = "activations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    plan: Mapped[str] = mapped_column(String(32))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(40), default="payment")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(100))
    # the renewal sweeper's due time (reminders before the end, the lapse at it), indexed
    next_notice_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    notices_sent: Mapped[str] = mapped_column(String(100), default="")


class OutboxItem(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        # a relay claims only its own platforms' due rows, urgent ones first, each (platform,
        # priority) in the index's due order: rows for a platform no process here runs cost
        # it nothing
        Index(
            "ix_outbox_status_platform_priority_next",
            "status",
            "chat_platform",
            "priority",
            "next_attempt_at",
            "id",
        ),
        Index("ix_outbox_status_sent", "status", "sent_at"),  # pruning of delivered rows
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    chat_platform: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    locale: Mapped[str] = mapped_column(String(16))
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # URGENT (countdown warnings: late is useless) is claimed before NORMAL
    priority: Mapped[int] = mapped_column(SmallInteger, default=NORMAL, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    # the claim of the relay working on the row (written when claimed, cleared when handled):
    # every update a relay makes to a claimed row requires its own token still to be there
    claim_token: Mapped[str | None] = mapped_column(String(32))


class AccessGrant(Base):
    """One customer's access to one thing a plan opens (a Telegram chat, a Discord role, the
    shop's own service), kept true by `tools.access`: open while a paid period (plus the
    grace period) covers it, closed after. The outside effects go through the outbox."""

    __tablename__ = "access_grants"
    __table_args__ = (
        Index("uq_access_grants_user_resource", "user_id", "kind", "ref", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(20))  # telegram_chat, discord_role, webhook
    ref: Mapped[str] = mapped_column(String(64))  # chat id, "guild:role", "shop"
    status: Mapped[str] = mapped_column(String(10))  # open, closed
    opened: Mapped[int] = mapped_column(Integer, default=1)  # how many times it was opened
    paid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # when access is taken away (the paid end plus the grace period): the sweeper's due time
    close_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    account: Mapped[str] = mapped_column(String(64))  # the customer's account on that platform
    invite_link: Mapped[str | None] = mapped_column(String(200))  # the customer's own link
    applied: Mapped[bool] = mapped_column(default=False)  # the platform did what we asked
    last_result: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last compared by the sync


class AccessLogEntry(Base):
    """Every grant and removal: who, what, why, when, and what the platform answered."""

    __tablename__ = "access_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("access_grants.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    action: Mapped[str] = mapped_column(String(30))  # open, close, invite, approve, ...
    reason: Mapped[str] = mapped_column(String(60))  # payment:42, grant:admin, lapse, ...
    result: Mapped[str] = mapped_column(String(300), default="ok")


class LinkCode(Base):
    """A one-time code that links another platform's account to the customer who asked."""

    __tablename__ = "link_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    platform: Mapped[str] = mapped_column(String(20))  # where it was asked for
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChatMessage(Base):
    __tablename__ = "chat_history"
    __table_args__ = (Index("ix_chat_history_chat", "chat_platform", "chat_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    chat_platform: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(10))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PendingQuestion(Base):
    """A question the offline assistant asked a customer in a chat ("which coin?"), waiting
    for the next message to answer it: the tool to call, the arguments the customer already
    chose (plan, coin, payment id; never a user, price or address), the argument asked for,
    and the choices offered. One per customer and chat."""

    __tablename__ = "pending_questions"
    __table_args__ = (
        Index(
            "uq_pending_questions_chat_user", "chat_platform", "chat_id", "user_id", unique=True
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    chat_platform: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    tool: Mapped[str] = mapped_column(String(40))
    code: Mapped[str] = mapped_column(String(40))  # the question: need_coin, which_to_cancel, ...
    slot: Mapped[str] = mapped_column(String(20))  # the argument asked for: plan, coin, ...
    args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    options: Mapped[list[str]] = mapped_column(JSON, default=list)
    strikes: Mapped[int] = mapped_column(Integer, default=0)  # answers that did not fit
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SandboxTransfer(Base):
    """The simulated provider's own ledger: scheduled on-chain steps of sandbox payments."""

    __tablename__ = "sandbox_events"
    __table_args__ = (Index("ix_sandbox_events_pending", "delivered_at", "due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_payment_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20))
    actually_paid: Mapped[Decimal] = mapped_column(Money)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSignIn(Base):
    """A single-use sign-in link for the dashboard, bound to one operator. Only the SHA-256 of
    the token is kept: the database never holds a working link."""

    __tablename__ = "web_sign_ins"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    operator: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A signed-in browser: the SHA-256 of its cookie, its operator, until when, and whether
    it was revoked (signed out)."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    operator: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_agent: Mapped[str] = mapped_column(String(200), default="")


class AttentionSettled(Base):
    """A payment an operator marked as handled: it leaves "needs a human" until something
    about it happens after `settled_at` (a later change or undelivered notice)."""

    __tablename__ = "attention_settled"

    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), primary_key=True)
    settled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    settled_by: Mapped[str] = mapped_column(String(100))


class PaymentTally(Base):
    """What the purchases add to the shop's stats, per quarter hour (`slot`: UTC epoch
    seconds, a multiple of 900). Written by triggers on `payments` (migration 0012): each
    change adds rows (`sign` -1 for what the payment stopped adding, +1 for what it adds
    now); `storage.tallies.fold` merges rows into one per key (`folded` 1). `created` rows
    count payments by status; `paid` rows count finished ones and carry their amounts."""

    __tablename__ = "payment_tallies"
    __table_args__ = (
        Index("ix_payment_tallies_slot", "slot"),
        Index("ix_payment_tallies_folded", "folded", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # created | paid
    slot: Mapped[int] = mapped_column(BigInteger)
    sign: Mapped[int] = mapped_column(Integer)
    folded: Mapped[int] = mapped_column(Integer)
    status: Mapped[str | None] = mapped_column(String(20))
    plan: Mapped[str | None] = mapped_column(String(40))
    coin: Mapped[str | None] = mapped_column(String(20))
    price_currency: Mapped[str | None] = mapped_column(String(10))
    price_amount: Mapped[Decimal | None] = mapped_column(Money)
    outcome_currency: Mapped[str | None] = mapped_column(String(20))
    fee_currency: Mapped[str | None] = mapped_column(String(20))
    n: Mapped[int] = mapped_column(BigInteger)
    paid: Mapped[Decimal | None] = mapped_column(Money)
    outcome: Mapped[Decimal | None] = mapped_column(Money)
    fee_deposit: Mapped[Decimal | None] = mapped_column(Money)
    fee_withdrawal: Mapped[Decimal | None] = mapped_column(Money)
    fee_service: Mapped[Decimal | None] = mapped_column(Money)


class Lease(Base):
    """Who owns a connection only one worker may hold (Telegram polling, a Discord gateway
    shard) or a worker's own heartbeat (`worker:<owner>`): held until `expires_at` unless the
    owner renews it; anyone may take it after that."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OperatorState(Base):
    """What the workers count together for operator alerts (a burst of bad IPN signatures,
    a provider failing): one row per situation, changed under its row lock."""

    __tablename__ = "operator_state"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    since: Mapped[datetime | None] = mapped_column(UTCDateTime)  # first failure of a streak
    alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    marks: Mapped[list[str]] = mapped_column(JSON, default=list)  # recent times (ISO)
    detail: Mapped[str] = mapped_column(String(300), default="")


class SendSlot(Base):
    """One send limit shared by the workers (a platform's overall limit, one chat, one group):
    the next moment, in the database's clock (epoch seconds), a send under it may start, and
    until when a send in flight holds it (a limit with no burst: the next one waits for the
    answer)."""

    __tablename__ = "send_slots"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    next_at: Mapped[float] = mapped_column(Float)
    held_until: Mapped[float | None] = mapped_column(Float)
