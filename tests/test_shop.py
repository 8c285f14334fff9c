"""Plans, coins and recommendations: what the customer sees before paying."""

from __future__ import annotations

from datetime import UTC, timedelta
from decimal import Decimal

from bot.i18n import when
from tests.helpers import buy, settle
from tools.actions import CustomerActions
from tools.caller import Caller
from tools.cards import PlanCard, RecommendationCard


async def _actions(app, fake, user="alice") -> CustomerActions:
    await fake.say("/plans", user=user)  # creates the user
    return CustomerActions(app.shop, Caller(1, "fake", user, "en"))


async def _pay_fully(app, fake, clock, command: str) -> int:
    pid = await buy(fake, command)
    await fake.say(f"/pay {pid}")
    await settle(app, clock, seconds=5)
    return pid


async def test_user_plan_after_buying_shows_expiry_and_upgrade(app, fake, clock) -> None:
    actions = await _actions(app, fake)
    card = (await actions.get_user_plan()).card
    assert isinstance(card, PlanCard) and card.current is None
    assert card.next_plan.code == "starter" and card.upgrade_price == Decimal(49)

    await _pay_fully(app, fake, clock, "/buy pro sol")
    card = (await actions.get_user_plan()).card
    assert card.current.code == "pro"
    assert card.expires_at - clock() > timedelta(days=29, hours=23)
    # the upgrade costs what the payment will ask: the full price (nothing is prorated)
    assert card.next_plan.code == "business" and card.upgrade_price == Decimal(599)
    assert card.added_features == ("Unlimited projects", "Dedicated manager", "99.9% SLA")
    reply = await fake.say("/plan")
    assert "Your plan: Pro, active until" in reply[0].text
    assert (
        "Upgrade to Business: $599.00 for 30 days from payment (the full price; your Pro "
        f"plan runs alongside until {when(card.expires_at)}, with no credit)."
    ) in reply[0].text
    assert "Next plan up: Business, 599 USD" in (await actions.get_user_plan()).content
    (card,) = [m for m in await fake.say("/buy business sol") if m.payment_id]
    assert "Price: $599.00" in card.text
    async with app.db.sessions() as session:
        from storage.models import Payment

        assert (await session.get(Payment, card.payment_id)).price_amount == Decimal(599)


async def test_renewal_before_the_end_extends_from_the_end(app, fake, clock) -> None:
    actions = await _actions(app, fake)
    await _pay_fully(app, fake, clock, "/buy pro sol")
    first_end = (await actions.get_user_plan()).card.expires_at
    clock.advance(10 * 86400)
    await _pay_fully(app, fake, clock, "/buy pro ltc")
    assert (await actions.get_user_plan()).card.expires_at == first_end + timedelta(days=30)


async def test_recommendation_is_top_three_by_total_cost_then_speed(app, fake) -> None:
    actions = await _actions(app, fake)
    card = (await actions.recommend_best_currency("starter")).card
    assert isinstance(card, RecommendationCard)
    assert len(card.options) == 3
    totals = [o.total_usd for o in card.options]
    assert totals == sorted(totals)
    # SOL, POL and XRP all cost $0.01 in fees: the faster confirmation wins the tie
    assert [o.coin.code for o in card.options] == ["sol", "xrp", "pol"]
    assert "btc" in card.below_minimum  # $49 is under the sandbox's BTC minimum
    assert all(o.coin.code != "btc" for o in card.options)
    # the most expensive eligible option is ERC20 at $2.50 fee: saves $2.49
    assert card.savings == Decimal("2.49")
    assert card.most_expensive.code in ("usdterc20", "usdc")


async def test_recommend_without_plan_uses_the_current_one(app, fake, clock) -> None:
    actions = await _actions(app, fake)
    await _pay_fully(app, fake, clock, "/buy business sol")
    card = (await actions.recommend_best_currency(None)).card
    assert card.plan.code == "business"


async def test_estimate_is_exact_in_the_coins_decimals(app, fake) -> None:
    reply = await fake.say("/estimate pro btc")
    # 299 / 65000 = 0.00460000 (rounded up to 8 decimals, never down)
    assert "0.0046 BTC" in reply[0].text
    reply = await fake.say("/estimate business eth")
    assert "0.18718750 ETH" not in reply[0].text and "0.1871875 ETH" in reply[0].text


async def test_history_counts_success_and_offers_actions(app, fake, clock) -> None:
    paid = await _pay_fully(app, fake, clock, "/buy pro sol")
    open_id = await buy(fake, "/buy starter ltc")
    await settle(app, clock, seconds=901, step=60)
    reply = await fake.say("/history")
    text = reply[0].text
    assert f"#{paid}" in text and f"#{open_id}" in text
    assert "1 successful, $299.00 spent in total." in text
    actions = {b.action for b in reply[0].buttons}
    assert f"/retry {open_id}" in actions and f"/status {paid}" not in actions


