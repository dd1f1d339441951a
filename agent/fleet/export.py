"""The report as files: CSV (UTF-8 with BOM, so Excel opens the Chinese right), XLSX
(openpyxl; one annex-3 sheet and one annex-4 sheet per district, plus a summary) and a
self-contained HTML page (inline CSS and SVG, no script, nothing fetched)."""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path
from typing import Any

from agent.fleet.contract import atomic_write_bytes, atomic_write_text
from agent.fleet.report import (
    ANNEX3_ROWS,
    ANNEX3_TITLE,
    ANNEX4_HEADINGS,
    ANNEX4_TITLE,
    FUNDING_LABEL,
    PROBLEMS_LABEL,
    DistrictLine,
    Report,
)

SUMMARY_HEADINGS = (
    "序号",
    "行政区",
    "上报单位",
    "上报日期",
    "目标（户）",
    "示范店选点完成数量（户）",
    "示范店视频安装完成数量（户）",
    "示范店视频对接第三方平台数量（户）",
    "示范店完成建设数量（户）",
    FUNDING_LABEL,
    PROBLEMS_LABEL,
)


def _rate(count: int, target: int | None) -> str:
    return f"{count / target * 100:.1f}%" if target else ""


def annex3_form(report: Report, district: DistrictLine) -> list[list[Any]]:
    """Annex 3 of one district as the programme's form lays it out."""
    rows: list[list[Any]] = [
        [f"{ANNEX3_TITLE}（{report.month.label}）"],
        ["上报单位：", report.reporting_unit(district), "统计员：", "", "电话：", ""],
        ["上报日期：", report.report_date()],
        ["项目", "数量", "目标", "完成率"],
    ]
    for key, label in ANNEX3_ROWS:
        count = district.counts[key]
        rows.append([label, count, district.target, _rate(count, district.target)])
    rows.append([FUNDING_LABEL, ""])
    rows.append([PROBLEMS_LABEL, report.problems_text(district)])
    return rows


def summary_rows(report: Report) -> list[list[Any]]:
    return [
        [
            d.seq,
            d.name_zh,
            report.reporting_unit(d),
            report.report_date(),
            d.target,
            d.counts["selected"],
            d.counts["installed"],
            d.counts["connected"],
            d.counts["completed"],
            "",
            report.problems_text(d),
        ]
        for d in report.districts
    ]


def annex4_rows(report: Report, district: DistrictLine) -> list[list[Any]]:
    return [report.annex4_row(store) for store in report.stores_of(district)]


# --- CSV ---------------------------------------------------------------------------------


