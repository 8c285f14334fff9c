"""One incoming message → replies: commands directly, free text through the agent."""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from bot.adapters.base import DeliveryError, RateLimited, Send
from bot.admin.commands import OperatorCommands, discard
from bot.admin.parser import AdminUsage, parse_chat
from bot.agent.followup import asked, read_answer
from bot.agent.router import Intent
from bot.agent.runner import AgentRunner
from bot.commands import (
    Command,
    UsageError,
    from_start_payload,
    help_text,
    is_public,
    parse_command,
    private_link,
    run_tool_command,
    usage,
)
from bot.i18n import _, normalize_locale, using_locale
from bot.messages import ChatRef, Incoming, Outgoing
from bot.questions import OpenQuestions
from bot.ratelimit import TextLimit
from bot.render import render_card
from storage import reads, repos, writes
from storage.db import Database
from tools.access.grants import AccessGrants
from tools.actions import EVERYDAY, CustomerActions, Shop
from tools.caller import Caller
from tools.clock import Clock
from tools.linking import AccountLinks

if TYPE_CHECKING:  # chat memory is LangChain messages, loaded with the agent's first turn
    from langchain_core.messages import BaseMessage

log = logging.getLogger(__name__)

MAX_TEXT = 2000  # longer messages are cut before they reach the agent
MAX_REPLY_WAIT = 10.0  # seconds a direct reply may wait for the platform's rate limit
NOT_UNDERSTOOD = "[not understood]"  # the assistant's turn in chat memory for such a message


def clean_text(text: str) -> str:
    """Drop control characters (NUL breaks PostgreSQL text) except line breaks and tabs."""
    if text.isprintable():  # the usual case: no control character at all
        return text
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")


