"""The two small frozen types that cross the adapter boundary (DESIGN §1 rule 2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ChatRef:
    """Where a conversation happens; stored with each payment and keys the agent's memory."""

    platform: str
    chat_id: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.chat_id}"


@dataclass(frozen=True)
class Button:
    label: str
    action: str = ""  # a command line, e.g. "/status 42": buttons map onto commands
    copy: str | None = None  # a "copy this text" button (an address), where the platform has it
    private: bool = False  # the action must run in the user's private chat (a deep link)


@dataclass(frozen=True)
class Incoming:
    platform: str
    chat_id: str
    user_id: str
    user_name: str = ""
    locale_hint: str | None = None
    is_private: bool = True
    text: str = ""  # free text, or a command line starting with "/"
    button: str | None = None  # the action of a pressed button
    message_id: str | None = None
    private_chat_id: str | None = None  # the user's private chat with the bot, when known
    # an event instead of a message: "join_request" (Telegram: the user asks to join the
    # chat `chat_id` through an invite link, `text` is that link) or "member_join" (Discord:
    # the user joined the guild `chat_id`)
    event: str | None = None

    @property
    def chat(self) -> ChatRef:
        return ChatRef(self.platform, self.chat_id)


@dataclass(frozen=True)
class Outgoing:
    target: ChatRef
    text: str
    html: str | None = None  # the same text with HTML markup (bold, code), already escaped
    markdown: str | None = None  # the same text in Discord markdown, with live timestamps
    image: bytes | None = None  # PNG (payment QR codes)
    image_name: str | None = None
    file: Path | None = None  # a document to attach (an operator's CSV export)
    buttons: tuple[Button, ...] = ()
    edit_of: str | None = None  # message ref to edit in place, where the platform can
    payment_id: int | None = None  # set on payment cards so their message ref is kept
    extra: dict[str, str] = field(default_factory=dict)  # e.g. the payment URI, the status
    key: str | None = None  # stable per notification: a retried send must not post twice
