"""Deterministic multilingual intent router: one chat message -> one tool call.

Used by the offline model (no LLM); stdlib only, apart from the tool names. The pipeline is:

1. normalise and tokenise (lowercase, NFKC so full-width "４２" is "42", accents stripped from
   Latin letters, German umlaut/ß folding, Traditional -> Simplified for common Chinese
   characters, hyphen-joined variants);
2. extract entities: plans, coins (aliases, local names such as "比特币", n-grams, typos,
   ambiguous "usdt", which names no coin a tool can take), then numbers (payment ids, history
   counts, and amounts and durations that must never become ids: "$50", "20 min ago");
3. correct small typos of known words, spot language names ("francés" -> fr), then score every
   intent from the word tables in :mod:`bot.agent.lexicons` plus entity evidence;
4. softmax the scores against a "none" score that grows with unknown words; below the
   threshold the router answers ``None`` ("I didn't understand").

Chinese and Japanese have no spaces. A run of CJK characters (split off from Latin letters and
digits first: "proプランをsolで買いたい" -> "pro", "プランを", "sol", "で買いたい") is cut by
forward maximum matching: at each position the longest word the tables know (intent words,
stopwords, numbers, language and coin names) becomes a token, and the characters between known
words are kept together as one unknown token. Every later step then works on tokens as for
the other languages, so ids ("支払い42"), counts ("最近三笔", "三つ") and plans or coins in mixed
text come out the same way. Unknown runs of hiragana are grammar (particles, verb endings) and
count as known; other unknown runs make the message look like chatter. Dictionary segmentation
needs no dependency and is exact for the few hundred words the router cares about; it cannot
cut words it does not know, which is what the "none" score is for.
"""

from __future__ import annotations

import difflib
import math
import re
import threading
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase, translate
from functools import lru_cache

from bot.agent.intent_model import NEW_INTENTS, NONE, IntentModel, features
from bot.agent.lexicons import COIN_CUE_WEIGHTS, ENTITY_WEIGHTS, LEXICONS, TRADITIONAL, Lexicon
from bot.agent.lexicons.elsewhere import OTHER_ASSETS, OTHER_METHODS
from tools.agent_names import TOOL_NAMES

TOOLS = TOOL_NAMES
HELP = "help"
LANGUAGE = "language"  # "switch to French": args {"code": "fr"} (or {} without a language)
MONEY_TOOLS = ("create_crypto_payment", "retry_failed_payment")
CANCEL = "cancel_payment"  # never on a "don't cancel" (the lexicons' `keep_payment`)
ONCE_TOOLS = (*MONEY_TOOLS, CANCEL)  # at most one call per turn of the hosted model

TEMPERATURE = 0.5  # softmax temperature over intent scores
NONE_SCORE = 1.0  # score of "not sure" before unknown words are counted
UNKNOWN_WORD_PENALTY = 0.35  # added to the "not sure" score per unknown word
ENTITY_FUZZ = 0.85  # difflib ratio for plan/coin typos (words of 4+ letters)
WORD_FUZZ = 0.8  # difflib ratio for keyword typos (words of 5+ letters)
# unknown words of a message tried as typos of a keyword, and as typos of a plan or coin name
# (the costliest steps): a request has a few typos at most; a text of many unknown words is
# no request to correct word by word
MAX_CORRECTIONS = 8
OFF_DOMAIN_FACTOR = 0.5  # scale of non-help scores when no shop word or entity occurs
LANGUAGE_WORD = 3.0  # without a language name, "language" needs a word this strong ("idioma")
# the intent model and the tables together (`_co_decide`)
AGREED = 0.8  # the model's confidence at which the tables' agreeing confidence counts
CONTESTED = 0.85  # the most confidence a decision the other decider contests may have

_CJK = "\u3005\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # kana, kanji/hanzi
_CJK_RE = re.compile(f"[{_CJK}]")
_HIRAGANA_RE = re.compile("[\u3040-\u309f]+")
_TOKEN_RE = re.compile(rf"#\s?\d+|\d+(?:[.,]\d+)?|[$€£¥]|[{_CJK}]+|[^\W\d_{_CJK}]+")
# a match may start only where a word starts: without the look-behind, a long run of letters
# with no hyphen is scanned again from each of its letters (quadratic in its length)
_HYPHENATED_RE = re.compile(r"(?<![^\W\d_])([^\W\d_]+)-([^\W\d_]+)")
_ELSEWHERE = ("other_asset", "other_method")  # entity kinds of what the shop does not sell
_FOLDS = (("ä", "a"), ("ö", "o"), ("ü", "u"), ("ae", "a"), ("oe", "o"), ("ue", "u"))


