"""From the configuration to the access capability (`tools.access`)."""

from __future__ import annotations

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


async def check_rights(catalog: AccessCatalog, adapters: Mapping[str, Any]) -> list[str]:
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
    for line in problems:
        log.warning("access: %s", line)
    return problems


def shop_service(config: Config) -> dict[str, Any]:
    """The relay's `webhook` platform when the shop's service is configured, else none."""
    url, secret = config.access.webhook_url, config.secrets.access_webhook_secret
    if url is None or secret is None:
        return {}
    client = new_client()
    return {"webhook": ShopService(AccessWebhook(url, secret, client), client)}
