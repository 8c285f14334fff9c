"""What every chat adapter offers the rest of the bot."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bot.messages import Incoming, Outgoing

Send = Callable[[Outgoing], Awaitable[str | None]]


class Handler(Protocol):
    async def __call__(self, incoming: Incoming, reply: Send | None = None) -> None:
        """Answer `incoming`. An adapter passes `reply` when answers travel another way than
        its `send` (a Discord interaction is answered through the interaction)."""


class DeliveryError(Exception):
    """Sending failed. `permanent` errors (user blocked the bot) are never retried."""

    def __init__(
        self, reason: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.retry_after = retry_after


class AccessRefused(DeliveryError):
    """The platform refused an access change for a reason only an operator can fix (the bot is
    not an administrator of the chat, lacks a right, a role sits above the bot's highest role).
    Retried later like any failure; `fix` tells the operators what to do, in one line."""

    def __init__(self, reason: str, fix: str) -> None:
        super().__init__(reason)
        self.fix = fix


class NotAMember(DeliveryError):
    """The user is not a member of the guild or chat the access change is about."""


# What an SDK raises when an answer does not have the shape it expects (not JSON, a list where
# an object belongs, a field missing): a bug of the platform or of a proxy, never of the user.
UNREADABLE = (KeyError, TypeError, ValueError, AttributeError)


class StartFailed(ConnectionError):
    """A chat platform cannot start: one line that `paybot run` prints before it stops with
    exit code 2. It names the platform and the call that failed, never a token."""

    def __init__(self, platform: str, call: str, problem: str) -> None:
        line = " ".join(f"{platform}: {call}: {problem}".split())
        super().__init__(line if len(line) <= 300 else line[:300] + "…")


def unreadable(platform: str, call: str, error: Exception) -> StartFailed:
    """The platform answered `call` with something its SDK cannot read."""
    return StartFailed(
        platform, call, f"the answer is not valid ({type(error).__name__}: {error})"
    )


class RateLimited(Exception):
    """Not sent because of the platform's limits; try again after `retry_after` seconds.

    Not a failure: the relay defers the notification without counting an attempt.
    """

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited for {retry_after:.2f}s")
        self.retry_after = retry_after


class Adapter(Protocol):
    """`platform` names it. An adapter that speaks for only some chats of its platform (a
    console: the one user at its keyboard) also has `own_chats`, their ids: the relay then claims
    only their notifications and leaves the others to whoever serves them."""

    platform: str

    async def start(self, handler: Handler) -> None:
        """Begin receiving; each message is passed to `handler`."""

    async def stop(self) -> None: ...

    async def send(self, message: Outgoing) -> str | None:
        """Deliver one message (or edit one in place); returns the platform's message ref.

        Raises `DeliveryError` (permanent or not) or `RateLimited`. Adapters of platforms with
        send limits also offer `send_wait(target) -> float`: seconds until a send to that
        chat would go out without waiting (the relay defers instead of blocking)."""


@dataclass(frozen=True)
class Connection:
    """A connection only one worker of a deployment may hold at a time (Telegram's polling
    loop, one Discord gateway shard): `name` is its lease; `open` starts it in this process
    and `close` ends it. Connections of one `group` are divided among the live workers."""

    name: str
    open: Callable[[], Awaitable[None]]
    close: Callable[[], Awaitable[None]]
    group: str = ""
