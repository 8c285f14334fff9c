"""Guardrails around the hosted model, in code: a per-customer budget of model calls, metered
model calls, short text instead of tool tracebacks, and no secret in any reply."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Awaitable, Callable, Iterable

from langchain.agents.middleware import (
    AgentMiddleware,
    AgentState,
    ModelRequest,
    ModelResponse,
    ToolCallRequest,
    hook_config,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langgraph.runtime import Runtime

from bot.agent.limits import CallBudget, SecretFilter
from bot.agent.metrics import AgentMetrics
from bot.agent.offline_model import INTENT_KEY

log = logging.getLogger(__name__)

__all__ = ["CallBudget", "CardsEndTheTurn", "MeteredModel", "SecretFilter", "tool_failure"]


def timed_out_error(exc: BaseException) -> bool:
    """A timeout, also the OpenAI client's own (looked up only where the hosted stack is
    loaded: without it, no exception can be one)."""
    openai = sys.modules.get("openai")
    timeouts = (TimeoutError, openai.APITimeoutError) if openai else (TimeoutError,)
    return isinstance(exc, timeouts)


class MeteredModel(AgentMiddleware):
    """Times and counts every call to the hosted model (not the offline router), counts its
    tokens, and charges it to the caller's budget."""

    def __init__(self, hosted: BaseChatModel, metrics: AgentMetrics, budget: CallBudget) -> None:
        super().__init__()
        self.hosted = hosted
        self.metrics = metrics
        self.budget = budget

    async def awrap_model_call(
        self,
        request: ModelRequest,
        handler: Callable[[ModelRequest], Awaitable[ModelResponse]],
    ) -> ModelResponse:
        if request.model is not self.hosted:
            return await handler(request)
        self.budget.spend(request.runtime.context.actions.caller.user_id)
        started = time.perf_counter()
        try:
            response = await handler(request)
        except Exception as exc:
            timed_out = timed_out_error(exc)
            outcome = "timeout" if timed_out else "error"
            self.metrics.model_call(outcome, time.perf_counter() - started)
            log.warning("model call failed (%s): %s", outcome, type(exc).__name__)
            raise
        usage = {}
        for message in response.result:
            if isinstance(message, AIMessage) and message.usage_metadata:
                usage = message.usage_metadata
        self.metrics.model_call(
            "ok",
            time.perf_counter() - started,
            usage.get("input_tokens", 0),
            usage.get("output_tokens", 0),
        )
        return response


class CardsEndTheTurn(AgentMiddleware):
    """When every tool just called answered with a card that says it all (a payment card,
    history, an estimate, or a clear error such as "no such plan"), the turn ends without
    another model call; so does a turn the offline router stood in for (it adds nothing after
    its tool, and a failing model would only fail again). A tool call that failed (bad
    arguments, a crash) goes back to the model, which can correct itself or explain."""

    def __init__(self, card_tools: Iterable[str]) -> None:
        super().__init__()
        self.card_tools = frozenset(card_tools)

    @hook_config(can_jump_to=["end"])
    def before_model(self, state: AgentState, runtime: Runtime) -> dict | None:
        answers = []
        for message in reversed(state["messages"]):
            if not isinstance(message, ToolMessage):
                break
            answers.append(message)
        if not answers:
            return None
        asked = state["messages"][-len(answers) - 1]
        if isinstance(asked, AIMessage) and INTENT_KEY in asked.response_metadata:
            return {"jump_to": "end"}  # the router stood in for the model: it adds no text
        if all(
            m.name in self.card_tools and m.status != "error" and m.artifact is not None
            for m in answers
        ):
            return {"jump_to": "end"}
        return None


def tool_failure(exc: Exception, request: ToolCallRequest) -> str:
    """What the model hears when a tool breaks: a short sentence, never the traceback."""
    name = request.tool_call.get("name", "tool")
    log.error("tool %s failed", name, exc_info=exc)
    return f"Error: {name} is not available right now; ask the customer to try again shortly."
