"""An `Outgoing` as discord.py's keyword arguments: cards are embeds with the QR attached,
other answers plain escaped text; buttons are persistent `DynamicItem`s."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import discord

from bot.adapters.discord_support import COLOURS
from bot.messages import Button, Outgoing


class ActionButton(discord.ui.DynamicItem[discord.ui.Button], template=r"paybot:(?P<action>.+)"):
    """A button whose custom id is the command it runs (`paybot:/status 42`)."""

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


def parts(message: Outgoing, *, edit: bool = False) -> dict[str, Any]:
    """Outgoing → discord.py keyword arguments: cards (payment messages, pictures) are
    embeds with the QR attached; other answers are plain, escaped text."""
    result: dict[str, Any] = {"allowed_mentions": discord.AllowedMentions.none()}
    if message.payment_id or message.image:
        text = message.markdown or discord.utils.escape_markdown(message.text)
        embed = discord.Embed(
            description=text[:4096], colour=COLOURS.get(message.extra.get("status", ""))
        )
        if message.image_name and (message.image or edit):
            embed.set_image(url=f"attachment://{message.image_name}")
        if message.image and not edit:
            result["file"] = discord.File(io.BytesIO(message.image), message.image_name)
        if edit and not message.image_name:
            result["attachments"] = []  # the card no longer asks for money: drop the QR
        result["embed"] = embed
        if edit:
            result["content"] = None
    else:
        result["content"] = discord.utils.escape_markdown(message.text)[:2000]
        if message.file is not None and not edit:  # an operator's export
            result["file"] = discord.File(message.file, filename=message.file.name)
    buttons = view(message.buttons)
    if buttons is not None or edit:
        result["view"] = buttons
    return result


def view(buttons: Sequence[Button]) -> discord.ui.View | None:
    """Buttons that run commands; copy buttons are left out (Discord has none: the address
    is a code block, which every client copies)."""
    found = discord.ui.View(timeout=None)
    for b in buttons:
        if b.copy is None and b.action and len(b.action) <= 93 and len(found.children) < 25:
            found.add_item(ActionButton(b.action, b.label))
    return found if found.children else None
