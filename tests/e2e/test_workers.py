"""Several `paybot run` workers on one PostgreSQL: one owner for each connection.

Three real worker processes share the fake Telegram Bot API in polling mode and the fake
Discord gateway with two shards. Exactly one of them polls `getUpdates` (the fake answers a
second poller with 409 Conflict), each shard has exactly one gateway session, every
customer's command is answered once; when the owners are killed with SIGKILL (no release),
the survivors take their connections over within 10 s and customers keep getting answers,
nothing doubled. Needs PostgreSQL (SQLite is one worker).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import PG_URL, _fresh_postgres, free_port
from tests.e2e.test_discord import CHANNEL, USER
from tests.e2e.test_telegram import _calls
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.nowpayments_server import FakeNowPayments
from tests.fakes.telegram_server import FakeTelegram
from tests.helpers import paybot_run

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs PAYBOT_TEST_DATABASE_URL")

GUILDS = (420000000000000001, 420000000000000001 + (1 << 22))  # shards 0 and 1 of 2
POLLING = "telegram:polling"
SHARDS = ("discord:shard:0", "discord:shard:1")
TAKEOVER = 10.0  # seconds the issue allows


class Worker:
    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process, self.port = process, port
        self.err = bytearray()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:  # keep the pipe drained: a full pipe would block it
        assert self.process.stderr is not None
        while chunk := await self.process.stderr.read(65536):
            self.err += chunk

    async def health(self, http: httpx.AsyncClient) -> dict | None:
        try:
            answer = await http.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2)
        except httpx.HTTPError:
            return None
        return answer.json()

    async def owns(self, http: httpx.AsyncClient) -> set[str]:
        health = await self.health(http)
        return set(health["connections"]["owns"]) if health else set()


async def shop_worker(
    db_url: str,
    cwd: Path,
    telegram: FakeTelegram,
    nowpayments: FakeNowPayments,
    secret: str,
    client: str | None = None,
    **env: str,
) -> Worker:
    """A `paybot run` worker selling through the fake NOWPayments, with Telegram in webhook
    mode (the updates are posted to each worker, as a proxy in front of them would); with
    `client`, the fake Bot API tags its requests with it."""
    port = free_port()
    process = await paybot_run(
        db_url,
        cwd,
        PROVIDER__NAME="nowpayments",
        PROVIDER__NOWPAYMENTS__BASE_URL=nowpayments.url,
        NOWPAYMENTS_API_KEY=nowpayments.api_key,
        NOWPAYMENTS_IPN_SECRET=nowpayments.ipn_secret,
        TELEGRAM__ENABLED="true",
        TELEGRAM__MODE="webhook",
        TELEGRAM__BASE_URL=telegram.url_for(client) if client else telegram.url,
        TELEGRAM_TOKEN=telegram.token,
        TELEGRAM_WEBHOOK_SECRET=secret,
        WEBHOOKS__ENABLED="true",
        WEBHOOKS__PORT=str(port),
        WEBHOOKS__PUBLIC_URL=f"http://127.0.0.1:{port}",
        **env,
    )
    return Worker(process, port)


async def stop_workers(workers: list[Worker]) -> list[int]:
    """Stop the live workers as systemd would (SIGTERM); every worker's exit code."""
    for worker in workers:
        if worker.process.returncode is None:
            worker.process.send_signal(signal.SIGTERM)
    codes = [await asyncio.wait_for(w.process.wait(), 30) for w in workers]
    for worker in workers:
        await worker._reader
    return codes


async def _owners(
    http: httpx.AsyncClient, workers: list[Worker], polling: bool = True
) -> dict[str, list[int]]:
    """Connection -> the indexes of the live workers that say they own it."""
    names = (POLLING, *SHARDS) if polling else SHARDS
    owners: dict[str, list[int]] = {name: [] for name in names}
    for i, worker in enumerate(workers):
        if worker.process.returncode is None:
            for name in await worker.owns(http):
                owners[name].append(i)
    return owners


async def _settled(
    http: httpx.AsyncClient,
    workers: list[Worker],
    discord: FakeDiscord,
    timeout: float,
    polling: bool = True,
) -> dict[str, int]:
    """Wait until each connection (Telegram polling too, when `polling`) has exactly one live
    owner, each shard exactly one gateway session, and the shards are divided among the live
    workers; the owners."""
    deadline = time.monotonic() + timeout
    while True:
        owners = await _owners(http, workers, polling)
        sessions = [len(discord.sessions(shard=i)) for i in range(len(SHARDS))]
        alive = sum(w.process.returncode is None for w in workers)
        divided = alive == 1 or owners[SHARDS[0]] != owners[SHARDS[1]]  # one shard each
        if all(len(o) == 1 for o in owners.values()) and sessions == [1, 1] and divided:
            return {name: o[0] for name, o in owners.items()}
        if time.monotonic() > deadline:
            holders = [(s.shard, _pid_of(s.peer)) for s in discord.sessions()]
            pids = [w.process.pid for w in workers]
            raise AssertionError(
                f"not settled: owners {owners}, sessions {sessions} (shard, pid) {holders}, "
                f"workers' pids {pids}"
            )
        await asyncio.sleep(0.2)


def _pid_of(peer: tuple[str, int] | None) -> str:
    """Which process holds the client end of a connection (for a failure's message)."""
    if peer is None:
        return "?"
    found = subprocess.run(
        ["ss", "-tnpH", f"sport = :{peer[1]}"], capture_output=True, text=True, check=False
    )
    return found.stdout.strip() or "?"


