"""How fast `store_records` stores orders on PostgreSQL, against a raw COPY of the same rows.

    python bench/ingest_store.py             # 200,000 orders
    python bench/ingest_store.py --quick     # 10,000 orders

Each order has two lines, a full receiver phone (encrypted + hashed) and a buyer id; batches of
1,000 orders, one transaction each. store_records writes the order, its lines, its buyer
identity and link, and two outbox events (order.created, order.paid).

Baseline, measured in the same run on the same (emptied) tables: psycopg `cursor.copy` of
those same rows, prepared in memory beforehand, also one transaction per 1,000 orders. The
ratio says how far the full path (mapping to rows, reading the stored state, deciding,
encrypting, upserting, events) is from the raw write limit of the database.

A scratch database is created on the server (HAINA_BENCH_PG_ADMIN_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres), migrated, and dropped at the end.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from _common import scratch_database
from sqlalchemy import text

from haina.core.database import Database, new_id
from haina.core.settings import Settings
from haina.core.tenancy.service import get_or_create_tenant
from haina.customers.service import store_records
from haina.platforms.canonical import Address, BuyerIdentity, Order, OrderLine

BATCH = 1_000
T0 = datetime(2026, 11, 1, tzinfo=UTC)
TABLES = ("order_buyers", "order_lines", "orders", "buyer_identities", "outbox_events")


def make_batch(start: int, size: int) -> list[Order]:
    orders = []
    for index in range(start, start + size):
        created = T0 + timedelta(seconds=index)
        orders.append(
            Order(
                platform="youzan",
                shop_id="S1",
                external_id=f"E{index:09d}",
                status="paid",
                platform_status="WAIT_SELLER_SEND_GOODS",
                total_fen=19_900 + index % 1000,
                discount_fen=1_000,
                freight_fen=0,
                paid_fen=18_900 + index % 1000,
                created_at=created,
                modified_at=created + timedelta(minutes=1),
                paid_at=created + timedelta(minutes=1),
                buyer=[BuyerIdentity("youzan", "buyer_id", f"B{index:09d}", shop_id="S1")],
                buyer_nick=f"买家{index}",
                receiver_name="张三",
                receiver_phone=f"139{index % 10**8:08d}",
                receiver_address=Address("浙江省", "杭州市", "西湖区", f"文三路 {index % 500} 号"),
                lines=[
                    OrderLine(f"L{index}-1", "SKU-1", "保温杯 500ml", 1, 12_900),
                    OrderLine(f"L{index}-2", "SKU-2", "杯套", 2, 3_500),
                ],
            )
        )
    return orders


def batches(total: int) -> Iterator[list[Order]]:
    for start in range(0, total, BATCH):
        yield make_batch(start, min(BATCH, total - start))


def copy_rows(tenant_id: str, orders: list[Order]) -> dict[str, list[tuple[Any, ...]]]:
    """The rows store_records writes for these orders, as plain tuples (ciphertexts as stand-ins)."""
    now = datetime.now(UTC)
    cipher_stand_in = "v1." + base64.urlsafe_b64encode(os.urandom(12 + 11 + 16)).decode()
    hash_stand_in = "0" * 64
    rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in TABLES}
    for order in orders:
        order_id = new_id()
        identity_id = new_id()
        address = order.receiver_address
        rows["orders"].append(
            (
                order_id,
                tenant_id,
                order.platform,
                order.shop_id,
                order.external_id,
                order.status,
                order.platform_status,
                order.total_fen,
                order.discount_fen,
                order.freight_fen,
                order.paid_fen,
                order.buyer_nick,
                order.receiver_name,
                cipher_stand_in,
                hash_stand_in,
                "139****0000",
                address.province,
                address.city,
                address.district,
                address.street,
                "[]",
                order.created_at,
                order.paid_at,
                order.shipped_at,
                order.finished_at,
                order.modified_at,
                order.version,
                "0" * 32,
                "bench",
                now,
            )
        )
        for position, line in enumerate(order.lines):
            rows["order_lines"].append(
                (
                    order_id,
                    position,
                    tenant_id,
                    line.external_id,
                    line.sku_id,
                    line.outer_sku,
                    line.title,
                    line.quantity,
                    line.unit_price_fen,
                )
            )
        identity = order.buyer[0]
        rows["buyer_identities"].append(
            (
                identity_id,
                tenant_id,
                identity.platform,
                identity.kind,
                identity.value,
                None,
                False,
                "S1",
                None,
                now,
            )
        )
        rows["order_buyers"].append((order_id, identity_id, tenant_id))
        payload = json.dumps({"order_id": order_id, "platform": order.platform, "status": order.status})
        for event_type in ("order.created", "order.paid"):
            rows["outbox_events"].append((tenant_id, new_id(), event_type, payload, now))
    return rows


ORDER_COLUMNS = (
    "id, tenant_id, platform, shop_id, external_id, status, platform_status, total_fen, discount_fen,"
    " freight_fen, paid_fen, buyer_nick, receiver_name, receiver_phone_encrypted, receiver_phone_hash,"
    " receiver_phone_masked, receiver_province, receiver_city, receiver_district, receiver_street,"
    " coupon_ids, created_at, paid_at, shipped_at, finished_at, modified_at, version, fingerprint,"
    " source, synced_at"
)
COPY_COLUMNS = {
    "orders": ORDER_COLUMNS,
    "order_lines": (
        "order_id, position, tenant_id, external_id, sku_id, outer_sku, title, quantity, unit_price_fen"
    ),
    "buyer_identities": (
        "id, tenant_id, platform, kind, value, value_encrypted, is_masked, shop_id, customer_id, created_at"
    ),
    "order_buyers": "order_id, buyer_identity_id, tenant_id",
    "outbox_events": "tenant_id, uuid, type, payload, created_at",
}


def run_copy(url: str, tenant_id: str, total: int) -> tuple[float, dict[str, int]]:
    import psycopg

    counts = dict.fromkeys(TABLES, 0)
    elapsed = 0.0
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        for orders in batches(total):
            rows = copy_rows(tenant_id, orders)
            started = time.perf_counter()
            with connection.cursor() as cursor:
                for table in ("orders", "order_lines", "buyer_identities", "order_buyers", "outbox_events"):
                    with cursor.copy(f"COPY {table} ({COPY_COLUMNS[table]}) FROM STDIN") as copy:
                        for row in rows[table]:
                            copy.write_row(row)
                    counts[table] += len(rows[table])
            connection.commit()
            elapsed += time.perf_counter() - started
    return elapsed, counts


def run_store(database: Database, settings: Settings, tenant_id: str, total: int) -> tuple[float, int]:
    elapsed = 0.0
    events = 0
    for orders in batches(total):
        started = time.perf_counter()
        with database.unit_of_work() as session:
            result = store_records(session, tenant_id, orders, settings=settings, source="bench")
        elapsed += time.perf_counter() - started
        assert result["order"].inserted == len(orders), result.as_dict()
        events += result.events
    return elapsed, events


def table_counts(database: Database) -> dict[str, int]:
    with database.engine.connect() as connection:
        return {table: int(connection.scalar(text(f"SELECT COUNT(*) FROM {table}")) or 0) for table in TABLES}


def empty(database: Database) -> None:
    with database.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="10,000 orders")
    args = parser.parse_args()
    total = 10_000 if args.quick else args.orders

    with scratch_database() as (url, settings, database):
        with database.unit_of_work() as session:
            tenant_id = get_or_create_tenant(session, "bench", "压测商户").id

        copy_seconds, copied = run_copy(url, tenant_id, total)
        empty(database)
        store_seconds, events = run_store(database, settings, tenant_id, total)
        stored = table_counts(database)

    print(f"orders            {total:>12,}  (batches of {BATCH:,}, 2 lines each)")
    print(f"{'table':<18}{'copied':>12}{'stored':>12}")
    for table in TABLES:
        print(f"{table:<18}{copied[table]:>12,}{stored[table]:>12,}")
    print(f"events emitted    {events:>12,}")
    print(f"raw COPY          {copy_seconds:>12.2f} s")
    print(f"store_records     {store_seconds:>12.2f} s")
    print(f"figure: ingest.store_orders_per_s {total / store_seconds:.0f} orders/s")
    print(f"figure: ingest.copy_orders_per_s {total / copy_seconds:.0f} orders/s")
    print(f"figure: ingest.store_ratio_to_copy {store_seconds / copy_seconds:.2f} x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
