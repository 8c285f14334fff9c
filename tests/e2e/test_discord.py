"""Discord end to end: the real discord.py client against the fake Discord REST + gateway.

The app runs as in production (gateway, scheduler, relay) on the real clock; the sandbox
provider plays the chain. Interactions are dispatched over the fake gateway and answered
through Discord's interaction endpoints, as on Discord.
"""

from __future__ import annotations

import asyncio
import io
import re

import discord
import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from bot.adapters.discord import from_config
from bot.app import App
from storage.models import AuditEntry, OutboxItem, Payment
from tests.conftest import make_config
from tests.fakes.discord_server import FakeDiscord
from tools.clock import system_clock
from tools.views import payment_link

USER = 410000000000000001
OPERATOR = 410000000000000099
GUILD = 420000000000000001
CHANNEL = 430000000000000001


def discord_config(db_url: str, fake: FakeDiscord, **overrides: str):
    values = {
        "DISCORD__ENABLED": "true",
        "PROVIDER__ALLOW_SANDBOX_IN_CHATS": "true",  # a test shop on the sandbox
        "DISCORD__API_BASE": fake.api_base,
        "DISCORD__GUILD_IDS": f"[{GUILD}]",
        "DISCORD_TOKEN": fake.token,
        "OPERATORS__DISCORD": f'["{OPERATOR}"]',
        "TIMERS__SWEEP_INTERVAL_SECONDS": "0.2",
        "PROVIDER__SANDBOX__CONFIRM_SECONDS": "0",
        "PROVIDER__SANDBOX__FINISH_SECONDS": "1",
    }
    values.update(overrides)
    return make_config(db_url, **values)


@pytest.fixture
async def fake_discord(monkeypatch):
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)  # restored after
    fake = FakeDiscord()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def dc_app(db_url, fake_discord):
    config = discord_config(db_url, fake_discord)
    app = App(config, adapters=[from_config(config)], clock=system_clock)
    await app.start()
    yield app
    await app.stop()


async def _payment(app: App, pid: int) -> Payment:
    async with app.db.sessions() as session:
        return await session.get(Payment, pid)


async def _card_ref(app: App, pid: int) -> str | None:
    """The card's message ref, once the adapter has read Discord's answer and stored it."""
    for _ in range(50):
        if ref := (await _payment(app, pid)).card_message_ref:
            return ref
        await asyncio.sleep(0.05)
    return None


def _custom_ids(message: dict) -> list[str]:
    return [c["custom_id"] for row in message["components"] for c in row["components"]]


async def _buy_in_guild(fake: FakeDiscord, user: int = USER) -> tuple[dict, int]:
    await fake.dispatch(
        "INTERACTION_CREATE",
        fake.slash_payload(
            "buy", {"plan": "pro", "coin": "sol"}, user_id=user, guild_id=GUILD, channel_id=CHANNEL
        ),
    )
    card = await fake.wait_for(lambda m: m["embeds"] and m["via"] == "followup")
    pid = int(re.search(r"Payment \\?#(\d+)", card["embeds"][0]["description"]).group(1))
    return card, pid


async def test_guild_buy_is_deferred_and_answered_with_a_private_card(dc_app, fake_discord):
    card, pid = await _buy_in_guild(fake_discord)
    defer = fake_discord.callbacks[0]
    assert defer["type"] == 5 and defer["data"]["flags"] & 64  # "thinking", only for the user
    assert card["ephemeral"]
    row = await _payment(dc_app, pid)
    embed = card["embeds"][0]
    assert f"```{row.pay_address}```" in embed["description"]
    assert "`1.99333334` SOL" in embed["description"]
    stamp = int(row.expires_at.timestamp())
    assert f"<t:{stamp}:R>" in embed["description"]  # a live countdown in every client
    assert embed["image"]["url"] == f"attachment://payment-{pid}.png"
    (name, png), *_ = card["files"]
    assert name == f"payment-{pid}.png"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert decoded[0].text == payment_link(dc_app.catalog, row, row.pay_amount)
    assert _custom_ids(card) == [f"paybot:/status {pid}", f"paybot:/cancel {pid}"]
    assert await _card_ref(dc_app, pid) == f"e:{CHANNEL}:{card['id']}"


async def test_status_button_edits_the_card_in_place(dc_app, fake_discord):
    card, pid = await _buy_in_guild(fake_discord)
    assert await _card_ref(dc_app, pid)
    await fake_discord.dispatch(
        "INTERACTION_CREATE",
        fake_discord.component_payload(
            f"paybot:/status {pid}", card, user_id=USER, guild_id=GUILD
        ),
    )
    edit = await fake_discord.wait_for(lambda e: e["via"] == "webhook", what="edits")
    assert fake_discord.callbacks[-1]["type"] == 6  # acknowledged without a new message
    assert f"Payment #{pid}" in edit["payload"]["embeds"][0]["description"].replace("\\#", "#")
    assert len([m for m in fake_discord.messages if m["embeds"]]) == 1  # no second card