async def _sees_workers(http: httpx.AsyncClient, worker: Worker, n: int) -> bool:
    health = await worker.health(http)
    return bool(health) and health["connections"]["workers"] == n


def _no_conflicts(telegram: FakeTelegram, workers: list[Worker]) -> None:
    polls = telegram.calls("getUpdates")
    logs = [
        line
        for w in workers
        for line in w.err.decode().splitlines()
        if "lease" in line or "getUpdates" in line
    ]
    conflicts = [(c.at, c.params) for c in polls if c.status == 409]
    assert polls and not conflicts, (conflicts, time.monotonic(), logs)


async def _telegram_buys(telegram: FakeTelegram, chat: int, n: int) -> None:
    telegram.push_message(chat, "/buy pro sol", user_id=chat)
    await telegram.wait_for(lambda f: len(_calls(f, "sendPhoto", chat)) >= n, timeout=15)


async def _discord_buys(discord: FakeDiscord, guild: int, n: int) -> None:
    payload = discord.slash_payload(
        "buy", {"plan": "pro", "coin": "sol"}, user_id=USER, guild_id=guild, channel_id=CHANNEL
    )
    await discord.dispatch("INTERACTION_CREATE", payload)
    await discord.wait_for(lambda m: len(_cards(discord)) >= n, timeout=15)


def _cards(discord: FakeDiscord) -> list[dict]:
    return [m for m in discord.messages if m["embeds"] and "Payment" in str(m["embeds"])]


async def test_each_connection_has_one_owner_and_moves_when_it_dies(tmp_path: Path) -> None:
    await _fresh_postgres(PG_URL)
    telegram, discord = FakeTelegram(), FakeDiscord()
    await telegram.start()
    await discord.start()
    for guild in GUILDS:
        discord.add_guild(guild)
    workers: list[Worker] = []
    try:
        for _ in range(3):
            port = free_port()
            process = await paybot_run(
                PG_URL,
                tmp_path,
                PROVIDER__ALLOW_SANDBOX_IN_CHATS="true",
                TELEGRAM__ENABLED="true",
                TELEGRAM__BASE_URL=telegram.url,
                TELEGRAM_TOKEN=telegram.token,
                DISCORD__ENABLED="true",
                DISCORD__API_BASE=discord.api_base,
                DISCORD__SHARD_COUNT="2",
                DISCORD_TOKEN=discord.token,
                WEBHOOKS__ENABLED="true",
                WEBHOOKS__PORT=str(port),
                WEBHOOKS__PUBLIC_URL=f"http://127.0.0.1:{port}",
            )
            workers.append(Worker(process, port))
        async with httpx.AsyncClient() as http:
            started = time.monotonic() + 90
            while not all([await _sees_workers(http, w, 3) for w in workers]):
                assert time.monotonic() < started, [
                    (w.process.returncode, await w.health(http), w.err.decode()[-1500:])
                    for w in workers
                ]
                await asyncio.sleep(0.3)
            owners = await _settled(http, workers, discord, timeout=30)
            deadline = time.monotonic() + 15  # each worker's report is refreshed every round
            health = await workers[0].health(http)
            while health["connections"]["owners"].keys() != {POLLING, *SHARDS}:
                assert time.monotonic() < deadline, health
                await asyncio.sleep(0.3)
                health = await workers[0].health(http)
            metrics = (
                await http.get(f"http://127.0.0.1:{workers[owners[POLLING]].port}/metrics")
            ).text
            assert f'paybot_connection_owned{{connection="{POLLING}"}} 1' in metrics
            assert "paybot_workers_live 3" in metrics

            chats = iter(range(5001, 5100))
            tg_answers = dc_answers = 0
            for _ in range(2):
                tg_answers += 1
                await _telegram_buys(telegram, next(chats), 1)
                for guild in GUILDS:
                    dc_answers += 1
                    await _discord_buys(discord, guild, dc_answers)

            for victim_of in (POLLING, SHARDS[1]):  # kill an owner; then the next one's
                victim = workers[owners[victim_of]]
                lost = await victim.owns(http)
                victim.process.send_signal(signal.SIGKILL)
                killed = time.monotonic()
                await victim.process.wait()
                owners = await _settled(http, workers, discord, timeout=30)
                took = time.monotonic() - killed
                assert took <= TAKEOVER, f"{lost} taken over after {took:.1f} s"
                print(f"{sorted(lost)} taken over {took:.1f} s after SIGKILL")
                for _ in range(2):  # customers keep getting answers, once each
                    chat = next(chats)
                    await _telegram_buys(telegram, chat, 1)
                    for guild in GUILDS:
                        dc_answers += 1
                        await _discord_buys(discord, guild, dc_answers)
            alive = [w for w in workers if w.process.returncode is None]
            assert len(alive) == 1
            assert await alive[0].owns(http) == {POLLING, *SHARDS}  # the last one runs all

            await asyncio.sleep(1.5)  # anything doubled would have arrived by now
            for chat in range(5001, next(chats)):
                assert len(_calls(telegram, "sendPhoto", chat)) == 1, chat
            assert len(_cards(discord)) == dc_answers
            _no_conflicts(telegram, workers)
    finally:
        codes = await stop_workers(workers)
        await discord.stop()
        await telegram.stop()
    survivor = next(w for w, code in zip(workers, codes, strict=True) if code == 0)
    assert codes.count(-signal.SIGKILL) == 2 and codes.count(0) == 1, codes
    assert "Traceback" not in survivor.err.decode(), survivor.err.decode()[-3000:]
