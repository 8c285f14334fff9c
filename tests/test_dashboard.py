"""The web dashboard over real HTTP on its own listener, without a browser: sign-in links
from the chat, sessions, CSRF, security headers, the live stream and the ledger download."""

from __future__ import annotations

import asyncio
import html
import re
from decimal import Decimal

import aiohttp
import pytest
from sqlalchemy import select

from bot.adapters.fake import FakeAdapter
from bot.app import App
from storage.models import AuditEntry, Payment
from tests.conftest import ManualClock, make_config
from tests.helpers import buy, count_rows, paybot
from tools.providers.base import ProviderEvent

OP = "op"
OTHER = "op2"
LINK = re.compile(r"(http://\S+/signin/\S+)")


def dashboard_config(db_url: str, **extra: str):
    return make_config(
        db_url,
        OPERATORS__TELEGRAM=f'["{OP}", "{OTHER}"]',
        DASHBOARD__ENABLED="true",
        DASHBOARD__PORT="0",
        **extra,
    )


@pytest.fixture
async def shop(db_url: str, clock: ManualClock):
    fake = FakeAdapter("telegram")
    app = App(dashboard_config(db_url), adapters=[fake], clock=clock)
    await app.start(background=False)
    await app.dashboard.start()
    yield app, fake
    await app.stop()


def base(app: App) -> str:
    return f"http://127.0.0.1:{app.dashboard.bound_port}"


def fix_port(app: App, link: str) -> str:
    """The link names the configured public_url; the test listener is on port 0."""
    return base(app) + "/signin/" + link.rsplit("/signin/", 1)[1]


async def link_for(app: App, fake: FakeAdapter, user: str = OP) -> str:
    (reply,) = await fake.say("/admin web", user=user)
    found = LINK.search(reply.text)
    assert found, reply.text
    return fix_port(app, found.group(1))


def client() -> aiohttp.ClientSession:
    # every test browser is its own cookie jar; unsafe: cookies for 127.0.0.1 (an IP)
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def sign_in(app: App, http: aiohttp.ClientSession, link: str) -> aiohttp.ClientResponse:
    token = link.rsplit("/", 1)[1]
    async with http.get(link) as page:
        assert page.status == 200
        assert token in await page.text()
    async with http.post(
        base(app) + "/signin", data={"token": token}, allow_redirects=False
    ) as answer:
        await answer.read()
        return answer


async def csrf_of(app: App, http: aiohttp.ClientSession) -> str:
    async with http.get(base(app) + "/sessions") as page:
        return re.search(r'name="csrf" value="([0-9a-f]+)"', await page.text()).group(1)


async def test_every_private_route_without_a_session_is_401_with_how_to_sign_in(shop) -> None:
    app, _fake = shop
    routes = [
        (r.method, r.resource.canonical)
        for r in app.dashboard.app.router.routes()
        if r.resource.canonical not in app.dashboard.public_paths and r.method != "HEAD"
    ]
    assert len(routes) >= 12
    async with client() as http:
        http.cookie_jar.update_cookies({"paybot_session": "made-up"})
        for method, path in routes:
            url = base(app) + re.sub(r"\{(\w+)(:[^}]*)?\}", "1", path)
            async with http.request(method, url, allow_redirects=False) as answer:
                assert answer.status == 401, (method, path)
                assert "/admin web" in await answer.text()
                assert answer.headers["Content-Type"].startswith("text/html")


async def test_a_link_signs_in_once_with_a_strict_cookie_and_a_fresh_session_id(shop) -> None:
    app, fake = shop
    link = await link_for(app, fake)
    async with client() as http:
        http.cookie_jar.update_cookies({"paybot_session": "planted-by-an-attacker"})
        answer = await sign_in(app, http, link)
        assert answer.status == 303
        cookie = answer.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
        value = answer.cookies["paybot_session"].value
        assert value != "planted-by-an-attacker" and len(value) >= 40
        async with http.get(base(app) + "/") as page:
            assert page.status == 200
            assert "telegram:op" in await page.text()
    async with client() as again:  # the same link in another browser, or later
        async with again.get(link) as page:
            assert page.status == 403
        token = link.rsplit("/", 1)[1]
        async with again.post(base(app) + "/signin", data={"token": token}) as answer:
            assert answer.status == 403
        async with again.get(base(app) + "/") as page:
            assert page.status == 401
    assert await count_rows(app, AuditEntry, AuditEntry.action == "web.sign_in") == 1
    assert await count_rows(app, AuditEntry, AuditEntry.action == "web.refused") == 1


