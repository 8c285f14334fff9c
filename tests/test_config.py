import base64
import re
import tomllib
import typing
from decimal import Decimal

import pytest
from pydantic import BaseModel

from bot.cli import main
from bot.config import BUILT_IN_CONFIG, Config, ConfigError, load_config, masked
from tests.conftest import ROOT

EXAMPLE = ROOT / "config.toml"


def test_example_config_is_complete() -> None:
    config = load_config(EXAMPLE, {})
    assert [p.price for p in config.plans.values()] == [Decimal(49), Decimal(299), Decimal(599)]
    assert len(config.coins) >= 10
    assert {
        "btc",
        "eth",
        "ltc",
        "sol",
        "pol",
        "bnb",
        "trx",
        "usdttrc20",
        "usdterc20",
        "usdc",
    } <= set(config.coins)
    assert config.provider.name == "sandbox"
    assert config.agent.model == "offline"
    assert config.timers.payment_ttl_seconds == 900
    assert config.timers.warning_seconds == [300, 60]
    assert config.timers.monitoring_seconds == 86400
    assert config.subscriptions.reminder_days == [3, 1]
    assert config.subscriptions.check_every_seconds == 60
    assert isinstance(config.coins["btc"].fee_usd, Decimal)
    assert config.coins["btc"].fee_usd == Decimal("1.20")


def test_env_overrides_any_key() -> None:
    config = load_config(
        EXAMPLE,
        {
            "PAYBOT_DATABASE__URL": "sqlite+aiosqlite:///x.db",
            "PAYBOT_TIMERS__PAYMENT_TTL_SECONDS": "120",
            "PAYBOT_TIMERS__WARNING_SECONDS": "[30, 10]",
            "PAYBOT_PROVIDER__SANDBOX__CONFIRM_SECONDS": "5",
            "PAYBOT_PLANS__PRO__PRICE": "300.50",
        },
    )
    assert config.database.url == "sqlite+aiosqlite:///x.db"
    assert config.timers.payment_ttl_seconds == 120
    assert config.timers.warning_seconds == [30, 10]
    assert config.provider.sandbox.confirm_seconds == 5
    assert config.plans["pro"].price == Decimal("300.50")


def test_reminder_days_are_ordered_and_may_be_empty() -> None:
    days = {"PAYBOT_SUBSCRIPTIONS__REMINDER_DAYS": "[1, 7, 3]"}
    assert load_config(EXAMPLE, days).subscriptions.reminder_days == [7, 3, 1]
    none = {"PAYBOT_SUBSCRIPTIONS__REMINDER_DAYS": "[]"}
    assert load_config(EXAMPLE, none).subscriptions.reminder_days == []


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"PAYBOT_TIMERS__PAYMENT_TTL": "5"}, "config error: timers.payment_ttl: unknown key"),
        ({"PAYBOT_TIMERS__PAYMENT_TTL_SECONDS": "soon"}, "timers.payment_ttl_seconds"),
        ({"PAYBOT_PLANS__PRO__PRICE": "-1"}, "plans.pro.price"),
        ({"PAYBOT_AGENT__MODEL": "gpt"}, "agent.model: use 'offline' or 'openai:<model name>'"),
        ({"PAYBOT_AGENT__MODEL": "openai:"}, "agent.model"),
        (
            {"PAYBOT_AGENT__MODEL": "openai:gpt-4o-mini"},
            "PAYBOT_OPENAI_API_KEY (or OPENAI_API_KEY)",
        ),
        ({"PAYBOT_AGENT__BASE_URL": "localhost:11434"}, "agent.base_url: must be an http(s) URL"),
        ({"PAYBOT_AGENT__TIMEOUT_SECONDS": "0"}, "agent.timeout_seconds"),
        ({"PAYBOT_AGENT__MAX_TOOL_CALLS": "50"}, "agent.max_tool_calls"),
        ({"PAYBOT_SHOP__DEFAULT_LOCALE": "pt"}, "default_locale 'pt' is not in locales"),
        ({"PAYBOT_DATABASE__URL": "notaurl"}, "database.url: not a database URL"),
        ({"PAYBOT_DATABASE__URL": "mysql://h/db"}, "database.url: 'mysql' is not supported"),
        (
            {"PAYBOT_SUBSCRIPTIONS__REMINDER_DAYS": "[3, 0]"},
            "config error: subscriptions.reminder_days: reminder days must be positive",
        ),
        (
            {"PAYBOT_SUBSCRIPTIONS__REMINDER_DAYS": "[3, 1, 3]"},
            "config error: subscriptions.reminder_days: reminder days must not repeat",
        ),
        ({"PAYBOT_SUBSCRIPTIONS__REMINDER_DAYS": "[1.5]"}, "subscriptions.reminder_days.0"),
        ({"PAYBOT_SUBSCRIPTIONS__REMINDER_DAYS": "3"}, "subscriptions.reminder_days"),
        ({"PAYBOT_SUBSCRIPTIONS__CHECK_EVERY_SECONDS": "0"}, "subscriptions.check_every_seconds"),
        ({"PAYBOT_SUBSCRIPTIONS__REMIND_DAYS": "[1]"}, "subscriptions.remind_days: unknown key"),
    ],
)
def test_bad_values_name_the_key(environ: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(EXAMPLE, environ)
    message = str(err.value)
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("environ", "key"),
    [
        ({"PAYBOT_OPENAI_API_KEY": "sk-paybot", "OPENAI_API_KEY": "sk-other"}, "sk-paybot"),
        ({"OPENAI_API_KEY": "sk-other"}, "sk-other"),
        ({"PAYBOT_AGENT__BASE_URL": "http://127.0.0.1:11434/v1"}, None),  # a local server
    ],
)
def test_hosted_model_settings(environ: dict[str, str], key: str | None) -> None:
    from bot.app import hosted_model

    config = load_config(EXAMPLE, {"PAYBOT_AGENT__MODEL": "openai:llama3.1:8b", **environ})
    assert config.agent.hosted == "llama3.1:8b" and config.secrets.openai_api_key == key
    model = hosted_model(config)
    assert model.model_name == "llama3.1:8b"
    assert model.openai_api_key.get_secret_value() == (key or "local")
    assert model.request_timeout == 20.0 and model.max_retries == 1
    assert hosted_model(load_config(EXAMPLE, {})) is None


