"""From the configuration to the access capability (`tools.access`)."""

from __future__ import annotations

from datetime import timedelta

from bot.config import Config
from tools.access.resources import AccessCatalog, PlanAccess


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