# Characters of a message the router reads. Requests are short (the corpus' longest line has
# 93 characters; a request with its reasons, ids and amounts fits in a few lines), and the
# router's work grows with every word, so a pasted story is not read to its end.
MAX_ROUTED = 400
# ... and at most this many of its words: 400 characters of Chinese or Japanese are some 300
# words (a character is often one), four times what 400 of a Latin script hold
MAX_WORDS = 120
FIRST_SENTENCES = 3  # of a longer message, routed one by one when all of it says nothing
_WORD_TAIL_RE = re.compile(r"\s\S{0,40}$")  # a word cut in two at the end of the beginning
_SENTENCE_END_RE = re.compile(r"(?<=[.!?;])\s+|(?<=[。！？；])|\n+")


def beginning(text: str) -> str:
    """The first `MAX_ROUTED` characters of `text`, without a word cut in two at the end."""
    if len(text) <= MAX_ROUTED:
        return text
    start = text[:MAX_ROUTED]
    if not text[MAX_ROUTED].isspace() and (cut := _WORD_TAIL_RE.search(start)):
        start = start[: cut.start()]
    return start


def sentences(text: str) -> list[str]:
    """The sentences of `text`: "Hi. Pro with BTC! And" -> "Hi.", "Pro with BTC!", "And" (a
    full stop ends a sentence only before a space: "0.5 BTC" stays whole)."""
    return [s.strip() for s in _SENTENCE_END_RE.split(text) if s.strip()]


@dataclass(frozen=True)
class Intent:
    tool: str  # one of TOOLS, "help" (greeting / "what can you do"), "language", or (intent
    # model only) one of intent_model.NEW_INTENTS, which no tool answers yet
    args: dict[str, object]  # arguments for that tool
    confidence: float  # 0..1


@dataclass(frozen=True)
class Entities:
    plans: tuple[str, ...]  # plan codes
    coins: tuple[str, ...]  # coin codes ("usdt" as typed when it names several networks)
    ids: tuple[int, ...]  # payment ids ("#12", "payment 12")
    bare: tuple[int, ...]  # other whole numbers ("12")
    unknown: tuple[str, ...]  # words no table knows, as typed
    words: int  # word tokens in all
    negated: bool = False  # "not", "nicht", "不": never a reason to pay
    keep: bool = False  # "don't cancel", "keep it": never a reason to cancel


def fold(word: str) -> str:
    """Lowercase and fold spellings: "Währung" == "Waehrung" -> "wahrung", "qué" -> "que",
    "Français" -> "francais", "買" -> "买"."""
    word = unicodedata.normalize("NFKC", word).lower().replace("ß", "ss")
    word = "".join(_bare(c) for c in word)
    for src, dst in _FOLDS:
        word = word.replace(src, dst)
    return word.translate(TRADITIONAL)


@lru_cache(maxsize=1024)
def _bare(char: str) -> str:
    """A Latin letter without its accent ("é" -> "e", "ñ" -> "n", "ç" -> "c"); kana keep
    their voicing marks ("が" is not "か")."""
    if "\u00c0" <= char <= "\u024f":
        return unicodedata.normalize("NFD", char)[0]
    return char


@lru_cache(maxsize=4096)
def _ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


def _at_most(typed: str, letters: frozenset[str], length: int) -> float:
    """A bound on `_ratio(typed, word)` from the letters `word` has (`letters`, `length`):
    letters of `typed` that `word` lacks match nothing. Cheaper than difflib by far, and
    random words pass it rarely."""
    matched = len(typed) - len(set(typed) - letters)  # each letter it lacks, once
    return 2.0 * min(matched, length) / (len(typed) + length)


def _any_of(patterns: set[str]) -> re.Pattern[str]:
    """One regex that matches a whole word when `fnmatchcase` matches it with any pattern."""
    return re.compile("|".join(translate(p) for p in sorted(patterns)) or "(?!)")


@dataclass
class _Token:
    raw: str  # lowercased text as typed
    key: str  # folded form used for matching
    kind: str  # "word", "num", "id" ("#12") or "sym" ("$")
    # "plan", "coin", "amount", "duration" ("20 min"), "network" (the 20 of "trc20"),
    # "payment_id", "count", "bare", "other_asset" ("dogecoin"), "other_method" ("paypal")
    entity: str = ""
    value: object = None


@dataclass
class _Parse:
    tokens: list[_Token]
    extras: set[str]  # hyphen-joined words ("re-try" -> "retry")
    plans: list[str] = field(default_factory=list)
    coins: list[str] = field(default_factory=list)
    vague: list[str] = field(default_factory=list)  # coins named on several networks ("usdt")
    ids: list[int] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    bare: list[int] = field(default_factory=list)
    coin_cues: list[str] = field(default_factory=list)  # intents hinted by "with"/"in" + coin
    languages: list[str] = field(default_factory=list)  # codes of language names, in order


