"""The agent tools' names and the context a turn runs with, without LangChain's tool stack
(`tools.agent_tools` builds the tools; the router and the chat layer only need the names)."""

from __future__ import annotations

from dataclasses import dataclass

from tools.actions import CustomerActions

TOOL_NAMES = (
    "get_user_plan",
    "recommend_best_currency",
    "get_available_cryptocurrencies",
    "get_payment_estimate",
    "create_crypto_payment",
    "retry_failed_payment",
    "check_payment_status",
    "get_payment_history",
    "cancel_payment",
)


CARD_TOOLS = (
    "get_payment_estimate",
    "create_crypto_payment",
    "retry_failed_payment",
    "check_payment_status",
    "get_payment_history",
    "cancel_payment",
)


@dataclass(frozen=True)
class ToolContext:
    """What one agent turn runs for: the actions bound to the caller the adapter named, and
    a few words on that caller for the model's prompt."""

    actions: CustomerActions
    situation: str = ""