async def test_signing_in_again_replaces_the_session_id(shop) -> None:
    app, fake = shop
    async with client() as http:
        first = (await sign_in(app, http, await link_for(app, fake))).cookies["paybot_session"]
        second = (await sign_in(app, http, await link_for(app, fake))).cookies["paybot_session"]
        assert first.value != second.value
    async with client() as thief:  # the first id is worth nothing now
        thief.cookie_jar.update_cookies({"paybot_session": first.value})
        async with thief.get(base(app) + "/") as page:
            assert page.status == 401


async def test_an_expired_link_is_refused(shop, clock: ManualClock) -> None:
    app, fake = shop
    link = await link_for(app, fake)
    clock.advance(5 * 60 + 1)
    async with client() as http:
        async with http.get(link) as page:
            assert page.status == 403
        token = link.rsplit("/", 1)[1]
        async with http.post(base(app) + "/signin", data={"token": token}) as answer:
            assert answer.status == 403


async def test_another_operators_link_in_a_signed_in_browser_is_refused(shop) -> None:
    app, fake = shop
    async with client() as http:
        await sign_in(app, http, await link_for(app, fake, OP))
        other = await link_for(app, fake, OTHER)
        token = other.rsplit("/", 1)[1]
        async with http.post(base(app) + "/signin", data={"token": token}) as answer:
            assert answer.status == 403
            assert "telegram:op" in await answer.text()
        async with http.get(base(app) + "/") as page:  # still the first operator
            assert "telegram:op<" in (await page.text()).replace('"', "<")


async def test_a_non_operator_gets_the_unknown_command_and_no_link(shop) -> None:
    app, fake = shop
    (reply,) = await fake.say("/admin web", user="mallory")
    assert reply.text.startswith("Unknown command /admin.")
    assert "signin" not in reply.text
    assert await count_rows(app, AuditEntry, AuditEntry.action == "web.link") == 0


async def test_a_session_ends_when_its_operator_is_no_longer_one(db_url, clock) -> None:
    fake = FakeAdapter("telegram")
    app = App(dashboard_config(db_url), adapters=[fake], clock=clock)
    await app.start(background=False)
    await app.dashboard.start()
    try:
        async with client() as http:
            await sign_in(app, http, await link_for(app, fake))
            app.config.operators.telegram.remove(OP)  # the operator list as the app reads it
            async with http.get(base(app) + "/") as page:
                assert page.status == 401
    finally:
        await app.stop()


async def test_posts_need_the_sessions_csrf_token_and_our_origin(shop) -> None:
    app, fake = shop
    async with client() as http:
        await sign_in(app, http, await link_for(app, fake))
        token = await csrf_of(app, http)
        for data in ({}, {"csrf": "0" * 64}):
            async with http.post(base(app) + "/signout", data=data) as answer:
                assert answer.status == 403
        async with http.post(
            base(app) + "/signout",
            data={"csrf": token},
            headers={"Origin": "https://evil.example"},
        ) as answer:
            assert answer.status == 403
        async with http.get(base(app) + "/") as page:
            assert page.status == 200  # none of those signed out
        async with http.post(
            base(app) + "/signout", data={"csrf": token}, allow_redirects=False
        ) as answer:
            assert answer.status == 303
        async with http.get(base(app) + "/") as page:
            assert page.status == 401


async def test_every_answer_carries_the_strict_headers(shop) -> None:
    app, fake = shop
    async with client() as http:
        await sign_in(app, http, await link_for(app, fake))
        for path, kind in (
            ("/", "text/html"),
            ("/payments", "text/html"),
            ("/ledger.csv", "text/csv"),
            ("/static/live.js", "text/javascript"),
            ("/static/dash.css", "text/css"),
            ("/signin", "text/html"),
            ("/nowhere", "text/plain"),
        ):
            async with http.get(base(app) + path) as answer:
                csp = answer.headers["Content-Security-Policy"]
                assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
                assert "unsafe-inline" not in csp
                assert answer.headers["X-Content-Type-Options"] == "nosniff"
                assert answer.headers["Content-Type"].startswith(kind), path


async def test_the_cookie_is_secure_behind_https(db_url, clock) -> None:
    fake = FakeAdapter("telegram")
    config = dashboard_config(db_url, DASHBOARD__PUBLIC_URL="https://shop.example/dash")
    app = App(config, adapters=[fake], clock=clock)
    await app.start(background=False)
    await app.dashboard.start()
    try:
        (reply,) = await fake.say("/admin web", user=OP)
        assert "https://shop.example/dash/signin/" in reply.text
        async with client() as http:
            token = reply.text.rsplit("/", 1)[1].strip()
            async with http.post(
                base(app) + "/signin", data={"token": token}, allow_redirects=False
            ) as answer:
                assert "Secure" in answer.headers["Set-Cookie"]
    finally:
        await app.stop()


