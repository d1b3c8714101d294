"""Excel 97-2003 (.xls) workbooks for the tests: what many 信访 / 12345 systems still export (xlrd reads them)."""

from __future__ import annotations

import datetime as dt


def write_xls(path, sheets) -> None:
    """One sheet per list of rows (a row: a list of cell values; None leaves a cell empty); datetimes as Excel
    dates."""
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    date = xlwt.easyxf(num_format_str="yyyy-mm-dd hh:mm")
    for n, rows in enumerate(sheets):
        sheet = book.add_sheet(f"Sheet{n + 1}")
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                if isinstance(value, dt.datetime):
                    sheet.write(i, j, value, date)
                elif value is not None:
                    sheet.write(i, j, value)
    book.save(str(path))
