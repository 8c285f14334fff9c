"""NOWPayments over its REST API (aiohttp, async), behind the provider interface.

Facts: NOWPayments' API reference. Money is read from the JSON text as Decimal and
written back as exact JSON numbers. One client session for the process: its connections are
kept alive and shared, up to `connections` at once. (aiohttp rather than httpx: the
reconciliation poller makes hundreds of reads a second, and httpx 0.28 spent 0.8 to 2.3 ms of
CPU per request against 0.1 ms for aiohttp on this machine, most of it httpcore's pool
checking every connection for each request; see docs/decisions.md.) 5xx answers and network
errors are retried with backoff and jitter; 4xx never are. Provider errors become
`ProviderError`s with a customer-facing code (below_minimum, coin_unavailable, provider_down)
and one operator log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp

from tools.catalog import Coin
from tools.clock import Clock
from tools.errors import ProviderError
from tools.providers import ipn_signature
from tools.providers.base import Order, ProviderEvent, ProviderPayment, WebhookRejected

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "x-nowpayments-sig"


MAX_AMOUNT = Decimal("1e15")


def _decimal(value: Any) -> Decimal | None:
    """An amount as the provider wrote it; None when absent. Nonsense (negative, infinite,
    absurdly large or small) raises ValueError: a signed body that holds it is a 400."""
    if value is None or value == "":
        return None
    try:
        result = Decimal(str(value))
    except ArithmeticError:
        raise ValueError(f"not an amount: {value!r}") from None
    if not result.is_finite() or result < 0 or result > MAX_AMOUNT:
        raise ValueError(f"amount out of range: {value!r}")
    if result and result.adjusted() < -30:
        raise ValueError(f"amount out of range: {value!r}")
    return result


def _short(value: Any, limit: int = 20) -> str | None:
    if value in (None, ""):
        return None
    text = str(value)
    if len(text) > limit:
        raise ValueError(f"value too long: {text[:30]!r}")
    return text


def _json_body(data: Mapping[str, Any]) -> bytes:
    """JSON with Decimals written as exact number tokens (json.dumps cannot do that)."""
    parts = []
    for key, value in data.items():
        token = format(value, "f") if isinstance(value, Decimal) else json.dumps(value)
        parts.append(f"{json.dumps(key)}:{token}")
    return ("{" + ",".join(parts) + "}").encode()


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # no zone given: UTC


def parse_event(data: Mapping[str, Any], raw: str = "") -> ProviderEvent:
    """A payment object (IPN body or GET /payment/{id}) as a provider event."""
    fee = data.get("fee") if isinstance(data.get("fee"), Mapping) else {}
    fees = {
        name: amount
        for name, key in (
            ("deposit", "depositFee"),
            ("withdrawal", "withdrawalFee"),
            ("service", "serviceFee"),
        )
        if (amount := _decimal(fee.get(key))) is not None
    }
    parent = data.get("parent_payment_id")
    return ProviderEvent(
        provider_payment_id=_short(data["payment_id"], 64) or "",
        status=_short(data["payment_status"], 40) or "",
        actually_paid=_decimal(data.get("actually_paid")) or Decimal(0),
        outcome_amount=_decimal(data.get("outcome_amount")),
        outcome_currency=_short(data.get("outcome_currency")),
        fees=fees,
        fee_currency=_short(fee.get("currency")),
        parent_payment_id=_short(parent, 64) if parent not in (None, "", 0) else None,
        raw=raw,
    )


class _TTLCache:
    def __init__(self, clock: Clock, seconds: float) -> None:
        self._clock = clock
        self._seconds = seconds
        self._items: dict[object, tuple[datetime, object]] = {}

    def get(self, key: object) -> object | None:
        hit = self._items.get(key)
        if hit and (self._clock() - hit[0]).total_seconds() < self._seconds:
            return hit[1]
        return None

    def put(self, key: object, value: object) -> None:
        self._items[key] = (self._clock(), value)


class NowPaymentsProvider:
    name = "nowpayments"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        ipn_secret: str,
        callback_url: str,
        clock: Clock,
        codes: Mapping[str, str],
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        cache_seconds: float = 60.0,
        connections: int = 100,
    ) -> None:
        self._base = base_url.rstrip("/") + "/"
        self._headers = {"x-api-key": api_key, "accept": "application/json"}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._connections = connections
        self._http: aiohttp.ClientSession | None = None  # made in the loop that uses it
        self._ipn_secret = ipn_secret
        self._callback_url = callback_url
        self._codes = dict(codes)  # every coin of ours → NOWPayments' ticker
        self._retries = retries
        self._backoff = backoff
        self._cache = _TTLCache(clock, cache_seconds)

    def code(self, coin: Coin) -> str:
        """NOWPayments' ticker for one of our coins (`pol` → `maticmainnet`)."""
        return self._codes.get(coin.code, coin.code)

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                headers=self._headers,
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self._connections),
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        content = _json_body(body) if body is not None else None
        headers = {"content-type": "application/json"} if content else None
        # A create is not idempotent: retry it only when the request surely never arrived.
        safe = method == "GET"
        url = self._base + path.lstrip("/")
        for attempt in range(self._retries + 1):
            try:
                async with self._session().request(
                    method, url, params=params, data=content, headers=headers
                ) as response:
                    status, answer = response.status, await response.read()
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                problem = f"cannot connect: {exc!r}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = f"network error: {exc!r}"
                if not safe:
                    break
            else:
                if status < 400:
                    try:
                        return json.loads(answer, parse_float=Decimal)
                    except ValueError:
                        problem = "answer is not JSON"
                        break
                if status < 500:
                    raise self._client_error(path, status, answer)
                problem = f"HTTP {status}"
                if not safe:
                    break
            if attempt < self._retries:
                delay = self._backoff * 2**attempt + random.uniform(0, self._backoff)
                log.warning("NOWPayments %s %s: %s; retry in %.2fs", method, path, problem, delay)
                await asyncio.sleep(delay)
        log.error(
            "NOWPayments %s %s failed after %s tries: %s", method, path, self._retries + 1, problem
        )
        raise ProviderError(
            "provider_down", "The payment provider is not reachable.", detail=problem
        )

    def _client_error(self, path: str, status: int, answer: bytes) -> ProviderError:
        try:
            data = json.loads(answer)
        except ValueError:
            data = {}
        code = str(data.get("code", "")) if isinstance(data, dict) else ""
        raw = answer[:200].decode("utf-8", "replace")
        message = str(data.get("message", "")) if isinstance(data, dict) else raw
        text = f"{code} {message}".lower()
        log.error("NOWPayments %s answered %s: %s %s", path, status, code, message)
        if status in (401, 403):
            return ProviderError("provider_down", "The payment provider refused our API key.")
        if status == 429:
            return ProviderError("provider_down", "The payment provider is busy.")
        if "minimal" in text or "too small" in text or "less than" in text:
            return ProviderError("below_minimum", message or "amount under the minimum")
        if "currenc" in text and any(
            w in text for w in ("unavailable", "not supported", "not found", "disabled")
        ):
            return ProviderError("coin_unavailable", message or "currency unavailable")
        return ProviderError("provider_error", message or f"HTTP {status}")

    async def status(self) -> bool:
        data = await self._call("GET", "status")
        return isinstance(data, dict) and str(data.get("message", "")).upper() == "OK"

    async def currencies(self) -> list[str]:
        """Codes of OUR coins that NOWPayments offers right now (cached briefly)."""
        cached = self._cache.get("currencies")
        if cached is None:
            data = await self._call("GET", "currencies")
            cached = {str(c).lower() for c in data.get("currencies", [])}
            self._cache.put("currencies", cached)
        return sorted(ours for ours, theirs in self._codes.items() if theirs in cached)

    async def min_amount(self, coin: Coin) -> Decimal:
        key = ("min", coin.code)
        cached = self._cache.get(key)
        if cached is None:
            code = self.code(coin)
            data = await self._call(
                "GET", "min-amount", params={"currency_from": code, "currency_to": code}
            )
            cached = _decimal(data.get("min_amount")) or Decimal(0)
            self._cache.put(key, cached)
        return cached  # type: ignore[return-value]

    async def estimate(self, price: Decimal, currency: str, coin: Coin) -> Decimal:
        key = ("estimate", format(price, "f"), currency.lower(), coin.code)
        cached = self._cache.get(key)
        if cached is None:
            data = await self._call(
                "GET",
                "estimate",
                params={
                    "amount": format(price, "f"),
                    "currency_from": currency.lower(),
                    "currency_to": self.code(coin),
                },
            )
            cached = _decimal(data.get("estimated_amount"))
            if cached is None:
                raise ProviderError("coin_unavailable", "no estimate", coin=coin.code)
            self._cache.put(key, cached)
        return cached  # type: ignore[return-value]

    async def create_payment(self, order: Order) -> ProviderPayment:
        coin = order.coin
        try:
            data = await self._call(
                "POST",
                "payment",
                body={
                    "price_amount": order.price_amount,
                    "price_currency": order.price_currency.lower(),
                    "pay_currency": self.code(coin),
                    "ipn_callback_url": self._callback_url,
                    "order_id": order.order_id.encode("ascii", "replace").decode(),
                    "order_description": order.description.encode("ascii", "replace").decode(),
                },
            )
        except ProviderError as exc:
            if exc.code == "below_minimum":
                minimum = await self.min_amount(coin)
                raise ProviderError(
                    "below_minimum", str(exc), minimum=minimum, coin=coin.code
                ) from None
            if exc.code == "coin_unavailable":
                raise ProviderError("coin_unavailable", str(exc), coin=coin.code) from None
            raise
        amount = _decimal(data.get("pay_amount"))
        if not data.get("payment_id") or not data.get("pay_address") or not amount:
            log.error("NOWPayments created a payment without id, address or amount: %s", data)
            raise ProviderError("provider_down", "incomplete payment from the provider")
        return ProviderPayment(
            provider_payment_id=str(data["payment_id"]),
            pay_address=str(data["pay_address"]),
            pay_amount=amount,
            payin_extra_id=str(data["payin_extra_id"]) if data.get("payin_extra_id") else None,
            expires_at=_when(data.get("expiration_estimate_date")),
        )

    async def get_payment(self, provider_payment_id: str) -> ProviderEvent:
        data = await self._call("GET", f"payment/{provider_payment_id}")
        if not isinstance(data, dict) or "payment_status" not in data:
            raise ProviderError("provider_down", "unexpected payment answer")
        data.setdefault("payment_id", provider_payment_id)
        try:
            return parse_event(data)
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderError("provider_down", f"unusable payment answer: {exc}") from None

    def precheck(self, headers: Mapping[str, str]) -> None:
        """Refuse (401) a webhook whose `x-nowpayments-sig` is missing or not 128 hex digits,
        from its headers alone: the body need not even be read."""
        if not ipn_signature.well_formed(_signature(headers)):
            raise WebhookRejected(401, "missing or malformed signature")

    def verify_and_parse_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        """Check `x-nowpayments-sig` over the canonical body first, then read the event from
        exactly what was signed (the canonical form), so unsigned bytes never count. CPU-bound
        for a large body: the webhook server calls it in a worker thread."""
        self.precheck(headers)
        try:
            signed = ipn_signature.canonical_json(body)  # once: checked, then read
        except ValueError:
            raise WebhookRejected(400, "body is not a JSON object") from None
        if not ipn_signature.signs(signed, _signature(headers), self._ipn_secret):
            raise WebhookRejected(401, "missing or bad signature")
        try:
            data = json.loads(signed, parse_float=Decimal)
            return parse_event(data, raw=signed.decode("utf-8"))
        except (ValueError, KeyError, TypeError):
            raise WebhookRejected(400, "payment_id and payment_status are required") from None


def _signature(headers: Mapping[str, str]) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER), None)
