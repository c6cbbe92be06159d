"""Customer moments end to end against the WeCom emulator over loopback HTTP: Haina tags mapped
to corp tags (an adopted twin, and one mirrored on the spot with add_corp_tag), add_moment_task
recorded with the right visible_range, the job polled to its moment_id, a member publishing it
in their app, and the per-member publish status; refused senders and deleted tags reported."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from haina.connections import wecom_corps
from haina.core.auth.actor import Actor
from haina.core.database import Database
from haina.core.errors import InvalidInput
from haina.core.settings import Settings
from haina.engage import schedule
from haina.engage.moments import service
from haina.engage.moments import tasks as _tasks  # noqa: F401 - registers moments.track
from haina.engage.moments.models import MomentStatus
from haina.sandbox.emulators.wecom_moments import moments_state, simulate_publish_moment
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from haina.tags import service as tags
from haina.tags.models import Tag
from tests.factories import TenantFixture, bearer, token_for
from tests.platforms.live_sandbox import LiveSandbox, serve
from tests.wecom_corp import Corp, connected_corp


@pytest.fixture
def sandbox() -> Iterator[LiveSandbox]:
    with serve(SandboxState(generate_world(7, 40))) as live:
        yield live


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    yield
    wecom_corps.forget_clients()


@pytest.fixture
def corp(
    database: Database, settings: Settings, tenant: TenantFixture, sandbox: LiveSandbox
) -> Iterator[Corp]:
    with connected_corp(database, settings, tenant.id, sandbox) as connected:
        yield connected


def owner(tenant: TenantFixture) -> Actor:
    return Actor(tenant.users["owner"], tenant.id, tenant.usernames["owner"], "店主", "owner")


def carried_tag(corp: Corp, userid: str) -> tuple[str, str]:
    """(corp tag id, name) of a live corp tag some customer of `userid` carries."""
    live = {tag.tag_id: tag.name for group in corp.world.tag_groups for tag in group.tags if not tag.deleted}
    for contact in corp.world.contacts:
        for follow in contact.follow_users:
            if follow.userid == userid:
                for tag_id in follow.tag_ids:
                    if tag_id in live:
                        return tag_id, live[tag_id]
    raise AssertionError(f"no tagged customer of {userid} in the world")


def tagged_staff(corp: Corp) -> list[str]:
    """Members with at least one customer carrying a live corp tag, in staff order."""
    found = []
    for member in corp.world.staff:
        try:
            carried_tag(corp, member.userid)
        except AssertionError:
            continue
        found.append(member.userid)
    assert len(found) >= 2
    return found


def haina_tag_id(database: Database, tenant_id: str, name: str) -> str:
    with database.session_factory() as session:
        return session.scalars(select(Tag.id).where(Tag.tenant_id == tenant_id, Tag.name == name)).one()


def new_tag(database: Database, tenant: TenantFixture, name: str) -> str:
    with database.unit_of_work() as session:
        group = tags.create_group(session, owner(tenant), "朋友圈")
        return tags.create_tag(session, owner(tenant), tags.TagInput(name, group.id)).id


def track(database: Database, tenant_id: str) -> None:
    assert schedule.run_job(database, "moments.track", tenant_id)


def test_a_moment_goes_out_with_corp_tags_and_publishing_is_tracked_per_member(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    first, second = tagged_staff(corp)[:2]
    adopted_corp_tag, adopted_name = carried_tag(corp, first)
    adopted = haina_tag_id(database, tenant.id, adopted_name)  # adopted from WeCom at the first crawl
    fresh = new_tag(database, tenant, "朋友圈新品")  # never in WeCom: mirrored when sent
    with database.unit_of_work() as session:
        moment = service.create_moment(
            session,
            owner(tenant),
            service.MomentInput(
                text="双十二预售开启，老客专享满199减30",
                attachments=[{"kind": "link", "title": "预售会场", "url": "https://shop.example.com/1212"}],
                sender_mode="picked",
                sender_userids=[first, second],
                tag_ids=[adopted, fresh],
            ),
        )
        service.send_moment(session, owner(tenant), moment.id)
        moment_id = moment.id
    fresh_corp_tag = corp.corp_tag("朋友圈新品").tag_id  # add_corp_tag made the twin
    recorded = list(moments_state(corp.sandbox.state)["moments"].values())
    assert len(recorded) == 1
    assert recorded[0]["tag_list"] == [adopted_corp_tag, fresh_corp_tag]
    assert sorted(recorded[0]["senders"]) == sorted([first, second])
    assert recorded[0]["text"] == {"content": "双十二预售开启，老客专享满199减30"}
    assert recorded[0]["attachments"] == [
        {"msgtype": "link", "link": {"title": "预售会场", "url": "https://shop.example.com/1212"}}
    ]

    track(database, tenant.id)  # the job is still processing
    with database.session_factory() as session:
        assert service.get_moment(session, tenant.id, moment_id).status == MomentStatus.SENDING
    track(database, tenant.id)
    with database.session_factory() as session:
        sent = service.get_moment(session, tenant.id, moment_id)
        assert sent.status == MomentStatus.SENT and sent.moment_id == recorded[0]["moment_id"]
        assert {row.userid: row.is_published for row in service.staff_of(session, tenant.id, moment_id)} == {
            first: False,
            second: False,
        }

    visible = simulate_publish_moment(corp.sandbox.state, sent.moment_id, first)
    assert visible, "the member's customers carrying the tag see it"
    for external_userid in visible:
        follow = next(f for f in corp.contact(external_userid).follow_users if f.userid == first)
        assert {adopted_corp_tag, fresh_corp_tag} & set(follow.tag_ids)
    track(database, tenant.id)
    with database.session_factory() as session:
        staff = {row.userid: row.is_published for row in service.staff_of(session, tenant.id, moment_id)}
        rows = service.list_moments(session, tenant.id)
    assert staff == {first: True, second: False}
    with database.session_factory() as session:
        reached = {row.userid: row.customer_count for row in service.staff_of(session, tenant.id, moment_id)}
    assert reached == {first: len(visible), second: None}
    assert (rows[0].published, rows[0].total) == (1, 2)


def test_refused_senders_and_deleted_tags_are_reported(
    database: Database, tenant: TenantFixture, corp: Corp, client: TestClient
) -> None:
    first = tagged_staff(corp)[0]
    kept_corp_tag, kept_name = carried_tag(corp, first)
    kept = haina_tag_id(database, tenant.id, kept_name)
    gone = new_tag(database, tenant, "已删标签")
    with database.unit_of_work() as session:
        first_corp = wecom_corps.first_corp(session, tenant.id)
        assert first_corp is not None
        from haina.tags import wecom_sync

        gone_corp_tag = wecom_sync.corp_tag_ids(session, tenant.id, first_corp, [gone])[gone]
    # Deleted in WeCom behind Haina's back: the twin is stale.
    for group in corp.world.tag_groups:
        for tag in group.tags:
            if tag.tag_id == gone_corp_tag:
                tag.deleted = True
    token = bearer(token_for(client, tenant.usernames["operator"]))
    answer = client.post(
        "/api/v1/engage/moments",
        json={
            "text": "会员日福利",
            "sender_mode": "picked",
            "sender_userids": [first, "nobody-here"],
            "tag_ids": [kept, gone],
            "send": True,
        },
        headers=token,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "sending"
    moment_id = answer.json()["id"]
    track(database, tenant.id)
    track(database, tenant.id)
    body = client.get(f"/api/v1/engage/moments/{moment_id}", headers=token).json()
    assert body["status"] == "sent"
    assert body["invalid_userids"] == ["nobody-here"]
    assert body["invalid_tag_ids"] == [gone]
    assert [row["userid"] for row in body["staff"]] == [first]
    assert kept_corp_tag in next(iter(moments_state(corp.sandbox.state)["moments"].values()))["tag_list"]
    # Sent: no more edits.
    edited = client.put(f"/api/v1/engage/moments/{moment_id}", json={"text": "改"}, headers=token)
    assert edited.status_code == 409
    agent = bearer(token_for(client, tenant.usernames["agent"]))
    assert client.get(f"/api/v1/engage/moments/{moment_id}", headers=agent).status_code == 403


def test_compose_rules(database: Database, tenant: TenantFixture) -> None:
    with database.unit_of_work() as session:
        for data in (
            service.MomentInput(text="  "),
            service.MomentInput(text="x", sender_mode="picked"),
            service.MomentInput(text="x", tag_ids=["0" * 32]),
            service.MomentInput(attachments=[{"kind": "link", "url": "javascript:alert(1)"}]),
        ):
            with pytest.raises(InvalidInput):
                service.create_moment(session, owner(tenant), data)
        with pytest.raises(InvalidInput) as raised:  # a picture comes from the image library
            service.create_moment(
                session,
                owner(tenant),
                service.MomentInput(attachments=[{"kind": "image", "image_url": "https://x.cn/a.png"}]),
            )
        assert raised.value.code == "image_upload_required"
        with pytest.raises(InvalidInput) as raised:
            service.create_moment(
                session,
                owner(tenant),
                service.MomentInput(attachments=[{"kind": "image", "image_id": "0" * 32}]),
            )
        assert raised.value.code == "image_not_found_in_library"
        draft = service.create_moment(session, owner(tenant), service.MomentInput(text="草稿"))
        edited = service.update_moment(session, owner(tenant), draft.id, service.MomentInput(text="改成文字"))
        assert (edited.text, edited.attachments) == ("改成文字", [])
        cancelled = service.cancel_moment(session, owner(tenant), draft.id)
        assert cancelled.status == MomentStatus.CANCELLED
