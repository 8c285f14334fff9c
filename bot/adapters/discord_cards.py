"""How an `Outgoing` looks on Discord.

Cards (payment messages, pictures) are embeds coloured by the payment's status, with the QR
attached; other answers are plain, escaped text. Buttons are persistent `DynamicItem`s whose
custom id is the command they run (`paybot:/status 42`), so they keep working after a restart.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import discord

from bot.messages import Button, Outgoing

COLOURS = {"waiting": 0xF1C40F, "partially_paid": 0xE67E22, "confirming": 0x3498DB}
COLOURS |= {"finished": 0x2ECC71, "failed": 0xE74C3C, "expired": 0x95A5A6}


class ActionButton(discord.ui.DynamicItem[discord.ui.Button], template=r"paybot:(?P<action>.+)"):
    """A button whose custom id is the command it runs; a press goes to the adapter."""

    def __init__(self, action: str, label: str = "…") -> None:
        super().__init__(
            discord.ui.Button(
                label=label[:80], custom_id=f"paybot:{action}", style=discord.ButtonStyle.primary
            )
        )
        self.action = action

    @classmethod
    async def from_custom_id(cls, interaction, item, match) -> ActionButton:
        return cls(match["action"], item.label or "…")

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.client.adapter.on_button(interaction, self.action)


def message_parts(message: Outgoing, *, edit: bool = False) -> dict[str, Any]:
    """Outgoing → discord.py keyword arguments for a send (or, with `edit`, an edit)."""
    parts: dict[str, Any] = {"allowed_mentions": discord.AllowedMentions.none()}
    if message.payment_id or message.image:
        text = message.markdown or discord.utils.escape_markdown(message.text)
        embed = discord.Embed(
            description=text[:4096], colour=COLOURS.get(message.extra.get("status", ""))
        )
        if message.image_name and (message.image or edit):
            embed.set_image(url=f"attachment://{message.image_name}")
        if message.image and not edit:
            parts["file"] = discord.File(io.BytesIO(message.image), message.image_name)
        if edit and not message.image_name:
            parts["attachments"] = []  # the card no longer asks for money: drop the QR
        parts["embed"] = embed
        if edit:
            parts["content"] = None
    else:
        parts["content"] = discord.utils.escape_markdown(message.text)[:2000]
        if message.file is not None and not edit:  # an operator's export
            parts["file"] = discord.File(message.file, filename=message.file.name)
    view = _view(message.buttons)
    if view is not None or edit:
        parts["view"] = view
    return parts


def _view(buttons: Sequence[Button]) -> discord.ui.View | None:
    """Buttons that run commands; copy buttons are left out (Discord has none: the address
    is a code block, which every client copies)."""
    view = discord.ui.View(timeout=None)
    for b in buttons:
        if b.copy is None and b.action and len(b.action) <= 93 and len(view.children) < 25:
            view.add_item(ActionButton(b.action, b.label))
    return view if view.children else None
