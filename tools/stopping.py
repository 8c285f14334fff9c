"""A flag the scheduler raises when the process stops: a long job (a sweep over thousands of
due payments, a prune) looks at it between batches and ends there, with every batch it
finished committed and none cut off by the database closing under it."""

from __future__ import annotations


class Stopping:
    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def clear(self) -> None:
        self._set = False

    def __bool__(self) -> bool:
        return self._set
