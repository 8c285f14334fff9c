"""Counters for the agent, shown on `/metrics` in Prometheus' text format: model calls by
outcome, tokens, call latency, and how each free-text turn was answered."""

from __future__ import annotations

import bisect
from collections import Counter

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # seconds
TURN_PATHS = ("router", "model", "fallback", "limited")
OUTCOMES = ("ok", "error", "timeout")  # of model calls
TOKENS = ("input", "output")


class AgentMetrics:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.tokens: Counter[str] = Counter()
        self.turns: Counter[str] = Counter()
        self._buckets = [0] * len(LATENCY_BUCKETS)
        self._latency_sum = 0.0
        self._latency_count = 0

    def model_call(
        self, outcome: str, seconds: float, input_tokens: int = 0, output_tokens: int = 0
    ) -> None:
        self.calls[outcome] += 1
        self.tokens["input"] += input_tokens
        self.tokens["output"] += output_tokens
        first = bisect.bisect_left(LATENCY_BUCKETS, seconds)
        for i in range(first, len(LATENCY_BUCKETS)):
            self._buckets[i] += 1
        self._latency_sum += seconds
        self._latency_count += 1

    def turn(self, path: str) -> None:
        self.turns[path] += 1

    def lines(self) -> list[str]:
        out = ["# TYPE paybot_model_calls_total counter"]
        out += [f'paybot_model_calls_total{{outcome="{o}"}} {self.calls[o]}' for o in OUTCOMES]
        out.append("# TYPE paybot_model_tokens_total counter")
        out += [f'paybot_model_tokens_total{{kind="{k}"}} {self.tokens[k]}' for k in TOKENS]
        out.append("# TYPE paybot_model_latency_seconds histogram")
        for bound, count in zip(LATENCY_BUCKETS, self._buckets, strict=True):
            out.append(f'paybot_model_latency_seconds_bucket{{le="{bound}"}} {count}')
        out.append(f'paybot_model_latency_seconds_bucket{{le="+Inf"}} {self._latency_count}')
        out.append(f"paybot_model_latency_seconds_sum {self._latency_sum:.6f}")
        out.append(f"paybot_model_latency_seconds_count {self._latency_count}")
        out.append("# TYPE paybot_agent_turns_total counter")
        out += [f'paybot_agent_turns_total{{path="{p}"}} {self.turns[p]}' for p in TURN_PATHS]
        return out
