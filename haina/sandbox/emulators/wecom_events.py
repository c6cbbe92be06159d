"""Which callbacks WeCom sends when the world changes, and helpers that act out what members and
customers do in the WeCom app (add a customer, edit a remark, delete a friend).

The emulator keeps a snapshot of every contact, tag group and customer group it has reported.
A change announced with `state.notify("contacts" | "tag_groups" | "groups", record)` (or
`state.add`) is compared with the snapshot and becomes the events WeCom would push (§1.3):
change_external_contact, change_external_tag and change_external_chat. A new archived message
(`state.notify("messages", message)`) becomes msgaudit_notify.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from haina.core import clock
from haina.sandbox.emulators.wecom_push import Callback, FieldValue, send
from haina.sandbox.emulators.wecom_store import (
    WELCOME_CODE_LIFETIME,
    WelcomeCode,
    contact_index,
    find_contact,
    find_follow_user,
    scratch,
    touch_contacts,
)
from haina.sandbox.state import SandboxState
from haina.sandbox.world import CorpTagGroup, ExternalContact, FollowUser, GroupChat

# groupchat/get's join_scene (1 invited, 2 via link, 3 via QR) → the callback's JoinScene, which
# only knows 0 (invited by a member) and 3 (scanned the group QR code).
CALLBACK_JOIN_SCENE = {1: 0, 2: 0, 3: 3}
# [UNCONFIRMED] the sandbox cannot tell leaving from being removed; it reports 0 (left).
DEFAULT_QUIT_SCENE = 0


def member_version(chat: GroupChat) -> str:
    """A stable fingerprint of a group's membership, as groupchat/get's member_version."""
    members = ",".join(sorted(member.userid for member in chat.members))
    return hashlib.md5(members.encode()).hexdigest()


# -- contacts --------------------------------------------------------------------------------


def _follow_snapshot(contact: ExternalContact) -> dict[str, tuple[Any, ...]]:
    # Only what makes WeCom push edit_external_contact: remark, description and corp tags
    # (a change of remark_mobiles alone pushes nothing).
    return {
        follow_user.userid: (follow_user.remark, follow_user.description, tuple(sorted(follow_user.tag_ids)))
        for follow_user in contact.follow_users
    }


def contact_changes(
    state: SandboxState,
    contact: ExternalContact,
    *,
    issue_welcome_code: bool = True,
    removal: str = "del_external_contact",
) -> list[Callback]:
    """The change_external_contact events since the contact was last reported; updates the snapshot."""
    with state.lock:
        snapshots = scratch(state).setdefault("contact_snapshots", {})
        before: dict[str, tuple[Any, ...]] = snapshots.get(contact.external_userid, {})
        present = contact_index(state).by_external_userid.get(contact.external_userid) is contact
        after = _follow_snapshot(contact) if present else {}
        callbacks: list[Callback] = []
        for follow_user in contact.follow_users if present else []:
            if follow_user.userid not in before:
                callbacks.append(_added(state, contact, follow_user, issue_welcome_code))
        for userid in before:
            if userid not in after:
                callbacks.append(_contact_event(removal, userid, contact.external_userid))
            elif before[userid] != after[userid]:
                callbacks.append(_contact_event("edit_external_contact", userid, contact.external_userid))
        if after:
            snapshots[contact.external_userid] = after
        else:
            snapshots.pop(contact.external_userid, None)
        return callbacks


def _contact_event(change_type: str, userid: str, external_userid: str) -> Callback:
    return Callback(
        "change_external_contact",
        [("ChangeType", change_type), ("UserID", userid), ("ExternalUserID", external_userid)],
    )


def _added(
    state: SandboxState, contact: ExternalContact, follow_user: FollowUser, issue_welcome_code: bool
) -> Callback:
    callback = _contact_event("add_external_contact", follow_user.userid, contact.external_userid)
    if follow_user.state:
        callback.fields.append(("State", follow_user.state))
    if issue_welcome_code:
        codes = scratch(state)["welcome_codes"]
        # An expired code answers 41050 whether it is kept or not, so drop them as we go.
        for stale in [
            code for code, issued in codes.items() if clock.now() - issued.issued_at > WELCOME_CODE_LIFETIME
        ]:
            del codes[stale]
        code = secrets.token_urlsafe(24)
        codes[code] = WelcomeCode(
            userid=follow_user.userid, external_userid=contact.external_userid, issued_at=clock.now()
        )
        callback.fields.append(("WelcomeCode", code))
    return callback


# -- corp tags -------------------------------------------------------------------------------


def _tag_group_snapshot(group: CorpTagGroup) -> dict[str, Any]:
    return {
        "name": group.group_name,
        "order": group.order,
        "deleted": group.deleted,
        "tags": {tag.tag_id: (tag.name, tag.order, tag.deleted) for tag in group.tags},
    }


def _tag_event(change_type: str, identifier: str, tag_type: str | None) -> Callback:
    fields: list[tuple[str, FieldValue]] = [("Id", identifier)]
    if tag_type:
        fields.append(("TagType", tag_type))
    fields.append(("ChangeType", change_type))
    return Callback("change_external_tag", fields)


def tag_changes(state: SandboxState, group: CorpTagGroup) -> list[Callback]:
    """The change_external_tag events for one tag group since it was last reported."""
    with state.lock:
        snapshots = scratch(state).setdefault("tag_snapshots", {})
        before = snapshots.get(group.group_id)
        present = any(candidate is group for candidate in state.world.tag_groups) and not group.deleted
        callbacks: list[Callback] = []
        if before is None:
            # [UNCONFIRMED] a new group is one tag_group event; its first tags are read with it.
            if present:
                callbacks.append(_tag_event("create", group.group_id, "tag_group"))
        elif not present:
            callbacks.append(_tag_event("delete", group.group_id, "tag_group"))
        else:
            if before["name"] != group.group_name:
                callbacks.append(_tag_event("update", group.group_id, "tag_group"))
            callbacks.extend(_tag_diff(group, before["tags"]))
            if before["order"] != group.order:
                callbacks.append(_tag_event("shuffle", "", None))  # empty Id: groups were reordered
        if present:
            snapshots[group.group_id] = _tag_group_snapshot(group)
        else:
            snapshots.pop(group.group_id, None)
        return callbacks


def _tag_diff(group: CorpTagGroup, before: dict[str, tuple[str, int, bool]]) -> list[Callback]:
    callbacks: list[Callback] = []
    reordered = False
    current = {tag.tag_id: tag for tag in group.tags if not tag.deleted}
    for tag_id, tag in current.items():
        if tag_id not in before or before[tag_id][2]:
            callbacks.append(_tag_event("create", tag_id, "tag"))
            continue
        if before[tag_id][0] != tag.name:
            callbacks.append(_tag_event("update", tag_id, "tag"))
        reordered = reordered or before[tag_id][1] != tag.order
    for tag_id, (_, _, was_deleted) in before.items():
        if not was_deleted and tag_id not in current:
            callbacks.append(_tag_event("delete", tag_id, "tag"))
    if reordered:
        callbacks.append(_tag_event("shuffle", group.group_id, None))
    return callbacks


# -- customer groups -------------------------------------------------------------------------


def _chat_snapshot(chat: GroupChat) -> dict[str, Any]:
    return {
        "name": chat.name,
        "notice": chat.notice,
        "owner": chat.owner,
        "members": {member.userid: member.join_scene for member in chat.members},
        "version": member_version(chat),
    }


def _chat_event(
    chat_id: str, change_type: str, fields: list[tuple[str, FieldValue]] | None = None
) -> Callback:
    return Callback(
        "change_external_chat", [("ChatId", chat_id), ("ChangeType", change_type), *(fields or [])]
    )


def group_changes(state: SandboxState, chat: GroupChat) -> list[Callback]:
    """The change_external_chat events for one customer group since it was last reported."""
    with state.lock:
        snapshots = scratch(state).setdefault("chat_snapshots", {})
        before = snapshots.get(chat.chat_id)
        present = any(candidate is chat for candidate in state.world.groups)
        callbacks: list[Callback] = []
        if before is None:
            if present:
                callbacks.append(_chat_event(chat.chat_id, "create"))
        elif not present:
            callbacks.append(_chat_event(chat.chat_id, "dismiss"))
        else:
            callbacks.extend(_chat_updates(chat, before))
        if present:
            snapshots[chat.chat_id] = _chat_snapshot(chat)
        else:
            snapshots.pop(chat.chat_id, None)
        return callbacks


def _chat_updates(chat: GroupChat, before: dict[str, Any]) -> list[Callback]:
    callbacks: list[Callback] = []
    for detail, attribute in (
        ("change_owner", "owner"),
        ("change_name", "name"),
        ("change_notice", "notice"),
    ):
        if before[attribute] != getattr(chat, attribute):
            callbacks.append(_chat_event(chat.chat_id, "update", [("UpdateDetail", detail)]))
    current = {member.userid: member for member in chat.members}
    joined = [member for userid, member in current.items() if userid not in before["members"]]
    left = [userid for userid in before["members"] if userid not in current]
    version = member_version(chat)
    if joined:
        # One event per join scene, since the event carries a single JoinScene.
        by_scene: dict[int, list[str]] = {}
        for member in joined:
            by_scene.setdefault(CALLBACK_JOIN_SCENE.get(member.join_scene, 0), []).append(member.userid)
        for scene, userids in by_scene.items():
            callbacks.append(
                _chat_event(
                    chat.chat_id,
                    "update",
                    [
                        ("UpdateDetail", "add_member"),
                        ("JoinScene", scene),
                        ("MemChangeCnt", len(userids)),
                        ("MemChangeList", userids),
                        ("LastMemVer", before["version"]),
                        ("CurMemVer", version),
                    ],
                )
            )
    if left:
        callbacks.append(
            _chat_event(
                chat.chat_id,
                "update",
                [
                    ("UpdateDetail", "del_member"),
                    ("QuitScene", DEFAULT_QUIT_SCENE),
                    ("MemChangeCnt", len(left)),
                    ("MemChangeList", left),
                    ("LastMemVer", before["version"]),
                    ("CurMemVer", version),
                ],
            )
        )
    return callbacks


# -- wiring ----------------------------------------------------------------------------------


def snapshot_world(state: SandboxState) -> None:
    """Take the current world as already reported, so only later changes push callbacks."""
    with state.lock:
        data = scratch(state)
        data["contact_snapshots"] = {
            contact.external_userid: _follow_snapshot(contact)
            for contact in state.world.contacts
            if contact.follow_users
        }
        data["tag_snapshots"] = {
            group.group_id: _tag_group_snapshot(group)
            for group in state.world.tag_groups
            if not group.deleted
        }
        data["chat_snapshots"] = {chat.chat_id: _chat_snapshot(chat) for chat in state.world.groups}


def on_world_change(state: SandboxState, kind: str, record: Any) -> None:
    """The sandbox listener: turn a notified change into WeCom callbacks and push them."""
    if kind == "contacts" and isinstance(record, ExternalContact):
        touch_contacts(state)
        callbacks = contact_changes(state, record)
    elif kind == "tag_groups" and isinstance(record, CorpTagGroup):
        callbacks = tag_changes(state, record)
    elif kind == "groups" and isinstance(record, GroupChat):
        callbacks = group_changes(state, record)
    elif kind == "messages":
        callbacks = [Callback("msgaudit_notify", [])]
    else:
        return
    for callback in callbacks:
        send(state, callback)


def subscribe(state: SandboxState) -> None:
    """Listen to world changes once per sandbox, however many routers are built for it."""
    with state.lock:
        data = scratch(state)
        if data.get("subscribed"):
            return
        data["subscribed"] = True
        snapshot_world(state)
    state.subscribe(lambda kind, record: on_world_change(state, kind, record))


def report_api_change(state: SandboxState, callbacks: list[Callback]) -> None:
    """A change made through the API: push its callbacks only if this sandbox is set to."""
    if scratch(state)["api_changes_push"]:
        for callback in callbacks:
            send(state, callback)


# -- what members and customers do in the app ------------------------------------------------


def simulate_add_contact(
    state: SandboxState,
    contact: ExternalContact,
    userid: str,
    state_param: str = "",
    *,
    add_way: int = 1,
    remark: str = "",
    with_welcome_code: bool = True,
) -> str | None:
    """A member adds a customer: add_external_contact with State and a WelcomeCode.

    `contact` is added to the world if it is new. `with_welcome_code=False` acts out the cases
    where WeCom sends none (an admin welcome message is set, or they already chat). Returns the
    welcome code.
    """
    with state.lock:
        target = find_contact(state, contact.external_userid)
        if target is None:
            state.world.contacts.append(contact)
            target = contact
        follow_user = find_follow_user(target, userid)
        if follow_user is not None and state_param:
            follow_user.state = state_param  # a new contact built with its follow user already
        elif follow_user is None:
            target.follow_users.append(
                FollowUser(
                    userid=userid,
                    remark=remark,
                    description="",
                    createtime=clock.now(),
                    add_way=add_way,
                    state=state_param,
                    oper_userid=userid,
                )
            )
        touch_contacts(state)
        callbacks = contact_changes(state, target, issue_welcome_code=with_welcome_code)
    for callback in callbacks:
        send(state, callback)
    state.notify("contacts", target)  # for other listeners; ours finds nothing new
    codes = [callback.value("WelcomeCode") for callback in callbacks if callback.value("UserID") == userid]
    code = codes[0] if codes else None
    return code if isinstance(code, str) else None


def simulate_scan_contact_way(
    state: SandboxState, config_id: str, contact: ExternalContact
) -> tuple[str, str | None]:
    """A customer scans a 「联系我」 code: added to one of its members, in turn, with its state.

    Returns (userid, welcome code). Raises KeyError for an unknown config_id.
    """
    with state.lock:
        way = scratch(state)["contact_ways"][config_id]
        users = way["user"] or [member.userid for member in state.world.staff[:1]]
        userid = users[way["scans"] % len(users)]
        way["scans"] += 1
    return userid, simulate_add_contact(state, contact, userid, way.get("state", ""), add_way=1)


def simulate_edit_contact(
    state: SandboxState,
    external_userid: str,
    userid: str,
    *,
    remark: str | None = None,
    description: str | None = None,
    add_tags: list[str] | tuple[str, ...] = (),
    remove_tags: list[str] | tuple[str, ...] = (),
) -> None:
    """A member edits a customer's remark, description or corp tags in the app: edit_external_contact."""
    with state.lock:
        contact = find_contact(state, external_userid)
        follow_user = find_follow_user(contact, userid) if contact else None
        if contact is None or follow_user is None:
            raise KeyError(f"{userid} does not follow {external_userid}")
        if remark is not None:
            follow_user.remark = remark
        if description is not None:
            follow_user.description = description
        follow_user.tag_ids = [tag for tag in follow_user.tag_ids if tag not in remove_tags]
        follow_user.tag_ids += [tag for tag in add_tags if tag not in follow_user.tag_ids]
    state.notify("contacts", contact)


def simulate_delete_contact(
    state: SandboxState, external_userid: str, userid: str, *, by_customer: bool = False
) -> None:
    """The member deletes the customer (del_external_contact), or the customer deletes the
    member (del_follow_user)."""
    with state.lock:
        contact = find_contact(state, external_userid)
        if contact is None or find_follow_user(contact, userid) is None:
            raise KeyError(f"{userid} does not follow {external_userid}")
        contact.follow_users = [follow for follow in contact.follow_users if follow.userid != userid]
        touch_contacts(state)
        removal = "del_follow_user" if by_customer else "del_external_contact"
        callbacks = contact_changes(state, contact, removal=removal)
    for callback in callbacks:
        send(state, callback)
    state.notify("contacts", contact)
