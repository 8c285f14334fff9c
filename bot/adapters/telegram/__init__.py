"""Telegram, on python-telegram-bot, inside paybot's own event loop (this package is the only
place that imports `telegram`).

Polling (`updater.start_polling()`) or webhook mode (updates arrive at paybot's webhook server
on `/webhooks/telegram`, Telegram's secret token checked). Cards become native messages: the
payment card is the QR photo with an HTML caption and an inline keyboard (copy address, check
status, new payment); buttons are callback queries that are answered and map onto commands;
in groups only commands and mentions are read, and payment details go to the private chat.
Sends are paced under Telegram's limits; a 429 pauses and defers, a 403 is permanent. A photo
Telegram refuses goes as a text card instead, the QR code's payment link written out.

Modules: `adapter.py` (the adapter), `access.py` (what a paid plan opens: invite links, join
requests, removing members, the bot's rights), `client.py` (PTB's HTTP client, made strict).
"""

from bot.adapters.telegram.adapter import (
    CAPTION_LIMIT,
    PLATFORM,
    SECRET_HEADER,
    UPDATES,
    TelegramAdapter,
    from_config,
)
from bot.adapters.telegram.client import CheckedRequest

__all__ = [
    "CAPTION_LIMIT",
    "PLATFORM",
    "SECRET_HEADER",
    "UPDATES",
    "CheckedRequest",
    "TelegramAdapter",
    "from_config",
]
