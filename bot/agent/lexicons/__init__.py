"""Word tables for :mod:`bot.agent.router`, one module per language.

Add a language by writing one more :class:`Lexicon` module and registering it in
``LEXICONS``; the router merges every table, so mixed sentences ("ich will pro with solana
kaufen", "我想用 sol 买 pro") just work. The syntax of a table is described in
:mod:`bot.agent.lexicons.schema`.
"""

from __future__ import annotations

from bot.agent.lexicons.de import DE
from bot.agent.lexicons.en import EN
from bot.agent.lexicons.es import ES
from bot.agent.lexicons.fr import FR
from bot.agent.lexicons.ja import JA
from bot.agent.lexicons.schema import COIN_CUE_WEIGHTS, ENTITY_WEIGHTS, Lexicon
from bot.agent.lexicons.zh import TRADITIONAL, ZH

LEXICONS: dict[str, Lexicon] = {"en": EN, "de": DE, "es": ES, "fr": FR, "zh": ZH, "ja": JA}

__all__ = ["COIN_CUE_WEIGHTS", "ENTITY_WEIGHTS", "LEXICONS", "TRADITIONAL", "Lexicon"]
