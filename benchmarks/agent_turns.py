"""What a free-text turn costs on each path of the agent: the router alone, a hosted model
that answers in text, a hosted model that calls a tool and then answers, and the fallback
when the endpoint is down; and, with ``--conversations``, how many turns of real
conversations need the hosted model at all.

Run from the repository root: ``python benchmarks/agent_turns.py [--turns N] [--db URL]``,
or ``python benchmarks/agent_turns.py --conversations [benchmarks/data/conversations.jsonl]``:
60 conversations (10 per language, 297 customer turns) written blind, each turn labelled with
its intent. Every conversation is a new customer of the real app in front of the fake model,
which plays a perfect model: asked about a turn, it calls the labelled tool with the labelled
arguments (or answers in text when no tool does), then answers in text. Prints the share of
turns answered with no model call, the mean model calls per turn, and every turn the router
answered alone ("sure") with another intent or other arguments than its label.
The real app, `langchain-openai` client and LangChain agent run against the fake
OpenAI-compatible server of the tests on 127.0.0.1, which answers at once: the numbers are
paybot's own overhead per turn (graph, HTTP, database), to which a real model adds its
thinking time. Also prints the model calls and tokens counted for `/metrics`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.router_accuracy import normalized  # noqa: E402
from bot.adapters.fake import FakeAdapter  # noqa: E402
from bot.app import App  # noqa: E402
from bot.config import load_config  # noqa: E402
from storage.models import PendingQuestion  # noqa: E402
from tests.fakes.openai_server import Call, FakeOpenAI, Reply  # noqa: E402
from tools.agent_tools import TOOL_NAMES  # noqa: E402

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
            "PAYBOT_AGENT__TEXT_BURST": "1000000",  # a conversation's turns come at once here
            "PAYBOT_AGENT__TEXT_PER_MINUTE": "1000000",
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


CONVERSATIONS = ROOT / "benchmarks" / "data" / "conversations.jsonl"


def perfect_model(turn: dict):
    """The fake model's answers to one labelled turn: the labelled tool call, then text."""

    def answer(body: dict):
        if body["messages"][-1]["role"] == "tool" or turn["tool"] not in TOOL_NAMES:
            return Reply("Done.")
        return Call(turn["tool"], turn["args"])

    return answer


async def count_rows(app: App, model: type, **where: object) -> int:
    async with app.db.sessions() as session:
        query = select(func.count()).select_from(model).filter_by(**where)
        return (await session.execute(query)).scalar_one()


async def conversations(path: Path, db: str | None) -> None:
    with path.open(encoding="utf-8") as f:
        talks = [json.loads(line) for line in f if line.strip()]
    server = FakeOpenAI(api_key=KEY)
    await server.start()
    calls: dict[str, list[int]] = {}
    misroutes = []
    answers = 0  # turns that answered a question a tool asked (no model call)
    with tempfile.TemporaryDirectory() as tmp:
        url = db or f"sqlite+aiosqlite:///{tmp}/bench.db"
        fake = FakeAdapter()
        app = App(config(url, server.url), adapters=[fake])
        await app.start(background=False)
        try:
            for talk in talks:
                for turn in talk["turns"]:
                    label = normalized({**turn, "lang": talk["lang"]})
                    server.responder = perfect_model(label)
                    before = len(server.requests)
                    asked = await count_rows(app, PendingQuestion, chat_id=talk["id"])
                    await fake.say(turn["text"], user=talk["id"], locale=talk["lang"])
                    n = len(server.requests) - before
                    calls.setdefault(talk["lang"], []).append(n)
                    answers += bool(asked and n == 0)
                    if n == 0 and not asked:  # the router alone (else: the question's answer)
                        intent = app.agent.router.route(turn["text"])
                        got = (intent.tool, dict(intent.args)) if intent else (None, {})
                        if got != (label["tool"], label["args"]):
                            misroutes.append((talk["id"], turn["text"], label, got))
        finally:
            await app.stop()
            await server.stop()
    print(f"{path.name}: {len(talks)} conversations, a perfect fake model behind the router\n")
    print(f"{'lang':<5}{'turns':>6}{'no model':>10}{'calls/turn':>12}")
    every = [n for ns in calls.values() for n in ns]
    for lang, ns in [*sorted(calls.items()), ("all", every)]:
        none = sum(n == 0 for n in ns) / len(ns)
        print(f"{lang:<5}{len(ns):>6}{none:>10.1%}{sum(ns) / len(ns):>12.2f}")
    print(f"\nturns that answered a question a tool had asked (not checked): {answers}")
    print(f"turns the router answered alone with another intent or arguments: {len(misroutes)}")
    for talk_id, text, label, got in misroutes:
        print(f"  [{talk_id}] {text!r}")
        print(f"      want {label['tool']} {label['args']}\n      got  {got}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--db", default=None, help="database URL (default: a temporary SQLite)")
    parser.add_argument("--conversations", nargs="?", type=Path, const=CONVERSATIONS)
    args = parser.parse_args()
    if args.conversations:
        asyncio.run(conversations(args.conversations, args.db))
    else:
        asyncio.run(run(args.turns, args.db))


if __name__ == "__main__":
    main()
