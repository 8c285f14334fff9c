"""Typed configuration: `config.toml` + `PAYBOT_<SECTION>__<KEY>` overrides + secrets from env.

Unknown keys and bad values stop start-up with one line naming the key (`ConfigError`).
Money values are read from TOML as `Decimal` (never float).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.config_access import AccessConfig, PlanAccessConfig, check_access

ENV_PREFIX = "PAYBOT_"
DEFAULT_CONFIG = Path("config.toml")
# the repository's config.toml, shipped inside the package: the defaults wherever paybot runs
# (tests/test_config.py keeps the two equal)
BUILT_IN_CONFIG = Path(__file__).resolve().with_name("default_config.toml")


class ConfigError(Exception):
    """A configuration problem, worded for one line of output."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ShopConfig(_Section):
    name: str = "paybot"
    price_currency: str = "USD"
    default_locale: str = "en"
    locales: list[str] = ["en", "de"]

    @model_validator(mode="after")
    def _default_is_spoken(self) -> ShopConfig:
        if self.default_locale not in self.locales:
            raise ValueError(f"default_locale {self.default_locale!r} is not in locales")
        return self


class PlanConfig(_Section):
    name: str
    price: Decimal = Field(gt=0)
    period_days: int = Field(gt=0)
    rank: int
    features: list[str] = []
    access: PlanAccessConfig = PlanAccessConfig()  # what the plan opens (chats, roles, webhook)


class CoinConfig(_Section):
    name: str
    symbol: str
    network: str
    decimals: int = Field(ge=0, le=18)
    fee_usd: Decimal = Field(ge=0)
    confirm_minutes: int = Field(ge=0)
    uri_scheme: Literal["bitcoin", "litecoin", "ethereum", "solana", "tron", "ripple"]
    address_kind: Literal["bitcoin", "litecoin", "evm", "solana", "tron", "ripple"]
    chain_id: int | None = None
    token_contract: str | None = None
    memo: bool = False
    aliases: list[str] = []


class SandboxConfig(_Section):
    confirm_seconds: int = Field(default=2, ge=0)
    finish_seconds: int = Field(default=4, ge=0)
    quote_ttl_seconds: int = Field(default=1200, gt=0)
    rates: dict[str, Decimal] = {}
    min_amounts: dict[str, Decimal] = {}


class NowPaymentsConfig(_Section):
    base_url: str = (
        "https://api.nowpayments.io/v1"  # sandbox: https://api-sandbox.nowpayments.io/v1
    )
    timeout_seconds: float = Field(default=10.0, gt=0)
    retries: int = Field(default=3, ge=0, le=10)
    backoff_seconds: float = Field(default=0.5, ge=0)
    cache_seconds: float = Field(default=60.0, ge=0)
    codes: dict[str, str] = {"pol": "maticmainnet", "bnb": "bnbbsc"}  # ours → their ticker


class ProviderConfig(_Section):
    name: Literal["sandbox", "nowpayments"] = "sandbox"
    # the sandbox takes no real money: `paybot run` refuses it with Telegram or Discord on
    allow_sandbox_in_chats: bool = False
    sandbox: SandboxConfig = SandboxConfig()
    nowpayments: NowPaymentsConfig = NowPaymentsConfig()


class ReconcileConfig(_Section):
    after_seconds: int = Field(default=300, gt=0)  # poll an open payment this long after its
    expired_every_seconds: int = Field(default=900, gt=0)  # last event; expired ones this often
    max_per_minute: int = Field(default=30000, gt=0)  # provider reads, all workers together
    at_once: int = Field(default=100, gt=0, le=500)  # provider reads under way per worker


class RetentionConfig(_Section):
    outbox_days: int = Field(default=30, ge=0)  # delivered outbox rows (0 = kept forever)
    events_days: int = Field(default=365, ge=0)  # events of payments no longer watched
    prune_every_seconds: int = Field(default=3600, gt=0)


class PaymentsConfig(_Section):
    underpaid_tolerance: Decimal = Field(default=Decimal("0.005"), ge=0, lt=1)
    activate_late: bool = True
    max_open_per_user: int = Field(default=3, gt=0)


class TimersConfig(_Section):
    payment_ttl_seconds: int = Field(default=900, gt=0)
    warning_seconds: list[int] = [300, 60]
    monitoring_seconds: int = Field(default=86400, ge=0)
    sweep_interval_seconds: float = Field(default=1.0, gt=0)

    @field_validator("warning_seconds")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(v <= 0 for v in value):
            raise ValueError("warning offsets must be positive seconds")
        return sorted(set(value), reverse=True)


