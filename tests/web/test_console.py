"""The console through HTTP, on SQLite and PostgreSQL: login (CSRF, failures, lockout), logout,
the language switch, every navigation page, permissions per page, members and roles, the audit
log and dead letters."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from haina.core.audit.models import AuditEntry
from haina.core.auth.models import ConsoleSession, User
from haina.core.auth.permissions import Permission, Role, has_permission
from haina.core.auth.service import NewUser, create_user
from haina.core.database import Database
from haina.core.events.models import EventDelivery, OutboxEvent
from haina.core.i18n import MESSAGES
from haina.core.settings import Settings
from haina.core.tenancy.service import get_or_create_tenant
from haina.web import views
from haina.web.app import create_app
from haina.web.security import declared_access
from haina.web.templating import NAVIGATION, TEMPLATES_DIR

PASSWORD = "correct-horse-42"


# ── Factories ────────────────────────────────────────────────────────────────────────────────


def make_tenant(
    database: Database, settings: Settings, *roles: str, slug: str | None = None
) -> dict[str, str]:
    """A tenant with one user per role; returns role → username (and "tenant" → tenant id)."""
    slug = slug or f"shop-{uuid.uuid4().hex[:8]}"
    with database.unit_of_work() as session:
        tenant = get_or_create_tenant(session, slug, f"海纳测试店 {slug}")
        usernames = {"tenant": tenant.id}
        for role in roles or ("owner",):
            username = f"{role}-{slug}"
            create_user(session, tenant.id, NewUser(username, f"{role} 用户", role, PASSWORD), settings)
            usernames[role] = username
    return usernames


@pytest.fixture
def client(database: Database, settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, database, start_workers=False)
    with TestClient(app) as test_client:
        yield test_client


def login_form_token(client: TestClient, next_path: str = "/") -> str:
    page = client.get("/login", params={"next": next_path})
    assert page.status_code == 200
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def submit_login(client: TestClient, username: str, password: str = PASSWORD, next_path: str = "/"):  # type: ignore[no-untyped-def]
    token = login_form_token(client, next_path)
    data = {"username": username, "password": password, "csrf_token": token, "next": next_path}
    return client.post("/login", data=data, follow_redirects=False)


def sign_in(client: TestClient, username: str) -> None:
    response = submit_login(client, username)
    assert response.status_code == 303, response.text
    assert client.cookies.get("haina_session")


def page_csrf(client: TestClient, path: str = "/") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def nav_text(html: str, key: str) -> str | None:
    match = re.search(rf'data-nav="{key}">(.*?)</a>', html, re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split()) if match else None


def count(database: Database, model: type, *conditions) -> int:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)


def user_named(database: Database, username: str) -> User | None:
    with database.unit_of_work() as session:
        return session.scalar(select(User).where(User.username == username))


# ── Login and logout ─────────────────────────────────────────────────────────────────────────


def test_login_sets_a_session_cookie_and_goes_to_next(
    client: TestClient, database: Database, settings: Settings
) -> None:
    users = make_tenant(database, settings, "owner")
    response = submit_login(client, users["owner"], next_path="/settings/audit")
    assert response.status_code == 303
    assert response.headers["location"] == "/settings/audit"
    cookie = next(
        value for value in response.headers.get_list("set-cookie") if value.startswith("haina_session=")
    )
    assert (
        "httponly" in cookie.lower() and "samesite=lax" in cookie.lower() and "secure" not in cookie.lower()
    )
    assert count(database, ConsoleSession) == 1
    home = client.get("/")
    assert home.status_code == 200 and "海纳测试店" in home.text


def test_session_cookie_is_secure_when_configured(
    tmp_path: Path, database: Database, database_url: str
) -> None:
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, database_url=database_url, cookie_secure=True)
    users = make_tenant(database, settings, "owner")
    with TestClient(
        create_app(settings, database, start_workers=False), base_url="https://testserver"
    ) as client:
        response = submit_login(client, users["owner"])
    cookie = next(
        value for value in response.headers.get_list("set-cookie") if value.startswith("haina_session=")
    )
    assert "secure" in cookie.lower()


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "/ok\r\nX: y"],
)
def test_login_never_redirects_off_site(
    client: TestClient, database: Database, settings: Settings, target: str
) -> None:
    users = make_tenant(database, settings, "owner")
    response = submit_login(client, users["owner"], next_path=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_anonymous_page_redirects_to_login_with_next(client: TestClient) -> None:
    response = client.get("/settings/users", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/settings/users"


def test_the_login_redirect_keeps_the_query(client: TestClient) -> None:
    response = client.get("/sidebar/customer?external_userid=wm-1&x=a b", follow_redirects=False)
    assert response.status_code == 303
    assert (
        response.headers["location"] == "/login?next=/sidebar/customer%3Fexternal_userid%3Dwm-1%26x%3Da%2520b"
    )
    login = client.get(response.headers["location"])
    assert 'value="/sidebar/customer?external_userid=wm-1&amp;x=a%20b"' in login.text


def test_an_expired_session_sends_htmx_requests_to_the_login_page(client: TestClient) -> None:
    headers = {"HX-Request": "true", "HX-Current-URL": "http://testserver/settings/users?role=agent"}
    response = client.post("/settings/users/abc/unlock", headers=headers, follow_redirects=False)
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login?next=/settings/users"


def test_wrong_password_shows_the_message_in_the_page(
    client: TestClient, database: Database, settings: Settings
) -> None:
    users = make_tenant(database, settings, "owner")
    response = submit_login(client, users["owner"], password="wrong-password")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.text
    assert f'value="{users["owner"]}"' in response.text  # the username is kept
    assert not client.cookies.get("haina_session")
    assert count(database, ConsoleSession) == 0


def test_repeated_failures_lock_the_account_and_the_page_says_so(
    client: TestClient, database: Database, settings: Settings
) -> None:
    users = make_tenant(database, settings, "owner")
    for _attempt in range(settings.login_max_failures):
        assert submit_login(client, users["owner"], password="wrong-password").status_code == 401
    locked = submit_login(client, users["owner"])  # even the right password is refused now
    assert locked.status_code == 429
    assert "账号已临时锁定" in locked.text
    assert count(database, ConsoleSession) == 0
    client.get("/lang/en")
    locked_en = submit_login(client, users["owner"])
    assert "locked" in locked_en.text and "账号已临时锁定" not in locked_en.text


def test_login_without_csrf_token_is_refused(
    client: TestClient, database: Database, settings: Settings
) -> None:
    users = make_tenant(database, settings, "owner")
    client.get("/login")  # the double-submit cookie is set, but the form field is missing
    response = client.post(
        "/login", data={"username": users["owner"], "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 403
    assert "CSRF" in response.text
    forged = client.post(
        "/login",
        data={"username": users["owner"], "password": PASSWORD, "csrf_token": "forged-token-0123456789"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert count(database, ConsoleSession) == 0
    assert user_named(database, users["owner"]).last_login_at is None  # type: ignore[union-attr]


def test_logout_invalidates_the_cookie(client: TestClient, database: Database, settings: Settings) -> None:
    users = make_tenant(database, settings, "owner")
    sign_in(client, users["owner"])
    raw = client.cookies.get("haina_session")
    token = page_csrf(client)
    response = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert not client.cookies.get("haina_session")
    client.cookies.set("haina_session", raw)  # replaying the old cookie does not sign in
    again = client.get("/", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/login")
    assert count(database, AuditEntry, AuditEntry.action == "auth.logout") == 1


def test_logout_without_csrf_keeps_the_session(
    client: TestClient, database: Database, settings: Settings
) -> None:
    users = make_tenant(database, settings, "owner")
    sign_in(client, users["owner"])
    response = client.post("/logout", follow_redirects=False)
    assert response.status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 200


# ── Language ─────────────────────────────────────────────────────────────────────────────────


def test_language_switch_changes_the_navigation(
    client: TestClient, database: Database, settings: Settings
) -> None:
    users = make_tenant(database, settings, "owner")
    sign_in(client, users["owner"])
    chinese = client.get("/campaigns").text
    assert nav_text(chinese, "campaigns") == "营销活动 待上线"
    assert nav_text(chinese, "tags") == "标签与分群"
    assert nav_text(chinese, "audit") == "审计日志"
    assert '<html lang="zh-CN">' in chinese
    response = client.get(
        "/lang/en", headers={"referer": "http://testserver/campaigns?page=2"}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/campaigns?page=2"
    english = client.get("/campaigns").text
    assert nav_text(english, "campaigns") == "Campaigns Soon"
    assert nav_text(english, "tags") == "Tags &amp; segments"
    assert nav_text(english, "audit") == "Audit log"
    assert "Coming soon" in english and "即将上线" not in english
    client.get("/lang/zh-CN")
    assert nav_text(client.get("/").text, "users") == "成员与角色"


def test_language_switch_ignores_foreign_referers_and_unknown_languages(client: TestClient) -> None:
    response = client.get(
        "/lang/en", headers={"referer": "https://evil.example/steal"}, follow_redirects=False
    )
    assert response.headers["location"] == "/"
    assert "haina_lang=en" in response.headers["set-cookie"]
    unknown = client.get("/lang/fr", follow_redirects=False)
    assert unknown.status_code == 404
    assert "text/html" in unknown.headers["content-type"]


def test_login_page_follows_the_language_cookie(client: TestClient) -> None:
    assert "账号登录" in client.get("/login").text
    client.get("/lang/en")
    assert "Sign in to your account" in client.get("/login").text


# ── Pages and permissions ────────────────────────────────────────────────────────────────────


def test_every_navigation_page_renders_for_the_owner(
    client: TestClient, database: Database, settings: Settings
) -> None:
    users = make_tenant(database, settings, "owner")
    sign_in(client, users["owner"])
    home = client.get("/").text
    for group in NAVIGATION:
        for item in group.items:
            response = client.get(item.path)
            assert response.status_code == 200, f"{item.path}: {response.status_code}"
            assert f'data-nav="{item.key}"' in home, f"{item.key} missing from the navigation"
            if not item.is_built:
                assert 'data-state="coming-soon"' in response.text and "即将上线" in response.text
                assert MESSAGES["zh-CN"][f"module.{item.key}.description"] in response.text


def test_a_page_the_role_may_not_open_answers_a_403_page(
    client: TestClient, database: Database, settings: Settings
) -> None:
    users = make_tenant(database, settings, "finance")
    sign_in(client, users["finance"])
    home = client.get("/").text
    assert 'data-nav="settlement"' in home
    assert 'data-nav="archive"' not in home and 'data-nav="users"' not in home  # finance never sees chats
    response = client.get("/archive")
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]
    assert "无权访问" in response.text and 'class="sidebar"' in response.text
    assert count(database, AuditEntry, AuditEntry.action == "permission.denied") == 1


def test_console_routes_declare_access_and_deny_roles_without_it(
    client: TestClient, database: Database, settings: Settings
) -> None:
    """Generated from the console's route table: each role gets exactly what its permissions say."""
    users = make_tenant(database, settings, *[role.value for role in Role])
    routes = [route for route in views.router.routes if isinstance(route, APIRoute)]
    assert routes and all(declared_access(route) is not None for route in routes)
    pages = [
        route
        for route in routes
        if "GET" in route.methods and "{" not in route.path and declared_access(route) != "public"
    ]
    for role in Role:
        client.cookies.clear()
        sign_in(client, users[role.value])
        for route in pages:
            status = client.get(route.path, follow_redirects=False).status_code
            expected = 200 if has_permission(role.value, Permission(declared_access(route))) else 403
            assert status == expected, f"{role.value} GET {route.path}: {status}, expected {expected}"


