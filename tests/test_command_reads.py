"""What a known customer's everyday commands cost the database: plain reads (Core
statements built once, `storage.reads`), no ORM session's queries, and one write only where
something changes (a new `/status` card's message ref)."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.adapters.fake import FakeAdapter
from bot.app import App
from storage import reads
from storage.models import PendingQuestion, User
from tests.helpers import buy

MIXED = ("/plans", "/plan", "/status", "/history", "/help")
READS = {"/plans": 2, "/plan": 3, "/status": 2, "/history": 3, "/help": 1}


async def test_a_known_customers_commands_are_plain_reads(app: App, fake: FakeAdapter) -> None:
    await buy(fake, "/buy pro sol")
    await fake.say("/help")  # a known customer from now on
    orm: list[str] = []
    statements: list[str] = []

    def on_orm(state) -> None:
        orm.append(str(state.statement).split("\n", 1)[0])

    def on_statement(conn, cursor, statement, parameters, context, executemany) -> None:
        words = statement.split()
        if words and words[0].upper() in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            statements.append(" ".join(words[:3]) if words[0].upper() == "UPDATE" else words[0])

    event.listen(Session, "do_orm_execute", on_orm)
    event.listen(Engine, "before_cursor_execute", on_statement)
    try:
        for command in MIXED:
            orm.clear()
            statements.clear()
            replies = await fake.say(command)
            assert replies and replies[0].text, command
            assert orm == [], (command, orm)
            writes = [s for s in statements if s != "SELECT"]
            expected = ["UPDATE payments SET"] if command == "/status" else []
            assert writes == expected, (command, statements)
            # the customer with the open question in one statement, then what the command
            # shows (/plan: the plans and the access; /history: the payments and the total)
            assert statements.count("SELECT") == READS[command], (command, statements)
    finally:
        event.remove(Session, "do_orm_execute", on_orm)
        event.remove(Engine, "before_cursor_execute", on_statement)


async def test_the_customer_and_the_open_question_are_read_together(app: App) -> None:
    """`reads.customer_in_chat` answers what `customer` and `has_question` answer: the open
    question belongs to the customer an account acts as (the one it is linked to), in this
    chat only."""
    now = app.clock()
    async with app.db.transaction() as session:
        alice = User(platform="fake", platform_user_id="alice", created_at=now, locale="en")
        bob = User(platform="fake", platform_user_id="bob", created_at=now, locale="en")
        session.add_all([alice, bob])
        await session.flush()
        linked = User(
            platform="other", platform_user_id="alice2", created_at=now, linked_to=alice.id
        )
        session.add(linked)
        session.add(
            PendingQuestion(
                chat_platform="fake",
                chat_id="alice",
                user_id=alice.id,
                tool="create_crypto_payment",
                code="need_coin",
                slot="coin",
                expires_at=now,
            )
        )
        session.add(
            PendingQuestion(
                chat_platform="other",
                chat_id="alice2",
                user_id=alice.id,
                tool="create_crypto_payment",
                code="need_coin",
                slot="coin",
                expires_at=now,
            )
        )

    def both(platform: str, account: str, chat: str) -> tuple:
        def work(conn):
            found = reads.customer_in_chat(conn, platform, account, chat)
            alone = reads.customer(conn, platform, account)
            if found is None:
                return None, alone
            account_row, user, asked = found
            expected = reads.has_question(conn, platform, chat, user.id)
            return (account_row.id, user.id, asked), (alone[0].id, alone[1].id, expected)

        return work

    for platform, account, chat, asked in [
        ("fake", "alice", "alice", True),  # her question in her chat
        ("fake", "alice", "elsewhere", False),  # not in another chat
        ("fake", "bob", "alice", False),  # not someone else's
        ("other", "alice2", "alice2", True),  # the linked account: the customer's question
        ("other", "alice2", "alice", False),
    ]:
        together, apart = await app.db.read(both(platform, account, chat))
        assert together == apart, (platform, account, chat)
        assert together[2] is asked, (platform, account, chat)
    assert await app.db.read(both("fake", "nobody", "x")) == (None, None)