class SubscriptionsConfig(_Section):
    """The subscription life cycle: reminders before a plan ends, a notice when it lapses."""

    reminder_days: list[StrictInt] = [3, 1]  # days before the end; empty: no reminders
    check_every_seconds: float = Field(default=60.0, gt=0)  # how often the sweeper looks

    @field_validator("reminder_days")
    @classmethod
    def _distinct_positive(cls, value: list[int]) -> list[int]:
        if any(v <= 0 for v in value):
            raise ValueError("reminder days must be positive whole days")
        if len(set(value)) != len(value):
            raise ValueError("reminder days must not repeat")
        return sorted(value, reverse=True)


class AlertsConfig(_Section):
    """When operators are told about trouble that is not one payment's (see docs)."""

    bad_signatures: int = Field(default=10, gt=0)  # rejected IPN signatures in the window
    bad_signature_window_seconds: int = Field(default=60, gt=0)
    provider_down_seconds: int = Field(default=120, gt=0)  # failing this long: provider down


class AgentConfig(_Section):
    """Who answers free text: the built-in router, or an OpenAI-compatible model with the
    router in front of it (and behind it, when the model cannot answer)."""

    model: str = "offline"  # or "openai:<model name>"
    # what decides a free-text message's intent offline: the trained intent model, or the
    # word tables alone (the router before the model; entities come from the router either way)
    intent: Literal["model", "tables"] = "model"
    base_url: str | None = None  # any OpenAI-compatible endpoint; None = api.openai.com
    timeout_seconds: float = Field(default=20.0, gt=0)  # per model request
    max_retries: int = Field(default=1, ge=0, le=5)  # per model request, on 429/5xx/timeouts
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_tool_calls: int = Field(default=5, ge=1, le=20)  # tool iterations in one turn
    router_confidence: float = Field(default=0.9, gt=0, le=1)  # at or above: no model call
    calls_per_minute: int = Field(default=20, ge=1)  # model calls per customer
    text_burst: int = Field(default=5, ge=1)  # free-text messages a customer may send at once
    text_per_minute: float = Field(default=20, gt=0)  # ... and how fast that allowance refills
    history_turns: int = Field(default=10, ge=0)

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        if value != "offline" and not re.fullmatch(r"openai:[\w.:/@+-]+", value):
            raise ValueError("use 'offline' or 'openai:<model name>'")
        return value

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL, e.g. http://127.0.0.1:11434/v1")
        return value

    @property
    def hosted(self) -> str | None:
        """The model name at the OpenAI-compatible endpoint, or None for offline."""
        return self.model.removeprefix("openai:") if self.model != "offline" else None


ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}


class DatabaseConfig(_Section):
    url: str = "sqlite+aiosqlite:///paybot.db"

    @field_validator("url")
    @classmethod
    def _supported(cls, value: str) -> str:
        """SQLite or PostgreSQL, always through their asyncio drivers (added when left out)."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("not a database URL (e.g. sqlite+aiosqlite:///paybot.db)") from None
        backend = url.get_backend_name()
        if backend not in ASYNC_DRIVERS:
            raise ValueError(f"{backend!r} is not supported: use SQLite or PostgreSQL")
        driver = ASYNC_DRIVERS[backend]
        if url.get_driver_name() != driver:
            url = url.set(drivername=f"{backend}+{driver}")
        return url.render_as_string(hide_password=False)


class OperatorsConfig(_Section):
    console: list[str] = []
    telegram: list[str] = []
    discord: list[str] = []
    timezone: str = "UTC"  # the operators' days: stats periods, export dates, times shown

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin"
            ) from None
        return name

    @property
    def ids(self) -> dict[str, list[str]]:
        """The operators' user ids per platform."""
        return {"console": self.console, "telegram": self.telegram, "discord": self.discord}


class ConsoleConfig(_Section):
    qr_dir: Path = Path("paybot-qr")