def test_secret_in_file_is_refused(tmp_path) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text(EXAMPLE.read_text() + '\n[secrets]\ntelegram_token = "123:abc"\n')
    with pytest.raises(ConfigError, match="secrets come only from the environment"):
        load_config(bad, {})


def test_unknown_section_in_file(tmp_path) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text(EXAMPLE.read_text() + "\n[telegramm]\nenabled = true\n")
    with pytest.raises(ConfigError, match="telegramm: unknown key"):
        load_config(bad, {})


def test_secrets_come_from_env_and_are_masked() -> None:
    config = load_config(EXAMPLE, {"PAYBOT_TELEGRAM_TOKEN": "123:secret"})
    assert config.secrets.telegram_token == "123:secret"
    shown = masked(config)
    assert shown["secrets"]["telegram_token"] == "***"
    assert shown["secrets"]["discord_token"] == "(not set)"
    assert "123:secret" not in str(shown)


def test_cli_broken_config_is_one_line_and_exit_2(tmp_path, capsys) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text("[plans\n")
    assert main(["--config", str(bad), "config", "check"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("config error:") and "\n" not in err


def test_cli_missing_config(tmp_path, capsys) -> None:
    assert main(["--config", str(tmp_path / "nope.toml"), "db", "upgrade"]) == 2
    assert "not found" in capsys.readouterr().err


def test_cli_unwritable_database_path(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("PAYBOT_DATABASE__URL", "sqlite+aiosqlite:////nonexistent/dir/paybot.db")
    assert main(["--config", str(EXAMPLE), "db", "upgrade"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cannot open database") and "Traceback" not in err


def test_cli_config_check_prints_masked(capsys, monkeypatch) -> None:
    monkeypatch.setenv("PAYBOT_NOWPAYMENTS_API_KEY", "sk-very-secret")
    assert main(["--config", str(EXAMPLE), "config", "check", "--full"]) == 0
    out = capsys.readouterr().out
    assert "sk-very-secret" not in out and '"nowpayments_api_key": "***"' in out


def test_database_url_gets_the_async_driver_and_hides_its_password() -> None:
    config = load_config(EXAMPLE, {"PAYBOT_DATABASE__URL": "postgresql://bob:pw@db:5432/shop"})
    assert config.database.url == "postgresql+asyncpg://bob:pw@db:5432/shop"
    assert masked(config)["database"]["url"] == "postgresql+asyncpg://bob:***@db:5432/shop"
    config = load_config(EXAMPLE, {"PAYBOT_DATABASE__URL": "sqlite:///x.db"})
    assert config.database.url == "sqlite+aiosqlite:///x.db"


def test_redis_url_is_a_secret_and_its_password_is_redacted() -> None:
    url = "redis://:r3dis-pw@cache:6379/0"
    config = load_config(EXAMPLE, {"PAYBOT_REDIS_URL": url})
    assert config.secrets.redis_url == url
    assert masked(config)["secrets"]["redis_url"] == "***"
    assert url in config.secret_values() and "r3dis-pw" in config.secret_values()
    assert load_config(EXAMPLE, {}).secrets.redis_url is None  # unset: the database


WHSEC = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()
HOOKED = {
    "PAYBOT_ACCESS__WEBHOOK_URL": "https://shop.example/hooks/paybot",
    "PAYBOT_PLANS__PRO__ACCESS__WEBHOOK": "true",
    "PAYBOT_ACCESS_WEBHOOK_SECRET": WHSEC,
}


def test_access_defaults_open_nothing() -> None:
    config = load_config(EXAMPLE, {})
    assert config.access.grace_hours == 24 and config.access.webhook_url is None
    assert all(plan.access.empty for plan in config.plans.values())
    assert config.secrets.access_webhook_secret is None


def test_the_commented_access_example_works(tmp_path) -> None:
    lines = EXAMPLE.read_text().splitlines()
    start = lines.index("# [plans.pro.access]")
    for i in range(start, start + 4):
        lines[i] = lines[i].removeprefix("# ")
    i = next(i for i, line in enumerate(lines) if line.startswith("# webhook_url = "))
    lines[i] = lines[i].removeprefix("# ")
    (tmp_path / "c.toml").write_text("\n".join(lines))
    config = load_config(tmp_path / "c.toml", {"PAYBOT_ACCESS_WEBHOOK_SECRET": WHSEC})
    access = config.plans["pro"].access
    assert access.telegram_chats == [-1001234567890]
    assert access.roles == [(123456789012345678, 234567890123456789)]
    assert access.webhook is True
    assert config.access.webhook_url == "https://shop.example.com/hooks/paybot"
    assert config.plans["starter"].access.empty


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9000/hooks", "http://localhost/h", "http://[::1]:80/h"]
)
def test_access_webhook_over_http_only_to_this_machine(url: str) -> None:
    config = load_config(EXAMPLE, {**HOOKED, "PAYBOT_ACCESS__WEBHOOK_URL": url})
    assert config.access.webhook_url == url


URL, SECRET = "PAYBOT_ACCESS__WEBHOOK_URL", "PAYBOT_ACCESS_WEBHOOK_SECRET"
PA = "PAYBOT_PLANS__PRO__ACCESS__"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"PAYBOT_ACCESS__GRACE_HOURS": "-1"}, "access.grace_hours"),
        ({"PAYBOT_ACCESS__GRACE_HOURS": "1.5"}, "access.grace_hours"),
        ({"PAYBOT_ACCESS__GRACE_DAYS": "1"}, "access.grace_days: unknown key"),
        ({URL: "http://shop.example/h"}, "access.webhook_url: must be https"),
        ({URL: "http://10.0.0.5/h"}, "access.webhook_url: must be https"),
        ({URL: "ftp://shop.example/h"}, "access.webhook_url: not a URL"),
        ({URL: "shop.example/h"}, "access.webhook_url: not a URL"),
        ({URL: "https://shop.example:x/h"}, "access.webhook_url: not a"),
        (
            {URL: "https://bob:pw@shop.example/h"},
            "access.webhook_url: must not hold a user or password",
        ),
        ({PA + "CHANNELS": "[1]"}, "plans.pro.access.channels: unknown key"),
        ({PA + "TELEGRAM_CHATS": '["@news"]'}, "plans.pro.access.telegram_chats.0"),
        ({PA + "TELEGRAM_CHATS": "-100"}, "plans.pro.access.telegram_chats"),
        ({PA + "TELEGRAM_CHATS": "[-1, -1]"}, "chat ids must not repeat"),
        (
            {PA + "DISCORD_ROLES": '["123"]'},
            "plans.pro.access.discord_roles: '123': use '<guild id>:<role id>' (digits only)",
        ),
        ({PA + "DISCORD_ROLES": '["1:x2"]'}, "plans.pro.access.discord_roles"),
        ({PA + "DISCORD_ROLES": "[12]"}, "plans.pro.access.discord_roles.0"),
        ({PA + "DISCORD_ROLES": '["1:2", "1:2"]'}, "roles must not repeat"),
        ({PA + "WEBHOOK": "yes"}, "plans.pro.access.webhook"),
        ({**HOOKED, URL: ""}, "access.webhook_url: not a URL"),
        (
            {k: v for k, v in HOOKED.items() if k != URL},
            "plans.pro.access.webhook: [access] webhook_url is not set",
        ),
        (
            {k: v for k, v in HOOKED.items() if k != SECRET},
            "PAYBOT_ACCESS_WEBHOOK_SECRET is not set",
        ),
        (
            {**HOOKED, SECRET: WHSEC[6:]},
            "PAYBOT_ACCESS_WEBHOOK_SECRET must start with whsec_",
        ),
        (
            {SECRET: "whsec_" + base64.b64encode(bytes(16)).decode()},
            "PAYBOT_ACCESS_WEBHOOK_SECRET must hold 24 to 64 random bytes",
        ),
        (
            {SECRET: "whsec_not base64 at all, not at all!!"},
            "PAYBOT_ACCESS_WEBHOOK_SECRET must be whsec_ followed by base64",
        ),
    ],
)
def test_bad_access_settings_name_the_key(environ: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(EXAMPLE, environ)
    message = str(err.value)
    assert expected in message
    assert "\n" not in message
    secret = environ.get("PAYBOT_ACCESS_WEBHOOK_SECRET")
    assert not secret or secret.removeprefix("whsec_") not in message


def test_access_webhook_secret_is_masked_and_redacted(capsys, monkeypatch) -> None:
    config = load_config(EXAMPLE, HOOKED)
    assert config.secrets.access_webhook_secret == WHSEC
    assert WHSEC in config.secret_values() and WHSEC[6:] in config.secret_values()
    assert masked(config)["secrets"]["access_webhook_secret"] == "***"
    for name, value in HOOKED.items():
        monkeypatch.setenv(name, value)
    assert main(["--config", str(EXAMPLE), "config", "check", "--full"]) == 0
    out = capsys.readouterr().out
    assert WHSEC[6:] not in out and '"access_webhook_secret": "***"' in out
    assert '"webhook": true' in out and '"grace_hours": 24' in out


def _documented(text: str) -> dict:
    """config.toml as data, its commented-out examples (`# key = value`, `# [table]`) too."""
    lines = [
        line[2:] if re.match(r"# (\[[a-z_.]+\]$|[a-z_]+ = )", line) else line
        for line in text.splitlines()
    ]
    return tomllib.loads("\n".join(lines))


def _missing(model: type[BaseModel], data: dict, where: str) -> list[str]:
    """Fields of `model` (and of its sections, recursively) that `data` does not name."""
    missing = []
    for name, field in model.model_fields.items():
        if name in ("secrets", "texts"):  # secrets only from the environment; texts: words
            continue
        if name not in data:
            missing.append(f"{where}{name}")
            continue
        kind, args = field.annotation, typing.get_args(field.annotation)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            missing += _missing(kind, data[name], f"{where}{name}.")
        elif args and isinstance(args[-1], type) and issubclass(args[-1], BaseModel):
            merged: dict = {}  # dict[str, Section]: every key in at least one entry
            for entry in data[name].values():
                for key, value in entry.items():
                    merged[key] = (
                        {**merged.get(key, {}), **value} if isinstance(value, dict) else value
                    )
            missing += _missing(args[-1], merged, f"{where}{name}.*.")
    return missing


def test_config_toml_names_every_setting() -> None:
    """config.toml is called complete: every key the configuration knows is in it, set or as
    a commented example."""
    assert _missing(Config, _documented(EXAMPLE.read_text()), "") == []


def test_the_built_in_defaults_are_the_shipped_config_toml() -> None:
    """The package carries config.toml (paybot runs anywhere) and it cannot drift."""
    assert BUILT_IN_CONFIG.parent == ROOT / "bot"
    assert BUILT_IN_CONFIG.read_bytes() == EXAMPLE.read_bytes()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert BUILT_IN_CONFIG.name in pyproject["tool"]["setuptools"]["package-data"]["bot"]


def test_without_a_config_file_the_built_in_defaults_are_used(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # outside the repository: no ./config.toml
    monkeypatch.delenv("PAYBOT_CONFIG", raising=False)
    assert main(["config", "check"]) == 0
    out = capsys.readouterr().out
    assert f"config:    {BUILT_IN_CONFIG} (built-in defaults)" in out
    (tmp_path / "config.toml").write_text(EXAMPLE.read_text())  # ./config.toml wins
    assert main(["config", "check"]) == 0
    assert "config:    config.toml\n" in capsys.readouterr().out
    monkeypatch.setenv("PAYBOT_CONFIG", str(tmp_path / "mine.toml"))  # named: must exist
    assert main(["config", "check"]) == 2
    assert "mine.toml not found" in capsys.readouterr().err
