"""`kill -9` between an activation and its grant: the restarted `paybot run` grants exactly once.

Real processes on one database: the first one sells Pro (which opens a Telegram group) and
activates it, then dies by SIGKILL while the group's join link is still owed (the Bot API
failed the first attempt); a second process takes over and the customer gets one link."""

from __future__ import annotations

import asyncio
import re
import signal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import free_port
from tests.e2e.test_telegram import USER, _calls
from tests.fakes.telegram_server import FakeTelegram
from tests.helpers import paybot, paybot_run

GROUP = -1009988776655


async def _owed_and_idle(db_url: str) -> bool:
    """The join link's outbox row exists, failed once, and no relay holds it right now."""
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT status, attempts, claim_token FROM outbox "
                        "WHERE kind = 'access.open'"
                    )
                )
            ).first()
    finally:
        await engine.dispose()
    return row is not None and row[0] == "pending" and row[1] >= 1 and row[2] is None


async def test_killed_between_activation_and_grant_grants_once(db_url, tmp_path) -> None:
    fake = FakeTelegram()
    await fake.start()
    group = fake.add_group(GROUP)
    port = free_port()
    settings = {
        "TELEGRAM__ENABLED": "true",
        "PROVIDER__ALLOW_SANDBOX_IN_CHATS": "true",
        "TELEGRAM__BASE_URL": fake.url,
        "TELEGRAM_TOKEN": fake.token,
        "WEBHOOKS__PORT": str(port),
        "WEBHOOKS__PUBLIC_URL": f"http://127.0.0.1:{port}",
        "TIMERS__SWEEP_INTERVAL_SECONDS": "0.2",
        "PROVIDER__SANDBOX__CONFIRM_SECONDS": "0",
        "PROVIDER__SANDBOX__FINISH_SECONDS": "1",
        "PLANS__PRO__ACCESS__TELEGRAM_CHATS": f"[{GROUP}]",
    }
    fake.fail_next("createChatInviteLink", 500)  # the first attempt fails: the link is owed
    first = await paybot_run(db_url, tmp_path, **settings)
    second = None
    try:
        await fake.wait_for(lambda f: f.commands, timeout=20)
        fake.push_message(USER, "/buy pro sol", user_id=USER)
        photo = await fake.wait_for(lambda f: _calls(f, "sendPhoto", USER), timeout=15)
        pid = re.search(r"Payment #(\d+)", photo[0].params["caption"]).group(1)
        pay = await paybot(db_url, tmp_path, "sandbox", "pay", pid, **settings)
        assert await asyncio.wait_for(pay.wait(), 30) == 0
        await fake.wait_for(lambda f: f.calls("createChatInviteLink"), timeout=20)
        for _ in range(100):
            if await _owed_and_idle(db_url):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the owed link was never recorded as failed once")
        first.send_signal(signal.SIGKILL)
        await first.wait()
        assert not _calls(fake, "createChatInviteLink")  # nothing was granted before the kill
        second = await paybot_run(db_url, tmp_path, **settings)
        await fake.wait_for(
            lambda f: [r for r in _calls(f, "sendMessage", USER) if "t.me/+" in r.params["text"]],
            timeout=30,
        )
        await asyncio.sleep(2)  # time enough for a second grant, if there were one
    finally:
        for process in (first, second):
            if process is not None and process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(process.wait(), 20)
        await fake.stop()
    assert len(_calls(fake, "createChatInviteLink")) == 1
    links = [r for r in _calls(fake, "sendMessage", USER) if "t.me/+" in r.params["text"]]
    assert len(links) == 1
    (link,) = group.links
    assert link in links[0].params["text"]
    assert second.returncode == 0
