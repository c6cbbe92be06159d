"""Customer-contact endpoints of the WeCom emulator: customers (list, get, batch/get_by_user,
get_follow_user_list), corp tags (get_corp_tag_list, add_corp_tag, edit_corp_tag, del_corp_tag) and
mark_tag (REFERENCE §1.3)."""

from __future__ import annotations

import bisect
from typing import Any

from fastapi import APIRouter, Depends, Request

from haina.core import clock
from haina.platforms.wecom import errors
from haina.platforms.wecom.errors import WeComApiError
from haina.sandbox.emulators.wecom_events import contact_changes, report_api_change, tag_changes
from haina.sandbox.emulators.wecom_http import TokenGate, integer, json_body, ok, string_list
from haina.sandbox.emulators.wecom_store import (
    contact_index,
    decode_cursor,
    encode_cursor,
    find_contact,
    find_follow_user,
    next_id,
    page_after,
    require_staff,
    tags_by_id,
    unix,
)
from haina.sandbox.state import SandboxState
from haina.sandbox.world import CorpTag, CorpTagGroup, ExternalContact, FollowUser

# externalcontact/get pages follow users beyond this many (REFERENCE §1.3); tests lower it.
FOLLOW_USER_PAGE_SIZE = 500
BATCH_MAX_USERIDS = 100
BATCH_MAX_LIMIT = 100
BATCH_DEFAULT_LIMIT = 50
CORP_TAG_LIMIT = 3000
TAG_NAME_MAX_LENGTH = 30
REMARK_MAX_LENGTH = 20
DESCRIPTION_MAX_LENGTH = 150
REMARK_MOBILES_MAX = 5


def render_external_contact(contact: ExternalContact) -> dict[str, Any]:
    data: dict[str, Any] = {
        "external_userid": contact.external_userid,
        "name": contact.name,
        "avatar": contact.avatar,
        "type": contact.type,
        "gender": contact.gender,
    }
    if contact.unionid:  # only when the corp has bound a WeChat open-platform account
        data["unionid"] = contact.unionid
    return data


def live_tag_ids(state: SandboxState, follow_user: FollowUser) -> list[str]:
    # WeCom takes a deleted tag off every customer, so a stale id never comes back.
    tags = tags_by_id(state)
    return [tag_id for tag_id in follow_user.tag_ids if tag_id in tags and not tags[tag_id][1].deleted]


def _follow_common(follow_user: FollowUser) -> dict[str, Any]:
    return {
        "userid": follow_user.userid,
        "remark": follow_user.remark,
        "description": follow_user.description,
        "createtime": unix(follow_user.createtime),
    }


def _follow_tail(follow_user: FollowUser) -> dict[str, Any]:
    data: dict[str, Any] = {
        "remark_mobiles": list(follow_user.remark_mobiles),
        "oper_userid": follow_user.oper_userid or follow_user.userid,
        "add_way": follow_user.add_way,
    }
    if follow_user.state:
        data["state"] = follow_user.state
    return data


def render_follow_user(state: SandboxState, follow_user: FollowUser) -> dict[str, Any]:
    """A follow_user entry of externalcontact/get: tags with their names."""
    tags = tags_by_id(state)
    rendered_tags = []
    for tag_id in live_tag_ids(state, follow_user):
        group, tag = tags[tag_id]
        rendered_tags.append(
            {"group_name": group.group_name, "tag_name": tag.name, "tag_id": tag_id, "type": 1}
        )
    return {**_follow_common(follow_user), "tags": rendered_tags, **_follow_tail(follow_user)}


def render_follow_info(state: SandboxState, follow_user: FollowUser) -> dict[str, Any]:
    """The follow_info of batch/get_by_user: tag ids only."""
    return {
        **_follow_common(follow_user),
        "tag_id": live_tag_ids(state, follow_user),
        **_follow_tail(follow_user),
    }


def render_tag_group(group: CorpTagGroup, tags: list[CorpTag], with_deleted: bool) -> dict[str, Any]:
    def tag_data(tag: CorpTag) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": tag.tag_id,
            "name": tag.name,
            "create_time": unix(tag.create_time),
            "order": tag.order,
        }
        if with_deleted:
            data["deleted"] = tag.deleted
        return data

    data: dict[str, Any] = {
        "group_id": group.group_id,
        "group_name": group.group_name,
        "create_time": unix(group.create_time),
        "order": group.order,
    }
    if with_deleted:
        data["deleted"] = group.deleted
    data["tag"] = [tag_data(tag) for tag in tags]
    return data


def _related_contact(state: SandboxState, body_or_query: Any) -> ExternalContact:
    external_userid = body_or_query.get("external_userid")
    if not external_userid or not isinstance(external_userid, str):
        raise WeComApiError(errors.MISSING_EXTERNAL_USERID)
    contact = find_contact(state, external_userid)
    if contact is None:
        raise WeComApiError(errors.INVALID_EXTERNAL_USERID, external_userid)
    return contact


