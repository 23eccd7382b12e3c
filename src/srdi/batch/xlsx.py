"""The XLSX output: results, errors and summary sheets (with a bar chart), written atomically."""
from __future__ import annotations

from pathlib import Path

import polars as pl

from . import io
from .summary import OUTCOME, SIZE_ZH, TIER_EN, TIER_ZH, header_zh

XLSX_MAX_ROWS = 1_048_575


def _rows(parquet: Path, chunk: int = 100_000):
    for df in pl.scan_parquet(parquet).collect_batches(chunk_size=chunk):
        yield from df.iter_rows()


def write_xlsx(output_path, results_parquet: Path, errors_parquet: Path, summary, counts: dict, lang: str) -> str | None:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference

    zh = lang == "zh"
    tmp, commit = io.atomic_target(output_path)
    wb = Workbook(write_only=True)
    cols = pl.scan_parquet(results_parquet).collect_schema().names()
    heads = [header_zh(c) if zh else c for c in cols]
    words = OUTCOME[lang]
    outcome_idx = [i for i, c in enumerate(cols) if c.endswith(".outcome")]
    size_idx = cols.index("size_class") if "size_class" in cols else None
    sheet_no, ws, n = 1, None, XLSX_MAX_ROWS
    for r in _rows(results_parquet):
        if n >= XLSX_MAX_ROWS:
            ws = wb.create_sheet("results" if sheet_no == 1 else f"results_{sheet_no}")
            ws.append(heads)
            sheet_no, n = sheet_no + 1, 0
        r = list(r)
        if zh:
            for i in outcome_idx:
                r[i] = words.get(r[i], r[i])
            if size_idx is not None and r[size_idx]:
                r[size_idx] = SIZE_ZH.get(r[size_idx], r[size_idx])
        ws.append(r)
        n += 1
    if ws is None:
        ws = wb.create_sheet("results")
        ws.append(heads)
    # errors
    es = wb.create_sheet("errors")
    es.append(["row", "field", "path", "value", "problem"] if not zh else ["行号(row)", "字段(field)", "路径(path)", "值(value)", "问题(problem)"])
    errors_file = None
    n_err = 0
    if errors_parquet.exists():
        for r in _rows(errors_parquet):
            if n_err >= XLSX_MAX_ROWS - 1:
                break
            es.append(list(r))
            n_err += 1
        if counts.get("errors", 0) > n_err:  # more bad cells than a sheet holds: all of them beside
            side = Path(output_path).with_name(Path(output_path).stem + ".errors.parquet")
            t2, c2 = io.atomic_target(side)
            Path(t2).write_bytes(Path(errors_parquet).read_bytes())
            c2()
            errors_file = str(side)
    # summary
    ss = wb.create_sheet("summary")
    tn = TIER_ZH if zh else TIER_EN
    ss.append(["汇总" if zh else "Summary"])
    ss.append(["评价基准日" if zh else "as of", counts.get("as_of"), "模式" if zh else "mode", counts.get("mode")])
    ss.append(["总行数" if zh else "rows", counts["rows"], "错误单元格" if zh else "bad cells", counts["errors"],
               "含错误的行" if zh else "rows with errors", counts["rows_with_errors"]])
    ss.append([])
    head = ["层级" if zh else "tier", words["pass"], words["fail"], words["undetermined"]]
    ss.append(head)
    first = 6
    t = summary.wide("tier")
    for r in t.iter_rows(named=True):
        ss.append([tn.get(r["tier"], r["tier"]), r["pass"], r["fail"], r["undetermined"]])
    last = first + t.height - 1
    if t.height:
        ch = BarChart()
        ch.type = "col"
        ch.grouping = "stacked"
        ch.overlap = 100
        ch.title = "各层级评价结果" if zh else "Outcomes by tier"
        data = Reference(ss, min_col=2, max_col=4, min_row=first - 1, max_row=last)
        cats = Reference(ss, min_col=1, min_row=first, max_row=last)
        ch.add_data(data, titles_from_data=True)
        ch.set_categories(cats)
        ch.height, ch.width = 8, 16
        ss.add_chart(ch, "G2")
    for key, label in (("province", "按省份" if zh else "By province"), ("industry", "按行业门类" if zh else "By industry section")):
        ss.append([])
        ss.append([label])
        w = summary.wide(key)
        ss.append([("省份" if zh else "province") if key == "province" else ("行业门类" if zh else "section"),
                   "层级" if zh else "tier", words["pass"], words["fail"], words["undetermined"]])
        names = _province_names(zh) if key == "province" else {}
        for r in w.iter_rows():
            r = list(r)
            r[0] = names.get(r[0], r[0])
            r[1] = tn.get(r[1], r[1])
            ss.append(r)
    wb.save(tmp)
    commit()
    return errors_file


def _province_names(zh: bool) -> dict:
    from ..profile.codes import PROVINCES

    return {k: (v[0] if zh else v[1]) for k, v in PROVINCES.items()}
