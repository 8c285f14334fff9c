"""An in-memory adapter for end-to-end tests: say something, see what the bot sends.

It is a real adapter (the app wires it like any other); tests can inject delivery failures.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

from bot.adapters.base import AccessRefused, DeliveryError, Handler, NotAMember
from bot.messages import Incoming, Outgoing


class FakeAdapter:
    def __init__(self, platform: str = "fake") -> None:
        self.platform = platform
        self.sent: list[Outgoing] = []
        self.edits: list[Outgoing] = []
        self.files: dict[str, bytes] = {}  # attached documents by name, read when sent
        self._handler: Handler | None = None
        self._refs = itertools.count(1)
        self._changed = asyncio.Condition()
        self._failures: list[DeliveryError] = []
        self.chats = FakeChats()  # the platform's chats and roles, for access

    def __getattr__(self, name: str):
        """Access calls (join links, members, roles) go to `chats`."""
        if name.startswith("_") or name == "chats":
            raise AttributeError(name)
        return getattr(self.chats, name)

    async def start(self, handler: Handler) -> None:
        self._handler = handler

    async def stop(self) -> None:
        self._handler = None

    def fail_next(self, error: DeliveryError, times: int = 1) -> None:
        self._failures.extend([error] * times)

    async def send(self, message: Outgoing) -> str | None:
        if self._failures and not message.edit_of:
            raise self._failures.pop(0)
        if message.file is not None:
            self.files[message.file.name] = message.file.read_bytes()
        async with self._changed:
            (self.edits if message.edit_of else self.sent).append(message)
            self._changed.notify_all()
        return message.edit_of or f"{self.platform}:{next(self._refs)}"

    async def say(
        self,
        text: str,
        *,
        user: str = "alice",
        name: str | None = None,
        chat: str | None = None,
        locale: str | None = "en",
        button: str | None = None,
        private: bool = True,
    ) -> list[Outgoing]:
        """Send a message as `user`; returns what the bot answered to it."""
        assert self._handler is not None, "adapter not started"
        before = len(self.sent)
        await self._handler(
            Incoming(
                platform=self.platform,
                chat_id=chat or user,
                user_id=user,
                user_name=name or user,
                locale_hint=locale,
                is_private=private,
                text=text if button is None else "",
                button=button,
            )
        )
        return self.sent[before:]

    async def wait_for(self, match: Callable[[Outgoing], bool], timeout: float = 5.0) -> Outgoing:
        """Wait until a sent message matches (pushed notifications arrive asynchronously)."""

        async def found() -> Outgoing:
            async with self._changed:
                while True:
                    for message in self.sent:
                        if match(message):
                            return message
                    await self._changed.wait()

        return await asyncio.wait_for(found(), timeout)

    def texts(self, chat: str | None = None) -> list[str]:
        return [m.text for m in self.sent if chat is None or m.target.chat_id == chat]


class FakeChats:
    """Chats and roles for the fake platform: what a plan's access does, kept in memory with
    the platforms' rules that matter (a link per customer, join requests approved or declined,
    removal without a ban, roles only for members). `refuse` plays a bot without the rights."""

    def __init__(self) -> None:
        self.links: dict[str, tuple[str, str, bool]] = {}  # link -> chat, name, revoked
        self.members: set[tuple[str, str]] = set()  # (chat or guild, user)
        self.declined: list[tuple[str, str]] = []
        self.roles: set[tuple[str, str, str]] = set()  # (guild, user, role)
        self.refuse: str | None = None  # the fix an operator must make, while set
        self._n = itertools.count(1)

    def _check(self) -> None:
        if self.refuse is not None:
            raise AccessRefused("not enough rights", self.refuse)

    async def create_join_link(self, chat_id: str, name: str) -> str:
        self._check()
        link = f"https://t.me/+fake{next(self._n)}"
        self.links[link] = (chat_id, name[:32], False)
        return link

    async def revoke_link(self, chat_id: str, link: str) -> None:
        self._check()
        chat, name, _ = self.links[link]
        self.links[link] = (chat, name, True)

    async def approve_join(self, chat_id: str, user_id: str) -> None:
        self.members.add((chat_id, user_id))

    async def decline_join(self, chat_id: str, user_id: str) -> None:
        self.declined.append((chat_id, user_id))

    async def remove_member(self, chat_id: str, user_id: str) -> None:
        self._check()
        self.members.discard((chat_id, user_id))

    async def is_member(self, chat_id: str, user_id: str) -> bool:
        return (chat_id, user_id) in self.members

    async def add_role(self, guild_id: str, user_id: str, role_id: str) -> None:
        self._check()
        if (guild_id, user_id) not in self.members:
            raise NotAMember(f"user {user_id} is not in guild {guild_id}")
        self.roles.add((guild_id, user_id, role_id))

    async def remove_role(self, guild_id: str, user_id: str, role_id: str) -> None:
        self._check()
        self.roles.discard((guild_id, user_id, role_id))

    async def member_roles(self, guild_id: str, user_id: str) -> set[str] | None:
        if (guild_id, user_id) not in self.members:
            return None
        return {r for g, u, r in self.roles if (g, u) == (guild_id, user_id)}

    async def guild_invite(self, guild_id: str) -> str:
        self._check()
        return f"https://discord.gg/fake{next(self._n)}"
