"""Discord, on discord.py 2.x, inside paybot's event loop. This package is the only place that
imports `discord` (its plain helpers, `bot.adapters.discord_support`, import no SDK):

* `client`: the adapter, its life cycle, incoming interactions and messages, sends;
* `commands`: the slash commands and their translations;
* `parts`: an `Outgoing` as discord.py arguments (embeds, files, buttons);
* `access`: what a paid plan opens in a server (roles, invites), for the outbox relay.
"""

from bot.adapters.discord.client import CHANNEL, SEND_TIMEOUT, DiscordAdapter, from_config
from bot.adapters.discord.parts import ActionButton

__all__ = ["CHANNEL", "SEND_TIMEOUT", "ActionButton", "DiscordAdapter", "from_config"]
