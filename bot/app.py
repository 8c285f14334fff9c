"""Wiring: builds every part from the configuration and starts/stops them together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from bot.access_effects import AccessEffects
from bot.access_joins import AccessJoins
from bot.access_setup import access_catalog, check_rights, shop_service
from bot.access_sync import AccessSync
from bot.adapters.base import Adapter, Send
from bot.admin.commands import OperatorCommands
from bot.agent.intent_model import IntentModel
from bot.agent.language import LanguageGuesser
from bot.agent.metrics import AgentMetrics
from bot.agent.router import IntentRouter
from bot.agent.runner import AgentRunner, AgentSettings
from bot.config import Config
from bot.conversation import Conversation
from bot.i18n import load_catalogs, load_shop_texts
from bot.leases import LeaseKeeper
from bot.messages import Incoming
from bot.notifier import Notifier
from bot.ratelimit import TextLimit
from bot.retention import Pruner
from bot.scheduler import Scheduler
from storage import tallies
from storage.db import Database
from storage.models import OutboxItem, Payment, SandboxTransfer, User
from storage.polls import Budget
from tools.access.grants import AccessGrants
from tools.access.sweep import AccessSweeper
from tools.actions import Shop
from tools.admin.desk import OperatorDesk
from tools.admin.signin import WebSignIns
from tools.alerts import OperatorAlerts
from tools.catalog import Catalog
from tools.clock import Clock, system_clock
from tools.countdown import Countdown
from tools.currencies import CurrencyDesk
from tools.linking import AccountLinks
from tools.payments import PaymentService
from tools.plans import PlanBook
from tools.policy import PaymentSettings
from tools.providers.base import PaymentProvider
from tools.providers.sandbox import SandboxProvider
from tools.providers.watched import WatchedProvider
from tools.reconcile import Reconciler
from tools.renewals import Renewals
from tools.states import IN_FLIGHT, Status
from tools.stopping import Stopping
from tools.transitions import PaymentEvents

if TYPE_CHECKING:  # the hosted stack is imported only when a hosted model is configured
    from langchain_core.language_models import BaseChatModel

    from bot.shared_pacing import Slots
    from bot.web.server import Dashboard
    from bot.webhooks import WebhookServer

log = logging.getLogger(__name__)
SANDBOX_COMMAND_PLATFORMS = frozenset({"console", "fake"})
POLL_EVERY = 5.0  # seconds between reconciliation runs
TALLIES_EVERY = 30.0  # seconds between folds of the stats' tallies
ANSWER_GRACE = 5.0  # seconds a message being answered may take to finish when stopping


def catalog_names(catalog: Catalog) -> list[str]:
    """Plan and coin names: words of no language ("pro btc")."""
    plans = [name for p in catalog.plans for name in (p.code, p.name)]
    return plans + [n for c in catalog.coins for n in (c.code, c.name, c.symbol, *c.aliases)]


def offline_router(catalog: Catalog, intent: str = "model") -> IntentRouter:
    """The built-in model's router; `intent` ("model" or "tables", `[agent] intent`) decides
    intents."""
    plans = {p.code: [p.name] for p in catalog.plans}
    coins = {c.code: [c.name, c.symbol, *c.aliases] for c in catalog.coins}
    model = IntentModel.load() if intent == "model" else None
    return IntentRouter(plans, coins, model=model)


def dashboard_server() -> type[Dashboard]:
    """The operators' web dashboard (aiohttp): imported only when it is enabled."""
    from bot.web.server import Dashboard

    return Dashboard


def shared_send_slots(db: Database, redis_url: str | None) -> Slots:
    """Where the workers share the platforms' send limits: Redis when `PAYBOT_REDIS_URL` is
    set (the `redis` client imported only then), else the database."""
    if redis_url:
        from storage.redis_slots import RedisSlots

        return RedisSlots.from_url(redis_url)
    from storage.send_slots import DatabaseSlots

    return DatabaseSlots(db.engine)


def webhook_server() -> type[WebhookServer]:
    """The HTTP server class (aiohttp, about 11 MB resident): imported only when a webhook,
    /healthz or /metrics is configured."""
    from bot.webhooks import WebhookServer

    return WebhookServer


