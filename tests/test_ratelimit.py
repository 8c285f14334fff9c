"""The pacer's schedule, on a hand-driven clock."""

from __future__ import annotations

import pytest

from bot.ratelimit import Pacer, Rule


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_chat_is_paced_at_its_rate_with_a_little_air(clock: Clock) -> None:
    pacer = Pacer(clock, slack=0.05)
    rules = [Rule("all", 30.0), Rule(("chat", 1), 1.0)]
    assert pacer.try_reserve(rules) == 0.0
    assert pacer.try_reserve(rules) == pytest.approx(1.05)
    clock.now += 1.05
    assert pacer.try_reserve(rules) == 0.0
    assert pacer.try_reserve([Rule("all", 30.0), Rule(("chat", 2), 1.0)]) == pytest.approx(
        1.05 / 30
    )


def test_a_slow_answer_moves_a_spaced_rule_but_not_the_shared_one(clock: Clock) -> None:
    """The request reached the platform somewhere before its answer: a spaced rule counts its
    next slot from the answer, so a request held up on the way cannot land too close to the
    next one. The overall rule allows bursts and keeps its own schedule."""
    pacer = Pacer(clock, slack=0.05)
    chat = Rule(("chat", 1), 10.0, spaced=True)
    everyone = Rule("all", 30.0)
    assert pacer.try_reserve([everyone, chat]) == 0.0
    clock.now += 0.2  # the answer took 200 ms
    pacer.answered([everyone, chat])
    assert pacer.wait([chat]) == pytest.approx(0.105)
    assert pacer.wait([everyone]) == 0.0
    clock.now += 0.105
    assert pacer.try_reserve([everyone, chat]) == 0.0


def test_an_answer_never_pulls_a_slot_forward(clock: Clock) -> None:
    pacer = Pacer(clock, slack=0.0)
    chat = Rule(("chat", 1), 1.0, spaced=True)
    pacer.pause([chat], 30.0)  # the platform asked for 30 s
    pacer.answered([chat])
    assert pacer.wait([chat]) == pytest.approx(30.0)