async def test_cancel_button_cancels_and_the_card_shows_it(dc_app, fake_discord):
    card, pid = await _buy_in_guild(fake_discord)
    assert await _card_ref(dc_app, pid)
    await fake_discord.dispatch(
        "INTERACTION_CREATE",
        fake_discord.component_payload(
            f"paybot:/cancel {pid}", card, user_id=USER, guild_id=GUILD
        ),
    )
    answer = await fake_discord.wait_for(lambda m: "is cancelled" in m["content"], timeout=10)
    assert f"#{pid}" in answer["content"].replace("\\#", "#")
    assert _custom_ids(answer) == ["paybot:/buy pro sol"]
    edit = await fake_discord.wait_for(
        lambda e: (
            int(e["message_id"]) == int(card["id"])
            and "cancelled" in e["payload"]["embeds"][0]["description"]
        ),
        what="edits",
        timeout=10,
    )
    assert "<t:" not in edit["payload"]["embeds"][0]["description"]  # no live countdown
    assert edit["payload"]["attachments"] == []  # and no QR code
    assert (await _payment(dc_app, pid)).status == "cancelled"


async def test_payment_paid_is_pushed_by_dm_and_the_card_edited(dc_app, fake_discord):
    card, pid = await _buy_in_guild(fake_discord)
    assert await _card_ref(dc_app, pid)
    await dc_app.payments.sandbox_pay(None, pid, None)
    done = await fake_discord.wait_for(
        lambda m: "is complete" in m["content"] and m["via"] == "channel", timeout=10
    )
    assert int(done["channel_id"]) == fake_discord.dm_channel_of(USER)
    edit = await fake_discord.wait_for(
        lambda e: (
            int(e["message_id"]) == int(card["id"])
            and "paid" in e["payload"]["embeds"][0]["description"]
        ),
        what="edits",
        timeout=10,
    )
    assert edit["payload"]["attachments"] == []  # the QR goes once nothing is owed
    assert "nonce" in done and done["nonce"]


async def test_closed_dms_are_said_once_and_the_notice_is_dead(dc_app, fake_discord):
    fake_discord.dm_closed.add(USER)
    card, pid = await _buy_in_guild(fake_discord)
    await dc_app.payments.sandbox_pay(None, pid, None)
    notice = await fake_discord.wait_for(
        lambda m: "direct messages" in m["content"] and m["ephemeral"], timeout=10
    )
    assert notice["via"] == "followup"
    await dc_app.wait_settled("discord", str(USER), waiting=True, timeout=10)
    async with dc_app.db.sessions() as session:
        all_rows = (await session.scalars(select(OutboxItem))).all()
    rows = [r for r in all_rows if not r.kind.startswith("alert.")]
    assert rows and {r.status for r in rows} == {"dead"}
    assert all(r.attempts == 1 and "50007" in r.last_error for r in rows)  # never retried
    alerts = [r for r in all_rows if r.kind == "alert.dead_notice"]  # each operator is told
    operators = sum(len(ids) for ids in dc_app.alerts.operators.values())
    assert len(alerts) == operators * len(rows) == len(all_rows) - len(rows)
    told = [m for m in fake_discord.messages if "direct messages" in m["content"]]
    assert len(told) == 1  # said once, however many notices died


async def test_operator_command_from_a_customer_is_refused_and_audited(dc_app, fake_discord):
    admin = next(c for c in fake_discord.commands[GUILD] if c["name"] == "admin")
    assert admin["default_member_permissions"] == "8"  # hidden from everyone but admins
    await fake_discord.dispatch(
        "INTERACTION_CREATE",
        fake_discord.slash_payload(
            "admin", {"command": "stats 7d"}, user_id=USER, guild_id=GUILD, channel_id=CHANNEL
        ),
    )
    answer = await fake_discord.wait_for(lambda m: m["via"] == "followup")
    assert answer["ephemeral"] and "Unknown command /admin" in answer["content"]
    async with dc_app.db.sessions() as session:
        audit = (await session.scalars(select(AuditEntry))).all()
    assert [(a.actor, a.action) for a in audit] == [(f"discord:{USER}", "admin.refused")]