def add_contact_routes(router: APIRouter, state: SandboxState, gate: TokenGate) -> None:
    @router.get("/cgi-bin/externalcontact/get_follow_user_list")
    def get_follow_user_list(_: str = Depends(gate)) -> dict[str, Any]:
        # Every member of the sandbox corp has customer-contact permission.
        return ok(follow_user=[member.userid for member in state.world.staff])

    @router.get("/cgi-bin/externalcontact/list")
    def list_contacts(request: Request, _: str = Depends(gate)) -> dict[str, Any]:
        userid = require_staff(state, request.query_params.get("userid"))
        external_userids = list(contact_index(state).by_userid.get(userid, []))
        if not external_userids:
            # [UNCONFIRMED] WeCom answers 84061 rather than an empty list for a member without customers.
            raise WeComApiError(errors.NOT_EXTERNAL_CONTACT, userid)
        return ok(external_userid=external_userids)

    @router.get("/cgi-bin/externalcontact/get")
    def get_contact(request: Request, _: str = Depends(gate)) -> dict[str, Any]:
        contact = _related_contact(state, request.query_params)
        if not contact.follow_users:
            raise WeComApiError(errors.NOT_EXTERNAL_CONTACT, contact.external_userid)
        positioned = list(enumerate(contact.follow_users))
        page, next_cursor = page_after(
            positioned, lambda item: (item[0],), request.query_params.get("cursor", ""), FOLLOW_USER_PAGE_SIZE
        )
        answer = ok(
            external_contact=render_external_contact(contact),
            follow_user=[render_follow_user(state, follow_user) for _, follow_user in page],
        )
        if next_cursor:
            answer["next_cursor"] = next_cursor
        return answer

    @router.post("/cgi-bin/externalcontact/batch/get_by_user")
    def batch_get_by_user(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        userids = string_list(body, "userid_list")
        if not userids:
            raise WeComApiError(errors.MISSING_USERID)
        if len(userids) > BATCH_MAX_USERIDS:
            raise WeComApiError(errors.INVALID_PARAMETER, f"userid_list takes at most {BATCH_MAX_USERIDS}")
        limit = integer(body, "limit", BATCH_DEFAULT_LIMIT)
        if not 1 <= limit <= BATCH_MAX_LIMIT:
            raise WeComApiError(errors.INVALID_PARAMETER, f"limit must be 1..{BATCH_MAX_LIMIT}")
        cursor = body.get("cursor") or ""
        if not isinstance(cursor, str):
            raise WeComApiError(errors.INVALID_CURSOR)
        records, next_cursor = _batch_page(state, userids, decode_cursor(cursor), limit)
        return ok(external_contact_list=records, next_cursor=next_cursor)

    @router.post("/cgi-bin/externalcontact/get_corp_tag_list")
    def get_corp_tag_list(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        group_ids = string_list(body, "group_id")
        tag_ids = string_list(body, "tag_id")
        groups = state.world.tag_groups
        if group_ids:  # group_id wins when both are given
            wanted = set(group_ids)
            result = [
                render_tag_group(group, [tag for tag in group.tags if not tag.deleted], with_deleted=False)
                for group in groups
                if group.group_id in wanted and not group.deleted
            ]
        elif tag_ids:
            wanted = set(tag_ids)
            result = [
                render_tag_group(
                    group, [tag for tag in group.tags if tag.tag_id in wanted], with_deleted=True
                )
                for group in groups
                if any(tag.tag_id in wanted for tag in group.tags)
            ]
        else:
            result = [
                render_tag_group(group, [tag for tag in group.tags if not tag.deleted], with_deleted=False)
                for group in groups
                if not group.deleted
            ]
        return ok(tag_group=result)

    @router.post("/cgi-bin/externalcontact/add_corp_tag")
    def add_corp_tag(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        return ok(tag_group=_add_corp_tags(state, body))

    @router.post("/cgi-bin/externalcontact/edit_corp_tag")
    def edit_corp_tag(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        _edit_corp_tag(state, body)
        return ok()

    @router.post("/cgi-bin/externalcontact/del_corp_tag")
    def del_corp_tag(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        _del_corp_tags(state, string_list(body, "tag_id"), string_list(body, "group_id"))
        return ok()

    @router.post("/cgi-bin/externalcontact/mark_tag")
    def mark_tag(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        userid = require_staff(state, body.get("userid"))
        contact = _related_contact(state, body)
        add_tags = string_list(body, "add_tag")
        remove_tags = string_list(body, "remove_tag")
        if not add_tags and not remove_tags:
            raise WeComApiError(errors.INVALID_PARAMETER, "add_tag and remove_tag are both empty")
        known = tags_by_id(state)
        for tag_id in add_tags + remove_tags:
            if tag_id not in known or known[tag_id][1].deleted or known[tag_id][0].deleted:
                raise WeComApiError(errors.INVALID_TAG_ID, tag_id)
        with state.lock:
            follow_user = find_follow_user(contact, userid)
            if follow_user is None:
                raise WeComApiError(errors.NOT_EXTERNAL_CONTACT, f"{userid} / {contact.external_userid}")
            kept = [tag_id for tag_id in follow_user.tag_ids if tag_id not in remove_tags]
            follow_user.tag_ids = kept + [tag_id for tag_id in dict.fromkeys(add_tags) if tag_id not in kept]
            callbacks = contact_changes(state, contact)
        report_api_change(state, callbacks)
        return ok()

    @router.post("/cgi-bin/externalcontact/remark")
    def remark(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        # A member's remark, description and remark mobiles on a customer (REFERENCE-like shape;
        # [UNCONFIRMED] the limits: remark 20 characters, description 150, at most 5 mobiles).
        userid = require_staff(state, body.get("userid"))
        contact = _related_contact(state, body)
        remark_text, description = body.get("remark"), body.get("description")
        mobiles = body.get("remark_mobiles")
        if remark_text is not None and (
            not isinstance(remark_text, str) or len(remark_text) > REMARK_MAX_LENGTH
        ):
            raise WeComApiError(
                errors.INVALID_PARAMETER, f"remark takes at most {REMARK_MAX_LENGTH} characters"
            )
        if description is not None and (
            not isinstance(description, str) or len(description) > DESCRIPTION_MAX_LENGTH
        ):
            raise WeComApiError(
                errors.INVALID_PARAMETER, f"description takes at most {DESCRIPTION_MAX_LENGTH} characters"
            )
        if mobiles is not None and (not isinstance(mobiles, list) or len(mobiles) > REMARK_MOBILES_MAX):
            raise WeComApiError(errors.INVALID_PARAMETER, f"at most {REMARK_MOBILES_MAX} remark_mobiles")
        with state.lock:
            follow_user = find_follow_user(contact, userid)
            if follow_user is None:
                raise WeComApiError(errors.NOT_EXTERNAL_CONTACT, f"{userid} / {contact.external_userid}")
            if remark_text is not None:
                follow_user.remark = remark_text
            if description is not None:
                follow_user.description = description
            if mobiles is not None:
                follow_user.remark_mobiles = [str(mobile) for mobile in mobiles]
            callbacks = contact_changes(state, contact)
        report_api_change(state, callbacks)
        return ok()


def _batch_page(
    state: SandboxState, userids: list[str], after: tuple[Any, ...] | None, limit: int
) -> tuple[list[dict[str, Any]], str]:
    """One page of (member, customer) records ordered by (position in userid_list, external_userid).

    The cursor is that key of the last record served, so every record comes exactly once.
    """
    index = contact_index(state)
    try:
        position, last_external_userid = (0, "") if after is None else (int(after[0]), str(after[1]))
    except (IndexError, TypeError, ValueError):
        raise WeComApiError(errors.INVALID_CURSOR)
    records: list[dict[str, Any]] = []
    last_key: tuple[int, str] | None = None
    for userid_position in range(max(position, 0), len(userids)):
        userid = userids[userid_position]
        external_userids = index.by_userid.get(userid, [])
        start = (
            bisect.bisect_right(external_userids, last_external_userid) if userid_position == position else 0
        )
        for external_userid in external_userids[start:]:
            if len(records) == limit:
                return records, encode_cursor(last_key) if last_key else ""
            contact = index.by_external_userid[external_userid]
            follow_user = find_follow_user(contact, userid)
            if follow_user is None:  # changed behind the index; skip rather than fail
                continue
            records.append(
                {
                    "external_contact": render_external_contact(contact),
                    "follow_info": render_follow_info(state, follow_user),
                }
            )
            last_key = (userid_position, external_userid)
    return records, ""


def _add_corp_tags(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    new_tags = body.get("tag") or []
    if not isinstance(new_tags, list) or not new_tags:
        raise WeComApiError(errors.INVALID_PARAMETER, "tag is required")
    names = []
    for item in new_tags:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name.strip() or len(name) > TAG_NAME_MAX_LENGTH:
            raise WeComApiError(errors.INVALID_PARAMETER, "every tag needs a name of 1..30 characters")
        names.append(name)
    if len(set(names)) != len(names):
        raise WeComApiError(errors.INVALID_TAG_NAME, "duplicate names in the request")
    now = clock.now()
    with state.lock:
        group = _target_group(state, body)
        is_new_group = not any(existing is group for existing in state.world.tag_groups)
        live = {tag.name for tag in group.tags if not tag.deleted}
        for name in names:
            if name in live:
                raise WeComApiError(errors.INVALID_TAG_NAME, name)
        live_count = sum(
            1 for g in state.world.tag_groups for tag in g.tags if not tag.deleted and not g.deleted
        )
        if live_count + len(names) > CORP_TAG_LIMIT:
            raise WeComApiError(errors.TAG_LIMIT_REACHED)
        added = [
            CorpTag(
                tag_id=next_id(state, "et"),
                name=name,
                order=item.get("order", 0) if isinstance(item.get("order", 0), int) else 0,
                create_time=now,
            )
            for name, item in zip(names, new_tags, strict=True)
        ]
        group.tags.extend(added)
        if is_new_group:
            state.world.tag_groups.append(group)
        callbacks = tag_changes(state, group)
    report_api_change(state, callbacks)
    return render_tag_group(group, added, with_deleted=False)


def _target_group(state: SandboxState, body: dict[str, Any]) -> CorpTagGroup:
    group_id = body.get("group_id")
    if group_id:
        for group in state.world.tag_groups:
            if group.group_id == group_id and not group.deleted:
                return group
        raise WeComApiError(errors.INVALID_TAG_ID, f"group {group_id}")
    group_name = body.get("group_name")
    if not isinstance(group_name, str) or not group_name.strip():
        raise WeComApiError(errors.INVALID_PARAMETER, "group_id or group_name is required")
    for group in state.world.tag_groups:
        if group.group_name == group_name and not group.deleted:
            return group  # WeCom reuses a group of the same name
    order = body.get("order", 0)
    return CorpTagGroup(
        group_id=next_id(state, "et"),
        group_name=group_name,
        order=order if isinstance(order, int) else 0,
        create_time=clock.now(),
    )


def _edit_corp_tag(state: SandboxState, body: dict[str, Any]) -> None:
    """edit_corp_tag: `id` names a tag or a group; a new name must not clash in its group."""
    identifier = body.get("id")
    if not isinstance(identifier, str) or not identifier:
        raise WeComApiError(errors.INVALID_PARAMETER, "id is required")
    name = body.get("name")
    if name is not None and (
        not isinstance(name, str) or not name.strip() or len(name) > TAG_NAME_MAX_LENGTH
    ):
        raise WeComApiError(errors.INVALID_PARAMETER, "name must have 1..30 characters")
    order = body.get("order")
    with state.lock:
        changed: CorpTagGroup | None = None
        for group in state.world.tag_groups:
            if group.deleted:
                continue
            if group.group_id == identifier:
                if name is not None and name != group.group_name:
                    if any(g.group_name == name and not g.deleted for g in state.world.tag_groups):
                        raise WeComApiError(errors.INVALID_TAG_NAME, name)
                    group.group_name = name
                if isinstance(order, int):
                    group.order = order
                changed = group
                break
            for tag in group.tags:
                if tag.tag_id == identifier and not tag.deleted:
                    if name is not None and name != tag.name:
                        if any(t.name == name and not t.deleted for t in group.tags):
                            raise WeComApiError(errors.INVALID_TAG_NAME, name)
                        tag.name = name
                    if isinstance(order, int):
                        tag.order = order
                    changed = group
                    break
            if changed is not None:
                break
        if changed is None:
            raise WeComApiError(errors.INVALID_TAG_ID, identifier)
        callbacks = tag_changes(state, changed)
    report_api_change(state, callbacks)


def _del_corp_tags(state: SandboxState, tag_ids: list[str], group_ids: list[str]) -> None:
    """del_corp_tag: tags, or whole groups; a group left without live tags goes too (as in WeCom)."""
    if not tag_ids and not group_ids:
        raise WeComApiError(errors.INVALID_PARAMETER, "tag_id or group_id is required")
    with state.lock:
        known_tags = {tag.tag_id for group in state.world.tag_groups for tag in group.tags if not tag.deleted}
        known_groups = {group.group_id for group in state.world.tag_groups if not group.deleted}
        for identifier in tag_ids:
            if identifier not in known_tags:
                raise WeComApiError(errors.INVALID_TAG_ID, identifier)
        for identifier in group_ids:
            if identifier not in known_groups:
                raise WeComApiError(errors.INVALID_TAG_ID, f"group {identifier}")
        touched: list[CorpTagGroup] = []
        for group in state.world.tag_groups:
            whole = group.group_id in group_ids
            doomed = [tag for tag in group.tags if not tag.deleted and (whole or tag.tag_id in tag_ids)]
            for tag in doomed:
                tag.deleted = True
            if doomed or whole:
                touched.append(group)
                if whole or all(tag.deleted for tag in group.tags):
                    group.deleted = True
        callbacks = [callback for group in touched for callback in tag_changes(state, group)]
    report_api_change(state, callbacks)
