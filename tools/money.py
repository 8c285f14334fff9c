"""Exact money arithmetic: a Decimal context wide enough that sums never round.

Decimal's default context keeps 28 significant digits, so adding two amounts of an
18-decimal token (`123456789.123456789012345678 + …`) could silently round. Code that adds,
subtracts or compares money runs under `exact`. `jsonable` is how amounts travel in JSON
payloads (outbox, audit): as exact strings.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from decimal import Context, Decimal, DivisionByZero, InvalidOperation, Overflow, localcontext
from typing import ParamSpec, TypeVar

MONEY = Context(prec=80, traps=[InvalidOperation, DivisionByZero, Overflow])

P = ParamSpec("P")
R = TypeVar("R")


def exact(fn: Callable[P, R]) -> Callable[P, R]:
    """Run `fn` with the wide money context."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with localcontext(MONEY):
            return fn(*args, **kwargs)

    return wrapper


def jsonable(data: Mapping[str, object]) -> dict[str, object]:
    """Outbox and audit payloads are JSON: money travels as exact strings, never floats."""
    return {k: format(v, "f") if isinstance(v, Decimal) else v for k, v in data.items()}
