"""The demo seed: three live codes with a month of adds, made once however often it runs."""

from __future__ import annotations

from datetime import UTC, datetime

from haina.core import clock
from haina.core.database import Database
from haina.engage.livecodes import demo, service
from tests.factories import TenantFixture


def test_demo_seed_is_idempotent_and_feeds_the_statistics(database: Database, tenant: TenantFixture) -> None:
    clock.freeze(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    try:
        for _ in range(2):
            with database.unit_of_work() as session:
                demo.seed(session, tenant.id, None)
        with database.session_factory() as session:
            codes = service.list_codes(session, tenant.id)
            assert sorted(code.name for code in codes) == sorted(example["name"] for example in demo.EXAMPLES)
            parcel = next(code for code in codes if code.channel == "parcel_card")
            stats = service.stats(session, tenant.id, parcel.id)
            assert stats.total >= 5 * 31 and stats.retention_7 is not None and 0 < stats.retention_7 <= 1
            assert sum(adds for _, adds, _ in stats.per_day) <= stats.total
            counts = service.add_counts(session, tenant.id)
            assert counts[parcel.id][0] == stats.total
    finally:
        clock.freeze(None)