class Conversation:
    def __init__(
        self,
        db: Database,
        shop: Shop,
        agent: AgentRunner,
        clock: Clock,
        *,
        locales: Sequence[str],
        default_locale: str,
        history_turns: int,
        guess_language: Callable[[str], str | None] = lambda text: None,
        sandbox_platforms: frozenset[str] = frozenset(),
        operators: Mapping[str, Sequence[str]] | None = None,
        operator_commands: OperatorCommands | None = None,
        access: AccessGrants | None = None,
        links: AccountLinks | None = None,
        text_limit: TextLimit | None = None,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.on_change = on_change  # wakes the relay when a card is queued
        self.access = access  # what paid plans open (for /newlink)
        self.links = links  # one customer across platforms (/link)
        self.shop = shop
        self.agent = agent
        self.clock = clock
        self.locales = list(locales)
        self.default_locale = default_locale
        self.guess_language = guess_language  # the language of free text, when told none
        self.history_turns = history_turns
        self.sandbox_platforms = sandbox_platforms  # where /pay (sandbox) is offered
        self.operators = {k: frozenset(v) for k, v in (operators or {}).items()}
        self.operator_commands = operator_commands
        self.text_limit = text_limit  # free text per customer (None: unlimited)
        self.questions = OpenQuestions(db, clock)  # what the offline assistant asked

    async def handle(self, incoming: Incoming, send: Send) -> None:
        """Answer one message. Nothing a user sends escapes as an exception."""
        if incoming.event is not None:  # a join request, a member joining: not answered here
            log.debug(
                "%s event from %s in %s left alone",
                incoming.event,
                incoming.user_id,
                incoming.chat,
            )
            return
        text = clean_text(incoming.text)[:MAX_TEXT]
        user_name = clean_text(incoming.user_name)[:200]
        button = clean_text(incoming.button)[:200] if incoming.button else None
        if (text, user_name, button) != (incoming.text, incoming.user_name, incoming.button):
            incoming = replace(incoming, text=text, user_name=user_name, button=button)
        # read once: the line is a command (a button's always is) or free text
        command = parse_command((incoming.button or incoming.text).strip())
        verdict = self._free_text_verdict(incoming, command)
        if verdict == TextLimit.DROP:
            log.debug("free text from %s dropped: too fast", incoming.chat)
            return  # told once in this burst; a flood gets no answer per message
        caller, asked = await self._caller(incoming, command)
        with using_locale(caller.locale):
            try:
                if verdict == TextLimit.WARN:
                    replies = [
                        Outgoing(
                            incoming.chat,
                            _("You're sending messages too fast. Please wait a moment."),
                        )
                    ]
                else:
                    replies = await self._answer(incoming, caller, asked, command)
            except Exception:
                log.exception("failed to handle a message from %s", incoming.chat)
                replies = [
                    Outgoing(
                        incoming.chat,
                        _(
                            "Sorry, something went wrong on our side. "
                            "Please try again in a moment."
                        ),
                    )
                ]
            replies = await self._edit_pressed_card(incoming, caller, replies)
            try:
                for reply in replies:
                    try:
                        ref = await self._send_with_retry(send, reply)
                    except Exception:  # one failed reply must not stop the conversation
                        log.exception("reply to %s could not be sent", incoming.chat)
                        if reply.payment_id and reply.edit_of is None:
                            await self._card_later(reply.payment_id, caller)
                        continue
                    if ref and reply.payment_id and reply.edit_of is None:
                        await self._remember_card(reply.payment_id, caller, ref)
            finally:
                for reply in replies:
                    if reply.file is not None:
                        discard(reply.file)

    def _free_text_verdict(self, incoming: Incoming, command: Command | None) -> str:
        """Free text (what the router or the model reads) is limited per customer; commands
        and buttons are not: they cost no routing, and a customer who waits for a payment
        card must always be able to ask for it."""
        if self.text_limit is None or incoming.button or not incoming.text.strip() or command:
            return TextLimit.OK
        return self.text_limit.take((incoming.platform, incoming.user_id))

    @staticmethod
    async def _send_with_retry(send: Send, reply: Outgoing) -> str | None:
        """A reply gets one more try when the platform asks us to slow down or the network
        hiccups (a lost payment card would leave the customer without an address)."""
        try:
            return await send(reply)
        except RateLimited as exc:
            await asyncio.sleep(min(exc.retry_after, MAX_REPLY_WAIT))
        except DeliveryError as exc:
            if exc.permanent:
                raise
            await asyncio.sleep(1.0)
        return await send(reply)

    async def _caller(
        self, incoming: Incoming, command: Command | None
    ) -> tuple[Caller, bool | None]:
        """Who wrote, and, for a known customer sending a command, whether the assistant's
        question to them in this chat is open (None: not looked at)."""
        hinted = normalize_locale(incoming.locale_hint, self.locales) or self._written_in(
            incoming, command
        )
        # pushes about payments go to the private chat, never to a group
        chat = (incoming.chat_id if incoming.is_private else incoming.private_chat_id) or (
            incoming.chat_id
        )
        # a known customer whose name and language stand as they are costs one read, no
        # write transaction (on SQLite that would queue every message behind the writers)

        def known(conn: Connection) -> tuple[Caller, bool | None] | None:
            asked: bool | None = None  # a command ends an open question: one read tells both
            if incoming.button or command:
                found = reads.customer_in_chat(
                    conn, incoming.platform, incoming.user_id, incoming.chat_id
                )
                if found is None:
                    return None
                account, user, asked = found
            else:
                found = reads.customer(conn, incoming.platform, incoming.user_id)
                if found is None:
                    return None
                account, user = found
            name = incoming.user_name[:200]
            if not (
                (not name or account.display_name == name)
                and user.locale is not None
                and (user.locale_chosen or not hinted or user.locale == hinted)
            ):
                return None
            return Caller(user.id, incoming.platform, chat, user.locale), asked

        found = await self.db.read(known)
        if found is not None:
            return found
        now = self.clock()
        async with self.db.transaction() as session:
            user = await repos.get_or_create_user(
                session, incoming.platform, incoming.user_id, incoming.user_name, now
            )
            if not user.locale_chosen and hinted and user.locale != hinted:
                user.locale = hinted
            if user.locale is None:  # no hint yet: the shop's default, for the pushes too
                user.locale = self.default_locale
            return Caller(user.id, incoming.platform, chat, user.locale), None

    def _written_in(self, incoming: Incoming, command: Command | None) -> str | None:
        """The language of a customer's free text (commands and buttons have none)."""
        line = incoming.text.strip()
        if incoming.button or not line or command:
            return None
        return normalize_locale(self.guess_language(line), self.locales)

    async def _edit_pressed_card(
        self, incoming: Incoming, caller: Caller, replies: list[Outgoing]
    ) -> list[Outgoing]:
        """A button pressed on a payment's card updates that card in place, no new card."""
        if not incoming.button or not incoming.message_id:
            return replies
        out = []
        for reply in replies:
            if reply.payment_id and reply.edit_of is None:
                async with self.db.sessions() as session:
                    payment = await repos.payment_of_user(
                        session, reply.payment_id, caller.user_id
                    )
                if payment is not None and payment.card_message_ref == incoming.message_id:
                    reply = replace(reply, edit_of=incoming.message_id, image=None)
            out.append(reply)
        return out

    async def _card_later(self, payment_id: int, caller: Caller) -> None:
        """A payment card that could not be sent, for a payment that has no card in the chat
        yet, goes through the outbox: the relay makes it again from the payment and retries
        it like any notification (backoff, dead letter, operator alert), once per payment."""
        now = self.clock()
        async with self.db.transaction() as session:
            payment = await repos.payment_of_user(session, payment_id, caller.user_id)
            if payment is None or payment.card_message_ref is not None:
                return
            await session.run_sync(
                lambda sync: writes.enqueue(
                    sync,
                    chat_platform=payment.chat_platform,
                    chat_id=payment.chat_id,
                    user_id=payment.user_id,
                    kind="payment.card",
                    payload={
                        "payment_id": payment.id,
                        "plan": payment.plan,
                        "coin": payment.pay_currency,
                    },
                    locale=caller.locale,
                    dedupe_key=f"payment:{payment.id}:card",
                    created_at=now,
                )
            )
        log.warning("payment #%s: its card goes through the outbox", payment_id)
        self.on_change()

    async def _remember_card(self, payment_id: int, caller: Caller, ref: str) -> None:
        await self.db.write(
            lambda conn: writes.remember_card(conn, payment_id, caller.user_id, ref)
        )

    async def _answer(
        self, incoming: Incoming, caller: Caller, asked: bool | None, command: Command | None
    ) -> list[Outgoing]:
        target = incoming.chat
        line = (incoming.button or incoming.text or "").strip()
        if not line:
            return []
        actions = CustomerActions(self.shop, caller)
        if command is not None and command.name == "admin":
            return await self._admin(incoming, target, line)
        if not incoming.is_private and (command is None or not is_public(command)):
            return [private_link(target, command)]  # no payment details in a group, ever
        if command is None:
            return await self._agent_turn(actions, target, line[:MAX_TEXT])
        # a command: the question is over (`asked`: already looked up with the caller)
        await self.questions.drop(target, caller.user_id, open_=asked)
        if command.name == "start" and command.args:
            command = from_start_payload(command.args[0]) or Command("start", ())
        if command.name in ("start", "help"):
            return [Outgoing(target, self._welcome() if command.name == "start" else help_text())]
        if command.name == "language":
            return [await self._language(caller, target, command.args)]
        if command.name == "newlink" and self.access is not None:
            return [await self._new_link(caller, target)]
        if command.name == "link" and self.links is not None:
            return [await self._link(incoming, caller, target, command.args)]
        try:
            result = await run_tool_command(
                actions, command, incoming.platform in self.sandbox_platforms
            )
        except UsageError as exc:
            return [Outgoing(target, usage(exc.command))]
        if result is None:
            return [self._unknown(target, command.name)]
        return render_card(result.card, target, self.clock())

    @staticmethod
    def _unknown(target: ChatRef, name: str) -> Outgoing:
        return Outgoing(
            target, _("Unknown command /{name}.").format(name=name[:30]) + "\n" + help_text()
        )

    async def _admin(self, incoming: Incoming, target: ChatRef, line: str) -> list[Outgoing]:
        """Operator commands: only for the operators configured for this platform. Anyone
        else gets the ordinary "unknown command" answer, and the attempt is audited. Answers
        are English (operators' text) and only ever go to a private chat."""
        actor = f"{incoming.platform}:{incoming.user_id}"
        allowed = incoming.user_id in self.operators.get(incoming.platform, ())
        async with self.db.transaction() as session:
            writes.audit(
                session,
                self.clock(),
                actor,
                "admin.command" if allowed else "admin.refused",
                line[:200],
            )
        if not allowed or self.operator_commands is None:
            log.warning("operator command refused for %s", actor)
            return [self._unknown(target, "admin")]
        if not incoming.is_private:
            return [Outgoing(target, "Operator commands answer in a private chat with me only.")]
        rest = line.split(maxsplit=1)[1] if len(line.split(maxsplit=1)) > 1 else ""
        try:
            args = parse_chat(rest)
        except AdminUsage as exc:
            return [Outgoing(target, str(exc))]
        replies = await self.operator_commands.run(actor, args)
        return [
            Outgoing(
                target,
                r.text,
                image=r.image,
                image_name=r.image_name,
                file=r.file,
                buttons=r.buttons,
                extra={"image": "chart"} if r.image else {},  # not a QR code (the console)
            )
            for r in replies
        ]

    def _welcome(self) -> str:
        return _("Welcome! I sell subscription plans for cryptocurrency.") + "\n" + help_text()

    async def _language(self, caller: Caller, target: ChatRef, args: tuple[str, ...]) -> Outgoing:
        choice = normalize_locale(args[0], self.locales) if len(args) == 1 else None
        if choice is None:
            return Outgoing(
                target,
                usage("language")
                + "\n"
                + _("Languages: {codes}").format(codes=", ".join(self.locales)),
            )
        async with self.db.transaction() as session:
            from storage.models import User

            user = await session.get(User, caller.user_id)
            user.locale = choice
            user.locale_chosen = True
        with using_locale(choice):
            return Outgoing(target, _("Language set to English."))

    async def _link(
        self, incoming: Incoming, caller: Caller, target: ChatRef, args: tuple[str, ...]
    ) -> Outgoing:
        """`/link`: a code for the other platform; `/link CODE`: this account joins the
        customer whose code it is (`tools.linking`)."""
        links, now = self.links, self.clock()
        if not args:
            code = await links.new_code(caller.user_id, incoming.platform, now)  # type: ignore[union-attr]
            return Outgoing(
                target,
                _(
                    "Send /link {code} to me on the other platform (Telegram or Discord) "
                    "within 10 minutes: your plan, payments and access will be shared there."
                ).format(code=code),
            )
        outcome = await links.redeem(incoming.platform, incoming.user_id, args[0], now)  # type: ignore[union-attr]
        if outcome == "linked":
            self.on_change()
        answers = {
            "linked": _("Linked: this account now shares your plan, payments and access."),
            "bad_code": _(
                "That code is not valid or has expired. Ask for a new one with /link on the "
                "other platform."
            ),
            "too_many": _("Too many wrong codes. Please try again in an hour."),
            "same_platform": _("Send this code to me on the other platform, not here."),
            "has_purchases": _(
                "This account already has purchases of its own, so it cannot be linked. "
                "Please contact the shop."
            ),
            "already_linked": _("This account is already linked."),
        }
        return Outgoing(target, answers[outcome])

    async def _new_link(self, caller: Caller, target: ChatRef) -> Outgoing:
        """A new join link for each chat the customer's plan opens (rate-limited)."""
        access, now = self.access, self.clock()

        def work(session) -> str:
            writes.lock_customer(session, caller.user_id)
            return access.fresh_link(session, caller.user_id, now)  # type: ignore[union-attr]

        outcome = await self.db.run(work)
        if outcome == "queued":
            self.on_change()
        answers = {
            "queued": _("A new link is on its way; the old one no longer works."),
            "none": _("Your plan opens no private chat right now. See /plan."),
            "too_soon": _(
                "You got a new link a few minutes ago. Please use that one, or ask again in a "
                "little while."
            ),
        }
        return Outgoing(target, answers[outcome])

    def _greeting(self, text: str, history: list) -> tuple[str, str]:
        """A greeting's answer and what the chat's history keeps of it: a thank-you or
        goodbye gets a short "you're welcome"; a hello gets the command list the first time
        and a short hello once the list was shown."""
        if self.agent.router.thanks(text):
            return _("You're welcome! Write any time you need a plan or a payment."), "welcome"
        if any(m.text == "help" for m in history if m.type == "ai"):
            return _("Hello! How can I help? /help lists what I do."), "hello"
        return help_text(), "help"

    async def _agent_turn(
        self, actions: CustomerActions, target: ChatRef, text: str
    ) -> list[Outgoing]:
        await self.agent.ready()  # the first free text loads LangChain, off the event loop
        user_id = actions.caller.user_id
        answer = None
        question = await self.questions.take(target, user_id)
        if question is not None:  # the router asked something: is this the answer?
            reading = await asyncio.to_thread(
                read_answer,
                question,
                text,
                self.agent.router,
                self.agent.settings.router_confidence,
            )
            if reading.kind == "wrong" and reading.card is not None:
                await self.questions.keep(
                    target, user_id, replace(question, strikes=question.strikes + 1)
                )
                return render_card(reading.card, target, self.clock())
            if reading.kind == "answer":
                answer = Intent(question.tool, dict(reading.args), 1.0)
        history = await self._history(target)
        result = await self.agent.turn(actions, history, text, answer)
        # a tool that asked ("Which coin?") asks the same whoever called it, the router or a
        # hosted model: the next message that answers it completes the call without a model
        asking = asked(result.intent, result.args, result.cards)
        if asking is not None:
            await self.questions.keep(target, user_id, asking)
        if not result.cards and not result.text and result.intent in EVERYDAY:
            everyday = await actions.everyday(result.intent, result.args)
            if everyday is not None:  # "what plans do you have", "refund?": read-only answers
                result.cards.append(everyday.card)
                result.summary = result.summary or everyday.content
        replies: list[Outgoing] = []
        for card in result.cards:
            replies.extend(render_card(card, target, self.clock()))
        if result.text:
            replies.append(Outgoing(target, result.text))
        if not replies:
            if result.notice:  # the model is unreachable or the customer is over the limit
                replies.append(Outgoing(target, result.notice + "\n" + help_text()))
            elif result.intent == "help":
                answer, result.summary = self._greeting(text, history)
                replies.append(Outgoing(target, answer))
            elif result.intent == "language":  # "passer en anglais": same as /language en
                code = (result.language,) if result.language else ()
                replies.append(await self._language(actions.caller, target, code))
            elif any(m.text == NOT_UNDERSTOOD for m in history if m.type == "ai"):
                # the command list was shown already: one line, not the whole list again
                replies.append(
                    Outgoing(
                        target,
                        _("Sorry, I didn't understand that.")
                        + " "
                        + _("I can help with plans and payments; /help lists what I do."),
                    )
                )
            else:
                replies.append(
                    Outgoing(target, _("Sorry, I didn't understand that.") + "\n" + help_text())
                )
            if result.intent == "unknown":
                result.summary = NOT_UNDERSTOOD
        elif result.notice:
            replies.insert(0, Outgoing(target, result.notice))
        await self._remember_turn(target, text, result.text or result.summary or result.intent)
        return replies

    async def _history(self, chat: ChatRef) -> list[BaseMessage]:
        from langchain_core.messages import AIMessage, HumanMessage

        if not self.history_turns:
            return []
        async with self.db.sessions() as session:
            rows = await repos.chat_messages(
                session, chat.platform, chat.chat_id, self.history_turns
            )
        return [
            HumanMessage(r.content) if r.role == "user" else AIMessage(r.content) for r in rows
        ]

    async def _remember_turn(self, chat: ChatRef, text: str, answer: str) -> None:
        if not self.history_turns:
            return
        now = self.clock()
        async with self.db.transaction() as session:
            for role, content in (("user", text), ("assistant", answer or NOT_UNDERSTOOD)):
                await repos.add_chat_message(
                    session, chat.platform, chat.chat_id, role, content, now, self.history_turns
                )
