"""Files for spreadsheets: text a spreadsheet would run as a formula is quoted, other values are
kept as they are; CSV starts with a BOM (Excel reads Chinese as UTF-8)."""

from __future__ import annotations

from io import BytesIO

from openpyxl import load_workbook

from haina.core.spreadsheets import safe_cell, write_csv, write_xlsx


def test_formula_text_is_quoted_and_the_rest_kept() -> None:
    for text in ("=1+1", "+86 138", "-5", "@SUM(A1)", "\t=x", "\r=x"):
        assert safe_cell(text) == "'" + text
    for value in ("张三", "", 12, None, 3.5, "a=b"):
        assert safe_cell(value) == value


def test_csv_and_xlsx_quote_formulas() -> None:
    rows = [["=cmd|' /C calc'!A0", "王芳", 3]]
    csv_text = write_csv(["名字", "备注", "数量"], rows).decode("utf-8")
    assert csv_text.startswith("\ufeff名字") and "'=cmd|" in csv_text and "王芳" in csv_text
    sheet = load_workbook(BytesIO(write_xlsx(["名字", "备注", "数量"], rows, sheet_name="导出"))).active
    assert sheet.title == "导出"
    assert list(sheet.iter_rows(values_only=True)) == [
        ("名字", "备注", "数量"),
        ("'=cmd|' /C calc'!A0", "王芳", 3),
    ]