async def test_the_overview_and_pages_speak_the_browsers_language(shop) -> None:
    app, fake = shop
    await buy(fake, "/buy pro sol", user="alice")
    async with client() as http:
        await sign_in(app, http, await link_for(app, fake))
        async with http.get(base(app) + "/", headers={"Accept-Language": "de-DE,de;q=0.9"}) as p:
            text = await p.text()
            assert 'lang="de"' in text and "Übersicht" in text and "<svg" in text
        async with http.get(base(app) + "/payments?status=waiting&coin=sol") as page:
            text = await page.text()
            assert 'id="p-1"' in text and "299.00" in text
        async with http.get(base(app) + "/payments?status=finished") as page:
            assert 'id="p-1"' not in await page.text()
        async with http.get(base(app) + "/payments?customer=nonsense") as page:
            assert page.status == 400
        async with http.get(base(app) + "/payments?from=2026-13-01") as page:
            assert page.status == 400


async def _next_event(stream: aiohttp.ClientResponse) -> dict[str, str]:
    fields: dict[str, str] = {}
    while True:
        line = (await stream.content.readline()).decode().rstrip("\n")
        if not line:
            if "data" in fields:
                return fields
            continue
        key, _, value = line.partition(": ")
        fields[key] = value


async def test_the_live_stream_sends_a_change_at_once_and_catches_up_after_a_drop(shop) -> None:
    app, fake = shop
    pid = await buy(fake, "/buy pro sol", user="alice")
    async with client() as http:
        await sign_in(app, http, await link_for(app, fake))
        since = app.clock().isoformat()
        url = base(app) + "/payments/stream?status=finished"
        async with http.get(url, params={"since": since}) as stream:
            assert stream.headers["Content-Type"] == "text/event-stream"
            async with app.db.sessions() as session:
                payment = await session.get(Payment, pid)
            app.clock.advance(5)
            await app.events.apply_event(
                ProviderEvent(payment.provider_payment_id, "finished", payment.pay_amount), "ipn"
            )
            event = await asyncio.wait_for(_next_event(stream), 1.0)  # woken, not polled
            assert event["event"] == "payment" and f'"id": {pid}' in event["data"]
            assert '"status_code": "finished"' in event["data"]
            last_id = event["id"]
        second = await buy(fake, "/buy starter sol", user="bob")  # while disconnected
        async with app.db.sessions() as session:
            payment = await session.get(Payment, second)
        app.clock.advance(5)
        await app.events.apply_event(
            ProviderEvent(payment.provider_payment_id, "finished", payment.pay_amount), "ipn"
        )
        async with http.get(url, headers={"Last-Event-ID": last_id}) as stream:
            seen = set()
            while second not in seen:
                event = await asyncio.wait_for(_next_event(stream), 2.0)
                seen.add(int(re.search(r'"id": (\d+)', event["data"]).group(1)))


async def test_the_ledger_downloads_as_the_exports_csv(shop) -> None:
    app, fake = shop
    pid = await buy(fake, "/buy pro sol", user="alice")
    async with client() as http:
        await sign_in(app, http, await link_for(app, fake))
        async with http.get(base(app) + "/ledger.csv?from=2026-11-21&to=2026-11-21") as answer:
            assert answer.status == 200
            assert "attachment" in answer.headers["Content-Disposition"]
            lines = (await answer.text()).splitlines()
        assert lines[0].startswith("payment_id,order_id,") and len(lines) == 2
        assert lines[1].startswith(f"{pid},")
        async with http.get(base(app) + "/ledger.csv?from=2026-11-22&to=2026-11-21") as answer:
            assert answer.status == 400
    assert (
        await count_rows(
            app, AuditEntry, AuditEntry.actor == "telegram:op", AuditEntry.action == "admin.export"
        )
        == 1
    )


