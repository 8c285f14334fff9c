"""Train the intent model (:mod:`bot.agent.intent_model`) and write its shipped weights.

Run from the repository root: ``python -m bot.agent.train`` (needs scikit-learn, in the
``test`` extra; the bot itself never imports this module). ``--check`` retrains and only
compares with the shipped file; ``--cv`` prints the cross-validated accuracy.

Training data (`SOURCES`): the team's corpus (``tests/data/router_corpus.jsonl``, plus
``tests/data/everyday_corpus.jsonl`` for the everyday intents) and seven sets written blind
(``benchmarks/data/everyday_*.jsonl`` but the held-out ones). ``router_heldout``,
``everyday_heldout`` and ``everyday_heldout2`` only measure: no line they hold is trained on.
Every step is deterministic (sorted vocabulary, fixed folds, the lbfgs solver), so the same
data gives the same weights; a test retrains and compares.
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from bot.agent.corpus import COINS, PLANS
from bot.agent.intent_model import NONE, WEIGHTS, IntentModel, decode, encode
from bot.agent.router import HELP, IntentRouter

ROOT = Path(__file__).resolve().parents[2]
SOURCES = (
    ROOT / "tests" / "data" / "router_corpus.jsonl",
    ROOT / "tests" / "data" / "everyday_corpus.jsonl",  # the team's lines for the new intents
    ROOT / "benchmarks" / "data" / "everyday_tune.jsonl",
    ROOT / "benchmarks" / "data" / "everyday_sloppy.jsonl",
    ROOT / "benchmarks" / "data" / "everyday_varied.jsonl",
    ROOT / "benchmarks" / "data" / "everyday_plain.jsonl",
    ROOT / "benchmarks" / "data" / "everyday_native.jsonl",
    ROOT / "benchmarks" / "data" / "everyday_boundaries.jsonl",
    ROOT / "benchmarks" / "data" / "everyday_short.jsonl",
)
# the sets that only measure: a training line that says the same as one of theirs (`same`) is
# left out of training, or the measure would score lines the model has learnt by heart (the
# blind writers, given one brief, wrote many identical short lines: "plans?", "hi")
MEASURED = tuple(
    ROOT / "benchmarks" / "data" / name
    for name in ("router_heldout.jsonl", "everyday_heldout.jsonl", "everyday_heldout2.jsonl")
)
# the everyday sets' labels that the router spells differently
LABELS = {"greeting": HELP, "out_of_scope": NONE}

C = 20.0  # inverse L2 strength of the logistic regression
TOL = 1e-4  # lbfgs stopping tolerance (tighter changes no decision, only the time)
MIN_DF = 2  # a feature must occur in this many training messages
FOLDS = 5
SURE_PRECISION = 0.99  # cross-validated answers at or above "sure" are right this often
SURE = 0.9  # ... and that probability is mapped onto this confidence (router_confidence)
MAX_WRONG = 0.03  # cross-validated share of messages answered with a wrong intent, at most
UNDERSTOOD = 0.6  # the confidence below which the router answers "not understood"
SCALE = 1000  # weights ship as integers: round(weight * SCALE)


def label(row: dict) -> str:
    tool = row["tool"] or NONE
    return LABELS.get(tool, tool)


def same(text: str) -> str:
    """What two lines that say the same have in common: case, spaces and punctuation aside."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def read(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load(paths: Sequence[Path] = SOURCES) -> list[dict]:
    """The training lines of `paths`, without any that a measuring set also holds."""
    measured = {same(row["text"]) for path in MEASURED for row in read(path)}
    return [row for path in paths for row in read(path) if same(row["text"]) not in measured]


def featurize(router: IntentRouter, rows: Sequence[dict]) -> list[set[str]]:
    return [router.features(row["text"]) for row in rows]


def _fit(feats: Sequence[set[str]], labels: Sequence[str]) -> tuple[IntentModel, list[str]]:
    df = Counter(f for fs in feats for f in fs)
    vocabulary = sorted(f for f, n in df.items() if n >= MIN_DF)
    index = {f: i for i, f in enumerate(vocabulary)}
    rows, cols, vals = [], [], []
    for r, fs in enumerate(feats):
        known = sorted(index[f] for f in fs if f in index)
        for c in known:
            rows.append(r)
            cols.append(c)
            vals.append(1 / np.sqrt(len(known)))
    x = csr_matrix((vals, (rows, cols)), shape=(len(feats), len(vocabulary)))
    classes = sorted(set(labels))
    y = np.array([classes.index(label) for label in labels])
    lr = LogisticRegression(C=C, max_iter=1_000, tol=TOL)
    lr.fit(x, y)
    model = IntentModel(classes, vocabulary, lr.coef_.tolist(), lr.intercept_.tolist(), ())
    return model, vocabulary


