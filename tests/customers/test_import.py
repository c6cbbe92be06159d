"""Importing a customer list (Excel/CSV): the preview of what OneID would merge and the
record_id → cluster_id result, through the API and the console."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from haina.core.audit.models import AuditEntry
from haina.core.database import Database
from haina.customers import importing
from haina.customers.matching import link_csv
from tests.factories import TenantFixture, bearer, token_for
from tests.web.test_console import page_csrf, sign_in

PREVIEW = "/api/v1/customers/import/preview"
RESULT = "/api/v1/customers/import/result"
HEADER = ["record_id", "source", "name", "phone", "address"]
CHINESE_HEADER = ["编号", "来源", "姓名", "手机", "地址"]
# t1 and y1 are one person (a masked and a full phone, traditional characters); p1 and the
# row without an id are other people.
ROWS = [
    ["t1", "taobao", "张伟", "138****5678", "广东省深圳市南山区科技路1号"],
    ["y1", "youzan", "張偉", "+86 13812345678", "广东深圳南山区科技路1号"],
    ["p1", "pos", "李娜", "15900001111", ""],
    ["", "pos", "王芳", "", "浙江杭州西湖区文三路2号"],
]


def csv_bytes(header: list[str], rows: list[list[str]], encoding: str = "utf-8-sig") -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(header: list[str], rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def upload(name: str, content: bytes) -> dict[str, tuple[str, bytes, str]]:
    return {"file": (name, content, "application/octet-stream")}


def headers_for(client: TestClient, tenant: TenantFixture, role: str) -> dict[str, str]:
    return bearer(token_for(client, tenant.usernames[role]))


def assert_one_merge(body: dict) -> None:  # type: ignore[type-arg]
    assert (body["rows"], body["clusters"], body["merged_rows"], body["multi_clusters"]) == (4, 3, 2, 1)
    (cluster,) = body["merge_clusters"]
    assert cluster["cluster_id"] == "t1"
    assert [row["record_id"] for row in cluster["rows"]] == ["t1", "y1"]
    (pair,) = cluster["pairs"]
    assert pair["decision"] == "merge" and pair["probability"] >= 0.99
    assert {item["comparison"] for item in pair["evidence"]} >= {"name", "phone"}
    assert "p1" not in str(body["merge_clusters"])


def test_csv_with_bom_masks_phones_for_a_role_without_pii(
    client: TestClient, database: Database, tenant: TenantFixture
) -> None:
    response = client.post(
        PREVIEW,
        files=upload("客户.csv", csv_bytes(HEADER, ROWS)),
        headers=headers_for(client, tenant, "operator"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert_one_merge(body)
    assert body["phones_masked"] is True
    assert "13812345678" not in response.text and "138****5678" in response.text
    with database.unit_of_work() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "customers.import_previewed")
        ).one()
        assert entry.detail["rows"] == 4 and entry.tenant_id == tenant.id


def test_gb18030_with_chinese_headers_shows_phones_to_the_owner(
    client: TestClient, tenant: TenantFixture
) -> None:
    content = csv_bytes(CHINESE_HEADER, ROWS, encoding="gb18030")
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")
    response = client.post(
        PREVIEW, files=upload("export.csv", content), headers=headers_for(client, tenant, "owner")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert_one_merge(body)
    assert body["phones_masked"] is False
    assert body["merge_clusters"][0]["rows"][1]["phone"] == "+86 13812345678"
    assert body["merge_clusters"][0]["rows"][0]["name"] == "张伟"


def test_xlsx_with_numeric_phones(client: TestClient, tenant: TenantFixture) -> None:
    rows: list[list[object]] = [list(row) for row in ROWS]
    rows[2][3] = 15900001111  # Excel keeps a typed-in phone as a number
    response = client.post(
        PREVIEW,
        files=upload("客户.xlsx", xlsx_bytes(HEADER, rows)),
        headers=headers_for(client, tenant, "operator"),
    )
    assert response.status_code == 200, response.text
    assert_one_merge(response.json())
    records = importing.read_upload("客户.xlsx", xlsx_bytes(HEADER, rows))
    assert records[2]["phone"] == "15900001111" and records[3]["record_id"] == "4"


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.csv", b"nickname,level\nx,1\n", "none of the columns"),
        ("a.csv", b"", "empty"),
        ("a.csv", "record_id,name\n1,甲\n2,乙\n1,丙\n".encode(), "row 4, column record_id"),
        ("a.csv", "编号,手机,phone\n1,138,139\n".encode(), "columns B and C are both 'phone'"),
        ("a.csv", b"record_id,name\n1," + b"x" * 600 + b"\n", "row 2, column name"),
        ("a.xlsx", b"PK\x03\x04 not really a workbook", ".xlsx workbook"),
        ("old.xls", b"\xd0\xcf\x11\xe0 old excel", ".xls"),
        ("a.pdf", b"%PDF-1.4", "unknown file type"),
        ("a.csv", b"name\n\xff\xfe\xfa\x80\x81\n", "encoding"),
    ],
)
def test_bad_files_answer_422_saying_what_to_fix(
    client: TestClient, tenant: TenantFixture, name: str, content: bytes, expected: str
) -> None:
    response = client.post(
        PREVIEW, files=upload(name, content), headers=headers_for(client, tenant, "operator")
    )
    assert response.status_code == 422, response.text
    assert expected in response.json()["error"]["message"]


def test_too_many_rows(client: TestClient, tenant: TenantFixture) -> None:
    header = ["name"]
    allowed = [[f"客户{number}"] for number in range(importing.MAX_ROWS)]
    assert len(importing.records_from_rows([header, *allowed])) == importing.MAX_ROWS
    with pytest.raises(importing.ImportFileError, match="more than 20000 rows"):
        importing.records_from_rows([header, *allowed, ["one more"]])
    content = csv_bytes(header, [*allowed, ["one more"]])
    response = client.post(
        PREVIEW, files=upload("big.csv", content), headers=headers_for(client, tenant, "operator")
    )
    assert response.status_code == 422 and "more than 20000 rows" in response.json()["error"]["message"]


def test_missing_file_and_roles_without_customers_manage(client: TestClient, tenant: TenantFixture) -> None:
    owner = headers_for(client, tenant, "owner")
    assert client.post(PREVIEW, headers=owner).status_code == 422
    for role in ("agent", "finance", "technician"):
        response = client.post(
            PREVIEW, files=upload("a.csv", csv_bytes(HEADER, ROWS)), headers=headers_for(client, tenant, role)
        )
        assert response.status_code == 403, role


def test_result_csv_is_what_haina_oneid_link_writes(
    client: TestClient, tenant: TenantFixture, tmp_path: Path
) -> None:
    content = csv_bytes(HEADER, ROWS, encoding="utf-8")
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_bytes(content)
    link_csv(source, target)
    headers = headers_for(client, tenant, "operator")
    response = client.post(RESULT, files=upload("in.csv", content), headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.content == target.read_bytes()
    assert response.text.splitlines() == ["record_id,cluster_id", "t1,t1", "y1,t1", "p1,p1", "4,4"]
    workbook = client.post(
        RESULT, params={"format": "xlsx"}, files=upload("in.csv", content), headers=headers
    )
    assert workbook.status_code == 200
    sheet = load_workbook(io.BytesIO(workbook.content)).worksheets[0]
    assert [list(row) for row in sheet.iter_rows(values_only=True)][:3] == [
        ["record_id", "cluster_id"],
        ["t1", "t1"],
        ["y1", "t1"],
    ]


def test_console_page_previews_and_downloads(client: TestClient, tenant: TenantFixture) -> None:
    sign_in(client, tenant.usernames["operator"])
    listing = client.get("/customers")
    assert 'href="/customers/import"' in listing.text
    page = client.get("/customers/import")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    token = page_csrf(client, "/customers/import")
    content = csv_bytes(CHINESE_HEADER, ROWS, encoding="gb18030")
    preview = client.post("/customers/import", data={"csrf_token": token}, files=upload("名单.csv", content))
    assert preview.status_code == 200, preview.text
    html = preview.text
    assert 'data-cluster="t1"' in html and 'data-record="y1"' in html
    assert 'data-record="p1"' not in html
    assert "138****5678" in html and "13812345678" not in html
    assert "导入客户" in html and "会被合并的行" in html
    assert re.search(r'href="data:text/csv;charset=utf-8;base64,[A-Za-z0-9+/=]+" download=', html)
    direct = client.post(
        "/customers/import/result", data={"csrf_token": token}, files=upload("名单.csv", content)
    )
    assert direct.status_code == 200 and direct.text.splitlines()[2] == "y1,t1"
    bad = client.post(
        "/customers/import",
        data={"csrf_token": token},
        files=upload("名单.csv", "record_id,name\n1,甲\n1,乙\n".encode()),
    )
    assert bad.status_code == 422 and "第 3 行" in bad.text and 'class="alert alert-error"' in bad.text
    forged = client.post("/customers/import", files=upload("名单.csv", content))
    assert forged.status_code == 403


def test_console_page_is_for_customer_managers(client: TestClient, tenant: TenantFixture) -> None:
    sign_in(client, tenant.usernames["agent"])
    assert client.get("/customers/import").status_code == 403
    assert 'href="/customers/import"' not in client.get("/customers").text