def hosted_model(config: Config) -> BaseChatModel | None:
    """The OpenAI-compatible chat model `[agent] model` names, or None for offline."""
    agent = config.agent
    if not agent.hosted:
        return None
    from langchain.chat_models import init_chat_model  # the hosted stack: only when configured

    return init_chat_model(
        agent.model,
        base_url=agent.base_url,
        # local servers (Ollama, llama.cpp, vLLM) take any key; the client insists on one
        api_key=config.secrets.openai_api_key or "local",
        timeout=agent.timeout_seconds,
        max_retries=agent.max_retries,
        temperature=agent.temperature,
    )


def make_provider(
    config: Config,
    db: Database,
    catalog: Catalog,
    clock: Clock,
    alerts: OperatorAlerts | None = None,
) -> PaymentProvider:
    """The configured provider; with `alerts`, watched for outages (`WatchedProvider`)."""
    provider = _bare_provider(config, db, catalog, clock)
    if alerts is None:
        return provider
    down_after = timedelta(seconds=config.alerts.provider_down_seconds)
    return WatchedProvider(provider, alerts, clock, down_after)


def _bare_provider(
    config: Config, db: Database, catalog: Catalog, clock: Clock
) -> PaymentProvider:
    if config.provider.name == "nowpayments":
        # its HTTP client (aiohttp) is imported only when the shop sells through it
        from tools.providers.nowpayments import NowPaymentsProvider

        settings = config.provider.nowpayments
        return NowPaymentsProvider(
            base_url=settings.base_url,
            api_key=config.secrets.nowpayments_api_key or "",
            ipn_secret=config.secrets.nowpayments_ipn_secret or "",
            callback_url=config.webhooks.public_url.rstrip("/") + "/webhooks/nowpayments",
            clock=clock,
            codes={c.code: settings.codes.get(c.code, c.code) for c in catalog.coins},
            timeout=settings.timeout_seconds,
            retries=settings.retries,
            backoff=settings.backoff_seconds,
            cache_seconds=settings.cache_seconds,
        )
    sandbox = config.provider.sandbox
    return SandboxProvider(
        db,
        clock,
        rates=sandbox.rates,
        min_amounts=sandbox.min_amounts,
        confirm_seconds=sandbox.confirm_seconds,
        finish_seconds=sandbox.finish_seconds,
        quote_ttl_seconds=sandbox.quote_ttl_seconds,
    )


def served_platforms(config: Config, running: Iterable[str]) -> set[str]:
    """The chat platforms this shop serves, whose operators get alerts: those running here,
    those the config enables, and the console when it enables none (the laptop shop, where
    `paybot chat` is the chat). A console operator left in the config of a Telegram shop gets
    no alerts that would wait forever for a console to run."""
    enabled = {"telegram": config.telegram.enabled, "discord": config.discord.enabled}
    chats = {platform for platform, on in enabled.items() if on}
    return {*running, *chats, *(() if chats else ("console",))}


def is_operator(ids: dict[str, list[str]], actor: str) -> bool:
    """`telegram:123` is configured in `[operators]`; `cli:NAME` (the server's own terminal,
    `paybot admin web-login`) always is: whoever runs it already holds the shop."""
    platform, _, user = actor.partition(":")
    return platform == "cli" or user in ids.get(platform, ())


@dataclass(frozen=True)
class Pending:
    """What is still to happen for one chat user: payments whose money is on its way, payments
    waiting for money (id, deadline), and notifications not yet delivered."""

    on_its_way: tuple[int, ...]
    unpaid: tuple[tuple[int, datetime], ...]
    notices: int

    @property
    def empty(self) -> bool:
        return not (self.on_its_way or self.unpaid or self.notices)


