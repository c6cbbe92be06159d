"""Authorization matrix, generated from the app's route table × roles × two tenants.

- Every route declares its access (`require(...)` or `PUBLIC`); a new route without one fails.
- Each role gets exactly what its permissions say: allowed → not 401/403, denied → 403.
- Another tenant's object answers 404, exactly like a missing one.
- A denied write changes no table but the audit log.
- Without credentials, every non-public route answers 401 (API) or a redirect to the login page.

A new route needs a sample below for each path parameter, and a body for unsafe methods; the
test says so when one is missing.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from haina.core.auth.permissions import Permission, Role, has_permission
from haina.models import load_all_models
from haina.web.app import create_app
from haina.web.security import RouteInfo, api_routes, declared_access
from tests.conftest import make_settings
from tests.factories import TenantFixture, bearer, make_tenant, token_for

# Path parameter → which object of a tenant fills it.
PATH_SAMPLES: dict[str, Callable[[TenantFixture], str]] = {
    "user_id": lambda tenant: tenant.users["agent"],
    "delivery_id": lambda tenant: tenant.extra["delivery_id"],
    "code": lambda tenant: "en",
    "module": lambda tenant: "customers",
    "connection_id": lambda tenant: tenant.extra["connection_id"],
    "platform": lambda tenant: "douyin",
    # An unknown stream: the route answers 404 after authorising, without starting a sync thread.
    "stream": lambda tenant: "no_such_stream",
    "customer_id": lambda tenant: tenant.extra["customer_id"],
    "merge_id": lambda tenant: tenant.extra["merge_id"],
    "review_id": lambda tenant: tenant.extra["review_id"],
    "conversation_id": lambda tenant: tenant.extra["conversation_id"],
    "rule_id": lambda tenant: tenant.extra["rule_id"],
    "group_id": lambda tenant: tenant.extra["tag_group_id"],
    "tag_id": lambda tenant: tenant.extra["tag_id"],
    "segment_id": lambda tenant: tenant.extra["segment_id"],
    # No archived message in the sample tenants: allowed roles get 404 after authorising.
    "message_id": lambda tenant: tenant.extra.get("message_id", "987654321"),
}

# Request bodies for unsafe methods: (method, path) → {"json": …} or {"data": …}; made fresh per call.
BODY_SAMPLES: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {
    ("POST", "/api/v1/auth/token"): lambda: {"json": {"username": "nobody", "password": "nothing-here"}},
    ("POST", "/api/v1/users"): lambda: {
        "json": {
            "username": f"u{uuid.uuid4().hex[:10]}",
            "display_name": "新成员",
            "role": "agent",
            "password": "long-enough-pw",
        }
    },
    ("PATCH", "/api/v1/users/{user_id}"): lambda: {"json": {"display_name": "改名"}},
    ("POST", "/login"): lambda: {"data": {"username": "nobody", "password": "x"}},
    ("POST", "/settings/users"): lambda: {
        "data": {
            "username": f"u{uuid.uuid4().hex[:10]}",
            "display_name": "新",
            "role": "agent",
            "password": "long-enough-pw",
        }
    },
    # The sample user is the agent: it keeps its role, so later routes still see an agent.
    ("POST", "/settings/users/{user_id}/role"): lambda: {"data": {"role": "agent"}},
    ("POST", "/api/v1/connections"): lambda: {
        "json": {
            "platform": "douyin",
            "name": f"店铺{uuid.uuid4().hex[:8]}",
            "app_key": "matrix-key",
            "app_secret": "matrix-secret-0123456789",
            "base_url": "http://127.0.0.1:9",
        }
    },
    ("PATCH", "/api/v1/connections/{connection_id}"): lambda: {
        "json": {"name": f"改名{uuid.uuid4().hex[:8]}"}
    },
    ("POST", "/platforms"): lambda: {
        "data": {
            "platform": "douyin",
            "name": f"店铺{uuid.uuid4().hex[:8]}",
            "app_key": "matrix-key",
            "app_secret": "matrix-secret-0123456789",
            "base_url": "http://127.0.0.1:9",
        }
    },
    ("POST", "/platforms/{connection_id}/active"): lambda: {"data": {"is_active": "true"}},
    # An imported list of two rows: previewed or linked, nothing is stored.
    ("POST", "/api/v1/customers/import/preview"): lambda: {"files": {"file": _IMPORT_SAMPLE}},
    ("POST", "/api/v1/customers/import/result"): lambda: {"files": {"file": _IMPORT_SAMPLE}},
    ("POST", "/customers/import"): lambda: {"files": {"file": _IMPORT_SAMPLE}},
    ("POST", "/customers/import/result"): lambda: {"files": {"file": _IMPORT_SAMPLE}},
    # An unknown other customer: allowed roles get 404 after authorising, nothing is merged.
    ("POST", "/api/v1/customers/{customer_id}/merge"): lambda: {"json": {"other_id": "0" * 32}},
    ("POST", "/customers/{customer_id}/merge"): lambda: {"data": {"other_id": "0" * 32}},
    ("PUT", "/api/v1/customers/identity-settings"): lambda: {
        "json": {
            "auto_merge_threshold": 0.9,
            "review_threshold": 0.6,
            "max_cluster_nodes": 40,
            "max_accounts_per_key": 8,
        }
    },
    ("POST", "/api/v1/archive/keys"): lambda: {
        "json": {"version": uuid.uuid4().int % 10**6 + 1, "private_key_pem": _archive_key_pem()}
    },
    # Tags and segments: unknown groups, tags and customers answer 404 after authorising.
    ("POST", "/api/v1/tag-groups"): lambda: {"json": {"name": f"组{uuid.uuid4().hex[:8]}"}},
    ("PATCH", "/api/v1/tag-groups/{group_id}"): lambda: {"json": {"order": 1}},
    ("POST", "/api/v1/tags"): lambda: {"json": {"group_id": "0" * 32, "name": "矩阵"}},
    ("POST", "/api/v1/tags/bulk"): lambda: {"json": {"customer_ids": ["0" * 32], "tag_ids": ["0" * 32]}},
    ("PATCH", "/api/v1/tags/{tag_id}"): lambda: {"json": {"description": "矩阵"}},
    ("POST", "/api/v1/customers/{customer_id}/tags"): lambda: {"json": {"tag_ids": ["0" * 32]}},
    ("POST", "/api/v1/segments"): lambda: {
        "json": {"name": f"分群{uuid.uuid4().hex[:8]}", "definition": _SEGMENT_SAMPLE}
    },
    ("POST", "/api/v1/segments/count"): lambda: {"json": {"definition": _SEGMENT_SAMPLE}},
    ("POST", "/api/v1/segments/preview"): lambda: {"json": {"definition": _SEGMENT_SAMPLE}},
    ("PATCH", "/api/v1/segments/{segment_id}"): lambda: {"json": {"description": "矩阵"}},
    ("POST", "/tags/groups"): lambda: {"data": {"name": f"组{uuid.uuid4().hex[:8]}"}},
    ("POST", "/tags/groups/{group_id:hex32}/rename"): lambda: {"data": {"name": f"组{uuid.uuid4().hex[:8]}"}},
    ("POST", "/tags/segments/count"): lambda: {"data": {"definition": json.dumps(_SEGMENT_SAMPLE)}},
    ("POST", "/tags/segments/preview"): lambda: {"data": {"definition": json.dumps(_SEGMENT_SAMPLE)}},
    ("POST", "/customers/{customer_id:hex32}/tags"): lambda: {"data": {"tag_id": "0" * 32}},
    ("POST", "/tags/bulk"): lambda: {
        "data": {"customer_ids": ["0" * 32], "tag_id": "0" * 32, "action": "add"}
    },
    ("POST", "/api/v1/archive/words"): lambda: {"json": {"word": f"词{uuid.uuid4().hex[:8]}"}},
    ("POST", "/api/v1/archive/rules"): lambda: {
        "json": {"kind": "word", "phrase": f"词{uuid.uuid4().hex[:8]}"}
    },
    # Keep forever (deletes nothing); working hours every day 09:00–21:00.
    ("PUT", "/api/v1/archive/retention"): lambda: {"json": {"keep_days": None, "media_keep_days": None}},
    ("POST", "/archive/retention"): lambda: {"data": {"keep_days": "", "media_keep_days": ""}},
    ("PUT", "/api/v1/archive/insights/settings"): lambda: {
        "json": {"days": [{"start": "09:00", "end": "21:00"}] * 7, "target_minutes": 5}
    },
    ("POST", "/archive/insights/settings"): lambda: {
        "data": {"target_minutes": "5", "start": ["09:00"] * 7, "end": ["21:00"] * 7, "days_on": ["0"]}
    },
    ("PUT", "/api/v1/archive/alerts/settings"): lambda: {
        "json": {"is_enabled": True, "agentid": 1000002, "supervisor_userids": ["lisi"]}
    },
    ("POST", "/archive/alerts/settings"): lambda: {
        "data": {"is_enabled": "1", "agentid": "1000002", "supervisor_userids": "lisi", "notify_member": "1"}
    },
    # RFM settings that pass validation (allowed roles save them; they change no other table).
    ("POST", "/tags/lifecycle/settings"): lambda: {
        "data": {
            "window_days": "365",
            "band_method": "quantile",
            "new_days": "30",
            "active_days": "90",
            "at_risk_days": "180",
            "dormant_days": "365",
        }
    },
}


def _extra_samples() -> list[Any]:
    """Samples kept beside a module's tests (`tests/engage/<feature>/samples.py`, each with
    PATH_SAMPLES, BODY_SAMPLES and `prepare(database, tenant)`), so modules built side by side
    do not all edit this file."""
    import importlib
    from pathlib import Path

    modules = []
    tests_dir = Path(__file__).resolve().parents[1]
    for path in sorted(tests_dir.glob("engage/*/samples.py")):
        name = ".".join(path.relative_to(tests_dir.parent).with_suffix("").parts)
        module = importlib.import_module(name)
        PATH_SAMPLES.update(module.PATH_SAMPLES)
        BODY_SAMPLES.update(module.BODY_SAMPLES)
        modules.append(module)
    return modules


EXTRA_SAMPLES = _extra_samples()

_SEGMENT_SAMPLE = {"all": [{"field": "order_count", "op": ">=", "value": 1, "days": 90}]}
_IMPORT_SAMPLE = ("list.csv", "编号,姓名,手机\n1,张伟,13812345678\n2,李娜,15900001111\n".encode(), "text/csv")


def _archive_key_pem() -> str:
    """One RSA private key for every key-upload sample (generating one per call is slow)."""
    global _ARCHIVE_KEY
    if _ARCHIVE_KEY is None:
        from haina.sandbox.emulators.wecom_archive import generate_archive_key_pair

        _ARCHIVE_KEY = generate_archive_key_pair()[0]
    return _ARCHIVE_KEY


_ARCHIVE_KEY: str | None = None

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
PARAM = re.compile(r"{(\w+)(?::\w+)?}")


def _routes(app: Any) -> list[tuple[str, str, RouteInfo]]:
    return [
        (method, info.path, info) for info in api_routes(app) for method in sorted(info.methods - {"HEAD"})
    ]


def _fill(path: str, tenant: TenantFixture) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in PATH_SAMPLES:
            pytest.fail(f"add a sample for path parameter '{name}' to PATH_SAMPLES in {__file__}")
        return PATH_SAMPLES[name](tenant)

    return PARAM.sub(substitute, path)


def _body(method: str, path: str) -> dict[str, Any]:
    if method not in UNSAFE:
        return {}
    sample = BODY_SAMPLES.get((method, path))
    return sample() if sample else {}


def _row_counts(database: Any) -> dict[str, int]:
    metadata = load_all_models().metadata
    with database.unit_of_work() as session:
        return {
            table.name: int(session.scalar(select(func.count()).select_from(table)) or 0)
            for table in metadata.sorted_tables
            if table.name not in {"audit_log", "console_sessions"}
        }


def _prepare_extra(database: Any, tenant: TenantFixture) -> None:
    """Objects some routes address: a dead-lettered delivery in this tenant."""
    from haina.core.events.models import EventDelivery, OutboxEvent

    with database.unit_of_work() as session:
        event = OutboxEvent(tenant_id=tenant.id, type="test.happened", payload={})
        session.add(event)
        session.flush()
        delivery = EventDelivery(
            tenant_id=tenant.id, event_id=event.id, handler="tests.nothing", status="dead", last_error="boom"
        )
        session.add(delivery)
        session.flush()
        tenant.extra["delivery_id"] = delivery.id
    _prepare_connection(database, tenant)
    _prepare_customers(database, tenant)
    _prepare_archive(database, tenant)
    _prepare_tags(database, tenant)
    for module in EXTRA_SAMPLES:
        module.prepare(database, tenant)


def _prepare_tags(database: Any, tenant: TenantFixture) -> None:
    """An empty tag group (the group routes delete it), a manual tag in another group, a segment."""
    from haina.core.auth.actor import Actor
    from haina.tags import service as tags

    actor = Actor(tenant.users["owner"], tenant.id, tenant.usernames["owner"], "店主", "owner")
    with database.unit_of_work() as session:
        tenant.extra["tag_group_id"] = tags.create_group(session, actor, "空组").id
        holder = tags.create_group(session, actor, "矩阵组")
        tenant.extra["tag_id"] = tags.create_tag(session, actor, tags.TagInput("矩阵标签", holder.id)).id
        segment = tags.create_segment(session, actor, name="矩阵分群", definition=_SEGMENT_SAMPLE)
        tenant.extra["segment_id"] = segment.id


def _prepare_archive(database: Any, tenant: TenantFixture) -> None:
    """An archived conversation (of no agent) and a keyword rule in this tenant."""
    from haina.archive.models import ArchiveConversation, KeywordRule

    with database.unit_of_work() as session:
        conversation = ArchiveConversation(
            tenant_id=tenant.id, key="single:rocky:wmMatrix", kind="single", staff_userid="rocky",
            peer_userid="wmMatrix", roomid="", message_count=0,
        )  # fmt: skip
        rule = KeywordRule(tenant_id=tenant.id, kind="word", phrase="投诉", is_active=True)
        session.add_all([conversation, rule])
        session.flush()
        tenant.extra["conversation_id"] = conversation.id
        tenant.extra["rule_id"] = rule.id


def _prepare_connection(database: Any, tenant: TenantFixture) -> None:
    """A Douyin shop connection in this tenant (its sandbox-less base URL is never called)."""
    from haina.connections import service

    with database.unit_of_work() as session:
        connection = service.create_connection(
            session,
            tenant.id,
            service.NewConnection(
                platform="douyin",
                name="矩阵店",
                app_key="matrix-key",
                app_secret="matrix-secret-0123456789",
                base_url="http://127.0.0.1:9",
            ),
            database.settings,
        )
        tenant.extra["connection_id"] = connection.id


def _prepare_customers(database: Any, tenant: TenantFixture) -> None:
    """Three customers of this tenant, two of them merged (a merge to undo), and a review item."""
    from datetime import UTC, datetime

    from haina.core.auth.actor import Actor
    from haina.customers import service as records
    from haina.customers.identity import merge, service
    from haina.customers.identity.models import IdentityReview, OrderOwner
    from haina.customers.models import record_id
    from haina.platforms.canonical import BuyerIdentity, Order

    moment = datetime(2026, 10, 1, tzinfo=UTC)
    orders = [
        Order(
            platform="youzan",
            shop_id="S1",
            external_id=f"M-{name}",
            status="paid",
            platform_status="PAID",
            total_fen=100,
            discount_fen=0,
            freight_fen=0,
            paid_fen=100,
            created_at=moment,
            modified_at=moment,
            buyer=[
                BuyerIdentity("youzan", "buyer_id", f"buyer-{name}", shop_id="S1"),
                BuyerIdentity("youzan", "phone", phone, shop_id="S1"),
            ],
            receiver_name="买家",
            receiver_phone=phone,
        )
        for name, phone in (("a", "13800000001"), ("b", "13800000002"), ("c", "13800000003"))
    ]
    settings = database.settings
    actor = Actor(tenant.users["owner"], tenant.id, tenant.usernames["owner"], "店主", "owner")
    with database.unit_of_work() as session:
        records.store_records(session, tenant.id, orders, settings=settings)
        service.rebuild(session, tenant.id, settings=settings)
        owners = {
            name: session.get(
                OrderOwner, (tenant.id, record_id("order", tenant.id, "youzan", "S1", f"M-{name}"))
            )
            for name in "abc"
        }
        merged = merge.merge_customers(session, actor, owners["a"].customer_id, owners["b"].customer_id)
        tenant.extra["merge_id"] = merged.id
        tenant.extra["customer_id"] = merged.survivor_id
        review = IdentityReview(
            id=uuid.uuid4().hex,
            tenant_id=tenant.id,
            node_a=min(owners["a"].node_id, owners["c"].node_id),
            node_b=max(owners["a"].node_id, owners["c"].node_id),
            link_id=uuid.uuid4().hex,
            rule="probabilistic",
            score=0.8,
            detail={},
        )
        session.add(review)
        session.flush()
        tenant.extra["review_id"] = review.id


def test_every_route_declares_its_access(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(tmp_path), start_workers=False)
    undeclared = [
        f"{method} {path}" for method, path, route in _routes(app) if declared_access(route) is None
    ]
    assert undeclared == []
    assert _routes(app), "the route table is empty"


def test_unsafe_routes_have_body_samples(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(tmp_path), start_workers=False)
    missing = [
        f"{method} {path}"
        for method, path, route in _routes(app)
        if method in UNSAFE and (method, path) not in BODY_SAMPLES and route.route.body_field is not None
    ]
    assert missing == [], f"add request bodies to BODY_SAMPLES in {__file__}"


def test_matrix(client, app, database, settings) -> None:  # type: ignore[no-untyped-def]
    home = make_tenant(database, settings)
    other = make_tenant(database, settings)
    _prepare_extra(database, home)
    _prepare_extra(database, other)
    tokens = {role.value: token_for(client, home.usernames[role.value]) for role in Role}
    problems: list[str] = []

    for method, path, route in _routes(app):
        access = declared_access(route)
        own_path, other_path = _fill(path, home), _fill(path, other)
        for role in Role:
            headers = bearer(tokens[role.value])
            allowed = access == "public" or has_permission(role.value, Permission(access))
            before = _row_counts(database) if method in UNSAFE and not allowed else None
            response = client.request(
                method, own_path, headers=headers, follow_redirects=False, **_body(method, path)
            )
            status = response.status_code
            if status >= 500:
                problems.append(f"{role.value} {method} {path}: {status} {response.text[:200]}")
            elif allowed and access != "public" and status in (401, 403):
                problems.append(f"{role.value} {method} {path}: expected access, got {status}")
            elif not allowed:
                if status != 403:
                    problems.append(f"{role.value} {method} {path}: expected 403, got {status}")
                if before is not None and _row_counts(database) != before:
                    problems.append(f"{role.value} {method} {path}: a denied write changed the database")
            if allowed and other_path != own_path and access != "public":
                foreign = client.request(
                    method, other_path, headers=headers, follow_redirects=False, **_body(method, path)
                )
                if foreign.status_code != 404:
                    problems.append(
                        f"{role.value} {method} {path}: another tenant's object gave {foreign.status_code}, not 404"
                    )
        if access != "public":
            anonymous = client.request(method, own_path, follow_redirects=False, **_body(method, path))
            location = anonymous.headers.get("location", "")
            if not (
                anonymous.status_code == 401
                or (anonymous.status_code in (302, 303) and location.startswith("/login"))
            ):
                problems.append(
                    f"anonymous {method} {path}: expected 401 or a redirect to /login, got {anonymous.status_code}"
                )
    assert problems == [], "\n".join(problems)
