"""Three `paybot run` workers on one PostgreSQL under a stream of customers and IPNs.

Telegram runs in webhook mode behind a round-robin "proxy" (this test posts each update to
the next worker) and Discord through the fake gateway with two shards (one owner each);
customers buy on both. NOWPayments sends every IPN to the next worker too, with duplicates
and reordered statuses, and retries on the next worker when one does not answer. During
the IPNs one worker is killed with SIGKILL at the worst moment: Telegram has carried out a
notice it sent and the answer has not reached it yet. Afterwards every payment is finished
and its plan activated exactly once, every queued notice was delivered, and neither fake
platform answered a request with 429: the workers keep the limits together. Later the owner
of a gateway shard is killed too; the last worker takes the shard over within 10 s and
customers on both platforms keep getting answers.

Delivery is at least once, and a second copy is bounded: a notice the killed worker had
sent but not yet recorded as sent (a window of one database round trip) goes out again when
its lease runs out, since nobody can know that Telegram got it. So a chat may get one extra
copy only of a notice that was claimed, unrecorded, at the moment of the kill (the one
whose answer it never got must come twice: not lost); every other notice arrives exactly
once. On Discord a resend carries the row's nonce, so each notice shows once. Needs
PostgreSQL (SQLite is one worker).
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import aiohttp
import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage.models import Activation, OutboxItem, Payment
from tests.conftest import PG_URL, _fresh_postgres
from tests.e2e.test_discord import CHANNEL, USER
from tests.e2e.test_telegram import _calls
from tests.e2e.test_workers import (
    GUILDS,
    SHARDS,
    TAKEOVER,
    Worker,
    _cards,
    _sees_workers,
    _settled,
    shop_worker,
    stop_workers,
)
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.nowpayments_server import FakeNowPayments
from tests.fakes.telegram_server import FakeTelegram
from tools.providers.ipn_signature import sign

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs PAYBOT_TEST_DATABASE_URL")

CUSTOMERS = 30  # on Telegram
DISCORD_USERS = [USER + k for k in range(6)]  # buying in the servers of both shards
SECRET = "load-secret"
SENDS = ("sendMessage", "sendPhoto")
DELIVERED_WITHIN = 90.0  # a killed worker's claimed notices wait for their lease (60 s)
HANDLED_WITHIN = 10.0  # a live relay's claimed batch is sent and recorded by then


def _bodies(server: FakeNowPayments, rng: random.Random) -> list[tuple[int, bytes]]:
    """Each payment's `confirming` and `finished` IPNs, some twice, some finished first, all
    shuffled together."""
    out: list[tuple[int, bytes]] = []
    for remote, payment in server.payments.items():
        paid = Decimal(str(payment.body["pay_amount"]))
        confirming = server.ipn_body(remote, "confirming", paid)
        finished = server.ipn_body(
            remote, "finished", paid, outcome_amount=paid, outcome_currency="sol"
        )
        out += [(remote, confirming), (remote, finished)]
        if remote % 2:
            out.append((remote, finished))  # a duplicate
        if remote % 3 == 0:
            out.append((remote, confirming))  # a late, older status
    rng.shuffle(out)
    return out


async def _send_ipn(
    http: aiohttp.ClientSession, workers: list[Worker], turn: int, body: bytes
) -> int:
    """POST one IPN to the next live worker, as the provider does: a worker that does not
    answer (killed) or answers 5xx gets it again on the next one; the attempts."""
    headers = {
        "content-type": "application/json",
        "x-nowpayments-sig": sign(body, "test-ipn-secret"),
    }
    for attempt in range(1, 4 * len(workers) + 1):
        worker = workers[(turn + attempt) % len(workers)]
        url = f"http://127.0.0.1:{worker.port}/webhooks/nowpayments"
        try:
            async with http.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status == 200:
                    return attempt
                assert response.status >= 500, (response.status, await response.text())
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("no worker took the IPN")


async def _claims(engine: AsyncEngine) -> dict[tuple[int, str], int]:
    """The outbox rows claimed and not handled yet: (id, claim token) -> chat."""
    async with engine.connect() as db:
        rows = await db.execute(
            select(OutboxItem.id, OutboxItem.claim_token, OutboxItem.chat_id).where(
                OutboxItem.status == "pending", OutboxItem.claim_token.is_not(None)
            )
        )
        return {(row_id, token): int(chat) for row_id, token, chat in rows}


async def test_three_workers_lose_nothing_and_double_only_in_flight(tmp_path: Path) -> None:
    await _fresh_postgres(PG_URL)
    telegram, nowpayments, discord = FakeTelegram(), FakeNowPayments(), FakeDiscord()
    await telegram.start()
    await nowpayments.start()
    await discord.start()
    for guild in GUILDS:
        discord.add_guild(guild)
    engine = create_async_engine(PG_URL)
    workers: list[Worker] = []
    try:
        for _ in range(3):
            tag = f"w{len(workers)}"  # the fake Bot API tags each worker's requests
            workers.append(
                await shop_worker(
                    PG_URL,
                    tmp_path,
                    telegram,
                    nowpayments,
                    SECRET,
                    tag,
                    DISCORD__ENABLED="true",
                    DISCORD__API_BASE=discord.api_base,
                    DISCORD__SHARD_COUNT="2",
                    DISCORD_TOKEN=discord.token,
                )
            )
        async with httpx.AsyncClient() as client:
            deadline = time.monotonic() + 90
            while not all([await _sees_workers(client, w, 3) for w in workers]):
                assert time.monotonic() < deadline, [w.err.decode()[-1500:] for w in workers]
                await asyncio.sleep(0.3)
            await _settled(client, workers, discord, timeout=30, polling=False)

        chats = list(range(7001, 7001 + CUSTOMERS))
        for i, chat in enumerate(chats):  # the proxy hands each update to the next worker
            update = telegram.push_message(chat, "/buy pro sol", user_id=chat)
            telegram._pending.clear()
            url = f"http://127.0.0.1:{workers[i % 3].port}/webhooks/telegram"
            assert await telegram.post_update(url, update, SECRET) == 200
        for k, user in enumerate(DISCORD_USERS):  # through each shard's owner
            await _discord_buy(discord, user, GUILDS[k % 2])
        await telegram.wait_for(
            lambda f: all(any(r.chat_id == c for r in f.calls("sendPhoto")) for c in chats),
            timeout=60,  # 30 cards through three workers, on a busy 2-core machine
        )
        await discord.wait_for(lambda m: len(_cards(discord)) >= len(DISCORD_USERS), timeout=60)
        paying = CUSTOMERS + len(DISCORD_USERS)
        assert len(nowpayments.payments) == paying

        ipns = _bodies(nowpayments, random.Random(18))
        victim = workers[1]
        # the victim's next notice reaches the chat, and the victim dies before the answer
        lost_answer = telegram.lose_answer_next("sendMessage", client="w1")
        async with aiohttp.ClientSession() as http:
            gate = asyncio.Semaphore(6)

            async def one(turn: int, body: bytes) -> int:
                async with gate:
                    return await _send_ipn(http, workers, turn, body)

            sending = asyncio.gather(*(one(t, b) for t, (_, b) in enumerate(ipns)))
            await asyncio.wait_for(lost_answer.wait(), 60)
            victim.process.send_signal(signal.SIGKILL)  # notices in its hands stay claimed
            await victim.process.wait()
            claimed = await _claims(engine)  # at the kill: the victim's and the others'
            await asyncio.gather(sending, asyncio.sleep(HANDLED_WITHIN))
            # the victim's rows keep its claim until their lease runs out; the others have
            # handled theirs by now
            still = await _claims(engine)
            in_flight = Counter(chat for row, chat in claimed.items() if still.get(row) == chat)
        (unanswered,) = telegram.unanswered

        async with engine.connect() as db:
            statuses = Counter((await db.execute(select(Payment.status))).scalars())
            assert statuses == {"finished": paying}, statuses
            activations = await db.execute(
                select(Activation.payment_id, func.count()).group_by(Activation.payment_id)
            )
            assert sorted(n for _, n in activations) == [1] * paying

        rows = await _delivered(engine)
        await asyncio.sleep(1.0)  # anything doubled would have arrived by now
        queued = Counter(int(chat) for platform, chat in rows if platform == "telegram")
        doubled = 0
        for chat in chats:  # the card, answered directly, and each queued notice once
            sent = [r for r in telegram.requests if r.method in SENDS and r.chat_id == chat]
            delivered = [r for r in sent if r.status == 200]
            extra = len(delivered) - 1 - queued[chat]
            # a second copy only of what the dead worker may have sent unrecorded
            assert 0 <= extra <= in_flight[chat], (chat, extra, [r.params for r in delivered])
            doubled += extra
        print(f"claimed at the kill: {sum(in_flight.values())}, delivered twice: {doubled}")
        # the notice whose answer the victim never got was sent again, not lost
        again = [
            r
            for r in telegram.requests
            if r.chat_id == unanswered.chat_id and r.params == unanswered.params
        ]
        assert [r.status for r in again] == [200, 200], again
        assert all(queued[chat] >= 1 for chat in chats)  # the activation at least
        # Discord: each queued notice once (a resend carries the row's nonce)
        on_discord = Counter(chat for platform, chat in rows if platform == "discord")
        assert sum(on_discord.values()) >= len(DISCORD_USERS)
        posted = Counter(m["channel_id"] for m in discord.messages if m["via"] == "channel")
        assert posted == Counter({_dm(discord, c): n for c, n in on_discord.items()}), (
            posted,
            on_discord,
        )

        # later the owner of a gateway shard dies: the last worker takes it over in time
        async with httpx.AsyncClient() as client:
            owners = await _settled(client, workers, discord, timeout=30, polling=False)
            second = workers[owners[SHARDS[0]]]
            second.process.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            await second.process.wait()
            await _settled(client, workers, discord, timeout=30, polling=False)
            took = time.monotonic() - killed
            assert took <= TAKEOVER, f"shard 0 taken over after {took:.1f} s"
            print(f"{SHARDS[0]} taken over {took:.1f} s after SIGKILL")
        last = next(w for w in workers if w.process.returncode is None)
        late = DISCORD_USERS[-1] + 1  # customers keep getting answers, on both platforms
        await _discord_buy(discord, late, GUILDS[0])
        await discord.wait_for(
            lambda m: len(_cards(discord)) >= len(DISCORD_USERS) + 1, timeout=TAKEOVER
        )
        update = telegram.push_message(chats[-1] + 1, "/buy pro sol", user_id=chats[-1] + 1)
        telegram._pending.clear()
        url = f"http://127.0.0.1:{last.port}/webhooks/telegram"
        assert await telegram.post_update(url, update, SECRET) == 200
        await telegram.wait_for(lambda f: _calls(f, "sendPhoto", chats[-1] + 1), timeout=15)

        throttled = [(r.method, r.chat_id) for r in telegram.requests if r.status == 429]
        assert telegram.too_many == 0 and not throttled, throttled
        assert discord.rate_limited == 0
    finally:
        codes = await stop_workers(workers)
        await engine.dispose()
        await nowpayments.stop()
        await discord.stop()
        await telegram.stop()
    assert codes.count(-signal.SIGKILL) == 2 and codes.count(0) == 1, codes
    survivor = next(w for w, code in zip(workers, codes, strict=True) if code == 0)
    assert "Traceback" not in survivor.err.decode(), survivor.err.decode()[-3000:]


async def _discord_buy(discord: FakeDiscord, user: int, guild: int) -> None:
    payload = discord.slash_payload(
        "buy", {"plan": "pro", "coin": "sol"}, user_id=user, guild_id=guild, channel_id=CHANNEL
    )
    await discord.dispatch("INTERACTION_CREATE", payload)


def _dm(discord: FakeDiscord, chat: str) -> str:
    """The channel a Discord notice went to: a DM channel's id, or a user's DM channel."""
    channel = discord.dm_channel_of(int(chat))
    return str(channel if channel is not None else chat)


async def _delivered(engine: AsyncEngine) -> list[tuple[str, str]]:
    """Wait until every outbox row is sent (a killed worker's after their lease); each row's
    (platform, chat)."""
    deadline = time.monotonic() + DELIVERED_WITHIN
    while True:
        async with engine.connect() as db:
            rows = (
                await db.execute(
                    select(OutboxItem.chat_platform, OutboxItem.chat_id, OutboxItem.status)
                )
            ).all()
        if rows and all(status == "sent" for *_, status in rows):
            return [(platform, chat) for platform, chat, _ in rows]
        assert time.monotonic() < deadline, Counter(status for *_, status in rows)
        await asyncio.sleep(0.5)
