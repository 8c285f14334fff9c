"""What `paybot config check` and the start of `paybot run`/`chat` say about a configuration
that loads but would surprise its operator."""

from __future__ import annotations

import json

import pytest

from bot.cli import main
from bot.config import load_config
from bot.config_report import is_unreachable_url, sandbox_refusal, warnings
from tests.conftest import ROOT

EXAMPLE = ROOT / "config.toml"
TELEGRAM = {"PAYBOT_TELEGRAM__ENABLED": "true", "PAYBOT_TELEGRAM_TOKEN": "1:x"}
DISCORD = {"PAYBOT_DISCORD__ENABLED": "true", "PAYBOT_DISCORD_TOKEN": "discord-token"}
NOWPAYMENTS = {
    "PAYBOT_PROVIDER__NAME": "nowpayments",
    "PAYBOT_NOWPAYMENTS_API_KEY": "np-key-secret",
    "PAYBOT_NOWPAYMENTS_IPN_SECRET": "np-ipn-secret",
}


def _config(**environ: str):
    return load_config(EXAMPLE, {f"PAYBOT_{k}": v for k, v in environ.items()})


def test_the_sandbox_is_refused_in_chats_unless_allowed() -> None:
    assert sandbox_refusal(load_config(EXAMPLE, {})) is None  # the console alone: the demo
    line = sandbox_refusal(load_config(EXAMPLE, TELEGRAM))
    assert line is not None and "\n" not in line
    assert line.startswith("config error: provider.name: the sandbox provider is simulated")
    assert "but Telegram is enabled" in line and "allow_sandbox_in_chats = true" in line
    both = load_config(EXAMPLE, {**TELEGRAM, **DISCORD})
    assert "but Telegram and Discord are enabled" in sandbox_refusal(both)
    allowed = {**TELEGRAM, "PAYBOT_PROVIDER__ALLOW_SANDBOX_IN_CHATS": "true"}
    assert sandbox_refusal(load_config(EXAMPLE, allowed)) is None
    assert "TEST cards" in warnings(load_config(EXAMPLE, allowed))[0]  # said at every start
    assert sandbox_refusal(load_config(EXAMPLE, {**TELEGRAM, **NOWPAYMENTS})) is None


def test_the_shipped_configuration_has_nothing_to_warn_about() -> None:
    assert warnings(load_config(EXAMPLE, {})) == []


def test_a_warning_longer_than_the_payment_window_is_named() -> None:
    [line] = warnings(_config(TIMERS__PAYMENT_TTL_SECONDS="120"))
    assert line == (
        "timers.warning_seconds: 300 s is not shorter than timers.payment_ttl_seconds (120 s): "
        "such a warning comes as soon as the payment is made"
    )
    [line] = warnings(_config(TIMERS__PAYMENT_TTL_SECONDS="60"))
    assert "300 s, 60 s are not shorter" in line
    assert warnings(_config(TIMERS__PAYMENT_TTL_SECONDS="301")) == []


@pytest.mark.parametrize(
    ("url", "unreachable"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://localhost:8080", True),
        ("https://10.1.2.3", True),
        ("https://192.168.1.20/paybot", True),
        ("https://[::1]:8443", True),
        ("https://[fd00::1]", True),
        ("http://169.254.10.10", True),
        ("http://paybot:8080", True),  # a container name
        ("https://shop.internal", True),
        ("https://shop.example.com", False),
        ("https://203.0.114.9", False),
        ("https://[2a00:1450:4001:80b::200e]", False),
    ],
)
def test_which_webhook_addresses_the_internet_cannot_reach(url: str, unreachable: bool) -> None:
    assert is_unreachable_url(url) is unreachable


