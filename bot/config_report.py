"""What `paybot config check` and the start of `paybot run`/`paybot chat` say about a
configuration that loads but would surprise its operator: the sandbox in a real chat, a
warning that comes before the countdown starts, a webhook address the provider cannot reach.

`sandbox_refusal` stops `run` and `chat`; `warnings` are one line each, logged at start and
listed by `config check`; `summary` is the short page `config check` leads with.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from bot.config import Config, masked

SANDBOX_NOTE = "the sandbox provider is simulated: it takes no real money"


def chat_platforms(config: Config) -> list[str]:
    """The chat platforms the configuration enables (the console is always there)."""
    return [
        name
        for name, enabled in (
            ("Telegram", config.telegram.enabled),
            ("Discord", config.discord.enabled),
        )
        if enabled
    ]


def sandbox_refusal(config: Config) -> str | None:
    """The one line that stops `paybot run` (and `paybot chat`) when customers in a chat would
    be sold plans on the sandbox, unless the operator said so explicitly."""
    platforms = chat_platforms(config)
    if config.provider.name != "sandbox" or not platforms:
        return None
    if config.provider.allow_sandbox_in_chats:
        return None
    return (
        f"config error: provider.name: {SANDBOX_NOTE}, but {' and '.join(platforms)} "
        f"{'is' if len(platforms) == 1 else 'are'} enabled: set [provider] name = "
        '"nowpayments" to sell (README: Taking real payments), or [provider] '
        "allow_sandbox_in_chats = true to try paybot out in a chat"
    )


def is_unreachable_url(url: str) -> bool:
    """Whether the internet cannot reach `url`: localhost, a loopback, private, link-local or
    unspecified address, or a name without a dot or under a local-only domain (no DNS)."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if not host:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        local_domains = (".localhost", ".local", ".internal", ".lan", ".home.arpa")
        return host == "localhost" or "." not in host or host.endswith(local_domains)
    return not address.is_global


def warnings(config: Config) -> list[str]:
    """Settings that load but do not do what they seem to, one line each."""
    out = []
    if config.provider.name == "sandbox" and chat_platforms(config):
        out.append(
            f"provider: {SANDBOX_NOTE}, and {' and '.join(chat_platforms(config))} customers "
            "see its TEST cards ([provider] allow_sandbox_in_chats = true)"
        )
    ttl = config.timers.payment_ttl_seconds
    early = [s for s in config.timers.warning_seconds if s >= ttl]
    if early:
        offsets = ", ".join(f"{s} s" for s in early)
        out.append(
            f"timers.warning_seconds: {offsets} {'is' if len(early) == 1 else 'are'} not "
            "shorter than timers.payment_ttl_seconds "
            f"({ttl} s): such a warning comes as soon as the payment is made"
        )
    if config.provider.name == "nowpayments" and is_unreachable_url(config.webhooks.public_url):
        out.append(
            f"webhooks.public_url: NOWPayments cannot reach {config.webhooks.public_url} (not "
            "on the internet), so no IPN arrives and payments move only when the "
            f"reconciliation poller asks (after {config.reconcile.after_seconds} s): set it "
            "to your HTTPS address"
        )
    return out


def _platforms(config: Config) -> str:
    names = ["console (paybot chat)"]
    if config.telegram.enabled:
        names.append(f"Telegram ({config.telegram.mode})")
    if config.discord.enabled:
        names.append("Discord")
    return ", ".join(names)


def _provider(config: Config) -> str:
    if config.provider.name == "sandbox":
        allowed = " (allowed in chats)" if config.provider.allow_sandbox_in_chats else ""
        return f"sandbox: simulated, no real money{allowed}"
    return f"nowpayments at {config.provider.nowpayments.base_url}"


def _model(config: Config) -> str:
    if config.agent.hosted is None:
        return "offline (the built-in router)"
    where = config.agent.base_url or "https://api.openai.com/v1"
    return f"{config.agent.model} at {where}"


def _webhooks(config: Config) -> str:
    if not config.webhooks_needed:
        return "off"
    url = config.webhooks.public_url.rstrip("/")
    listen = f"listening on {config.webhooks.host}:{config.webhooks.port}"
    if config.provider.name == "nowpayments":
        return f"{url}/webhooks/nowpayments ({listen})"
    return f"{url} ({listen})"


def _send_limits(config: Config) -> str:
    """Where the platforms' send limits are counted (`bot.app.shared_send_slots`)."""
    url = make_url(config.database.url)
    if url.get_backend_name() == "sqlite":
        return "counted in this process (SQLite: one worker)"
    if config.secrets.redis_url:
        where = urlsplit(config.secrets.redis_url)  # no password shown
        return f"shared by all workers in Redis at {where.hostname}:{where.port or 6379}" + (
            where.path
        )
    return "shared by all workers in the database (send_slots)"


def summary(config: Config, source: Path, built_in: bool) -> list[str]:
    """The short page `paybot config check` prints (secrets masked; `--full` for the rest)."""
    shown = masked(config)
    secrets = [name for name, value in shown["secrets"].items() if value == "***"]
    plans = ", ".join(
        f"{code} {plan.price} {config.shop.price_currency}" for code, plan in config.plans.items()
    )
    lines = [
        f"config:    {source}{' (built-in defaults)' if built_in else ''}",
        f"provider:  {_provider(config)}",
        f"platforms: {_platforms(config)}",
        f"database:  {shown['database']['url']}",
        f"model:     {_model(config)}",
        f"webhooks:  {_webhooks(config)}",
        f"limits:    {_send_limits(config)}",
        f"plans:     {plans}; {len(config.coins)} coins: {', '.join(config.coins)}",
        f"secrets:   {', '.join(secrets) + ' (masked)' if secrets else '(none set)'}",
    ]
    notes = warnings(config)
    if config.provider.name == "sandbox" and not chat_platforms(config):  # the laptop demo
        to_sell = 'to sell, set [provider] name = "nowpayments" (README: Taking real payments)'
        notes.insert(0, f"provider: {SANDBOX_NOTE}; {to_sell}")
    lines += [f"warning:   {note}" for note in notes] or ["warnings:  none"]
    lines.append("(paybot config check --full prints every setting as JSON, secrets masked)")
    return lines
