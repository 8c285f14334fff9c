"""Agent turns: one `create_agent` graph per process, the caller passed as runtime context,
bounded chat memory in, typed cards out."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from langchain.agents import create_agent
from langchain.agents.middleware import ModelRequest, dynamic_prompt
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from bot.agent.offline_model import INTENT_KEY
from tools.actions import CustomerActions
from tools.agent_tools import ToolContext, build_agent_tools
from tools.cards import Card

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You are the sales assistant of {shop}, which sells subscription plans for cryptocurrency. "
    "Answer in the customer's language ({locale}). Use the tools for every fact about plans, "
    "prices, coins and payments; never invent an amount, address or price. Create a payment "
    "only when the customer clearly wants to buy. Keep answers short."
)


@dataclass
class TurnResult:
    cards: list[Card] = field(default_factory=list)
    text: str = ""
    intent: str = ""  # the tool called, or "help" / "unknown"
    summary: str = ""  # what the tools said (kept as the assistant's turn in chat memory)


class AgentRunner:
    def __init__(
        self,
        model: BaseChatModel,
        shop_name: str,
        plan_codes: Sequence[str],
        coin_codes: Sequence[str],
        max_steps: int = 5,
    ) -> None:
        self.max_steps = max_steps

        @dynamic_prompt
        def prompt(request: ModelRequest) -> str:
            caller = request.runtime.context.actions.caller
            return SYSTEM_PROMPT.format(shop=shop_name, locale=caller.locale)

        self.agent = create_agent(
            model,
            build_agent_tools(plan_codes, coin_codes),
            middleware=[prompt],
            context_schema=ToolContext,
        )

    async def turn(
        self, actions: CustomerActions, history: list[BaseMessage], text: str
    ) -> TurnResult:
        messages = [*history, HumanMessage(text)]
        state = await self.agent.ainvoke(
            {"messages": messages},
            config={"recursion_limit": 2 * self.max_steps + 1},
            context=ToolContext(actions),
        )
        new = state["messages"][len(messages) :]
        result = TurnResult()
        for message in new:
            if isinstance(message, ToolMessage):
                result.summary = f"{result.summary} {message.text}".strip()[:1000]
                if message.artifact is not None:
                    result.cards.append(message.artifact)
            elif isinstance(message, AIMessage):
                if message.tool_calls and not result.intent:
                    result.intent = message.tool_calls[0]["name"]
                elif not result.intent:
                    result.intent = str(message.response_metadata.get(INTENT_KEY, ""))
                if message.text and not message.tool_calls:
                    result.text = message.text
        return result
