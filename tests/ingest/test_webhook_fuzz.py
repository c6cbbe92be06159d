"""Acceptance: malformed pushes, fuzzed per platform through POST /webhooks/{platform}/{id}.

For the platforms that push over HTTP (WeCom, Youzan, Douyin), hypothesis makes bodies that are
signed correctly (so they pass verification and reach parsing) but malformed, and garbage that is
not signed. Never a 500; garbage is refused and stores nothing; a signed malformed push is kept
byte for byte in the inbox and, once the event deliveries have run, is a dead letter whose reason
says what was wrong (never silently processed into nothing, never lost). A valid push sent after
all that is still stored: the rest keeps flowing.

Taobao/Tmall (TMC), JD and Pinduoduo have no HTTP push: every body is refused with a 404 and an
audit entry, and nothing is stored.
"""

from __future__ import annotations

import itertools
import json
import string
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from haina.connections import service
from haina.core.audit.models import AuditEntry
from haina.core.database import Database
from haina.core.events import dispatcher
from haina.core.events.models import InboxItem
from haina.core.settings import Settings
from haina.customers.service import snapshot
from haina.platforms.douyin.mapping import REFUND_TAGS
from haina.platforms.douyin.signing import event_sign as douyin_event_sign
from haina.platforms.wecom.crypto import WXBizMsgCrypt
from haina.platforms.youzan import signing as youzan_signing
from haina.platforms.youzan.webhooks import FULL_TRADE_TYPES
from haina.sandbox.emulators import douyin as douyin_emulator
from haina.sandbox.emulators import youzan as youzan_emulator
from haina.sandbox.emulators.wecom_push import Callback
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from tests.conftest import make_settings
from tests.connections.fakes import drain
from tests.factories import TenantFixture, bearer, token_for
from tests.ingest.test_acceptance import HISTORY_END, SEED

EXAMPLES = 40
FUZZ = hypothesis_settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PUSHING = ("wecom", "youzan", "douyin")
SILENT = ("taobao", "jd", "pdd")
REFUSED = {400, 401, 403, 404, 405, 413, 422}
# What a dead letter of a malformed push says first (haina.platforms.reading / connections.tasks).
REASONS = ("RecordError", "UnreadableWebhook", "BadRecordError")
# Printable ASCII: what an HTTP client can put in a header value.
HEADER_TEXT = st.text(alphabet=string.ascii_letters + string.digits + " -_=+/.:", max_size=40)
unique = itertools.count(1)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Two attempts, then a dead letter (as in tests/connections)."""
    return make_settings(tmp_path, database_url=database_url, event_max_attempts=2)


@pytest.fixture(scope="module")
def world_state() -> SandboxState:
    return SandboxState(generate_world(SEED, 20, start=HISTORY_END))


# ---- the platforms' signing, as their senders do it -------------------------------------------


@dataclass
class Post:
    """One request to a webhook, and what the inbox must keep of it when it is signed."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    kept: list[bytes] = field(default_factory=list)  # inbox payloads a signed one must leave


@dataclass
class Site:
    state: SandboxState
    ids: dict[str, str]  # platform → connection id

    def shop(self, platform: str) -> Any:
        return self.state.world.shops_of(platform)[0]

    # WeCom: the event XML encrypted and signed with the callback Token / EncodingAESKey.
    def wecom(self, inner: str) -> Post:
        world = self.state.world
        crypt = WXBizMsgCrypt(world.callback_token, world.callback_aes_key, world.corp_id)
        sealed = crypt.seal_event(
            inner, nonce=str(next(unique)), timestamp="1761955200", to_user_name=world.corp_id
        )
        return Post(sealed.body.encode(), {"content-type": "text/xml"}, sealed.query, [inner.encode()])

    # Youzan: md5(client_id + raw body + secret) in Event-Sign, or md5(client_id + msg + secret)
    # in the body's `sign`.
    def youzan(self, body: bytes | dict[str, Any], style: str = "header") -> Post:
        shop = self.shop("youzan")
        if isinstance(body, dict) and style == "body":
            body = {
                **body,
                "sign": youzan_signing.push_sign(shop.app_key, str(body.get("msg") or ""), shop.app_secret),
            }
        raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        headers = {"content-type": "application/json"}
        if style == "header":
            headers["Event-Sign"] = youzan_signing.event_sign(shop.app_key, raw, shop.app_secret)
        return Post(raw, headers, kept=[raw])

    # Douyin: md5(app_key + raw body + app_secret) in event-sign.
    def douyin(self, body: bytes, kept: list[bytes]) -> Post:
        shop = self.shop("douyin")
        headers = {
            "content-type": "application/json",
            "app-id": shop.app_key,
            "event-sign": douyin_event_sign(shop.app_key, body, shop.app_secret),
        }
        return Post(body, headers, kept=kept)