async def test_commands_are_localized_for_every_shipped_locale(dc_app, fake_discord):
    commands = {c["name"]: c for c in fake_discord.commands[GUILD]}
    assert set(commands) >= {"buy", "status", "plans", "language", "history", "retry"}
    for name, command in commands.items():
        if name == "admin":
            continue  # operators read English
        localized = command["description_localizations"]
        # every shipped language, under each of Discord's codes for it
        others = {"de", "es-ES", "es-419", "fr", "zh-CN", "zh-TW", "ja"}
        assert others | {"en-US", "en-GB"} <= set(localized), name
        for code in others:
            assert localized[code] != localized["en-US"], (name, code)
    buy = commands["buy"]
    assert buy["description_localizations"]["de"] == "Einen Plan kaufen"
    plan = next(o for o in buy["options"] if o["name"] == "plan")
    assert plan["autocomplete"] and plan["description_localizations"]["de"].startswith("Der")


async def test_autocomplete_offers_the_catalog(dc_app, fake_discord):
    await fake_discord.dispatch(
        "INTERACTION_CREATE",
        fake_discord.autocomplete_payload(
            "buy",
            {"plan": "pro", "coin": "usd"},
            "coin",
            user_id=USER,
            guild_id=GUILD,
            channel_id=CHANNEL,
        ),
    )
    answer = await fake_discord.wait_for(lambda c: c["type"] == 8, what="callbacks")
    values = [c["value"] for c in answer["data"]["choices"]]
    assert values == ["usdttrc20", "usdterc20", "usdc"]


async def test_german_interaction_locale_answers_in_german(dc_app, fake_discord):
    await fake_discord.dispatch(
        "INTERACTION_CREATE",
        fake_discord.slash_payload("plans", None, user_id=USER, channel_id=CHANNEL, locale="de"),
    )
    answer = await fake_discord.wait_for(lambda m: m["via"] == "followup")
    assert answer["content"].startswith("Pläne:") and not answer["ephemeral"]  # a DM


async def test_free_text_in_a_dm_reaches_the_agent(dc_app, fake_discord):
    channel = fake_discord.dm_channel_for(USER)
    await fake_discord.dispatch(
        "MESSAGE_CREATE",
        fake_discord.message_payload(
            "I want to buy pro with solana", user_id=USER, channel_id=channel
        ),
    )
    card = await fake_discord.wait_for(lambda m: m["embeds"] and m["via"] == "channel")
    assert "Payment \\#1" in card["embeds"][0]["description"]
    assert int(card["channel_id"]) == channel


async def test_a_mention_in_a_server_gets_a_private_button(dc_app, fake_discord):
    await fake_discord.dispatch(
        "MESSAGE_CREATE",
        fake_discord.message_payload(
            "buy pro with sol",
            user_id=USER,
            channel_id=CHANNEL,
            guild_id=GUILD,
            mention_bot=True,
        ),
    )
    answer = await fake_discord.wait_for(lambda m: m["via"] == "channel")
    assert int(answer["channel_id"]) == CHANNEL and not answer["embeds"]  # no details here
    assert _custom_ids(answer) == ["paybot:/start"]
    other = fake_discord.message_payload("hello all", user_id=USER, channel_id=CHANNEL)
    other["guild_id"] = str(GUILD)
    await fake_discord.dispatch("MESSAGE_CREATE", other)
    await dc_app.wait_settled("discord", str(USER), waiting=True, timeout=2)
    assert len([m for m in fake_discord.messages if m["via"] == "channel"]) == 1


async def test_a_lost_answer_is_not_posted_twice(dc_app, fake_discord):
    card, pid = await _buy_in_guild(fake_discord)
    # Discord creates the DM but the answer is lost: discord.py retries with the same nonce
    fake_discord.fail_next("POST", r"/channels/\d+/messages", 502, after_create=True)
    await dc_app.payments.sandbox_pay(None, pid, None)
    await dc_app.wait_settled("discord", str(USER), waiting=True, timeout=15)
    dms = [m for m in fake_discord.messages if m["via"] == "channel"]
    texts = [m["content"] for m in dms]
    assert len(texts) == len(set(texts)) and any("is complete" in t for t in texts)
    posts = [r for r in fake_discord.requests if r[0] == "POST" and "/messages" in r[1]]
    assert len(posts) > len(dms)  # the lost answer was really retried


async def test_message_content_intent_refused_says_how_to_fix_it(db_url, monkeypatch):
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    fake = FakeDiscord(privileged_allowed=False)
    await fake.start()
    try:
        adapter = from_config(discord_config(db_url, fake))

        async def handler(incoming, reply=None) -> None:
            return None

        with pytest.raises(ConnectionError, match="message content intent"):
            await adapter.start(handler)
            await adapter.open_shard(0)  # the gateway: its lease is this worker's
        await adapter.stop()
    finally:
        await fake.stop()


