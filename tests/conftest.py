"""Shared fixtures: a database per test (SQLite, and PostgreSQL when configured), a clock
that only moves when told, and the app wired to the fake adapter."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from bot.adapters.fake import FakeAdapter
from bot.app import App
from bot.config import Config, load_config

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("PAYBOT_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


class ManualClock:
    """Time for tests: starts at a fixed moment and moves only with `advance()`."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 21, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


async def _fresh_postgres(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
        await conn.exec_driver_sql("CREATE SCHEMA public")
    await engine.dispose()


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        await _fresh_postgres(PG_URL)
        return PG_URL
    return f"sqlite+aiosqlite:///{tmp_path / 'paybot.db'}"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def make_config(db_url: str, **overrides: str) -> Config:
    environ = {"PAYBOT_DATABASE__URL": db_url}
    environ.update({f"PAYBOT_{k.upper()}": v for k, v in overrides.items()})
    return load_config(ROOT / "config.toml", environ)


@pytest.fixture
def config(db_url: str) -> Config:
    return make_config(db_url)


@pytest.fixture
def fake() -> FakeAdapter:
    return FakeAdapter()


@pytest.fixture
async def app(config: Config, fake: FakeAdapter, clock: ManualClock) -> AsyncIterator[App]:
    """The whole app on the fake adapter; tests drive the sweeper and relay themselves."""
    application = App(config, adapters=[fake], clock=clock)
    await application.start(background=False)
    yield application
    await application.stop()


@pytest.fixture
async def workers(
    config: Config, fake: FakeAdapter, clock: ManualClock
) -> AsyncIterator[tuple[App, App]]:
    """Two apps on one database, as two worker processes would be (the money races)."""
    first = App(config, adapters=[fake], clock=clock)
    await first.start(background=False)
    second = App(config, adapters=[FakeAdapter()], clock=clock)
    await second.start(background=False)
    yield first, second
    await second.stop()
    await first.stop()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
async def nowpayments():
    """The fake NOWPayments API on a local port."""
    from tests.fakes.nowpayments_server import FakeNowPayments

    server = FakeNowPayments()
    await server.start()
    yield server
    await server.stop()


def nowpayments_config(db_url: str, api_url: str, port: int, **overrides: str) -> Config:
    return make_config(
        db_url,
        PROVIDER__NAME="nowpayments",
        PROVIDER__NOWPAYMENTS__BASE_URL=api_url,
        PROVIDER__NOWPAYMENTS__RETRIES="2",
        PROVIDER__NOWPAYMENTS__BACKOFF_SECONDS="0.01",
        WEBHOOKS__PORT=str(port),
        WEBHOOKS__PUBLIC_URL=f"http://127.0.0.1:{port}",
        NOWPAYMENTS_API_KEY="test-api-key",
        NOWPAYMENTS_IPN_SECRET="test-ipn-secret",
        **overrides,
    )


@pytest.fixture
async def np_app(db_url: str, nowpayments, fake: FakeAdapter, clock: ManualClock):
    """The app selling through the fake NOWPayments, its webhook server on a local port."""
    port = free_port()
    config = nowpayments_config(db_url, nowpayments.url, port)
    application = App(config, adapters=[fake], clock=clock)
    await application.start(background=False)
    await application.webhooks.start()
    yield application
    await application.stop()


OPENAI_KEY = "sk-test-0123456789abcdef"


@pytest.fixture
async def model_server():
    """The fake OpenAI-compatible endpoint on a local port, expecting OPENAI_KEY."""
    from tests.fakes.openai_server import FakeOpenAI

    server = FakeOpenAI(api_key=OPENAI_KEY)
    await server.start()
    yield server
    await server.stop()


def hosted_config(db_url: str, base_url: str, **overrides: str) -> Config:
    """The app's config with `[agent] model` pointing at an OpenAI-compatible endpoint."""
    settings = {
        "AGENT__MODEL": "openai:test-model",
        "AGENT__BASE_URL": base_url,
        "AGENT__TIMEOUT_SECONDS": "3",  # generous: a loaded machine must not time out
        "AGENT__MAX_RETRIES": "0",
        "OPENAI_API_KEY": OPENAI_KEY,
    }
    return make_config(db_url, **(settings | overrides))


@pytest.fixture
async def hosted_app(db_url: str, model_server, fake: FakeAdapter, clock: ManualClock):
    """The app on the fake adapter, its agent backed by the fake model server."""
    application = App(hosted_config(db_url, model_server.url), adapters=[fake], clock=clock)
    await application.start(background=False)
    yield application
    await application.stop()
