"""`paybot admin ...`: the operator commands on the terminal.

The same commands as `/admin` in chat, run against the configured database; what a terminal
does differently: the ledger goes to `--out` (or stdout) with a progress bar on stderr, the
stats chart to `--chart`, and `reconcile` asks before it applies anything (unless `--apply`).
Notifications it queues (grants, revocations, resends) are delivered by the running service.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import sys
from argparse import Namespace
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from bot.admin import report
from bot.admin.commands import export_range
from bot.app import App
from bot.config import Config
from tools.admin.desk import AdminError
from tools.admin.ledger import ledger_size, write_ledger
from tools.admin.stats import PeriodError

TERMINAL = "paybot admin"  # how the answers name the commands they point to


def operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in this environment
        return "cli:unknown"


async def run_admin(config: Config, args: Namespace, *, app: App | None = None) -> int:
    """Run one operator command; 0 when done, 1 when it was refused (the reason on stderr)."""
    app = app or App(config)
    command = "web" if args.admin_command == "web-login" else args.admin_command
    args = Namespace(**{**vars(args), "command": command})
    actor = operator()
    await app.db.upgrade()
    try:
        with report.invoked_as(TERMINAL):
            return await _run_admin(app, args, actor)
    except (AdminError, PeriodError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        close = getattr(app.provider, "close", None)
        if close is not None:
            await close()
        await app.db.close()


async def _run_admin(app: App, args: Namespace, actor: str) -> int:
    await app.desk.audited(actor, "admin.command", " ".join(sys.argv[1:])[:200])
    if args.command == "export":
        return await _export(app, args, actor)
    if args.command == "stats":
        return await _stats(app, args)
    if args.command == "reconcile":
        return await _reconcile(app, args, actor)
    replies = await app.operator_commands.run(actor, args)
    for reply in replies:
        print(reply.text, file=sys.stderr if reply.refused else sys.stdout)
    return 1 if any(r.refused for r in replies) else 0


async def _stats(app: App, args: Namespace) -> int:
    stats = await app.operator_commands.stats(args.period)
    print(app.operator_commands.stats_text(stats))
    if args.chart:
        png = await app.operator_commands.chart(stats)
        await asyncio.to_thread(Path(args.chart).write_bytes, png)
        print(f"chart: {args.chart}", file=sys.stderr)
    return 0


async def _export(app: App, args: Namespace, actor: str) -> int:
    start, end = export_range(args.start, args.end, app.clock(), app.operator_commands.zone)
    total = await ledger_size(app.db, start, end)
    with contextlib.ExitStack() as stack:
        out: TextIO = (
            sys.stdout
            if args.out == "-"
            else stack.enter_context(open(args.out, "w", encoding="utf-8", newline=""))  # noqa: ASYNC230 - written as streamed
        )
        bar = stack.enter_context(
            tqdm(total=total, unit=" payments", file=sys.stderr, disable=None, leave=False)
        )
        written = await write_ledger(app.db, out, start, end, progress=bar.update)
    await app.desk.audited(actor, "admin.export", args.out, payments=written)
    where = "stdout" if args.out == "-" else args.out
    print(f"{written} payments written to {where}", file=sys.stderr)
    return 0


async def _reconcile(app: App, args: Namespace, actor: str) -> int:
    commands = app.operator_commands
    (listed,) = await commands.run(actor, args)
    if listed.refused:
        print(listed.text, file=sys.stderr)
        return 1
    print(listed.text)
    if args.apply or not listed.buttons:
        return 0
    if not sys.stdin.isatty():
        print("nothing applied: run again with --apply to apply it", file=sys.stderr)
        return 0
    answer = await asyncio.to_thread(input, f"{listed.buttons[0].label} now? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        print("nothing applied")
        return 0
    (applied,) = await commands.run(actor, Namespace(**{**vars(args), "apply": True}))
    print(applied.text)
    return 0
