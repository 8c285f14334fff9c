"""Runs one parsed operator command and says what happened, for a chat or a terminal.

The chat gets text, the stats chart as a picture, the ledger as a CSV file (gzip-compressed
when it is larger than a chat takes) and an "Apply" button after a reconciliation. The
terminal's own needs (a file or stdout for the ledger, a progress bar, a confirmation prompt)
live in `bot.admin.terminal`.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import os
import shutil
import tempfile
from argparse import Namespace
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.admin import report
from bot.admin.chart import stats_chart
from bot.admin.parser import help_text
from bot.i18n import _
from bot.messages import Button
from storage.db import Database
from tools.admin.desk import AdminError, OperatorDesk
from tools.admin.ledger import write_ledger
from tools.admin.signin import WebSignIns
from tools.admin.stats import (
    PeriodError,
    Stats,
    midnight,
    needs_a_human,
    period,
    shop_stats,
    since,
)
from tools.catalog import Catalog
from tools.clock import Clock

log = logging.getLogger(__name__)

CHAT_FILE_LIMIT = 8 * 1024 * 1024  # under Discord's 10 MiB and Telegram's 50 MB uploads
EXPORT_PREFIX = "paybot-export-"


@dataclass(frozen=True)
class Reply:
    text: str
    image: bytes | None = None
    image_name: str | None = None
    file: Path | None = None  # a temporary file; whoever sends it removes it afterwards
    buttons: tuple[Button, ...] = ()
    refused: bool = False  # the command could not be done; `text` says why


def export_range(
    start: str | None, end: str | None, now: datetime, zone: str = "UTC"
) -> tuple[datetime | None, datetime | None]:
    """FROM and TO days (in `zone`, both included) → [start, end) for the ledger query."""
    first = since(start, now, zone) if start else None
    last = since(end, now, zone) if end else None
    if last is not None:  # the next local midnight (a day is not always 24 hours)
        last = midnight(last.astimezone(ZoneInfo(zone)).date() + timedelta(days=1), zone)
    if first and last and first >= last:
        raise PeriodError("FROM must not be after TO")
    return first, last


class OperatorCommands:
    def __init__(
        self,
        desk: OperatorDesk,
        db: Database,
        catalog: Catalog,
        clock: Clock,
        *,
        shop_name: str,
        currency: str,
        monitoring: timedelta,
        zone: str = "UTC",
        signins: WebSignIns | None = None,
        dashboard_url: str | None = None,
    ) -> None:
        self.signins = signins  # the dashboard's sign-in links, when it is enabled
        self.dashboard_url = dashboard_url
        self.zone = zone  # the operators' time zone: their days and the times they read
        self.desk = desk
        self.db = db
        self.catalog = catalog
        self.clock = clock
        self.shop_name = shop_name
        self.currency = currency
        self.monitoring = monitoring
        self.plan_names = {p.code: p.name for p in catalog.plans}

    async def run(self, actor: str, args: Namespace) -> list[Reply]:
        """Answer one command for a chat; a refused one is answered with the reason."""
        try:
            with report.in_zone(self.zone):
                return await getattr(self, f"_{args.command}")(actor, args)
        except (AdminError, PeriodError) as exc:
            return [Reply(str(exc), refused=True)]

    async def stats(self, name: str) -> Stats:
        now = self.clock()
        the_period = period(name, now, self.zone)
        return await shop_stats(self.db, the_period, self.currency, now, self.monitoring)

    def stats_text(self, stats: Stats) -> str:
        with report.in_zone(self.zone):
            return report.stats_text(stats, self.plan_names)

    async def chart(self, stats: Stats) -> bytes:
        return await asyncio.to_thread(stats_chart, stats, self.shop_name)

    async def _help(self, actor: str, args: Namespace) -> list[Reply]:
        return [Reply(help_text())]

    async def _stats(self, actor: str, args: Namespace) -> list[Reply]:
        stats = await self.stats(args.period)
        return [
            Reply(self.stats_text(stats)),
            Reply(
                f"Revenue and payments per day ({args.period})",
                image=await self.chart(stats),
                image_name=f"stats-{args.period}.png",
            ),
        ]

    async def _attention(self, actor: str, args: Namespace) -> list[Reply]:
        now = self.clock()
        async with self.db.sessions() as session:
            items = await needs_a_human(
                session, period(args.period, now, self.zone).start, now, self.monitoring
            )
        return [Reply(report.attention_text(items, shown=50))]

    async def _export(self, actor: str, args: Namespace) -> list[Reply]:
        start, end = export_range(args.start, args.end, self.clock(), self.zone)
        name = f"ledger-{args.start or 'start'}-{args.end or 'now'}.csv"
        folder = Path(tempfile.mkdtemp(prefix=EXPORT_PREFIX))
        path = folder / name
        try:
            with path.open("w", encoding="utf-8", newline="") as out:
                count = await write_ledger(self.db, out, start, end)
            if path.stat().st_size > CHAT_FILE_LIMIT:
                path = await asyncio.to_thread(_gzip, path)
            if path.stat().st_size > CHAT_FILE_LIMIT:
                shutil.rmtree(folder, ignore_errors=True)
                return [
                    Reply(
                        f"The ledger has {count} payments, too many for a chat file. Narrow "
                        "the dates, or run `paybot admin export FROM TO --out FILE` on the server."
                    )
                ]
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        await self.desk.audited(actor, "admin.export", name, payments=count)
        return [Reply(f"Settlement ledger: {count} payments.", file=path)]

    async def _web(self, actor: str, args: Namespace) -> list[Reply]:
        """A single-use sign-in link to the dashboard for this operator (in their language)."""
        if self.signins is None or self.dashboard_url is None:
            return [
                Reply(
                    _("The web dashboard is off: set [dashboard] enabled = true and restart."),
                    refused=True,
                )
            ]
        token = await self.signins.new_link_token(actor)
        minutes = int(self.signins.link_ttl.total_seconds() // 60)
        link = f"{self.dashboard_url}/signin/{token}"
        return [
            Reply(
                _(
                    "Your sign-in link to the dashboard, for you alone: it works once, within "
                    "{minutes} minutes.\n{link}"
                ).format(minutes=minutes, link=link)
            )
        ]

    async def _payment(self, actor: str, args: Namespace) -> list[Reply]:
        return [Reply(report.story_text(await self.desk.story(args.payment_id)))]

    async def _user(self, actor: str, args: Namespace) -> list[Reply]:
        facts = await self.desk.user_facts(args.ref)
        return [Reply(report.user_text(facts, self.plan_names, self.clock()))]

    async def _unlink(self, actor: str, args: Namespace) -> list[Reply]:
        customer = await self.desk.unlink(actor, args.ref)
        return [Reply(f"{args.ref} unlinked from user {customer}.")]

    async def _access(self, actor: str, args: Namespace) -> list[Reply]:
        replies = []
        if args.retry:
            count = await self.desk.retry_access(actor, args.ref)
            replies.append(Reply(f"{count} given-up access change(s) queued again."))
        return replies + [Reply(report.access_text(await self.desk.user_facts(args.ref)))]

    async def _grant(self, actor: str, args: Namespace) -> list[Reply]:
        a = await self.desk.grant(actor, args.ref, args.plan, args.days)
        return [
            Reply(
                f"Granted {self.plan_names.get(a.plan, a.plan)} to {args.ref} from "
                f"{report.at(a.period_start)} to {report.at(a.period_end)} {report.zone()}; "
                "they are told."
            )
        ]

    async def _revoke(self, actor: str, args: Namespace) -> list[Reply]:
        revoked = await self.desk.revoke(actor, args.ref, args.plan)
        plans = ", ".join(sorted({self.plan_names.get(a.plan, a.plan) for a in revoked}))
        return [Reply(f"Revoked {plans} of {args.ref}; they are told.")]

    async def _resend(self, actor: str, args: Namespace) -> list[Reply]:
        item = await self.desk.resend(actor, args.payment_id)
        return [Reply(f"Queued {item.kind} of payment #{args.payment_id} again.")]

    async def _settle(self, actor: str, args: Namespace) -> list[Reply]:
        await self.desk.settle(actor, args.payment_id)
        return [Reply(f"Payment #{args.payment_id} marked as handled.")]

    async def _reconcile(self, actor: str, args: Namespace) -> list[Reply]:
        start = since(args.since, self.clock(), self.zone)
        found = await self.desk.reconcile(actor, start, apply=args.apply)
        text = report.reconcile_text(found, args.since, args.apply)
        buttons: tuple[Button, ...] = ()
        if not args.apply and found.applicable:
            buttons = (
                Button(
                    f"Apply {len(found.applicable)}",
                    f"/admin reconcile --since {args.since} --apply",
                ),
            )
        return [Reply(text, buttons=buttons)]


def discard(path: Path) -> None:
    """Remove a sent export and the temporary folder made for it."""
    path.unlink(missing_ok=True)
    if path.parent.name.startswith(EXPORT_PREFIX):
        shutil.rmtree(path.parent, ignore_errors=True)


def _gzip(path: Path) -> Path:
    packed = path.with_name(path.name + ".gz")
    with path.open("rb") as raw, gzip.open(packed, "wb") as out:
        shutil.copyfileobj(raw, out)
    os.remove(path)
    return packed
