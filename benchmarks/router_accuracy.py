"""Accuracy of the offline intent router on the labelled corpus.

Run from the repository root: ``python benchmarks/router_accuracy.py [corpus.jsonl]``.
Prints intent accuracy, argument accuracy (args exactly right, among lines whose intent was
right) and exact-match accuracy per language; how many misses were a wrong tool rather than
"I didn't understand"; how many lines the router answers alone in front of a hosted model
(`[agent] router_confidence`, arguments complete) and how many of those it got right; then
every misrouted line.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.agent.router import IntentRouter  # noqa: E402
from bot.agent.runner import REQUIRED_ARGS  # noqa: E402
from bot.config import AgentConfig  # noqa: E402

SURE = AgentConfig().router_confidence

CORPUS = ROOT / "tests" / "data" / "router_corpus.jsonl"
PLANS = {"starter": ["Starter"], "pro": ["Pro"], "business": ["Business"]}
COINS = {
    "btc": ["Bitcoin", "BTC"],
    "eth": ["Ethereum", "ETH", "Ether"],
    "ltc": ["Litecoin", "LTC"],
    "sol": ["Solana", "SOL"],
    "pol": ["Polygon", "POL", "MATIC"],
    "bnb": ["BNB", "BNB Smart Chain", "BSC"],
    "trx": ["TRON", "TRX"],
    "usdttrc20": ["USDT TRC20", "Tether TRC20", "USDT on Tron"],
    "usdterc20": ["USDT ERC20", "Tether ERC20", "USDT on Ethereum"],
    "usdc": ["USDC", "USD Coin"],
    "xrp": ["XRP", "Ripple"],
}


def load(path: Path = CORPUS) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def evaluate(router: IntentRouter, rows: list[dict]) -> tuple[dict[str, dict], list[str]]:
    """Per-language (and "all") counts and accuracies, plus a description of each miss."""
    stats: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    misses = []
    for row in rows:
        intent = router.route(row["text"])
        tool = intent.tool if intent else None
        args = dict(intent.args) if intent else {}
        tool_ok = tool == row["tool"]
        args_ok = tool_ok and args == row["args"]
        sure = bool(intent and intent.confidence >= SURE) and all(
            args.get(name) for name in REQUIRED_ARGS.get(tool or "", ())
        )
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
    rows = load(Path(argv[1]) if len(argv) > 1 else CORPUS)
    stats, misses = evaluate(IntentRouter(PLANS, COINS), rows)
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
        f"\nno-model = lines the router answers alone at confidence >= {SURE} with complete"
        " arguments, right = share of those exactly right"
    )
    print(f"\n{len(misses)} misrouted line(s)")
    for miss in misses:
        print("  " + miss)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
