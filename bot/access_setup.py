"""From the configuration to the access capability (`tools.access`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from bot.access_effects import ShopService
from bot.access_webhook import AccessWebhook, new_client
from bot.adapters.base import DeliveryError
from bot.config import Config
from tools.access.resources import AccessCatalog, PlanAccess

log = logging.getLogger(__name__)


def access_catalog(config: Config) -> AccessCatalog:
    plans = {
        code: PlanAccess(
            tuple(plan.access.telegram_chats),
            tuple(plan.access.discord_roles),
            plan.access.webhook,
        )
        for code, plan in config.plans.items()
    }
    return AccessCatalog(plans, timedelta(hours=config.access.grace_hours))


async def check_rights(
    catalog: AccessCatalog, adapters: Mapping[str, Any], *, warn: bool = True
) -> list[str]:
    """At start-up: one warning line per configured chat or role the bot cannot manage
    (the sync keeps retrying what was refused, so the shop still starts)."""
    problems: list[str] = []
    checks = [
        ("telegram", "missing_rights", "Telegram chat", chat, (chat,)) for chat in catalog.chats()
    ] + [
        ("discord", "missing_permissions", "Discord role", role, tuple(role.split(":", 1)))
        for role in catalog.roles()
    ]
    for platform, method, what, ref, args in checks:
        check = getattr(adapters.get(platform), method, None)
        if check is None:
            continue
        try:
            missing = await check(*args)
        except DeliveryError as exc:
            missing = [f"could not be checked ({exc})"]
        if missing:
            problems.append(f"{what} {ref}: {', '.join(missing)}")
    for line in problems if warn else ():
        log.warning("access: %s", line)
    return problems


def shop_service(config: Config) -> dict[str, Any]:
    """The relay's `webhook` platform when the shop's service is configured, else none."""
    url, secret = config.access.webhook_url, config.secrets.access_webhook_secret
    if url is None or secret is None:
        return {}
    client = new_client()
    return {"webhook": ShopService(AccessWebhook(url, secret, client), client)}


async def rights_report(config: Config, timeout: float = 20.0) -> list[str]:
    """`paybot config check`: asks Telegram and Discord what the bot lacks in each configured
    chat and role (one line each); says so when it cannot ask."""
    catalog = access_catalog(config)
    wanted = {
        "telegram": bool(catalog.chats()) and config.telegram.enabled,
        "discord": bool(catalog.roles()) and config.discord.enabled,
    }
    if not any(wanted.values()):
        return []
    adapters: dict[str, Any] = {}
    try:
        async with asyncio.timeout(timeout):
            if wanted["telegram"] and config.secrets.telegram_token:
                from bot.adapters.telegram import from_config as telegram

                adapters["telegram"] = telegram(config)
                await adapters["telegram"].app.bot.initialize()
            if wanted["discord"] and config.secrets.discord_token:
                from bot.adapters.discord import from_config as discord

                adapters["discord"] = discord(config)
                await adapters["discord"].client.login(config.secrets.discord_token)
            problems = await check_rights(catalog, adapters, warn=False)
    except Exception as exc:  # no network, a refused token: say it, never a traceback
        return [f"access: the platforms could not be asked ({type(exc).__name__}: {exc})"]
    finally:
        for name, adapter in adapters.items():
            with contextlib.suppress(Exception):
                if name == "telegram":
                    await adapter.app.bot.shutdown()
                else:
                    await adapter.client.close()
    return [f"access: {line}" for line in problems] or [
        "access: the bot can manage every configured chat and role"
    ]