async def test_actions_are_confirmed_posts_run_as_the_operator(shop) -> None:
    app, fake = shop
    await buy(fake, "/buy pro sol", user="alice")
    async with client() as http:
        await sign_in(app, http, await link_for(app, fake))
        async with http.get(
            base(app) + "/confirm/grant?customer=telegram:alice&plan=pro&days=30"
        ) as page:
            text = await page.text()
            assert page.status == 200 and 'action="/actions/grant"' in text
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', text).group(1)
        form = {"customer": "telegram:alice", "plan": "pro", "days": "30"}
        async with http.post(base(app) + "/actions/grant", data=form) as answer:
            assert answer.status == 403  # no token: nothing granted
        async with http.post(base(app) + "/actions/grant", data={**form, "csrf": token}) as page:
            assert page.status == 200 and "/customers/telegram:alice" in str(page.url)
        async with http.post(
            base(app) + "/actions/grant", data={**form, "days": "-3", "csrf": token}
        ) as page:
            assert page.status == 400
    granted = await count_rows(
        app, AuditEntry, AuditEntry.actor == "telegram:op", AuditEntry.action == "admin.grant"
    )
    assert granted == 1


async def test_settlement_per_coin_is_exact_in_the_chat_and_on_the_overview(shop) -> None:
    app, fake = shop
    for user in ("alice", "bob"):
        pid = await buy(fake, "/buy pro sol", user=user)
        async with app.db.sessions() as session:
            payment = await session.get(Payment, pid)
        await app.events.apply_event(
            ProviderEvent(
                payment.provider_payment_id,
                "finished",
                payment.pay_amount,
                outcome_amount=payment.pay_amount - Decimal("0.000000011"),
                outcome_currency="sol",
                fees={"deposit": Decimal("0.000000001"), "service": Decimal("0.00000001")},
                fee_currency="sol",
            ),
            "ipn",
        )
    asked = payment.pay_amount  # both quotes are the same amount on the sandbox's fixed rate
    (text, _chart) = await fake.say("/admin stats today", user=OP)
    net = 2 * asked - Decimal("0.000000022")
    expected = f"SOL received {2 * asked:,f}, fees 0.000000022, net {net:,f}"
    assert f"Settlement: {expected}" in text.text
    async with client() as http:
        await sign_in(app, http, await link_for(app, fake))
        async with http.get(base(app) + "/?period=today") as page:
            html = await page.text()
        assert "fees 0.000000022" in html and f"net {2 * asked - Decimal('0.000000022')}" in html


async def test_sessions_are_listed_and_another_browser_can_be_signed_out(shop) -> None:
    app, fake = shop
    async with client() as laptop, client() as phone:
        await sign_in(app, laptop, await link_for(app, fake))
        await sign_in(app, phone, await link_for(app, fake))
        async with laptop.get(base(app) + "/sessions") as page:
            html = await page.text()
        other = re.search(r'action="/sessions/(\d+)/revoke"', html).group(1)
        token = await csrf_of(app, laptop)
        async with laptop.post(
            base(app) + f"/sessions/{other}/revoke", data={"csrf": token}
        ) as answer:
            assert answer.status == 200
        async with phone.get(base(app) + "/") as page:
            assert page.status == 401
        async with laptop.get(base(app) + "/") as page:
            assert page.status == 200


async def test_an_attention_item_settled_on_the_web_leaves_the_chats_list_too(shop) -> None:
    app, fake = shop
    pid = await buy(fake, "/buy pro sol", user="alice")
    async with app.db.sessions() as session:
        payment = await session.get(Payment, pid)
    over = payment.pay_amount + Decimal("0.5")
    await app.events.apply_event(
        ProviderEvent(payment.provider_payment_id, "finished", over), "ipn"
    )
    (listed,) = await fake.say("/admin attention", user=OP)
    assert f"#{pid} (finished): overpaid by 0.5 sol" in listed.text
    async with client() as http:
        await sign_in(app, http, await link_for(app, fake))
        async with http.get(base(app) + "/attention") as page:
            assert f'id="a-{pid}"' in await page.text()
        async with http.get(base(app) + f"/confirm/settle?payment={pid}") as page:
            text = await page.text()
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', text).group(1)
        async with http.post(
            base(app) + "/actions/settle", data={"payment": str(pid), "csrf": token}
        ) as page:
            assert str(page.url).endswith(f"/attention?done=settle&payment={pid}")
            assert f"Payment #{pid} is marked as handled." in (text := await page.text())
            assert f'id="a-{pid}"' not in text
    (listed,) = await fake.say("/admin attention", user=OP)
    assert f"#{pid} " not in listed.text
    settled = await count_rows(
        app, AuditEntry, AuditEntry.actor == "telegram:op", AuditEntry.action == "admin.settle"
    )
    assert settled == 1


