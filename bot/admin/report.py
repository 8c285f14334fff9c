"""Operator answers as plain text: short lines that read the same in Telegram, Discord and a
terminal. Money keeps every digit it has; times are in the operators' time zone (`in_zone`,
UTC unless `[operators] timezone` says otherwise), and say which."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from storage.models import Payment
from tools.admin.desk import Reconciliation, Story, UserFacts
from tools.admin.stats import Attention, Stats

ATTENTION_SHOWN = 10
STORY_EVENTS = 25  # one screen


def amount(value: Decimal | None, currency: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:,f} {currency.upper()}".strip()  # every digit it has, never a float


_zone: ContextVar[str] = ContextVar("paybot_operator_zone", default="UTC")


@contextmanager
def in_zone(zone: str) -> Iterator[None]:
    """Write the times of the answers made inside in `zone` (an IANA name)."""
    token = _zone.set(zone)
    try:
        yield
    finally:
        _zone.reset(token)


def zone() -> str:
    return _zone.get()


_command: ContextVar[str] = ContextVar("paybot_operator_command", default="/admin")


@contextmanager
def invoked_as(command: str) -> Iterator[None]:
    """Name the operator commands the answers made inside point to the way the operator types
    them: `/admin` in a chat, `paybot admin` on the terminal."""
    token = _command.set(command)
    try:
        yield
    finally:
        _command.reset(token)


def command(rest: str) -> str:
    """`payment ID` → `/admin payment ID` (or `paybot admin payment ID` on the terminal)."""
    return f"{_command.get()} {rest}"


def at(moment: datetime | None) -> str:
    if not moment:
        return "-"
    return moment.astimezone(ZoneInfo(_zone.get())).strftime("%Y-%m-%d %H:%M:%S")


def percent(share: Decimal | None) -> str:
    return "-" if share is None else f"{(share * 100).quantize(Decimal('0.1'))}%"


def span(delta: timedelta | None) -> str:
    if delta is None:
        return "-"
    seconds = int(delta.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s"


def stats_text(stats: Stats, plan_names: dict[str, str]) -> str:
    p = stats.period
    since = at(p.start)[:10] if p.start else "the beginning"
    lines = [f"Stats {p.name}: {since} – {at(p.end)} {zone()}"]
    lines.append(
        f"Revenue: {amount(stats.revenue, stats.currency)} from {stats.paid} paid "
        f"purchase{'s' if stats.paid != 1 else ''}"
    )
    if stats.revenue_by_plan:
        lines.append(
            "  per plan: "
            + ", ".join(
                f"{plan_names.get(k, k)} {amount(v, stats.currency)}"
                for k, v in stats.revenue_by_plan.items()
            )
        )
        lines.append(
            "  per coin: "
            + ", ".join(
                f"{k.upper()} {amount(v, stats.currency)}"
                for k, v in stats.revenue_by_coin.items()
            )
        )
    if stats.settlement:
        lines.append(
            "Settlement: "
            + "; ".join(
                f"{k.upper()} received {amount(v.received)}, fees {amount(v.fees)}, "
                f"net {amount(v.net)}"
                for k, v in stats.settlement.items()
            )
        )
    lines.append(f"Median time to pay: {span(stats.median_to_pay)}")
    lines.append(
        f"Payments created: {stats.created} · conversion {percent(stats.share('finished'))}"
        f" · expired {percent(stats.share('expired'))} · failed {percent(stats.share('failed'))}"
    )
    if stats.by_status:
        lines.append(
            "  by status: "
            + ", ".join(
                f"{k} {v}" for k, v in sorted(stats.by_status.items(), key=lambda kv: -kv[1])
            )
        )
    subscribers = ", ".join(
        f"{plan_names.get(k, k)} {v}" for k, v in sorted(stats.subscribers.items())
    )
    lines.append(f"Active subscribers: {subscribers or 'none'}")
    lines.append(attention_text(stats.attention, ATTENTION_SHOWN))
    return "\n".join(lines)


def attention_text(items: list[Attention], shown: int) -> str:
    if not items:
        return "Needs a human: nothing."
    lines = [f"Needs a human: {len(items)}"]
    for item in items[:shown]:
        lines.append(f"  #{item.payment_id} ({item.status or '?'}): " + "; ".join(item.reasons))
    if len(items) > shown:
        lines.append(f"  … and {len(items) - shown} more: {command('attention')}")
    lines.append(f"Details: {command('payment ID')}")
    return "\n".join(lines)


def payment_line(p: Payment) -> str:
    flags = "".join([" late" if p.late else "", f" over {amount(p.surplus)}" if p.surplus else ""])
    return (
        f"#{p.id} {at(p.created_at)[:16]} {p.plan} {amount(p.price_amount, p.price_currency)} "
        f"in {p.pay_currency.upper()}: {p.status}{flags}"
    )


def story_text(story: Story) -> str:
    p, u = story.payment, story.user
    coin = p.pay_currency
    lines = [
        f"Payment #{p.id} · {p.status}{' · late' if p.late else ''} · {p.provider} "
        f"{p.provider_payment_id}",
        f"Customer: {u.platform}:{u.platform_user_id} {u.display_name!r} (user {u.id})",
        f"Plan {p.plan} for {amount(p.price_amount, p.price_currency)}: asked "
        f"{amount(p.pay_amount, coin)}, paid {amount(p.actually_paid, coin)}"
        + (f" (top-ups {amount(p.topup_paid, coin)})" if p.topup_paid else "")
        + (f", surplus {amount(p.surplus, coin)}" if p.surplus else ""),
        f"Address {p.pay_address}" + (f" memo {p.payin_extra_id}" if p.payin_extra_id else ""),
    ]
    if p.outcome_amount is not None or p.fee_currency:
        fees = ", ".join(
            f"{name} {amount(v)}"
            for name, v in (
                ("deposit", p.fee_deposit),
                ("withdrawal", p.fee_withdrawal),
                ("service", p.fee_service),
            )
            if v is not None
        )
        lines.append(
            f"Settled: {amount(p.outcome_amount, p.outcome_currency or '')}"
            + (f"; fees ({(p.fee_currency or '').upper()}) {fees}" if fees else "")
        )
    related = []
    if p.retried_from_id:
        related.append(f"retry of #{p.retried_from_id}")
    if p.parent_payment_id:
        related.append(f"top-up of #{p.parent_payment_id}")
    if story.children:
        related.append(
            "top-ups: "
            + ", ".join(f"#{c.id} {amount(c.actually_paid, coin)}" for c in story.children)
        )
    if related:
        lines.append("; ".join(related))
    timeline: list[tuple[datetime, int, str]] = [
        (p.created_at, 0, f"created, deadline {at(p.expires_at)}")
    ]
    for e in story.events:
        move = f"{e.old_status} → {e.new_status}" if e.applied else f"{e.new_status} (ignored)"
        timeline.append((e.received_at, 1, f"{e.source}: {move}"))
    for n in story.notices:
        to = "operator" if n.user_id is None else "customer"
        sent = f"sent {at(n.sent_at)[11:]}" if n.status == "sent" else n.status
        error = f" ({(n.last_error or '')[:60]})" if n.status == "dead" else ""
        timeline.append((n.created_at, 2, f"notice to {to}: {n.kind} – {sent}{error}"))
    if story.activation is not None:
        a = story.activation
        text = f"activated {a.plan} {at(a.period_start)[:16]} → {at(a.period_end)[:16]}"
        if a.revoked_at:
            text += f", revoked {at(a.revoked_at)[:16]} by {a.revoked_by}"
        timeline.append((a.created_at, 3, text))
    for entry in story.audit:
        timeline.append((entry.at, 4, f"{entry.actor}: {entry.action}"))
    timeline.sort(key=lambda t: (t[0], t[1]))
    shown = timeline[-STORY_EVENTS:]
    if len(timeline) > len(shown):
        lines.append(f"… {len(timeline) - len(shown)} earlier entries not shown")
    lines += [f"{at(when)}  {text}" for when, _, text in shown]
    if story.activation is None and p.status == "finished":
        lines.append("No activation: the plan was not given (held late payment?).")
    return "\n".join(lines)


def user_text(facts: UserFacts, plan_names: dict[str, str], now: datetime) -> str:
    u = facts.user
    lines = [
        f"User {u.id}: {u.platform}:{u.platform_user_id} {u.display_name!r}, "
        f"language {u.locale or '-'}, since {at(u.created_at)[:10]}"
    ]
    plans = []
    for a in facts.activations:
        name = plan_names.get(a.plan, a.plan)
        source = "paid" if a.payment_id else a.source
        if a.revoked_at:
            plans.append(f"{name} revoked {at(a.revoked_at)[:16]} by {a.revoked_by}")
        elif a.period_start > now:
            plans.append(
                f"{name} from {at(a.period_start)[:16]} to {at(a.period_end)[:16]} ({source})"
            )
        else:
            plans.append(f"{name} until {at(a.period_end)[:16]} ({source})")
    lines.append("Plan: " + ("; ".join(plans) if plans else "none"))
    lines.append(f"Open payments: {len(facts.open_payments)}")
    lines += ["  " + payment_line(p) for p in facts.open_payments]
    lines.append("Last payments:" if facts.last_payments else "Last payments: none")
    lines += ["  " + payment_line(p) for p in facts.last_payments]
    if u.linked_to is not None:
        lines.append(f"Linked to user {u.linked_to} (acts as that customer; undo: unlink)")
    if facts.linked:
        accounts = ", ".join(f"{a.platform}:{a.platform_user_id}" for a in facts.linked)
        lines.append(f"Linked accounts: {accounts}")
    lines += access_lines(facts)
    return "\n".join(lines)


def access_lines(facts: UserFacts) -> list[str]:
    """What the customer's plans open: one line per grant (`access USER` adds the log)."""
    if not facts.grants:
        return ["Access: none"]
    lines = ["Access:"]
    for g in facts.grants:
        until = f" until {at(g.close_at)[:16]} (grace included)" if g.close_at else ""
        lines.append(f"  {g.kind} {g.ref}: {g.status}{until}; last: {g.last_result or '-'}")
    return lines


