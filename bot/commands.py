"""Slash commands and buttons: deterministic, no model (DESIGN §4)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from bot.i18n import _
from bot.messages import Button, ChatRef, Outgoing
from tools.actions import CustomerActions, ToolResult


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[str, ...]


_QUOTING = re.compile(r"[\"'\\]")
_BLANKS = re.compile(r"[ \t\r\n]+")  # what shlex splits on


def parse_command(line: str) -> Command | None:
    """`/buy@paybot pro sol` → Command("buy", ("pro", "sol")); None when not a command."""
    line = line.strip()
    if not line.startswith("/") or len(line) < 2:
        return None
    body = line[1:]
    if _QUOTING.search(body) is None:  # nothing for shlex to do: its tokens are these
        parts = [p for p in _BLANKS.split(body) if p]
    else:
        try:
            parts = shlex.split(body)
        except ValueError:
            parts = body.split()
    if not parts:
        return None
    name = parts[0].split("@", 1)[0].lower()
    return Command(name, tuple(parts[1:]))


def usage(name: str) -> str:
    texts = {
        "recommend": _("Usage: /recommend [PLAN], e.g. /recommend pro"),
        "estimate": _("Usage: /estimate PLAN COIN, e.g. /estimate pro btc"),
        "buy": _("Usage: /buy PLAN COIN, e.g. /buy pro sol"),
        "status": _("Usage: /status [PAYMENT_ID], e.g. /status 42"),
        "history": _("Usage: /history [COUNT], e.g. /history 10"),
        "retry": _("Usage: /retry [PAYMENT_ID], e.g. /retry 42"),
        "language": _("Usage: /language CODE, e.g. /language de"),
        "pay": _("Usage: /pay [PAYMENT_ID [AMOUNT]], e.g. /pay, /pay 42 or /pay 42 0.5"),
        "cancel": _("Usage: /cancel [PAYMENT_ID], e.g. /cancel 42"),
    }
    return texts.get(name, help_text())


def help_text() -> str:
    return "\n".join(
        [
            _("Here is what I can do:"),
            _("/plans – plans and prices"),
            _("/plan – your current plan"),
            _("/currencies – coins I accept"),
            _("/recommend PLAN – the cheapest and fastest coins for a plan"),
            _("/estimate PLAN COIN – what a plan costs in a coin"),
            _("/buy PLAN COIN – create a payment"),
            _("/status [ID] – status of a payment"),
            _("/history – your recent payments"),
            _("/retry [ID] – a new payment for a failed or expired one"),
            _("/cancel [ID] – cancel a payment you no longer want"),
            _("/language CODE – choose your language"),
            _("/newlink – a new link to the private chat your plan opens"),
            _("/link – one customer on Telegram and Discord"),
            _("You can also just write, e.g. “I want to buy Pro with Solana”."),
        ]
    )


class UsageError(Exception):
    def __init__(self, command: str) -> None:
        super().__init__(command)
        self.command = command


def payment_id_arg(text: str, command: str) -> int:
    match = re.fullmatch(r"#?(\d{1,18})", text.strip())
    if not match:
        raise UsageError(command)
    return int(match.group(1))


def amount_arg(text: str, command: str) -> Decimal:
    try:
        value = Decimal(text.replace(",", "."))
    except InvalidOperation:
        raise UsageError(command) from None
    if not value.is_finite() or value <= 0:
        raise UsageError(command)
    return value


Action = Callable[[CustomerActions, tuple[str, ...]], Awaitable[ToolResult]]


def _arity(args: tuple[str, ...], command: str, low: int, high: int) -> None:
    if not low <= len(args) <= high:
        raise UsageError(command)


async def run_tool_command(
    actions: CustomerActions, cmd: Command, sandbox_commands: bool
) -> ToolResult | None:
    """Run a command that maps onto a tool; None when the command is not one of those."""
    a = cmd.args
    match cmd.name:
        case "plans":
            return await actions.plans()
        case "plan" | "myplan":
            return await actions.get_user_plan()
        case "currencies" | "coins":
            return await actions.get_available_cryptocurrencies()
        case "recommend":
            _arity(a, "recommend", 0, 1)
            return await actions.recommend_best_currency(a[0] if a else None)
        case "estimate":
            _arity(a, "estimate", 2, 2)
            return await actions.get_payment_estimate(a[0], a[1])
        case "buy":
            _arity(a, "buy", 2, 2)
            return await actions.create_crypto_payment(a[0], a[1])
        case "status":
            _arity(a, "status", 0, 1)
            return await actions.check_payment_status(
                payment_id_arg(a[0], "status") if a else None
            )
        case "history":
            _arity(a, "history", 0, 1)
            limit = payment_id_arg(a[0], "history") if a else 5
            if not 1 <= limit <= 20:
                raise UsageError("history")
            return await actions.get_payment_history(limit)
        case "retry":
            _arity(a, "retry", 0, 1)
            return await actions.retry_failed_payment(payment_id_arg(a[0], "retry") if a else None)
        case "cancel":
            _arity(a, "cancel", 0, 1)
            return await actions.cancel_payment(payment_id_arg(a[0], "cancel") if a else None)
        case "pay" if sandbox_commands:
            _arity(a, "pay", 0, 2)
            amount = amount_arg(a[1], "pay") if len(a) == 2 else None
            return await actions.sandbox_pay(payment_id_arg(a[0], "pay") if a else None, amount)
    return None


# --- groups and deep links ---------------------------------------------------------------

PUBLIC = frozenset({"help", "plans", "currencies", "coins", "language"})
DEEP_LINKED = frozenset(
    {"buy", "recommend", "estimate", "status", "history", "retry", "plan", "cancel"}
)
_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")


def is_public(command: Command) -> bool:
    """Commands whose answers hold nothing personal, so they may be answered in a group."""
    return command.name in PUBLIC or (command.name == "start" and not command.args)


def start_payload(command: Command | None) -> str:
    """The deep-link payload that reopens `command` in the private chat (`/start PAYLOAD`)."""
    if command is not None and command.name == "start" and command.args:
        return command.args[0] if _PAYLOAD.fullmatch(command.args[0]) else ""
    if command is None or command.name not in DEEP_LINKED:
        return ""
    payload = "_".join((command.name, *command.args))
    return payload if _PAYLOAD.fullmatch(payload) else command.name


def from_start_payload(payload: str) -> Command | None:
    """`buy_pro_sol` → /buy pro sol, `buy_pro` → /recommend pro, `status_42` → /status 42."""
    if not _PAYLOAD.fullmatch(payload):
        return None
    name, *args = payload.split("_")
    if name == "buy" and len(args) == 1:
        return Command("recommend", tuple(args))
    return Command(name, tuple(args)) if name in DEEP_LINKED else None


def private_link(target: ChatRef, command: Command | None) -> Outgoing:
    """The answer in a group: a button that continues the same request in the private chat."""
    payload = start_payload(command)
    return Outgoing(
        target,
        _("Payment details stay between us: let's continue in a private chat."),
        buttons=(
            Button(_("Continue in private chat"), f"/start {payload}".strip(), private=True),
        ),
    )


def command_menu() -> list[tuple[str, str]]:
    """The command list platforms show in their menus, in the current locale."""
    return [
        ("start", _("Start and see what I can do")),
        ("plans", _("Plans and prices")),
        ("plan", _("Your current plan")),
        ("currencies", _("Coins I accept")),
        ("recommend", _("The best coin for a plan")),
        ("estimate", _("What a plan costs in a coin")),
        ("buy", _("Buy a plan")),
        ("status", _("Status of a payment")),
        ("history", _("Your recent payments")),
        ("retry", _("A new payment for a failed one")),
        ("cancel", _("Cancel an open payment")),
        ("language", _("Choose your language")),
        ("help", _("Help")),
    ]
