"""The Discord adapter's plain helpers: no `discord` import here (only `discord.py` imports
the SDK), so these read the SDK's objects by their attributes.

Message refs: `m:CHANNEL:MESSAGE` (a message the bot can edit any time) and `e:CHANNEL:MESSAGE`
(an ephemeral reply: editable only through its interaction, for 15 minutes).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any

from bot.adapters.base import DeliveryError
from bot.messages import Incoming

PLATFORM = "discord"
TOKEN_LIFE = 15 * 60 - 30  # seconds an interaction's token can still edit its replies
COLOURS = {"waiting": 0xF1C40F, "partially_paid": 0xE67E22, "confirming": 0x3498DB}
COLOURS |= {"finished": 0x2ECC71, "failed": 0xE74C3C, "expired": 0x95A5A6}


def remember(store: dict[int, tuple[Any, float]], key: int, value: Any) -> None:
    """Keep `value` for as long as an interaction token lives (expired entries are ignored
    when read, and swept out only when the store grows large)."""
    now = time.monotonic()
    if len(store) > 10_000:
        for old in [k for k, (_v, until) in store.items() if until <= now]:
            del store[old]
    store[key] = (value, now + TOKEN_LIFE)


def to_incoming(
    user: Any,  # a discord.abc.User
    chat_id: str,
    private: bool,
    text: str,
    button: str | None,
    message_id: str | None,
    locale: str | None = None,
) -> Incoming:
    return Incoming(
        platform=PLATFORM,
        chat_id=chat_id,
        user_id=str(user.id),
        user_name=user.display_name,
        locale_hint=locale,
        is_private=private,
        text=text,
        button=button,
        message_id=message_id,
        private_chat_id=str(user.id),
    )


def message_ref(message: Any) -> str:
    """The ref of a discord.Message or InteractionMessage."""
    kind = "e" if message.flags.ephemeral else "m"
    return f"{kind}:{message.channel.id}:{message.id}"


def nonce(key: str | None) -> str | None:
    """Discord drops a second message with the same nonce (`enforce_nonce`): a retried
    notification is posted once."""
    return hashlib.sha256(key.encode()).hexdigest()[:25] if key else None


def delivery_error(exc: Any) -> DeliveryError:
    """A discord.HTTPException. Cannot DM, no access, gone, or our message is wrong:
    permanent. 5xx: worth a retry."""
    reason = f"{exc.status} {getattr(exc, 'code', 0)}: {exc.text}"
    return DeliveryError(reason, permanent=exc.status < 500 and exc.status != 429)


def matching(options: Sequence[tuple[str, str]], current: str) -> list[tuple[str, str]]:
    """Autocomplete: (shown name, code) of the options whose code or label holds what was
    typed so far, at most 25 (Discord's limit)."""
    needle = current.strip().lower()
    found = [
        (f"{label} ({code})"[:100], code)
        for code, label in options
        if needle in f"{code} {label}".lower()
    ]
    return found[:25]
