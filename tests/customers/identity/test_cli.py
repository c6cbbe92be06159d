"""`haina oneid rebuild` against a real database and `haina oneid link` on a CSV file."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from haina.cli import app as cli
from haina.core.database import Database
from haina.core.settings import Settings, reset_settings
from tests.customers.identity.builders import contact, order, store
from tests.factories import TenantFixture

runner = CliRunner()


@pytest.fixture
def cli_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("HAINA_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("HAINA_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HAINA_ENCRYPTION_KEYS", settings.encryption_keys)
    monkeypatch.setenv("HAINA_SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("HAINA_HASH_KEY", settings.hash_key)
    reset_settings()
    yield settings
    reset_settings()


def test_rebuild_one_tenant_then_again_changes_nothing(
    database: Database, cli_settings: Settings, tenant: TenantFixture
) -> None:
    store(
        database,
        cli_settings,
        tenant.id,
        [
            order("YZ-1", buyer_id="yz-chen", unionid="union-chen", phone="13812345678", name="陈晓"),
            contact("wm-chen", unionid="union-chen", remark="陈晓"),
            order("JD-1", platform="jd", shop_id="J1", buyer_id="jd-li", phone="13700002222", name="李雷"),
        ],
    )
    first = runner.invoke(cli, ["oneid", "rebuild", "--tenant", tenant.slug, "--json"])
    assert first.exit_code == 0, first.output
    figures = json.loads(first.output.strip().splitlines()[-1])
    assert figures["tenant"] == tenant.slug and figures["customers_created"] == 2 and figures["orders"] == 2
    again = runner.invoke(cli, ["oneid", "rebuild", "--tenant", tenant.slug])
    assert again.exit_code == 0 and "0 new, 0 merges, 0 splits" in again.output
    everyone = runner.invoke(cli, ["oneid", "rebuild"])
    assert everyone.exit_code == 0 and tenant.slug in everyone.output
    unknown = runner.invoke(cli, ["oneid", "rebuild", "--tenant", "no-such-tenant"])
    assert unknown.exit_code == 1


def test_link_a_csv(tmp_path: Path) -> None:
    pytest.importorskip("haina.customers.matching.csvlink")
    source = tmp_path / "customers.csv"
    source.write_text(
        "record_id,source,name,phone,city\n"
        "r1,pos,陈晓明,13812345678,上海市\n"
        "r2,youzan,陈晓明,13812345678,上海市\n"
        "r3,jd,周杰,13600009999,北京市\n",
        encoding="utf-8",
    )
    target = tmp_path / "clusters.csv"
    result = runner.invoke(cli, ["oneid", "link", str(source), "-o", str(target)])
    assert result.exit_code == 0, result.output
    with open(target, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["record_id"] for row in rows] == ["r1", "r2", "r3"]
    assert len({row["cluster_id"] for row in rows}) in (2, 3)
    missing = runner.invoke(cli, ["oneid", "link", str(tmp_path / "nope.csv"), "-o", str(target)])
    assert missing.exit_code == 2