def access_text(facts: UserFacts) -> str:
    """`access USER`: every grant, and the newest changes (who, what, why, when, result)."""
    u = facts.user
    lines = [f"User {u.id}: {u.platform}:{u.platform_user_id} {u.display_name!r}"]
    lines += access_lines(facts)
    lines.append("Changes (newest first):" if facts.access_log else "Changes: none")
    lines += [
        f"  {at(e.at)}  {e.action} {e.reason}: {e.result}"
        + (f" (grant {e.grant_id})" if e.grant_id else "")
        for e in facts.access_log
    ]
    return "\n".join(lines)


def reconcile_text(report: Reconciliation, since: str, applied: bool) -> str:
    lines = [
        f"Reconciled {report.checked} payment{'s' if report.checked != 1 else ''} since {since} "
        f"with the provider: {len(report.mismatches)} differ."
    ]
    if report.truncated:
        lines.append("Only the newest ones were read; use a later --since for the rest.")
    for m in report.mismatches:
        p = m.payment
        ours = f"{p.status} {amount(p.actually_paid - p.topup_paid, p.pay_currency)}"
        theirs = f"{m.provider_status} {amount(m.provider_paid, p.pay_currency)}"
        verdict = (
            "applied"
            if m.applied
            else "to apply"
            if m.applicable
            else "left alone (a payment never moves back)"
        )
        lines.append(f"  #{p.id}: ours {ours}, provider {theirs} – {verdict}")
    for payment_id, error in report.unreadable:
        lines.append(f"  #{payment_id}: provider did not answer: {error[:80]}")
    if not applied and report.applicable:
        lines.append(f"{len(report.applicable)} can be applied through the normal transitions.")
    return "\n".join(lines)
