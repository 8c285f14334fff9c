"""Guardrails around the hosted model, in code: a per-customer budget of model calls, metered
model calls, short text instead of tool tracebacks, and no secret in any reply."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterable

import openai
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

from bot.agent.metrics import AgentMetrics
from bot.agent.offline_model import INTENT_KEY

log = logging.getLogger(__name__)

MIN_SECRET_LENGTH = 6  # shorter values are too likely to occur in ordinary text


class CallBudget:
    """At most `per_minute` model calls per key in any sliding minute (per process)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._calls: dict[Hashable, deque[float]] = {}

    def _window(self, key: Hashable) -> deque[float]:
        calls = self._calls.setdefault(key, deque())
        horizon = self._clock() - 60.0
        while calls and calls[0] <= horizon:
            calls.popleft()
        return calls

    def allows(self, key: Hashable) -> bool:
        return len(self._window(key)) < self.per_minute

    def spend(self, key: Hashable) -> None:
        self._window(key).append(self._clock())
        if len(self._calls) > 10_000:  # forget customers idle for a minute
            self._calls = {k: v for k, v in self._calls.items() if self._window(k)}


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
            timed_out = isinstance(exc, (openai.APITimeoutError, TimeoutError))
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


class SecretFilter:
    """Refuses any reply that contains one of the configured secrets."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        self._secrets = [s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH]

    def leaks(self, text: str) -> bool:
        return any(secret in text for secret in self._secrets)
