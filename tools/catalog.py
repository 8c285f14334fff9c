"""Plan and coin catalogs: the only source of prices and accepted coins."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from tools.errors import ShopError


@dataclass(frozen=True)
class Plan:
    code: str
    name: str
    price: Decimal
    currency: str
    period_days: int
    rank: int
    features: tuple[str, ...]


@dataclass(frozen=True)
class Coin:
    code: str
    name: str
    symbol: str
    network: str
    decimals: int
    fee_usd: Decimal
    confirm_minutes: int
    uri_scheme: str
    address_kind: str
    chain_id: int | None
    token_contract: str | None
    needs_memo: bool
    aliases: tuple[str, ...]


def _key(text: str) -> str:
    return re.sub(r"[\s_\-/.]+", "", text.strip().lower())


class Catalog:
    """Plans by rank and coins in configured order; lookups accept codes, names and aliases."""

    def __init__(self, plans: Iterable[Plan], coins: Iterable[Coin]) -> None:
        self.plans: tuple[Plan, ...] = tuple(sorted(plans, key=lambda p: p.rank))
        self.coins: tuple[Coin, ...] = tuple(coins)
        self._plans = {p.code: p for p in self.plans}
        self._coins = {c.code: c for c in self.coins}
        self._plan_names = {_key(name): p.code for p in self.plans for name in (p.code, p.name)}
        coin_names: dict[str, set[str]] = {}
        for c in self.coins:
            for name in (c.code, c.name, *c.aliases):
                coin_names.setdefault(_key(name), set()).add(c.code)
        # a bare symbol (USDT) that several coins share stays ambiguous
        for c in self.coins:
            coin_names.setdefault(_key(c.symbol), set()).add(c.code)
        self._coin_names = coin_names

    @classmethod
    def from_config(
        cls, plans: Mapping[str, object], coins: Mapping[str, object], currency: str
    ) -> Catalog:
        return cls(
            (
                Plan(code, p.name, p.price, currency, p.period_days, p.rank, tuple(p.features))
                for code, p in plans.items()  # type: ignore[attr-defined]
            ),
            (
                Coin(
                    code,
                    c.name,
                    c.symbol,
                    c.network,
                    c.decimals,
                    c.fee_usd,
                    c.confirm_minutes,
                    c.uri_scheme,
                    c.address_kind,
                    c.chain_id,
                    c.token_contract,
                    c.memo,
                    tuple(c.aliases),
                )
                for code, c in coins.items()  # type: ignore[attr-defined]
            ),
        )

    def plan(self, name: str) -> Plan:
        code = self._plan_names.get(_key(name or ""))
        if code is None:
            raise ShopError(
                "unknown_plan",
                f"Unknown plan {name!r}. Plans: {', '.join(self.plan_codes)}",
                name=name,
                valid=self.plan_codes,
            )
        return self._plans[code]

    def coin(self, name: str) -> Coin:
        codes = self._coin_names.get(_key(name or ""), set())
        if len(codes) == 1:
            return self._coins[next(iter(codes))]
        if len(codes) > 1:
            choices = [c.code for c in self.coins if c.code in codes]
            raise ShopError(
                "ambiguous_coin",
                f"{name!r} exists on several networks: {', '.join(choices)}",
                name=name,
                valid=choices,
            )
        raise ShopError(
            "unknown_coin",
            f"Unknown coin {name!r}. Coins: {', '.join(self.coin_codes)}",
            name=name,
            valid=self.coin_codes,
        )

    @property
    def plan_codes(self) -> list[str]:
        return [p.code for p in self.plans]

    @property
    def coin_codes(self) -> list[str]:
        return [c.code for c in self.coins]

    def next_plan_up(self, plan: Plan | None) -> Plan | None:
        for candidate in self.plans:
            if plan is None or candidate.rank > plan.rank:
                return candidate
        return None
