"""`paybot chat` pointed at an OpenAI-compatible endpoint (the fake model server on
127.0.0.1) holds the example dialogues in English and German: a plan question becomes an
upgrade suggestion, "which currency for Pro" the top three, "buy Pro with Solana" a payment
card, and "my payment failed" the history and then a retry.

The fake model answers by the customer's latest message (`by_last_message`), as a model that
understood them would; the router takes the turns it is sure of, so whichever of the two
answers a turn, the customer sees the same shop.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.app import App
from tests.conftest import OPENAI_KEY, make_config
from tests.e2e.test_console_session import Chat, _env, spawn
from tests.fakes.openai_server import Call, Reply, by_last_message

DIALOGUES = {
    "en": {
        "upgrade": "I'm on some small plan I think. Anything better for me?",
        "upgrade_answer": "You have no plan yet. Pro adds 10 projects and API access for $299.",
        "currency": "which currency for Pro",
        "buy": "buy Pro with Solana",
        "failed": "my payment failed",
        "retry": "ok, please try that one again",
        "no_plan": r"You have no active plan",
        "best": r"Best coins for Pro",
        "card": r"Payment #{id} · Pro plan",
        "expired": r"Payment #{id} expired",
        "history": r"#{id} · .* · Pro · .* SOL · expired",
    },
    "de": {
        "upgrade": "Ich habe wohl einen kleinen Plan – gibt es was Besseres für mich?",
        "upgrade_answer": "Sie haben noch keinen Plan. Pro bietet 10 Projekte und API-Zugang.",
        "currency": "welche Währung für Pro",
        "buy": "kaufe Pro mit Solana",
        "failed": "meine Zahlung ist fehlgeschlagen",
        "retry": "ok, bitte die nochmal versuchen",
        "no_plan": r"Sie haben keinen aktiven Plan",
        "best": r"Die besten Coins für Pro",
        "card": r"Zahlung #{id} · Plan Pro",
        "expired": r"Zahlung #{id} ist abgelaufen",
        "history": r"#{id} · .* · Pro · .* SOL · abgelaufen",
    },
}


@pytest.mark.parametrize("lang", ["en", "de"])
async def test_the_example_dialogues_with_a_model(
    db_url: str, tmp_path: Path, model_server, lang: str
) -> None:
    d = DIALOGUES[lang]
    model_server.responder = by_last_message(
        {
            d["upgrade"]: [Call("get_user_plan"), Reply(d["upgrade_answer"])],
            d["currency"]: [Call("recommend_best_currency", {"plan": "pro"}), Reply("SOL.")],
            d["buy"]: [Call("create_crypto_payment", {"plan": "pro", "coin": "sol"})],
            d["failed"]: [Call("get_payment_history")],
            d["retry"]: [Call("retry_failed_payment", {"payment_id": 1})],
        }
    )
    env = _env(
        db_url,
        tmp_path,
        PAYBOT_AGENT__MODEL="openai:test-model",
        PAYBOT_AGENT__BASE_URL=model_server.url,
        PAYBOT_OPENAI_API_KEY=OPENAI_KEY,
    )
    process = await spawn("chat", "--user", "alice", "--locale", lang, cwd=tmp_path, env=env)
    chat = Chat(process)
    try:
        await chat.say(d["upgrade"])
        await chat.expect(d["no_plan"])
        await chat.expect(re.escape(d["upgrade_answer"]))
        await chat.say(d["currency"])
        await chat.expect(d["best"])
        for rank in (1, 2, 3):
            await chat.expect(rf"^{rank}\. ")
        await chat.say(d["buy"])
        await chat.expect(d["card"].format(id=1))
        await chat.expect(r"\d+\.\d+ SOL")
        await chat.expect(d["expired"].format(id=1))  # TTL 6 s in these tests
        await chat.say(d["failed"])
        await chat.expect(d["history"].format(id=1))
        await chat.say(d["retry"])
        await chat.expect(d["card"].format(id=2))
    finally:
        process.stdin.close()
        await process.wait()

    # the turns the router is sure of never reached the model; the others did
    app = App(make_config("sqlite+aiosqlite:///:memory:"))
    turns = [d[k] for k in ("upgrade", "currency", "buy", "failed", "retry")]
    by_router = [t for t in turns if app.agent.sure(app.agent.router.route(t))]
    asked = {
        [m for m in r["messages"] if m["role"] == "user"][-1]["content"]
        for r in model_server.requests
    }
    assert d["buy"] in by_router and len(by_router) < len(turns)  # and some need the model
    assert asked == set(turns) - set(by_router)
    last = model_server.requests[-1]["messages"]
    assert (
        last[0]["role"] == "system"
        and ("Deutsch" if lang == "de" else "English") in last[0]["content"]
    )
    if d["retry"] not in by_router:  # the model answered after "failed": it remembers it
        assert any(m["content"] == d["failed"] for m in last if m["role"] == "user")
    assert model_server.refused == [] and model_server.unscripted == 0
