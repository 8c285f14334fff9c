"""The hosted model's budget of calls per customer, and the filter that keeps secrets out of
replies: plain Python, so the agent runner holds them without loading LangChain's agent stack."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable

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


class SecretFilter:
    """Refuses any reply that contains one of the configured secrets."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        self._secrets = [s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH]

    def leaks(self, text: str) -> bool:
        return any(secret in text for secret in self._secrets)
