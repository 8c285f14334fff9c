"""Who is asking: set by the chat adapter, never by the model."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    user_id: int  # our users.id
    platform: str
    chat_id: str  # where replies and pushes for this conversation go
    locale: str
