"""What customers ask to pay with or to buy that the shop does not sell, in every language.

The router marks these words as entities of their own kind, as it marks plans and coins:
``"other_asset"`` (a coin the catalog does not list, a stock) and ``"other_method"`` (a way to
pay that is not cryptocurrency). The intent model then reads "do you accept <other_asset>" as
the same request whatever the name ("dogecoin", "cardano", "门罗币"), and learns "not sold" and
"other payment methods" from the kind, not from each name. A coin the catalog lists is never
here: the catalog's own names are read first and win.
"""

from __future__ import annotations

# fmt: off
OTHER_ASSETS = frozenset({
    # coins (names, tickers, local names)
    "doge", "dogecoin", "dogecoins", "狗狗币", "ドージコイン", "ドージ",
    "monero", "xmr", "门罗币", "モネロ",
    "cardano", "ada", "艾达币", "卡尔达诺", "カルダノ",
    "shiba", "shib", "shibainu", "柴犬币", "シバイヌ",
    "ton", "toncoin", "ton币", "トンコイン",
    "polkadot", "波卡", "ポルカドット",
    "avalanche", "avax", "雪崩", "アバランチ",
    "chainlink", "チェーンリンク",
    "cosmos", "atom", "stellar", "xlm", "恒星币", "ステラ",
    "pepe", "bch", "bitcoincash", "比特币现金", "ビットコインキャッシュ",
    "dai", "busd", "tusd", "aptos", "sui", "arbitrum", "optimism",
    "kaspa", "zcash", "zec", "algorand", "hbar", "hedera",
    "filecoin", "uniswap", "aave", "bonk", "floki", "wif",
    "nft", "nfts",
    # shares and other goods
    "stock", "stocks", "aktie", "aktien", "accion", "acciones",
    "股票", "股份", "株式", "株", "etf", "etfs", "gold", "oro",
    "tesla", "nvidia", "amazon",
})

OTHER_METHODS = frozenset({
    "paypal", "venmo", "zelle", "revolut", "skrill", "klarna", "twint",
    "interac", "bizum", "mercadopago", "pix", "oxxo", "sepa", "iban",
    "visa", "mastercard", "amex", "maestro", "giropay", "lydia",
    "card", "cards", "creditcard", "debitcard", "karte", "kreditkarte", "kreditkarten",
    "tarjeta", "tarjetas", "carte", "cartes",
    "cash", "bargeld", "efectivo", "especes", "uberweisung",
    "banküberweisung", "bankuberweisung", "transferencia", "virement",
    "applepay", "googlepay", "gpay",
    "支付宝", "微信", "微信支付", "银联", "银行卡", "信用卡", "银行转账", "现金",
    "クレジットカード", "クレカ", "カード", "銀行振込", "コンビニ払い",
    "ペイペイ", "paypay", "アップルペイ", "現金", "デビットカード",
})
