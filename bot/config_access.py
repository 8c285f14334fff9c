"""Configuration of what a paid plan opens (issue 15): `[access]` and `[plans.<code>.access]`.

Kept apart from `bot/config.py`, which includes these sections and checks the secret."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from tools.access.webhook_events import secret_key

SECRET_ENV = "PAYBOT_ACCESS_WEBHOOK_SECRET"
ROLE = re.compile(r"[0-9]{1,20}:[0-9]{1,20}")  # "<guild id>:<role id>", Discord snowflakes


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AccessConfig(_Section):
    """How long access outlives a plan, and where the shop's own service hears about it."""

    grace_hours: StrictInt = Field(default=24, ge=0)  # after a plan ends, before access goes
    webhook_url: str | None = None  # signed events for plans with `webhook = true`
    sync_seconds: StrictInt = Field(default=60, gt=0)  # how often due access changes are done

    @field_validator("webhook_url")
    @classmethod
    def _reachable_safely(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            url = urlsplit(value)
            host = url.hostname or ""
            url.port  # noqa: B018 (a port that is not a number raises here)
        except ValueError:
            raise ValueError("not a URL (e.g. https://shop.example/hooks/paybot)") from None
        if url.scheme not in ("http", "https") or not host or value != value.strip():
            raise ValueError("not a URL (e.g. https://shop.example/hooks/paybot)")
        if url.username is not None or url.password is not None:
            raise ValueError("must not hold a user or password (events are signed instead)")
        if url.scheme == "http" and not _loopback(host):
            raise ValueError("must be https (http only to this machine: 127.0.0.1, localhost)")
        return value


class PlanAccessConfig(_Section):
    """What one plan opens while it runs (and `grace_hours` longer)."""

    telegram_chats: list[StrictInt] = []  # channel and group ids, e.g. -1001234567890
    discord_roles: list[str] = []  # "<guild id>:<role id>"
    webhook: StrictBool = False  # tell the shop's own service ([access] webhook_url)

    @field_validator("telegram_chats")
    @classmethod
    def _distinct_chats(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("chat ids must not repeat")
        return value

    @field_validator("discord_roles")
    @classmethod
    def _guild_and_role(cls, value: list[str]) -> list[str]:
        for role in value:
            if not ROLE.fullmatch(role):
                raise ValueError(f"{role!r}: use '<guild id>:<role id>' (digits only)")
        if len(set(value)) != len(value):
            raise ValueError("roles must not repeat")
        return value

    @property
    def roles(self) -> list[tuple[int, int]]:
        """`discord_roles` as (guild id, role id) pairs."""
        return [(int(g), int(r)) for g, r in (role.split(":") for role in self.discord_roles)]

    @property
    def empty(self) -> bool:
        """Nothing to open: no chat, no role, no webhook."""
        return not (self.telegram_chats or self.discord_roles or self.webhook)


def check_access(access: AccessConfig, plans: dict, secret: str | None) -> None:
    """The checks across sections: a plan with `webhook = true` needs the URL and the secret;
    the secret, when set, must look like one (the message never shows it)."""
    if secret is not None:
        try:
            secret_key(secret)
        except ValueError as exc:
            raise ValueError(f"{SECRET_ENV} {exc}") from None
    told = [code for code, plan in plans.items() if plan.access.webhook]
    if not told:
        return
    if access.webhook_url is None:
        raise ValueError(f"plans.{told[0]}.access.webhook: [access] webhook_url is not set")
    if secret is None:
        raise ValueError(f"{SECRET_ENV} is not set (plans.{told[0]}.access.webhook is true)")
