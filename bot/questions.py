"""Where the offline assistant's open questions are kept: one row per customer and chat in
the database (`pending_questions`), so any worker that gets the answer finds the question, and
a customer's question never answers for another customer or in another chat."""

from __future__ import annotations

from bot.agent.followup import QUESTION_TTL, TOOL_ARGS, Question
from bot.messages import ChatRef
from storage import repos
from storage.db import Database
from tools.clock import Clock


class OpenQuestions:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def take(self, chat: ChatRef, user_id: int) -> Question | None:
        """The customer's open question in this chat, if it has not expired; it is removed
        (it answers one message; `keep` puts it back after a wrong answer). Looked for
        first, so a message of a customer who was asked nothing costs no write."""
        if not await self._has(chat, user_id):
            return None
        async with self.db.transaction() as session:
            row = await repos.take_question(
                session, chat.platform, chat.chat_id, user_id, self.clock()
            )
            if (
                row is None
                or TOOL_ARGS.get(row.tool) is None
                or row.slot not in TOOL_ARGS[row.tool]
            ):
                return None
            return Question(
                row.tool,
                row.code,
                row.slot,
                dict(row.args or {}),
                tuple(str(o) for o in row.options or ()),
                row.strikes,
            )

    async def keep(self, chat: ChatRef, user_id: int, question: Question) -> None:
        """Ask `question`, replacing any other question of the customer in this chat; it is
        open for `QUESTION_TTL` from now."""
        async with self.db.transaction() as session:
            await repos.put_question(
                session,
                chat.platform,
                chat.chat_id,
                user_id,
                dict(
                    tool=question.tool,
                    code=question.code,
                    slot=question.slot,
                    args=dict(question.args),
                    options=list(question.options),
                    strikes=question.strikes,
                    expires_at=self.clock() + QUESTION_TTL,
                ),
            )

    async def drop(self, chat: ChatRef, user_id: int, *, open_: bool | None = None) -> None:
        """Forget the customer's question in this chat (a command was sent instead). Most
        customers have none, so a command costs no write. `open_`: whether one is open, when
        the caller has just looked (None: look here)."""
        if open_ is None:
            open_ = await self._has(chat, user_id)
        if not open_:
            return
        async with self.db.transaction() as session:
            await repos.drop_question(session, chat.platform, chat.chat_id, user_id)

    async def _has(self, chat: ChatRef, user_id: int) -> bool:
        async with self.db.sessions() as session:
            return await repos.has_question(session, chat.platform, chat.chat_id, user_id)
