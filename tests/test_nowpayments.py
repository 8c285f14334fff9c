"""The NOWPayments provider and its IPN webhook, against the fake NOWPayments API."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import timedelta
from decimal import Decimal

import aiohttp
import pytest
from sqlalchemy import func, select

from storage.models import Activation, AuditEntry, Payment, PaymentEvent
from tests.helpers import buy, settle
from tools.errors import ProviderError
from tools.providers.ipn_signature import sign

SIG = "x-nowpayments-sig"


def _hook(app) -> str:
    return app.config.webhooks.public_url + "/webhooks/nowpayments"


async def _row(app, pid: int) -> Payment:
    async with app.db.sessions() as session:
        return await session.get(Payment, pid)


async def _count(app, model, *where) -> int:
    async with app.db.sessions() as session:
        return (
            await session.execute(select(func.count()).select_from(model).where(*where))
        ).scalar_one()


async def _provider_id(app, pid: int) -> int:
    return int((await _row(app, pid)).provider_payment_id)


# --- the client --------------------------------------------------------------------------


async def test_buy_creates_the_payment_at_nowpayments(np_app, nowpayments, fake) -> None:
    pid = await buy(fake, "/buy pro btc")
    row = await _row(np_app, pid)
    remote = nowpayments.payments[int(row.provider_payment_id)]
    assert remote.callback == _hook(np_app)
    assert remote.body["price_amount"] == Decimal(299) and remote.body["price_currency"] == "usd"
    assert row.pay_amount == Decimal("0.00460000") and row.pay_address.startswith("bc1qfake")
    assert row.provider == "nowpayments" and row.order_id.isascii()
    # the provider's quote expiry is far away: our 15-minute countdown is the deadline
    assert (row.expires_at - row.created_at).total_seconds() == 900


async def test_the_providers_quote_expiry_shortens_the_countdown(np_app, nowpayments, fake):
    nowpayments.quote_expiry = "2026-11-21T12:07:30.000Z"  # the test clock starts at 12:00
    pid = await buy(fake, "/buy pro btc")
    row = await _row(np_app, pid)
    assert (row.expires_at - row.created_at).total_seconds() == 450
    assert row.next_check_at == row.expires_at - timedelta(minutes=5)


async def test_coin_codes_are_mapped_and_currencies_intersected(np_app, nowpayments) -> None:
    nowpayments.offered -= {"xrp"}
    codes = await np_app.provider.currencies()
    assert "pol" in codes and "bnb" in codes and "xrp" not in codes
    pid_pol = np_app.catalog.coin("pol")
    assert np_app.provider.code(pid_pol) == "maticmainnet"


async def test_lists_and_estimates_are_cached(np_app, nowpayments, fake, clock) -> None:
    for _ in range(3):
        await fake.say("/estimate pro eth")
        await fake.say("/currencies")
    assert nowpayments.count("/v1/estimate") == 1
    assert nowpayments.count("/v1/currencies") == 1
    clock.advance(61)
    await fake.say("/estimate pro eth")
    assert nowpayments.count("/v1/estimate") == 2


async def test_5xx_is_retried_and_4xx_is_not(np_app, nowpayments) -> None:
    nowpayments.fail_next = [502, 503]
    assert await np_app.provider.status()
    assert nowpayments.count("/v1/status") == 3
    nowpayments.fail_next = [500, 500, 500]
    with pytest.raises(ProviderError) as err:
        await np_app.provider.status()
    assert err.value.code == "provider_down"
    nowpayments.requests.clear()
    with pytest.raises(ProviderError):
        await np_app.provider.get_payment("404404")
    assert len(nowpayments.requests) == 1  # a 4xx is final


async def test_network_error_is_a_clear_answer(np_app, nowpayments, fake) -> None:
    await nowpayments.stop()
    reply = await fake.say("/buy pro btc")
    assert "not reachable right now" in reply[0].text
    assert await _count(np_app, Payment) == 0


async def test_provider_minimum_and_unavailable_coin(np_app, nowpayments, fake) -> None:
    nowpayments.offered -= {"ltc"}
    reply = await fake.say("/buy pro ltc")
    assert "LTC is temporarily unavailable" in reply[0].text
    from tests.fakes import nowpayments_server

    nowpayments_server.MINIMUM_USD = Decimal(100)
    try:
        reply = await fake.say("/buy starter eth")
    finally:
        nowpayments_server.MINIMUM_USD = Decimal(20)
    assert "under the provider's minimum for ETH: at least 0.03125 ETH" in reply[0].text


async def test_wrong_api_key_is_an_operator_problem(np_app, nowpayments, fake, caplog) -> None:
    nowpayments.api_key = "rotated"
    reply = await fake.say("/buy pro btc")
    assert "not reachable right now" in reply[0].text
    assert "INVALID_API_KEY" in caplog.text


# --- IPNs end to end ---------------------------------------------------------------------


async def test_ipns_move_the_payment_and_reach_the_chat(np_app, nowpayments, fake) -> None:
    pid = await buy(fake, "/buy pro btc")
    answers = await nowpayments.pay(await _provider_id(np_app, pid))
    assert answers == [200, 200, 200, 200]
    row = await _row(np_app, pid)
    assert row.status == "finished" and row.actually_paid == Decimal("0.0046")
    assert row.outcome_amount == Decimal("0.004577") and row.outcome_currency == "btc"
    assert row.fee_deposit == Decimal("0.00001") and row.fee_service == Decimal("0.000023")
    assert await _count(np_app, Activation, Activation.payment_id == pid) == 1
    await settle(np_app, np_app.clock)
    texts = fake.texts()
    assert any(f"#{pid}: we see 0.0046 BTC" in t for t in texts)
    assert any(f"Payment #{pid} is complete" in t for t in texts)


async def test_partial_then_top_up_child_activates_once(np_app, nowpayments, fake) -> None:
    pid = await buy(fake, "/buy pro usdttrc20")
    remote = await _provider_id(np_app, pid)
    await nowpayments.pay(remote, Decimal(200))
    await settle(np_app, np_app.clock)
    partial = [m for m in fake.sent if "received 200 of 299 USDT" in m.text]
    assert partial and "Send 99 USDT more" in partial[0].text and partial[0].image
    # the customer sends the rest to the same address: NOWPayments reports a child payment
    child = 9_999_000_001
    nowpayments.payments[child] = nowpayments.payments[remote]
    for status in ("confirming", "finished"):
        body = nowpayments.ipn_body(
            child, status, Decimal(99), payment_id=child, parent_payment_id=remote
        )
        assert await nowpayments.send_ipn(child, body, url=_hook(np_app)) == 200
        assert await nowpayments.send_ipn(child, body, url=_hook(np_app)) == 200  # replay
    row = await _row(np_app, pid)
    assert row.status == "finished" and row.actually_paid == Decimal(299)
    assert row.topup_paid == Decimal(99)
    assert await _count(np_app, Activation) == 1
    await settle(np_app, np_app.clock)
    assert sum(f"Payment #{pid} is complete" in t for t in fake.texts()) == 1


async def test_refunded_and_failed_offer_a_retry(np_app, nowpayments, fake) -> None:
    for status in ("failed", "refunded"):
        pid = await buy(fake, f"/buy pro {'eth' if status == 'failed' else 'sol'}")
        await nowpayments.pay(await _provider_id(np_app, pid), Decimal(0), steps=(status,))
        assert (await _row(np_app, pid)).status == status
    await settle(np_app, np_app.clock)
    failed = [m for m in fake.sent if "failed" in m.text][-1]
    assert failed.buttons and failed.buttons[0].action.startswith("/retry")
    assert any("was refunded" in t for t in fake.texts())


async def test_late_money_after_expiry(np_app, nowpayments, fake, clock) -> None:
    pid = await buy(fake, "/buy pro btc")
    await settle(np_app, clock, seconds=901, step=60)
    assert (await _row(np_app, pid)).status == "expired"
    await nowpayments.pay(await _provider_id(np_app, pid))
    row = await _row(np_app, pid)
    assert row.status == "finished" and row.late
    assert await _count(np_app, Activation) == 1
    assert await _count(np_app, AuditEntry, AuditEntry.action == "alert.late") == 1


async def test_a_signed_ipn_after_a_cancel_is_late_money(np_app, nowpayments, fake) -> None:
    """NOWPayments cannot cancel a payment (no such endpoint): it still accepts money at the
    address, and its signed IPN makes the cancelled payment a late payment."""
    pid = await buy(fake, "/buy pro btc")
    assert "is cancelled" in (await fake.say(f"/cancel {pid}"))[0].text
    await nowpayments.pay(await _provider_id(np_app, pid))
    row = await _row(np_app, pid)
    assert row.status == "finished" and row.late
    assert await _count(np_app, Activation) == 1
    assert await _count(np_app, AuditEntry, AuditEntry.action == "alert.cancelled_money") == 1


async def test_the_poller_finds_money_for_a_cancelled_payment(np_app, nowpayments, fake, clock):
    nowpayments.ipn_enabled = False
    pid = await buy(fake, "/buy pro btc")
    await fake.say(f"/cancel {pid}")
    await nowpayments.pay(await _provider_id(np_app, pid))
    for _ in range(16):  # the poller reads a cancelled payment like an expired one
        clock.advance(60)
        await np_app.countdown.sweep(clock())
        await np_app.reconciler.poll(clock())
    row = await _row(np_app, pid)
    assert row.status == "finished" and row.late
    assert await _count(np_app, Activation) == 1


async def test_overpayment_records_the_surplus(np_app, nowpayments, fake) -> None:
    pid = await buy(fake, "/buy pro btc")
    await nowpayments.pay(await _provider_id(np_app, pid), Decimal("0.005"))
    row = await _row(np_app, pid)
    assert row.status == "finished" and row.surplus == Decimal("0.0004")
    assert await _count(np_app, AuditEntry, AuditEntry.action == "alert.overpaid") == 1


async def test_unknown_payment_is_200_and_audited(np_app, nowpayments, fake) -> None:
    pid = await buy(fake, "/buy pro btc")
    body = nowpayments.ipn_body(
        await _provider_id(np_app, pid), "finished", Decimal(1), payment_id=123
    )
    assert await nowpayments.send_ipn(0, body, url=_hook(np_app)) == 200
    assert await _count(np_app, AuditEntry, AuditEntry.action == "unknown_payment") == 1


# --- reconciliation ----------------------------------------------------------------------


async def test_reconciliation_finishes_payments_when_every_ipn_is_lost(
    np_app, nowpayments, fake, clock
) -> None:
    nowpayments.ipn_enabled = False
    paid = await buy(fake, "/buy pro btc")
    partial = await buy(fake, "/buy pro eth")
    unpaid = await buy(fake, "/buy pro sol")
    await nowpayments.pay(await _provider_id(np_app, paid))
    await nowpayments.pay(await _provider_id(np_app, partial), Decimal("0.01"))
    assert nowpayments.ipn_responses == []
    for _ in range(12):  # 12 minutes of sweeper and poller ticks
        clock.advance(60)
        await np_app.countdown.sweep(clock())
        await np_app.reconciler.poll(clock())
    assert (await _row(np_app, paid)).status == "finished"
    assert (await _row(np_app, partial)).status == "partially_paid"
    assert (await _row(np_app, unpaid)).status == "waiting"
    assert await _count(np_app, Activation) == 1
    for _ in range(5):
        clock.advance(60)
        await np_app.countdown.sweep(clock())
        await np_app.reconciler.poll(clock())
    assert (await _row(np_app, unpaid)).status == "expired"
    assert await _count(np_app, PaymentEvent, PaymentEvent.source == "poll") >= 2


async def test_a_paid_payment_is_not_expired_when_its_ipn_was_lost(
    np_app, nowpayments, fake, clock
) -> None:
    nowpayments.ipn_enabled = False
    pid = await buy(fake, "/buy pro btc")
    await nowpayments.pay(await _provider_id(np_app, pid))
    clock.advance(901)  # the deadline passes before the poller ever ran
    await np_app.countdown.sweep(clock())
    row = await _row(np_app, pid)
    assert row.status == "finished" and not row.late


async def test_the_poller_never_reads_more_than_its_budget(np_app, nowpayments, fake, clock):
    for coin in ("btc", "eth", "sol"):
        await buy(fake, f"/buy pro {coin}", user=f"u-{coin}")
    np_app.reconciler.per_run = 2
    nowpayments.requests.clear()
    clock.advance(301)
    report = await np_app.reconciler.poll(clock())
    assert report.read == 2
    assert sum(p.startswith("/v1/payment/") for _, p in nowpayments.requests) == 2


# --- webhook robustness ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "body", "headers", "status"),
    [
        ("GET", b"", {}, 405),
        ("POST", b'{"payment_id":1,"payment_status":"finished"}', {}, 401),
        (
            "POST",
            b'{"payment_id":1,"payment_status":"finished"}',
            {"x-nowpayments-sig": "zz" * 64},
            401,
        ),
        (
            "POST",
            b'{"payment_id":1,"payment_status":"finished"}',
            {"x-nowpayments-sig": "a" * 127},
            401,
        ),
        (
            "POST",
            b'{"payment_id":1,"payment_status":"finished"}',
            {"x-nowpayments-sig": "0" * 128},
            401,
        ),
        ("POST", b"x" * (1024 * 1024), {"x-nowpayments-sig": "0" * 128}, 413),
        ("POST", b"[" * 5000 + b"]" * 5000, {"x-nowpayments-sig": "0" * 128}, 400),
        ("POST", b'{"a":"\xff\xfe"}', {"x-nowpayments-sig": "0" * 128}, 400),
        ("POST", b"[1,2,3]", {"x-nowpayments-sig": "0" * 128}, 400),
        ("POST", b"not json", {"x-nowpayments-sig": "0" * 128}, 400),
    ],
)
async def test_bad_webhooks_get_a_4xx_and_change_nothing(np_app, method, body, headers, status):
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, _hook(np_app), data=body, headers=headers) as response,
    ):
        assert response.status == status
    assert await _count(np_app, PaymentEvent) == 0


IPN_CAP = 16 * 1024  # the documented cap on a provider webhook's body (docs/decisions.md)


async def _status_without_the_body(app, length: int, signature: str | None) -> int:
    """POST only the head of an IPN announcing `length` bytes, then wait for the answer
    without ever sending the body (a raw socket, as a flooding client would)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", app.webhooks.bound_port)
    head = (
        "POST /webhooks/nowpayments HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n"
        + (f"x-nowpayments-sig: {signature}\r\n" if signature is not None else "")
        + "\r\n"
    )
    try:
        writer.write(head.encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 3)
    finally:
        writer.close()
    return int(status_line.split()[1])


