"""What a customer's command reads, as Core queries on one `Connection`.

A command (`/plans`, `/plan`, `/status`, `/history`) only reads, and it ran through an ORM
session: each statement was built again with its cache key, its rows became tracked objects,
and on SQLite every statement crossed to aiosqlite's thread and back a few times. These
statements are built once with bound parameters and return plain rows (attributes named like
the models' columns) through `Database.read`: on SQLite one worker-thread hop for the whole
read, on PostgreSQL one connection through `run_sync`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Row, bindparam, exists, select

from storage.models import AccessGrant, Activation, Payment, PendingQuestion, User
from storage.repos import MAX_ID


@cache
def _statements() -> dict[str, Any]:
    users, payments, questions = User.__table__, Payment.__table__, PendingQuestion.__table__
    newest = (payments.c.created_at.desc(), payments.c.id.desc())
    account = (
        users.c.platform == bindparam("platform"),
        users.c.platform_user_id == bindparam("platform_user_id"),
    )
    asked = exists().where(  # the assistant's question to this account in this chat is open
        questions.c.chat_platform == bindparam("platform"),
        questions.c.chat_id == bindparam("chat_id"),
        questions.c.user_id == users.c.id,
    )
    return {
        "account": select(users).where(*account),
        "account_in_chat": select(users, asked.label("asked")).where(*account),
        "user": select(users).where(users.c.id == bindparam("id")),
        "question": select(PendingQuestion.__table__.c.id)
        .where(
            PendingQuestion.chat_platform == bindparam("platform"),
            PendingQuestion.chat_id == bindparam("chat_id"),
            PendingQuestion.user_id == bindparam("user_id"),
        )
        .limit(1),
        "active": select(Activation.plan, Activation.period_end)
        .where(
            Activation.user_id == bindparam("user_id"),
            Activation.revoked_at.is_(None),
            Activation.period_end > bindparam("now"),
        )
        .order_by(Activation.period_end),
        "access": select(
            AccessGrant.kind, AccessGrant.invite_link, AccessGrant.last_result, AccessGrant.applied
        )
        .where(AccessGrant.user_id == bindparam("user_id"), AccessGrant.status == "open")
        .order_by(AccessGrant.id),
        "payment": select(payments).where(
            payments.c.id == bindparam("id"), payments.c.user_id == bindparam("user_id")
        ),
        "latest": select(payments)
        .where(payments.c.user_id == bindparam("user_id"))
        .order_by(*newest)
        .limit(1),
        "finished": select(payments.c.price_amount, payments.c.price_currency).where(
            payments.c.user_id == bindparam("user_id"), payments.c.status == "finished"
        ),
    }


@cache
def _recent(limit: int) -> Any:
    payments = Payment.__table__
    return (
        select(payments)
        .where(payments.c.user_id == bindparam("user_id"))
        .order_by(payments.c.created_at.desc(), payments.c.id.desc())
        .limit(limit)
    )


def _run(conn: Connection, name: str, **params: Any) -> Any:
    return conn.execute(_statements()[name], params)


def customer(conn: Connection, platform: str, platform_user_id: str) -> tuple[Row, Row] | None:
    """The account (platform, id) and the customer it acts as (itself, or the customer it is
    linked to); None for an account not seen yet."""
    account = _run(conn, "account", platform=platform, platform_user_id=platform_user_id).first()
    if account is None:
        return None
    linked = _run(conn, "user", id=account.linked_to).first() if account.linked_to else None
    return account, linked or account


def customer_in_chat(
    conn: Connection, platform: str, platform_user_id: str, chat_id: str
) -> tuple[Row, Row, bool] | None:
    """`customer`, and whether the assistant's question to the customer in this chat is
    open (`has_question`): one statement for an account that is not linked."""
    account = _run(
        conn,
        "account_in_chat",
        platform=platform,
        platform_user_id=platform_user_id,
        chat_id=chat_id,
    ).first()
    if account is None:
        return None
    linked = _run(conn, "user", id=account.linked_to).first() if account.linked_to else None
    if linked is None:
        return account, account, bool(account.asked)
    return account, linked, has_question(conn, platform, chat_id, linked.id)


def has_question(conn: Connection, platform: str, chat_id: str, user_id: int) -> bool:
    """Whether the assistant's question to this customer in this chat is open."""
    found = _run(conn, "question", platform=platform, chat_id=chat_id, user_id=user_id)
    return found.first() is not None


def active_plans(conn: Connection, user_id: int, now: datetime) -> Sequence[Row]:
    """(plan, period_end) of the customer's activations running at `now`, earliest end first."""
    return _run(conn, "active", user_id=user_id, now=now).all()


def open_access(conn: Connection, user_id: int) -> Sequence[Row]:
    """(kind, invite_link, last_result, applied) of the customer's open access grants."""
    return _run(conn, "access", user_id=user_id).all()


def payment_of_user(conn: Connection, payment_id: int, user_id: int) -> Row | None:
    """The payment only if it belongs to the user: others' ids look exactly like missing ones."""
    if not 0 < payment_id <= MAX_ID:
        return None
    return _run(conn, "payment", id=payment_id, user_id=user_id).first()


def latest_payment(conn: Connection, user_id: int) -> Row | None:
    return _run(conn, "latest", user_id=user_id).first()


def recent_payments(conn: Connection, user_id: int, limit: int) -> Sequence[Row]:
    return conn.execute(_recent(limit), {"user_id": user_id}).all()


def finished_prices(conn: Connection, user_id: int) -> Sequence[Row]:
    """(price_amount, price_currency) of the customer's finished payments."""
    return _run(conn, "finished", user_id=user_id).all()
