"""`paybot` on the terminal: chat, run, operator commands, config check, db upgrade, sandbox
pay."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from bot.access_setup import rights_report
from bot.admin.parser import add_commands
from bot.config import BUILT_IN_CONFIG, Config, ConfigError, config_path, load_config, masked
from bot.config_report import sandbox_refusal, summary, warnings
from bot.logs import parse_level, setup_logging
from storage.db import Database, DatabaseError

EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE  # 141, as the shell reports a command SIGPIPE ended


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)  # accepted before or after the command
    common.add_argument(
        "--config",
        default=argparse.SUPPRESS,
        help="configuration file (default: $PAYBOT_CONFIG, else ./config.toml, else the "
        "built-in defaults)",
    )
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log more"
    )
    common.add_argument(
        "--log-level",
        default=argparse.SUPPRESS,
        metavar="LEVEL",
        help="DEBUG, INFO, WARNING, ERROR or CRITICAL (default: $PAYBOT_LOG_LEVEL, else INFO "
        "for run and WARNING otherwise; secrets are never written)",
    )
    parser = argparse.ArgumentParser(prog="paybot", description=__doc__, parents=[common])
    sub = parser.add_subparsers(dest="command", required=True)
    add = functools.partial(sub.add_parser, parents=[common])

    chat = add("chat", help="chat with the bot in this terminal")
    chat.add_argument("--user", default="me", help="your user name in this chat")
    chat.add_argument("--locale", default=None, help="your language, e.g. de")
    chat.add_argument(
        "--linger",
        type=float,
        default=None,
        metavar="SECONDS",
        help="after the input ends, wait at most this long for open payments",
    )

    add("run", help="run the bot service (scheduler, relay, webhooks, adapters)")

    admin = add("admin", help="operator commands: stats, export, payment, user, grant, ...")
    add_commands(
        admin.add_subparsers(dest="admin_command", required=True, metavar="COMMAND"),
        terminal=True,
        parents=[common],
    )

    config = add("config", help="configuration")
    check = config.add_subparsers(dest="action", required=True).add_parser(
        "check",
        parents=[common],
        help="summarize the effective configuration and warn about surprises, secrets masked",
    )
    check.add_argument(
        "--full", action="store_true", help="print every setting as JSON (secrets masked)"
    )

    db = add("db", help="database")
    db.add_subparsers(dest="action", required=True).add_parser(
        "upgrade", parents=[common], help="apply the database migrations"
    )

    sandbox = add("sandbox", help="the simulated payment provider")
    pay = sandbox.add_subparsers(dest="action", required=True).add_parser(
        "pay", parents=[common], help="pay a payment fully, or AMOUNT of it"
    )
    pay.add_argument("payment_id", type=int)
    pay.add_argument("amount", nargs="?", default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        level = _log_level(args, os.environ)
        source = config_path(getattr(args, "config", None), os.environ)
        config = load_config(source)
    except (ValueError, ConfigError) as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    redactor = setup_logging(level, config.secret_values())
    try:
        if args.command == "config":
            if args.full:
                print(json.dumps(masked(config), indent=2, ensure_ascii=False))
            else:
                print("\n".join(summary(config, source, source == BUILT_IN_CONFIG)))
            for line in asyncio.run(rights_report(config)):  # chats and roles sold, if any
                print(line, file=sys.stderr)
            return 0
        if args.command in ("run", "chat"):  # what serves customers: no sandbox by accident
            if (refusal := sandbox_refusal(config)) is not None:
                print(refusal, file=sys.stderr)
                return EXIT_USAGE
            for warning in warnings(config):
                logging.getLogger("paybot").warning("%s", warning)
        return asyncio.run(_run(args, config))
    except (ConfigError, DatabaseError) as exc:
        print(redactor.redact(str(exc)), file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `paybot admin export | head`: the reader has what it wanted
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as exc:  # e.g. the webhook port is taken, a chat platform cannot start
        print(redactor.redact(f"cannot start: {exc}"), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception:  # a bug: its traceback, through the log so that no secret is in it
        logging.getLogger("paybot").critical(
            "paybot stopped on an unexpected error", exc_info=True
        )
        return 1


def _quiet_stdout() -> None:
    """After a broken pipe on stdout: point it at /dev/null, so that flushing what is left
    when Python exits does not print a second error."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout is not a file (a test's capture)
        pass


