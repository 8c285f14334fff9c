"""The usual provider event in few round trips (`storage/event_writes.py`), with every guarantee
of the long way: one statement fewer never means a lost notice or a second activation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select

from bot.app import App
from storage import event_writes
from storage.models import Activation, OutboxItem, Payment, PaymentEvent, User
from tests.helpers import buy
from tools.providers.base import ProviderEvent

ROUNDS = 8


async def _payment(app: App, pid: int) -> Payment:
    async with app.db.sessions() as session:
        return await session.get(Payment, pid)


async def _count(app: App, model: type, *where: object) -> int:
    async with app.db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


@contextmanager
def statements_sent(app: App) -> Iterator[list[str]]:
    """Every statement the app sends meanwhile, BEGIN and COMMIT aside: those through
    SQLAlchemy's cursors and, on PostgreSQL, those run on asyncpg directly
    (`storage.driver_statements`), which its query loggers see."""
    statements: list[str] = []
    engines = [app.db.engine.sync_engine]
    if app.db._sync_engine is not None:  # SQLite's writes go through the plain driver
        engines.append(app.db._sync_engine)

    def seen(_conn, _cursor, statement, *_args) -> None:
        if not statement.startswith(("BEGIN", "COMMIT")):  # SQLite's BEGIN IMMEDIATE
            statements.append(statement)

    def logged(record) -> None:
        if not record.query.startswith(("BEGIN", "COMMIT")):  # asyncpg's own transaction
            statements.append(record.query)

    def checkout(dbapi_connection, _record, _proxy) -> None:
        if not app.db.is_sqlite:
            dbapi_connection.driver_connection.add_query_logger(logged)

    def checkin(dbapi_connection, _record) -> None:
        if not app.db.is_sqlite and dbapi_connection is not None:
            dbapi_connection.driver_connection.remove_query_logger(logged)

    for engine in engines:
        event.listen(engine, "before_cursor_execute", seen)
    event.listen(app.db.engine.sync_engine.pool, "checkout", checkout)
    event.listen(app.db.engine.sync_engine.pool, "checkin", checkin)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", seen)
        event.remove(app.db.engine.sync_engine.pool, "checkout", checkout)
        event.remove(app.db.engine.sync_engine.pool, "checkin", checkin)


async def test_a_finished_event_takes_three_statements_on_postgresql(app, fake) -> None:
    """Lock and read, record and move, activate and tell: three statements (and BEGIN and
    COMMIT) on PostgreSQL, where there were six; SQLite runs the plain statements."""
    pid = await buy(fake, "/buy pro sol")
    payment = await _payment(app, pid)
    with statements_sent(app) as statements:
        result = await app.events.apply_event(
            ProviderEvent(payment.provider_payment_id, "finished", payment.pay_amount), "ipn"
        )
    assert result.outcome == "applied"
    assert len(statements) == (6 if app.db.is_sqlite else 3), statements
    assert await _count(app, Activation, Activation.payment_id == pid) == 1
    notices = OutboxItem.dedupe_key == f"payment:{pid}:activated"
    assert await _count(app, OutboxItem, notices) == 1


async def test_one_finished_event_on_two_workers_at_once_activates_once(workers, fake) -> None:
    """The same IPN delivered to two workers at the same moment: one applies it (one
    activation, one notice, one event row), the other sees a duplicate."""
    first, second = workers
    for n in range(ROUNDS):
        pid = await buy(fake, "/buy pro sol", user=f"twice{n}")
        payment = await _payment(first, pid)
        finished = ProviderEvent(payment.provider_payment_id, "finished", payment.pay_amount)
        results = await asyncio.gather(
            first.events.apply_event(finished, "ipn"), second.events.apply_event(finished, "ipn")
        )
        assert sorted(r.outcome for r in results) == ["applied", "duplicate"], f"round {n}"
        assert await _count(first, Activation, Activation.payment_id == pid) == 1
        notices = OutboxItem.dedupe_key == f"payment:{pid}:activated"
        assert await _count(first, OutboxItem, notices) == 1
        assert await _count(first, PaymentEvent, PaymentEvent.payment_id == pid) == 1
        assert (await _payment(first, pid)).status == "finished"


async def test_a_lower_event_racing_the_finished_one_never_moves_it_back(workers, fake) -> None:
    """`confirming` and `finished` for one payment at once on two workers: whichever is
    applied first, the payment ends finished, activated once, and both events are kept."""
    first, second = workers
    for n in range(ROUNDS):
        pid = await buy(fake, "/buy pro sol", user=f"order{n}")
        payment = await _payment(first, pid)
        paid = payment.pay_amount
        ppid = payment.provider_payment_id
        await asyncio.gather(
            first.events.apply_event(ProviderEvent(ppid, "confirming", paid), "ipn"),
            second.events.apply_event(ProviderEvent(ppid, "finished", paid), "ipn"),
        )
        payment = await _payment(first, pid)
        assert (payment.status, payment.actually_paid) == ("finished", paid), f"round {n}"
        assert await _count(first, Activation, Activation.payment_id == pid) == 1
        assert await _count(first, PaymentEvent, PaymentEvent.payment_id == pid) == 2
        assert payment.actually_paid == Decimal(paid)


async def test_the_locking_read_holds_the_customer_before_the_payment(app, fake) -> None:
    """Lock order (customer, then payment) inside the one statement of `event_payment`: while
    another transaction holds the customer, the waiting read holds nothing of the payment
    yet, so that transaction can still lock the payment (no deadlock)."""
    if app.db.is_sqlite:
        pytest.skip("row locks are PostgreSQL's")
    pid = await buy(fake, "/buy pro sol")
    payment = await _payment(app, pid)

    def read(session):
        return event_writes.event_payment(session, payment.provider, payment.provider_payment_id)

    async with app.db.engine.connect() as holder:
        await holder.begin()
        await holder.exec_driver_sql("SET LOCAL lock_timeout = '3s'")
        customer = select(User.id).where(User.id == payment.user_id).with_for_update()
        await holder.execute(customer)
        reader = asyncio.create_task(app.db.run(read))
        await asyncio.sleep(0.5)
        assert not reader.done()  # waiting for the customer
        await holder.execute(select(Payment.id).where(Payment.id == pid).with_for_update())
        await holder.commit()
    found = await reader
    assert found is not None and found[0].id == pid