class WebhooksConfig(_Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str = "http://127.0.0.1:8080"


class DashboardConfig(_Section):
    """The operators' web dashboard (`bot/web/`), on a listener of its own."""

    enabled: bool = False
    host: str = "127.0.0.1"  # loopback: reach it through an HTTPS proxy or an SSH tunnel
    port: int = Field(default=8081, ge=0, le=65535)
    public_url: str = "http://127.0.0.1:8081"  # where operators open it (https: Secure cookie)
    link_minutes: int = Field(default=5, gt=0, le=60)  # a sign-in link works once, this long
    session_hours: int = Field(default=12, gt=0, le=24 * 30)  # a session ends after this

    @field_validator("public_url")
    @classmethod
    def _web_url(cls, url: str) -> str:
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", url):
            raise ValueError(f"not an http(s) URL: {url!r}")
        return url.rstrip("/")

    @property
    def secure(self) -> bool:
        """Cookies only over https when the operators open it over https."""
        return self.public_url.startswith("https://")


class WorkersConfig(_Section):
    """Several `paybot run` workers on one database: who owns which connection."""

    # a connection's owner renews its lease every third of this; when the owner dies,
    # another worker takes over within this plus one renewal round
    lease_seconds: float = Field(default=6.0, ge=1.5, le=60)


class TelegramConfig(_Section):
    enabled: bool = False
    mode: Literal["polling", "webhook"] = "polling"  # webhook: for several workers
    base_url: str = "https://api.telegram.org"  # a local Bot API server works too
    global_per_second: float = Field(default=30.0, gt=0)  # Telegram's limits: the relay
    per_chat_per_second: float = Field(default=1.0, gt=0)  # paces itself to stay under them
    per_group_per_minute: float = Field(default=20.0, gt=0)


class DiscordConfig(_Section):
    enabled: bool = False
    api_base: str = "https://discord.com/api/v10"  # a local fake in tests
    guild_ids: list[int] = []  # commands are synced to these servers at once (testing)
    message_content: bool = True  # free text in DMs and mentions goes to the agent
    members_intent: bool = False  # privileged: member joins reach the app (portal switch)
    global_per_second: float = Field(default=50.0, gt=0)  # Discord's global request limit
    per_channel_per_second: float = Field(default=1.0, gt=0)  # 5 messages per 5 s per channel
    shard_count: int = Field(default=1, ge=1, le=256)  # gateway shards, divided among workers


class Secrets(_Section):
    """Read only from the environment, never from the file."""

    telegram_token: str | None = None
    telegram_webhook_secret: str | None = None
    discord_token: str | None = None
    nowpayments_api_key: str | None = None
    nowpayments_ipn_secret: str | None = None
    openai_api_key: str | None = None
    metrics_token: str | None = None  # PAYBOT_METRICS_TOKEN: /metrics via a proxy or remotely
    access_webhook_secret: str | None = None  # whsec_...: signs the access webhooks
    # redis://[:password@]host:port/db: several workers share the platforms' send limits in
    # Redis instead of PostgreSQL (unset: in the database)
    redis_url: str | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str]) -> Secrets:
        values = {name: environ.get(ENV_PREFIX + name.upper()) for name in cls.model_fields}
        values["openai_api_key"] = values["openai_api_key"] or environ.get("OPENAI_API_KEY")
        return cls(**values)


