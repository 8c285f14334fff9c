"""What a paid plan opens in Telegram: invite links that create join requests, deciding those
requests, removing members (a ban lifted at once, so it is never a permanent ban), and asking
whether the bot holds the rights all this takes.

Telegram's refusals cross the adapter boundary as its errors: what an operator must fix (the
bot is not in the chat, not an administrator, lacks the right to invite users via link or to
ban users, the chat is unknown or moved) is `AccessRefused` with a one-line `fix` naming the
chat; a 429 is `RateLimited`; network trouble, 5xx and timeouts are `DeliveryError` (tried
again); any other refusal is a permanent `DeliveryError`. Asking for what is already so (no
pending request, a user already gone) is done, not an error. No PTB exception and no token
leaves this module.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram import Bot, ChatMember
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)
from telegram.ext import Application

from bot.adapters.base import UNREADABLE, AccessRefused, DeliveryError, RateLimited
from bot.adapters.telegram.client import seconds

T = TypeVar("T")

LINK_NAME_LIMIT = 32  # characters of an invite link's name Telegram keeps
INVITE = "the right to invite users via link"
BAN = "the right to ban users"
BOTH = "the rights to invite users via link and to ban users"

# Telegram's words (lower case) for a request that is no longer pending or a user who is gone
NO_REQUEST = ("hide_requester_missing", "user_already_participant")
USER_GONE = (
    "user not found",
    "member not found",
    "participant_id_invalid",
    "user_id_invalid",
    "invalid user_id specified",
    "user is deactivated",
)
LINK_GONE = ("invite_hash_expired",)


def _problem(exc: TelegramError) -> str | None:
    """The short English problem an operator must fix, or None when it is not one."""
    text = exc.message.lower()
    if isinstance(exc, Forbidden):
        if "kicked" in text or "not a member" in text:
            return "not a member"
        return None
    if "chat not found" in text:
        return "chat not found"
    rights = "not enough rights" in text
    if rights and ("invite link" in text or "join request" in text):
        return "cannot invite users"
    if rights and "restrict" in text:
        return "cannot restrict members"
    if rights or "inaccessible" in text or "chat_admin_required" in text:
        return "not an administrator"
    return None


def _fix(problem: str, chat: str) -> str:
    if problem == "chat not found":
        return f"add the bot to chat {chat} as an administrator with {BOTH}, or correct the id"
    if problem == "not a member":
        return f"add the bot back to chat {chat} as an administrator with {BOTH}"
    if problem == "cannot invite users":
        return f"make the bot an administrator of chat {chat} with {INVITE}"
    if problem == "cannot restrict members":
        return f"make the bot an administrator of chat {chat} with {BAN}"
    return f"make the bot an administrator of chat {chat} with {BOTH}"


def _chat(chat_id: str) -> int | str:
    """A numeric chat id, or a channel's @username as it is."""
    return int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id


