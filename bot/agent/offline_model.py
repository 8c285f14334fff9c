"""The built-in offline model: a LangChain chat model that routes a message to one tool call.

It lets the same `create_agent` loop run with no network: a human message becomes a tool call
(or an empty answer marked "help"/"unknown" for the conversation layer to explain, or
"language" with the code asked for under ``LANGUAGE_KEY``, or one of the everyday questions no
tool answers, such as "refund", with its arguments under ``ARGS_KEY``: the conversation layer
answers those with `CustomerActions.everyday`); after a tool has answered, it ends the turn and
lets the card speak. Its async path routes in a worker
thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict

from bot.agent.keys import ARGS_KEY, FORCED_KEY, INTENT_KEY, LANGUAGE_KEY
from bot.agent.router import Intent, IntentRouter
from tools.agent_names import TOOL_NAMES

__all__ = ["ARGS_KEY", "FORCED_KEY", "INTENT_KEY", "LANGUAGE_KEY", "OfflineRouterModel"]


class OfflineRouterModel(BaseChatModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    router: IntentRouter

    @property
    def _llm_type(self) -> str:
        return "paybot-offline-router"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> OfflineRouterModel:
        # The router already knows the tools by name; nothing to bind.
        return self

    def _answer(self, messages: list[BaseMessage]) -> AIMessage:
        last = messages[-1] if messages else None
        if not isinstance(last, HumanMessage):
            return AIMessage(content="", response_metadata={INTENT_KEY: "done"})
        forced = last.additional_kwargs.get(FORCED_KEY)
        if isinstance(forced, dict):
            intent: Intent | None = Intent(str(forced["tool"]), dict(forced["args"]), 1.0)
        else:
            intent = self.router.route(last.text)
        if intent is None or intent.tool not in TOOL_NAMES:  # help, language, a new intent
            meta: dict[str, object] = {INTENT_KEY: intent.tool if intent else "unknown"}
            if intent and intent.args.get("code"):
                meta[LANGUAGE_KEY] = str(intent.args["code"])
            if intent and intent.args:
                meta[ARGS_KEY] = dict(intent.args)
            return AIMessage(content="", response_metadata=meta)
        return AIMessage(
            content="",
            tool_calls=[
                {
                    "name": intent.tool,
                    "args": dict(intent.args),
                    "id": f"call_{uuid.uuid4().hex[:12]}",
                }
            ],
            response_metadata={INTENT_KEY: intent.tool, "confidence": intent.confidence},
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._answer(messages))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # routing is CPU work (a few milliseconds, more for long messages): in a worker thread
        # the event loop keeps serving other customers meanwhile
        return await asyncio.to_thread(self._generate, messages, stop)