def test_nowpayments_with_a_webhook_address_it_cannot_reach_is_warned_about() -> None:
    environ = {k.removeprefix("PAYBOT_"): v for k, v in NOWPAYMENTS.items()}
    [line] = warnings(_config(**environ))  # the shipped public_url: 127.0.0.1
    assert line.startswith("webhooks.public_url: NOWPayments cannot reach http://127.0.0.1:8080")
    assert "reconciliation poller" in line and "\n" not in line
    public = _config(**environ, WEBHOOKS__PUBLIC_URL="https://shop.example.com")
    assert warnings(public) == []
    assert warnings(_config(WEBHOOKS__ENABLED="true")) == []  # the sandbox needs no IPN


def test_config_check_leads_with_a_short_summary(capsys, monkeypatch) -> None:
    for name, value in {**NOWPAYMENTS, **TELEGRAM}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PAYBOT_DATABASE__URL", "postgresql://shop:db-password@db:5432/shop")
    monkeypatch.setenv("PAYBOT_TIMERS__PAYMENT_TTL_SECONDS", "200")
    assert main(["--config", str(EXAMPLE), "config", "check"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert len(lines) < 20
    assert lines[0] == f"config:    {EXAMPLE}"
    assert "provider:  nowpayments at https://api.nowpayments.io/v1" in lines
    assert "platforms: console (paybot chat), Telegram (polling)" in lines
    assert "database:  postgresql+asyncpg://shop:***@db:5432/shop" in lines
    assert "model:     offline (the built-in router)" in lines
    webhook = "http://127.0.0.1:8080/webhooks/nowpayments (listening on 127.0.0.1:8080)"
    assert f"webhooks:  {webhook}" in lines
    assert "limits:    shared by all workers in the database (send_slots)" in lines
    assert any(line.startswith("secrets:   telegram_token, ") for line in lines)
    warned = [line for line in lines if line.startswith("warning:   ")]
    assert [w.split(":")[1].strip() for w in warned] == [
        "timers.warning_seconds",
        "webhooks.public_url",
    ]
    assert lines[-1].startswith("(paybot config check --full")
    for secret in ("np-key-secret", "np-ipn-secret", "db-password", "1:x"):
        assert secret not in out


def test_config_check_names_the_sandbox_and_warns(capsys) -> None:
    assert main(["--config", str(EXAMPLE), "config", "check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "provider:  sandbox: simulated, no real money" in lines
    assert "webhooks:  off" in lines and "secrets:   (none set)" in lines
    [warning] = [line for line in lines if line.startswith("warning:")]
    assert "takes no real money" in warning and 'name = "nowpayments"' in warning


def test_config_check_full_is_the_whole_configuration_as_json(capsys, monkeypatch) -> None:
    monkeypatch.setenv("PAYBOT_TELEGRAM_TOKEN", "123:very-secret")
    assert main(["--config", str(EXAMPLE), "config", "check", "--full"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    assert data["secrets"]["telegram_token"] == "***" and "very-secret" not in out
    assert data["payments"]["max_open_per_user"] == 3
    assert data["provider"]["allow_sandbox_in_chats"] is False


def test_config_check_says_where_the_send_limits_are_counted(capsys, monkeypatch) -> None:
    """SQLite: in the one process; PostgreSQL: in the database, or in Redis when
    `PAYBOT_REDIS_URL` is set (its password never printed)."""

    def limits() -> str:
        assert main(["--config", str(EXAMPLE), "config", "check"]) == 0
        [line] = [x for x in capsys.readouterr().out.splitlines() if x.startswith("limits:")]
        return line

    monkeypatch.setenv("PAYBOT_DATABASE__URL", "sqlite+aiosqlite:///shop.db")
    assert limits() == "limits:    counted in this process (SQLite: one worker)"
    monkeypatch.setenv("PAYBOT_DATABASE__URL", "postgresql://shop@db:5432/shop")
    assert limits() == "limits:    shared by all workers in the database (send_slots)"
    monkeypatch.setenv("PAYBOT_REDIS_URL", "redis://:redis-password@cache.internal:6380/2")
    line = limits()
    assert line == "limits:    shared by all workers in Redis at cache.internal:6380/2"
    assert "redis-password" not in line
