"""The statistical intent model: which intent a message is, learned from labelled messages.

The router (:mod:`bot.agent.router`) still reads a message: it normalises and cuts it into
words, corrects typos and finds the entities (plans, coins, ids, counts, languages). This model
then decides the intent from features of those words: character n-grams of every word (2 to 4
characters, with the word's edges marked, so typos, inflections and Chinese or Japanese text
without spaces still share features), the words themselves, pairs of neighbouring words, and
one feature per kind of entity found (an entity's own word is replaced by its kind: "buy <plan>
with <coin>", so the model learns the request, not the catalog's names).

A multinomial logistic regression over those binary, L2-normalised features is trained offline
by :mod:`bot.agent.train` (scikit-learn) on ``tests/data/router_corpus.jsonl`` plus
``benchmarks/data/everyday_tune.jsonl``; the weights ship as ``intent_weights.json`` and are
applied here in pure Python (a dictionary of features to rows and one array of 16-bit integers
per intent). The raw probability is then mapped onto the router's confidence scale by a monotone
piecewise-linear calibration measured by cross-validation at training time: 0.9 (the default
``router_confidence``) is the probability above which cross-validated answers were right at
least 99% of the time.
"""

from __future__ import annotations

import base64
import json
import math
import re
import sys
from array import array
from collections.abc import Iterable, Sequence
from pathlib import Path

from tools.actions import EVERYDAY

WEIGHTS = Path(__file__).with_name("intent_weights.json")
NONE = "none"  # the class of "not understood" (off-topic chatter, nothing the shop does)
# intents the classifier knows that no tool answers: the conversation layer answers them
# itself (`CustomerActions.everyday`)
NEW_INTENTS = EVERYDAY
NGRAMS = (2, 4)  # character n-gram lengths of a word (with its edges marked)
_CJK_RE = re.compile("[\u3005\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_QUESTION = ("?", "？")


def encode(rows: Sequence[Sequence[int]]) -> list[str]:
    """Rows of 16-bit integers as base64 text (little-endian): 2 bytes a weight on disk and in
    memory, where JSON numbers would cost 5 characters and a Python object each."""
    out = []
    for row in rows:
        packed = array("h", row)
        if sys.byteorder == "big":
            packed.byteswap()
        out.append(base64.b64encode(packed.tobytes()).decode("ascii"))
    return out


def decode(rows: Sequence[str]) -> list[array]:
    out = []
    for text in rows:
        packed = array("h", base64.b64decode(text))
        if sys.byteorder == "big":
            packed.byteswap()
        out.append(packed)
    return out


def features(words: Sequence[tuple[str, str]], text: str) -> set[str]:
    """The features of a message: `words` are the router's tokens as (folded word, entity
    kind or ""), `text` the message (for its question mark)."""
    out: set[str] = set()
    lo, hi = NGRAMS
    prev = "^"
    for key, entity in words:
        word = f"<{entity}>" if entity else key
        out.add("w:" + word)
        out.add(f"b:{prev} {word}")
        prev = word
        if entity:
            out.add("e:" + entity)
            continue
        padded = f" {key} "
        for n in range(lo, hi + 1):
            for i in range(len(padded) - n + 1):
                out.add(padded[i : i + n])
        if _CJK_RE.search(key):
            out.update(key)  # single characters carry meaning in Chinese and Japanese
    out.add(f"b:{prev} $")
    if any(q in text for q in _QUESTION):
        out.add("p:?")
    return out


class IntentModel:
    """Applies the shipped weights: `probabilities(features)` -> {intent: probability}."""

    def __init__(
        self,
        classes: Sequence[str],
        vocabulary: Sequence[str],
        weights: Sequence[Sequence[float]],
        bias: Sequence[float],
        calibration: Sequence[tuple[float, float]],
        scale: float = 1.0,
    ) -> None:
        self.classes = tuple(classes)
        self._index = {feature: i for i, feature in enumerate(vocabulary)}
        # one row of weights per class; the shipped ones are 16-bit integers (weight * scale)
        self._rows = [row if isinstance(row, array) else array("d", row) for row in weights]
        self._scale = scale
        self._bias = tuple(bias)
        self.calibration = tuple((float(p), float(c)) for p, c in calibration)

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> IntentModel:
        data = json.loads(path.read_text(encoding="utf-8"))
        scale = data["scale"]
        return cls(
            data["classes"],
            data["vocabulary"],
            decode(data["weights"]),
            [b / scale for b in data["bias"]],
            data["calibration"],
            scale,
        )

    def probabilities(self, feats: Iterable[str]) -> dict[str, float]:
        known = [i for i in map(self._index.get, feats) if i is not None]
        norm = 1 / math.sqrt(len(known)) if known else 0.0
        norm /= self._scale
        scores = [
            b + norm * sum(map(row.__getitem__, known))
            for b, row in zip(self._bias, self._rows, strict=True)
        ]
        top = max(scores)
        exp = [math.exp(s - top) for s in scores]
        total = sum(exp)
        return {c: e / total for c, e in zip(self.classes, exp, strict=True)}

    def confidence(self, probability: float) -> float:
        """The calibrated confidence of a probability (piecewise linear between the points
        measured at training time)."""
        points = ((0.0, 0.0), *self.calibration, (1.0, 1.0))
        for (p0, c0), (p1, c1) in zip(points, points[1:], strict=False):
            if probability <= p1:
                return c0 + (c1 - c0) * (probability - p0) / (p1 - p0 or 1.0)
        return 1.0