async def test_memo_coins_show_the_memo(app, fake) -> None:
    reply = await fake.say("/buy pro xrp")
    assert "Memo / destination tag:" in reply[0].text
    assert "dt=" in reply[0].extra["uri"]


async def test_no_buy_button_for_a_coin_under_the_provider_minimum(app, fake) -> None:
    """Starter is $49: 0.00075384 BTC at the demo rate, under the demo minimum 0.0008 BTC.
    The estimate says so and offers the coins that can pay, as /buy would refuse it."""
    (reply,) = await fake.say("/estimate starter btc")
    assert "/buy starter btc" not in [b.action for b in reply.buttons]
    assert [b.action for b in reply.buttons] == ["/recommend starter"]
    assert "under the provider's minimum for BTC: at least 0.0008 BTC" in reply.text
    (refused,) = await fake.say("/buy starter btc")  # what the button would have done
    assert "under the provider's minimum for BTC" in refused.text and not refused.payment_id
    (reply,) = await fake.say("/estimate pro btc")  # above the minimum: the button is there
    assert [b.action for b in reply.buttons] == ["/buy pro btc"]
    actions = await _actions(app, fake)
    content = (await actions.get_payment_estimate("starter", "btc")).content
    assert "cannot be bought with this coin" in content


async def test_a_coin_named_like_its_network_is_named_once(app, fake) -> None:
    (coins,) = await fake.say("/currencies")
    assert "• sol — Solana\n" in coins.text and "(Solana)" not in coins.text
    assert "• eth — Ethereum\n" in coins.text  # Ethereum mainnet, not "ERC20"
    (best,) = await fake.say("/recommend starter")
    assert "1. Solana: " in best.text and "Solana (Solana)" not in best.text


async def test_what_a_purchase_does_to_the_running_plans_is_said_before_paying(
    app, fake, clock
) -> None:
    """Renewal, upgrade, and a lower plan while a higher one runs: the card (/buy), the
    estimate and the agent's tools say what will happen, as the activation will do it."""
    actions = await _actions(app, fake)
    (plain,) = [m for m in await fake.say("/buy starter sol") if m.payment_id]
    assert "Renewal" not in plain.text and "Note:" not in plain.text  # no plan yet
    await _pay_fully(app, fake, clock, "/buy pro sol")
    pro_end = (await actions.get_user_plan()).card.expires_at
    end = when(pro_end)

    (renewal,) = [m for m in await fake.say("/buy pro ltc") if m.payment_id]
    assert renewal.text.endswith(
        f"Renewal: the new 30 days start when your current Pro plan ends ({end})."
    )
    (upgrade,) = await fake.say("/estimate business sol")
    assert upgrade.text.endswith(
        "Upgrade: Business starts as soon as this payment completes, at its full price; your "
        f"Pro plan runs alongside until {end}, with no credit for its remaining days."
    )
    (lower,) = [m for m in await fake.say("/buy starter xrp") if m.payment_id]
    assert lower.text.endswith(
        f"Note: you have the Pro plan until {end}. Starter starts as soon as this payment "
        "completes and runs at the same time, not after it: until "
        f"{end} it adds nothing to what Pro already gives you."
    )
    assert lower.html.endswith("what Pro already gives you.")
    content = (await actions.create_crypto_payment("starter", "xrp")).content
    assert "higher Pro plan until 2026-12-21: Starter starts when paid" in content

    # and the activation does what was said: a lower plan starts at payment, alongside
    pid = lower.payment_id
    await fake.say(f"/pay {pid}")
    await settle(app, clock, seconds=5)
    async with app.db.sessions() as session:
        from sqlalchemy import select

        from storage.models import Activation

        act = await session.scalar(select(Activation).where(Activation.payment_id == pid))
    start = act.period_start.replace(tzinfo=act.period_start.tzinfo or UTC)
    assert start <= clock() and start < pro_end  # not after Pro: alongside it
    assert act.period_end - act.period_start == timedelta(days=30)


def test_discord_coin_choices_name_a_coin_once() -> None:
    from bot.adapters.discord.client import _network_unless_name

    assert "SOL Solana" + _network_unless_name("Solana", "Solana") == "SOL Solana"
    assert _network_unless_name("Polygon", "Polygon") == ""
    assert _network_unless_name("BNB", "BNB Smart Chain (BEP20)") == ", BNB Smart Chain (BEP20)"
