"""What the console chat says when it waits: for what, how long, and how to stop waiting.

A console waits after a piped line while money is on its way, on `/wait`, and when the input
ends (Ctrl-D, or the end of a pipe) while payments of this chat are still open. It never waits
without a word: a wait that takes more than a moment is announced with the payments it waits
for and its limit, and one that runs out says what is still open."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from bot.i18n import _, duration, when

QUIET_WAIT = 0.5  # seconds: a wait that ends sooner is not announced (a notice being sent)


class PendingView(Protocol):
    on_its_way: tuple[int, ...]
    unpaid: tuple[tuple[int, datetime], ...]
    notices: int

    @property
    def empty(self) -> bool: ...


def _ids(ids: list[int]) -> str:
    return ", ".join(f"#{i}" for i in ids)


def announcement(pending: PendingView, now: datetime, limit: float | None) -> str | None:
    """The line that opens a wait; None when only notifications are left to deliver."""
    if limit is not None:
        bound = _("at most {duration}").format(duration=duration(max(limit, 1)))
    else:
        bound = _("no time limit: --linger SECONDS sets one")
    if pending.unpaid:
        deadline = max(expires for _id, expires in pending.unpaid)
        if limit is None or limit > (deadline - now).total_seconds():
            bound = _("at the latest {time}").format(time=when(deadline))
        return _(
            "Waiting until payment {payments} is paid or expires ({limit}). "
            "Ctrl-C stops waiting; the payment stays open."
        ).format(payments=_ids([i for i, _e in pending.unpaid]), limit=bound)
    if pending.on_its_way:
        return _(
            "Waiting for the money of payment {payments} to be confirmed ({limit}). "
            "Ctrl-C stops waiting."
        ).format(payments=_ids(list(pending.on_its_way)), limit=bound)
    return None


def gave_up(pending: PendingView) -> str | None:
    """The line when a wait ran out with payments still open."""
    ids = sorted({*pending.on_its_way, *(i for i, _e in pending.unpaid)})
    if not ids:
        return None
    return _(
        "Stopped waiting: payment {payments} is still open. The next paybot chat or paybot "
        "run keeps watching it."
    ).format(payments=_ids(ids))


Look = Callable[[], Awaitable[PendingView]]
Wait = Callable[[float | None], Awaitable[bool]]


async def announced(
    look: Look,
    wait: Wait,
    say: Callable[[str], None],
    now: Callable[[], datetime],
    limit: float | None,
) -> bool:
    """Wait (`wait(limit)`) and say so: what for and how long when it takes more than a
    moment, and what is still open when the limit runs out. True when everything settled."""
    if await wait(QUIET_WAIT if limit is None else min(QUIET_WAIT, limit)):
        return True
    pending = await look()
    if pending.empty:
        return True
    line = announcement(pending, now(), limit)
    if line:
        say(line)
    if await wait(None if limit is None else max(limit - QUIET_WAIT, 0)):
        return True
    left = gave_up(await look())
    if left:
        say(left)
    return False
