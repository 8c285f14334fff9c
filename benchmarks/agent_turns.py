"""What a free-text turn costs on each path of the agent: the router alone, a hosted model
that answers in text, a hosted model that calls a tool and then answers, and the fallback
when the endpoint is down.

Run from the repository root: ``python benchmarks/agent_turns.py [--turns N] [--db URL]``.
The real app, `langchain-openai` client and LangChain agent run against the fake
OpenAI-compatible server of the tests on 127.0.0.1, which answers at once: the numbers are
paybot's own overhead per turn (graph, HTTP, database), to which a real model adds its
thinking time. Also prints the model calls and tokens counted for `/metrics`.
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

from bot.adapters.fake import FakeAdapter  # noqa: E402
from bot.app import App  # noqa: E402
from bot.config import load_config  # noqa: E402
from tests.fakes.openai_server import Call, FakeOpenAI, Reply  # noqa: E402

KEY = "sk-bench"


def config(db: str, base_url: str):
    return load_config(
        ROOT / "config.toml",
        {
            "PAYBOT_DATABASE__URL": db,
            "PAYBOT_AGENT__MODEL": "openai:bench-model",
            "PAYBOT_AGENT__BASE_URL": base_url,
            "PAYBOT_AGENT__TIMEOUT_SECONDS": "2",
            "PAYBOT_AGENT__MAX_RETRIES": "0",
            "PAYBOT_AGENT__CALLS_PER_MINUTE": "1000000",
            "PAYBOT_OPENAI_API_KEY": KEY,
        },
    )


async def timed(fake: FakeAdapter, text: str, user: str) -> float:
    start = time.perf_counter()
    replies = await fake.say(text, user=user)
    assert replies, text
    return time.perf_counter() - start


def report(label: str, values: list[float]) -> None:
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    print(f"{label:<34} p50 {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   n={len(ms)}")


async def run(turns: int, db: str | None) -> None:
    server = FakeOpenAI(api_key=KEY)
    await server.start()
    with tempfile.TemporaryDirectory() as tmp:
        url = db or f"sqlite+aiosqlite:///{tmp}/bench.db"
        fake = FakeAdapter()
        app = App(config(url, server.url), adapters=[fake])
        await app.start(background=False)
        try:
            router = [
                await timed(fake, "which coins do you accept?", f"r{i}") for i in range(turns)
            ]
            report("router (no model call)", router)
            server.responder = lambda body: Reply("Happy to help.")
            text = [await timed(fake, "tell me something nice", f"t{i}") for i in range(turns)]
            report("model: one call, text", text)
            tool = []
            for i in range(turns):
                server.then(Call("get_user_plan"), Reply("You could try Pro."))
                tool.append(await timed(fake, "anything better for me?", f"p{i}"))
            report("model: tool call + text (2 calls)", tool)
            card = []
            for i in range(turns):
                server.then(Call("get_payment_estimate", {"plan": "pro", "coin": "sol"}))
                card.append(await timed(fake, "and that in the cool coin?", f"c{i}"))
            report("model: card tool (1 call)", card)
            await server.stop()
            down = [await timed(fake, "what about pro?", f"d{i}") for i in range(turns)]
            report("endpoint down: router fallback", down)
            for line in app.metrics.lines():
                if line.startswith(("paybot_model_calls", "paybot_model_tokens", "paybot_agent")):
                    print("  " + line)
        finally:
            await app.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--db", default=None, help="database URL (default: a temporary SQLite)")
    args = parser.parse_args()
    asyncio.run(run(args.turns, args.db))


if __name__ == "__main__":
    main()