def fold_models(
    feats: Sequence[set[str]],
    labels: Sequence[str],
    points: Sequence[tuple[float, float]] = (),
) -> Iterator[tuple[IntentModel, list[int]]]:
    """`FOLDS` models, each trained without one fold, with the indices of its fold."""
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=0)
    for train, test in folds.split(np.zeros(len(labels)), labels):
        model, vocabulary = _fit([feats[i] for i in train], [labels[i] for i in train])
        model.calibration = tuple(points)
        yield model, [int(i) for i in test]


def cross_validated(
    feats: Sequence[set[str]], labels: Sequence[str]
) -> list[tuple[str, float, str]]:
    """(predicted intent, its probability, true intent) of every message, each predicted by a
    model trained without its fold."""
    out: list[tuple[str, float, str]] = [("", 0.0, "")] * len(labels)
    for model, test in fold_models(feats, labels):
        for i in test:
            probs = model.probabilities(feats[i])
            best = max(probs, key=probs.__getitem__)
            out[i] = (best, probs[best], labels[i])
    return out


def calibration(predictions: Sequence[tuple[str, float, str]]) -> list[tuple[float, float]]:
    """Two points: the lowest probability at which at most MAX_WRONG of all messages are
    answered with a wrong intent (-> UNDERSTOOD) and the lowest probability above which
    answers were right SURE_PRECISION of the time (-> SURE)."""
    ranked = sorted(predictions, key=lambda p: -p[1])
    sure_at, right = 1.0, 0
    for n, (best, prob, truth) in enumerate(ranked, 1):
        right += best == truth
        if best != NONE and right / n >= SURE_PRECISION:
            sure_at = prob
    # "not understood" below `answer_at`: the lowest threshold at which at most MAX_WRONG of
    # the messages get a wrong answer (a wrong tool costs more than a question back)
    answer_at = sure_at
    for cut in sorted({round(p[1], 2) for p in predictions} | {0.0}):
        if cut >= sure_at:
            break
        wrong = sum(
            best != truth and best != NONE and prob >= cut for best, prob, truth in predictions
        )
        if wrong <= MAX_WRONG * len(predictions):
            answer_at = cut
            break
    return [(round(answer_at, 4), UNDERSTOOD), (round(sure_at, 4), SURE)]


def train(rows: Sequence[dict] | None = None) -> dict:
    """The shipped file's content, trained on `rows` (default: the training sources). BLAS
    runs on one thread: sums split over threads may round differently from run to run."""
    with threadpool_limits(limits=1):
        return _train(load() if rows is None else rows)


def _train(rows: Sequence[dict]) -> dict:
    router = IntentRouter(PLANS, COINS)
    feats = featurize(router, rows)
    labels = [label(r) for r in rows]
    model, vocabulary = _fit(feats, labels)
    points = calibration(cross_validated(feats, labels))
    weights = [[round(w * SCALE) for w in row] for row in model._rows]
    if max(abs(w) for row in weights for w in row) >= 2**15:
        raise ValueError("a weight does not fit 16 bits: lower SCALE")
    return {
        "about": "paybot intent model: python -m bot.agent.train (do not edit)",
        "classes": list(model.classes),
        "scale": SCALE,
        "calibration": points,
        "bias": [round(b * SCALE) for b in model._bias],
        "vocabulary": vocabulary,
        "weights": encode(weights),
    }


def drift(fresh: dict, shipped: dict) -> list[str]:
    """How a fresh training differs from the shipped file: [] when the vocabulary, classes
    and scale are the same, the calibration within 0.01 and every weight within 2 of its last
    rounded digit (BLAS threads may sum in another order and round a weight the other way)."""
    out = [key for key in ("classes", "scale", "vocabulary") if fresh[key] != shipped[key]]
    if out:
        return out
    points = [[x for point in data["calibration"] for x in point] for data in (fresh, shipped)]
    if any(abs(a - b) > 0.01 for a, b in zip(*points, strict=True)):
        out.append("calibration")
    rows = [[data["bias"], *decode(data["weights"])] for data in (fresh, shipped)]
    for a, b in zip(*rows, strict=True):
        if any(abs(x - y) > 2 for x, y in zip(a, b, strict=True)):
            out.append("weights")
            break
    return out


def dump(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the shipped file")
    parser.add_argument("--cv", action="store_true", help="print cross-validated accuracy")
    args = parser.parse_args(argv)
    if args.cv:
        rows = load()
        feats = featurize(IntentRouter(PLANS, COINS), rows)
        preds = cross_validated(feats, [label(r) for r in rows])
        right = sum(best == truth for best, _, truth in preds)
        print(f"cross-validated intent accuracy: {right / len(preds):.1%}")
        print("calibration:", calibration(preds))
        return 0
    text = dump(train())
    if args.check:
        shipped = json.loads(WEIGHTS.read_text(encoding="utf-8"))
        differs = drift(json.loads(text), shipped)
        print(f"differs: {', '.join(differs)}" if differs else "the shipped weights are fresh")
        return 1 if differs else 0
    WEIGHTS.write_text(text, encoding="utf-8")
    print(f"wrote {WEIGHTS} ({len(text.encode()):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
