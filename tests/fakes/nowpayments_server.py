"""A fake NOWPayments API on 127.0.0.1: the documented endpoints and shapes, signed IPNs.

It keeps payments in memory, enforces the API key, answers errors the way NOWPayments does
(`{"statusCode", "code", "message"}`), can inject 5xx answers, and plays the chain: `pay()`
moves a payment through its statuses and POSTs a signed IPN for each step to the payment's
`ipn_callback_url` (unless IPN delivery is switched off). Signatures come from
`tools.providers.ipn_signature.sign`, which `tests/test_ipn_signature.py` checks against
NOWPayments' own JavaScript signer run by Node.js.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from decimal import ROUND_UP, Decimal
from typing import Any

import aiohttp
from aiohttp import web

from tools.providers.ipn_signature import sign

RATES = {
    "btc": Decimal(65000),
    "eth": Decimal(3200),
    "ltc": Decimal(85),
    "sol": Decimal(150),
    "maticmainnet": Decimal("0.45"),
    "bnbbsc": Decimal(600),
    "trx": Decimal("0.16"),
    "usdttrc20": Decimal(1),
    "usdterc20": Decimal(1),
    "usdc": Decimal(1),
    "xrp": Decimal("0.55"),
}
MINIMUM_USD = Decimal(20)


def dumps(data: Any) -> str:
    """JSON with Decimal amounts as number tokens, the way a JS service writes them."""

    def encode(value: Any) -> str:
        if isinstance(value, Decimal):
            text = format(value.normalize(), "f")
            return text if "." not in text else text.rstrip("0").rstrip(".")
        if isinstance(value, dict):
            return "{" + ",".join(f"{json.dumps(k)}:{encode(v)}" for k, v in value.items()) + "}"
        if isinstance(value, list):
            return "[" + ",".join(encode(v) for v in value) + "]"
        return json.dumps(value, ensure_ascii=False)

    return encode(data)


@dataclass
class FakePayment:
    payment_id: int
    body: dict[str, Any]
    callback: str | None
    ipn_log: list[int] = field(default_factory=list)


class FakeNowPayments:
    def __init__(self, api_key: str = "test-api-key", ipn_secret: str = "test-ipn-secret") -> None:
        self.api_key = api_key
        self.ipn_secret = ipn_secret
        self.payments: dict[int, FakePayment] = {}
        self.requests: list[tuple[str, str]] = []
        self.fail_next: list[int] = []  # HTTP statuses to answer the next requests with
        self.latency = 0.0  # seconds every answer waits (a provider far away)
        self.ipn_enabled = True
        self.ipn_responses: list[int] = []
        self.offered = set(RATES)
        self.quote_expiry = "2099-01-01T00:00:00.000Z"  # expiration_estimate_date of new ones
        self._ids = itertools.count(5_077_125_051)
        self._runner: web.AppRunner | None = None
        self.url = ""
        app = web.Application()
        app.add_routes(
            [
                web.get("/v1/status", self.status),
                web.get("/v1/currencies", self.currencies),
                web.get("/v1/min-amount", self.min_amount),
                web.get("/v1/estimate", self.estimate),
                web.post("/v1/payment", self.create),
                web.get("/v1/payment/{id}", self.get),
            ]
        )
        app.middlewares.append(self._gate)
        self.app = app

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/v1"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def count(self, path: str) -> int:
        return sum(1 for _, p in self.requests if p == path)

    @web.middleware
    async def _gate(self, request: web.Request, handler):
        self.requests.append((request.method, request.path))
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.fail_next:
            status = self.fail_next.pop(0)
            return self._error(status, "INTERNAL_ERROR", "injected failure")
        if request.headers.get("x-api-key") != self.api_key:
            return self._error(403, "INVALID_API_KEY", "Invalid api key")
        return await handler(request)

    @staticmethod
    def _error(status: int, code: str, message: str) -> web.Response:
        return web.json_response(
            {"statusCode": status, "code": code, "message": message}, status=status
        )

    @staticmethod
    def _json(data: Any, status: int = 200) -> web.Response:
        return web.Response(text=dumps(data), status=status, content_type="application/json")

    async def status(self, request: web.Request) -> web.Response:
        return self._json({"message": "OK"})

    async def currencies(self, request: web.Request) -> web.Response:
        return self._json({"currencies": sorted(self.offered)})

    def _amount(self, usd: Decimal, coin: str) -> Decimal:
        return (usd / RATES[coin]).quantize(Decimal("0.00000001"), rounding=ROUND_UP)

    async def min_amount(self, request: web.Request) -> web.Response:
        coin = request.query.get("currency_from", "")
        if coin not in self.offered:
            return self._error(400, "CURRENCY_UNAVAILABLE", f"Currency {coin} is unavailable")
        return self._json(
            {
                "currency_from": coin,
                "currency_to": request.query["currency_to"],
                "min_amount": self._amount(MINIMUM_USD, coin),
            }
        )

    async def estimate(self, request: web.Request) -> web.Response:
        coin = request.query.get("currency_to", "")
        if coin not in self.offered:
            return self._error(400, "CURRENCY_UNAVAILABLE", f"Currency {coin} is unavailable")
        amount = Decimal(request.query["amount"])
        return self._json(
            {
                "currency_from": request.query["currency_from"],
                "amount_from": amount,
                "currency_to": coin,
                "estimated_amount": self._amount(amount, coin),
            }
        )

    async def create(self, request: web.Request) -> web.Response:
        data = json.loads(await request.read(), parse_float=Decimal)
        coin = data.get("pay_currency")
        if coin not in self.offered:
            return self._error(400, "CURRENCY_UNAVAILABLE", f"Currency {coin} is unavailable")
        price = Decimal(str(data["price_amount"]))
        if price < MINIMUM_USD:
            return self._error(400, "AMOUNT_MINIMAL_ERROR", "amountTo is too small")
        for key in ("order_id", "order_description"):
            assert str(data.get(key, "")).isascii(), f"{key} must be ASCII"
        payment_id = next(self._ids)
        body = {
            "payment_id": str(payment_id),
            "payment_status": "waiting",
            "pay_address": f"bc1qfake{payment_id}",
            "price_amount": price,
            "price_currency": data["price_currency"],
            "pay_amount": self._amount(price, coin),
            "pay_currency": coin,
            "order_id": data.get("order_id"),
            "order_description": data.get("order_description"),
            "purchase_id": str(payment_id + 7),
            "payin_extra_id": "123456789" if coin == "xrp" else None,
            "expiration_estimate_date": self.quote_expiry,
            "created_at": "2026-11-21T12:00:00.000Z",
            "updated_at": "2026-11-21T12:00:00.000Z",
            "actually_paid": 0,
            "outcome_amount": None,
            "outcome_currency": None,
        }
        self.payments[payment_id] = FakePayment(payment_id, body, data.get("ipn_callback_url"))
        return self._json(body, status=201)

    async def get(self, request: web.Request) -> web.Response:
        try:
            payment = self.payments[int(request.match_info["id"])]
        except (KeyError, ValueError):
            return self._error(404, "PAYMENT_NOT_FOUND", "Payment not found")
        return self._json({**payment.body, "payment_id": payment.payment_id})

    # --- playing the chain ---------------------------------------------------------------

    def ipn_body(
        self, remote_id: int, status: str, actually_paid: Decimal, /, **extra: Any
    ) -> bytes:
        """An IPN for a payment; `extra` overrides fields (e.g. payment_id, parent_payment_id)."""
        payment = self.payments[remote_id]
        body = {
            "payment_id": remote_id,
            "parent_payment_id": None,
            "invoice_id": None,
            "payment_status": status,
            "pay_address": payment.body["pay_address"],
            "payin_extra_id": payment.body["payin_extra_id"],
            "price_amount": payment.body["price_amount"],
            "price_currency": payment.body["price_currency"],
            "pay_amount": payment.body["pay_amount"],
            "actually_paid": actually_paid,
            "actually_paid_at_fiat": 0,
            "pay_currency": payment.body["pay_currency"],
            "order_id": payment.body["order_id"],
            "order_description": payment.body["order_description"],
            "purchase_id": payment.body["purchase_id"],
            "outcome_amount": None,
            "outcome_currency": None,
            "payment_extra_ids": None,
            "fee": {
                "currency": payment.body["pay_currency"],
                "depositFee": 0,
                "withdrawalFee": 0,
                "serviceFee": 0,
            },
        }
        body.update(extra)
        return dumps(body).encode()

    def set_state(self, payment_id: int, status: str, actually_paid: Decimal) -> None:
        self.payments[payment_id].body.update(payment_status=status, actually_paid=actually_paid)

    async def send_ipn(
        self, payment_id: int, body: bytes, *, signature: str | None = None, url: str | None = None
    ) -> int:
        target = url or self.payments[payment_id].callback
        headers = {
            "content-type": "application/json",
            "x-nowpayments-sig": signature or sign(body, self.ipn_secret),
        }
        async with (
            aiohttp.ClientSession() as http,
            http.post(target, data=body, headers=headers) as response,
        ):
            self.ipn_responses.append(response.status)
            return response.status

    async def pay(
        self, payment_id: int, amount: Decimal | None = None, steps: tuple[str, ...] | None = None
    ) -> list[int]:
        """Customer pays `amount` (default: all): walk the statuses and send an IPN each."""
        payment = self.payments[payment_id]
        asked = Decimal(str(payment.body["pay_amount"]))
        paid = asked if amount is None else amount
        if steps is None:
            steps = (
                ("confirming", "confirmed", "sending", "finished")
                if paid >= asked
                else ("confirming", "partially_paid")
            )
        answers = []
        for status in steps:
            extra = {}
            if status == "finished":
                extra = {
                    "outcome_amount": (paid * Decimal("0.995")).quantize(Decimal("1e-8")),
                    "outcome_currency": payment.body["pay_currency"],
                    "fee": {
                        "currency": payment.body["pay_currency"],
                        "depositFee": Decimal("0.00001"),
                        "withdrawalFee": Decimal("0.000005"),
                        "serviceFee": (paid * Decimal("0.005")).quantize(Decimal("1e-8")),
                    },
                }
            self.set_state(payment_id, status, paid)
            payment.body.update({k: v for k, v in extra.items() if k != "fee"})
            if self.ipn_enabled:
                answers.append(
                    await self.send_ipn(
                        payment_id, self.ipn_body(payment_id, status, paid, **extra)
                    )
                )
        return answers
