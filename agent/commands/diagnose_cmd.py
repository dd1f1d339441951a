"""``kitchen-agent diagnose``: what is wrong with this box, in one command, with pictures."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path
from typing import Any

from agent.cli_support import add_config_flag, add_json_flag, config_path, emit, progress, table

DESCRIPTION = (
    "Check everything a store depends on, live, each step under a short timeout: network "
    "(interfaces, default route, DNS of the broker and the ingest), time (NTP sync, each "
    "camera's clock), the broker (TCP, TLS, the store's login, a QoS 1 publish timed), "
    "the running agent, every enrolled and discovered camera (reachable, ONVIF login, "
    "profiles, its RTSP stream decoded, its picture judged, each KCP region against the "
    "reference), KCP coverage, the ingest (a 3-second test push, measured), disk, CPU load "
    "and temperature, ffmpeg.",
    "Each check says ok/warn/fail, what it saw and what to do next, in Chinese or English "
    "(--lang; default: the box's locale). Exit 0 when nothing fails, 1 otherwise. "
    "--report DIR writes index.html (one file that works offline on a phone: each "
    "camera's reference beside its live view, regions and issues drawn, then every "
    "check) and report.json.",
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "diagnose",
        help="check the box, network, broker, ingest and every camera live, with pictures",
        description="\n\n".join(textwrap.fill(p, 79) for p in DESCRIPTION),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--timeout", type=float, default=3.0, metavar="S", help="timeout of each network step"
    )
    parser.add_argument(
        "--lang", choices=("zh", "en"), default=None, help="language (default: the locale's)"
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        metavar="DIR",
        help="write index.html and report.json (and the pictures) into DIR",
    )
    add_config_flag(parser)
    add_json_flag(parser)
    parser.set_defaults(handler=run)


MARK = {
    "zh": {"ok": "正常", "warn": "注意", "fail": "故障"},
    "en": {"ok": "OK", "warn": "WARN", "fail": "FAIL"},
}
VERDICT = {"zh": "结论", "en": "verdict"}


def run(args: argparse.Namespace) -> int:
    from agent.site.advice import default_language
    from agent.site.diagnosis import diagnose

    lang = args.lang or default_language()
    result = diagnose(config_path(args), timeout_s=args.timeout, deep=True, show=progress)
    payload = result.to_json()
    payload["lang"] = lang
    rows = []
    for check in result.checks:
        detail, advice = check.text(lang)
        rows.append(
            (MARK[lang][check.status], check.name, detail + (f" → {advice}" if advice else ""))
        )
    human = table(("", "check", "detail"), rows)
    human += f"\n\n{VERDICT[lang]}: {MARK[lang][result.verdict]} ({result.took_s:.1f} s)"
    if args.report is not None:
        from agent.site.report import write_report

        page = write_report(result, args.report, lang)
        payload["report"] = str(page)
        human += f"\nreport: {page}"
    emit(args, payload, human)
    return 1 if result.verdict == "fail" else 0
