"""What a paid plan opens in Telegram, end to end: the real adapter on python-telegram-bot
against the fake Bot API (invite links, join requests, removing members, the bot's rights,
Telegram's refusals), and join requests reaching the app in polling and webhook mode."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web

from bot.adapters.base import AccessRefused, DeliveryError, RateLimited
from bot.adapters.telegram import TelegramAdapter, from_config
from bot.app import App
from bot.messages import Incoming
from tests.conftest import free_port
from tests.e2e.test_telegram import USER, _calls, telegram_config
from tests.fakes.telegram_server import FakeTelegram
from tools.clock import system_clock

GROUP = -1001777
ANN, BOB, OWNER = 5101, 5102, 5103


def make_adapter(fake: FakeTelegram, **webhook: str) -> TelegramAdapter:
    return TelegramAdapter(
        fake.token,
        base_url=fake.url,
        mode="webhook" if webhook else "polling",
        per_second=30,
        per_chat=1,
        per_group_minute=20,
        locales=["en"],
        default_locale="en",
        menu=lambda: [("start", "Start")],
        **webhook,
    )


@pytest.fixture
async def telegram():
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def received() -> list[Incoming]:
    return []


@pytest.fixture
async def adapter(telegram, received):
    async def handler(incoming: Incoming, reply=None) -> None:
        received.append(incoming)

    tg = make_adapter(telegram)
    await tg.start(handler)
    for connection in tg.connections():  # polling: no other worker holds its lease
        await connection.open()
    yield tg
    await tg.stop()


def _joining(link: str, user: int = ANN, name: str = "Ann", locale: str = "de") -> Incoming:
    return Incoming(
        platform="telegram",
        chat_id=str(GROUP),
        user_id=str(user),
        user_name=name,
        locale_hint=locale,
        is_private=False,
        text=link,
        event="join_request",
        private_chat_id=str(user),
    )


async def test_a_join_link_asks_for_approval_and_carries_a_short_name(adapter, telegram):
    group = telegram.add_group(GROUP)
    name = "paybot: plan pro for customer 12345678 (renewal)"
    url = await adapter.create_join_link(str(GROUP), name)
    sent = telegram.calls("createChatInviteLink")[-1].params
    assert sent["name"] == name[:32] and sent["creates_join_request"] is True
    assert "member_limit" not in sent  # Telegram refuses one on approval links
    link = group.links[url]
    assert url.startswith("https://t.me/+") and link.creates_join_request and not link.revoked

    await adapter.revoke_link(str(GROUP), url)
    assert group.links[url].revoked
    assert telegram.push_join_request(GROUP, url, user_id=ANN) is None  # nobody can ask
    await adapter.revoke_link(str(GROUP), url)  # again: done
    await adapter.revoke_link(str(GROUP), "https://t.me/+neverCreatedHere")  # gone: done


async def test_a_join_request_reaches_the_handler_by_polling(adapter, telegram, received):
    telegram.add_group(GROUP)
    url = await adapter.create_join_link(str(GROUP), "pro")
    telegram.push_join_request(GROUP, url, user_id=ANN, first_name="Ann", language_code="de")
    await telegram.wait_for(lambda f: received)
    assert received == [_joining(url)]
    assert "chat_join_request" in telegram.calls("getUpdates")[-1].params["allowed_updates"]


async def test_a_join_request_reaches_the_handler_by_webhook(telegram, received):
    async def handler(incoming: Incoming, reply=None) -> None:
        received.append(incoming)

    port = free_port()
    tg = make_adapter(
        telegram, webhook_url=f"http://127.0.0.1:{port}/webhooks/telegram", webhook_secret="s-1"
    )
    server = web.Application()
    for path, route in tg.webhook_routes():
        server.router.add_post(path, route)
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await tg.start(handler)
        telegram.add_group(GROUP)
        url = await tg.create_join_link(str(GROUP), "pro")
        telegram.push_join_request(GROUP, url, user_id=BOB, first_name="Bob", language_code="")
        assert await telegram.deliver_webhook_updates() == [200]
        await telegram.wait_for(lambda f: received)
        assert received == [_joining(url, BOB, "Bob", None)]
    finally:
        await tg.stop()
        await runner.cleanup()


async def test_join_requests_are_approved_and_declined_once(adapter, telegram):
    group = telegram.add_group(GROUP)
    url = await adapter.create_join_link(str(GROUP), "pro")
    telegram.push_join_request(GROUP, url, user_id=ANN)
    telegram.push_join_request(GROUP, url, user_id=BOB)

    await adapter.approve_join(str(GROUP), str(ANN))
    await adapter.decline_join(str(GROUP), str(BOB))
    assert group.status(ANN).status == "member" and group.requests == {}
    assert await adapter.is_member(str(GROUP), str(ANN))
    assert not await adapter.is_member(str(GROUP), str(BOB))
    # decided already, or never asked: done, not an error
    await adapter.approve_join(str(GROUP), str(ANN))
    await adapter.decline_join(str(GROUP), str(BOB))
    await adapter.approve_join(str(GROUP), "77")
    refusals = [r.description for r in telegram.calls() if r.status == 400]
    assert refusals == [
        "Bad Request: USER_ALREADY_PARTICIPANT",
        "Bad Request: HIDE_REQUESTER_MISSING",
        "Bad Request: HIDE_REQUESTER_MISSING",
    ]


async def test_removing_a_member_is_no_permanent_ban(adapter, telegram):
    group = telegram.add_group(GROUP, owner_id=OWNER)
    telegram.set_member(GROUP, ANN)
    await adapter.remove_member(str(GROUP), str(ANN))
    assert group.status(ANN).status == "left"  # out, and not banned
    ban, unban = telegram.calls("banChatMember")[-1], telegram.calls("unbanChatMember")[-1]
    assert ban.at < unban.at and unban.params["only_if_banned"] is True
    assert not await adapter.is_member(str(GROUP), str(ANN))
    url = await adapter.create_join_link(str(GROUP), "renewal")
    assert telegram.push_join_request(GROUP, url, user_id=ANN) is not None  # may come back

    await adapter.remove_member(str(GROUP), str(BOB))  # not a member: done
    assert group.status(BOB).status == "left"
    with pytest.raises(DeliveryError) as owner:  # Telegram never removes the owner
        await adapter.remove_member(str(GROUP), str(OWNER))
    assert owner.value.permanent and not isinstance(owner.value, AccessRefused)


async def test_who_counts_as_a_member(adapter, telegram):
    telegram.add_group(GROUP, owner_id=OWNER)
    statuses = {
        ANN: ("member", True),
        BOB: ("administrator", True),
        5104: ("restricted", True),
        5105: ("left", True),
        5106: ("kicked", True),
    }
    for user, (status, _) in statuses.items():
        telegram.set_member(GROUP, user, status)
    telegram.set_member(GROUP, 5107, "restricted", is_member=False)
    answers = {
        user: await adapter.is_member(str(GROUP), str(user))
        for user in [OWNER, ANN, BOB, 5104, 5105, 5106, 5107, 123456789]
    }
    assert answers == {
        OWNER: True,
        ANN: True,
        BOB: True,
        5104: True,
        5105: False,
        5106: False,
        5107: False,
        123456789: False,  # a user Telegram never saw: "member not found"
    }


async def test_missing_rights_names_each_problem(adapter, telegram):
    group = telegram.add_group(GROUP)
    chat = str(GROUP)
    assert await adapter.missing_rights(chat) == []
    group.can_invite_users = False
    assert await adapter.missing_rights(chat) == ["cannot invite users"]
    group.can_restrict_members = False
    assert await adapter.missing_rights(chat) == ["cannot invite users", "cannot restrict members"]
    group.bot_status = "member"
    assert await adapter.missing_rights(chat) == ["not an administrator"]
    group.bot_status = "left"
    assert await adapter.missing_rights(chat) == ["not a member"]
    group.bot_status = "kicked"
    assert await adapter.missing_rights(chat) == ["not a member"]
    assert await adapter.missing_rights("-100999") == ["chat not found"]
    telegram.add_group(GROUP - 1, kind="channel", bot_status="member")
    assert await adapter.missing_rights(str(GROUP - 1)) == ["not an administrator"]


async def test_refusals_tell_the_operator_what_to_fix(adapter, telegram):
    group = telegram.add_group(GROUP, bot_status="member")
    telegram.set_member(GROUP, ANN)
    chat = str(GROUP)
    with pytest.raises(AccessRefused) as link:
        await adapter.create_join_link(chat, "pro")
    assert link.value.fix == (
        f"make the bot an administrator of chat {chat} with the right to invite users via link"
    )
    with pytest.raises(AccessRefused) as approve:
        await adapter.approve_join(chat, str(ANN))
    assert "invite users via link" in approve.value.fix and chat in approve.value.fix
    with pytest.raises(AccessRefused) as remove:
        await adapter.remove_member(chat, str(ANN))
    assert (
        remove.value.fix
        == f"make the bot an administrator of chat {chat} with the right to ban users"
    )
    assert str(remove.value) == (
        f"Telegram: Not enough rights to restrict/unrestrict chat member (chat {chat})"
    )
    with pytest.raises(AccessRefused) as unknown:
        await adapter.create_join_link("-100999", "pro")
    assert unknown.value.fix.startswith("add the bot to chat -100999 as an administrator")
    group.bot_status = "kicked"
    with pytest.raises(AccessRefused) as kicked:
        await adapter.is_member(chat, str(ANN))
    assert kicked.value.fix.startswith(f"add the bot back to chat {chat}")
    refusals = [link, approve, remove, unknown, kicked]
    assert all(not r.value.permanent for r in refusals)

    group.migrated_to = GROUP - 5  # a group upgraded to a supergroup has a new id
    with pytest.raises(AccessRefused) as moved:
        await adapter.remove_member(chat, str(ANN))
    assert moved.value.fix == f"chat {chat} became the supergroup {GROUP - 5}: use that id instead"
    assert await adapter.missing_rights(chat) == [f"chat moved to {GROUP - 5}"]
    group.migrated_to = None
    telegram.fail_next("banChatMember", 400, description="Bad Request: CHAT_ADMIN_REQUIRED")
    with pytest.raises(AccessRefused) as admin:
        await adapter.remove_member(chat, str(ANN))
    assert admin.value.fix.startswith(f"make the bot an administrator of chat {chat}")

    group.bot_status = "administrator"  # the operator fixes it
    await adapter.remove_member(chat, str(ANN))
    assert group.status(ANN).status == "left"
    assert (await adapter.create_join_link(chat, "pro")).startswith("https://t.me/+")


async def test_failures_are_tried_again_and_limits_wait(adapter, telegram):
    group = telegram.add_group(GROUP)
    telegram.set_member(GROUP, ANN)
    chat = str(GROUP)
    telegram.fail_next("createChatInviteLink", 500)
    with pytest.raises(DeliveryError) as server:
        await adapter.create_join_link(chat, "pro")
    telegram.drop_next("banChatMember")
    with pytest.raises(DeliveryError) as dropped:
        await adapter.remove_member(chat, str(ANN))
    telegram.garble_next("approveChatJoinRequest", {"ok": True})
    with pytest.raises(DeliveryError) as garbled:
        await adapter.approve_join(chat, str(ANN))
    for failure in (server, dropped, garbled):
        assert type(failure.value) is DeliveryError and not failure.value.permanent
    assert group.status(ANN).status == "member" and group.links == {}

    telegram.fail_next("getChatMember", 429, retry_after=7, times=2)
    with pytest.raises(RateLimited) as limited:
        await adapter.is_member(chat, str(ANN))
    assert limited.value.retry_after == 7
    with pytest.raises(RateLimited):
        await adapter.missing_rights(chat)

    telegram.fail_next("approveChatJoinRequest", 403, description="Forbidden: user is deactivated")
    await adapter.approve_join(chat, str(BOB))  # the account is gone: nothing to approve
    telegram.fail_next("banChatMember", 403)  # a refusal no operator can fix: never again
    telegram.fail_next("getChatMember", 401)
    telegram.garble_next("createChatInviteLink", {"ok": True, "result": []})
    for call in (
        adapter.remove_member(chat, str(ANN)),
        adapter.is_member(chat, str(ANN)),
    ):
        with pytest.raises(DeliveryError) as final:
            await call
        assert final.value.permanent and type(final.value) is DeliveryError
    with pytest.raises(DeliveryError) as unreadable:
        await adapter.create_join_link(chat, "pro")
    assert str(unreadable.value).startswith("the answer is not valid")

    telegram.fail_next(
        "revokeChatInviteLink", 400, description=f"Bad Request: odd link for bot{telegram.token}"
    )
    with pytest.raises(DeliveryError) as odd:
        await adapter.revoke_link(chat, "https://t.me/+x")
    assert odd.value.permanent and telegram.token.lower() not in str(odd.value).lower()
    assert str(odd.value) == "BadRequest: Odd link for bot<token>"


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_a_join_request_reaches_the_app_and_a_stranger_is_declined(
    db_url, telegram, caplog, mode
):
    config = telegram_config(
        db_url, telegram, TELEGRAM__MODE=mode, TELEGRAM_WEBHOOK_SECRET="s3cret-token"
    )
    app = App(config, adapters=[from_config(config)], clock=system_clock)
    await app.start()
    try:
        telegram.add_group(GROUP)
        url = await app.adapters["telegram"].create_join_link(str(GROUP), "pro")
        telegram.push_join_request(GROUP, url, user_id=USER)
        telegram.push_message(USER, "/plans", user_id=USER)
        if mode == "webhook":
            assert await telegram.deliver_webhook_updates() == [200, 200]
        await telegram.wait_for(lambda f: _calls(f, "declineChatJoinRequest", GROUP))
        await telegram.wait_for(lambda f: len(_calls(f, "sendMessage", USER)) == 2)
        await app.wait_settled("telegram", str(USER), waiting=False, timeout=5)
    finally:
        await app.stop()
    texts = [r.params["text"] for r in _calls(telegram, "sendMessage", USER)]
    assert any("paid plan" in t for t in texts)  # told where the plans are, in private
    assert _calls(telegram, "sendMessage", GROUP) == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
