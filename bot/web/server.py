"""The dashboard's HTTP server (aiohttp) on its own listener (`[dashboard] host:port`).

Every response carries a strict Content-Security-Policy (nothing inline, no frames:
`frame-ancestors 'none'`), `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`
(a sign-in link never leaks through a Referer). Every page but the sign-in ones needs a session
cookie (`HttpOnly`, `SameSite=Strict`, `Secure` when `public_url` is https); without one the
answer is 401 with how to sign in. Every POST needs the session's CSRF token and, when the
browser sends an Origin, our own; otherwise 403. Actions run the operator desk's code, the
same the chat commands run, audited with the operator's name.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.admin.commands import OperatorCommands, export_range
from bot.config import DashboardConfig
from bot.i18n import _, normalize_locale, using_locale
from bot.web import pages, replies
from bot.web.assets import CSS, LIVE_JS
from storage import reports
from tools.admin.desk import AdminError, parse_ref
from tools.admin.ledger import COLUMNS, ledger
from tools.admin.signin import WebSignIns, csrf_ok, csrf_token
from tools.admin.stats import PERIODS, PeriodError, needs_a_human, period

log = logging.getLogger(__name__)
COOKIE = "paybot_session"
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
POLL = 0.5  # seconds: the live table also sees changes other workers made within a second
OVERLAP = timedelta(seconds=2)  # a reconnecting stream re-reads this much before its cursor
HEARTBEAT = 15.0  # seconds between comments that keep proxies from closing the stream

LANG = web.RequestKey("lang", str)
OPERATOR = web.RequestKey("operator", str)
SESSION_ID = web.RequestKey("session_id", str)
CSRF = web.RequestKey("csrf", str)
FORM = web.RequestKey("form", Any)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Dashboard:
    def __init__(
        self,
        commands: OperatorCommands,
        signins: WebSignIns,
        config: DashboardConfig,
        *,
        locales: list[str],
        default_locale: str,
    ) -> None:
        self.commands = commands
        self.desk = commands.desk
        self.db = commands.db
        self.clock = commands.clock
        self.zone = commands.zone
        self.signins = signins
        self.config = config
        self.locales = locales
        self.default_locale = default_locale
        self.origin = "{0.scheme}://{0.netloc}".format(urlsplit(config.public_url))
        self._change = asyncio.Event()
        self._closing = asyncio.Event()
        self.app = web.Application(middlewares=[self._guard], client_max_size=16 * 1024)
        public = [
            web.get("/signin", self.sign_in_help),
            web.get("/signin/{token}", self.sign_in_page),
            web.post("/signin", self.sign_in),
            web.get("/static/dash.css", self.css),
            web.get("/static/live.js", self.js),
        ]
        private = [
            web.get("/", self.overview),
            web.get("/payments", self.payments),
            web.get("/payments/stream", self.stream),
            web.get("/payments/{id:\\d+}", self.payment),
            web.get("/customers/{ref}", self.customer),
            web.get("/attention", self.attention),
            web.get("/ledger", self.ledger_page),
            web.get("/ledger.csv", self.ledger_csv),
            web.get("/sessions", self.sessions),
            web.get("/confirm/{action}", self.confirm),
            web.post("/actions/{action}", self.action),
            web.post("/sessions/{id:\\d+}/revoke", self.revoke),
            web.post("/signout", self.sign_out),
        ]
        self.public_paths = {r.path for r in public}
        self.app.add_routes(public + private)
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    # --- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        self.bound_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("dashboard on http://%s:%s", self.config.host, self.bound_port)

    async def stop(self) -> None:
        self._closing.set()
        self._change.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def changed(self) -> None:
        """A payment (or anything) changed in this process: wake the live streams."""
        self._change.set()

    # --- the guard every request passes ----------------------------------------------------

    def _locale(self, request: web.Request) -> str:
        for part in request.headers.get("Accept-Language", "").split(","):
            found = normalize_locale(part.split(";")[0].strip(), self.locales)
            if found:
                return found
        return self.default_locale

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        lang = self._locale(request)
        request[LANG] = lang
        with using_locale(lang):
            try:
                response = await self._checked(request, handler)
            except web.HTTPException as exc:
                response = exc
        if isinstance(response, web.HTTPException):  # a redirect or a plain error: a response
            plain = web.Response(
                status=response.status, text=response.text, headers=response.headers
            )
            for name, morsel in response.cookies.items():
                plain.cookies[name] = morsel
            response = plain
        self._secure_headers(response)
        return response

    async def _checked(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "POST":
            origin = request.headers.get("Origin")
            if origin is not None and origin != self.origin:
                return self._page(
                    _("Refused"),
                    pages.message(_("Refused: another site sent this request.")),
                    status=403,
                    request=request,
                )
        resource = request.match_info.route.resource
        path = resource.canonical if resource is not None else request.path
        if path in self.public_paths or request.match_info.http_exception is not None:
            return await handler(request)
        session_id = request.cookies.get(COOKIE)
        operator = await self.signins.operator_of(session_id)
        if operator is None:
            return self._page(_("Sign in"), pages.sign_in_needed(), status=401, request=request)
        request[OPERATOR] = operator
        request[SESSION_ID] = session_id
        request[CSRF] = csrf_token(session_id or "")
        if request.method == "POST":
            form = await request.post()
            if not csrf_ok(session_id or "", form.get("csrf")):  # type: ignore[arg-type]
                return self._page(
                    _("Refused"),
                    pages.message(
                        _("Refused: this form has expired. Reload the page and try again."),
                        refused=True,
                    ),
                    status=403,
                    request=request,
                )
            request[FORM] = form
        return await handler(request)

    def _secure_headers(self, response: web.StreamResponse) -> None:
        if response.prepared:  # a stream sent its headers already (set in `stream`)
            return
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers.setdefault("Cache-Control", "no-store")

    def _page(
        self, title: str, body: str, *, request: web.Request, status: int = 200
    ) -> web.Response:
        html = pages.layout(
            title,
            body,
            lang=request.get(LANG, self.default_locale),
            operator=request.get(OPERATOR),
            csrf=request.get(CSRF),
        )
        return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")

    def _cookie(self, response: web.StreamResponse, value: str, max_age: int) -> None:
        response.set_cookie(
            COOKIE,
            value,
            max_age=max_age,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=self.config.secure,
        )

    # --- sign-in ---------------------------------------------------------------------------

    async def css(self, request: web.Request) -> web.Response:
        return web.Response(text=CSS, content_type="text/css", charset="utf-8")

    async def js(self, request: web.Request) -> web.Response:
        return web.Response(text=LIVE_JS, content_type="text/javascript", charset="utf-8")

    async def sign_in_help(self, request: web.Request) -> web.Response:
        return self._page(_("Sign in"), pages.sign_in_needed(), status=401, request=request)

    async def sign_in_page(self, request: web.Request) -> web.Response:
        """Looking at a link uses nothing up (a chat's link preview may fetch it): the
        operator confirms with a POST from this page."""
        token = request.match_info["token"]
        operator = await self.signins.link_operator(token)
        if operator is None:
            return self._page(_("Sign in"), pages.sign_in_refused(), status=403, request=request)
        return self._page(_("Sign in"), pages.sign_in_confirm(operator, token), request=request)

    async def sign_in(self, request: web.Request) -> web.Response:
        form = await request.post()
        token = str(form.get("token", ""))
        held = request.cookies.get(COOKIE)
        current = await self.signins.operator_of(held)
        wanted = await self.signins.link_operator(token) if token else None
        if current is not None and wanted is not None and current != wanted:
            # another operator's link in a browser signed in as someone else: refuse, so
            # nobody is quietly switched into an account that is not theirs
            body = pages.message(
                _("This browser is signed in as {operator}: sign out first.").format(
                    operator=current
                ),
                refused=True,
            )
            return self._page(_("Sign in"), body, status=403, request=request)
        signed = await self.signins.redeem(token, request.headers.get("User-Agent", ""))
        if signed is None:
            return self._page(_("Sign in"), pages.sign_in_refused(), status=403, request=request)
        if held and current is not None:
            await self.signins.sign_out(held)  # the old session ends: one id per sign-in
        response = web.HTTPSeeOther("/")
        self._cookie(response, signed.session_id, int(self.signins.session_ttl.total_seconds()))
        return response  # type: ignore[return-value]

    async def sign_out(self, request: web.Request) -> web.Response:
        await self.signins.sign_out(request[SESSION_ID])
        response = web.HTTPSeeOther("/signin")
        response.del_cookie(COOKIE, path="/")
        return response  # type: ignore[return-value]

    async def sessions(self, request: web.Request) -> web.Response:
        items = await self.signins.sessions_of(request[OPERATOR])
        current = await self.signins.row_of(request[SESSION_ID])
        body = pages.sessions(items, current, self.zone, request[CSRF])
        return self._page(_("Sessions"), body, request=request)

    async def revoke(self, request: web.Request) -> web.Response:
        await self.signins.revoke(request[OPERATOR], int(request.match_info["id"]))
        return web.HTTPSeeOther("/sessions")  # type: ignore[return-value]

    # --- pages -----------------------------------------------------------------------------

    async def overview(self, request: web.Request) -> web.Response:
        name = request.query.get("period", "7d").lower()
        if name not in PERIODS:
            name = "7d"
        stats = await self.commands.stats(name)
        body = pages.overview(
            stats, self.commands.plan_names, self.zone, pages.revenue_chart(stats)
        )
        return self._page(_("Overview"), body, request=request)

    def _filters(self, request: web.Request) -> tuple[dict[str, str], dict]:
        q = {
            k: request.query.get(k, "").strip()[:64]
            for k in ("status", "coin", "plan", "customer", "from", "to")
        }
        where: dict = {}
        if q["status"] in pages.STATUSES:
            where["status"] = q["status"]
        if q["coin"] in self.commands.catalog.coin_codes:
            where["coin"] = q["coin"]
        if q["plan"] in self.commands.catalog.plan_codes:
            where["plan"] = q["plan"]
        if q["customer"]:
            try:
                where["customer"] = parse_ref(q["customer"])
            except AdminError:
                raise web.HTTPBadRequest(
                    text=_("Not a customer: use telegram:123 or @name.")
                ) from None
        try:
            where["start"], where["end"] = export_range(
                q["from"] or None, q["to"] or None, self.clock(), self.zone
            )
        except PeriodError:
            raise web.HTTPBadRequest(
                text=_("Dates are YYYY-MM-DD, the first not after the last.")
            ) from None
        return q, where

    async def payments(self, request: web.Request) -> web.Response:
        q, where = self._filters(request)
        async with self.db.sessions() as session:
            rows = await reports.payments_table(session, **where)
        wanted = {k: v for k, v in request.query.items() if k in q and v}
        stream = "/payments/stream?" + urlencode({"since": self.clock().isoformat(), **wanted})
        body = pages.filters(q, self.commands.catalog.plan_codes, self.commands.catalog.coin_codes)
        body += pages.payments_table(rows, self.zone, stream)
        return self._page(_("Payments"), body, request=request)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """Server-Sent Events: each payment that changes (and matches the filters) as a JSON
        row, the event id its change time. A reconnecting browser sends the last id back
        (Last-Event-ID) and gets every row changed since, without a reload."""
        _q, where = self._filters(request)
        cursor_text = request.headers.get("Last-Event-ID") or request.query.get("since")
        try:
            cursor = datetime.fromisoformat(cursor_text) if cursor_text else self.clock()
        except ValueError:
            raise web.HTTPBadRequest(text="bad since") from None
        if cursor.tzinfo is None:
            raise web.HTTPBadRequest(text="bad since")
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        self._secure_headers(response)
        await response.prepare(request)
        await response.write(b"retry: 1000\n\n")
        sent: dict[int, tuple[str, datetime]] = {}
        quiet = 0.0
        lang = request[LANG]
        while not self._closing.is_set():
            async with self.db.sessions() as session:
                rows = await reports.payments_table(
                    session, updated_since=cursor - OVERLAP, limit=500, **where
                )
            for p, u in rows:
                if sent.get(p.id) == (p.status, p.updated_at):
                    continue
                sent[p.id] = (p.status, p.updated_at)
                cursor = max(cursor, p.updated_at)
                with using_locale(lang):
                    data = json.dumps(pages.payment_json(p, u, self.zone), ensure_ascii=False)
                await response.write(
                    f"id: {cursor.isoformat()}\nevent: payment\ndata: {data}\n\n".encode()
                )
                quiet = 0.0
            self._change.clear()
            try:
                await asyncio.wait_for(self._change.wait(), POLL)
            except TimeoutError:
                quiet += POLL
            if quiet >= HEARTBEAT:
                await response.write(b": still here\n\n")
                quiet = 0.0
        return response

    async def payment(self, request: web.Request) -> web.Response:
        try:
            story = await self.desk.story(int(request.match_info["id"]))
        except AdminError:
            raise web.HTTPNotFound(text=_("No such payment.")) from None
        title = _("Payment #{id}").format(id=story.payment.id)
        body = self._flash(request) + pages.story(story, self.zone)
        return self._page(title, body, request=request)

    async def customer(self, request: web.Request) -> web.Response:
        try:
            facts = await self.desk.user_facts(request.match_info["ref"])
        except AdminError:
            raise web.HTTPNotFound(text=_("No such customer.")) from None
        ref = f"{facts.user.platform}:{facts.user.platform_user_id}"
        body = self._flash(request) + pages.customer(
            facts, self.commands.plan_names, self.zone, self.clock()
        )
        return self._page(_("Customer {ref}").format(ref=ref), body, request=request)

    async def attention(self, request: web.Request) -> web.Response:
        now = self.clock()
        async with self.db.sessions() as session:
            items = await needs_a_human(
                session, period("30d", now, self.zone).start, now, self.commands.monitoring
            )
        body = self._flash(request) + pages.attention(items, self.zone)
        return self._page(_("Needs a human"), body, request=request)

    async def ledger_page(self, request: web.Request) -> web.Response:
        today = self.clock().astimezone(ZoneInfo(self.zone)).date().isoformat()
        return self._page(_("Ledger"), pages.ledger_form(today), request=request)

    async def ledger_csv(self, request: web.Request) -> web.StreamResponse:
        """The settlement ledger (the export's own rows and columns), streamed."""
        first, last = request.query.get("from") or None, request.query.get("to") or None
        try:
            start, end = export_range(first, last, self.clock(), self.zone)
        except PeriodError:
            raise web.HTTPBadRequest(
                text=_("Dates are YYYY-MM-DD, the first not after the last.")
            ) from None
        name = f"ledger-{first or 'start'}-{last or 'now'}.csv"
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": f'attachment; filename="{name}"',
            }
        )
        self._secure_headers(response)
        await response.prepare(request)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        count = 0
        async for row in ledger(self.db, start, end):
            writer.writerow(row)
            count += 1
            if buffer.tell() > 64 * 1024:
                await response.write(buffer.getvalue().encode())
                buffer.seek(0)
                buffer.truncate()
        await response.write(buffer.getvalue().encode())
        await response.write_eof()
        await self.desk.audited(request[OPERATOR], "admin.export", f"web:{name}", payments=count)
        return response

    # --- actions: a confirmation page, then a POST with the CSRF token ----------------------

    def _question(self, action: str, fields: dict[str, str]) -> str:
        if action == "resend":
            return _("Send the last notification of payment #{id} again?").format(
                id=fields["payment"]
            )
        if action == "settle":
            return _(
                "Mark payment #{id} as handled? It leaves this list until something about it "
                "changes."
            ).format(id=fields["payment"])
        if action == "reconcile":
            return _("Read payment #{id} from the provider and apply what differs?").format(
                id=fields["payment"]
            )
        if action == "grant":
            return _("Give {customer} the plan {plan} for {days} days?").format(
                customer=fields["customer"], plan=fields["plan"], days=fields["days"]
            )
        if action == "revoke":
            return _("End every plan of {customer} now?").format(customer=fields["customer"])
        raise web.HTTPNotFound(text=_("No such action."))

    def _fields(self, action: str, source) -> dict[str, str]:
        names = {
            "resend": ("payment",),
            "settle": ("payment",),
            "reconcile": ("payment",),
            "grant": ("customer", "plan", "days"),
            "revoke": ("customer",),
        }
        if action not in names:
            raise web.HTTPNotFound(text=_("No such action."))
        fields = {k: str(source.get(k, "")).strip()[:64] for k in names[action]}
        if "payment" in fields and not fields["payment"].isdigit():
            raise web.HTTPBadRequest(text=_("No such payment."))
        if "days" in fields and not (fields["days"].isdigit() and 0 < int(fields["days"]) <= 3650):
            raise web.HTTPBadRequest(text=_("Days: a whole number from 1 to 3650."))
        return fields

    async def confirm(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        fields = self._fields(action, request.query)
        body = pages.confirm(self._question(action, fields), action, fields, request[CSRF])
        return self._page(_("Confirm"), body, request=request)

    def _refused(self, request: web.Request, text: str) -> web.Response:
        return self._page(
            _("Not done"), pages.message(text, refused=True), status=409, request=request
        )

    def _flash(self, request: web.Request) -> str:
        text = replies.done(request.query.get("done", ""), dict(request.query))
        return pages.message(text) if text else ""

    async def action(self, request: web.Request) -> web.Response:
        """The operator desk's code, the chat commands' own, audited as this operator; what
        it refused or did is said in the operator's language (the chat says it in English)."""
        action = request.match_info["action"]
        fields = self._fields(action, request[FORM])
        operator = request[OPERATOR]
        try:
            if action in ("settle", "resend", "reconcile"):
                payment = int(fields["payment"])
                done = {"done": action, "payment": str(payment)}
                if action == "settle":
                    await self.desk.settle(operator, payment)
                    return web.HTTPSeeOther("/attention?" + urlencode(done))  # type: ignore[return-value]
                if action == "resend":
                    await self.desk.resend(operator, payment)
                else:
                    done.update(await self._reconcile(operator, payment))
                return web.HTTPSeeOther(f"/payments/{payment}?" + urlencode(done))  # type: ignore[return-value]
            customer = fields["customer"]
            if action == "grant":
                await self.desk.grant(operator, customer, fields["plan"], int(fields["days"]))
                done = {"done": action, "plan": self.commands.plan_names.get(fields["plan"], "")}
            else:
                await self.desk.revoke(operator, customer)
                done = {"done": action}
        except AdminError as exc:
            return self._refused(request, replies.refusal(exc))
        return web.HTTPSeeOther(f"/customers/{customer}?" + urlencode(done))  # type: ignore[return-value]

    async def _reconcile(self, operator: str, payment: int) -> dict[str, str]:
        """Reconcile this one payment; what became of it."""
        found = await self.desk.reconcile(operator, None, apply=True, payment_id=payment)
        if any(pid == payment for pid, _reason in found.unreadable):
            return {"result": "unreadable"}
        for m in found.mismatches:
            if m.payment.id == payment:
                result = "applied" if m.applied else "left"
                return {"result": result, "status": m.provider_status}
        return {"result": "agrees"}
