"""What a known customer's everyday commands cost the database: plain reads (Core
statements built once, `storage.reads`), no ORM session's queries, and one write only where
something changes (a new `/status` card's message ref)."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.adapters.fake import FakeAdapter
from bot.app import App
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
