"""The dashboard's pages as HTML text, in the operator's language (`bot.i18n`), times in the
operators' time zone. Every value is escaped; nothing runs inline (the CSP forbids it)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from html import escape
from urllib.parse import quote
from zoneinfo import ZoneInfo

from bot.admin.report import span
from bot.i18n import _, crypto, money
from storage.models import Payment, User
from tools.admin.desk import Story, UserFacts
from tools.admin.stats import Attention, Stats

STATUSES = (
    "waiting",
    "confirming",
    "confirmed",
    "sending",
    "partially_paid",
    "finished",
    "failed",
    "refunded",
    "expired",
    "cancelled",
)


def status_name(code: str) -> str:
    names = {
        "waiting": _("waiting for money"),
        "confirming": _("confirming"),
        "confirmed": _("confirmed"),
        "sending": _("sending"),
        "partially_paid": _("partially paid"),
        "finished": _("finished"),
        "failed": _("failed"),
        "refunded": _("refunded"),
        "expired": _("expired"),
        "cancelled": _("cancelled"),
    }
    return names.get(code, code)


def e(value: object) -> str:
    return escape(str(value), quote=True)


def at(moment: datetime | None, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M") if moment else "–"


def percent(share: Decimal | None) -> str:
    return "–" if share is None else f"{(share * 100).quantize(Decimal('0.1'))}%"


def layout(title: str, body: str, *, lang: str, operator: str | None, csrf: str | None) -> str:
    nav = ""
    if operator:
        links = [
            ("/", _("Overview")),
            ("/payments", _("Payments")),
            ("/attention", _("Needs a human")),
            ("/ledger", _("Ledger")),
            ("/sessions", _("Sessions")),
        ]
        nav = (
            "<nav>"
            + "".join(f'<a href="{h}">{e(t)}</a>' for h, t in links)
            + "</nav>"
            + f'<span class="who">{e(operator)}</span>'
            + f'<form method="post" action="/signout">{hidden("csrf", csrf or "")}'
            + '<button id="signout">'
            + e(_("Sign out"))
            + "</button></form>"
        )
    return (
        f'<!doctype html><html lang="{e(lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{e(title)}</title>"
        '<link rel="stylesheet" href="/static/dash.css"></head><body>'
        f"<header>{nav}</header><main><h1>{e(title)}</h1>{body}</main>"
        '<script src="/static/live.js"></script></body></html>'
    )


def hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{e(name)}" value="{e(value)}">'


def cards(items: Iterable[tuple[str, str]]) -> str:
    return (
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{e(v)}</b><span>{e(k)}</span></div>' for k, v in items)
        + "</div>"
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], **attrs: str) -> str:
    """`rows` hold HTML already escaped by the caller."""
    extra = "".join(f' {k.replace("_", "-")}="{e(v)}"' for k, v in attrs.items())
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join(
        "<tr" + r[0] + ">" + "".join(f"<td>{c}</td>" for c in r[1:]) + "</tr>" for r in rows
    )
    return (
        f'<div class="scroll"><table{extra}><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


# --- sign-in ---------------------------------------------------------------------------------


def sign_in_needed() -> str:
    return (
        "<p>"
        + e(
            _(
                "Send /admin web to the bot in a private chat (or run paybot admin web-login "
                "on the server) and open the link it sends."
            )
        )
        + "</p>"
    )


def sign_in_confirm(operator: str, token: str) -> str:
    return (
        "<p>" + e(_("Sign in to the dashboard as {operator}?").format(operator=operator)) + "</p>"
        f'<form method="post" action="/signin">{hidden("token", token)}'
        f'<button class="go" id="signin">' + e(_("Sign in")) + "</button></form>"
    )


def sign_in_refused() -> str:
    return (
        "<p>"
        + e(_("This sign-in link has been used, has expired or is not valid."))
        + "</p>"
        + sign_in_needed()
    )


def message(text: str, *, refused: bool = False) -> str:
    return f'<p class="flash{" refused" if refused else ""}" id="flash">{e(text)}</p>'


# --- overview --------------------------------------------------------------------------------


def overview(stats: Stats, plan_names: dict[str, str], zone: str, chart: str) -> str:
    p = stats.period
    periods = [
        ("today", _("Today")),
        ("7d", _("7 days")),
        ("30d", _("30 days")),
        ("all", _("All")),
    ]
    picker = " · ".join(
        f"<b>{e(t)}</b>" if k == p.name else f'<a href="/?period={k}">{e(t)}</a>'
        for k, t in periods
    )
    since = at(p.start, zone)[:10] if p.start else "…"
    figures = [
        (_("Revenue"), money(stats.revenue, stats.currency)),
        (_("Paid purchases"), str(stats.paid)),
        (_("Payments created"), str(stats.created)),
        (_("Conversion"), percent(stats.share("finished"))),
        (_("Expired"), percent(stats.share("expired"))),
        (_("Median time to pay"), span(stats.median_to_pay)),
        (_("Needs a human"), str(len(stats.attention))),
    ]
    by_coin = [(k.upper(), money(v, stats.currency)) for k, v in stats.revenue_by_coin.items()]
    by_plan = [
        (plan_names.get(k, k), money(v, stats.currency)) for k, v in stats.revenue_by_plan.items()
    ]
    by_status = [
        (status_name(k), str(v)) for k, v in sorted(stats.by_status.items(), key=lambda kv: -kv[1])
    ]
    subscribers = [(plan_names.get(k, k), str(v)) for k, v in sorted(stats.subscribers.items())]
    parts = [
        f"<p>{picker}</p>",
        f'<p class="live">{e(since)} – {e(at(p.end, zone))} ({e(zone)})</p>',
        cards(figures),
        "<h2>" + e(_("Revenue per day")) + f"</h2>{chart}",
    ]
    settled = [
        (
            k.upper(),
            _("received {received} · fees {fees} · net {net}").format(
                received=crypto(v.received), fees=crypto(v.fees), net=crypto(v.net)
            ),
        )
        for k, v in stats.settlement.items()
    ]
    for title, items in (
        (_("Settlement"), settled),
        (_("Revenue per coin"), by_coin),
        (_("Revenue per plan"), by_plan),
        (_("Payments by status"), by_status),
        (_("Active subscribers"), subscribers),
    ):
        parts.append(
            f"<h2>{e(title)}</h2>" + (cards(items) if items else "<p>" + e(_("None.")) + "</p>")
        )
    return "".join(parts)


def revenue_chart(stats: Stats) -> str:
    """Revenue per day as an inline SVG bar chart (no script, no style attribute)."""
    days = stats.days[-31:]
    if not days:
        return "<p>" + e(_("None.")) + "</p>"
    top = max((d.revenue for d in days), default=Decimal(0)) or Decimal(1)
    width, height, gap = 640, 160, 2
    bar = max(4, width // len(days) - gap)
    bars = []
    for i, d in enumerate(days):
        h = int(Decimal(height - 20) * d.revenue / top)
        x = i * (bar + gap)
        label = f"{d.day.isoformat()}: {money(d.revenue, stats.currency)}"
        bars.append(
            f'<rect x="{x}" y="{height - h}" width="{bar}" height="{max(h, 1)}" fill="#1f6feb">'
            f"<title>{e(label)}</title></rect>"
        )
    first, last = days[0].day.isoformat(), days[-1].day.isoformat()
    return (
        f'<svg id="chart" role="img" viewBox="0 0 {width} {height + 16}" '
        f'aria-label="' + e(_("Revenue per day")) + f'">{"".join(bars)}'
        f'<text x="0" y="{height + 14}" font-size="11">{e(first)}</text>'
        f'<text x="{width}" y="{height + 14}" font-size="11" text-anchor="end">{e(last)}</text>'
        f'<text x="0" y="11" font-size="11">{e(money(top, stats.currency))}</text></svg>'
    )


# --- payments --------------------------------------------------------------------------------


def payment_json(p: Payment, u: User, zone: str) -> dict[str, str | int]:
    """One row of the live table, as the stream sends it (the script sets text, not HTML)."""
    return {
        "id": p.id,
        "created": at(p.created_at, zone),
        "customer": f"{u.platform}:{u.platform_user_id}",
        "plan": p.plan,
        "price": money(p.price_amount, p.price_currency),
        "coin": p.pay_currency.upper(),
        "paid": f"{crypto(p.actually_paid)} / {crypto(p.pay_amount)}",
        "status": status_name(p.status),
        "status_code": p.status,
    }


PAYMENT_COLUMNS = ("id", "created", "customer", "plan", "price", "coin", "paid", "status")


def payments_table(rows: Sequence[tuple[Payment, User]], zone: str, stream: str) -> str:
    headers = [
        "#",
        _("Created"),
        _("Customer"),
        _("Plan"),
        _("Price"),
        _("Coin"),
        _("Paid / asked"),
        _("Status"),
    ]
    body = []
    for p, u in rows:
        data = payment_json(p, u, zone)
        cells = [f'<a href="/payments/{p.id}">#{p.id}</a>'] + [
            e(data[c]) for c in PAYMENT_COLUMNS[1:]
        ]
        cells[7] = f'<span class="s-{e(p.status)}">{cells[7]}</span>'
        body.append((f' id="p-{p.id}" data-status="{e(p.status)}"', *cells))
    return (
        table(
            headers,
            body,
            id="payments",
            data_stream=stream,
            data_on=_("live"),
            data_off=_("reconnecting…"),
        )
        + '<p class="live" id="live-state">'
        + e(_("connecting…"))
        + "</p>"
    )


def filters(values: dict[str, str], plans: Sequence[str], coins: Sequence[str]) -> str:
    def select(name: str, label: str, options: Sequence[tuple[str, str]]) -> str:
        opts = f'<option value="">{e(label)}</option>' + "".join(
            f'<option value="{e(k)}"{" selected" if values.get(name) == k else ""}>{e(t)}</option>'
            for k, t in options
        )
        return f'<select name="{name}" aria-label="{e(label)}">{opts}</select>'

    return (
        '<form class="filters" method="get" action="/payments">'
        + select("status", _("any status"), [(s, status_name(s)) for s in STATUSES])
        + select("coin", _("any coin"), [(c, c.upper()) for c in coins])
        + select("plan", _("any plan"), [(p, p) for p in plans])
        + '<input name="customer" placeholder="'
        + e(_("customer: telegram:123 or @name"))
        + f'" value="{e(values.get("customer", ""))}">'
        + '<input type="date" name="from" aria-label="'
        + e(_("from"))
        + f'" value="{e(values.get("from", ""))}">'
        + '<input type="date" name="to" aria-label="'
        + e(_("to"))
        + f'" value="{e(values.get("to", ""))}">'
        + "<button>"
        + e(_("Filter"))
        + "</button></form>"
    )


# --- attention, one payment, one customer, actions ------------------------------------------


def action_button(action: str, label: str, **fields: str | int) -> str:
    """A button that leads to the confirmation page of `action` (nothing changes yet)."""
    query = e("&".join(f"{k}={quote(str(v), safe=':@')}" for k, v in fields.items()))
    return f'<a class="button" href="/confirm/{action}?{query}">{e(label)}</a> '


def attention(items: Sequence[Attention], zone: str) -> str:
    if not items:
        return "<p>" + e(_("Nothing needs a human.")) + "</p>"
    rows = []
    for item in items:
        rows.append(
            (
                f' id="a-{item.payment_id}"',
                f'<a href="/payments/{item.payment_id}">#{item.payment_id}</a>',
                e(status_name(item.status) if item.status else "?"),
                e("; ".join(item.reasons)),
                e(at(item.at, zone)),
                action_button("settle", _("Mark as handled"), payment=item.payment_id)
                + action_button("resend", _("Resend"), payment=item.payment_id)
                + action_button("reconcile", _("Reconcile"), payment=item.payment_id),
            )
        )
    return table([_("Payment"), _("Status"), _("Why"), _("When"), _("Actions")], rows)


def story(s: Story, zone: str) -> str:
    p, u = s.payment, s.user
    ref = f"{u.platform}:{u.platform_user_id}"
    facts = [
        (_("Status"), status_name(p.status)),
        (_("Customer"), ref),
        (_("Plan"), p.plan),
        (_("Price"), money(p.price_amount, p.price_currency)),
        (_("Asked"), f"{crypto(p.pay_amount)} {p.pay_currency.upper()}"),
        (_("Paid"), f"{crypto(p.actually_paid)} {p.pay_currency.upper()}"),
        (_("Created"), at(p.created_at, zone)),
        (_("Deadline"), at(p.expires_at, zone)),
    ]
    if p.outcome_amount is not None:
        facts.append(
            (_("Received"), f"{crypto(p.outcome_amount)} {(p.outcome_currency or '').upper()}")
        )
    fees = [f for f in (p.fee_deposit, p.fee_withdrawal, p.fee_service) if f is not None]
    if fees:
        facts.append(
            (_("Fees"), f"{crypto(sum(fees, Decimal(0)))} {(p.fee_currency or '').upper()}")
        )
    events = table(
        [_("When"), _("Source"), _("Change")],
        [
            (
                "",
                e(at(ev.received_at, zone)),
                e(ev.source),
                e(f"{ev.old_status or '–'} → {ev.new_status}"),
            )
            for ev in s.events[-25:]
        ],
    )
    notices = table(
        [_("When"), _("Notification"), _("Status")],
        [("", e(at(n.created_at, zone)), e(n.kind), e(n.status)) for n in s.notices[-25:]],
    )
    return (
        cards(facts)
        + "<p>"
        + f'<a href="/customers/{e(ref)}">'
        + e(_("Customer page"))
        + "</a> "
        + action_button("resend", _("Resend"), payment=p.id)
        + action_button("reconcile", _("Reconcile"), payment=p.id)
        + "</p>"
        + "<h2>"
        + e(_("Provider events"))
        + f"</h2>{events}"
        + "<h2>"
        + e(_("Notifications"))
        + f"</h2>{notices}"
    )


def customer(facts: UserFacts, plan_names: dict[str, str], zone: str, now: datetime) -> str:
    u = facts.user
    ref = f"{u.platform}:{u.platform_user_id}"
    plans = table(
        [_("Plan"), _("Until"), _("Source"), _("Status")],
        [
            (
                "",
                e(plan_names.get(a.plan, a.plan)),
                e(at(a.period_end, zone)),
                e(a.source),
                e(
                    _("revoked")
                    if a.revoked_at
                    else (_("active") if a.period_start <= now else _("later"))
                ),
            )
            for a in facts.activations
        ],
    )
    payments = table(
        ["#", _("Created"), _("Plan"), _("Price"), _("Status")],
        [
            (
                "",
                f'<a href="/payments/{p.id}">#{p.id}</a>',
                e(at(p.created_at, zone)),
                e(p.plan),
                e(money(p.price_amount, p.price_currency)),
                e(status_name(p.status)),
            )
            for p in facts.last_payments
        ],
    )
    access = table(
        [_("Access"), _("Status")],
        [("", e(f"{g.kind} {g.ref}"), e(g.state)) for g in facts.grants],
    )
    linked = ", ".join(f"{x.platform}:{x.platform_user_id}" for x in facts.linked) or "–"
    grant_form = (
        f'<form method="get" action="/confirm/grant" class="filters">{hidden("customer", ref)}'
        + '<select name="plan">'
        + "".join(f'<option value="{e(k)}">{e(v)}</option>' for k, v in plan_names.items())
        + '</select><input type="number" name="days" value="30" min="1" max="3650">'
        + "<button>"
        + e(_("Grant"))
        + "</button></form>"
    )
    return (
        cards(
            [
                (_("Customer"), ref),
                (_("Name"), u.display_name or "–"),
                (_("Linked accounts"), linked),
            ]
        )
        + "<h2>"
        + e(_("Plans"))
        + f"</h2>{plans}{grant_form}"
        + action_button("revoke", _("Revoke all plans"), customer=ref)
        + "<h2>"
        + e(_("Last payments"))
        + f"</h2>{payments}"
        + "<h2>"
        + e(_("Access"))
        + f"</h2>{access}"
    )


def confirm(question: str, action: str, fields: dict[str, str], csrf: str) -> str:
    return (
        f"<p>{e(question)}</p>"
        + f'<form method="post" action="/actions/{e(action)}">{hidden("csrf", csrf)}'
        + "".join(hidden(k, v) for k, v in fields.items())
        + '<button class="go" id="confirm">'
        + e(_("Yes, do it"))
        + "</button></form>"
        + '<p><a href="/attention">'
        + e(_("Cancel"))
        + "</a></p>"
    )


def ledger_form(today: str) -> str:
    return (
        "<p>"
        + e(
            _(
                "The settlement ledger as CSV, one row per payment; days in the operators' "
                "time zone, both included."
            )
        )
        + "</p>"
        + '<form class="filters" method="get" action="/ledger.csv">'
        + '<input type="date" name="from" aria-label="'
        + e(_("from"))
        + '">'
        + '<input type="date" name="to" aria-label="'
        + e(_("to"))
        + f'" value="{e(today)}">'
        + '<button class="go" id="download">'
        + e(_("Download CSV"))
        + "</button></form>"
    )


def sessions(items: Sequence, current: int | None, zone: str, csrf: str) -> str:
    rows = []
    for s in items:
        this = s.id == current
        button = (
            f'<form method="post" action="/sessions/{s.id}/revoke">{hidden("csrf", csrf)}'
            f"<button>" + e(_("Sign out there")) + "</button></form>"
            if not this
            else e(_("this browser"))
        )
        rows.append(
            (
                "",
                e(at(s.created_at, zone)),
                e(at(s.expires_at, zone)),
                e(s.user_agent[:60]),
                button,
            )
        )
    return table([_("Signed in"), _("Until"), _("Browser"), ""], rows)
