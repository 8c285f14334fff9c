"""Groups and channels of the fake Bot API: the bot's status and administrator rights, members,
invite links and join requests (a part of `FakeTelegram`).

The methods follow the Bot API and the errors are Telegram's own words, checked in the order
the official server (TDLib) checks them: `createChatInviteLink`, `revokeChatInviteLink`,
`approveChatJoinRequest`, `declineChatJoinRequest`, `banChatMember`, `unbanChatMember`,
`getChatMember`, `getChatAdministrators`. Tests set a chat up with `add_group`, change the bot's
rights or status on the `FakeGroup` it returns (the bot lacks a right, then is fixed), place
users with `set_member`, and play a user following an invite link with `push_join_request`,
which queues a `chat_join_request` update for polling and webhook delivery alike.
"""

from __future__ import annotations

import copy
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.telegram_errors import ApiError

LINK_NAME_LIMIT = 32  # TDLib keeps at most 32 characters of an invite link's name
MEMBER_LIMIT_MAX = 99_999
IN = frozenset(("creator", "administrator", "member"))

NO_INVITE_RIGHTS = "Bad Request: not enough rights to manage chat invite link"
NO_REQUEST_RIGHTS = "Bad Request: not enough rights to manage chat join requests"
NO_RESTRICT_RIGHTS = "Bad Request: not enough rights to restrict/unrestrict chat member"


@dataclass
class FakeLink:
    url: str
    creator_id: int
    name: str = ""
    creates_join_request: bool = False
    member_limit: int | None = None
    expire_date: int | None = None
    revoked: bool = False


@dataclass
class Member:
    status: str  # creator | administrator | member | restricted | left | kicked
    is_member: bool = True  # for "restricted": still in the chat


@dataclass
class FakeGroup:
    """One group, supergroup or channel as the bot sees it; tests may change any field."""

    id: int
    kind: str = "supergroup"  # supergroup | channel | group
    title: str = ""
    bot_status: str = "administrator"  # administrator | member | left | kicked
    can_invite_users: bool = True
    can_restrict_members: bool = True
    members: dict[int, Member] = field(default_factory=dict)
    links: dict[str, FakeLink] = field(default_factory=dict)
    requests: dict[int, dict[str, Any]] = field(default_factory=dict)  # user id -> request
    migrated_to: int | None = None  # a group upgraded to this supergroup answers so

    def chat(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.kind, "title": self.title}

    def status(self, user_id: int) -> Member:
        return self.members.get(user_id, Member("left", is_member=False))

    def is_in(self, user_id: int) -> bool:
        member = self.status(user_id)
        return member.status in IN or (member.status == "restricted" and member.is_member)