def _csv_bytes(rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow(["" if cell is None else cell for cell in row])
    return buffer.getvalue().encode("utf-8-sig")


def write_csv(report: Report, directory: Path) -> list[Path]:
    """``annex3-all.csv`` (every district in one table), and per district
    ``annex3-<slug>.csv`` (the form) and ``annex4-<slug>.csv`` (its stores)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    summary = directory / "annex3-all.csv"
    atomic_write_bytes(summary, _csv_bytes([list(SUMMARY_HEADINGS), *summary_rows(report)]))
    written.append(summary)
    for district in report.districts:
        form = directory / f"annex3-{district.slug}.csv"
        atomic_write_bytes(form, _csv_bytes(annex3_form(report, district)))
        stores = directory / f"annex4-{district.slug}.csv"
        atomic_write_bytes(
            stores, _csv_bytes([list(ANNEX4_HEADINGS), *annex4_rows(report, district)])
        )
        written += [form, stores]
    return written


# --- XLSX ----------------------------------------------------------------------------------


def sheet_name(text: str) -> str:
    cleaned = "".join("_" if ch in "[]:*?/\\" else ch for ch in text)
    return cleaned[:31]


def write_xlsx(report: Report, path: Path) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = "汇总"
    summary.append([f"{ANNEX3_TITLE}（{report.month.label}）汇总"])
    summary["A1"].font = Font(bold=True, size=14)
    summary.append(list(SUMMARY_HEADINGS))
    for cell in summary[2]:
        cell.font = bold
    for values in summary_rows(report):
        summary.append(values)
    for index, width in enumerate((6, 10, 24, 12, 10, 14, 14, 18, 14, 16, 60), start=1):
        summary.column_dimensions[get_column_letter(index)].width = width
    for row in summary.iter_rows(min_row=3):
        row[-1].alignment = wrap

    for district in report.districts:
        form = book.create_sheet(sheet_name(f"{district.name_zh} 附件3"))
        for values in annex3_form(report, district):
            form.append(values)
        form["A1"].font = Font(bold=True, size=14)
        for cell in form[4]:
            cell.font = bold
        form.column_dimensions["A"].width = 36
        form.column_dimensions["B"].width = 60
        form.cell(row=form.max_row, column=2).alignment = wrap

        stores = book.create_sheet(sheet_name(f"{district.name_zh} 附件4"))
        stores.append([f"{ANNEX4_TITLE}（{district.name_zh}，{report.month.label}）"])
        stores["A1"].font = Font(bold=True, size=14)
        stores.append(list(ANNEX4_HEADINGS))
        for cell in stores[2]:
            cell.font = bold
        for values in annex4_rows(report, district):
            stores.append(values)
        for index, width in enumerate((6, 24, 36, 20, 10, 12, 10, 8, 12, 18, 16), start=1):
            stores.column_dimensions[get_column_letter(index)].width = width
        stores.freeze_panes = "A3"
    buffer = io.BytesIO()
    book.save(buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path


# --- HTML ----------------------------------------------------------------------------------

_CSS = """
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","WenQuanYi Micro Hei",sans-serif;
margin:0;padding:12px;color:#1d2330;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:17px;margin:24px 0 8px}
h3{font-size:15px;margin:16px 0 6px}.meta{color:#5b6475;font-size:13px}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;font-size:13px;margin:4px 0 12px}
th,td{border:1px solid #c9cfda;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#eef1f6;white-space:nowrap}td.num{text-align:right}
.annex3 td,.problems{white-space:pre-line;max-width:40em}
.off{color:#b3261e;font-weight:600}.on{color:#1b6e3a}
svg text{font-size:12px;fill:#1d2330}
.legend span{display:inline-block;margin-right:10px;font-size:12px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}
"""
_BAR_COLOURS = {
    "selected": "#c6d8f5",
    "installed": "#8db4ec",
    "connected": "#4a86d8",
    "completed": "#1f4f99",
}
_BAR_LABELS = {
    "selected": "选点",
    "installed": "视频安装",
    "connected": "视频对接",
    "completed": "完成建设",
}


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def progress_chart(report: Report) -> str:
    """An inline SVG: per district, nested bars (selected ⊇ installed ⊇ connected ⊇
    completed) against a target mark."""
    label_w, bar_w, row_h, right_w = 64, 240, 26, 96
    rows = report.districts
    scale = max([d.target or 0 for d in rows] + [d.counts["selected"] for d in rows] + [1])
    height = row_h * len(rows) + 8
    width = label_w + bar_w + right_w
    parts = [
        f'<svg id="progress-chart" role="img" aria-label="各区建设进度与目标" '
        f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width * 2}px" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    for index, district in enumerate(rows):
        y = 4 + index * row_h
        parts.append(
            f'<g class="district" data-district="{_e(district.slug)}">'
            f'<text x="0" y="{y + 16}">{_e(district.name_zh)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{bar_w}" height="{row_h - 8}" '
            f'fill="#f4f6fa"/>'
        )
        for key, colour in _BAR_COLOURS.items():
            value = district.counts[key]
            length = bar_w * value / scale
            parts.append(
                f'<rect class="bar {key}" data-value="{value}" x="{label_w}" y="{y + 3}" '
                f'width="{length:.1f}" height="{row_h - 8}" fill="{colour}">'
                f"<title>{_e(district.name_zh)} {_BAR_LABELS[key]} {value}</title></rect>"
            )
        if district.target:
            x = label_w + bar_w * district.target / scale
            parts.append(
                f'<line class="target" data-value="{district.target}" x1="{x:.1f}" '
                f'x2="{x:.1f}" y1="{y}" y2="{y + row_h - 2}" stroke="#b3261e" stroke-width="2"/>'
            )
        target = district.target if district.target is not None else "-"
        parts.append(
            f'<text x="{label_w + bar_w + 6}" y="{y + 16}">'
            f"{district.counts['completed']} / {target}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(headings: list[str], rows: list[list[Any]], attrs: str, text_last: bool = False) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headings)
    body = []
    for row in rows:
        cells = []
        for position, cell in enumerate(row):
            cls = ' class="num"' if isinstance(cell, int | float) else ""
            if text_last and position == len(row) - 1:
                cls = ' class="problems"'
            if cell in ("离线", "从未上线"):
                cls = ' class="off"'
            elif cell == "在线":
                cls = ' class="on"'
            cells.append(f"<td{cls}>{_e(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="scroll"><table {attrs}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def render_html(report: Report) -> str:
    zone_note = "可用率：本月在线时长占已观测时长之比" + (
        ""
        if report.availability_known
        else "（本报告直接读取代理的保留消息，未保存历史，可用率未知）"
    )
    legend = (
        "".join(
            f'<span><i style="background:{c}"></i>{_BAR_LABELS[k]}</span>'
            for k, c in _BAR_COLOURS.items()
        )
        + '<span><i style="background:#b3261e;width:3px"></i>目标</span>'
    )
    summary = _table(
        [h for h in SUMMARY_HEADINGS if h not in (FUNDING_LABEL, "上报日期")],
        [[r[0], r[1], r[2], r[4], r[5], r[6], r[7], r[8], r[10]] for r in summary_rows(report)],
        'id="annex3-summary"',
        text_last=True,
    )
    sections = []
    for district in report.districts:
        form_rows = annex3_form(report, district)[3:]
        form = _table(
            [str(c) for c in form_rows[0]],
            [r + [""] * (4 - len(r)) for r in form_rows[1:]],
            f'class="annex3" data-district="{_e(district.slug)}"',
        )
        stores = _table(
            list(ANNEX4_HEADINGS),
            annex4_rows(report, district),
            f'class="annex4" data-district="{_e(district.slug)}"',
        )
        sections.append(
            f'<section id="district-{_e(district.slug)}"><h2>{_e(district.name_zh)}</h2>'
            f'<p class="meta">上报单位：{_e(report.reporting_unit(district))}　'
            f"上报日期：{_e(report.report_date())}</p>"
            f"<h3>附件3 {_e(ANNEX3_TITLE)}</h3>{form}"
            f"<h3>附件4 {_e(ANNEX4_TITLE)}</h3>{stores}</section>"
        )
    title = f"互联网＋明厨亮灶 示范店建设月报 {report.month.label}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1>"
        f'<p class="meta">截至 {_e(report.as_of_text())}　{_e(zone_note)}</p>'
        f'<h2>各区进度</h2><div class="legend">{legend}</div>{progress_chart(report)}'
        f"<h2>附件3 汇总</h2>{summary}" + "".join(sections) + "</body></html>\n"
    )


def write_html(report: Report, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "index.html"
    atomic_write_text(path, render_html(report))
    return path