@pytest.mark.parametrize("signature", [None, "", "zz" * 64, "a" * 127, "0" * 129])
async def test_no_or_a_malformed_signature_is_401_before_the_body_is_sent(
    np_app, nowpayments, fake, signature
) -> None:
    assert await _status_without_the_body(np_app, 60 * 1024, signature) == 401
    pid = await buy(fake, "/buy pro btc")  # a genuine IPN still goes through
    assert await nowpayments.pay(await _provider_id(np_app, pid)) == [200] * 4
    assert (await _row(np_app, pid)).status == "finished"


async def test_an_announced_body_over_the_cap_is_413_before_it_is_sent(np_app) -> None:
    assert await _status_without_the_body(np_app, IPN_CAP + 1, "0" * 128) == 413
    assert await _count(np_app, PaymentEvent) == 0


def _padded_ipn(size: int) -> bytes:
    """A signed-looking unknown-payment IPN of exactly `size` bytes."""
    body = {"payment_id": 99, "payment_status": "finished", "actually_paid": 1, "note": ""}
    body["note"] = "x" * (size - len(json.dumps(body)))
    encoded = json.dumps(body).encode()
    assert len(encoded) == size
    return encoded


async def test_a_signed_body_over_the_cap_is_413_and_one_at_the_cap_is_read(
    np_app, nowpayments
) -> None:
    assert await nowpayments.send_ipn(0, _padded_ipn(IPN_CAP + 1), url=_hook(np_app)) == 413

    async def chunks():  # no Content-Length: the cap holds while the body is read
        body = _padded_ipn(IPN_CAP + 1)
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    signature = sign(_padded_ipn(IPN_CAP + 1), nowpayments.ipn_secret)
    async with (
        aiohttp.ClientSession() as http,
        http.post(_hook(np_app), data=chunks(), headers={SIG: signature}) as response,
    ):
        assert response.status == 413
    assert await _count(np_app, AuditEntry) == 0
    assert await nowpayments.send_ipn(0, _padded_ipn(IPN_CAP), url=_hook(np_app)) == 200
    assert await _count(np_app, AuditEntry) == 1  # read, verified: an unknown payment


