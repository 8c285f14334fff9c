"""Expected failures of the payment domain, with a code the chat layer can translate."""

from __future__ import annotations

from typing import Any


class ShopError(Exception):
    """An expected problem (bad plan, unknown payment, ...) to be explained to the customer.

    `code` names the situation; `params` fill the localized message. `str()` is a short
    English explanation for the model and the logs.
    """

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


class ProviderError(Exception):
    """The payment provider refused or failed; `code` is one of the ShopError codes. `detail`
    is the technical cause, for operators and logs only (customers see the code's message)."""

    def __init__(self, code: str, message: str, *, detail: str = "", **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail
        self.params = params
