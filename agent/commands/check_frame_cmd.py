"""``kitchen-agent check-frame``: judge still images with the agent's quality checks.

For technicians and scripts: point it at snapshots (and optionally the camera's reference
frame) and get the same verdict the daemon would reach for one sample.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.cli_support import CONFIG_ENV, DEFAULT_CONFIG_PATH, add_json_flag, emit, table
from agent.errors import UsageError

if TYPE_CHECKING:
    from agent.capture.quality import Frame
    from agent.config.quality import QualityConfig


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check-frame",
        help="judge image files for video quality problems (dark, blur, occlusion...)",
        description="Judge each IMAGE with the video quality checks. Exit 0 when no issue "
        "was found, 1 when any was. With --reference, REF is the camera's enrolled view "
        "(relative checks, occlusion and scene change use it). Without one, what a single "
        "picture shows but cannot settle (a featureless area that may be a cover or a "
        "smooth surface, a soft picture, faint bands or a sharp periodic pattern) is listed "
        "as 'cannot judge without a reference' rather than guessed. With --sequence, the "
        "images are consecutive samples of one camera (frozen picture, a shaking mount); "
        "without --reference, samples of a still view also tell fine texture filling the "
        "view from noise (noise over time under the threshold withdraws `noisy`) and "
        "flicker from the scene's own pattern (bands that moved between samples are "
        "`stripes`).",
    )
    add_json_flag(parser)
    parser.add_argument(
        "--reference",
        metavar="REF",
        type=Path,
        default=None,
        help="the camera's reference frame (its view at enrolment)",
    )
    parser.add_argument(
        "--sequence",
        action="store_true",
        help="the images are consecutive samples of one camera (detects a frozen picture "
        "and jitter; without --reference, measures the noise over time and the bands "
        "that moved between samples)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"read thresholds from this config's quality section (default: ${CONFIG_ENV}, "
        f"else {DEFAULT_CONFIG_PATH} when it exists, else built-in defaults)",
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", type=Path, help="image files")
    parser.set_defaults(handler=check_frame)


def _settings(args: argparse.Namespace) -> QualityConfig:
    from agent.config import load_config
    from agent.config.quality import QualityConfig

    explicit: Path | None = args.config
    if explicit is None and os.environ.get(CONFIG_ENV):
        explicit = Path(os.environ[CONFIG_ENV])
    if explicit is not None:
        return load_config(explicit).quality
    if DEFAULT_CONFIG_PATH.is_file():
        return load_config(DEFAULT_CONFIG_PATH).quality
    return QualityConfig()


def _metrics_out(metrics: dict[str, float | None]) -> dict[str, float | None]:
    return {k: (None if v is None else round(float(v), 4)) for k, v in metrics.items()}


def check_frame(args: argparse.Namespace) -> int:
    from agent.capture.decode import read_image_file
    from agent.capture.quality import (
        analyse,
        check_sequence,
        make_reference,
        noise_in_time,
        prepare,
        settle_noise,
    )
    from agent.model import worst_verdict

    if args.sequence and len(args.images) < 2:
        raise UsageError("--sequence needs at least two images")
    settings = _settings(args)
    width = settings.analysis_width

    def load(path: Path) -> Frame:
        return prepare(read_image_file(path, width), width)  # FrameUnavailable: exit 1

    reference = make_reference(load(args.reference)) if args.reference is not None else None
    prepared = [load(path) for path in args.images]
    # Without a reference, samples of one still view settle what one frame cannot: fine
    # texture from sensor noise (with one, noise is judged as a rise over its noise).
    noise = noise_in_time(prepared) if args.sequence and reference is None else None
    frames_out: list[dict[str, Any]] = []
    raised = []
    withdrawn: set[str] = set()
    for path, current in zip(args.images, prepared, strict=True):
        report = analyse(current, settings, reference)
        issues = settle_noise(report.issues, noise, settings)
        withdrawn |= {issue.code for issue in report.issues} - {issue.code for issue in issues}
        raised.append(issues)
        frames_out.append(
            {
                "image": str(path),
                "verdict": worst_verdict(issues),
                "issues": [issue.to_json() for issue in issues],
                "cannot_judge": [item.to_json() for item in report.undecided],
                "metrics": _metrics_out(report.metrics),
            }
        )
    sequence_issues = (
        [issue.to_json() for issue in check_sequence(prepared, settings, raised)]
        if args.sequence
        else []
    )
    found = bool(sequence_issues) or any(out["issues"] for out in frames_out)
    sequence: dict[str, Any] = {"issues": sequence_issues}
    if args.sequence:
        sequence["noise_over_time"] = None if noise is None else round(noise, 4)
        sequence["withdrawn"] = sorted(withdrawn)
    payload = {"frames": frames_out, "sequence": sequence}
    rows = []
    for out in frames_out:
        issues_text = ", ".join(
            f"{i['code']}({i['severity']} {i['value']:g} vs {i['threshold']:g})"
            for i in out["issues"]
        )
        rows.append((out["image"], out["verdict"], issues_text or "-"))
    human = table(("IMAGE", "VERDICT", "ISSUES"), rows)
    for out in frames_out:
        for item in out["cannot_judge"]:
            human += f"\n{out['image']}: {item['code']}? {item['reason']}"
    if args.sequence:
        seq = ", ".join(f"{i['code']}({i['severity']})" for i in sequence_issues) or "-"
        human += f"\nsequence: {seq}"
        if withdrawn:
            human += (
                f"\nsequence: noise over time {noise:.1f} grey levels: what one frame read "
                f"as noise is in every sample alike, fine texture ({', '.join(sorted(withdrawn))} "
                "withdrawn)"
            )
    emit(args, payload, human)
    return 1 if found else 0
