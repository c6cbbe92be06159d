"""Small factories of canonical records for identity tests, and a way to run the event handlers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from haina.core.database import Database
from haina.core.events import run_due
from haina.core.settings import Settings
from haina.customers import service as records
from haina.platforms.canonical import (
    Address,
    BuyerIdentity,
    CanonicalRecord,
    Contact,
    FollowRelation,
    Order,
    OrderLine,
)

T0 = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)


def order(
    external_id: str,
    *,
    platform: str = "youzan",
    shop_id: str = "S1",
    buyer_id: str = "",
    unionid: str = "",
    phone: str = "",
    name: str = "",
    device_id: str = "",
    paid_fen: int = 9_900,
    days: int = 0,
    title: str = "洁面乳",
) -> Order:
    buyers: list[BuyerIdentity] = []
    if buyer_id:
        kind = "open_uid" if platform in ("taobao", "tmall") else "buyer_id"
        buyers.append(BuyerIdentity(platform, kind, buyer_id, shop_id=shop_id))
    if unionid:
        buyers.append(BuyerIdentity(platform, "unionid", unionid))
    if phone:
        buyers.append(BuyerIdentity(platform, "phone", phone, shop_id=shop_id, is_masked="*" in phone))
    if device_id:
        buyers.append(BuyerIdentity(platform, "device_id", device_id, shop_id=shop_id))
    at = T0 + timedelta(days=days)
    return Order(
        platform=platform,
        shop_id=shop_id,
        external_id=external_id,
        status="paid",
        platform_status="PAID",
        total_fen=paid_fen,
        discount_fen=0,
        freight_fen=0,
        paid_fen=paid_fen,
        created_at=at,
        modified_at=at,
        paid_at=at,
        buyer=buyers,
        buyer_nick=name,
        receiver_name=name,
        receiver_phone=phone,
        receiver_address=Address("上海市", "上海市", "徐汇区", "漕溪北路 88 号"),
        lines=[
            OrderLine(
                external_id=f"{external_id}-1",
                sku_id="SKU1",
                title=title,
                quantity=1,
                unit_price_fen=paid_fen,
            )
        ],
        version=1,
    )


def contact(
    external_userid: str,
    *,
    name: str = "",
    unionid: str = "",
    staff: str = "guide01",
    remark: str = "",
    mobiles: tuple[str, ...] = (),
    corp_id: str = "corp1",
    days: int = 0,
) -> Contact:
    at = T0 + timedelta(days=days)
    return Contact(
        corp_id=corp_id,
        external_userid=external_userid,
        name=name,
        unionid=unionid,
        follows=[
            FollowRelation(staff_userid=staff, remark=remark, remark_mobiles=list(mobiles), created_at=at)
        ],
        modified_at=at,
    )


def store(
    database: Database, settings: Settings, tenant_id: str, items: list[CanonicalRecord], **kwargs: Any
) -> None:
    with database.unit_of_work() as session:
        records.store_records(session, tenant_id, items, settings=settings, **kwargs)


def resolve_all(database: Database) -> int:
    """Run the event handlers (incremental resolution among them) until nothing is due."""
    import haina.customers.tasks  # noqa: F401 - registers the resolution handlers
    from haina.connections.service import bind_settings

    bind_settings(database)  # handlers decrypt with this database's keys
    total = 0
    while True:
        ran = run_due(database, limit=1000)
        total += ran
        if ran == 0:
            return total
