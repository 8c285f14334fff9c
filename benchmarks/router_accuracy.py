"""Accuracy of the offline intent router on the labelled corpus.

Run from the repository root: ``python benchmarks/router_accuracy.py [--decider D] [--cv]
[corpus.jsonl]``. ``--decider tables`` scores the word tables' decision, ``--decider model``
(the default) the intent model's (:mod:`bot.agent.intent_model`). ``--cv`` (needs
scikit-learn) routes every line of a training set (the corpus, ``everyday_tune.jsonl``) with a
model trained without that line's fold: the honest number for data the shipped model was
trained on. The everyday sets' labels are mapped onto the router's: ``greeting`` is "help",
``out_of_scope`` is "not understood", ``{"language": code}`` is ``{"code": code}``, a history
``count`` is ``limit``, and the coin of "do you accept ripple?" is dropped
(``get_available_cryptocurrencies`` takes no argument); their new intents (``list_plans``,
...) are right only when the router
returns that intent.
Prints intent accuracy, argument accuracy (args exactly right, among lines whose intent was
right) and exact-match accuracy per language; how many misses were a wrong tool rather than
"I didn't understand"; how many lines the router answers alone in front of a hosted model
(`[agent] router_confidence`, arguments complete) and how many of those it got right; then
every misrouted line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.agent.corpus import COINS, PLANS  # noqa: E402
from bot.agent.intent_model import IntentModel  # noqa: E402
from bot.agent.router import HELP, IntentRouter  # noqa: E402
from bot.agent.runner import answers_alone  # noqa: E402
from bot.config import AgentConfig  # noqa: E402

SURE = AgentConfig().router_confidence

CORPUS = ROOT / "tests" / "data" / "router_corpus.jsonl"


ARG_NAMES = {"language": "code", "count": "limit"}  # the everyday sets' spelling -> the router's


def normalized(row: dict) -> dict:
    """A line with the everyday sets' labels spelled as the router's."""
    tool = {"greeting": HELP, "out_of_scope": None}.get(row["tool"], row["tool"])
    args = {ARG_NAMES.get(k, k): v for k, v in row["args"].items()}
    if tool == "get_available_cryptocurrencies":
        args = {}  # the tool takes no argument: "do you accept ripple?" lists them all
    return {**row, "tool": tool, "args": args}


def load(path: Path = CORPUS) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [normalized(json.loads(line)) for line in f if line.strip()]


def routers(rows: list[dict], path: Path, decider: str, cv: bool) -> list[IntentRouter]:
    """The router that routes each line: one for all, or with `cv` the fold's."""
    if decider == "tables":
        return [IntentRouter(PLANS, COINS)] * len(rows)
    shipped = IntentModel.load()
    if not cv:
        return [IntentRouter(PLANS, COINS, model=shipped)] * len(rows)
    from bot.agent import train  # scikit-learn

    sources = [p.resolve() for p in train.SOURCES]
    if path.resolve() not in sources:
        raise SystemExit(f"--cv: {path} is not a training set ({', '.join(map(str, sources))})")
    start = sum(len(train.load([p])) for p in sources[: sources.index(path.resolve())])
    data = train.load()
    feats = train.featurize(IntentRouter(PLANS, COINS), data)
    by_line: list[IntentRouter] = [None] * len(rows)  # type: ignore[list-item]
    for model, fold in train.fold_models(
        feats, [train.label(r) for r in data], shipped.calibration
    ):
        router = IntentRouter(PLANS, COINS, model=model)
        for i in fold:
            if start <= i < start + len(rows):
                by_line[i - start] = router
    return by_line


def evaluate(
    router: IntentRouter | list[IntentRouter], rows: list[dict]
) -> tuple[dict[str, dict], list[str]]:
    """Per-language (and "all") counts and accuracies, plus a description of each miss;
    `router` routes every line, or is one router per line."""
    stats: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    misses = []
    each = router if isinstance(router, list) else [router] * len(rows)
    for row, line_router in zip(rows, each, strict=True):
        intent = line_router.route(row["text"])
        tool = intent.tool if intent else None
        args = dict(intent.args) if intent else {}
        tool_ok = tool == row["tool"]
        args_ok = tool_ok and args == row["args"]
        sure = answers_alone(intent, SURE)  # as the agent decides in front of a model
        for lang in (row["lang"], "all"):
            s = stats[lang]
            s["n"] += 1
            s["intent_ok"] += tool_ok
            s["args_ok"] += args_ok
            s["wrong_tool"] += tool is not None and not tool_ok
            s["sure"] += sure
            s["sure_ok"] += sure and args_ok
        if not args_ok:
            conf = f" ({intent.confidence:.2f})" if intent else ""
            misses.append(
                f"[{row['lang']}] {row['text']!r}\n"
                f"      want {row['tool']} {row['args']}\n"
                f"      got  {tool} {args}{conf}"
            )
    for s in stats.values():
        s["intent_acc"] = s["intent_ok"] / s["n"]
        s["args_acc"] = s["args_ok"] / s["intent_ok"] if s["intent_ok"] else 0.0
        s["exact_acc"] = s["args_ok"] / s["n"]
    return dict(stats), misses


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=CORPUS)
    parser.add_argument("--decider", choices=("model", "tables"), default="model")
    parser.add_argument("--cv", action="store_true", help="cross-validate a training set")
    parser.add_argument("--quiet", action="store_true", help="no list of misrouted lines")
    args = parser.parse_args(argv[1:])
    rows = load(args.path)
    if args.cv:  # the lines the model was trained on: without those a measuring set holds
        from bot.agent import train  # scikit-learn

        rows = [normalized(row) for row in train.load([args.path.resolve()])]
    stats, misses = evaluate(routers(rows, args.path, args.decider, args.cv), rows)
    cv = ", cross-validated" if args.cv else ""
    print(f"{args.path.name}: {len(rows)} lines, decided by the {args.decider}{cv}\n")
    print(
        f"{'lang':<5} {'lines':>5} {'intent':>7} {'args':>7} {'exact':>7} {'wrong':>6}"
        f" {'no-model':>9} {'right':>7}"
    )
    for lang in sorted(stats, key=lambda k: (k == "all", k)):
        s = stats[lang]
        print(
            f"{lang:<5} {s['n']:>5} {s['intent_acc']:>7.1%} {s['args_acc']:>7.1%}"
            f" {s['exact_acc']:>7.1%} {s['wrong_tool']:>6} {s['sure'] / s['n']:>9.1%}"
            f" {s['sure_ok'] / max(s['sure'], 1):>7.1%}"
        )
    print(
        "\nwrong = lines routed to a wrong tool (the rest of the misses were 'not understood');"
        f"\nno-model = lines the router answers alone (confidence >= {SURE}, and arguments"
        " complete or asked for by the tool), right = share of those exactly right"
    )
    print(f"\n{len(misses)} misrouted line(s)")
    for miss in [] if args.quiet else misses:
        print("  " + miss)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