def test_an_htmx_request_without_permission_is_answered_in_the_flash_area(
    client: TestClient, database: Database, settings: Settings
) -> None:
    users = make_tenant(database, settings, "operator")
    sign_in(client, users["operator"])
    token = page_csrf(client)
    response = client.post(
        "/settings/users",
        data={"username": "sneaky", "display_name": "x", "role": "owner", "password": PASSWORD},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert response.status_code == 403
    assert response.headers["HX-Retarget"] == "#flash"
    assert "当前角色无权执行此操作" in response.text and "<html" not in response.text
    assert user_named(database, "sneaky") is None


# ── Members and roles ────────────────────────────────────────────────────────────────────────


def test_create_member_through_htmx_then_the_member_can_sign_in(
    client: TestClient, database: Database, settings: Settings
) -> None:
    users = make_tenant(database, settings, "owner")
    sign_in(client, users["owner"])
    token = page_csrf(client, "/settings/users")
    form = {
        "username": "xiaoli",
        "display_name": "小李",
        "role": "agent",
        "password": "another-horse-7",
        "phone": "13812345678",
    }
    response = client.post(
        "/settings/users", data=form, headers={"HX-Request": "true", "X-CSRF-Token": token}
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="users-panel"')
    assert "已创建成员 xiaoli" in response.text and 'data-username="xiaoli"' in response.text
    created = user_named(database, "xiaoli")
    assert (
        created is not None
        and created.role == "agent"
        and created.phone_encrypted
        and "13812345678" not in created.phone_encrypted
    )
    client.cookies.clear()
    assert submit_login(client, "xiaoli", password="another-horse-7").status_code == 303
    assert "小李" in client.get("/").text


def test_create_member_without_htmx_redirects_back_to_the_list(
    client: TestClient, database: Database, settings: Settings
) -> None:
    users = make_tenant(database, settings, "owner")
    sign_in(client, users["owner"])
    token = page_csrf(client, "/settings/users")
    form = {
        "username": "laozhang",
        "display_name": "老张",
        "role": "technician",
        "password": "another-horse-7",
        "csrf_token": token,
    }
    response = client.post("/settings/users", data=form, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/settings/users"
    assert 'data-username="laozhang"' in client.get("/settings/users", params={"role": "technician"}).text
    assert 'data-username="laozhang"' not in client.get("/settings/users", params={"role": "agent"}).text


def test_create_member_shows_field_errors_and_keeps_the_values(
    client: TestClient, database: Database, settings: Settings
) -> None:
    users = make_tenant(database, settings, "owner")
    sign_in(client, users["owner"])
    token = page_csrf(client, "/settings/users")
    form = {
        "username": "a",
        "display_name": "小王",
        "role": "agent",
        "password": "short",
        "csrf_token": token,
    }
    response = client.post("/settings/users", data=form, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert "用户名需为 3–64 位字母" in response.text and "密码至少需要 8 位" in response.text
    assert 'value="小王"' in response.text
    taken = client.post(
        "/settings/users",
        data={**form, "username": users["owner"], "password": "long-enough-1"},
        headers={"HX-Request": "true"},
    )
    assert taken.status_code == 409 and "该用户名已被使用" in taken.text
    assert count(database, User) == 1


def test_create_member_without_csrf_changes_nothing(
    client: TestClient, database: Database, settings: Settings
) -> None:
    users = make_tenant(database, settings, "owner")
    sign_in(client, users["owner"])
    created_before = count(database, AuditEntry, AuditEntry.action == "user.created")
    form = {"username": "ghost", "display_name": "幽灵", "role": "owner", "password": "long-enough-1"}
    response = client.post("/settings/users", data=form, follow_redirects=False)
    assert response.status_code == 403
    assert "CSRF" in response.text
    wrong = client.post(
        "/settings/users", data={**form, "csrf_token": "not-the-token"}, headers={"HX-Request": "true"}
    )
    assert wrong.status_code == 403
    assert user_named(database, "ghost") is None
    assert count(database, AuditEntry, AuditEntry.action == "user.created") == created_before


def test_change_role_and_unlock_a_member(client: TestClient, database: Database, settings: Settings) -> None:
    users = make_tenant(database, settings, "owner", "agent")
    for _attempt in range(settings.login_max_failures):
        submit_login(client, users["agent"], password="wrong-password")
    agent = user_named(database, users["agent"])
    assert agent is not None and agent.locked_until is not None
    client.cookies.clear()
    sign_in(client, users["owner"])
    listing = client.get("/settings/users").text
    assert "已锁定" in listing
    headers = {"HX-Request": "true", "X-CSRF-Token": page_csrf(client)}
    unlocked = client.post(f"/settings/users/{agent.id}/unlock", headers=headers)
    assert unlocked.status_code == 200 and unlocked.text.lstrip().startswith(f'<tr id="user-{agent.id}"')
    assert "正常" in unlocked.text and "已锁定" not in unlocked.text
    changed = client.post(f"/settings/users/{agent.id}/role", data={"role": "operator"}, headers=headers)
    assert changed.status_code == 200
    assert '<option value="operator" selected>' in changed.text
    agent = user_named(database, users["agent"])
    assert agent is not None and agent.role == "operator" and agent.locked_until is None


def test_owners_cannot_change_their_own_role(
    client: TestClient, database: Database, settings: Settings
) -> None:
    users = make_tenant(database, settings, "owner")
    sign_in(client, users["owner"])
    owner = user_named(database, users["owner"])
    headers = {"HX-Request": "true", "X-CSRF-Token": page_csrf(client)}
    response = client.post(f"/settings/users/{owner.id}/role", data={"role": "agent"}, headers=headers)  # type: ignore[union-attr]
    assert response.status_code == 422 and "不能修改自己的角色" in response.text
    assert user_named(database, users["owner"]).role == "owner"  # type: ignore[union-attr]


def test_members_of_another_tenant_answer_404(
    client: TestClient, database: Database, settings: Settings
) -> None:
    home = make_tenant(database, settings, "owner")
    other = make_tenant(database, settings, "agent")
    stranger = user_named(database, other["agent"])
    sign_in(client, home["owner"])
    headers = {"HX-Request": "true", "X-CSRF-Token": page_csrf(client)}
    response = client.post(f"/settings/users/{stranger.id}/role", data={"role": "owner"}, headers=headers)  # type: ignore[union-attr]
    assert response.status_code == 404
    assert user_named(database, other["agent"]).role == "agent"  # type: ignore[union-attr]
    assert other["agent"] not in client.get("/settings/users").text


# ── Overview, audit log, dead letters ────────────────────────────────────────────────────────


def test_overview_chart_counts_real_sign_ins(
    client: TestClient, database: Database, settings: Settings
) -> None:
    users = make_tenant(database, settings, "owner")
    submit_login(client, users["owner"], password="wrong-password")
    sign_in(client, users["owner"])
    page = client.get("/").text
    option = json.loads(
        unescape(
            re.search(
                r'<script type="application/json" id="activity-chart-option">(.*?)</script>', page, re.S
            ).group(1)
        )
    )  # type: ignore[union-attr]
    events, logins, failed = (series["data"] for series in option["series"])
    assert len(logins) == 14
    assert logins[-1] == 1 and sum(logins) == 1
    assert failed[-1] == 1
    assert events[-1] >= 3  # user.created, auth.login_failed, auth.login
    assert "/static/vendor/echarts.min.js" in page


def test_audit_page_filters_by_action(client: TestClient, database: Database, settings: Settings) -> None:
    users = make_tenant(database, settings, "owner")
    submit_login(client, users["owner"], password="wrong-password")
    submit_login(client, users["owner"], password="wrong-password")
    sign_in(client, users["owner"])
    page = client.get("/settings/audit", params={"action": "auth.login_failed"})
    assert page.status_code == 200
    rows = re.findall(r'<div class="cell-sub mono">([a-z_.]+)</div>', page.text)
    assert rows == ["auth.login_failed", "auth.login_failed"]
    assert "登录失败" in page.text
    everything = client.get("/settings/audit").text
    assert {"auth.login", "user.created"} <= set(
        re.findall(r'<div class="cell-sub mono">([a-z_.]+)</div>', everything)
    )
    assert 'href="/api/v1/audit/export.xlsx"' in everything
    export = client.get("/api/v1/audit/export.xlsx")
    assert export.status_code == 200 and export.content[:2] == b"PK"


def test_dead_letters_are_listed_and_replayed(
    client: TestClient, database: Database, settings: Settings
) -> None:
    users = make_tenant(database, settings, "owner")
    with database.unit_of_work() as session:
        event = OutboxEvent(tenant_id=users["tenant"], type="order.paid", payload={"order": "T100"})
        session.add(event)
        session.flush()
        delivery = EventDelivery(
            tenant_id=users["tenant"],
            event_id=event.id,
            handler="settlement.book",
            status="dead",
            attempts=5,
            last_error="ValueError: no rule for region 310000",
        )
        session.add(delivery)
        session.flush()
        delivery_id = delivery.id
    sign_in(client, users["owner"])
    page = client.get("/settings/dead-letters").text
    assert "order.paid" in page and "no rule for region 310000" in page and "settlement.book" in page
    token = page_csrf(client)
    response = client.post(
        f"/settings/dead-letters/{delivery_id}/replay", data={"csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    with database.unit_of_work() as session:
        assert session.get(EventDelivery, delivery_id).status == "pending"  # type: ignore[union-attr]
    after = client.get(response.headers["location"]).text
    assert "已重放 1 条" in after and "没有死信" in after
    again = client.post(
        f"/settings/dead-letters/{delivery_id}/replay", data={"csrf_token": token}, follow_redirects=False
    )
    assert again.status_code == 409  # only dead letters replay; the error page says why


# ── Catalogs and assets ──────────────────────────────────────────────────────────────────────


def test_both_languages_have_the_same_keys() -> None:
    assert set(MESSAGES["zh-CN"]) == set(MESSAGES["en"])
    assert all(MESSAGES["en"].values()) and all(MESSAGES["zh-CN"].values())


def test_every_literal_key_used_by_templates_and_views_is_translated() -> None:
    sources = [path.read_text(encoding="utf-8") for path in TEMPLATES_DIR.rglob("*.html")]
    sources.append(Path(views.__file__).read_text(encoding="utf-8"))
    used = set()
    for text in sources:
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+(?:\.[a-z_0-9]+)+)["']""", text))
        used |= set(re.findall(r'gettext\([^,]+,\s*"([a-z_]+(?:\.[a-z_0-9]+)+)"', text))
    dynamic = {f"nav.{item.key}" for group in NAVIGATION for item in group.items}
    dynamic |= {f"nav.group.{group.key}" for group in NAVIGATION}
    dynamic |= {f"role.{role.value}" for role in Role}
    dynamic |= {
        f"module.{item.key}.{part}"
        for group in NAVIGATION
        for item in group.items
        if not item.is_built
        for part in ("description", "feature1", "feature2", "feature3")
    }
    missing = sorted(
        key for key in used | dynamic if key not in MESSAGES["zh-CN"] or key not in MESSAGES["en"]
    )
    assert len(used) > 100
    assert missing == []


def test_pages_use_only_packaged_assets(client: TestClient, database: Database, settings: Settings) -> None:
    users = make_tenant(database, settings, "owner")
    sign_in(client, users["owner"])
    page = client.get("/").text
    external = re.findall(r'(?:src|href)="(https?:)?//', page)
    assert external == []
    for asset in re.findall(r'(?:src|href)="(/static/[^"?]+)', page):
        assert client.get(asset).status_code == 200, asset
