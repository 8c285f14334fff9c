"""What each plan opens: Telegram chats, Discord roles, the shop's own service."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

TELEGRAM_CHAT = "telegram_chat"
DISCORD_ROLE = "discord_role"
WEBHOOK = "webhook"
PLATFORM = {TELEGRAM_CHAT: "telegram", DISCORD_ROLE: "discord", WEBHOOK: "webhook"}


@dataclass(frozen=True)
class Resource:
    kind: str  # TELEGRAM_CHAT, DISCORD_ROLE or WEBHOOK
    ref: str  # the chat id, "<guild id>:<role id>", or "shop"

    @property
    def platform(self) -> str:
        """Where the effect happens (also the outbox platform that carries it)."""
        return PLATFORM[self.kind]


@dataclass(frozen=True)
class PlanAccess:
    """One plan's `[plans.<code>.access]`."""

    telegram_chats: Sequence[int] = ()
    discord_roles: Sequence[str] = ()
    webhook: bool = False

    def resources(self) -> tuple[Resource, ...]:
        return (
            *(Resource(TELEGRAM_CHAT, str(chat)) for chat in self.telegram_chats),
            *(Resource(DISCORD_ROLE, role) for role in self.discord_roles),
            *((Resource(WEBHOOK, "shop"),) if self.webhook else ()),
        )


class AccessCatalog:
    """Plans → what they open. A higher plan opens only what its own `access` lists."""

    def __init__(self, plans: Mapping[str, PlanAccess], grace: timedelta) -> None:
        self._opens = {code: access.resources() for code, access in plans.items()}
        self.grace = grace

    def resources(self, plan: str) -> tuple[Resource, ...]:
        return self._opens.get(plan, ())

    def plans_opening(self, resource: Resource) -> list[str]:
        return [code for code, opens in self._opens.items() if resource in opens]

    def everything(self) -> set[Resource]:
        return {r for opens in self._opens.values() for r in opens}

    def chats(self) -> list[str]:
        return sorted({r.ref for r in self.everything() if r.kind == TELEGRAM_CHAT})

    def roles(self) -> list[str]:
        return sorted({r.ref for r in self.everything() if r.kind == DISCORD_ROLE})

    @property
    def empty(self) -> bool:
        return not self.everything()

    @classmethod
    def none(cls) -> AccessCatalog:
        return cls({}, timedelta(0))
