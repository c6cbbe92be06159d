"""WeCom raw records → canonical shapes: customers from batch/get_by_user and externalcontact/get,
customer groups from groupchat/get, corp tags, and the change events of callbacks (REFERENCE §1.3).

A record that cannot be mapped becomes a BadRecord with the reason; it never stops a page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from haina.platforms.base import BadRecord
from haina.platforms.canonical import (
    CanonicalRecord,
    Contact,
    ContactRemoved,
    FollowRelation,
    Group,
    GroupMember,
)
from haina.platforms.reading import RecordError, bad_record, mapping, objects, text, unix_time, whole_number

# What a change_external_contact callback means (REFERENCE §1.3 "Callback"): the contact or the
# follow relation it adds or changes, or the end of a relation and who ended it.
CONTACT_CHANGES = {
    "add_external_contact": "follow",
    "add_half_external_contact": "follow",
    "edit_external_contact": "follow",
    "del_external_contact": "removed_by_staff",
    "del_follow_user": "removed_by_customer",
    "transfer_fail": "ignore",
    "msg_audit_approved": "ignore",
}


@dataclass(slots=True)
class CorpTag:
    """A corp customer tag (企业客户标签). Not yet a canonical shape: see haina.platforms.canonical."""

    corp_id: str
    tag_id: str
    name: str
    group_id: str
    group_name: str
    order: int = 0
    created_at: datetime | None = None
    is_deleted: bool = False


def strings(record: Mapping[str, Any], name: str) -> list[str]:
    value = record.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"{name} is not a list")
    # remark_mobiles came back as numbers in older answers (REFERENCE §1.3).
    result = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise RecordError(f"an entry of {name} is not text: {item!r}")
        result.append(str(item))
    return result


def follow_relation(follow: Mapping[str, Any]) -> FollowRelation:
    """A follow_info (batch) or follow_user entry (get): tag ids come as `tag_id` or `tags`."""
    tag_ids = strings(follow, "tag_id")
    for tag in objects(follow, "tags"):
        if text(tag, "tag_id") and int(whole_number(tag, "type", default=1)) == 1:
            tag_ids.append(text(tag, "tag_id"))
    return FollowRelation(
        staff_userid=text(follow, "userid", required=True),
        remark=text(follow, "remark"),
        description=text(follow, "description"),
        remark_mobiles=strings(follow, "remark_mobiles"),
        tag_ids=tag_ids,
        add_channel_state=text(follow, "state"),
        add_way=whole_number(follow, "add_way", default=0),
        created_at=unix_time(follow, "createtime"),
    )


def contact_of(
    corp_id: str, external: Mapping[str, Any], follows: list[FollowRelation], *, follows_complete: bool
) -> Contact:
    return Contact(
        corp_id=corp_id,
        external_userid=text(external, "external_userid", required=True),
        name=text(external, "name"),
        type=whole_number(external, "type", default=1),
        gender=whole_number(external, "gender", default=0),
        unionid=text(external, "unionid"),
        avatar=text(external, "avatar"),
        follows=follows,
        follows_complete=follows_complete,
    )


def map_batch_contacts(raws: Iterable[object], corp_id: str) -> tuple[list[Contact], list[BadRecord]]:
    """Items of batch/get_by_user ({external_contact, follow_info}) → one Contact per customer of
    the page, carrying the follow relations of this page (a customer followed by several members
    comes once per member's section; the store merges follow relations by member)."""
    contacts: dict[str, Contact] = {}
    bad: list[BadRecord] = []
    for raw in raws:
        try:
            item = mapping(raw, "an external_contact_list entry")
            contact = contact_of(
                corp_id,
                mapping(item.get("external_contact"), "external_contact"),
                [follow_relation(mapping(item.get("follow_info"), "follow_info"))],
                follows_complete=False,
            )
        except RecordError as error:
            bad.append(_bad(raw, error.reason))
            continue
        known = contacts.get(contact.external_userid)
        if known is None:
            contacts[contact.external_userid] = contact
        else:
            known.follows += contact.follows
    return list(contacts.values()), bad


def map_contact(answer: Mapping[str, Any], corp_id: str) -> Contact:
    """externalcontact/get → a Contact with every follower; raises RecordError."""
    follows = [follow_relation(follow) for follow in objects(answer, "follow_user")]
    return contact_of(
        corp_id, mapping(answer.get("external_contact"), "external_contact"), follows, follows_complete=True
    )


def map_group(raw: object, corp_id: str) -> Group:
    """groupchat/get's group_chat → Group; raises RecordError."""
    chat = mapping(raw, "group_chat")
    members = [
        GroupMember(
            member_id=text(member, "userid", required=True),
            type=whole_number(member, "type", default=1),
            joined_at=unix_time(member, "join_time"),
            unionid=text(member, "unionid"),
        )
        for member in objects(chat, "member_list")
    ]
    return Group(
        corp_id=corp_id,
        chat_id=text(chat, "chat_id", required=True),
        name=text(chat, "name"),
        owner=text(chat, "owner"),
        created_at=unix_time(chat, "create_time"),
        members=members,
    )


def map_tag_groups(raws: Iterable[object], corp_id: str) -> tuple[list[CorpTag], list[BadRecord]]:
    tags: list[CorpTag] = []
    bad: list[BadRecord] = []
    for raw in raws:
        try:
            group = mapping(raw, "a tag_group entry")
            group_id = text(group, "group_id", required=True)
            for tag in objects(group, "tag"):
                tags.append(
                    CorpTag(
                        corp_id=corp_id,
                        tag_id=text(tag, "id", required=True),
                        name=text(tag, "name"),
                        group_id=group_id,
                        group_name=text(group, "group_name"),
                        order=whole_number(tag, "order", default=0),
                        created_at=unix_time(tag, "create_time"),
                        is_deleted=bool(tag.get("deleted") or group.get("deleted")),
                    )
                )
        except RecordError as error:
            bad.append(bad_record(raw, error.reason, "group_id"))
    return tags, bad


def map_event(fields: Mapping[str, Any], corp_id: str) -> list[CanonicalRecord]:
    """The canonical records a decrypted callback says; raises RecordError.

    Callbacks carry ids only (REFERENCE §1.3): an added or edited customer becomes a Contact with
    just the ids and the follow relation (empty name: unknown, not blank), for the spine to store
    and complete with externalcontact/get. Tag changes and the archive notice carry no record.
    """
    event = text(fields, "Event", required=True)
    at = unix_time(fields, "CreateTime")
    if event == "change_external_contact":
        return _contact_event(fields, corp_id, at)
    if event == "change_external_chat":
        chat_id = text(fields, "ChatId", required=True)
        if text(fields, "ChangeType") == "dismiss":
            return [Group(corp_id=corp_id, chat_id=chat_id, name="", owner="", is_dismissed=True)]
        return []
    if event in ("change_external_tag", "msgaudit_notify"):
        return []
    raise RecordError(f"event {event!r} is not handled")


def _contact_event(fields: Mapping[str, Any], corp_id: str, at: datetime | None) -> list[CanonicalRecord]:
    change = text(fields, "ChangeType", required=True)
    meaning = CONTACT_CHANGES.get(change)
    if meaning is None:
        raise RecordError(f"change_external_contact ChangeType {change!r} is not handled")
    if meaning == "ignore":
        return []
    external_userid = text(fields, "ExternalUserID", required=True)
    staff = text(fields, "UserID", required=True)
    if meaning == "follow":
        follows = [FollowRelation(staff_userid=staff, add_channel_state=text(fields, "State"), created_at=at)]
        if change == "edit_external_contact":
            # An edit names the member but none of what changed (remark, tags…): a follow relation
            # built from it would overwrite the stored remark and tag ids with blanks. The relation
            # exists already; what changed is read with externalcontact/get (haina.tags.wecom_sync).
            follows = []
        return [
            Contact(
                corp_id=corp_id,
                external_userid=external_userid,
                name="",
                follows=follows,
                modified_at=at,
                follows_complete=False,
                profile_known=False,
            )
        ]
    return [
        ContactRemoved(
            corp_id=corp_id,
            external_userid=external_userid,
            staff_userid=staff,
            by_customer=meaning == "removed_by_customer",
            at=at,
        )
    ]


def _bad(raw: object, reason: str) -> BadRecord:
    record = bad_record(raw, reason, "")
    if isinstance(raw, Mapping) and isinstance(raw.get("external_contact"), Mapping):
        external = raw["external_contact"].get("external_userid")
        record.object_id = external if isinstance(external, str) else ""
    return record
