"""``kitchen-agent acceptance``: the store's checklist, and whether it is 完成建设."""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

from agent.cli_support import add_config_flag, add_json_flag, config_path, emit, progress, table

MARK = {"ok": "OK", "warn": "WARN", "fail": "FAIL"}
DESCRIPTION = (
    "The store's acceptance checklist, checked now on the real parts: the config; each "
    "enrolled camera (logged into, its picture judged against its reference); every "
    "declared key control point covered by an enrolled camera that is online, passes "
    "quality and still shows its region; each enrolled camera's video at the platform "
    "(the running agent's word, or a short test push of its own when none runs); the "
    "broker reached with the store's credentials and a QoS 1 publish acknowledged.",
    "Prints each item ok/warn/fail with what to do, the construction stage (前期准备 "
    "preparation, 设备安装 equipment_installed, 视频对接 video_connected, 完成建设 "
    "completed) and the store's annex-4 row. Exit 0 only when the store is completed, 1 "
    "otherwise. --json prints one object: stage, stage_zh, checks (name, status, detail, "
    "advice_zh, advice_en), annex4 (单位名称, 地址, 许可证号, 建设进度).",
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "acceptance",
        help="is the store 完成建设? the checklist, each item with what to do",
        description="\n\n".join(textwrap.fill(p, 79) for p in DESCRIPTION),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--timeout", type=float, default=5.0, metavar="S", help="timeout of each network step"
    )
    add_config_flag(parser)
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agent.model import Stage
    from agent.site.acceptance import run_acceptance
    from agent.site.advice import default_language

    result = run_acceptance(config_path(args), progress, args.timeout)
    lang = default_language()
    rows = []
    for check in result.checks:
        detail, advice = check.text(lang)
        rows.append((MARK[check.status], check.name, detail + (f" → {advice}" if advice else "")))
    stage = result.stage
    row = "  ".join(f"{key}: {value or '-'}" for key, value in result.annex4.items())
    human = "\n".join(
        [
            table(("", "check", "detail"), rows),
            "",
            f"建设进度 stage: {stage.name_zh} ({stage.value})",
            f"附件4 annex 4: {row}",
        ]
    )
    emit(args, result.to_json(), human)
    return 0 if stage is Stage.COMPLETED else 1
