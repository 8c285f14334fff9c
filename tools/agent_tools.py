"""The agent's nine LangChain tools. The caller reaches them through LangChain's injected
runtime context (`ToolContext`, set by the chat layer from the adapter), never through the
model: no schema has a user id, chat id, price or URL, and prices come from the catalog.

The tools are built once per process. `CARD_TOOLS` are those whose card says everything: the
agent ends its turn after them (see `bot.agent.guards.CardsEndTheTurn`), so no second model
call is made for them.
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain.tools import ToolRuntime
from langchain_core.tools import BaseTool, tool
from pydantic import ValidationError

from tools.actions import ToolResult
from tools.agent_names import CARD_TOOLS, TOOL_NAMES, ToolContext

__all__ = ["CARD_TOOLS", "TOOL_NAMES", "ToolContext", "build_agent_tools"]


def _bad_arguments(error: ValidationError) -> str:
    """Arguments the schema refused go back to the model as one short line."""
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()[:3]
    )
    return f"Error: invalid arguments ({problems})."


def _pair(result: ToolResult) -> tuple[str, object]:
    return result.content, result.card


Runtime = ToolRuntime[ToolContext]


def build_agent_tools(plan_codes: Sequence[str], coin_codes: Sequence[str]) -> list[BaseTool]:
    plans = ", ".join(plan_codes)
    coins = ", ".join(coin_codes)

    @tool(parse_docstring=True, response_format="content_and_artifact")
    async def get_user_plan(runtime: Runtime) -> tuple[str, object]:
        """Show the customer's current subscription plan, its features and end date, and what
        the next plan up would add and cost.
        """
        return _pair(await runtime.context.actions.get_user_plan())

    @tool(parse_docstring=True, response_format="content_and_artifact")
    async def recommend_best_currency(
        runtime: Runtime, plan: str | None = None
    ) -> tuple[str, object]:
        """Recommend the three cheapest and fastest coins to pay for a plan, with the total
        cost including the typical network fee.

        Args:
            plan: Plan code; leave empty to use the customer's current plan.
        """
        return _pair(await runtime.context.actions.recommend_best_currency(plan))

    @tool(parse_docstring=True, response_format="content_and_artifact")
    async def get_available_cryptocurrencies(runtime: Runtime) -> tuple[str, object]:
        """List the cryptocurrencies (with their networks) the shop accepts."""
        return _pair(await runtime.context.actions.get_available_cryptocurrencies())

    @tool(parse_docstring=True, response_format="content_and_artifact")
    async def get_payment_estimate(
        runtime: Runtime, plan: str | None = None, coin: str | None = None
    ) -> tuple[str, object]:
        """Tell how much of a coin a plan costs right now, without creating a payment.

        Args:
            plan: Plan code (ask the customer when they did not say).
            coin: Coin code (ask the customer when they did not say).
        """
        return _pair(await runtime.context.actions.get_payment_estimate(plan, coin))

    @tool(parse_docstring=True, response_format="content_and_artifact")
    async def create_crypto_payment(
        runtime: Runtime, plan: str | None = None, coin: str | None = None
    ) -> tuple[str, object]:
        """Create a payment for a plan in a coin and show the payment card (amount, address,
        QR code, deadline). Only when the customer clearly wants to buy.

        Args:
            plan: Plan code (ask the customer when they did not say).
            coin: Coin code (ask the customer when they did not say).
        """
        return _pair(await runtime.context.actions.create_crypto_payment(plan, coin))

    @tool(parse_docstring=True, response_format="content_and_artifact")
    async def retry_failed_payment(
        runtime: Runtime, payment_id: int | None = None
    ) -> tuple[str, object]:
        """Create a fresh payment with the same plan and coin as a failed or expired one.

        Args:
            payment_id: The number of the failed or expired payment (as shown, e.g. 12 for #12);
                leave empty for the latest one.
        """
        return _pair(await runtime.context.actions.retry_failed_payment(payment_id))

    @tool(parse_docstring=True, response_format="content_and_artifact")
    async def check_payment_status(
        runtime: Runtime, payment_id: int | None = None
    ) -> tuple[str, object]:
        """Show the status of one of the customer's payments.

        Args:
            payment_id: The payment's number; leave empty for the latest payment.
        """
        return _pair(await runtime.context.actions.check_payment_status(payment_id))

    @tool(parse_docstring=True, response_format="content_and_artifact")
    async def get_payment_history(runtime: Runtime, limit: int = 5) -> tuple[str, object]:
        """Show the customer's recent payments with what can be done with each.

        Args:
            limit: How many payments to show (1 to 20).
        """
        return _pair(await runtime.context.actions.get_payment_history(limit))

    @tool(parse_docstring=True, response_format="content_and_artifact")
    async def cancel_payment(
        runtime: Runtime, payment_id: int | None = None
    ) -> tuple[str, object]:
        """Cancel one of the customer's payments that is still waiting for money, only when
        the customer clearly asks to cancel it. A payment that already received money cannot
        be cancelled; plans never renew by themselves, so there is no subscription to cancel.

        Args:
            payment_id: The payment's number; leave empty for the customer's only open
                payment (when several are open, the customer is asked which one).
        """
        return _pair(await runtime.context.actions.cancel_payment(payment_id))

    tools = [
        get_user_plan,
        recommend_best_currency,
        get_available_cryptocurrencies,
        get_payment_estimate,
        create_crypto_payment,
        retry_failed_payment,
        check_payment_status,
        get_payment_history,
        cancel_payment,
    ]
    for t in tools:
        t.description += f" Plans: {plans}. Coins: {coins}."
        t.handle_validation_error = _bad_arguments
    return tools
