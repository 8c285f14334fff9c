"""A paid plan gives a Discord role, end to end: the whole app on discord.py against the fake
Discord, which refuses role changes as Discord does (Manage Roles, the role hierarchy)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import discord
import pytest
from sqlalchemy import func, select

from bot.adapters.discord import from_config
from bot.app import App
from storage.models import AuditEntry, Payment
from tests.conftest import ManualClock
from tests.e2e.test_discord import GUILD, USER, _buy_in_guild, discord_config
from tests.e2e.test_telegram_access_flow import settle
from tests.fakes.discord_server import FakeDiscord
from tests.helpers import count_rows
from tools.providers.base import ProviderEvent


@pytest.fixture
async def fake(monkeypatch) -> AsyncIterator[FakeDiscord]:
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)  # restored after
    server = FakeDiscord()
    await server.start()
    server.add_guild(GUILD, "Shop")
    server.edit_role(GUILD, server.bot_role(GUILD), position=5)
    server.add_member(GUILD, USER, "alice")
    yield server
    await server.stop()


async def start(db_url: str, fake: FakeDiscord, role: int) -> tuple[App, ManualClock]:
    config = discord_config(db_url, fake, PLANS__PRO__ACCESS__DISCORD_ROLES=f'["{GUILD}:{role}"]')
    clock = ManualClock()
    app = App(config, adapters=[from_config(config)], clock=clock)
    await app.start(background=False)
    return app, clock


async def pay(app: App, pid: int) -> None:
    async with app.db.sessions() as session:
        p = await session.get(Payment, pid)
    await app.events.apply_event(
        ProviderEvent(p.provider_payment_id, "finished", p.pay_amount), "ipn"
    )


async def test_buy_gives_the_role_and_the_end_takes_it(db_url, fake) -> None:
    vip = fake.create_role(GUILD, "VIP", position=2)
    app, clock = await start(db_url, fake, vip)
    try:
        _, pid = await _buy_in_guild(fake)
        await pay(app, pid)
        await settle(app, clock)
        assert fake.member_roles(GUILD, USER) == {vip}
        clock.advance(30 * 86400 + 23 * 3600)  # over, but inside the grace period
        await settle(app, clock)
        assert fake.member_roles(GUILD, USER) == {vip}
        clock.advance(2 * 3600)
        await settle(app, clock)
        assert fake.member_roles(GUILD, USER) == set()
    finally:
        await app.stop()


async def test_a_role_above_the_bot_alerts_then_is_given_once_fixed(db_url, fake) -> None:
    vip = fake.create_role(GUILD, "VIP", position=9)  # above the bot's role (5)
    app, clock = await start(db_url, fake, vip)
    try:
        _, pid = await _buy_in_guild(fake)
        await pay(app, pid)
        await settle(app, clock)
        assert fake.member_roles(GUILD, USER) == set()
        async with app.db.sessions() as session:
            alert = await session.scalar(
                select(AuditEntry).where(AuditEntry.action == "alert.access_refused")
            )
        assert alert is not None and "above" in alert.detail["fix"]
        fake.edit_role(GUILD, fake.bot_role(GUILD), position=10)  # the owner drags it up
        clock.advance(600)
        await settle(app, clock)
        assert fake.member_roles(GUILD, USER) == {vip}
        alerts = await count_rows(app, AuditEntry, AuditEntry.action == "alert.access_refused")
        assert alerts == 1
    finally:
        await app.stop()


async def test_a_renewal_in_the_grace_period_keeps_the_role_and_a_revoke_takes_it(
    db_url, fake
) -> None:
    vip = fake.create_role(GUILD, "VIP", position=2)
    app, clock = await start(db_url, fake, vip)
    try:
        _, pid = await _buy_in_guild(fake)
        await pay(app, pid)
        await settle(app, clock)
        clock.advance(30 * 86400 + 12 * 3600)  # over, inside the grace period
        seen = len(fake.messages)
        await _buy_in_guild(fake)
        await fake.wait_for(lambda m: m in fake.messages[seen:] and m["embeds"])
        async with app.db.sessions() as session:
            renewal = await session.scalar(select(func.max(Payment.id)))
        assert renewal != pid
        await pay(app, renewal)
        await settle(app, clock)
        clock.advance(13 * 3600)  # past the first period's grace: the renewal holds
        await settle(app, clock)
        assert fake.member_roles(GUILD, USER) == {vip}
        removals = [c for c in fake.role_changes if c["method"] == "DELETE"]
        assert removals == []
        await app.desk.revoke("admin", f"discord:{USER}")
        await settle(app, clock)
        assert fake.member_roles(GUILD, USER) == set()
    finally:
        await app.stop()