class FakeGroups:
    """The group half of `FakeTelegram` (which provides `register`, `_queue`, `_bot_user`,
    `chats` and `users`)."""

    groups: dict[int, FakeGroup]
    chats: dict[int | str, dict[str, Any]]
    users: dict[int, dict[str, Any]]

    def _init_groups(self) -> None:
        self.groups = {}
        for name, handler in {
            "createChatInviteLink": self._create_invite_link,
            "revokeChatInviteLink": self._revoke_invite_link,
            "approveChatJoinRequest": self._approve_join_request,
            "declineChatJoinRequest": self._decline_join_request,
            "banChatMember": self._ban_member,
            "unbanChatMember": self._unban_member,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
        }.items():
            self.register(name, handler)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ test controls

    def add_group(
        self,
        chat_id: int,
        *,
        kind: str = "supergroup",
        title: str | None = None,
        bot_status: str = "administrator",
        can_invite_users: bool = True,
        can_restrict_members: bool = True,
        owner_id: int | None = None,
    ) -> FakeGroup:
        """A chat the bot belongs to (by default: an administrator with both rights)."""
        group = FakeGroup(
            chat_id,
            kind,
            title or f"Test {kind} {chat_id}",
            bot_status,
            can_invite_users,
            can_restrict_members,
        )
        if owner_id is not None:
            group.members[owner_id] = Member("creator")
        self.groups[chat_id] = group
        self.chats[chat_id] = group.chat()
        return group

    def group(self, chat_id: int) -> FakeGroup:
        return self.groups[chat_id]

    def set_member(
        self,
        chat_id: int,
        user_id: int,
        status: str = "member",
        *,
        is_member: bool = True,
        first_name: str = "Alice",
    ) -> None:
        self.users.setdefault(user_id, {"id": user_id, "is_bot": False, "first_name": first_name})
        self.groups[chat_id].members[user_id] = Member(status, is_member)

    def push_join_request(
        self,
        chat_id: int,
        invite_link: str,
        *,
        user_id: int,
        first_name: str = "Alice",
        language_code: str = "en",
    ) -> dict[str, Any] | None:
        """A user follows `invite_link`. A link that creates join requests leaves the user
        waiting and queues a `chat_join_request` update (for an administrator bot with
        can_invite_users only, as Telegram sends them); any other link lets the user in. A
        revoked or unknown link, a member and a banned user change nothing. Returns the update,
        or None when the bot is sent none."""
        group = self.groups[chat_id]
        link = group.links.get(invite_link)
        member = group.status(user_id)
        if link is None or link.revoked or group.is_in(user_id) or member.status == "kicked":
            return None
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if language_code:
            user["language_code"] = language_code
        self.users[user_id] = user
        if not link.creates_join_request:
            group.members[user_id] = Member("member")
            return None
        if user_id in group.requests:
            return None  # one pending request per user and chat
        request = {
            "chat": group.chat(),
            "from": user,
            "user_chat_id": user_id,
            "date": int(time.time()),
            "invite_link": self._link_json(link),
        }
        group.requests[user_id] = request
        request["invite_link"] = self._link_json(link)  # counts this request
        if group.bot_status != "administrator" or not group.can_invite_users:
            return None
        return self._queue({"chat_join_request": copy.deepcopy(request)})  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ checks

    def _group_for(self, params: dict[str, Any], private: str) -> FakeGroup:
        """The chat a call is about, as Telegram checks it: `private` is this method's error
        for a private chat."""
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None
        group = self.groups.get(chat_id)
        if group is None:
            if chat_id > 0 and self.chats.get(chat_id, {}).get("type") == "private":
                raise ApiError(400, f"Bad Request: {private}")
            raise ApiError(400, "Bad Request: chat not found")
        if group.migrated_to is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=group.migrated_to,
            )
        if group.bot_status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {group.kind} chat")
        if group.bot_status == "left":
            raise ApiError(403, f"Forbidden: bot is not a member of the {group.kind} chat")
        return group

    @staticmethod
    def _user_id(params: dict[str, Any]) -> int:
        try:
            user_id = int(params.get("user_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            user_id = 0
        if user_id <= 0:
            raise ApiError(400, "Bad Request: invalid user_id specified")
        return user_id

    @staticmethod
    def _may_invite(group: FakeGroup) -> bool:
        return group.bot_status == "administrator" and group.can_invite_users

    @staticmethod
    def _may_restrict(group: FakeGroup) -> bool:
        return group.bot_status == "administrator" and group.can_restrict_members

    # ------------------------------------------------------------------ invite links

    def _create_invite_link(self, params: dict[str, Any], files: dict[str, bytes]) -> dict:
        group = self._group_for(params, "can't invite members to a private chat")
        creates_join_request = params.get("creates_join_request") is True
        member_limit = int(params.get("member_limit") or 0)
        if creates_join_request and member_limit:
            raise ApiError(
                400,
                "Bad Request: member limit can't be specified for links requiring "
                "administrator approval",
            )
        if not self._may_invite(group):
            raise ApiError(400, NO_INVITE_RIGHTS)
        if not 0 <= member_limit <= MEMBER_LIMIT_MAX:
            raise ApiError(400, "Bad Request: USAGE_LIMIT_INVALID")
        expire_date = int(params.get("expire_date") or 0)
        if expire_date and expire_date <= time.time():
            raise ApiError(400, "Bad Request: EXPIRE_DATE_INVALID")
        link = FakeLink(
            url=f"https://t.me/+{secrets.token_urlsafe(12)}",
            creator_id=self._bot_user()["id"],  # type: ignore[attr-defined]
            name=" ".join(str(params.get("name") or "").split())[:LINK_NAME_LIMIT].strip(),
            creates_join_request=creates_join_request,
            member_limit=member_limit or None,
            expire_date=expire_date or None,
        )
        group.links[link.url] = link
        return self._link_json(link)

    def _revoke_invite_link(self, params: dict[str, Any], files: dict[str, bytes]) -> dict:
        group = self._group_for(params, "can't invite members to a private chat")
        if not self._may_invite(group):
            raise ApiError(400, NO_INVITE_RIGHTS)
        link = group.links.get(str(params.get("invite_link") or ""))
        if link is None:  # another chat's, or never created
            raise ApiError(400, "Bad Request: INVITE_HASH_EXPIRED")
        link.revoked = True
        return self._link_json(link)

    def _link_json(self, link: FakeLink) -> dict[str, Any]:
        data: dict[str, Any] = {"invite_link": link.url}
        if link.name:
            data["name"] = link.name
        data["creator"] = self._bot_user()  # type: ignore[attr-defined]
        if link.expire_date:
            data["expire_date"] = link.expire_date
        if link.member_limit:
            data["member_limit"] = link.member_limit
        data.update(
            creates_join_request=link.creates_join_request,
            is_primary=False,
            is_revoked=link.revoked,
        )
        pending = sum(
            1
            for group in self.groups.values()
            for request in group.requests.values()
            if request["invite_link"]["invite_link"] == link.url
        )
        if pending:
            data["pending_join_request_count"] = pending
        return data

    # ------------------------------------------------------------------ join requests

    def _join_request(self, params: dict[str, Any]) -> tuple[FakeGroup, int]:
        user_id = self._user_id(params)
        group = self._group_for(params, "the chat can't have join requests")
        if not self._may_invite(group):
            raise ApiError(400, NO_REQUEST_RIGHTS)
        if group.is_in(user_id):
            raise ApiError(400, "Bad Request: USER_ALREADY_PARTICIPANT")
        if user_id not in group.requests:
            raise ApiError(400, "Bad Request: HIDE_REQUESTER_MISSING")
        return group, user_id

    def _approve_join_request(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        group, user_id = self._join_request(params)
        del group.requests[user_id]
        was = group.status(user_id)
        group.members[user_id] = Member("restricted" if was.status == "restricted" else "member")
        return True

    def _decline_join_request(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        group, user_id = self._join_request(params)
        del group.requests[user_id]
        return True

    # ------------------------------------------------------------------ members

    def _restrictable(self, params: dict[str, Any]) -> tuple[FakeGroup, int]:
        user_id = self._user_id(params)
        group = self._group_for(params, "can't ban members in private chats")
        if not self._may_restrict(group):
            raise ApiError(400, NO_RESTRICT_RIGHTS)
        return group, user_id

    @staticmethod
    def _removable(group: FakeGroup, user_id: int) -> None:
        status = group.status(user_id).status
        if status == "creator":
            raise ApiError(400, "Bad Request: can't remove chat owner")
        if status == "administrator":
            raise ApiError(400, "Bad Request: user is an administrator of the chat")

    def _ban_member(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        group, user_id = self._restrictable(params)
        self._removable(group, user_id)
        group.members[user_id] = Member("kicked", is_member=False)
        group.requests.pop(user_id, None)  # a ban ends a pending request
        return True

    def _unban_member(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        """As documented: a member is removed too, unless `only_if_banned`."""
        group, user_id = self._restrictable(params)
        status = group.status(user_id).status
        if params.get("only_if_banned") is True and status != "kicked":
            return True
        self._removable(group, user_id)
        group.members[user_id] = Member("left", is_member=False)
        return True

    def _get_chat_member(self, params: dict[str, Any], files: dict[str, bytes]) -> dict:
        user_id = self._user_id(params)
        group = self._group_for(params, "member not found")
        if group.kind == "channel" and group.bot_status != "administrator":
            raise ApiError(400, "Bad Request: member list is inaccessible")
        bot = self._bot_user()  # type: ignore[attr-defined]
        if user_id == bot["id"]:
            return self._bot_member(group)
        if user_id not in group.members and user_id not in self.users:
            raise ApiError(400, "Bad Request: member not found")  # a user Telegram never saw
        return self._member_json(group, user_id)

    def _get_chat_administrators(self, params: dict[str, Any], files: dict[str, bytes]) -> list:
        group = self._group_for(params, "there are no administrators in the private chat")
        if group.kind == "channel" and group.bot_status != "administrator":
            raise ApiError(400, "Bad Request: member list is inaccessible")
        admins = [
            self._member_json(group, user_id)
            for user_id, member in group.members.items()
            if member.status in ("creator", "administrator")
        ]
        if group.bot_status == "administrator":
            admins.append(self._bot_member(group))
        return admins

    def _user_json(self, user_id: int) -> dict[str, Any]:
        return copy.deepcopy(
            self.users.get(user_id)
            or {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        )

    def _bot_member(self, group: FakeGroup) -> dict[str, Any]:
        bot = self._bot_user()  # type: ignore[attr-defined]
        if group.bot_status != "administrator":
            return {"status": group.bot_status, "user": bot}
        return {
            "status": "administrator",
            "user": bot,
            **_admin_rights(group, group.can_invite_users, group.can_restrict_members),
        }

    def _member_json(self, group: FakeGroup, user_id: int) -> dict[str, Any]:
        member = group.status(user_id)
        data: dict[str, Any] = {"status": member.status, "user": self._user_json(user_id)}
        if member.status == "creator":
            data["is_anonymous"] = False
        elif member.status == "administrator":
            data.update(_admin_rights(group, True, True))
        elif member.status == "restricted":
            data.update(_restrictions(member.is_member))
        elif member.status == "kicked":
            data["until_date"] = 0  # forever
        return data


def _admin_rights(group: FakeGroup, invite: bool, restrict: bool) -> dict[str, Any]:
    rights: dict[str, Any] = {
        "can_be_edited": False,
        "is_anonymous": False,
        "can_manage_chat": True,
        "can_delete_messages": True,
        "can_manage_video_chats": True,
        "can_restrict_members": restrict,
        "can_promote_members": False,
        "can_change_info": False,
        "can_invite_users": invite,
        "can_post_stories": False,
        "can_edit_stories": False,
        "can_delete_stories": False,
    }
    if group.kind == "channel":
        rights.update(can_post_messages=True, can_edit_messages=True)
    else:
        rights.update(can_pin_messages=False, can_manage_topics=False)
    return rights


def _restrictions(is_member: bool) -> dict[str, Any]:
    return {
        "is_member": is_member,
        "can_send_messages": False,
        "can_send_audios": False,
        "can_send_documents": False,
        "can_send_photos": False,
        "can_send_videos": False,
        "can_send_video_notes": False,
        "can_send_voice_notes": False,
        "can_send_polls": False,
        "can_send_other_messages": False,
        "can_add_web_page_previews": False,
        "can_change_info": False,
        "can_invite_users": False,
        "can_pin_messages": False,
        "can_manage_topics": False,
        "can_edit_tag": False,
        "can_react_to_messages": False,
        "until_date": 0,
    }
