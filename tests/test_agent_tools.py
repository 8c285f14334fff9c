"""Tool scoping: identity never in a schema; other people's payments look like missing ones."""

from __future__ import annotations

import json

from bot.render import error_text
from tests.helpers import buy
from tools.actions import CustomerActions
from tools.agent_tools import TOOL_NAMES, build_agent_tools
from tools.caller import Caller

FORBIDDEN = (
    "user",
    "chat",
    "price",
    "url",
    "uri",
    "address",
    "amount",
    "caller",
    "config",
    "callbacks",
    "run_manager",
)


def _tools(app):
    return build_agent_tools(app.catalog.plan_codes, app.catalog.coin_codes)


async def test_eight_tools_with_clean_schemas(app) -> None:
    tools = _tools(app)
    assert tuple(t.name for t in tools) == TOOL_NAMES
    for t in tools:
        schema = json.dumps(t.tool_call_schema.model_json_schema()).lower()
        properties = t.tool_call_schema.model_json_schema().get("properties", {})
        for name in properties:
            assert not any(word in name.lower() for word in FORBIDDEN), (t.name, name)
        assert "user_id" not in schema and "chat_id" not in schema
        assert t.description.strip()


async def test_tools_return_content_and_a_card(app, fake) -> None:
    await fake.say("/plans")  # the caller exists
    actions = CustomerActions(app.shop, Caller(1, "fake", "alice", "en"))
    result = await app.agent.turn(actions, [], "which coins do you accept")
    assert result.intent == "get_available_cryptocurrencies"
    assert "sol (Solana)" in result.summary
    assert [type(card).__name__ for card in result.cards] == ["CurrenciesCard"]


async def test_another_users_payment_is_not_found(app, fake) -> None:
    pid = await buy(fake, "/buy pro sol", user="alice")
    for command in (f"/status {pid}", f"/retry {pid}", f"/pay {pid}"):
        theirs = await fake.say(command, user="mallory")
        missing = await fake.say(command.replace(str(pid), "999"), user="mallory")
        assert theirs[0].text == error_text("not_found", {"payment_id": pid})
        assert missing[0].text == error_text("not_found", {"payment_id": 999})
    history = await fake.say("/history", user="mallory")
    assert f"#{pid}" not in history[0].text
    # and through the agent: the model cannot reach alice's payment either
    answer = await fake.say(f"what is the status of payment {pid}", user="mallory")
    assert answer[0].text == error_text("not_found", {"payment_id": pid})
    status = await fake.say(f"/status {pid}", user="alice")
    assert "waiting for payment" in status[0].text


OPERATOR_WORDS = ("admin", "operator", "grant", "revoke", "export", "reconcile", "resend")


async def test_the_agent_reaches_only_the_eight_customer_actions(hosted_app) -> None:
    """Structural: both agent graphs hold exactly the eight tools, each tool does nothing but
    call the customer action of its own name, and nothing the agent is built from imports
    operator code."""
    import ast

    from tests.conftest import ROOT

    for graph in (hosted_app.agent.offline, hosted_app.agent.hosted):
        tools = graph.nodes["tools"].bound.tools_by_name
        assert tuple(tools) == TOOL_NAMES
        for name, t in tools.items():
            assert set(t.coroutine.__code__.co_names) == {"_pair", "context", "actions", name}
            schema = t.tool_call_schema.model_json_schema()
            for field in schema.get("properties", {}):
                assert not any(word in field.lower() for word in FORBIDDEN), (name, field)
    for name in TOOL_NAMES:
        assert callable(getattr(CustomerActions, name))
    public = {n for n in vars(CustomerActions) if not n.startswith("_")}
    assert not any(word in n for n in public for word in OPERATOR_WORDS)
    sources = [*(ROOT / "bot" / "agent").glob("*.py"), ROOT / "tools" / "agent_tools.py"]
    sources.append(ROOT / "tools" / "actions.py")
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [getattr(node, "module", None) or ""] + [a.name for a in node.names]
                assert not any(w in n.lower() for n in names for w in OPERATOR_WORDS), path