def douyin_message_payload(message: dict[str, Any]) -> bytes:
    """How the receiver keeps one message of a Douyin push (haina.platforms.douyin.webhooks)."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def is_douyin_message_list(body: bytes) -> bool:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return isinstance(document, list) and all(isinstance(message, dict) for message in document)


def is_json_object(body: bytes) -> bool:
    try:
        return isinstance(json.loads(body), dict)
    except (ValueError, RecursionError):
        return False


# ---- strategies --------------------------------------------------------------------------------

scalars = st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
garbage_bytes = (
    st.binary(max_size=200)
    | st.text(max_size=120).map(str.encode)
    | json_values.map(lambda value: json.dumps(value).encode())
)


@st.composite
def wecom_malformed(draw: st.DrawFn, site: Site) -> Post:
    corp = site.state.world.corp_id
    staff = site.state.world.staff[0].userid
    message_id = f"<MsgId>fuzz-{next(unique)}</MsgId>"
    kind = draw(
        st.sampled_from(
            ["text", "anonymous", "no_event", "unknown_event", "bad_change", "no_user", "other_corp"]
        )
    )
    if kind == "text":
        inner = draw(st.text(max_size=120).filter(lambda text: not text.lstrip().startswith("<")))
    elif kind == "anonymous":
        # XML naming no event, no time, no id: nothing tells two of them apart but their bytes.
        tag = draw(st.text(alphabet=string.ascii_letters, min_size=1, max_size=10))
        value = draw(st.text(alphabet=string.ascii_letters + string.digits + " ", max_size=30))
        inner = f"<xml><{tag}>{value}</{tag}></xml>"
    elif kind == "no_event":
        inner = f"<xml><ToUserName>{corp}</ToUserName>{message_id}<MsgType>event</MsgType></xml>"
    elif kind == "unknown_event":
        event = draw(st.text(alphabet=string.ascii_letters + "_", min_size=1, max_size=20))
        event = event if event not in ("change_external_contact", "change_external_chat") else event + "_x"
        event = event if event not in ("change_external_tag", "msgaudit_notify") else event + "_x"
        inner = f"<xml><ToUserName>{corp}</ToUserName>{message_id}<Event>{event}</Event></xml>"
    elif kind == "bad_change":
        change = draw(st.text(alphabet=string.ascii_letters + "_", min_size=1, max_size=20)) + "_fuzz"
        inner = (
            f"<xml><ToUserName>{corp}</ToUserName>{message_id}<Event>change_external_contact</Event>"
            f"<ChangeType>{change}</ChangeType><UserID>{staff}</UserID><ExternalUserID>wm1</ExternalUserID></xml>"
        )
    elif kind == "no_user":
        inner = (
            f"<xml><ToUserName>{corp}</ToUserName>{message_id}<Event>change_external_contact</Event>"
            "<ChangeType>add_external_contact</ChangeType><UserID></UserID></xml>"
        )
    else:
        other = draw(st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=18))
        inner = (
            f"<xml><ToUserName>{other}-not-{corp}</ToUserName>{message_id}<Event>change_external_contact</Event>"
            f"<ChangeType>add_external_contact</ChangeType><UserID>{staff}</UserID>"
            "<ExternalUserID>wm2</ExternalUserID></xml>"
        )
    return site.wecom(inner)


YOUZAN_IGNORED = ("SCRM_CUSTOMER_EVENT", "ITEM_INFO", "COUPON_PROMOTION", "POINTS")


@st.composite
def youzan_malformed(draw: st.DrawFn, site: Site) -> Post:
    shop = site.shop("youzan")
    if draw(st.booleans()) and draw(st.booleans()):
        # Signed in the header, but not a JSON object at all.
        body = draw(garbage_bytes.filter(lambda raw: not is_json_object(raw)))
        return site.youzan(body, "header")
    kind = draw(
        st.sampled_from(sorted(FULL_TRADE_TYPES))
        | st.sampled_from(["trade_refund_BuyerCreated", "trade_refund_RefundSuccess"])
        | st.text(alphabet=string.ascii_letters + "_", max_size=16).filter(
            lambda text: not text.startswith("trade_") and text not in YOUZAN_IGNORED
        )
        | st.none()
        | st.integers()
    )
    msg = draw(
        st.none()
        | st.text(max_size=60)
        | json_values.map(json.dumps)
        | json_values.map(lambda value: urllib.parse.quote_plus(json.dumps(value)))
    )
    envelope: dict[str, Any] = {
        "client_id": shop.app_key,
        "kdt_id": draw(st.sampled_from([shop.shop_id, "1", "", None])),
        "id": draw(st.text(max_size=12)),
        "msg_id": f"fuzz-{next(unique)}",
        "status": draw(st.none() | st.text(max_size=12)),
        "msg": msg,
    }
    if kind is not None:
        envelope["type"] = kind
    envelope.update(
        draw(st.dictionaries(st.sampled_from(["mode", "version", "sendCount", "extra"]), scalars))
    )
    return site.youzan(envelope, draw(st.sampled_from(["header", "body"])))


@st.composite
def douyin_malformed(draw: st.DrawFn, site: Site) -> Post:
    if draw(st.booleans()):
        # Signed, but not the documented array of messages: kept whole.
        body = draw(garbage_bytes.filter(lambda raw: not is_douyin_message_list(raw)))
        return site.douyin(body, [body])
    messages = []
    for _ in range(draw(st.integers(1, 3))):
        tag = draw(
            st.sampled_from(sorted(REFUND_TAGS))
            | st.text(max_size=6).filter(
                lambda text: (
                    text.strip() not in ("0", "")
                    and not (len(text.strip()) == 3 and text.strip().startswith("1"))
                )
            )
        )
        message: dict[str, Any] = {
            "msg_id": f"fuzz-{next(unique)}",
            "data": draw(json_values.map(json.dumps) | json_values),
        }
        if draw(st.integers(0, 5)):
            message["tag"] = tag
        messages.append(message)
    body = json.dumps(messages, ensure_ascii=False, separators=(",", ":")).encode()
    return site.douyin(body, [douyin_message_payload(message) for message in messages])


def malformed(platform: str, site: Site) -> st.SearchStrategy[Post]:
    return {"wecom": wecom_malformed, "youzan": youzan_malformed, "douyin": douyin_malformed}[platform](site)


@st.composite
def garbage(draw: st.DrawFn, platform: str) -> Post:
    """Not signed by the platform: random bodies, headers and signature-looking values."""
    names = ["event-sign", "Event-Sign", "app-id", "Client-Id", "content-type", "x-fuzz", "sign"]
    headers = draw(st.dictionaries(st.sampled_from(names), HEADER_TEXT, max_size=4))
    query = draw(
        st.dictionaries(
            st.sampled_from(["msg_signature", "timestamp", "nonce", "echostr", "sign"]),
            HEADER_TEXT,
            max_size=4,
        )
    )
    return Post(draw(garbage_bytes), headers, query)


# ---- fixtures and checks -------------------------------------------------------------------


@pytest.fixture
def site(database: Database, settings: Settings, tenant: TenantFixture, world_state: SandboxState) -> Site:
    world = world_state.world
    ids: dict[str, str] = {}
    with database.unit_of_work() as session:
        for platform in ("wecom", "youzan", "douyin", "taobao", "jd", "pdd"):
            if platform == "wecom":
                new = service.NewConnection(
                    platform="wecom",
                    name="企业微信",
                    app_key=world.corp_id,
                    app_secret=world.corp_secret,
                    shop_id=world.corp_id,
                    base_url="http://127.0.0.1:9/wecom",
                    extra={
                        "callback_token": world.callback_token,
                        "encoding_aes_key": world.callback_aes_key,
                    },
                )
            else:
                shop = world.shops_of(platform)[0]
                new = service.NewConnection(
                    platform=platform,
                    name=shop.name,
                    app_key=shop.app_key,
                    app_secret=shop.app_secret,
                    shop_id=shop.shop_id,
                    base_url=f"http://127.0.0.1:9/{platform}",
                    access_token="token" if platform in ("taobao", "jd", "pdd") else "",
                )
            ids[platform] = service.create_connection(session, tenant.id, new, settings).id
    return Site(world_state, ids)


def send(client: TestClient, site: Site, platform: str, post: Post) -> Any:
    answer = client.post(
        f"/webhooks/{platform}/{site.ids[platform]}",
        content=post.body,
        headers=post.headers,
        params=post.query,
    )
    assert answer.status_code < 500, (answer.status_code, answer.text, post)
    return answer


def inbox_items(database: Database, connection_id: str) -> list[InboxItem]:
    with database.unit_of_work() as session:
        return list(session.scalars(select(InboxItem).where(InboxItem.connection_id == connection_id)))


def count_inbox(database: Database) -> int:
    with database.unit_of_work() as session:
        return int(session.scalar(select(func.count()).select_from(InboxItem)) or 0)


def count_rejections(database: Database) -> int:
    with database.unit_of_work() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "webhook.rejected")
            )
            or 0
        )


def valid_youzan_push(site: Site) -> tuple[Post, Callable[[dict[str, Any]], bool]]:
    shop = site.shop("youzan")
    order = next(order for order in site.state.world.orders_of(shop.shop_id) if order.status == "completed")
    message = youzan_emulator.Pusher(site.state).order_message(order)
    assert message is not None
    body, headers = youzan_emulator.Pusher(site.state).request(message, 0)
    key = f"youzan/{shop.shop_id}/{order.order_id}"

    def stored(everything: dict[str, Any]) -> bool:
        row = everything["orders"].get(key)
        return row is not None and row["paid_fen"] == order.paid_fen and row["status"] == "completed"

    return Post(body, headers), stored


def valid_push(site: Site, platform: str) -> tuple[Post, Callable[[dict[str, Any]], bool]]:
    world = site.state.world
    if platform == "wecom":
        contact = world.contacts[0]
        staff = contact.follow_users[0].userid
        callback = Callback(
            "change_external_contact",
            [
                ("ChangeType", "add_external_contact"),
                ("UserID", staff),
                ("ExternalUserID", contact.external_userid),
            ],
        )
        post = site.wecom(callback.to_xml(world.corp_id))
        key = f"{world.corp_id}/{contact.external_userid}"
        return post, lambda everything: key in everything["contacts"]
    if platform == "douyin":
        shop = site.shop("douyin")
        refund = next(
            refund
            for refund in world.refunds
            if refund.shop_id == shop.shop_id and douyin_emulator.push_message(site.state, "refunds", refund)
        )
        pushed = douyin_emulator.push_message(site.state, "refunds", refund)
        assert pushed is not None
        _, body = pushed
        post = site.douyin(body, [])
        key = f"douyin/{shop.shop_id}/{refund.refund_id}"
        return (
            post,
            lambda everything: everything["refunds"].get(key, {}).get("amount_fen") == refund.amount_fen,
        )
    return valid_youzan_push(site)


def dead_letters_by_item(database: Database, tenant: TenantFixture) -> dict[str, str]:
    """inbox item id → the dead letter's reason."""
    with database.unit_of_work() as session:
        letters = dispatcher.list_dead_letters(session, tenant.id, limit=10_000)
        return {letter.event.payload.get("inbox_item_id"): letter.last_error or "" for letter in letters}


