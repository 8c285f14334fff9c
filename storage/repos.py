"""Queries. Each function takes the session of the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Activation,
    ChatMessage,
    Payment,
    PendingQuestion,
    User,
)


def _insert(session: AsyncSession, model: type) -> Any:
    dialect = session.bind.dialect.name  # type: ignore[union-attr]
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


async def insert_ignore(session: AsyncSession, model: type, values: dict[str, Any]) -> bool:
    """INSERT unless a unique key already exists; True when a row was written."""
    result = await session.execute(
        _insert(session, model).values(**values).on_conflict_do_nothing()
    )
    return bool(result.rowcount)


# --- users -----------------------------------------------------------------------------------


async def get_or_create_user(
    session: AsyncSession, platform: str, platform_user_id: str, display_name: str, now: datetime
) -> User:
    query = select(User).where(
        User.platform == platform, User.platform_user_id == platform_user_id
    )
    user = (await session.scalars(query)).first()
    if user is None:
        await insert_ignore(
            session,
            User,
            dict(
                platform=platform,
                platform_user_id=platform_user_id,
                display_name=display_name[:200],
                created_at=now,
                locale_chosen=False,
            ),
        )
        user = (await session.scalars(query)).one()
    elif display_name and user.display_name != display_name[:200]:
        user.display_name = display_name[:200]
    if user.linked_to is not None:  # an account linked to a customer acts as that customer
        customer = await session.get(User, user.linked_to)
        if customer is not None:
            return customer
    return user


# --- payments --------------------------------------------------------------------------------


MAX_ID = 2**63 - 1  # ids beyond a BIGINT cannot exist; asking for one is "not found"


async def payment_by_id(session: AsyncSession, payment_id: int) -> Payment | None:
    if not 0 < payment_id <= MAX_ID:
        return None
    return await session.get(Payment, payment_id)


async def payment_of_user(session: AsyncSession, payment_id: int, user_id: int) -> Payment | None:
    """The payment only if it belongs to the user: others' ids look exactly like missing ones."""
    if not 0 < payment_id <= MAX_ID:
        return None
    query = select(Payment).where(Payment.id == payment_id, Payment.user_id == user_id)
    return (await session.scalars(query)).first()


async def latest_payment(session: AsyncSession, user_id: int) -> Payment | None:
    query = (
        select(Payment)
        .where(Payment.user_id == user_id)
        .order_by(Payment.created_at.desc(), Payment.id.desc())
        .limit(1)
    )
    return (await session.scalars(query)).first()


async def recent_payments(session: AsyncSession, user_id: int, limit: int) -> Sequence[Payment]:
    query = (
        select(Payment)
        .where(Payment.user_id == user_id)
        .order_by(Payment.created_at.desc(), Payment.id.desc())
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def payments_with_status(
    session: AsyncSession, user_id: int, statuses: Sequence[str]
) -> Sequence[Payment]:
    query = (
        select(Payment)
        .where(Payment.user_id == user_id, Payment.status.in_(list(statuses)))
        .order_by(Payment.id)
    )
    return (await session.scalars(query)).all()


async def due_payments(
    session: AsyncSession, now: datetime, limit: int, *, after: tuple[datetime, int] | None = None
) -> list[Any]:
    """(id, status, expires_at, provider_payment_id, next_check_at) of payments whose
    `next_check_at` has come, earliest first (an index range scan); `after` continues behind
    the last row of the previous batch (a row another worker holds is not read again)."""
    query = select(
        Payment.id,
        Payment.status,
        Payment.expires_at,
        Payment.provider_payment_id,
        Payment.next_check_at,
    ).where(Payment.next_check_at <= now)
    if after is not None:
        at, last_id = after
        query = query.where(
            or_(
                Payment.next_check_at > at,
                and_(Payment.next_check_at == at, Payment.id > last_id),
            )
        )
    query = query.order_by(Payment.next_check_at, Payment.id).limit(limit)
    return list((await session.execute(query)).all())


# --- events, activations ---------------------------------------------------------------------


async def active_activations(
    session: AsyncSession, user_id: int, now: datetime
) -> Sequence[Activation]:
    query = (
        select(Activation)
        .where(
            Activation.user_id == user_id,
            Activation.revoked_at.is_(None),
            Activation.period_end > now,
        )
        .order_by(Activation.period_end)
    )
    return (await session.scalars(query)).all()


async def due_activations(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Ids of activations whose `next_notice_at` has come, oldest first (an index range
    scan)."""
    query = (
        select(Activation.id)
        .where(Activation.next_notice_at <= now)
        .order_by(Activation.next_notice_at, Activation.id)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


# --- chat history, audit ---------------------------------------------------------------------


async def add_chat_message(
    session: AsyncSession,
    platform: str,
    chat_id: str,
    role: str,
    content: str,
    now: datetime,
    keep: int,
) -> None:
    session.add(
        ChatMessage(
            chat_platform=platform, chat_id=chat_id, role=role, content=content, created_at=now
        )
    )
    await session.flush()
    old = (
        select(ChatMessage.id)
        .where(ChatMessage.chat_platform == platform, ChatMessage.chat_id == chat_id)
        .order_by(ChatMessage.id.desc())
        .offset(keep)
    )
    stale = list((await session.scalars(old)).all())
    if stale:
        await session.execute(delete(ChatMessage).where(ChatMessage.id.in_(stale)))


async def chat_messages(session: AsyncSession, platform: str, chat_id: str, limit: int) -> list:
    query = (
        select(ChatMessage)
        .where(ChatMessage.chat_platform == platform, ChatMessage.chat_id == chat_id)
        .order_by(ChatMessage.id.desc())
        .limit(limit)
    )
    return list(reversed((await session.scalars(query)).all()))


# --- the offline assistant's open questions ----------------------------------------------------


def _question_of(platform: str, chat_id: str, user_id: int) -> Any:
    return (
        PendingQuestion.chat_platform == platform,
        PendingQuestion.chat_id == chat_id,
        PendingQuestion.user_id == user_id,
    )


async def put_question(
    session: AsyncSession, platform: str, chat_id: str, user_id: int, values: dict[str, Any]
) -> None:
    """Ask a customer in a chat a question, replacing the one they had there (an upsert, so
    two workers writing at once leave one question, not an error)."""
    key = dict(chat_platform=platform, chat_id=chat_id, user_id=user_id)
    insert = _insert(session, PendingQuestion).values(**key, **values)
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=["chat_platform", "chat_id", "user_id"], set_=values
        )
    )


async def take_question(
    session: AsyncSession, platform: str, chat_id: str, user_id: int, now: datetime
) -> PendingQuestion | None:
    """The customer's open question in a chat, removed: it answers one message. None when
    there is none, it has expired, or another worker took it first."""
    row = (
        await session.scalars(
            select(PendingQuestion).where(*_question_of(platform, chat_id, user_id))
        )
    ).first()
    if row is None:
        return None
    taken = await session.execute(delete(PendingQuestion).where(PendingQuestion.id == row.id))
    if not taken.rowcount or row.expires_at <= now:
        return None
    return row


async def has_question(session: AsyncSession, platform: str, chat_id: str, user_id: int) -> bool:
    query = select(PendingQuestion.id).where(*_question_of(platform, chat_id, user_id))
    return (await session.scalars(query)).first() is not None


async def drop_question(session: AsyncSession, platform: str, chat_id: str, user_id: int) -> None:
    await session.execute(delete(PendingQuestion).where(*_question_of(platform, chat_id, user_id)))
