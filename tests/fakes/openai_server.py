"""A fake OpenAI-compatible chat-completions server on 127.0.0.1 (aiohttp).

It answers `POST /v1/chat/completions` the way OpenAI does for non-streaming requests, with
answers a test scripts in advance: text, tool calls (arguments as JSON text, or any raw text
to play a malformed call), a delay, or an HTTP error. A script step may also be a function of
the request, and `responder` answers every request once the script is used up: for dialogues
whose next answer depends on what the bot sent (`by_last_message`). Every request is
kept, so tests can check what the model was told.

Like the real API it refuses what a real endpoint would refuse: no model, a streaming request
(paybot never streams), tool results that answer no tool call, a missing or wrong key when one
is required, tools that are not functions.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Reply:
    text: str


@dataclass(frozen=True)
class Call:
    name: str
    args: dict[str, Any] | str = field(default_factory=dict)  # a str is sent as it is


@dataclass(frozen=True)
class Calls:
    calls: tuple[Call, ...]
    text: str = ""


@dataclass(frozen=True)
class Delay:
    seconds: float
    then: Step


@dataclass(frozen=True)
class Fail:
    status: int = 500


Step = Reply | Call | Calls | Delay | Fail
Responder = Callable[[dict[str, Any]], Step]


class FakeOpenAI:
    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.script: list[Step | Responder] = []
        self.requests: list[dict[str, Any]] = []
        self.unscripted = 0
        self.refused: list[str] = []  # why requests were answered 400
        self.responder: Responder | None = None  # answers when the script is empty
        self._ids = itertools.count(1)
        self._app = web.Application()
        self._app.router.add_post("/v1/chat/completions", self._completions)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/v1"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def then(self, *steps: Step | Responder) -> FakeOpenAI:
        self.script.extend(steps)
        return self

    # --- what the bot sent -------------------------------------------------------------------

    def system_prompts(self) -> list[str]:
        return [
            m["content"] for r in self.requests for m in r["messages"] if m["role"] == "system"
        ]

    def everything_sent(self) -> str:
        return json.dumps(self.requests, ensure_ascii=False)

    # --- the endpoint --------------------------------------------------------------------------

    async def _completions(self, request: web.Request) -> web.Response:
        if self.api_key is not None:
            if request.headers.get("Authorization") != f"Bearer {self.api_key}":
                return _error(401, "Incorrect API key provided.", "invalid_api_key")
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "We could not parse the JSON body of your request.")
        problem = _invalid(body)
        if problem:
            self.refused.append(problem)
            return _error(400, problem)
        self.requests.append(body)
        if self.script:
            step = self.script.pop(0)
        elif self.responder is not None:
            step = self.responder
        else:
            self.unscripted += 1
            return _error(500, "no scripted answer left", "server_error")
        if callable(step):
            step = step(body)
        while isinstance(step, Delay):
            await asyncio.sleep(step.seconds)
            step = step.then
        if isinstance(step, Fail):
            return _error(step.status, "The server had an error.", "server_error")
        return web.json_response(self._completion(body, step))

    def _completion(self, body: dict[str, Any], step: Step) -> dict[str, Any]:
        calls = (
            (step,) if isinstance(step, Call) else step.calls if isinstance(step, Calls) else ()
        )
        text = step.text if isinstance(step, Reply | Calls) else ""
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{next(self._ids)}",
                    "type": "function",
                    "function": {
                        "name": c.name,
                        "arguments": c.args if isinstance(c.args, str) else json.dumps(c.args),
                    },
                }
                for c in calls
            ]
        prompt_tokens = len(json.dumps(body["messages"])) // 4
        completion_tokens = max(1, len(json.dumps(message)) // 4)
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": 1_795_000_000,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if calls else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def _invalid(body: Any) -> str | None:
    """What the real API would answer 400 to, or None."""
    if not isinstance(body, dict) or not body.get("model"):
        return "you must provide a model parameter"
    if body.get("stream"):
        return "this fake serves non-streaming requests only"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty array"
    for tool in body.get("tools", []):
        if tool.get("type") != "function" or "name" not in tool.get("function", {}):
            return "tools must be functions with a name"
    open_calls: set[str] = set()
    for m in messages:
        role = m.get("role")
        if role not in ("system", "developer", "user", "assistant", "tool"):
            return f"invalid role {role!r}"
        if role == "tool":
            if m.get("tool_call_id") not in open_calls:
                return "messages with role 'tool' must be a response to a preceding tool_calls"
            open_calls.discard(m["tool_call_id"])
            continue
        if open_calls:
            return "an assistant message with 'tool_calls' must be followed by tool messages"
        if role == "assistant":
            open_calls = {c["id"] for c in m.get("tool_calls") or ()}
    return None


def _error(status: int, message: str, code: str = "invalid_request_error") -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": code, "param": None, "code": code}}, status=status
    )


def by_last_message(dialogue: dict[str, list[Step]]) -> Responder:
    """A model for a known dialogue: the customer's latest message picks the list of answers,
    and the number of model answers already given to it picks the answer."""

    def respond(body: dict[str, Any]) -> Step:
        messages = body["messages"]
        last = max(i for i, m in enumerate(messages) if m["role"] == "user")
        answered = sum(1 for m in messages[last:] if m["role"] == "assistant")
        steps = dialogue.get(messages[last]["content"], [])
        return steps[answered] if answered < len(steps) else Fail(500)

    return respond
