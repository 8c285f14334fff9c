"""The dashboard in a real headless Chromium (Debian's, driven by Playwright): signed in from
the link the bot sent in the fake Telegram chat, the overview, a payment turning `finished`
live after a signed IPN from the fake NOWPayments, the ledger download, signing out."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from aiohttp import web

from bot.adapters.telegram import from_config
from bot.app import App
from tests.conftest import ROOT, free_port
from tests.e2e.test_telegram import USER, _calls, telegram_config
from tests.fakes.telegram_server import FakeTelegram
from tools.clock import system_clock

CHROMIUM = "/usr/bin/chromium"
OPERATOR = 777

if not os.path.exists(CHROMIUM) and not os.environ.get("PAYBOT_REQUIRE_BROWSER"):
    pytest.skip("no /usr/bin/chromium (apt-get install chromium)", allow_module_level=True)

playwright_api = pytest.importorskip("playwright.async_api")


@pytest.fixture
async def telegram():
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


async def test_an_operator_watches_the_shop_live_in_a_browser(
    db_url, telegram, nowpayments, tmp_path: Path
) -> None:
    port, dash = free_port(), free_port()
    config = telegram_config(
        db_url,
        telegram,
        OPERATORS__TELEGRAM=f'["{OPERATOR}"]',
        PROVIDER__NAME="nowpayments",
        PROVIDER__NOWPAYMENTS__BASE_URL=nowpayments.url,
        NOWPAYMENTS_API_KEY="test-api-key",
        NOWPAYMENTS_IPN_SECRET="test-ipn-secret",
        WEBHOOKS__PORT=str(port),
        WEBHOOKS__PUBLIC_URL=f"http://127.0.0.1:{port}",
        DASHBOARD__ENABLED="true",
        DASHBOARD__PORT=str(dash),
        DASHBOARD__PUBLIC_URL=f"http://127.0.0.1:{dash}",
    )
    app = App(config, adapters=[from_config(config)], clock=system_clock)
    await app.start()
    try:
        telegram.push_message(OPERATOR, "/admin web", user_id=OPERATOR, language_code="en")
        sent = await telegram.wait_for(lambda f: _calls(f, "sendMessage", OPERATOR), timeout=10)
        link = re.search(r"http://\S+/signin/\S+", sent[0].params["text"]).group(0)
        telegram.push_message(USER, "/admin web", user_id=USER, language_code="en")
        refused = await telegram.wait_for(lambda f: _calls(f, "sendMessage", USER), timeout=10)
        assert refused[0].params["text"].startswith("Unknown command /admin.")
        assert "/signin/" not in refused[0].params["text"]
        telegram.push_message(USER, "/buy pro sol", user_id=USER, language_code="en")
        await telegram.wait_for(lambda f: _calls(f, "sendPhoto", USER), timeout=10)
        (remote,) = nowpayments.payments
        evil = await cross_site_page(f"http://127.0.0.1:{dash}/signout")

        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
            page = await browser.new_page(
                accept_downloads=True, viewport={"width": 900, "height": 700}
            )
            await page.goto(link)
            await page.click("#signin")
            await page.wait_for_load_state()
            await page.wait_for_selector("text=Revenue per day", timeout=5000)
            assert await page.title() == "Overview"
            await page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)

            await page.goto(f"http://127.0.0.1:{dash}/payments")
            await page.wait_for_selector("#live-state:has-text('live')")
            row = page.locator("#p-1")
            assert await row.get_attribute("data-status") == "waiting"
            await nowpayments.pay(remote)  # signed IPNs to the webhook server
            await page.wait_for_selector('#p-1[data-status="finished"]', timeout=3000)
            assert "finished" in await row.inner_text()
            await page.screenshot(path=str(tmp_path / "payments.png"), full_page=True)
            if os.environ.get("PAYBOT_SAVE_SCREENSHOTS"):
                shutil.copy(tmp_path / "payments.png", ROOT / "docs" / "dashboard-payments.png")
                shutil.copy(tmp_path / "overview.png", ROOT / "docs" / "dashboard-overview.png")

            # an overpaid payment needs a human; the operator settles it
            telegram.push_message(USER, "/buy pro sol", user_id=USER, language_code="en")
            await telegram.wait_for(lambda f: len(_calls(f, "sendPhoto", USER)) == 2, timeout=10)
            second = max(nowpayments.payments)
            asked = Decimal(str(nowpayments.payments[second].body["pay_amount"]))
            await nowpayments.pay(second, asked + Decimal("1"))
            await page.wait_for_selector('#p-2[data-status="finished"]', timeout=3000)
            await page.goto(f"http://127.0.0.1:{dash}/attention")
            await page.locator("#a-2 a.button").first.click()
            await page.click("#confirm")
            await page.wait_for_selector("#flash")
            assert await page.locator("#a-2").count() == 0

            # a page on another site posts to the dashboard: refused, still signed in
            async with page.expect_response(lambda r: r.url.endswith("/signout")) as posted:
                await page.goto(evil.url)
            assert (await posted.value).status in (401, 403)
            assert (await page.goto(f"http://127.0.0.1:{dash}/")).status == 200

            await page.goto(f"http://127.0.0.1:{dash}/ledger")
            async with page.expect_download() as waiting:
                await page.click("#download")
            download = await waiting.value
            csv_text = await asyncio.to_thread(Path(await download.path()).read_text)
            assert csv_text.startswith("payment_id,") and "finished" in csv_text

            await page.click("#signout")
            await page.wait_for_selector("text=/admin web")
            answer = await page.goto(f"http://127.0.0.1:{dash}/")
            assert answer.status == 401
            reused = await page.goto(link)
            assert reused.status == 403
            await browser.close()
        assert (tmp_path / "overview.png").stat().st_size > 1000
    finally:
        await app.stop()
        if "evil" in locals():
            await evil.stop()


class CrossSite:
    """Another site (another origin) whose page posts a form to the dashboard by itself."""

    def __init__(self, runner: web.AppRunner, url: str) -> None:
        self.runner, self.url = runner, url

    async def stop(self) -> None:
        await self.runner.cleanup()


async def cross_site_page(target: str) -> CrossSite:
    html = (
        f'<form id="f" method="post" action="{target}"><input name="x" value="1"></form>'
        '<script>document.getElementById("f").submit()</script>'
    )

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "localhost", port).start()  # localhost: another site
    return CrossSite(runner, f"http://localhost:{port}/")
