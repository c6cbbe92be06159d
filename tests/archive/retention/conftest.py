"""Retention fixtures: a tenant whose archive holds old and recent messages (see `script`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from haina.archive import service as archive
from tests.archive.conftest import CUSTOMER_A, CUSTOMER_B, ROCKY, TOMMY, actor_of
from tests.archive.retention.helpers import Script, load

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def script() -> Script:
    script = Script()
    # Rocky ↔ A: two old messages (one raises a 投诉 alert), two recent ones (one raises one too).
    script.say(CUSTOMER_A, ROCKY, NOW - timedelta(days=200), "我要投诉，面霜过敏了")
    script.say(ROCKY, CUSTOMER_A, NOW - timedelta(days=100), "非常抱歉，给您退款")
    script.say(CUSTOMER_A, ROCKY, NOW - timedelta(days=89), "再投诉一次，物流太慢")
    script.say(ROCKY, CUSTOMER_A, NOW - timedelta(days=10), "已经帮您催发货")
    # Tommy ↔ B: only old messages, and an image: the whole conversation goes.
    script.say(CUSTOMER_B, TOMMY, NOW - timedelta(days=150), "口红有没有试色")
    script.say(CUSTOMER_B, TOMMY, NOW - timedelta(days=149), "", msgtype="image")
    return script


@pytest.fixture
def archived(database, tenant, sandbox, intake, key_pairs) -> Any:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as session:
        archive.add_rule(session, actor_of(tenant, "owner"), "word", "投诉")
    load(database, tenant, sandbox, intake, key_pairs, script())
    return tenant