class AccessMethods:
    """The access half of `TelegramAdapter` (which provides `app`)."""

    app: Application

    async def create_join_link(self, chat_id: str, name: str) -> str:
        """A new invite link to `chat_id` that creates join requests, named `name` (cut to 32
        characters); returns its URL."""
        link = await self._access(
            chat_id,
            lambda bot: bot.create_chat_invite_link(
                _chat(chat_id), name=name[:LINK_NAME_LIMIT], creates_join_request=True
            ),
        )
        return link.invite_link

    async def revoke_link(self, chat_id: str, link: str) -> None:
        """Nobody can ask to join through `link` any more (a link Telegram no longer knows is
        revoked already)."""
        await self._access(
            chat_id, lambda bot: bot.revoke_chat_invite_link(_chat(chat_id), link), done=LINK_GONE
        )

    async def approve_join(self, chat_id: str, user_id: str) -> None:
        """Let the user in; no pending request (decided already, the user is in) is done."""
        await self._access(
            chat_id,
            lambda bot: bot.approve_chat_join_request(_chat(chat_id), int(user_id)),
            done=NO_REQUEST + USER_GONE,
        )

    async def decline_join(self, chat_id: str, user_id: str) -> None:
        """Turn the user's join request down; no pending request is done."""
        await self._access(
            chat_id,
            lambda bot: bot.decline_chat_join_request(_chat(chat_id), int(user_id)),
            done=NO_REQUEST + USER_GONE,
        )

    async def remove_member(self, chat_id: str, user_id: str) -> None:
        """Take the user out of the chat: a ban, lifted at once (`only_if_banned`, so nobody
        else is touched), so the user may come back through a new link. Not a member: done."""
        chat, user = _chat(chat_id), int(user_id)
        await self._access(chat_id, lambda bot: bot.ban_chat_member(chat, user), done=USER_GONE)
        await self._access(
            chat_id,
            lambda bot: bot.unban_chat_member(chat, user, only_if_banned=True),
            done=USER_GONE,
        )

    async def is_member(self, chat_id: str, user_id: str) -> bool:
        """Whether the user is in the chat: owner, administrator, member, or restricted but
        still a member."""
        member = await self._access(
            chat_id,
            lambda bot: bot.get_chat_member(_chat(chat_id), int(user_id)),
            done=USER_GONE,
        )
        if member is None:
            return False
        if member.status in (ChatMember.OWNER, ChatMember.ADMINISTRATOR, ChatMember.MEMBER):
            return True
        return member.status == ChatMember.RESTRICTED and bool(member.is_member)

    async def missing_rights(self, chat_id: str) -> list[str]:
        """What keeps the bot from managing access to the chat, in short English ("chat not
        found", "not a member", "not an administrator", "cannot invite users", "cannot restrict
        members"); [] when nothing does. Raises `DeliveryError` or `RateLimited` when Telegram
        cannot be asked now."""
        try:
            me = await self._access(
                chat_id, lambda bot: bot.get_chat_member(_chat(chat_id), bot.id)
            )
        except Refused as refused:
            return [refused.problem]
        if me.status in (ChatMember.LEFT, ChatMember.BANNED):
            return ["not a member"]
        if me.status != ChatMember.ADMINISTRATOR:
            return ["not an administrator"]
        problems = []
        if not me.can_invite_users:
            problems.append("cannot invite users")
        if not me.can_restrict_members:
            problems.append("cannot restrict members")
        return problems

    async def _access(
        self,
        chat_id: str,
        call: Callable[[Bot], Awaitable[T]],
        *,
        done: tuple[str, ...] = (),
    ) -> T | None:
        """`call(bot)`, Telegram's refusals turned into the adapter boundary's errors; an
        answer containing one of `done` (lower case) is success (None)."""
        bot = self.app.bot
        try:
            return await call(bot)
        except RetryAfter as exc:
            raise RateLimited(seconds(exc.retry_after)) from None
        except ChatMigrated as exc:
            raise Refused(
                f"Telegram: chat {chat_id} is now the supergroup {exc.new_chat_id}",
                f"chat moved to {exc.new_chat_id}",
                f"chat {chat_id} became the supergroup {exc.new_chat_id}: use that id instead",
            ) from None
        except (BadRequest, Forbidden) as exc:
            if any(word in exc.message.lower() for word in done):
                return None
            problem = _problem(exc)
            if problem is not None:
                raise Refused(
                    f"Telegram: {_clean(exc.message, bot.token)} (chat {chat_id})",
                    problem,
                    _fix(problem, chat_id),
                ) from None
            raise DeliveryError(_why(exc, bot.token), permanent=True) from None
        except InvalidToken:
            raise DeliveryError("InvalidToken: the token is refused", permanent=True) from None
        except TelegramError as exc:  # network trouble, timeouts, 5xx: worth another try
            raise DeliveryError(_why(exc, bot.token)) from None
        except UNREADABLE as exc:  # an answer PTB cannot read
            raise DeliveryError(f"the answer is not valid ({type(exc).__name__})") from None


class Refused(AccessRefused):
    """`AccessRefused`, with the short `problem` that `missing_rights` lists."""

    def __init__(self, reason: str, problem: str, fix: str) -> None:
        super().__init__(reason, fix)
        self.problem = problem


def _why(exc: TelegramError, token: str) -> str:
    return f"{type(exc).__name__}: {_clean(exc.message, token)}"


def _clean(text: str, token: str) -> str:
    """`text` without the token (PTB may have changed its case: "Bad Request: x" becomes
    "X", the rest lower case)."""
    return re.sub(re.escape(token), "<token>", text, flags=re.IGNORECASE) if token else text
