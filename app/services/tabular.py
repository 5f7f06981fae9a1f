"""Spreadsheet exports (CSV and XLSX) that a spreadsheet program opens as data, never as formulas.

A cell a user typed, such as a CI name or form text starting with "=", would otherwise run as a formula when
the file is opened (CSV/formula injection). XLSX cells are written as text; in CSV, where a program guesses,
such a text gets a leading apostrophe (OWASP's advice), which spreadsheets show as the text itself.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """The value as a CSV cell: a text that a spreadsheet would read as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def from_csv_cell(value: str) -> str:
    """Undo csv_cell on a value read back from a CSV this application wrote."""
    if value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """UTF-8 CSV with a byte order mark (so Excel reads Chinese correctly), formulas neutralised."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows([csv_cell(v) for v in row] for row in rows)
    return buf.getvalue().encode("utf-8-sig")


def xlsx_bytes(sheet: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """One-sheet workbook; every text is stored as text (openpyxl would store "=..." as a formula)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)

    def cell(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        out = WriteOnlyCell(ws, value=value)
        out.data_type = "s"
        return out

    ws.append(list(header))
    for row in rows:
        ws.append([cell(v) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