def _log_level(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """--log-level, else PAYBOT_LOG_LEVEL, else INFO with -v or for `run`, else WARNING."""
    given = getattr(args, "log_level", None) or environ.get("PAYBOT_LOG_LEVEL")
    if given:
        try:
            return parse_level(given)
        except ValueError as exc:
            where = "--log-level" if getattr(args, "log_level", None) else "PAYBOT_LOG_LEVEL"
            raise ValueError(f"{where}: {exc}") from None
    loud = getattr(args, "verbose", False) or args.command == "run"
    return logging.INFO if loud else logging.WARNING


async def _run(args: argparse.Namespace, config: Config) -> int:
    if args.command == "db":
        db = Database(config.database.url)
        try:
            await db.upgrade()
        finally:
            await db.close()
        print("database is up to date")
        return 0
    if args.command == "admin":
        from bot.admin.terminal import run_admin

        return await run_admin(config, args)
    if args.command == "sandbox":
        return await _sandbox_pay(config, args.payment_id, args.amount)
    if args.command == "chat":
        return await _chat(config, args.user, args.locale, args.linger)
    return await _serve(config)


async def _sandbox_pay(config: Config, payment_id: int, raw_amount: str | None) -> int:
    from bot.app import App
    from tools.errors import ShopError

    amount = None
    if raw_amount is not None:
        try:
            amount = Decimal(raw_amount)
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite() or amount <= 0:
            print(f"not an amount: {raw_amount}", file=sys.stderr)
            return EXIT_USAGE
    app = App(config)
    await app.db.upgrade()
    try:
        view = await app.payments.sandbox_pay(None, payment_id, amount)
    except ShopError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        await app.db.close()
    print(f"sandbox: paid {amount or view.remaining} {view.coin.code} for payment #{view.id}")
    return 0


async def _chat(config: Config, user: str, locale: str | None, linger: float | None) -> int:
    from bot.adapters.console import ConsoleAdapter
    from bot.app import App
    from bot.console_wait import announced, gave_up
    from bot.i18n import using_locale

    qr_dir = Path(config.console.qr_dir)
    await asyncio.to_thread(qr_dir.mkdir, parents=True, exist_ok=True)  # fail early, one line
    app: App

    async def wait(everything: bool, seconds: float | None, since: datetime | None = None) -> bool:
        """Wait until settled, saying what for and how long (see `bot.console_wait`)."""

        async def look():
            return await app.pending(console.platform, user, waiting=everything, since=since)

        async def settle(limit: float | None) -> bool:
            return await app.wait_settled(
                console.platform, user, waiting=everything, timeout=limit, since=since
            )

        with using_locale(await app.locale_of(console.platform, user) or default):
            return await announced(look, settle, console.notice, app.clock, seconds)

    default = locale or config.shop.default_locale
    console = ConsoleAdapter(user, locale=locale, qr_dir=qr_dir, wait=wait)
    app = App(config, adapters=[console])
    interrupted = asyncio.Event()  # Ctrl-C: stop waiting, close as usual
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, interrupted.set)
    started = app.clock()
    await app.start()
    try:
        if await _first(console.input_done.wait(), interrupted):
            # the input ended: stay for what this chat started (and money on its way)
            await _first(wait(True, linger, since=started), interrupted)
        if interrupted.is_set():
            pending = await app.pending(console.platform, user, since=started)
            with using_locale(await app.locale_of(console.platform, user) or default):
                line = gave_up(pending)
            if line:
                console.notice(line)
    finally:
        await app.stop()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)
    return 130 if interrupted.is_set() else 0


async def _first(work: Awaitable[object], interrupted: asyncio.Event) -> bool:
    """Run `work` until it ends (True) or Ctrl-C is pressed (False: `work` is cancelled)."""
    task = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(interrupted.wait())
    await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    for each in (task, stop):
        each.cancel()
    await asyncio.gather(task, stop, return_exceptions=True)
    return not interrupted.is_set()


async def _serve(config: Config) -> int:
    from bot.app import App

    adapters = []
    if config.telegram.enabled:
        from bot.adapters import telegram

        adapters.append(telegram.from_config(config))
    if config.discord.enabled:
        from bot.adapters import discord

        adapters.append(discord.from_config(config))
    app = App(config, adapters=adapters)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await app.start()  # a platform that cannot be reached stops us with one line
        logging.getLogger("paybot").info(
            "paybot is running: %s", ", ".join(app.adapters) or "no chat platform enabled"
        )
        await stop.wait()
    finally:
        await app.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
