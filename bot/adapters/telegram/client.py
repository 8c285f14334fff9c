"""The HTTP client python-telegram-bot talks to the Bot API through: aiohttp, under PTB's
`BaseRequest` interface (PTB's docs: "can be implemented via different asyncio HTTP
libraries"), made strict about what the Bot API answers.

Why not PTB's default (`HTTPXRequest`): the answers to customers are most of a worker's work,
and httpx with httpcore spent about a third of the worker's CPU on them (its pure-Python HTTP
parsing and pool bookkeeping, `benchmarks/commands_rate.py` under py-spy); aiohttp, which the
worker already runs for its webhooks, parses in C. The requests are the same: a POST whose
body is form-encoded with PTB's JSON-encoded values, multipart once a file goes up.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.request import BaseRequest, RequestData

EXCERPT = 120  # characters of a malformed answer quoted in the error
TOKEN_IN_URL = re.compile(r"/bot[^/\s]+")  # a Bot API URL's path starts with the token


class AiohttpRequest(BaseRequest):
    """PTB's `BaseRequest` on one `aiohttp.ClientSession` with at most `connection_pool_size`
    connections, and PTB's own default timeouts (5 s to read, write, connect; 1 s to wait for
    a free connection; 20 s to write a file)."""

    __slots__ = ("_session", "_size", "_timeouts", "_media_write")

    def __init__(
        self,
        connection_pool_size: int = 1,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._size = connection_pool_size
        self._timeouts = (read_timeout, write_timeout, connect_timeout, pool_timeout)
        self._media_write = media_write_timeout

    @property
    def read_timeout(self) -> float | None:
        return self._timeouts[0]

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._size)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT}
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    def _timeout(self, read, write, connect, pool, files: bool) -> aiohttp.ClientTimeout:
        """PTB's four timeouts as aiohttp counts them: waiting for a free connection is part
        of aiohttp's `connect`; writing the request is bounded by the whole request's time."""
        default_read, default_write, default_connect, default_pool = self._timeouts
        read = default_read if isinstance(read, DefaultValue) else read
        write = (
            (self._media_write if files else default_write)
            if isinstance(write, DefaultValue)
            else write
        )
        connect = default_connect if isinstance(connect, DefaultValue) else connect
        pool = default_pool if isinstance(pool, DefaultValue) else pool
        waits = [connect, pool, write, read]
        total = None if None in waits else sum(waits)  # type: ignore[arg-type]
        to_connect = None if connect is None or pool is None else connect + pool
        return aiohttp.ClientTimeout(
            total=total, connect=to_connect, sock_connect=connect, sock_read=read
        )

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout=BaseRequest.DEFAULT_NONE,
        write_timeout=BaseRequest.DEFAULT_NONE,
        connect_timeout=BaseRequest.DEFAULT_NONE,
        pool_timeout=BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("this AiohttpRequest is not initialized")
        files = request_data.multipart_data if request_data else None
        fields = request_data.json_parameters if request_data else None
        body: aiohttp.FormData | dict[str, str] | None = fields
        if files:
            body = aiohttp.FormData(fields or {})
            for name, (filename, content, mime) in files.items():  # PTB's UploadFileDict
                body.add_field(name, content, filename=filename, content_type=mime)
        timeout = self._timeout(
            read_timeout, write_timeout, connect_timeout, pool_timeout, bool(files)
        )
        try:
            async with self._session.request(method, url, data=body, timeout=timeout) as res:
                return res.status, await res.read()
        except (TimeoutError, aiohttp.ServerTimeoutError) as err:
            raise TimedOut from err
        except aiohttp.ClientError as err:  # never the URL's token in what is logged
            said = TOKEN_IN_URL.sub("/bot<token>", str(err))
            raise NetworkError(f"aiohttp.{type(err).__name__}: {said}") from err


class CheckedRequest(AiohttpRequest):
    """The client above, which also refuses answers that are not the Bot API's envelope.

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
