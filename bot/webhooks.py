"""The HTTP side: provider webhooks in, health and metrics out (aiohttp).

A provider webhook is judged in the cheapest order, so junk costs little: the provider's
`precheck` looks at the headers alone (no or malformed signature: 401 before the body is read),
an announced body over `WEBHOOK_MAX_BODY` is a 413 before it is read, a longer body a 413 once
it passes the cap. The signature check and parsing (CPU-bound for a large body) run in one
worker thread, not on the event loop, unless the body is so small (`VERIFY_INLINE`) that the
check costs less than the trip to the thread; at most `VERIFY_QUEUE` webhooks wait for the
thread, and the next get 503 with Retry-After at once (the provider retries, the
reconciliation poller catches what is lost). Only a verified event reaches the database, and
the events verified while others are being written share the next transaction
(`tools.event_batches`).

Webhooks rejected for a missing or bad signature (401) are counted in a sliding window on the
injected clock; a burst of them raises `alert.bad_signatures` for the operators, at most once
per window.

`/metrics` tells how the shop is doing, so it is not for everyone who can reach the webhooks;
`bot/metrics_access.py` decides who may read it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from aiohttp import web

from bot.agent.metrics import AgentMetrics
from bot.leases import LeaseKeeper
from bot.metrics_access import MetricsAccess
from storage import reports
from storage.db import Database
from storage.models import OutboxItem, Payment
from tools.alerts import OperatorAlerts
from tools.clock import Clock, system_clock
from tools.event_batches import EventBatches
from tools.providers.base import ProviderEvent, WebhookRejected
from tools.states import OPEN
from tools.transitions import PaymentEvents

log = logging.getLogger(__name__)
OPEN_STATUSES = tuple(sorted(OPEN))  # the payments /metrics counts
UNDELIVERED = ("pending", "dead")  # the notifications /metrics counts
MAX_BODY = 64 * 1024  # any request (a Telegram update can be long)
WEBHOOK_MAX_BODY = 16 * 1024  # a provider's webhook: a NOWPayments IPN is under 1 KiB
VERIFY_INLINE = 2 * 1024  # a body up to this size is verified on the loop (a NOWPayments IPN:
# well under 0.1 ms), where the hop to the thread and back would cost more than the check
VERIFY_QUEUE = 128  # provider webhooks being verified or waiting for the thread; more: 503
RETRY_AFTER = "5"  # seconds, on that 503
COUNT_EVERY = 1.0  # seconds: 401s below the alert threshold are written together this often


class _Busy(Exception):
    """The verifier thread has VERIFY_QUEUE webhooks to get through already."""


class WebhookServer:
    def __init__(
        self,
        db: Database,
        events: PaymentEvents,
        host: str,
        port: int,
        agent_metrics: AgentMetrics | None = None,
        *,
        alerts: OperatorAlerts | None = None,
        clock: Clock = system_clock,
        bad_signatures: int = 10,
        bad_signature_window: timedelta = timedelta(seconds=60),
        metrics_token: str | None = None,
        public_url: str,
    ) -> None:
        """`public_url` is where the provider reaches this server (`webhooks.public_url`)."""
        self.db = db
        self.metrics_access = MetricsAccess(metrics_token, public_url)
        self.alerts = alerts
        self.clock = clock
        self.bad_signatures = bad_signatures  # rejections within the window, deployment-wide
        self.bad_signature_window = bad_signature_window
        self._rejections: list[tuple[datetime, str]] = []  # 401s not counted yet: when, from
        self._counting = False  # a count is being written
        self._counted_at = -COUNT_EVERY  # loop time of the last count written
        self._count_later: asyncio.Task[None] | None = None
        self._known = 0  # 401s in the deployment's window at the last count
        self._alerted_at: datetime | None = None  # the last burst alert, by any worker
        self.agent_metrics = agent_metrics or AgentMetrics()
        self.events = events
        self.batches = EventBatches(events)  # IPNs arriving together share a transaction
        self.host = host
        self.port = port
        self.counts: Counter[str] = Counter()
        # One thread: verifying is pure Python, so a second one would not verify faster under
        # the GIL, only take more turns from the event loop.
        self._verifier = ThreadPoolExecutor(1, thread_name_prefix="webhook-verify")
        self._backlog = 0  # handed to the verifier, not finished there (a slow loop is no cause)
        self._backlog_lock = threading.Lock()
        self.verify_inline = VERIFY_INLINE  # bodies up to this many bytes skip the thread
        self.app = web.Application(client_max_size=MAX_BODY)
        self.app.add_routes(
            [
                web.post("/webhooks/{provider}", self.webhook),
                web.get("/healthz", self.healthz),
                web.get("/metrics", self.metrics),
            ]
        )
        self.leases: LeaseKeeper | None = None  # who owns which connection (App sets it)
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    @property
    def verifying(self) -> int:
        """Provider webhooks handed to the verifier thread and not finished there yet."""
        return self._backlog

    def add_route(self, path: str, handler) -> None:
        """Another webhook on this server (e.g. Telegram's), before it starts."""
        self.app.router.add_post(path, handler)

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.bound_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("webhook server on http://%s:%s", self.host, self.bound_port)
        if self.metrics_access.closed:
            log.warning(
                "metrics are off until PAYBOT_METRICS_TOKEN is set: webhooks.public_url %s is "
                "not this machine, so a proxy here may pass anyone's request on",
                self.metrics_access.public_url,
            )

    async def stop(self) -> None:
        if self._count_later is not None:  # 401s still to count: their count is lost
            self._count_later.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.batches.close()
        self._verifier.shutdown(wait=False, cancel_futures=True)

    async def webhook(self, request: web.Request) -> web.Response:
        provider = self.events.provider
        if request.match_info["provider"] != provider.name:
            return web.json_response({"error": "unknown provider"}, status=404)
        try:
            provider.precheck(request.headers)  # headers only: the body may never be sent
            if (request.content_length or 0) > WEBHOOK_MAX_BODY:
                raise web.HTTPRequestEntityTooLarge(WEBHOOK_MAX_BODY, request.content_length)
            body = await request.clone(client_max_size=WEBHOOK_MAX_BODY).read()
        except WebhookRejected as exc:
            return await self._rejected(request, exc)
        except web.HTTPRequestEntityTooLarge:
            self.counts["ipn_rejected"] += 1
            return web.json_response({"error": "body too large"}, status=413)
        except Exception:  # e.g. a Content-Encoding the body does not have
            self.counts["ipn_rejected"] += 1
            return web.json_response({"error": "unreadable body"}, status=400)
        try:
            event = await self._verify(request.headers, body)
            result = await self.batches.apply(event, source="ipn")
        except _Busy:
            self.counts["ipn_busy"] += 1
            return web.json_response(
                {"error": "busy: retry later"}, status=503, headers={"Retry-After": RETRY_AFTER}
            )
        except WebhookRejected as exc:
            return await self._rejected(request, exc)
        except Exception:
            log.exception("webhook could not be applied")
            return web.json_response({"error": "try again later"}, status=503)
        self.counts[f"ipn_{result.outcome}"] += 1
        log.debug("IPN %s: %s", result.payment_id, result.outcome)
        return web.json_response({"ok": True, "outcome": result.outcome})

    async def _verify(self, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        """The provider's signature check and parsing: on the loop for a small body, else in
        the verifier thread; `_Busy` when VERIFY_QUEUE webhooks are already there."""
        if len(body) <= self.verify_inline:
            return self.events.provider.verify_and_parse_webhook(headers, body)
        with self._backlog_lock:
            if self._backlog >= VERIFY_QUEUE:
                raise _Busy
            self._backlog += 1

        def verify() -> ProviderEvent:
            try:
                return self.events.provider.verify_and_parse_webhook(headers, body)
            finally:
                with self._backlog_lock:
                    self._backlog -= 1

        try:
            job = asyncio.get_running_loop().run_in_executor(self._verifier, verify)
        except BaseException:  # never started (the server is stopping)
            with self._backlog_lock:
                self._backlog -= 1
            raise
        return await job

    async def _rejected(self, request: web.Request, exc: WebhookRejected) -> web.Response:
        self.counts["ipn_rejected"] += 1
        if exc.http_status == 401:
            await self._bad_signature(request)
        return web.json_response({"error": exc.reason}, status=exc.http_status)

    async def _bad_signature(self, request: web.Request) -> None:
        """Count a 401 into the deployment's window; a burst tells the operators, once for all
        workers (the answer stays 401 whatever happens). The window is in the database, but a
        flood must not cost a write per request: 401s are written at once only when what
        this worker knows of the window (the count at its last write plus the 401s not
        written yet) reaches the threshold outside a reported burst, else together at most
        every `COUNT_EVERY` seconds. One worker alone alerts at the threshold's request;
        bursts spread over several workers are seen within `COUNT_EVERY`."""
        if self.alerts is None:
            return
        self._rejections.append((self.clock(), request.remote or "unknown"))
        if self._write_now():
            await self._count_rejections()
        else:
            self._count_soon()

    def _write_now(self) -> bool:
        """Whether the 401s not written yet should be written at once."""
        if self._counting:  # one write at a time
            return False
        now = self.clock()
        quiet = self._alerted_at is not None and now - self._alerted_at < self.bad_signature_window
        due = self._known + len(self._rejections) >= self.bad_signatures and not quiet
        return due or asyncio.get_running_loop().time() - self._counted_at >= COUNT_EVERY

    def _count_soon(self) -> None:
        """Write the 401s not written yet `COUNT_EVERY` after the last write (at once when they
        are due), unless that is planned already."""
        if self._count_later is not None or not self._rejections:
            return
        since = asyncio.get_running_loop().time() - self._counted_at
        wait = 0.0 if self._write_now() else max(0.0, COUNT_EVERY - since)
        self._count_later = asyncio.create_task(self._count_after(wait))

    async def _count_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._count_later = None
        if not self._counting:  # else the write under way plans the next one
            await self._count_rejections()

    async def _count_rejections(self) -> None:
        """Write the 401s not written yet, in one write; those that arrive meanwhile wait for
        the next (`_count_soon`)."""
        self._counting = True
        try:
            batch, self._rejections = self._rejections, []
            self._counted_at = asyncio.get_running_loop().time()
            await self._count(batch)
        finally:
            self._counting = False
        self._count_soon()

    async def _count(self, batch: list[tuple[datetime, str]]) -> None:
        window = int(self.bad_signature_window.total_seconds())
        sender = batch[-1][1]
        try:
            burst = await self.alerts.burst(  # type: ignore[union-attr]
                "bad_signatures",
                self.bad_signatures,
                self.bad_signature_window,
                "alert.bad_signatures",
                times=[at for at, _sender in batch],
                window=window,
                sender=sender,
                provider=self.events.provider.name,
            )
        except Exception:
            log.exception("the bad-signature alert could not be written")
            return
        self._known, self._alerted_at = burst.counted, burst.alerted_at
        if burst.raised is not None:
            log.warning(
                "%s webhooks with a bad signature in %ss, last from %s",
                burst.raised,
                window,
                sender,
            )

    async def healthz(self, request: web.Request) -> web.Response:
        ok = await self.db.ping()
        body: dict[str, object] = {"database": ok}
        if self.leases is not None:
            body["connections"] = self.leases.report()
        return web.json_response(body, status=200 if ok else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        if (refusal := self.metrics_access.refusal(request)) is not None:
            return refusal
        lines = ["# TYPE paybot_ipn_total counter"]
        for key in (
            "applied",
            "duplicate",
            "ignored",
            "unknown_payment",
            "unknown_status",
            "rejected",
            "busy",
        ):
            lines.append(f'paybot_ipn_total{{outcome="{key}"}} {self.counts[f"ipn_{key}"]}')
        try:
            async with self.db.sessions() as session:
                # only what is open or stuck, each an indexed range: a scrape must not cost
                # more as history grows (finished payments and delivered notices are not
                # counted; `/admin stats` reports on the past)
                by_status = await reports.count_by_status(session, Payment, OPEN_STATUSES)
                outbox = await reports.count_by_status(session, OutboxItem, UNDELIVERED)
        except Exception:
            log.exception("metrics: database not readable")
            return web.Response(text="database unavailable\n", status=503)
        lines.append("# TYPE paybot_payments gauge")
        lines += [f'paybot_payments{{status="{s}"}} {n}' for s, n in by_status.items()]
        lines.append("# TYPE paybot_outbox gauge")
        lines += [f'paybot_outbox{{status="{s}"}} {n}' for s, n in outbox.items()]
        lines += self.agent_metrics.lines()
        if self.leases is not None:
            lines += self.leases.metric_lines()
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")
