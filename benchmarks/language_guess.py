"""How well the language of a message is told from its words (bot/agent/language.py).

Run from the repository root: ``python benchmarks/language_guess.py [--set tune|heldout]
[--show]``.

The sets were written by someone who never saw the code or the word tables: 40 customer
messages per language and 20 that have no language ("pro btc", "#12"). Plan and coin names
are those of the shipped `config.toml`. `tune` is the set
the guesser may be adjusted on; `heldout` is never tuned on. Printed per language: right,
wrong (another language: the customer is answered in a language they did not write),
and none (the customer's language stays as it was). For the messages of no language,
"wrong" means a language was guessed at all.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.agent.language import LanguageGuesser  # noqa: E402
from bot.app import catalog_names  # noqa: E402
from bot.config import load_config  # noqa: E402
from tools.catalog import Catalog  # noqa: E402

LOCALES = ["en", "de", "es", "fr", "zh", "ja"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", default="tune", choices=["tune", "heldout"])
    parser.add_argument("--show", action="store_true", help="print every miss")
    args = parser.parse_args()
    path = ROOT / "benchmarks" / "data" / f"language_{args.set}.jsonl"
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    config = load_config(ROOT / "config.toml", environ={})  # the shipped shop's catalog
    catalog = Catalog.from_config(config.plans, config.coins, config.shop.price_currency)
    guesser = LanguageGuesser(LOCALES, neutral=catalog_names(catalog))
    tally: dict[str, Counter[str]] = {}
    for row in rows:
        expected, got = row["expected"], guesser.guess(row["text"])
        outcome = "right" if got == expected else "none" if got is None else "wrong"
        tally.setdefault(expected or "-", Counter())[outcome] += 1
        if args.show and outcome != "right":
            print(f"  {expected or '-':>2} -> {got or '-':>2}  {row['text']}")
    print(f"{args.set}: {len(rows)} messages")
    print(f"{'lang':>4} {'right':>6} {'wrong':>6} {'none':>6}")
    total: Counter[str] = Counter()
    for lang in [*LOCALES, "-"]:
        counts = tally.get(lang, Counter())
        total.update(counts)
        print(f"{lang:>4} {counts['right']:>6} {counts['wrong']:>6} {counts['none']:>6}")
    print(f"{'all':>4} {total['right']:>6} {total['wrong']:>6} {total['none']:>6}")


if __name__ == "__main__":
    main()