# ---- the tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", PUSHING)
def test_signed_malformed_pushes_are_kept_and_dead_lettered_and_garbage_is_refused(
    platform: str, client: TestClient, database: Database, tenant: TenantFixture, site: Site
) -> None:
    connection_id = site.ids[platform]
    kept: set[bytes] = set()
    signed_count = garbage_count = 0

    @FUZZ
    @given(data=st.data())
    def one_request(data: st.DataObject) -> None:
        nonlocal signed_count, garbage_count
        if data.draw(st.integers(0, 2), label="garbage?") == 0:
            post = data.draw(garbage(platform), label="garbage")
            before = count_inbox(database)
            answer = send(client, site, platform, post)
            assert answer.status_code in REFUSED, (answer.status_code, answer.text)
            assert count_inbox(database) == before, "an unsigned body was stored"
            garbage_count += 1
            return
        post = data.draw(malformed(platform, site), label="signed malformed")
        answer = send(client, site, platform, post)
        # Kept and acknowledged (200), or kept as an unreadable envelope (400): either way in the inbox.
        assert answer.status_code in (200, 400), (answer.status_code, answer.text)
        payloads = {item.payload for item in inbox_items(database, connection_id)}
        missing = [payload for payload in post.kept if payload not in payloads]
        assert not missing, (
            f"signed malformed push not kept: {missing!r} ({answer.status_code} {answer.text})"
        )
        kept.update(post.kept)
        signed_count += 1

    one_request()
    assert signed_count and garbage_count

    # Before the drain moves the app clock: PyJWT checks `iat` against the machine's clock.
    token = token_for(client, tenant.usernames["admin"])
    drain(database, rounds=3)
    letters = dead_letters_by_item(database, tenant)
    items = {item.payload: item for item in inbox_items(database, connection_id)}
    for payload in kept:
        item = items[payload]
        assert item.status == "dead", (payload, item.status, item.error)
        assert item.id in letters, payload
        # The reason is kept with it: the parser's own error, saying what was wrong.
        assert item.error and letters[item.id].startswith(REASONS), (payload, letters[item.id])

    # The console's dead-letter list (over HTTP) shows them with their reasons.
    answer = client.get("/api/v1/events/dead-letters", params={"limit": 500}, headers=bearer(token))
    assert answer.status_code == 200
    shown = {letter["event_payload"].get("inbox_item_id"): letter for letter in answer.json()}
    assert {items[payload].id for payload in kept} <= set(shown)
    assert all(shown[items[payload].id]["last_error"] for payload in kept)

    # The rest keeps flowing: a valid push after all that is stored.
    post, is_stored = valid_push(site, platform)
    answer = send(client, site, platform, post)
    assert answer.status_code == 200, answer.text
    drain(database, rounds=2)
    with database.unit_of_work() as session:
        assert is_stored(snapshot(session, tenant.id))


@pytest.mark.parametrize("platform", SILENT)
def test_platforms_without_http_push_refuse_every_body(
    platform: str, client: TestClient, database: Database, tenant: TenantFixture, site: Site
) -> None:
    @FUZZ
    @given(post=garbage(platform))
    def one_request(post: Post) -> None:
        before, rejections = count_inbox(database), count_rejections(database)
        answer = send(client, site, platform, post)
        assert answer.status_code == 404, (answer.status_code, answer.text)
        assert answer.json()["error"]["code"] == "webhook_rejected"
        assert count_inbox(database) == before
        assert count_rejections(database) == rejections + 1

    one_request()

    post, is_stored = valid_youzan_push(site)
    assert send(client, site, "youzan", post).status_code == 200
    drain(database, rounds=2)
    with database.unit_of_work() as session:
        assert is_stored(snapshot(session, tenant.id))
