"""Accuracy of the offline intent router on the labelled corpus.

Run from the repository root: ``python benchmarks/router_accuracy.py [corpus.jsonl]``.
Prints intent accuracy, argument accuracy (args exactly right, among lines whose intent was
right) and exact-match accuracy per language, then every misrouted line.
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
        for lang in (row["lang"], "all"):
            s = stats[lang]
            s["n"] += 1
            s["intent_ok"] += tool_ok
            s["args_ok"] += args_ok
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
    print(f"{'lang':<5} {'lines':>5} {'intent':>7} {'args':>7} {'exact':>7}")
    for lang in sorted(stats, key=lambda k: (k == "all", k)):
        s = stats[lang]
        print(
            f"{lang:<5} {s['n']:>5} {s['intent_acc']:>7.1%} {s['args_acc']:>7.1%}"
            f" {s['exact_acc']:>7.1%}"
        )
    print(f"\n{len(misses)} misrouted line(s)")
    for miss in misses:
        print("  " + miss)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
