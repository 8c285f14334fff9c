"""How fast Discord interactions are acknowledged and answered (Discord allows 3 s to ack).

Run from the repository root: ``python benchmarks/discord_latency.py [--db URL] [--users N]``.
The real app and discord.py client run against the fake Discord of the tests (gateway and
REST on 127.0.0.1); each user sends `/buy pro sol` in a server. Prints, for one user at a
time and for all users at once, the time from the gateway event to the deferral reaching
Discord ("ack") and to the payment card reaching Discord ("card").
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.adapters.discord import from_config  # noqa: E402
from bot.app import App  # noqa: E402
from bot.config import load_config  # noqa: E402
from tests.fakes.discord_server import FakeDiscord  # noqa: E402
from tools.clock import system_clock  # noqa: E402

GUILD, CHANNEL = 420000000000000001, 430000000000000001


async def one(fake: FakeDiscord, user: int) -> tuple[float, float]:
    payload = fake.slash_payload(
        "buy", {"plan": "pro", "coin": "sol"}, user_id=user, guild_id=GUILD, channel_id=CHANNEL
    )
    start = time.perf_counter()
    await fake.dispatch("INTERACTION_CREATE", payload)
    await fake.wait_for(lambda c: c["interaction_id"] == int(payload["id"]), what="callbacks")
    ack = time.perf_counter() - start
    await fake.wait_for(lambda m: m.get("token") == payload["token"] and m["embeds"], 30)
    return ack, time.perf_counter() - start


def report(label: str, samples: list[tuple[float, float]]) -> None:
    for name, values in (("ack", [s[0] for s in samples]), ("card", [s[1] for s in samples])):
        values = sorted(v * 1000 for v in values)
        p99 = values[min(len(values) - 1, round(0.99 * (len(values) - 1)))]
        print(
            f"{label:<22} {name:<5} p50 {statistics.median(values):7.1f} ms   "
            f"p99 {p99:7.1f} ms   max {values[-1]:7.1f} ms"
        )


async def main(db: str | None, users: int) -> None:
    workdir = tempfile.mkdtemp()
    fake = FakeDiscord()
    await fake.start()
    environ = {
        "PAYBOT_DATABASE__URL": db or f"sqlite+aiosqlite:///{workdir}/bench.db",
        "PAYBOT_DISCORD__ENABLED": "true",
        "PAYBOT_PROVIDER__ALLOW_SANDBOX_IN_CHATS": "true",
        "PAYBOT_DISCORD__API_BASE": fake.api_base,
        "PAYBOT_DISCORD__GUILD_IDS": f"[{GUILD}]",
        "PAYBOT_DISCORD_TOKEN": fake.token,
    }
    config = load_config(ROOT / "config.toml", environ)
    app = App(config, adapters=[from_config(config)], clock=system_clock)
    await app.start()
    try:
        print(f"database: {config.database.url.split(':')[0]}, {users} users")
        report("one at a time", [await one(fake, 500 + n) for n in range(users)])
        burst = await asyncio.gather(*(one(fake, 10_000 + n) for n in range(users)))
        report(f"{users} at once", list(burst))
    finally:
        await app.stop()
        await fake.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--users", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(main(args.db, args.users))