@pytest.mark.parametrize(
    "extra",
    [
        {f"k{n}": n for n in range(1000)},  # keys
        {"list": [0] * 1000},  # array elements
        {"fee": {"nested": [{"a": 1, "b": [2, 3]}] * 300}},  # both, at depth
    ],
)
async def test_a_body_with_too_many_entries_is_400_before_any_hmac(
    np_app, nowpayments, extra
) -> None:
    """Refused while parsing, before the signature is computed (a well-formed but wrong one
    would be a 401 otherwise): a flood of such bodies costs a cheap scan each."""
    body = json.dumps({"payment_id": 99, "payment_status": "finished", **extra}).encode()
    assert len(body) <= IPN_CAP
    assert await nowpayments.send_ipn(0, body, signature="0" * 128, url=_hook(np_app)) == 400
    assert await _count(np_app, PaymentEvent) == 0
    assert await _count(np_app, AuditEntry) == 0


async def test_non_ascii_signature_header_is_401(np_app) -> None:
    from aiohttp import ClientSession

    async with (
        ClientSession() as http,
        http.post(_hook(np_app), data=b"{}", headers={"x-nowpayments-sig": "é" * 128}) as response,
    ):
        assert response.status == 401


async def test_signed_but_incomplete_or_nonsense_is_400(np_app, nowpayments) -> None:
    for data in (
        {"payment_status": "finished"},
        {"payment_id": 1, "payment_status": "finished", "actually_paid": -5},
        {"payment_id": 1, "payment_status": "finished", "actually_paid": "1e999999999"},
        {"payment_id": 1, "payment_status": "finished", "fee": {"currency": "x" * 200}},
    ):
        body = json.dumps(data).encode()
        assert await nowpayments.send_ipn(0, body, url=_hook(np_app)) == 400, data
    assert await _count(np_app, PaymentEvent) == 0