async def test_pushes_stay_under_discords_limits(dc_app, fake_discord):
    """Three paid payments of one user (six DMs into one channel, more than Discord's five per
    five seconds) and one of another user: everything arrives, and Discord never says 429."""
    other = USER + 1
    for user, command in [(USER, "pro sol"), (USER, "pro btc"), (USER, "pro eth")]:
        await fake_discord.dispatch(
            "INTERACTION_CREATE",
            fake_discord.slash_payload(
                "buy",
                dict(zip(("plan", "coin"), command.split(), strict=True)),
                user_id=user,
                guild_id=GUILD,
                channel_id=CHANNEL,
            ),
        )
    _, other_pid = await _buy_in_guild(fake_discord, other)
    await fake_discord.wait_for(
        lambda m: len([x for x in fake_discord.messages if x["embeds"]]) == 4
    )
    async with dc_app.db.sessions() as session:
        pids = [p.id for p in (await session.scalars(select(Payment))).all()]
    for pid in pids:
        await dc_app.payments.sandbox_pay(None, pid, None)
    for user in (USER, other):
        assert await dc_app.wait_settled("discord", str(user), waiting=True, timeout=30)
    mine = [
        m
        for m in fake_discord.messages
        if m["channel_id"] == str(fake_discord.dm_channel_of(USER))
    ]
    assert len([m for m in mine if "is complete" in m["content"]]) == 3
    assert fake_discord.rate_limited == 0


async def test_without_free_text_a_dm_gets_a_pointer_to_the_slash_commands(db_url, fake_discord):
    config = discord_config(db_url, fake_discord, DISCORD__MESSAGE_CONTENT="false")
    app = App(config, adapters=[from_config(config)], clock=system_clock)
    await app.start()
    try:
        assert not fake_discord.identify["intents"] & (1 << 15)  # the intent is not asked for
        channel = fake_discord.dm_channel_for(USER)
        await fake_discord.dispatch(
            "MESSAGE_CREATE",
            fake_discord.message_payload("buy pro with sol", user_id=USER, channel_id=channel),
        )
        answer = await fake_discord.wait_for(lambda m: m["via"] == "channel")
        assert "slash commands" in answer["content"] and not answer["embeds"]
    finally:
        await app.stop()


async def test_an_operator_gets_stats_and_the_ledger_privately(db_url, fake_discord):
    operator = USER + 1
    config = discord_config(db_url, fake_discord, OPERATORS__DISCORD=f'["{operator}"]')
    app = App(config, adapters=[from_config(config)], clock=system_clock)
    await app.start()
    try:
        for command in ("stats today", "export"):
            await fake_discord.dispatch(
                "INTERACTION_CREATE",
                fake_discord.slash_payload(
                    "admin",
                    {"command": command},
                    user_id=operator,
                    guild_id=GUILD,
                    channel_id=CHANNEL,
                ),
            )
        ledger = await fake_discord.wait_for(
            lambda m: (
                m["via"] == "followup"
                and m["attachments"]
                and m["attachments"][0]["filename"].endswith(".csv")
            )
        )
        assert ledger["ephemeral"] and ledger["content"] == "Settlement ledger: 0 payments."
        assert ledger["files"][0][1].decode().startswith("payment_id,order_id,")
        answers = [m for m in fake_discord.messages if m["via"] == "followup"]
        assert all(m["ephemeral"] for m in answers)  # nobody else in the channel sees them
        assert any("Payments created: 0" in m["content"] for m in answers)
        chart = next(m for m in answers if m["attachments"] and m["embeds"])
        assert chart["attachments"][0]["filename"] == "stats-today.png"
    finally:
        await app.stop()


async def test_a_shard_given_up_while_it_connects_does_not_stay_connected(db_url, fake_discord):
    """A shard's lease can go to another worker while discord.py is still connecting it (the
    opening is cancelled, e.g. in the 5 s between two IDENTIFYs). Its gateway session must
    not outlive that: a leftover would keep receiving the shard's events next to the new
    owner's session."""
    second = GUILD + (1 << 22)  # a server of shard 1 of 2
    for guild in (GUILD, second):
        fake_discord.add_guild(guild)
    adapter = from_config(discord_config(db_url, fake_discord, DISCORD__SHARD_COUNT="2"))

    async def handler(incoming, reply=None) -> None:
        return None

    await adapter.start(handler)
    try:
        await adapter.open_shard(0)
        opening = asyncio.create_task(adapter.open_shard(1))  # waits to IDENTIFY after 0
        await asyncio.sleep(1.0)
        opening.cancel()  # the lease went elsewhere, as bot/leases.py cancels it
        await asyncio.gather(opening, return_exceptions=True)
        await adapter.close_shard(1)
        await asyncio.sleep(8.0)  # past the IDENTIFY the cancelled opening was waiting for
        assert fake_discord.sessions(shard=1) == []
        assert [s.shard for s in fake_discord.sessions()] == [(0, 2)]
    finally:
        await adapter.stop()
