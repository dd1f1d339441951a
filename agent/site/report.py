"""The technician's report: ``diagnose --report DIR`` writes ``index.html``, ``report.json``
and each camera's pictures.

The page is one file that works offline on a phone: no script, font or image from
anywhere else (pictures are inlined as ``data:`` URIs, the style is inline). Per camera:
its reference beside its live view, each KCP region drawn on both (on the live view where
the reference is found in it, red when out of view), the quality issues written on the
picture; then every check with what to do, in the report's language first.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from agent.persist import PUBLIC_MODE, atomic_write_bytes, atomic_write_text
from agent.site.checks import Check
from agent.site.diagnosis import Diagnosis
from agent.site.look import Look
from agent.site.pictures import Polygon, draw, encode_jpeg, file_name

TITLES = {
    "zh": ("诊断报告", "摄像头", "检查项", "参考画面", "实时画面", "没有画面", "结论", "建议"),
    "en": (
        "Diagnosis report",
        "Cameras",
        "Checks",
        "Reference",
        "Live",
        "No picture",
        "Verdict",
        "What to do",
    ),
}
STATUS = {
    "zh": {"ok": "正常", "warn": "注意", "fail": "故障"},
    "en": {"ok": "OK", "warn": "WARN", "fail": "FAIL"},
}
STYLE = """
body{font-family:"WenQuanYi Micro Hei","Noto Sans CJK SC","PingFang SC",sans-serif;margin:0;
padding:10px;background:#f4f4f4;color:#222;font-size:15px}
h1{font-size:21px;margin:4px 0}h2{font-size:18px;margin:18px 0 6px}h3{font-size:16px;margin:0 0 6px}
.meta{color:#555;font-size:13px}.badge{display:inline-block;padding:1px 8px;border-radius:9px;
color:#fff;font-weight:bold;white-space:nowrap}.ok{background:#2e7d32}.warn{background:#ef6c00}.fail{background:#c62828}
article{background:#fff;border-radius:8px;padding:8px;margin:8px 0;border-left:6px solid #999}
article.ok{border-color:#2e7d32;background:#fff}article.warn{border-color:#ef6c00;background:#fff}
article.fail{border-color:#c62828;background:#fff}
.pair{display:flex;gap:6px}figure{margin:0;flex:1 1 0;min-width:0}
figure img{width:100%;height:auto;display:block;border-radius:4px}
figcaption{font-size:12px;color:#555;text-align:center}.none{background:#ddd;aspect-ratio:16/9;
display:flex;align-items:center;justify-content:center;color:#777;border-radius:4px}
.detail{font-size:13px;color:#333;margin:6px 0 2px}.advice{font-size:14px;margin:2px 0}
.other{font-size:12px;color:#666;margin:0}table{border-collapse:collapse;width:100%;background:#fff}
td{border-top:1px solid #ddd;padding:5px 4px;vertical-align:top;font-size:13px}
"""


def _data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def warp(polygon: Polygon, homography: Sequence[Sequence[float]], size: tuple[int, int]) -> Polygon:
    """A region (fractions of the reference) where the reference lies in the live view."""
    width, height = size
    points = np.array([[[x * width, y * height]] for x, y in polygon], np.float32)
    moved = cv2.perspectiveTransform(points, np.array(homography, np.float64)).reshape(-1, 2)
    return [(float(x) / width, float(y) / height) for x, y in moved]


def camera_pictures(
    look: Look, rois: Mapping[str, Polygon | None]
) -> tuple[bytes | None, bytes | None]:
    """(live JPEG, reference JPEG), each with the regions and issues drawn."""
    live = reference = None
    if look.image is not None:
        placed: dict[str, Polygon | None] = {}
        for kcp, polygon in rois.items():
            if polygon and look.homography is not None and look.reference_size is not None:
                placed[kcp] = warp(polygon, look.homography, look.reference_size)
            else:
                placed[kcp] = polygon
        bad = [k for k, share in look.roi_visible.items() if share is not None and share < 0.6]
        notes = [issue.code for issue in look.issues] + [f"{k} out of view" for k in bad]
        live = encode_jpeg(draw(look.image, placed, notes, bad, width=640))
    if look.reference is not None:
        reference = encode_jpeg(draw(look.reference, rois, width=640))
    return live, reference


def _figure(jpeg: bytes | None, caption: str, empty: str) -> str:
    if jpeg is None:
        body = f'<div class="none">{html.escape(empty)}</div>'
    else:
        body = f'<img src="{_data_uri(jpeg)}" alt="{html.escape(caption)}">'
    return f"<figure>{body}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _advice(check: Check, lang: str) -> str:
    first = check.advice.text(lang)
    other = check.advice.text("en" if lang == "zh" else "zh")
    if not first:
        return ""
    text = f'<p class="advice">→ {html.escape(first)}</p>'
    if other and other != first:
        text += f'<p class="other">{html.escape(other)}</p>'
    return text


def render_html(
    result: Diagnosis, pictures: dict[str, tuple[bytes | None, bytes | None]], lang: str
) -> str:
    title, cams, checks_title, ref_label, live_label, empty, verdict_label, _ = TITLES[lang]
    status_words = STATUS[lang]
    store = result.config.store if result.config is not None else None
    when = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    heading = f"{store.name}（{store.id}）" if store else ""
    parts = [
        "<!doctype html>",
        f'<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)} {html.escape(heading)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">{html.escape(heading)} · {html.escape(when)} · {result.took_s:.1f} s · '
        f'{html.escape(verdict_label)} <span class="badge {result.verdict}">'
        f"{html.escape(status_words[result.verdict])}</span></p>",
    ]
    by_camera = {c.camera: c for c in result.checks if c.name.startswith("camera ") and c.camera}
    if pictures:
        parts.append(f"<h2>{html.escape(cams)}</h2>")
    rank = {"fail": 0, "warn": 1, "ok": 2}

    def first_the_broken(camera_id: str) -> int:
        check = by_camera.get(camera_id)
        return rank[check.status] if check else 1

    for camera_id in sorted(pictures, key=first_the_broken):
        live, reference = pictures[camera_id]
        check = by_camera.get(camera_id)
        status = check.status if check else "warn"
        enrolled = result.enrolled(camera_id)
        name = f" {enrolled.name}" if enrolled and enrolled.name else ""
        kcps = ", ".join(str(a.kcp) for a in enrolled.kcps) if enrolled else "—"
        parts.append(f'<article class="{status}">')
        parts.append(
            f"<h3>{html.escape(camera_id + name)} · {html.escape(kcps)} "
            f'<span class="badge {status}">{html.escape(status_words[status])}</span></h3>'
        )
        parts.append('<div class="pair">')
        parts.append(_figure(reference, ref_label, empty))
        parts.append(_figure(live, live_label, empty))
        parts.append("</div>")
        if check is not None:
            detail, _ = check.text(lang)
            parts.append(f'<p class="detail">{html.escape(detail)}</p>{_advice(check, lang)}')
        parts.append("</article>")
    parts.append(f"<h2>{html.escape(checks_title)}</h2><table>")
    for check in result.checks:
        detail, _ = check.text(lang)
        parts.append(
            f'<tr><td><span class="badge {check.status}">{html.escape(status_words[check.status])}'
            f"</span></td><td><b>{html.escape(check.name)}</b><br>{html.escape(detail)}"
            f"{_advice(check, lang)}</td></tr>"
        )
    parts.append("</table></body></html>")
    return "\n".join(parts)


def write_report(result: Diagnosis, directory: Path, lang: str) -> Path:
    """``index.html``, ``report.json`` and ``cameras/*.jpg`` under ``directory``."""
    from agent.site.kitchen_checks import enrolled_rois

    rois = enrolled_rois(result.config) if result.config is not None else {}
    pictures: dict[str, tuple[bytes | None, bytes | None]] = {}
    cameras: list[dict[str, Any]] = []
    for camera in result.cameras:
        look = result.looks.get(camera.id)
        regions = rois.get(camera.id, {})
        live, reference = camera_pictures(look, regions) if look is not None else (None, None)
        pictures[camera.id] = (live, reference)
        files: dict[str, str | None] = {}
        for kind, jpeg in (("live", live), ("reference", reference)):
            relative = f"cameras/{file_name(camera.id)}-{kind}.jpg"
            if jpeg is not None:
                atomic_write_bytes(directory / relative, jpeg, mode=PUBLIC_MODE)
            files[kind] = relative if jpeg is not None else None
        cameras.append(
            {
                "id": camera.id,
                "address": camera.address,
                "enrolled": result.enrolled(camera.id) is not None,
                "verdict": look.verdict.value if look is not None else None,
                "issues": [issue.to_json() for issue in look.issues] if look else [],
                "roi_visible": look.roi_visible if look else {},
                "stream": look.stream[1] if look is not None and look.stream else None,
                "pictures": files,
            }
        )
    payload = {**result.to_json(), "lang": lang, "cameras": cameras}
    # A report is sent on (a phone, a chat): readable by whoever gets it.
    report = json.dumps(payload, ensure_ascii=False, indent=2) + "\n"
    atomic_write_text(directory / "report.json", report, mode=PUBLIC_MODE)
    page = directory / "index.html"
    atomic_write_text(page, render_html(result, pictures, lang), mode=PUBLIC_MODE)
    return page
