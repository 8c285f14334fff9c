"""Log set-up: no configured secret is written by any logger, in messages, their arguments,
exceptions and warnings; the libraries' request logs stay quiet unless the level is DEBUG."""

from __future__ import annotations

import base64
import logging
import warnings

import pytest
from sqlalchemy import text

from bot.cli import main
from bot.config import Secrets
from bot.logs import OURS, QUIET, Outage, Redactor, setup_logging
from storage.db import Database
from tests.conftest import ROOT, free_port, make_config

TOKEN = "4242:tg-token-SECRET"
PASSWORD = "p@ss/word-SECRET"
URL = f"http://127.0.0.1:8081/bot{TOKEN}/getMe"


@pytest.fixture(autouse=True)
def _restore_logging():
    """setup_logging changes the process's root logger: put it back for the next tests."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in (*OURS, *QUIET)}
    yield
    for handler in root.handlers:
        handler.filters = [f for f in handler.filters if not isinstance(f, Redactor | Outage)]
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)
    logging.captureWarnings(False)


def test_a_secret_is_cleaned_from_any_logger_and_its_arguments(capsys) -> None:
    setup_logging(logging.INFO, [TOKEN, PASSWORD, None, ""])
    logging.getLogger("httpx").warning("HTTP Request: POST %s", URL)
    logging.getLogger("bot.notifier").error("connected with %r", {"password": PASSWORD})
    logging.getLogger("telegram.ext").warning(f"literal {TOKEN} in the message")
    err = capsys.readouterr().err
    assert TOKEN not in err and PASSWORD not in err
    assert "POST http://127.0.0.1:8081/bot***/getMe" in err
    assert "{'password': '***'}" in err and "literal *** in the message" in err


def test_a_secret_in_an_exception_and_its_traceback_is_cleaned(capsys) -> None:
    setup_logging(logging.WARNING, [TOKEN])

    def fetch() -> None:
        try:
            raise OSError(f"connection refused: {URL}")
        except OSError as exc:
            raise RuntimeError(f"Telegram unreachable at {URL}") from exc

    try:
        fetch()
    except RuntimeError:
        logging.getLogger("telegram.ext.Updater").exception("polling failed for %s", URL)
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "OSError: connection refused: http://127.0.0.1:8081/bot***/getMe" in err
    assert "RuntimeError: Telegram unreachable at http://127.0.0.1:8081/bot***/getMe" in err
    assert TOKEN not in err


def test_url_encoded_secrets_and_warnings_are_cleaned(capsys) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        setup_logging(logging.WARNING, [TOKEN, PASSWORD])
        logging.getLogger("aiohttp.access").warning("GET /x?token=4242%3Atg-token-SECRET")
        logging.getLogger("storage").warning("url postgresql://u:p%40ss%2Fword-SECRET@db/shop")
        warnings.warn(f"unclosed client for {URL}", UserWarning, stacklevel=1)
        logging.captureWarnings(False)
    err = capsys.readouterr().err
    assert "SECRET" not in err
    assert err.count("***") == 3


def test_a_message_whose_arguments_do_not_fit_is_still_written_cleaned(capsys) -> None:
    setup_logging(logging.WARNING, [TOKEN])
    logging.getLogger("discord").warning("%s and %s", TOKEN)
    err = capsys.readouterr().err
    assert "and %s" in err and "***" in err and TOKEN not in err


def test_libraries_write_requests_only_at_debug(capsys) -> None:
    setup_logging(logging.INFO, [])
    logging.getLogger("httpx").info("HTTP Request: quiet")
    logging.getLogger("bot.webhooks").info("webhook server on ...")
    err = capsys.readouterr().err
    assert "quiet" not in err and "webhook server on" in err
    setup_logging(logging.DEBUG, [])
    logging.getLogger("httpx").info("HTTP Request: loud")
    err = capsys.readouterr().err
    assert "loud" in err and err.count("loud") == 1  # set up twice, written once


def test_every_secret_the_config_holds_is_a_secret_value() -> None:
    values = {name: f"{name}-value" for name in Secrets.model_fields}
    key = base64.b64encode(b"access_webhook_secret-value-32b!").decode()
    values["access_webhook_secret"] = "whsec_" + key  # the format Standard Webhooks wants
    config = make_config(
        "postgresql+asyncpg://shop:db%2Fpassword@127.0.0.1/shop",
        **{name.upper(): value for name, value in values.items()},
    )
    assert set(config.secret_values()) == {*values.values(), key, "db/password"}
    assert make_config("sqlite+aiosqlite:///x.db").secret_values() == []


def test_a_log_level_that_does_not_exist_is_one_line(monkeypatch, capsys) -> None:
    config = str(ROOT / "config.toml")
    assert main(["--config", config, "--log-level", "debug", "config", "check"]) == 0
    capsys.readouterr()
    assert main(["--config", config, "--log-level", "loud", "config", "check"]) == 2
    assert capsys.readouterr().err.startswith("--log-level: not a log level: 'loud'")
    monkeypatch.setenv("PAYBOT_LOG_LEVEL", "chatty")
    assert main(["--config", config, "config", "check"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("PAYBOT_LOG_LEVEL: not a log level: 'chatty'")
    assert len(err.strip().splitlines()) == 1


async def _refused() -> Exception:
    """What a query raises while PostgreSQL is away (nothing listens on the port)."""
    database = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/paybot")
    try:
        async with database.transaction() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 (whatever the driver raises is the point)
        return exc
    finally:
        await database.close()
    raise AssertionError("a database nobody listens for answered")


async def test_a_database_outage_is_one_warning_line_not_a_traceback(capsys) -> None:
    setup_logging(logging.INFO)
    error = await _refused()
    try:
        raise error
    except Exception:
        logging.getLogger("bot.scheduler").exception("sweep failed; the next run tries again")
    try:  # a connection refused elsewhere (a provider, Telegram) keeps its traceback
        raise ConnectionRefusedError(111, "Connect call failed")
    except OSError:
        logging.getLogger("bot.notifier").exception("card edit failed")
    err = capsys.readouterr().err.splitlines()
    assert err[0].endswith(
        "WARNING bot.scheduler: sweep failed; the next run tries again "
        f"(database unreachable: {type(error).__name__}: {str(error).splitlines()[0]})"
    ), err[0]
    assert " ERROR bot.notifier: card edit failed" in err[1]
    assert err[2] == "Traceback (most recent call last):"


async def test_at_debug_a_database_outage_keeps_its_traceback(capsys) -> None:
    setup_logging(logging.DEBUG)
    try:
        raise await _refused()
    except Exception:
        logging.getLogger("bot.scheduler").exception("sweep failed")
    assert "Traceback (most recent call last):" in capsys.readouterr().err