async def test_an_unknown_status_is_kept_for_an_operator(np_app, nowpayments, fake) -> None:
    pid = await buy(fake, "/buy pro btc")
    body = nowpayments.ipn_body(
        await _provider_id(np_app, pid), "wrong_asset_confirmed", Decimal("0.0046")
    )
    assert await nowpayments.send_ipn(0, body, url=_hook(np_app)) == 200
    assert (await _row(np_app, pid)).status == "waiting"
    assert await _count(np_app, AuditEntry, AuditEntry.action == "alert.unknown_status") == 1


async def test_a_body_that_lies_about_its_encoding_is_400(np_app) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            _hook(np_app),
            data=b'{"payment_id": 1}',
            headers={"content-encoding": "gzip", "x-nowpayments-sig": "0" * 128},
        ) as response,
    ):
        assert response.status == 400


async def test_one_unreadable_payment_does_not_stop_reconciliation(
    np_app, nowpayments, fake, clock
) -> None:
    nowpayments.ipn_enabled = False
    broken = await buy(fake, "/buy pro eth")
    paid = await buy(fake, "/buy pro btc")
    nowpayments.set_state(await _provider_id(np_app, broken), "wrong_asset_confirmed", Decimal(1))
    await nowpayments.pay(await _provider_id(np_app, paid))
    clock.advance(301)
    report = await np_app.reconciler.poll(clock())
    assert report.read == 2
    assert (await _row(np_app, paid)).status == "finished"


