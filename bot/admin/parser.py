"""The operator commands' grammar, shared by `/admin ...` in chat and `paybot admin ...`.

One argparse definition serves both: in chat a mistake raises `AdminUsage` with the command's
usage instead of exiting; the terminal adds its own options (`--out`, `--chart`).
"""

from __future__ import annotations

import argparse
import shlex
from typing import NoReturn

from tools.admin.stats import PERIODS

COMMANDS = {
    "stats": "payments, conversion, revenue per plan and coin, subscribers, what needs a human",
    "attention": "payments that need a human (late, overpaid, partial, undelivered notices)",
    "export": "the settlement ledger as CSV, one row per payment",
    "payment": "one payment's whole story",
    "user": "a customer's plan, open and last payments",
    "access": "what a customer's plans open (chats, roles, the shop's service) and every change",
    "unlink": "undo a customer's /link: the account stops acting for them",
    "grant": "give a customer a plan for some days (extends their current one)",
    "revoke": "end a customer's plans now (or one plan)",
    "resend": "send a payment's last notification again",
    "settle": "mark a payment that needs a human as handled (back if it changes again)",
    "reconcile": "compare payments with the provider's records; --apply fixes them",
    "web": "a single-use sign-in link to the web dashboard (terminal: web-login)",
    "help": "this list",
}


class AdminUsage(Exception):
    """A command that does not parse; the message is its usage line and the problem."""


class _ChatParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise AdminUsage(f"{message}\n{self.format_usage().strip()}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise AdminUsage(message or self.format_usage().strip())


def add_commands(sub: argparse._SubParsersAction, *, terminal: bool, **common) -> None:
    """The operator commands as subparsers of `sub` (the chat's or the CLI's)."""

    def add(name: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=COMMANDS[name], description=COMMANDS[name], **common)

    period = dict(nargs="?", default="7d", type=str.lower, choices=list(PERIODS))
    period["metavar"] = "|".join(PERIODS)
    stats = add("stats")
    stats.add_argument("period", **period)
    attention = add("attention")
    attention.add_argument("period", **period)
    export = add("export")
    export.add_argument("start", nargs="?", metavar="FROM", help="first day, YYYY-MM-DD")
    export.add_argument("end", nargs="?", metavar="TO", help="last day, YYYY-MM-DD")
    add("payment").add_argument("payment_id", metavar="ID", type=int)
    add("user").add_argument("ref", metavar="REF", help="platform:id or @name")
    add("unlink").add_argument("ref", metavar="REF", help="the linked account: platform:id")
    access = add("access")
    access.add_argument("ref", metavar="REF", help="platform:id or @name")
    access.add_argument(
        "--retry", action="store_true", help="queue again what was given up (dead changes)"
    )
    grant = add("grant")
    grant.add_argument("ref", metavar="REF", help="platform:id or @name")
    grant.add_argument("plan", metavar="PLAN")
    grant.add_argument("days", metavar="DAYS", type=int)
    revoke = add("revoke")
    revoke.add_argument("ref", metavar="REF", help="platform:id or @name")
    revoke.add_argument("plan", metavar="PLAN", nargs="?")
    add("resend").add_argument("payment_id", metavar="ID", type=int)
    add("settle").add_argument("payment_id", metavar="ID", type=int)
    reconcile = add("reconcile")
    reconcile.add_argument(
        "--since", default="7d", metavar="WHEN", help="YYYY-MM-DD or a period (default 7d)"
    )
    reconcile.add_argument(
        "--apply", action="store_true", help="apply the provider's truth to what differs"
    )
    sub.add_parser(
        "web", aliases=["web-login"], help=COMMANDS["web"], description=COMMANDS["web"], **common
    )
    add("help")
    if terminal:
        stats.add_argument("--chart", metavar="PATH", help="also save the chart as a PNG")
        export.add_argument("--out", default="-", metavar="PATH", help="CSV file (- = stdout)")


def chat_parser() -> argparse.ArgumentParser:
    parser = _ChatParser(prog="/admin", add_help=False)
    sub = parser.add_subparsers(dest="command", parser_class=_ChatParser, metavar="COMMAND")
    add_commands(sub, terminal=False, add_help=False)
    return parser


def parse_chat(line: str) -> argparse.Namespace:
    """`/admin stats 7d` (the words after `/admin`) → the parsed command."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise AdminUsage(f"cannot read the command: {exc}") from None
    args = chat_parser().parse_args(words or ["help"])
    if args.command == "web-login":
        args.command = "web"
    return args if args.command else argparse.Namespace(command="help")


def help_text(prefix: str = "/admin") -> str:
    """Every command with its arguments and what it does."""
    parser = chat_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    lines = ["Operator commands:"]
    for name, text in COMMANDS.items():
        usage = sub.choices[name].format_usage().strip().removeprefix("usage: /admin ")
        lines.append(f"{prefix} {usage} – {text}")
    return "\n".join(lines)
