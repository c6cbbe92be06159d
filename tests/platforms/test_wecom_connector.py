"""The WeCom connector against the sandbox's WeCom emulator over real HTTP: token caching and
refresh, customer / group / tag crawls, a throttling storm, server errors, a wrong secret, and
callbacks (URL check, events, forged and fuzzed ones)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haina.core import clock
from haina.platforms.base import Credentials, Endpoint, PushItem, WebhookRejected
from haina.platforms.canonical import Contact, ContactRemoved, Group
from haina.platforms.http import PlatformError, RetryPolicy
from haina.platforms.reading import RecordError
from haina.platforms.registry import get_connector
from haina.platforms.wecom import connector
from haina.platforms.wecom.client import WeComClient
from haina.platforms.wecom.crypto import WXBizMsgCrypt
from haina.platforms.wecom.sync import TAGS
from haina.sandbox.emulators.wecom import revoke_tokens, set_synchronous_push, simulate_add_contact
from haina.sandbox.emulators.wecom_push import Callback, crypt_for
from haina.sandbox.faults import FaultPlan
from haina.sandbox.world import ExternalContact
from tests.platforms.conftest import PathCounter, ShortSleeps
from tests.platforms.live_sandbox import LiveSandbox, run_stream

UNTIL = datetime(2030, 1, 1, tzinfo=UTC)  # WeCom crawls ignore it


def credentials(sandbox: LiveSandbox, *, secret: str | None = None) -> Credentials:
    world = sandbox.state.world
    return Credentials(
        app_key=world.corp_id,
        app_secret=world.corp_secret if secret is None else secret,
        extra={"callback_token": world.callback_token, "encoding_aes_key": world.callback_aes_key},
    )


def client(sandbox: LiveSandbox, **options: object) -> WeComClient:
    options.setdefault("sleep", ShortSleeps())
    options.setdefault("retry", RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=0.05))
    return connector.make_client(credentials(sandbox), Endpoint(sandbox.base_url("wecom")), **options)


def world_relations(sandbox: LiveSandbox) -> set[tuple[str, str]]:
    return {
        (contact.external_userid, follow.userid)
        for contact in sandbox.state.world.contacts
        for follow in contact.follow_users
    }


def crawled_relations(records: list[Contact]) -> list[tuple[str, str]]:
    return [
        (contact.external_userid, follow.staff_userid) for contact in records for follow in contact.follows
    ]


# -- streams ---------------------------------------------------------------------------------


def test_registry_finds_the_connector() -> None:
    assert get_connector("wecom") is connector


def test_contacts_crawl_returns_every_follow_relation_once(sandbox: LiveSandbox) -> None:
    run = run_stream(connector.streams["contacts"], client(sandbox), None, UNTIL)
    relations = crawled_relations(run.records)
    assert sorted(relations) == sorted(world_relations(sandbox))
    assert len(relations) == len(set(relations))
    assert run.bad == []
    assert run.pages[-1].done and run.pages[-1].cursor == {}
    world = {contact.external_userid: contact for contact in sandbox.state.world.contacts}
    for record in run.records:
        source = world[record.external_userid]
        assert (record.name, record.unionid, record.gender, record.type) == (
            source.name,
            source.unionid,
            source.gender,
            source.type,
        )
        for follow in record.follows:
            expected = next(f for f in source.follow_users if f.userid == follow.staff_userid)
            assert follow.remark == expected.remark
            assert follow.add_channel_state == expected.state
            assert follow.created_at == expected.createtime.replace(microsecond=0)
            assert set(follow.tag_ids) <= set(expected.tag_ids)


def test_contacts_crawl_resumes_from_any_page(sandbox: LiveSandbox) -> None:
    stream = connector.streams["contacts"]
    full = run_stream(stream, client(sandbox), None, UNTIL)
    assert len(full.pages) >= 2
    first = full.pages[0]
    rest = run_stream(stream, client(sandbox), first.cursor, UNTIL)
    relations = crawled_relations(first.records) + crawled_relations(rest.records)
    assert sorted(relations) == sorted(world_relations(sandbox))


def test_groups_and_tags(sandbox: LiveSandbox) -> None:
    wecom = client(sandbox)
    groups = run_stream(connector.streams["groups"], wecom, None, UNTIL).records
    world_groups = {chat.chat_id: chat for chat in sandbox.state.world.groups}
    assert sorted(group.chat_id for group in groups) == sorted(world_groups)
    for group in groups:
        chat = world_groups[group.chat_id]
        assert (group.name, group.owner) == (chat.name, chat.owner)
        assert [(m.member_id, m.type) for m in group.members] == [(m.userid, m.type) for m in chat.members]
    tags = run_stream(TAGS, wecom, None, UNTIL).records
    live = {tag.tag_id for group in sandbox.state.world.tag_groups for tag in group.tags if not tag.deleted}
    assert {tag.tag_id for tag in tags} == live


def test_token_is_cached_and_refreshed_once_when_revoked(sandbox: LiveSandbox) -> None:
    counter = PathCounter()
    wecom = client(sandbox, transport=counter)
    wecom.follow_users()
    wecom.follow_users()
    assert counter.count("/gettoken") == 1
    revoke_tokens(sandbox.state)  # WeCom may end a token early: 40014
    assert wecom.follow_users()
    assert counter.count("/gettoken") == 2
    assert counter.count("/get_follow_user_list") == 4  # the refused call was made again once


def test_token_is_fetched_again_when_it_expires(sandbox: LiveSandbox) -> None:
    counter = PathCounter()
    wecom = client(sandbox, transport=counter)
    clock.freeze(datetime.now(UTC))
    try:
        wecom.follow_users()
        clock.advance(timedelta(hours=2))  # past expires_in: the client knows before WeCom says 42001
        wecom.follow_users()
    finally:
        clock.freeze(None)
    assert counter.count("/gettoken") == 2
    assert counter.count("/get_follow_user_list") == 2


def test_every_request_waits_for_the_rate_limiter(sandbox: LiveSandbox) -> None:
    class CountingLimiter:
        def __init__(self) -> None:
            self.tokens = 0

        def acquire(self, tokens: float = 1.0) -> None:
            self.tokens += 1

    limiter = CountingLimiter()
    counter = PathCounter()
    wecom = client(sandbox, transport=counter, limiter=limiter)
    run_stream(connector.streams["groups"], wecom, None, UNTIL)
    assert limiter.tokens == counter.total() >= 2


def test_throttling_storm_backs_off_and_the_crawl_is_exact(sandbox: LiveSandbox) -> None:
    sleeps = ShortSleeps(cap=0.05)
    wecom = client(sandbox, sleep=sleeps, retry=RetryPolicy(max_attempts=200, base_delay=1, max_delay=60))
    wecom.access_token()
    sandbox.state.faults.set("wecom", FaultPlan(throttle_for_seconds=0.4))
    run = run_stream(connector.streams["contacts"], wecom, None, UNTIL)
    assert sandbox.state.faults.counts["wecom"]["throttle"] >= 1
    assert min(sleeps.seconds) >= 60  # 45009 asks for a minute
    relations = crawled_relations(run.records)
    assert sorted(relations) == sorted(world_relations(sandbox))


def test_server_errors_are_retried(sandbox: LiveSandbox) -> None:
    sleeps = ShortSleeps()
    wecom = client(sandbox, sleep=sleeps, retry=RetryPolicy(max_attempts=20))
    sandbox.state.faults.set("wecom", FaultPlan(error_rate=0.3, seed=3))
    run = run_stream(connector.streams["contacts"], wecom, None, UNTIL)
    assert sandbox.state.faults.counts["wecom"]["error"] >= 1
    assert len(sleeps.seconds) >= 1
    assert sorted(crawled_relations(run.records)) == sorted(world_relations(sandbox))


def test_wrong_secret_is_a_clear_error_without_retry(sandbox: LiveSandbox) -> None:
    counter = PathCounter()
    wecom = connector.make_client(
        credentials(sandbox, secret="wrong"), Endpoint(sandbox.base_url("wecom")), transport=counter
    )
    with pytest.raises(PlatformError) as caught:
        wecom.follow_users()
    assert caught.value.code == "40001"
    assert not caught.value.retryable
    assert "secret" in str(caught.value)
    assert counter.total() == 1


# -- callbacks -------------------------------------------------------------------------------


def sealed(sandbox: LiveSandbox, callback: Callback) -> tuple[dict[str, str], bytes]:
    event = crypt_for(sandbox.state).seal_event(
        callback.to_xml(sandbox.state.world.corp_id),
        nonce="12345",
        timestamp="1700000000",
        to_user_name=sandbox.state.world.corp_id,
    )
    return event.query, event.body.encode()


def add_event(userid: str = "zhangsan", external_userid: str = "wmNew0001") -> Callback:
    return Callback(
        "change_external_contact",
        [
            ("ChangeType", "add_external_contact"),
            ("UserID", userid),
            ("ExternalUserID", external_userid),
            ("State", "store_sh01"),
            ("WelcomeCode", "code"),
        ],
    )


def test_url_verification_echoes_the_decrypted_echostr(sandbox: LiveSandbox) -> None:
    crypt = crypt_for(sandbox.state)
    echostr = crypt.encrypt("5927782489442352469")
    query = {"msg_signature": crypt.signature("1411443780", "437374425", echostr), "timestamp": "1411443780"}
    query["nonce"] = "437374425"
    # A framework that decodes an unencoded '+' as a space must not break the check.
    query["echostr"] = echostr.replace("+", " ")
    answer = connector.receive_webhook(credentials(sandbox), "GET", query, {}, b"")
    assert (answer.status, answer.body, answer.items) == (200, b"5927782489442352469", [])
    query["msg_signature"] = "0" * 40
    with pytest.raises(WebhookRejected):
        connector.receive_webhook(credentials(sandbox), "GET", query, {}, b"")


def test_event_is_verified_stored_and_parsed(sandbox: LiveSandbox) -> None:
    query, body = sealed(sandbox, add_event())
    answer = connector.receive_webhook(credentials(sandbox), "POST", query, {}, body)
    assert answer.status == 200 and answer.body == b"success"
    [item] = answer.items
    assert item.object_id == "wmNew0001"
    again = connector.receive_webhook(credentials(sandbox), "POST", query, {}, body)
    assert again.items[0].dedupe_key == item.dedupe_key  # a redelivery is one inbox row
    [record] = connector.parse_push(credentials(sandbox), item.payload)
    assert isinstance(record, Contact)
    assert record.external_userid == "wmNew0001"
    assert record.follows[0].staff_userid == "zhangsan"
    assert record.follows[0].add_channel_state == "store_sh01"


def test_removals_and_dismissals_parse(sandbox: LiveSandbox) -> None:
    for change, by_customer in (("del_follow_user", True), ("del_external_contact", False)):
        callback = Callback(
            "change_external_contact",
            [("ChangeType", change), ("UserID", "lisi"), ("ExternalUserID", "wmGone")],
        )
        query, body = sealed(sandbox, callback)
        [item] = connector.receive_webhook(credentials(sandbox), "POST", query, {}, body).items
        [record] = connector.parse_push(credentials(sandbox), item.payload)
        assert isinstance(record, ContactRemoved)
        assert (record.external_userid, record.staff_userid, record.by_customer) == (
            "wmGone",
            "lisi",
            by_customer,
        )
    query, body = sealed(
        sandbox, Callback("change_external_chat", [("ChatId", "wrChat"), ("ChangeType", "dismiss")])
    )
    [item] = connector.receive_webhook(credentials(sandbox), "POST", query, {}, body).items
    [group] = connector.parse_push(credentials(sandbox), item.payload)
    assert isinstance(group, Group) and group.is_dismissed


def test_forged_and_foreign_events_are_rejected(sandbox: LiveSandbox) -> None:
    query, body = sealed(sandbox, add_event())
    with pytest.raises(WebhookRejected) as caught:
        connector.receive_webhook(
            credentials(sandbox), "POST", {**query, "msg_signature": "f" * 40}, {}, body
        )
    assert caught.value.status == 401
    other = WXBizMsgCrypt(
        sandbox.state.world.callback_token, sandbox.state.world.callback_aes_key, "wwOtherCorp"
    )
    event = other.seal_event("<xml><Event>x</Event></xml>", "1", "2", to_user_name="wwOtherCorp")
    with pytest.raises(WebhookRejected) as caught:
        connector.receive_webhook(credentials(sandbox), "POST", event.query, {}, event.body.encode())
    assert caught.value.status == 403


@pytest.fixture
def receiver(sandbox: LiveSandbox) -> Iterator[list[PushItem]]:
    """A loopback webhook endpoint that hands each request to the connector, as the spine does."""
    items: list[PushItem] = []
    creds = credentials(sandbox)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            query = dict(parse_qsl(urlsplit(self.path).query))
            try:
                answer = connector.receive_webhook(creds, "POST", query, dict(self.headers), body)
                items.extend(answer.items)
                self.send_response(answer.status)
                self.end_headers()
                self.wfile.write(answer.body)
            except WebhookRejected as rejected:
                self.send_response(rejected.status)
                self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sandbox.state.push_targets["wecom"] = f"http://127.0.0.1:{server.server_address[1]}/webhooks/wecom/1"
    set_synchronous_push(sandbox.state, True)
    try:
        yield items
    finally:
        sandbox.state.push_targets.pop("wecom", None)
        set_synchronous_push(sandbox.state, False)
        server.shutdown()
        server.server_close()


def test_sandbox_pushes_reach_the_connector(sandbox: LiveSandbox, receiver: list[PushItem]) -> None:
    staff = sandbox.state.world.staff[0].userid
    newcomer = ExternalContact("wmPushed0001", "p-new", "新客户", 1, 2, "", "", [])
    simulate_add_contact(sandbox.state, newcomer, staff, "live_code_7")
    records = [
        record for item in receiver for record in connector.parse_push(credentials(sandbox), item.payload)
    ]
    [contact] = [record for record in records if isinstance(record, Contact)]
    assert contact.external_userid == "wmPushed0001"
    assert contact.follows[0].staff_userid == staff
    assert contact.follows[0].add_channel_state == "live_code_7"


# -- fuzzing -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys(sandbox: LiveSandbox) -> tuple[Credentials, WXBizMsgCrypt, str]:
    """What the fuzzers need, small enough to print when an example fails."""
    return credentials(sandbox), crypt_for(sandbox.state), sandbox.state.world.corp_id


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
Keys = tuple[Credentials, WXBizMsgCrypt, str]


@FUZZ
@given(
    body=st.binary(max_size=600),
    signature=st.text(max_size=50),
    method=st.sampled_from(["GET", "POST", "PUT"]),
)
def test_fuzzed_callbacks_are_rejected_never_crash(
    keys: Keys, body: bytes, signature: str, method: str
) -> None:
    query = {"msg_signature": signature, "timestamp": "1", "nonce": "2", "echostr": body.decode("latin-1")}
    with pytest.raises(WebhookRejected):
        connector.receive_webhook(keys[0], method, query, {}, body)


@FUZZ
@given(event=st.text(max_size=400) | st.builds(lambda inner: f"<xml>{inner}</xml>", st.text(max_size=200)))
def test_fuzzed_events_signed_correctly_are_stored_and_parse_or_fail_cleanly(keys: Keys, event: str) -> None:
    creds, crypt, corp_id = keys
    sealed_event = crypt.seal_event(event, "1", "2", to_user_name=corp_id)
    answer = connector.receive_webhook(creds, "POST", sealed_event.query, {}, sealed_event.body.encode())
    [item] = answer.items
    try:
        connector.parse_push(creds, item.payload)
    except RecordError as error:
        assert error.reason


@FUZZ
@given(payload=st.binary(max_size=400))
def test_fuzzed_stored_payloads_parse_or_fail_cleanly(keys: Keys, payload: bytes) -> None:
    try:
        connector.parse_push(keys[0], payload)
    except RecordError as error:
        assert error.reason


EVENT_FIELDS = [
    "Event",
    "ChangeType",
    "UserID",
    "ExternalUserID",
    "CreateTime",
    "ChatId",
    "State",
    "ToUserName",
]
EVENT_VALUES = st.text(max_size=12) | st.sampled_from(
    [
        "change_external_contact",
        "add_external_contact",
        "del_follow_user",
        "change_external_chat",
        "dismiss",
        "1700000000",
    ]
)


@FUZZ
@given(fields=st.dictionaries(st.sampled_from(EVENT_FIELDS), EVENT_VALUES))
def test_fuzzed_event_fields_map_or_fail_cleanly(keys: Keys, fields: dict[str, str]) -> None:
    from haina.platforms.wecom.crypto import cdata

    xml = "<xml>" + "".join(f"<{name}>{cdata(value)}</{name}>" for name, value in fields.items()) + "</xml>"
    try:
        records = connector.parse_push(keys[0], xml.encode())
    except RecordError as error:
        assert error.reason
    else:
        assert all(isinstance(record, (Contact, ContactRemoved, Group)) for record in records)
