"""Coins: what is accepted, what a plan costs in each, and which one to recommend."""

from __future__ import annotations

from decimal import Decimal

from tools.cards import CoinOption, CurrenciesCard, EstimateCard, RecommendationCard
from tools.catalog import Catalog, Coin, Plan
from tools.errors import ProviderError, ShopError
from tools.providers.base import PaymentProvider


class CurrencyDesk:
    def __init__(self, catalog: Catalog, provider: PaymentProvider) -> None:
        self.catalog = catalog
        self.provider = provider

    async def available(self) -> CurrenciesCard:
        offered = set(await self.provider.currencies())
        return CurrenciesCard(tuple(c for c in self.catalog.coins if c.code in offered))

    async def option(self, plan: Plan, coin: Coin) -> CoinOption:
        try:
            amount = await self.provider.estimate(plan.price, plan.currency, coin)
        except ProviderError as exc:
            raise ShopError(exc.code, str(exc), **exc.params) from None
        return CoinOption(
            coin, amount, coin.fee_usd, plan.price + coin.fee_usd, coin.confirm_minutes
        )

    async def estimate(self, plan_name: str, coin_name: str) -> EstimateCard:
        plan = self.catalog.plan(plan_name)
        coin = self.catalog.coin(coin_name)
        option = await self.option(plan, coin)
        minimum = await self.provider.min_amount(coin)
        return EstimateCard(plan, option, minimum)

    async def recommend(self, plan_name: str) -> RecommendationCard:
        """Top 3 by total cost (price + typical network fee), then by speed."""
        plan = self.catalog.plan(plan_name)
        eligible: list[CoinOption] = []
        too_small: list[str] = []
        for coin in (await self.available()).coins:
            try:
                option = await self.option(plan, coin)
            except ShopError:
                continue
            if option.pay_amount < await self.provider.min_amount(coin):
                too_small.append(coin.code)
                continue
            eligible.append(option)
        if not eligible:
            raise ShopError(
                "no_coin", f"No coin can pay for {plan.name} right now.", plan=plan.code
            )
        eligible.sort(key=lambda o: (o.total_usd, o.confirm_minutes, o.coin.code))
        worst = eligible[-1]
        savings = worst.total_usd - eligible[0].total_usd
        return RecommendationCard(
            plan,
            tuple(eligible[:3]),
            savings if savings > 0 else Decimal(0),
            worst.coin if savings > 0 else None,
            tuple(too_small),
        )
