"""Which of the shop's languages a customer's message is written in, from its words alone.

Used when the chat platform gives no hint of the customer's language (the console, Discord
messages): "Zeige meine Zahlungen" is answered in German. The evidence is the router's own word
tables (:mod:`bot.agent.lexicons`), so every word the offline seller understands also tells its
language, plus each language's letters: kana are Japanese, Han characters without kana Chinese
(or Japanese when only Japanese words are found), "ß"/"ñ"/"ç" belong to one language each.

A word the tables of several languages share counts for each of them by a share
(``1 / languages``); plan and coin names count for none ("pro btc" has no language). The guess
is given only when it is clear: at least ``MIN_EVIDENCE`` and ``MARGIN`` times the runner-up.
Anything less keeps the customer's current language.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from fnmatch import translate

from bot.agent.lexicons import LEXICONS, Lexicon
from bot.agent.router import beginning, fold

MIN_EVIDENCE = 1.0  # one word only this language has, or two it shares with one other
MARGIN = 2.0  # the best language's evidence over the runner-up's

_KANA_RE = re.compile("[\u3040-\u30ff]")  # hiragana and katakana (the prolonged-sound mark)
_HAN_RE = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORD_RE = re.compile(r"[^\W\d_]+")
# letters only one (or mostly one) of the Latin-script languages writes
_LETTERS: dict[str, tuple[str, float]] = {
    **dict.fromkeys("ßäöü", ("de", 1.0)),
    **dict.fromkeys("ñ¿¡", ("es", 1.0)),
    **dict.fromkeys("áíóú", ("es", 0.5)),
    **dict.fromkeys("çœèêëïîôûùâà", ("fr", 1.0)),
}


def _vocabulary(lex: Lexicon) -> tuple[set[str], list[str]]:
    """A table's words (folded) and its wildcard patterns ("zahlung*")."""
    words: set[str] = set()
    patterns: list[str] = []
    for feats in lex["intents"].values():
        for spec in feats:
            for part in re.split(r"[+ ]", spec.lstrip("^")):
                if "*" in part:
                    patterns.append(fold(part))
                else:
                    words.add(fold(part))
    for group in (
        lex["stopwords"], lex["numbers"], lex["id_anchors"], lex["count_before"],
        lex["count_nouns"], lex["currency_words"], lex["time_words"], lex["domain"],
        lex["languages"],
        lex["coin_names"], lex["plan_names"], *lex["coin_cues"].values(),
        *lex["coin_cues_after"].values(),
    ):  # fmt: skip
        words.update(fold(w) for w in group)
    words.discard("")
    return words, patterns


class LanguageGuesser:
    """``guess(text)``: the language code of `text`, or None when its words do not say."""

    def __init__(
        self,
        locales: Sequence[str],
        neutral: Iterable[str] = (),
        lexicons: Mapping[str, Lexicon] = LEXICONS,
    ) -> None:
        self.locales = [code for code in locales if code in lexicons]
        self._neutral = {fold(w) for name in neutral for w in _WORD_RE.findall(name.lower())}
        self._words: dict[str, set[str]] = {}
        self._wild: dict[str, re.Pattern[str]] = {}
        for code in self.locales:
            words, patterns = _vocabulary(lexicons[code])
            self._words[code] = words - self._neutral
            self._wild[code] = re.compile("|".join(translate(p) for p in patterns) or "(?!)")
        self._cjk = {
            code: sorted((w for w in self._words[code] if _HAN_RE.search(w)), key=len)[::-1]
            for code in self.locales
        }

    def scores(self, text: str) -> dict[str, float]:
        """Evidence per language (for tests and tuning), from the message's beginning: the
        part the router reads tells its language as well as all of it would."""
        text = unicodedata.normalize("NFKC", beginning(text))
        scores = dict.fromkeys(self.locales, 0.0)
        self._letters(text, scores)
        for word in _WORD_RE.findall(text.lower()):
            if _HAN_RE.search(word) or _KANA_RE.search(word):
                continue
            key = fold(word)
            if len(key) < 2 or key in self._neutral:
                continue
            known = [
                code
                for code in self.locales
                if key in self._words[code] or self._wild[code].fullmatch(key)
            ]
            for code in known:
                scores[code] += 1.0 / len(known)
        return scores

    def _letters(self, text: str, scores: dict[str, float]) -> None:
        seen: dict[str, float] = {}
        for char in set(text.lower()):
            if char in _LETTERS:
                code, weight = _LETTERS[char]
                seen[code] = max(seen.get(code, 0.0), weight)
        for code, weight in seen.items():
            if code in scores:
                scores[code] += weight
        if _KANA_RE.search(text) and "ja" in scores:
            scores["ja"] += 3.0  # kana are written only in Japanese
        elif _HAN_RE.search(text):
            self._han(fold(text), scores)

    def _han(self, text: str, scores: dict[str, float]) -> None:
        """Han characters without kana: Chinese, unless only Japanese words are found."""
        found = {code: self._cjk_words(text, code) for code in ("zh", "ja") if code in scores}
        ja_only = found.get("ja", set()) - found.get("zh", set())
        zh_only = found.get("zh", set()) - found.get("ja", set())
        if "ja" in scores and ja_only and not zh_only:
            scores["ja"] += 2.0
        elif "zh" in scores:
            scores["zh"] += 2.0

    def _cjk_words(self, text: str, code: str) -> set[str]:
        return {word for word in self._cjk[code] if word in text}

    def guess(self, text: str) -> str | None:
        ranked = sorted(self.scores(text).items(), key=lambda item: item[1], reverse=True)
        if not ranked:
            return None
        best, evidence = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        if evidence >= MIN_EVIDENCE and evidence >= MARGIN * runner_up:
            return best
        return None
