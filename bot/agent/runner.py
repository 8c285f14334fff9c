"""One agent turn: `create_agent` with the caller's tools, bounded chat memory, typed cards out."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from bot.agent.offline_model import INTENT_KEY
from tools.actions import CustomerActions
from tools.agent_tools import build_agent_tools
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
    def __init__(self, model: BaseChatModel, shop_name: str, max_steps: int = 5) -> None:
        self.model = model
        self.shop_name = shop_name
        self.max_steps = max_steps

    async def turn(
        self, actions: CustomerActions, history: list[BaseMessage], text: str
    ) -> TurnResult:
        agent = create_agent(
            self.model,
            build_agent_tools(actions),
            system_prompt=SYSTEM_PROMPT.format(shop=self.shop_name, locale=actions.caller.locale),
        )
        messages = [*history, HumanMessage(text)]
        state = await agent.ainvoke(
            {"messages": messages}, config={"recursion_limit": 2 * self.max_steps + 1}
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
