"""What a long free-text message costs: the router's CPU time per message by length, and how
long the event loop stalls for everyone else while long messages are answered.

Run from the repository root: ``python benchmarks/router_cost.py [--runs 3] [--messages 8]``.

1. CPU time (`time.process_time`) of one `IntentRouter.route` call for messages of 100, 1,000,
   4,000 and 20,000 characters of four kinds: prose with a request at its start, unknown
   words, Chinese text, and one long word. Every run routes a freshly generated text (the
   router's caches must not help), median and range of `--runs` runs.
2. The stall: the real app on the fake adapter and a temporary SQLite database answers
   `--messages` long messages (2,000 characters of unknown words, the most a chat passes to
   the agent) from different customers at once, while a ping task (like a `/healthz` request)
   wakes every 5 ms and records how late it woke. Prints the worst and the median lateness
   per run, and how long the whole batch took; median and range of the runs.

Prints the machine's load (os.getloadavg) before and after: on a busy machine every number
grows. Run the same file in an older checkout to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from router_accuracy import COINS, PLANS  # noqa: E402

from bot.adapters.fake import FakeAdapter  # noqa: E402
from bot.agent.intent_model import IntentModel  # noqa: E402
from bot.agent.router import IntentRouter  # noqa: E402
from bot.app import App  # noqa: E402
from bot.config import load_config  # noqa: E402

LENGTHS = (100, 1_000, 4_000, 20_000)
PROSE = (
    "Last summer my family and I travelled along the coast, and every evening we watched the "
    "fishing boats come back while the children collected shells on the beach. The weather "
    "was kind to us, although one afternoon a storm rolled in from the sea. "
).split()
HANZI = "天气怎么样今天很好我们去公园玩吧的了是在有一个人家里朋友学校老师"


def _letters(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 10)))


def text_of(kind: str, length: int, rng: random.Random) -> str:
    if kind == "one long word":
        return "buy pro btc " + "".join(rng.choice("ab") for _ in range(length))[: length - 12]
    if kind == "chinese":
        out = ["我想用比特币买Pro。"]
        while sum(map(len, out)) < length:
            out.append(rng.choice(HANZI))
        return "".join(out)[:length]
    word = (lambda: rng.choice(PROSE)) if kind == "prose" else (lambda: _letters(rng))
    out = ["I want to buy Pro with Bitcoin."]
    while sum(len(w) + 1 for w in out) < length:
        out.append(word())
    return " ".join(out)[:length]


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):8.1f} ({min(values):.1f}–{max(values):.1f})"


def router_cpu(runs: int) -> None:
    router = IntentRouter(PLANS, COINS, model=IntentModel.load())  # as the app routes
    router.route("warm up: buy pro with btc")
    print(f"router CPU time per message, ms: median (min–max) of {runs} runs (! = it raised)")
    print(f"{'kind':<14}" + "".join(f"{n:>22,} " for n in LENGTHS))
    for kind in ("prose", "unknown words", "chinese", "one long word"):
        cells = []
        for length in LENGTHS:
            times, crashed = [], 0
            for run in range(runs):
                text = text_of(kind, length, random.Random(f"{kind}{length}{run}"))
                start = time.process_time()
                try:
                    router.route(text)
                except Exception:  # an older router overflowed on very long messages
                    crashed += 1
                times.append((time.process_time() - start) * 1000)
            cells.append(spread(times) + ("!" * crashed or " "))
        print(f"{kind:<14}" + "".join(f"{c:>22}" for c in cells), flush=True)


async def stall_once(messages: int, run: int) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(
            ROOT / "config.toml", {"PAYBOT_DATABASE__URL": f"sqlite+aiosqlite:///{tmp}/b.db"}
        )
        fake = FakeAdapter()
        app = App(config, adapters=[fake])
        await app.start(background=False)
        try:
            await fake.say("warm up", user="warm")
            late: list[float] = []
            done = asyncio.Event()

            async def ping() -> None:
                while not done.is_set():
                    due = time.perf_counter() + 0.005
                    await asyncio.sleep(0.005)
                    late.append((time.perf_counter() - due) * 1000)

            rng = random.Random(f"stall{run}")
            texts = [text_of("unknown words", 2_000, rng) for _ in range(messages)]
            pinger = asyncio.create_task(ping())
            await asyncio.sleep(0.05)
            start = time.perf_counter()
            await asyncio.gather(*(fake.say(t, user=f"c{i}") for i, t in enumerate(texts)))
            elapsed = time.perf_counter() - start
            done.set()
            await pinger
        finally:
            await app.stop()
    late.sort()
    return late[-1], statistics.median(late), elapsed * 1000


def stall(runs: int, messages: int) -> None:
    results = [asyncio.run(stall_once(messages, run)) for run in range(runs)]
    worst, typical, total = zip(*results, strict=True)
    print(
        f"\nevent-loop stall while the app answers {messages} messages of 2,000 characters at "
        f"once, ms: median (min–max) of {runs} runs"
    )
    print(f"  worst ping lateness      {spread(list(worst))}")
    print(f"  median ping lateness     {spread(list(typical))}")
    print(f"  all {messages} answered after  {spread(list(total))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--messages", type=int, default=8)
    args = parser.parse_args()
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    router_cpu(args.runs)
    stall(args.runs, args.messages)
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