class Config(_Section):
    shop: ShopConfig = ShopConfig()
    plans: dict[str, PlanConfig]
    coins: dict[str, CoinConfig]
    provider: ProviderConfig = ProviderConfig()
    payments: PaymentsConfig = PaymentsConfig()
    timers: TimersConfig = TimersConfig()
    subscriptions: SubscriptionsConfig = SubscriptionsConfig()
    access: AccessConfig = AccessConfig()
    agent: AgentConfig = AgentConfig()
    database: DatabaseConfig = DatabaseConfig()
    operators: OperatorsConfig = OperatorsConfig()
    console: ConsoleConfig = ConsoleConfig()
    webhooks: WebhooksConfig = WebhooksConfig()
    dashboard: DashboardConfig = DashboardConfig()
    reconcile: ReconcileConfig = ReconcileConfig()
    retention: RetentionConfig = RetentionConfig()
    alerts: AlertsConfig = AlertsConfig()
    workers: WorkersConfig = WorkersConfig()
    telegram: TelegramConfig = TelegramConfig()
    discord: DiscordConfig = DiscordConfig()
    secrets: Secrets = Secrets()
    # the shop's own words (plan features) in other languages: [texts.de] "1 project" = "..."
    texts: dict[str, dict[str, str]] = {}

    @model_validator(mode="after")
    def _catalogs(self) -> Config:
        if not self.plans:
            raise ValueError("at least one plan is required")
        if not self.coins:
            raise ValueError("at least one coin is required")
        for code in list(self.plans) + list(self.coins):
            if not code.isascii() or not code.isalnum() or code != code.lower():
                raise ValueError(f"code {code!r} must be lower-case ASCII letters and digits")
        unknown = sorted(set(self.texts) - set(self.shop.locales))
        if unknown:
            raise ValueError(f"texts for {', '.join(unknown)}: not in shop.locales")
        ranks = [p.rank for p in self.plans.values()]
        if len(set(ranks)) != len(ranks):
            raise ValueError("plan ranks must be unique")
        if self.provider.name == "sandbox":
            missing = sorted(set(self.coins) - set(self.provider.sandbox.rates))
            if missing:
                raise ValueError(f"provider.sandbox.rates has no rate for {', '.join(missing)}")
        needed = []
        if self.provider.name == "nowpayments":
            needed += ["nowpayments_api_key", "nowpayments_ipn_secret"]
        if self.telegram.enabled:
            needed.append("telegram_token")
            if self.telegram.mode == "webhook":
                needed.append("telegram_webhook_secret")
        if self.discord.enabled:
            needed.append("discord_token")
        for secret in needed:
            if not getattr(self.secrets, secret):
                raise ValueError(f"{ENV_PREFIX}{secret.upper()} is not set")
        if self.agent.hosted and not self.agent.base_url and not self.secrets.openai_api_key:
            raise ValueError(
                "PAYBOT_OPENAI_API_KEY (or OPENAI_API_KEY) is not set; a local model server "
                "needs [agent] base_url instead"
            )
        webhook_secret = self.secrets.telegram_webhook_secret
        if webhook_secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", webhook_secret):
            raise ValueError(
                "PAYBOT_TELEGRAM_WEBHOOK_SECRET may hold only letters, digits, _ and - "
                "(at most 256)"
            )
        check_access(self.access, self.plans, self.secrets.access_webhook_secret)
        return self

    def secret_values(self) -> list[str]:
        """Every configured secret: each `Secrets` value and the passwords in the database and
        Redis URLs. Logs and model replies must never show any of them (a new secret field is
        covered without further work)."""
        from sqlalchemy.engine import make_url

        values = [value for value in self.secrets.model_dump().values() if value]
        values.append(make_url(self.database.url).password or "")
        if self.secrets.redis_url:
            values.append(urlsplit(self.secrets.redis_url).password or "")
        if self.secrets.access_webhook_secret:  # its key alone, as a receiver may be given it
            values.append(self.secrets.access_webhook_secret.removeprefix("whsec_"))
        return sorted({value for value in values if value}, key=len, reverse=True)

    @property
    def webhooks_needed(self) -> bool:
        """The webhook server runs when the provider sends webhooks (or when asked to)."""
        return (
            self.webhooks.enabled
            or self.provider.name == "nowpayments"
            or (self.telegram.enabled and self.telegram.mode == "webhook")
        )


def _parse_env_value(raw: str) -> Any:
    """Read an override as a TOML value when it is one (numbers, booleans, lists)."""
    try:
        return tomllib.loads(f"v = {raw}", parse_float=Decimal)["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _apply_env_overrides(data: dict[str, Any], environ: dict[str, str]) -> None:
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        if path[0] == "secrets" or not all(path):
            raise ConfigError(
                f"config error: {name}: secrets and empty keys cannot be set this way"
            )
        node = data
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"config error: {name}: {part} is not a section")
            node = child
        node[path[-1]] = _parse_env_value(raw)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "missing":
        message = "required key is missing"
    more = len(error.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"config error: {where}: {message}{suffix}"


def config_path(explicit: str | Path | None, environ: Mapping[str, str]) -> Path:
    """--config, else $PAYBOT_CONFIG, else ./config.toml when there is one, else the built-in
    defaults (the shipped config.toml, inside the package)."""
    if explicit:
        return Path(explicit)
    if environ.get("PAYBOT_CONFIG"):
        return Path(environ["PAYBOT_CONFIG"])
    return DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else BUILT_IN_CONFIG


def load_config(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Config:
    environ = dict(os.environ if environ is None else environ)
    file = config_path(path, environ)
    try:
        with file.open("rb") as handle:
            data = tomllib.load(handle, parse_float=Decimal)
    except FileNotFoundError:
        raise ConfigError(f"config error: file {file} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config error: {file} is not valid TOML: {exc}") from None
    if "secrets" in data:
        raise ConfigError("config error: secrets: secrets come only from the environment")
    _apply_env_overrides(data, environ)
    data["secrets"] = Secrets.from_env(environ).model_dump()
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def masked(config: Config) -> dict[str, Any]:
    """The effective configuration as plain data, secrets masked."""
    data = config.model_dump(mode="json")
    data["secrets"] = {k: ("***" if v else "(not set)") for k, v in data["secrets"].items()}
    from sqlalchemy.engine import make_url

    data["database"]["url"] = make_url(config.database.url).render_as_string(hide_password=True)
    return data
