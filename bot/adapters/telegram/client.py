"""PTB's own HTTP client, made strict about what the Bot API answers."""

from __future__ import annotations

import json
from datetime import timedelta

from telegram.error import TelegramError
from telegram.request import HTTPXRequest

EXCERPT = 120  # characters of a malformed answer quoted in the error


class CheckedRequest(HTTPXRequest):
    """PTB's own HTTP client, which also refuses answers that are not the Bot API's envelope.

    Unchecked, an answer that is not JSON (an HTML error page from a proxy) is logged by PTB
    with a traceback, and `{"ok": true}` without a result or a JSON list fails deep inside PTB
    with a KeyError or TypeError. Here each is a `TelegramError` saying what came back.
    """

    @staticmethod
    def parse_json_payload(payload: bytes) -> dict:
        try:
            data = json.loads(payload.decode("utf-8", "replace"))
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise TelegramError(f"the answer is not a JSON object: {_excerpt(payload)}")
        return data

    async def do_request(self, url: str, method: str, *args, **kwargs) -> tuple[int, bytes]:
        code, payload = await super().do_request(url, method, *args, **kwargs)
        if method == "POST" and 200 <= code <= 299:  # a Bot API call (files are GETs)
            data = self.parse_json_payload(payload)
            if data.get("ok") is not True or "result" not in data:
                raise TelegramError(f"the answer has no result: {_excerpt(payload)}")
        return code, payload


def _excerpt(payload: bytes) -> str:
    text = " ".join(payload.decode("utf-8", "replace").split())
    return repr(text if len(text) <= EXCERPT else text[:EXCERPT] + "…")


def seconds(retry_after: int | float | timedelta) -> float:
    """A `RetryAfter.retry_after` in seconds (PTB gives an int or a timedelta)."""
    return (
        retry_after.total_seconds() if isinstance(retry_after, timedelta) else float(retry_after)
    )