class App:
    def __init__(
        self,
        config: Config,
        *,
        adapters: Sequence[Adapter] = (),
        clock: Clock = system_clock,
        model: BaseChatModel | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.adapters = {a.platform: a for a in adapters}
        load_catalogs(config.shop.locales)
        load_shop_texts(config.texts)
        self.db = Database(config.database.url)
        self.send_slots = None  # several workers: the platforms' limits hold for them all
        if not self.db.is_sqlite:
            self.send_slots = shared_send_slots(self.db, config.secrets.redis_url)
            from bot.shared_pacing import SharedPacing

            for adapter in adapters:
                if hasattr(adapter, "pacing"):
                    adapter.pacing = SharedPacing(self.send_slots, adapter.platform)
        self.catalog = Catalog.from_config(config.plans, config.coins, config.shop.price_currency)
        served = served_platforms(config, self.adapters)
        alerted = {p: ids for p, ids in config.operators.ids.items() if p in served}
        self.alerts = OperatorAlerts(self.db, clock, alerted, on_change=self._changed)
        self.provider = make_provider(config, self.db, self.catalog, clock, self.alerts)
        timers = config.timers
        settings = PaymentSettings(
            ttl=timedelta(seconds=timers.payment_ttl_seconds),
            warnings=tuple(timers.warning_seconds),
            monitoring=timedelta(seconds=timers.monitoring_seconds),
            underpaid_tolerance=config.payments.underpaid_tolerance,
            activate_late=config.payments.activate_late,
            max_open_per_user=config.payments.max_open_per_user,
            poll_after=timedelta(seconds=config.reconcile.after_seconds),
            poll_expired_every=timedelta(seconds=config.reconcile.expired_every_seconds),
        )
        self.access = AccessGrants(access_catalog(config))  # what paid plans open
        self.events = PaymentEvents(
            self.db,
            self.catalog,
            self.provider,
            clock,
            settings,
            alerts=self.alerts,
            on_change=self._changed,
            access=self.access,
        )
        self.payments = PaymentService(
            self.db, self.catalog, self.provider, clock, settings, on_change=self._changed
        )
        self.shop = Shop(
            PlanBook(self.db, self.catalog),
            CurrencyDesk(self.catalog, self.provider),
            self.payments,
            clock,
        )
        self.metrics = AgentMetrics()
        self.agent = AgentRunner(
            offline_router(self.catalog, config.agent.intent),
            config.shop.name,
            self.catalog.plan_codes,
            self.catalog.coin_codes,
            model=model or hosted_model(config),
            settings=AgentSettings(
                max_tool_calls=config.agent.max_tool_calls,
                router_confidence=config.agent.router_confidence,
                calls_per_minute=config.agent.calls_per_minute,
            ),
            metrics=self.metrics,
            secrets=config.secret_values(),
        )
        self.desk = OperatorDesk(
            self.db, self.catalog, self.events, clock, on_change=self._changed
        )
        dashboard = config.dashboard
        operator_ids = config.operators.ids
        self.signins = (
            WebSignIns(
                self.db,
                clock,
                link_ttl=timedelta(minutes=dashboard.link_minutes),
                session_ttl=timedelta(hours=dashboard.session_hours),
                is_operator=lambda actor: is_operator(operator_ids, actor),
            )
            if dashboard.enabled
            else None
        )
        self.operator_commands = OperatorCommands(
            self.desk,
            self.db,
            self.catalog,
            clock,
            shop_name=config.shop.name,
            currency=config.shop.price_currency,
            monitoring=settings.monitoring,
            zone=config.operators.timezone,
            signins=self.signins,
            dashboard_url=dashboard.public_url if dashboard.enabled else None,
        )
        self.conversation = Conversation(
            self.db,
            self.shop,
            self.agent,
            clock,
            locales=config.shop.locales,
            default_locale=config.shop.default_locale,
            guess_language=LanguageGuesser(
                config.shop.locales, neutral=catalog_names(self.catalog)
            ).guess,
            history_turns=config.agent.history_turns,
            sandbox_platforms=SANDBOX_COMMAND_PLATFORMS
            if config.provider.name == "sandbox"
            else frozenset(),
            operators=config.operators.ids,
            operator_commands=self.operator_commands,
            access=self.access,
            links=AccountLinks(self.db, self.access),
            text_limit=TextLimit(
                config.agent.text_burst,
                config.agent.text_per_minute,
                lambda: clock().timestamp(),
            ),
            on_change=self._changed,
        )
        stopping = Stopping()  # raised when the scheduler stops: long jobs end at a batch
        self.countdown = Countdown(self.events, stopping=stopping)
        reads = config.reconcile.max_per_minute
        shared = None if self.db.is_sqlite else Budget(reads, burst=POLL_EVERY)
        self.reconciler = Reconciler(
            self.events,
            # SQLite (one process): a run's share of the rate. PostgreSQL: the workers share
            # a budget in the database (a run's worth at once), and a run goes on while it
            # has room and something is due, so a slow pass never idles between runs.
            per_run=max(1, math.ceil(reads * POLL_EVERY / 60)) if shared is None else reads,
            at_once=config.reconcile.at_once,
            budget=shared,
            stopping=stopping,
        )
        retention = config.retention
        self.pruner = Pruner(
            self.db, retention.outbox_days, retention.events_days, stopping=stopping
        )
        subscriptions = config.subscriptions
        self.renewals = Renewals(
            self.db, self.catalog, subscriptions.reminder_days, on_change=self._changed
        )
        self.scheduler = Scheduler(clock, stopping)
        self.scheduler.every("prune", retention.prune_every_seconds, self.pruner.prune)
        self.scheduler.every("sweep", timers.sweep_interval_seconds, self.countdown.sweep)
        self.scheduler.every("reconcile", POLL_EVERY, self.reconciler.poll)
        self.scheduler.every("renewals", subscriptions.check_every_seconds, self.renewals.sweep)
        # the stats' tallies stay folded, so no page waits for a backlog
        self.scheduler.every("tallies", TALLIES_EVERY, lambda now: tallies.fold_all(self.db, now))
        self.access_sweeper = AccessSweeper(self.db, self.access)
        self.scheduler.every("access", config.access.sync_seconds, self.access_sweeper.sweep)
        self.access_sync = AccessSync(self.db, self.adapters)
        self.scheduler.every("access-sync", config.access.sync_seconds, self.access_sync.sync)
        self.joins = AccessJoins(self.db, self.adapters, clock)
        self.services = shop_service(config)  # the shop's own service, when configured
        relayed = {**self.adapters, **self.services}
        self.notifier = Notifier(
            self.db,
            self.catalog,
            relayed,
            clock,
            alerts=self.alerts,
            renewals=self.renewals,
            access=AccessEffects(self.db, relayed, clock, self.alerts),
        )
        self.webhooks = (
            webhook_server()(
                self.db,
                self.events,
                config.webhooks.host,
                config.webhooks.port,
                self.metrics,
                alerts=self.alerts,
                clock=clock,
                bad_signatures=config.alerts.bad_signatures,
                bad_signature_window=timedelta(seconds=config.alerts.bad_signature_window_seconds),
                metrics_token=config.secrets.metrics_token,
                public_url=config.webhooks.public_url,
            )
            if config.webhooks_needed
            else None
        )
        for adapter in self.adapters.values():
            for path, handler in getattr(adapter, "webhook_routes", list)():
                if self.webhooks is None:
                    raise RuntimeError("webhook routes need the webhook server")
                self.webhooks.add_route(path, handler)
        self.dashboard = (
            dashboard_server()(
                self.operator_commands,
                self.signins,
                dashboard,
                locales=config.shop.locales,
                default_locale=config.shop.default_locale,
            )
            if self.signins is not None
            else None
        )
        connections = [
            c for a in self.adapters.values() for c in getattr(a, "connections", list)()
        ]
        self.leases = (  # who runs Telegram polling and each Discord shard
            LeaseKeeper(
                self.db,
                connections,
                ttl=timedelta(seconds=config.workers.lease_seconds),
                clock=clock,
            )
            if connections
            else None
        )
        if self.webhooks is not None and self.leases is not None:
            self.webhooks.leases = self.leases
        self._relay: asyncio.Task[None] | None = None
        self._handling: set[asyncio.Task[object]] = set()  # messages being answered
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def _changed(self) -> None:
        self.notifier.wake()
        if getattr(self, "dashboard", None) is not None:
            self.dashboard.changed()  # the live payments table looks at once

    async def handle(self, incoming: Incoming, reply: Send | None = None) -> None:
        """One user's messages are answered in order (two quick taps cannot race); answers
        go through `reply` when the adapter gives one, else through its `send`."""
        adapter = self.adapters[incoming.platform]
        key = (incoming.platform, incoming.user_id)
        lock = self._locks.setdefault(key, asyncio.Lock())
        task = asyncio.current_task()
        if task is not None:
            self._handling.add(task)
        try:
            async with lock:
                if incoming.event is not None:  # a join request, a member joining
                    await self.joins.handle(incoming)
                else:
                    await self.conversation.handle(incoming, reply or adapter.send)
                    if incoming.platform == "discord" and self.access.catalog.roles():
                        await self.joins.roles_owed(incoming)
        finally:
            self._handling.discard(task)  # type: ignore[arg-type]
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]

    async def start(self, *, background: bool = True) -> None:
        """Upgrade the schema, then start the webhook server, the adapters and (unless tests
        drive them) the timers."""
        await self.db.upgrade()
        if background and self.webhooks is not None:
            await self.webhooks.start()  # first: a Telegram webhook must find it listening
        if background and self.dashboard is not None:
            await self.dashboard.start()
        for adapter in self.adapters.values():
            await adapter.start(self.handle)
        if self.leases is not None:  # open the connections whose leases this worker gets
            await self.leases.start(background=background)
        await check_rights(self.access.catalog, self.adapters)
        if background:
            self.scheduler.start()
            self._relay = asyncio.create_task(self.notifier.run(), name="outbox-relay")

    async def stop(self) -> None:
        if self.leases is not None:  # first: another worker takes the connections over now
            await self.leases.stop()
        await self.scheduler.stop()
        self.notifier.stop()
        await self.notifier.edits_done()
        if self._relay is not None:
            self._relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relay
        await self._finish_answers(cancel=False)  # while the chats can still carry them
        if self.webhooks is not None:
            await self.webhooks.stop()
        if self.dashboard is not None:
            await self.dashboard.stop()
        for adapter in self.adapters.values():
            await adapter.stop()
        await self._finish_answers()
        close = getattr(self.provider, "close", None)
        if close is not None:
            await close()
        for service in self.services.values():
            await service.close()
        if self.send_slots is not None:
            await self.send_slots.close()
        await self.db.close()

    async def _finish_answers(self, *, cancel: bool = True) -> None:
        """Let the messages still being answered finish (the adapters hand their events to
        tasks of their own) for up to `ANSWER_GRACE`; then, with `cancel`, cancel the slow
        ones and wait for them, before the database closes under them."""
        pending = self._handling - {asyncio.current_task()}
        if not pending:
            return
        _done, late = await asyncio.wait(pending, timeout=ANSWER_GRACE)
        if cancel and late:
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def settled(
        self, platform: str, user: str, *, waiting: bool = True, since: datetime | None = None
    ) -> bool:
        """Nothing left to happen for this user: no payment whose money is on its way (and,
        with `waiting`, none waiting to be paid: only those created from `since` on, when
        given) and no notification still to deliver to their chat."""
        return (await self.pending(platform, user, waiting=waiting, since=since)).empty

    async def pending(
        self, platform: str, user: str, *, waiting: bool = True, since: datetime | None = None
    ) -> Pending:
        """What `settled` waits for (a console says what it waits for, and how long)."""
        now = self.clock()
        busy = Payment.status.in_([s.value for s in IN_FLIGHT]) | (
            (Payment.status == Status.PARTIALLY_PAID.value) & (Payment.expires_at > now)
        )
        if waiting:
            unpaid = Payment.status == Status.WAITING.value
            if since is not None:
                unpaid &= Payment.created_at >= since
            busy |= unpaid
        mine = (User.platform == platform) & (User.platform_user_id == user)
        async with self.db.sessions() as session:
            payments = (
                await session.execute(
                    select(Payment.id, Payment.status, Payment.expires_at)
                    .join(User, User.id == Payment.user_id)
                    .where(mine, busy)
                    .order_by(Payment.id)
                )
            ).all()
            # money the sandbox has been told about but not yet reported counts as on its way
            sent = (
                await session.scalars(
                    select(Payment.id)
                    .join(
                        SandboxTransfer,
                        Payment.provider_payment_id == SandboxTransfer.provider_payment_id,
                    )
                    .join(User, User.id == Payment.user_id)
                    .where(mine, SandboxTransfer.delivered_at.is_(None))
                    .distinct()
                )
            ).all()
            notices = (
                await session.execute(
                    select(func.count())
                    .select_from(OutboxItem)
                    .where(
                        OutboxItem.status == "pending",
                        OutboxItem.chat_platform == platform,
                        OutboxItem.chat_id == user,  # the console's chat is its user
                    )
                )
            ).scalar_one()
        on_its_way = {p.id for p in payments if p.status != Status.WAITING.value} | set(sent)
        unpaid_ones = tuple(
            (p.id, p.expires_at)
            for p in payments
            if p.status == Status.WAITING.value and p.id not in on_its_way
        )
        return Pending(tuple(sorted(on_its_way)), unpaid_ones, notices)

    async def locale_of(self, platform: str, user: str) -> str | None:
        """The language a chat user reads (their choice or their platform's hint), if known."""
        async with self.db.sessions() as session:
            return (
                await session.scalars(
                    select(User.locale).where(
                        User.platform == platform, User.platform_user_id == user
                    )
                )
            ).first()

    async def wait_settled(
        self,
        platform: str,
        user: str,
        *,
        waiting: bool,
        timeout: float | None,
        since: datetime | None = None,
    ) -> bool:
        """Wait (on the real clock) until `settled`; False when `timeout` seconds ran out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not await self.settled(platform, user, waiting=waiting, since=since):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.1)
        return True
