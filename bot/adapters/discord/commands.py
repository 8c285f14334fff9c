"""The slash commands: one per command of the menu plus `/admin`, descriptions in every shipped
language through discord.py's `Translator`, plans, coins and languages by autocomplete."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import discord
from discord import app_commands

from bot.adapters.discord_support import matching
from bot.i18n import _, normalize_locale, using_locale

BARE = ("start", "help", "plans", "plan", "currencies")
Run = Callable[..., Awaitable[None]]  # (interaction, *arguments): the adapter's on_command


class Translator(app_commands.Translator):
    """Command and option descriptions in every shipped language (Discord localizations)."""

    def __init__(self, locales: Sequence[str]) -> None:
        self.locales = list(locales)

    async def translate(self, string, locale, context) -> str | None:
        code = normalize_locale(locale.value, self.locales)
        msgid = string.extras.get("msgid")
        if code is None or msgid is None:
            return None
        with using_locale(code):
            return _(msgid)[:100]


def _text(msgid: str) -> app_commands.locale_str:
    """An English description (Discord's default) that Discord also gets in every language."""
    return app_commands.locale_str(msgid[:100], msgid=msgid)


def build(
    run: Run, menu: list[tuple[str, str]], choices: dict[str, list[tuple[str, str]]]
) -> list[app_commands.Command]:
    """The commands of `menu` (name, English description) and `/admin`, each calling `run`
    with the interaction and its options; `choices` feed the autocomplete of those options."""

    async def bare(interaction: discord.Interaction) -> None:
        await run(interaction)

    @app_commands.describe(plan=_text(_("The plan, e.g. pro")))
    async def plan_only(interaction: discord.Interaction, plan: str | None = None) -> None:
        await run(interaction, plan)

    @app_commands.describe(
        plan=_text(_("The plan, e.g. pro")), coin=_text(_("The coin, e.g. sol"))
    )
    async def plan_coin(interaction: discord.Interaction, plan: str, coin: str) -> None:
        await run(interaction, plan, coin)

    @app_commands.describe(payment=_text(_("The payment number, e.g. 42")))
    async def payment_only(
        interaction: discord.Interaction, payment: app_commands.Range[int, 1] | None = None
    ) -> None:
        await run(interaction, payment)

    @app_commands.describe(count=_text(_("How many payments (1-20)")))
    async def count_only(
        interaction: discord.Interaction, count: app_commands.Range[int, 1, 20] | None = None
    ) -> None:
        await run(interaction, count)

    @app_commands.describe(code=_text(_("The language")))
    async def language(interaction: discord.Interaction, code: str) -> None:
        await run(interaction, code)

    @app_commands.guild_only()
    @app_commands.default_permissions(administrator=True)
    @app_commands.describe(command="Operator command and its arguments")
    async def admin(interaction: discord.Interaction, command: str = "") -> None:
        await run(interaction, *command.split())

    shapes = {"recommend": plan_only, "estimate": plan_coin, "buy": plan_coin}
    shapes |= {"status": payment_only, "retry": payment_only, "cancel": payment_only}
    shapes |= {"history": count_only}
    shapes |= {"language": language} | dict.fromkeys(BARE, bare)
    commands = []
    for name, description in menu:
        command = app_commands.Command(
            name=name, description=_text(description), callback=shapes[name]
        )
        for param in command._params.keys() & choices.keys():
            command.autocomplete(param)(_completer(choices[param]))
        commands.append(command)
    commands.append(
        app_commands.Command(name="admin", description="Operator commands", callback=admin)
    )
    return commands


def _completer(options: list[tuple[str, str]]):
    async def complete(interaction, current: str) -> list[app_commands.Choice[str]]:
        found = matching(options, current)
        return [app_commands.Choice(name=name, value=code) for name, code in found]

    return complete
