"""The catalog the labelled corpus and the evaluation sets are written against: the plans and
coins of the shipped shop, with the names customers use. The router needs a catalog to find
entities; training (`bot.agent.train`), the router tests and `benchmarks/router_accuracy.py`
all read the corpus with this one."""

from __future__ import annotations

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