async def test_paybot_admin_web_login_on_the_terminal_signs_in_its_user(shop, tmp_path) -> None:
    app, _fake = shop
    url = app.config.database.url
    process = await paybot(
        url,
        tmp_path,
        "admin",
        "web-login",
        stdin=asyncio.subprocess.DEVNULL,
        DASHBOARD__ENABLED="true",
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    link = LINK.search(out.decode()).group(1)
    async with client() as http:
        answer = await sign_in(app, http, fix_port(app, link))
        assert answer.status == 303
        async with http.get(base(app) + "/") as page:
            assert "cli:" in await page.text()


async def test_web_login_says_so_when_the_dashboard_is_off(db_url, clock) -> None:
    fake = FakeAdapter("telegram")
    app = App(make_config(db_url, OPERATORS__TELEGRAM=f'["{OP}"]'), adapters=[fake], clock=clock)
    await app.start(background=False)
    try:
        (reply,) = await fake.say("/admin web", user=OP)
        assert "[dashboard] enabled = true" in reply.text
        (reply,) = await fake.say("/admin web", user=OP, locale="de")
        assert "Das Web-Dashboard ist aus" in reply.text
    finally:
        await app.stop()


NOTHING_TO_REVOKE = {
    "en": "telegram:alice has no plan to end.",
    "de": "telegram:alice hat keinen Plan, der beendet werden kann.",
    "es": "telegram:alice no tiene ningún plan que terminar.",
    "fr": "telegram:alice n'a aucun forfait à terminer.",
    "ja": "telegram:alice には終了できるプランがありません。",
    "zh": "telegram:alice 没有可结束的套餐。",
}


async def test_actions_refuse_and_report_in_the_operators_language(shop) -> None:
    """The desk's refusals and each action's result in the browser's language (the chat keeps
    the desk's English), for grant, revoke, resend, reconcile and settle."""
    app, fake = shop
    pid = await buy(fake, "/buy pro sol", user="alice")
    url = base(app)

    async def post(action: str, lang: str, **fields: str) -> tuple[int, str]:
        headers = {"Accept-Language": lang}
        data = {**fields, "csrf": token}
        async with http.post(f"{url}/actions/{action}", data=data, headers=headers) as page:
            return page.status, await page.text()

    async with client() as http:
        await sign_in(app, http, await link_for(app, fake))
        token = await csrf_of(app, http)
        for lang, words in NOTHING_TO_REVOKE.items():
            status, text = await post("revoke", lang, customer="telegram:alice")
            assert status == 409 and html.escape(words) in text, lang
        status, text = await post("grant", "ja", customer="telegram:alice", plan="gold", days="3")
        assert status == 409 and "プラン gold はありません。" in text
        status, text = await post("grant", "ja", customer="telegram:nobody", plan="pro", days="3")
        assert status == 409 and "顧客 telegram:nobody は存在しません。" in text
        status, text = await post("resend", "es", payment="99999")
        assert status == 409 and "No existe el pago #99999." in text
        status, text = await post("grant", "fr", customer="telegram:alice", plan="pro", days="3")
        assert status == 200 and "Forfait Pro accordé ; le client en est informé." in text
        status, text = await post("revoke", "de", customer="telegram:alice")
        assert status == 200 and "Alle Pläne dieses Kunden sind beendet" in text
        status, text = await post("resend", "zh", payment=str(pid))
        assert status == 409 and f"付款 #{pid} 没有可重新发送的通知。" in text
        later = await buy(fake, "/buy pro btc", user="alice")  # not asked about: not reconciled
        status, text = await post("reconcile", "de", payment=str(pid))
        assert status == 200 and f"Zahlung #{pid} stimmt mit dem Anbieter überein." in text
        reconciled = AuditEntry.action == "admin.reconcile"
        async with app.db.sessions() as session:
            entry = (await session.scalars(select(AuditEntry).where(reconciled))).one()
        assert entry.subject == f"payment {pid}" and entry.detail["checked"] == 1, later
        status, text = await post("reconcile", "fr", payment="99999")
        assert status == 409 and "#99999" in text
        async with app.db.sessions() as session:
            payment = await session.get(Payment, pid)
        paid = ProviderEvent(payment.provider_payment_id, "finished", payment.pay_amount)
        await app.events.apply_event(paid, "ipn")
        status, text = await post("resend", "zh", payment=str(pid))
        assert status == 200 and f"付款 #{pid} 的最后一条通知已重新排队发送。" in text
        status, text = await post("settle", "es", payment=str(pid))
        assert status == 200 and f"El pago #{pid} está marcado como resuelto." in text
    await fake.say("/admin revoke telegram:alice", user=OP)  # the plan the payment activated
    (answer,) = await fake.say("/admin revoke telegram:alice", user=OP)
    assert "has no plan to revoke" in answer.text  # the chat's operator answers stay English
