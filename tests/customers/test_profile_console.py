"""The customers console through HTTP: list and search, the 360 profile (Chinese and English),
the timeline fragment, merge and unmerge forms, the review queue with its compare page, and the
WeCom sidebar page."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from haina.core.database import Database
from haina.core.settings import Settings
from haina.customers.identity.models import IdentityReview, OrderOwner
from haina.customers.models import record_id
from haina.web.app import create_app
from tests.customers.identity.builders import contact, order, resolve_all, store
from tests.factories import TenantFixture
from tests.web.test_console import page_csrf, sign_in

PHONE = "13812345678"


@pytest.fixture
def console(database: Database, settings: Settings, tenant: TenantFixture) -> Iterator[TestClient]:
    store(
        database,
        settings,
        tenant.id,
        [
            order(
                "YZ-1", buyer_id="yz-chen", unionid="union-chen", phone=PHONE, name="陈晓", paid_fen=19_900
            ),
            contact("wm-chen", name="晓晓", unionid="union-chen", remark="陈晓", mobiles=(PHONE,)),
            order(
                "JD-1", platform="jd", shop_id="J1", phone="138****5678", name="陈*", paid_fen=29_900, days=3
            ),
            order(
                "DY-1",
                platform="douyin",
                shop_id="D1",
                buyer_id="dy-chen",
                phone="138****5678",
                name="陈**",
                days=5,
            ),
            order("PDD-1", platform="pdd", shop_id="P1", phone="150****0000", name="林*", days=6),
        ],
    )
    resolve_all(database)
    app = create_app(settings, database, start_workers=False)
    with TestClient(app) as client:
        yield client


def customer_of(
    database: Database, tenant: TenantFixture, platform: str, shop_id: str, external_id: str
) -> OrderOwner:
    with database.unit_of_work() as session:
        return session.get(
            OrderOwner, (tenant.id, record_id("order", tenant.id, platform, shop_id, external_id))
        )


def test_list_search_and_profile(console: TestClient, database: Database, tenant: TenantFixture) -> None:
    sign_in(console, tenant.usernames["owner"])
    listing = console.get("/customers")
    assert listing.status_code == 200 and 'aria-current="page"' in listing.text
    assert "陈晓" in listing.text and "138****5678" in listing.text and PHONE not in listing.text
    found = console.get("/customers", params={"q": PHONE}).text
    assert "陈晓" in found and "林*" not in found
    chen = customer_of(database, tenant, "youzan", "S1", "YZ-1").customer_id
    page = console.get(f"/customers/{chen}")
    assert page.status_code == 200
    html = page.text
    for platform in ("youzan", "jd", "douyin"):
        assert f'data-platform="{platform}"' in html
    assert 'data-follow="guide01"' in html and "orders-chart-option" in html
    assert 'data-channel="wecom"' in html and PHONE not in html
    assert "查看完整号码" in html
    revealed = console.get(f"/customers/{chen}", params={"reveal": "true"}).text
    assert PHONE in revealed and "审计日志" in revealed
    fragment = console.get(
        f"/customers/{chen}/timeline", params={"channel": "jd"}, headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert set(re.findall(r'class="timeline-item" data-channel="(\w+)"', fragment.text)) == {"jd"}
    english = console.get("/lang/en", headers={"referer": f"http://testserver/customers/{chen}"})
    assert "Orders across all shops" in english.text and "Journey timeline" in english.text


def test_operator_sees_no_reveal_and_can_merge_and_undo(
    console: TestClient, database: Database, tenant: TenantFixture
) -> None:
    sign_in(console, tenant.usernames["operator"])
    chen = customer_of(database, tenant, "youzan", "S1", "YZ-1").customer_id
    lin = customer_of(database, tenant, "pdd", "P1", "PDD-1").customer_id
    page = console.get(f"/customers/{chen}").text
    assert "查看完整号码" not in page
    token = page_csrf(console, f"/customers/{chen}")
    merged = console.post(
        f"/customers/{chen}/merge", data={"other_id": lin, "csrf_token": token}, follow_redirects=False
    )
    assert merged.status_code == 303 and "notice=merged_now" in merged.headers["location"]
    survivor_page = console.get(merged.headers["location"]).text
    assert "已合并" in survivor_page and "PDD-1" in survivor_page
    merge_id = re.search(r'data-undo="(\w+)"', survivor_page).group(1)  # type: ignore[union-attr]
    undone = console.post(
        f"/customers/merges/{merge_id}/undo", data={"csrf_token": token}, follow_redirects=False
    )
    assert undone.status_code == 303
    restored = console.get(undone.headers["location"]).text
    assert "已撤销合并" in restored
    failed = console.post(
        f"/customers/{chen}/merge", data={"other_id": chen, "csrf_token": token}, follow_redirects=False
    )
    assert "notice=error.same_customer" in failed.headers["location"]
    assert "合并未完成" in console.get(failed.headers["location"]).text


def test_review_queue_and_compare(console: TestClient, database: Database, tenant: TenantFixture) -> None:
    sign_in(console, tenant.usernames["owner"])
    assert "没有待审核的客户对" in console.get("/customers/reviews").text
    youzan = customer_of(database, tenant, "youzan", "S1", "YZ-1")
    pdd = customer_of(database, tenant, "pdd", "P1", "PDD-1")
    with database.unit_of_work() as session:
        review = IdentityReview(
            id=uuid.uuid4().hex,
            tenant_id=tenant.id,
            node_a=min(youzan.node_id, pdd.node_id),
            node_b=max(youzan.node_id, pdd.node_id),
            link_id=uuid.uuid4().hex,
            rule="probabilistic",
            score=0.77,
            detail={},
        )
        session.add(review)
        review_id = review.id
    queue = console.get("/customers/reviews").text
    assert f'data-review="{review_id}"' in queue and "0.77" in queue
    compare = console.get(f"/customers/reviews/{review_id}").text
    assert 'data-side="1"' in compare and 'data-side="2"' in compare and "陈晓" in compare
    token = page_csrf(console, f"/customers/reviews/{review_id}")
    decided = console.post(
        f"/customers/reviews/{review_id}/reject", data={"csrf_token": token}, follow_redirects=False
    )
    assert decided.status_code == 303 and decided.headers["location"] == "/customers/reviews?decided=rejected"
    assert "今后不会被合并" in console.get(decided.headers["location"]).text
    again = console.post(f"/customers/reviews/{review_id}/reject", data={"csrf_token": token})
    assert again.status_code == 409 and "已经处理过了" in again.text
    with database.unit_of_work() as session:
        assert (
            session.scalar(select(IdentityReview.status).where(IdentityReview.id == review_id)) == "rejected"
        )


def test_the_sidebar_page(console: TestClient, tenant: TenantFixture) -> None:
    sign_in(console, tenant.usernames["agent"])  # agents may open it: the sidebar is their tool
    anonymous = TestClient(console.app).get("/sidebar/customer", follow_redirects=False)
    assert anonymous.status_code in (302, 303) and anonymous.headers["location"].startswith("/login")
    waiting = console.get("/sidebar/customer").text
    assert 'data-state="waiting"' in waiting and "getCurExternalContact" in waiting
    assert "<script src=" not in waiting.replace('src="/static', "")  # nothing from a CDN
    # The agent follows nobody yet (no WeCom userid): the contact is not theirs to see.
    hidden = console.get("/sidebar/customer", params={"external_userid": "wm-chen"}).text
    assert 'data-state="not-found"' in hidden
    console = TestClient(console.app)
    sign_in(console, tenant.usernames["owner"])
    shown = console.get("/sidebar/customer", params={"external_userid": "wm-chen"}).text
    assert 'data-state="loaded"' in shown and "陈晓" in shown
    assert {"youzan", "jd", "douyin"} <= set(re.findall(r'<li data-platform="(\w+)"', shown))
    panel = console.get("/sidebar/customer/panel", params={"external_userid": "wm-chen"})
    assert panel.status_code == 200 and "<html" not in panel.text and "data-by-platform" in panel.text
    unknown = console.get("/sidebar/customer", params={"external_userid": "wm-nobody"}).text
    assert "没有找到企微联系人 wm-nobody" in unknown
