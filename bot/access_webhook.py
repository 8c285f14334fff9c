"""Tells the shop's own service about access (issue 15): one signed POST per event.

The event's bytes and id come from the outbox row (`tools/access/webhook_events.py`); this
signs them with the delivery's time and posts them. The relay retries what fails on the
schedule in `webhook_events.retry_delay`. What each answer means (docs/access_webhooks.md):

- 2xx: delivered.
- 410 Gone: the receiver says this endpoint is gone for good: permanent (dead at once, the
  operators are alerted); retrying for days would not change that answer.
- Anything else (network errors, no answer within the timeout, redirects, 5xx, 408, 429 and
  the other 4xx, e.g. a 401 from a receiver whose secret is not set up yet): retried, as the
  Standard Webhooks spec asks, with the receiver's `Retry-After` when it gives one.

Errors name the status or the failure, never the URL (it may hold a token) or the secret.
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime
from email.utils import parsedate_to_datetime

import httpx

from bot.adapters.base import DeliveryError
from tools.access.webhook_events import RETRY_DELAYS, secret_key, sign

TIMEOUT = 10.0  # seconds for one delivery, all in
GONE = 410
MAX_RETRY_AFTER = max(RETRY_DELAYS).total_seconds()  # a receiver cannot park us for longer


def new_client(timeout: float = TIMEOUT) -> httpx.AsyncClient:
    """The HTTP client for access webhooks: no redirects followed (the spec treats them as
    failures), bounded waits."""
    return httpx.AsyncClient(timeout=timeout, follow_redirects=False)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` header (seconds or an HTTP date), at most
    `MAX_RETRY_AFTER`; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = int(value)
    else:
        try:
            seconds = math.ceil((parsedate_to_datetime(value) - now).total_seconds())
        except (TypeError, ValueError, IndexError):
            return None
    return min(max(seconds, 0), MAX_RETRY_AFTER)


class AccessWebhook:
    """Posts access events to `url`, signed with `secret` (`whsec_...`)."""

    def __init__(
        self, url: str, secret: str, client: httpx.AsyncClient, timeout: float = TIMEOUT
    ) -> None:
        secret_key(secret)  # a bad secret fails here, not at the first event
        self.url = url
        self._secret = secret
        self._client = client
        self.timeout = timeout

    def __repr__(self) -> str:
        return "AccessWebhook(...)"

    async def deliver(self, event_id: str, body: bytes, now: datetime) -> None:
        """Send one event, signed with `now` (so a retry days later is signed anew).

        Returns when the receiver answered 2xx; raises `DeliveryError` otherwise
        (`permanent` for 410 Gone, `retry_after` from the receiver's `Retry-After`)."""
        headers = sign(self._secret, event_id, math.floor(now.timestamp()), body)
        headers["content-type"] = "application/json"
        try:
            async with asyncio.timeout(self.timeout):
                async with self._client.stream(
                    "POST", self.url, content=body, headers=headers, follow_redirects=False
                ) as response:
                    status = response.status_code
                    wait = response.headers.get("retry-after")
        except TimeoutError:
            raise DeliveryError(
                f"access webhook: no answer in time ({self.timeout:g} s)"
            ) from None
        except httpx.TimeoutException as exc:
            raise DeliveryError(
                f"access webhook: no answer in time ({type(exc).__name__})"
            ) from None
        except httpx.HTTPError as exc:
            raise DeliveryError(f"access webhook: {type(exc).__name__}") from None
        if 200 <= status < 300:
            return
        if status == GONE:
            raise DeliveryError("access webhook answered 410 Gone", permanent=True)
        raise DeliveryError(
            f"access webhook answered {status}", retry_after=parse_retry_after(wait, now)
        )