def _aliases(table: Mapping[str, Sequence[str]]) -> dict[str, set[str]]:
    index: dict[str, set[str]] = {}
    for code, names in table.items():
        for name in (code, *names):
            key = "".join(fold(t) for t in _TOKEN_RE.findall(name.lower()))
            index.setdefault(key, set()).add(code)
    return index


class IntentRouter:
    def __init__(
        self,
        plans: Mapping[str, Sequence[str]],
        coins: Mapping[str, Sequence[str]],
        threshold: float = 0.6,
        model: IntentModel | None = None,
    ) -> None:
        self.threshold = threshold
        self.model = model  # decides the intent when given; else the word tables' scores do
        self._one_at_a_time = threading.Lock()
        self._plans = _aliases(plans)
        self._coins = _aliases(coins)
        self._codes = set(coins)
        # first word of multi-word coin aliases shared by several coins: "usdt", "tether"
        self._coin_prefixes: dict[str, set[str]] = {}
        # ... and the words that tell them apart anywhere in the message: "usdt ... trc20"
        self._coin_qualifiers: dict[str, dict[str, set[str]]] = {}
        for code, names in coins.items():
            for name in names:
                words = [fold(t) for t in _TOKEN_RE.findall(name.lower())]
                if len(words) > 1:
                    self._coin_prefixes.setdefault(words[0], set()).add(code)
                    qualifiers = self._coin_qualifiers.setdefault(words[0], {})
                    for word in words[1:]:
                        qualifiers.setdefault(word, set()).add(code)
        # words naming a network, whose number is part of its name: "trc" of "trc20"
        self._networks = {
            word for q in self._coin_qualifiers.values() for word in q if not word.isdigit()
        }
        self._families: dict[str, str] = {}  # "泰达币" -> "usdt", "u" -> "usdt" (beside CJK)
        self._max_ngram = 1 + max(
            len(_TOKEN_RE.findall(n)) for t in (plans, coins) for v in t.values() for n in v
        )
        # (intent, kind, parts) -> weight; a word shared by two tables counts once
        self._features: dict[tuple[str, str, tuple[str, ...]], float] = {}
        self._words: set[str] = set()  # every exact word in the tables (typo targets)
        self._stems: set[str] = set()  # "zahlung*" -> "zahlung"
        self._wild: set[str] = set()
        self._stop: set[str] = set()
        self._lex: dict[str, set[str]] = {}  # merged small word sets
        self._numbers: dict[str, int] = {}
        self._cues: dict[str, str] = {}
        self._cues_after: dict[str, str] = {}
        self._domain: set[str] = set()
        self._languages: dict[str, str] = {}
        negations: list[str] = []
        keeps: list[str] = []
        thanks: list[str] = []
        for lex in LEXICONS.values():
            self._compile(lex)
            negations.extend(lex["negations"])
            for name, first in lex["coin_families"].items():
                if fold(first) in self._coin_prefixes:
                    self._families[fold(name)] = fold(first)
            keeps.extend(lex["keep_payment"])
            thanks.extend(lex["thanks"])
            for index, names in (
                (self._coins, lex["coin_names"]),
                (self._plans, lex["plan_names"]),
            ):
                for name, alias in names.items():  # "比特币" -> whatever "bitcoin" is here
                    codes = index.get(fold(alias))
                    if codes:
                        index.setdefault(fold(name), set()).update(codes)
        # what the shop does not sell or take: "dogecoin", "apple stock", "paypal"
        self._elsewhere = {fold(w): "other_asset" for w in OTHER_ASSETS}
        self._elsewhere.update({fold(w): "other_method" for w in OTHER_METHODS})
        # every beginning of a coin or plan name as the router joins its tokens ("u", "us",
        # "usd", ... of "usdttrc20")
        self._name_starts = {
            key[:end] for index in (self._coins, self._plans) for key in index
            for end in range(1, len(key) + 1)
        }  # fmt: skip
        self._negation = re.compile("|".join(f"(?:{n})" for n in negations))
        self._keep = re.compile("|".join(f"(?:{n})" for n in keeps))
        self._thanks = re.compile("|".join(f"(?:{n})" for n in thanks))
        # every CJK word the router knows: the dictionary that cuts runs of CJK characters
        known = (
            self._words, self._stop, self._numbers, self._domain, self._cues, self._cues_after,
            self._languages,
            self._plans, self._coins, self._families, self._elsewhere, *self._lex.values(),
        )  # fmt: skip
        self._cjk = {w for words in known for w in words if _CJK_RE.search(w)}
        longest_first = sorted(self._cjk, key=lambda w: (-len(w), w))
        self._cjk_re = re.compile("|".join(map(re.escape, longest_first)) or "(?!)")
        # the tables' features in order, indexed by their first part and by their parts
        # joined: scoring looks only at the features a message's words can hit
        self._feature_list = [(*key, weight) for key, weight in self._features.items()]
        self._by_first: dict[str, list[int]] = {}
        self._by_joined: dict[str, list[int]] = {}
        for i, (_, kind, parts, _) in enumerate(self._feature_list):
            self._by_first.setdefault(parts[0], []).append(i)
            if kind == "seq" and len(parts) > 1:
                self._by_joined.setdefault("".join(parts), []).append(i)
        # the same questions as fnmatchcase over every pattern, asked once per word
        self._wild_re = _any_of(self._wild)
        # each pattern as a regex over words joined by newlines ("zahlung*": a line that
        # starts with "zahlung")
        self._wild_lines = {
            pattern: re.compile(
                "^" + "[^\n]*".join(map(re.escape, pattern.split("*"))) + "$", re.MULTILINE
            )
            for pattern in sorted(self._wild)
        }
        self._domain_re = _any_of(self._domain)
        self._lex_words = set().union(*self._lex.values())
        # words that say nothing beside a plan, coin or payment number ("the", "order", "番号")
        self._bare_words = self._stop | self._lex["id_anchors"]
        # keyword typo targets by first letter: (word, is a stem)
        self._targets: dict[str, list[tuple[str, bool, frozenset[str]]]] = {}
        # sorted: of two equally close corrections the later one wins, the same in every
        # process (set order changes with the interpreter's hash seed)
        for word in sorted(self._words | self._stems | set(self._languages)):
            if len(word) >= 5:
                target = (word, word in self._stems, frozenset(word))
                self._targets.setdefault(word[0], []).append(target)
        # plan and coin names of one code, 4+ letters, by first letter: typo targets
        self._name_targets: dict[str, list[tuple[str, str, str, frozenset[str]]]] = {}
        for kind, index in (("coin", self._coins), ("plan", self._plans)):
            for key, codes in index.items():
                if len(codes) == 1 and len(key) >= 4:
                    target = (kind, key, next(iter(codes)), frozenset(key))
                    self._name_targets.setdefault(key[0], []).append(target)

    def _compile(self, lex: Lexicon) -> None:
        for intent, feats in lex["intents"].items():
            for spec, weight in feats.items():
                kind = "all" if "+" in spec else "start" if spec[0] == "^" else "seq"
                parts = tuple(fold(p) for p in re.split(r"[+ ]", spec.lstrip("^")))
                key = (intent, kind, parts)
                self._features[key] = max(weight, self._features.get(key, 0.0))
                for part in parts:
                    if "*" in part:
                        self._wild.add(part)
                        self._stems.add(part.strip("*"))
                    else:
                        self._words.add(part)
        self._stop |= {fold(w) for w in lex["stopwords"]}
        self._numbers.update({fold(w): n for w, n in lex["numbers"].items()})
        sets = {
            "id_anchors": lex["id_anchors"],
            "count_before": lex["count_before"],
            "count_nouns": lex["count_nouns"],
            "currency_words": lex["currency_words"],
            "time_words": lex["time_words"],
            "time_before": lex["time_before"],
            "not_plan_after": lex["not_plan_after"],
        }
        for name, words in sets.items():
            self._lex.setdefault(name, set()).update(fold(w) for w in words)
        self._domain |= {fold(w) for w in lex["domain"]}
        self._languages.update({fold(w): code for w, code in lex["languages"].items()})
        for intent, words in lex["coin_cues"].items():
            self._cues.update({fold(w): intent for w in words})
        for intent, words in lex["coin_cues_after"].items():
            self._cues_after.update({fold(w): intent for w in words})

    # ------------------------------------------------------------------ parsing
    def _known(self, key: str) -> bool:
        return (
            key in self._words
            or key in self._stop
            or key in self._numbers
            or key in self._languages
            or _HIRAGANA_RE.fullmatch(key) is not None  # Japanese particles and endings
            or self._wild_re.match(key) is not None
            or key in self._lex_words
        )

    def _segment(self, run: str) -> list[str]:
        """Cut a run of CJK characters into the longest known words; unknown stretches stay
        together ("我想用" -> "我", "想", "用"; "天气怎么样" -> "天气", "怎么样"). One regex
        search of the known words, longest first, finds at each place what a loop over every
        length would."""
        out: list[str] = []
        unknown = 0  # the unknown stretch is run[unknown:match.start()]
        for match in self._cjk_re.finditer(run):
            if unknown < match.start():
                out.append(run[unknown : match.start()])
            out.append(match.group())
            unknown = match.end()
        return [*out, run[unknown:]] if unknown < len(run) else out

    def _split(self, low: str) -> list[tuple[str, str | None]]:
        """The tokens of `low` as (raw, folded); CJK words come folded by their segmentation,
        others are folded by the caller (numbers and symbols are not)."""
        raws: list[tuple[str, str | None]] = []
        for raw in _TOKEN_RE.findall(low):
            if _CJK_RE.match(raw):
                raws.extend((word, word) for word in self._segment(fold(raw)))
            else:
                raws.append((raw, None))
        return raws

    def _parse(self, text: str) -> _Parse:
        low = unicodedata.normalize("NFKC", text).lower()
        tokens = []
        for raw, folded in self._split(low)[:MAX_WORDS]:
            kind = "id" if raw[0] == "#" else "num" if raw[0].isdigit() else "word"
            kind = "sym" if raw in ("$", "€", "£") else kind
            key = (folded or fold(raw)) if kind == "word" else raw
            tokens.append(_Token(raw, key, kind))
        extras = {fold(a + b) for a, b in _HYPHENATED_RE.findall(low)}
        p = _Parse(tokens, extras)
        self._entities(p)
        self._numbers_pass(p)
        tries = MAX_CORRECTIONS
        for tok in p.tokens:  # keyword typo correction ("retyr" -> "retry")
            if tok.kind == "word" and not tok.entity and len(tok.key) >= 5 and tries:
                if not self._known(tok.key) and not _CJK_RE.search(tok.key):
                    tok.key = self._correct(tok.key) or tok.key
                    tries -= 1
        for tok in p.tokens:  # "francés", "日本語": after typo correction ("fracnes")
            if tok.kind == "word" and not tok.entity and tok.key in self._languages:
                tok.entity, tok.value = "language", self._languages[tok.key]
                p.languages.append(tok.value)
        return p

    def _entities(self, p: _Parse) -> None:
        toks, i = p.tokens, 0
        while i < len(toks):
            n = self._match_alias(toks, i)
            i += max(n, 1)
        for tok in toks:  # after the catalog's names: a coin it lists is never "other"
            if tok.kind == "word" and not tok.entity and tok.key in self._elsewhere:
                tok.entity = self._elsewhere[tok.key]
        tries = MAX_CORRECTIONS
        for tok in toks:  # typos: "bitcoinn", "solanna", "bussiness"
            if tok.kind == "word" and not tok.entity and len(tok.key) >= 4 and tries:
                if not self._known(tok.key) and not _CJK_RE.search(tok.key):
                    self._fuzzy_alias(tok)
                    tries -= 1
        for idx, tok in enumerate(toks):
            nxt = toks[idx + 1].key if idx + 1 < len(toks) else ""
            if tok.entity == "plan" and nxt in self._lex["not_plan_after"]:
                tok.entity, tok.value = "", None  # "49 euro pro monat"
            if tok.entity == "plan" and tok.value not in p.plans:
                p.plans.append(str(tok.value))
            if tok.entity == "coin" and (idx == 0 or toks[idx - 1].entity != "coin"):
                if tok.value not in p.coins:
                    p.coins.append(str(tok.value))
                if tok.value not in self._codes and tok.value not in p.vague:
                    p.vague.append(str(tok.value))  # "usdt": the tool asks which network
                prev = toks[idx - 1].key if idx else ""
                if prev in self._cues:
                    p.coin_cues.append(self._cues[prev])
                elif nxt in self._cues_after:  # "solで": a particle after the coin
                    p.coin_cues.append(self._cues_after[nxt])

    def _match_alias(self, toks: list[_Token], i: int) -> int:
        if toks[i].kind not in ("word", "num"):
            return 0
        # the longest run of tokens from i that spells a coin or plan name; a run that is no
        # name's beginning ends the search (most words begin none: one set lookup each)
        key, found = "", None
        for n in range(1, min(self._max_ngram, len(toks) - i) + 1):
            if toks[i + n - 1].kind not in ("word", "num"):
                break
            key += toks[i + n - 1].key
            if key not in self._name_starts:
                break
            for kind, index in (("coin", self._coins), ("plan", self._plans)):
                if codes := index.get(key):
                    found = (n, kind, codes)
                    break
        if found is not None:
            n, kind, codes = found
            value = next(iter(codes)) if len(codes) == 1 else toks[i].raw
            for t in toks[i : i + n]:
                t.entity, t.value = kind, value
            return n
        codes = self._coin_prefixes.get(self._family(toks, i), set())
        if len(codes) > 1:  # bare "usdt" / "tether": a network named elsewhere, or the tool
            qualifiers = self._coin_qualifiers[self._family(toks, i)]  # lists the networks
            named = {
                code
                for t in toks
                if t.key not in self._coins and len(qualifiers.get(t.key, codes)) < len(codes)
                for code in qualifiers[t.key]
            }
            value = next(iter(named)) if len(named) == 1 else toks[i].raw
            toks[i].entity, toks[i].value = "coin", value
            return 1
        return 0

    def _family(self, toks: list[_Token], i: int) -> str:
        """The catalog's first word for a coin family the token names: itself ("usdt"), or
        the word a local name stands for ("泰达币", "U" beside Chinese or Japanese)."""
        key = toks[i].key
        name = self._families.get(key)
        if name is None:
            return key
        if len(key) == 1 and key.isascii():
            near = [t.key for t in toks[max(i - 1, 0) : i + 2] if t is not toks[i]]
            if not any(_CJK_RE.search(k) for k in near):
                return key
        return name

    def _fuzzy_alias(self, tok: _Token) -> None:
        best, best_ratio = None, ENTITY_FUZZ
        for kind, key, code, letters in self._name_targets.get(tok.key[0], ()):
            if _at_most(tok.key, letters, len(key)) < best_ratio:
                continue
            r = _ratio(tok.key, key)
            if r >= best_ratio:
                best, best_ratio = (kind, code), r
        if best:
            tok.entity, tok.value = best

    def _correct(self, key: str) -> str | None:
        best, best_ratio = None, WORD_FUZZ
        for word, stem, letters in self._targets.get(key[0], ()):
            typed = key[: len(word)] if stem else key
            if _at_most(typed, letters, len(word)) >= best_ratio:
                r = _ratio(typed, word)
                if r >= best_ratio:
                    best, best_ratio = word, r
        return best

    def _numbers_pass(self, p: _Parse) -> None:
        toks, lex = p.tokens, self._lex
        for i, tok in enumerate(toks):
            if tok.entity:
                continue
            prev = toks[i - 1] if i else None
            nxt = toks[i + 1] if i + 1 < len(toks) else None
            if tok.kind == "id":
                tok.entity, tok.value = "payment_id", int(tok.raw.lstrip("#").strip())
            elif tok.kind == "num" and not tok.raw.isdigit():
                tok.entity = "amount"  # "0,002" / "49.90"
            elif tok.kind == "num" or tok.key in self._numbers:
                value = int(tok.raw) if tok.kind == "num" else self._numbers[tok.key]
                money = (
                    (prev and prev.kind == "sym")
                    or (nxt and (nxt.kind == "sym" or nxt.entity == "coin"))
                    or (nxt and nxt.key in lex["currency_words"])
                )
                if money:
                    tok.entity = "amount"
                elif (nxt and nxt.key in lex["time_words"]) or (
                    prev and prev.key in lex["time_before"]
                ):
                    tok.entity = "duration"  # "20 min ago", "vor 10 Minuten", "2h", "10分钟"
                elif tok.kind == "num" and prev and prev.key in self._networks:
                    tok.entity = "network"  # "trc20", "usdt on erc20"
                elif tok.kind == "num" and prev and prev.key in lex["id_anchors"]:
                    tok.entity, tok.value = "payment_id", value
                elif any(t.key in lex["count_before"] for t in toks[max(i - 2, 0) : i]) or any(
                    t.key in lex["count_nouns"] for t in toks[i + 1 : i + 3]
                ):
                    tok.entity, tok.value = "count", value
                elif tok.kind == "num":
                    tok.entity, tok.value = "bare", value
        for tok in toks:
            bucket = {"payment_id": p.ids, "count": p.counts, "bare": p.bare}.get(tok.entity)
            if bucket is not None and tok.value not in bucket:
                bucket.append(int(tok.value))  # type: ignore[call-overload]

    # ------------------------------------------------------------------ scoring
    def _match(self, pattern: str, key: str) -> bool:
        return key == pattern or (pattern in self._wild and fnmatchcase(key, pattern))

    def _wild_hits(self, bag: set[str]) -> set[str]:
        """The wildcard patterns some word of `bag` matches: one search per pattern over all
        the words at once, not one `fnmatchcase` per pattern and word."""
        joined = "\n".join(bag)
        return {pattern for pattern, regex in self._wild_lines.items() if regex.search(joined)}

    def _candidates(
        self, present: set[str], extras: set[str]
    ) -> list[tuple[str, str, tuple[str, ...], float]]:
        """The features that can score on these words, in the tables' order: those whose
        first part is present (a feature with an absent part scores only by its joined
        parts, "re-try") and those whose parts joined are a hyphenated word of the message.
        The rest of the tables is never looked at."""
        found: set[int] = set()
        for word in present:
            found.update(self._by_first.get(word, ()))
        for word in extras:
            found.update(self._by_joined.get(word, ()))
        return [self._feature_list[i] for i in sorted(found)]

    def scores(self, text: str) -> tuple[dict[str, float], float, _Parse]:
        """Raw intent scores, the "not sure" score and the parse (for debugging)."""
        p = self._parse(beginning(text))
        keys = [t.key for t in p.tokens if not t.entity and t.kind == "word"]
        bag = set(keys) | p.extras
        present = bag | self._wild_hits(bag)  # the words, and the patterns they match
        scores: dict[str, float] = {}
        for intent, kind, parts, weight in self._candidates(present, p.extras):
            n = len(parts)
            if kind == "all":
                hit = all(part in present for part in parts)
            elif not all(part in present for part in parts):  # cheap check first
                hit = n > 1 and kind == "seq" and "".join(parts) in p.extras
            else:
                starts = range(len(keys) - n + 1) if kind == "seq" else range(len(keys) >= n)
                hit = any(
                    all(
                        self._match(part, k)
                        for part, k in zip(parts, keys[i : i + n], strict=True)
                    )
                    for i in starts
                ) or (n > 1 and kind == "seq" and "".join(parts) in p.extras)
            if hit:
                scores[intent] = scores.get(intent, 0.0) + weight
        named = {
            "plan": p.plans,
            "coin": p.coins,
            "payment_id": p.ids,
            "count": p.counts,
            "language": p.languages,
        }
        for name, values in named.items():
            if values:
                for intent, weight in ENTITY_WEIGHTS[name].items():
                    scores[intent] = scores.get(intent, 0.0) + weight
        for intent in set(p.coin_cues) if p.plans else ():  # "pro with btc", not "help with btc"
            scores[intent] = scores.get(intent, 0.0) + COIN_CUE_WEIGHTS[intent]
        if not p.languages and scores.get(LANGUAGE, 0.0) < LANGUAGE_WORD:
            scores.pop(LANGUAGE, None)  # "in"/"en"/"で" hint at a language only beside its name
        entities = p.plans or p.coins or p.ids or p.counts or p.languages
        if not entities and not any(self._domain_re.match(k) for k in bag):
            scores = {k: v * (1 if k == HELP else OFF_DOMAIN_FACTOR) for k, v in scores.items()}
        unknown = sum(
            1
            for t in p.tokens
            if t.entity == "bare" or (t.kind == "word" and not t.entity and not self._known(t.key))
        )
        return scores, NONE_SCORE + UNKNOWN_WORD_PENALTY * unknown, p

    def entities(self, text: str) -> Entities:
        """What a message names, whether or not it says what to do with it: the answer to a
        question the bot asked ("solana", "mit bitcoin", "#12", "the business one") has
        entities and no intent. Unknown words are the ones no table knows ("qwerty") and the
        names of what the shop does not sell or take ("dogecoin", "paypal")."""
        start = beginning(text)
        with self._one_at_a_time:
            p = self._parse(start)
        words = [t for t in p.tokens if t.kind == "word"]
        unknown = tuple(
            t.raw
            for t in words
            if t.entity in _ELSEWHERE or (not t.entity and not self._known(t.key))
        )
        low = unicodedata.normalize("NFKC", start).lower()
        return Entities(
            tuple(p.plans),
            tuple(p.coins),
            tuple(p.ids),
            tuple(p.bare),
            unknown,
            len(words),
            negated=self._negation.search(low) is not None,
            keep=self._keep.search(low) is not None,
        )

    def thanks(self, text: str) -> bool:
        """Whether a message thanks or says goodbye ("thx", "merci", "谢谢"): the end of a
        talk, answered with a short "you're welcome", not what the bot can do."""
        return (
            self._thanks.search(unicodedata.normalize("NFKC", beginning(text)).lower()) is not None
        )

    def features(self, text: str) -> set[str]:
        """The intent model's features of a message (words read as `route` reads them)."""
        return features(self._words_of(self._parse(beginning(text))), text)

    @staticmethod
    def _words_of(p: _Parse) -> list[tuple[str, str]]:
        return [(t.key, t.entity) for t in p.tokens]

    def route(self, text: str) -> Intent | None:
        """The intent of a message. A message longer than `MAX_ROUTED` characters is routed on
        its beginning: the first `MAX_ROUTED` characters, or when they say nothing clear (a
        long story dilutes any request), the first of their first `FIRST_SENTENCES` whole
        sentences that does ("Hi! Hope you are well. I'd like Pro with BTC. <a long story>").

        Callers route in worker threads, one message at a time: Python runs one thread at a
        time anyway, and the event loop gets its turn sooner from one busy thread than from
        several taking turns."""
        with self._one_at_a_time:
            return self._route_message(text)

    def _route_message(self, text: str) -> Intent | None:
        if len(text) <= MAX_ROUTED:
            return self._route(text, text)
        start = beginning(text)
        first = self._route(start, start)
        if first is not None and first.tool != HELP:
            return first
        for sentence in sentences(start)[:-1][:FIRST_SENTENCES]:  # the last one is cut off
            intent = self._route(sentence, start)  # a negation anywhere in `start` counts
            if intent is not None and intent.tool != HELP:
                return intent
            first = first or intent
        return first  # a greeting, or nothing understood

    def _decide(self, text: str) -> tuple[str, float, _Parse]:
        """The tables' decision: the best-scoring intent and its softmax confidence (NONE, 0
        when no word scored)."""
        scores, none, p = self.scores(text)
        if not scores:
            return NONE, 0.0, p
        top = max(scores.values())
        high = max(top, none)  # no overflow however many unknown words raise `none`
        z = math.exp((none - high) / TEMPERATURE) + sum(
            math.exp((s - high) / TEMPERATURE) for s in scores.values()
        )
        return max(scores, key=lambda k: scores[k]), math.exp((top - high) / TEMPERATURE) / z, p

    def _co_decide(self, text: str, model: IntentModel) -> tuple[str, float, _Parse]:
        """The intent model decides, the tables have a say: when both name the same intent and
        the model is fairly sure (`AGREED`), the higher confidence counts; when they differ,
        the more confident one wins but is never sure (`CONTESTED`) unless the other one is
        below the threshold of an answer."""
        table, table_conf, p = self._decide(text)
        if not p.tokens:  # "", "?!", emoji: no word to read
            return NONE, 0.0, p
        probs = model.probabilities(features(self._words_of(p), text))
        best = max(probs, key=probs.__getitem__)
        conf = model.confidence(probs[best])
        if best == table:
            agreed = conf >= AGREED
            return best, max(conf, table_conf) if agreed else min(table_conf, CONTESTED), p
        if best in NEW_INTENTS or table_conf < self.threshold:
            return best, conf, p  # the tables know nothing of "list the plans", "refund"
        if best in ONCE_TOOLS:  # never pay or cancel against the tables: "is payment 7
            return table, min(table_conf, CONTESTED), p  # cancelled?" shows its status
        return best, min(conf, CONTESTED), p

    def _route(self, text: str, context: str) -> Intent | None:
        decide = self._co_decide(text, self.model) if self.model else self._decide(text)
        tool, confidence, p = decide
        if tool == NONE or confidence < self.threshold:
            return None
        if tool in MONEY_TOOLS and self._negation.search(
            unicodedata.normalize("NFKC", context).lower()
        ):
            return None  # "I don't want to buy Pro": never start a payment on a negation
        if tool == CANCEL and self._keep.search(unicodedata.normalize("NFKC", context).lower()):
            return None  # "don't cancel it": never cancel on a negation
        words = [t for t in p.tokens if t.kind == "word"]
        if any(t.entity in ("plan", "coin") for t in words) or p.ids:
            if all(t.entity or t.key in self._bare_words for t in words):
                # "eth", "pro?", "order 55": the answer to a question, or a new request?
                confidence = min(confidence, CONTESTED)
        return Intent(tool, self._args(tool, p), round(confidence, 3))

    @staticmethod
    def _args(tool: str, p: _Parse) -> dict[str, object]:
        args: dict[str, object] = {}
        if tool in (
            "recommend_best_currency",
            "get_payment_estimate",
            "create_crypto_payment",
            "plan_details",
        ):
            if len(p.plans) == 1:
                args["plan"] = p.plans[0]
        coin_tools = ("get_payment_estimate", "create_crypto_payment", "confirmation_time")
        if tool in coin_tools and len(p.coins) == 1 and not p.vague:
            args["coin"] = p.coins[0]  # never "usdt" with no network: the tool asks which
        if tool in ("retry_failed_payment", "check_payment_status", CANCEL):
            ids = p.ids or (p.bare if len(p.bare) == 1 else [])
            if ids:
                args["payment_id"] = ids[0]
        if tool == "get_payment_history" and p.counts:
            args["limit"] = p.counts[0]
        if tool == LANGUAGE and p.languages:
            args["code"] = p.languages[-1]  # "from English to French": the last one
        return args