async def test_polling_stops_when_the_monitoring_window_ends(np_app, nowpayments, fake, clock):
    pid = await buy(fake, "/buy pro usdttrc20")
    await nowpayments.pay(await _provider_id(np_app, pid), Decimal(100))
    assert (await _row(np_app, pid)).status == "partially_paid"
    for _ in range(26):
        clock.advance(3600)
        await np_app.countdown.sweep(clock())
        await np_app.reconciler.poll(clock())
    row = await _row(np_app, pid)
    assert row.next_poll_at is None and row.next_check_at is None
    assert await _count(np_app, AuditEntry, AuditEntry.action == "alert.unfinished") == 1


async def test_a_create_that_fails_on_the_server_is_not_sent_twice(np_app, nowpayments, fake):
    nowpayments.fail_next = [502]
    reply = await fake.say("/buy pro btc")
    assert "not reachable" in reply[0].text
    assert nowpayments.count("/v1/payment") == 1


async def test_database_unavailable_is_503(np_app, nowpayments, fake) -> None:
    pid = await buy(fake, "/buy pro btc")
    body = nowpayments.ipn_body(await _provider_id(np_app, pid), "confirming", Decimal("0.0046"))
    if np_app.db.is_sqlite:
        await np_app.db.close()  # no pooled connection of either driver keeps the old file
        path = np_app.db.url.database
        os.replace(path, path + ".moved")
        os.mkdir(path)  # the database file is gone and cannot be opened
    else:
        async with np_app.db.engine.begin() as conn:
            await conn.exec_driver_sql("DROP SCHEMA public CASCADE")
    assert await nowpayments.send_ipn(0, body, url=_hook(np_app)) == 503
    base = np_app.config.webhooks.public_url
    async with aiohttp.ClientSession() as http:
        for path in ("/healthz", "/metrics"):
            async with http.get(base + path) as response:
                assert response.status == 503, path
