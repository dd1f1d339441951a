"""``kitchen-agent reference``: the enrolled reference views of the cameras.

Each enrolled camera's first usable picture becomes its reference: the view the relative
quality checks, occlusion, scene change and the KCP regions are judged against. An
installer who re-aims a camera on purpose resets its reference here; the running daemon
notices at the camera's next sample and enrols the view it sees then.
"""

from __future__ import annotations

import argparse
from typing import Any

from agent.cli_support import add_config_flag, add_json_flag, config_path, emit, table
from agent.errors import UnavailableError, UsageError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "reference",
        help="list or reset the cameras' enrolled reference views",
        description="The reference view of each enrolled camera (its picture at enrolment), "
        "kept in the state directory.",
    )
    actions = parser.add_subparsers(dest="reference_command", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list",
        help="every enrolled camera and its reference: when, from what size, which picture",
        description="Every enrolled camera and its reference (or that it has none yet). "
        "The picture's path can be given to check-frame --reference.",
    )
    add_config_flag(listing)
    add_json_flag(listing)
    listing.set_defaults(handler=run_list)
    reset = actions.add_parser(
        "reset",
        help="forget references so the daemon enrols the current views",
        description="Forget the reference of each CAMERA (or of every enrolled camera with "
        "--all), after re-aiming it on purpose. The running daemon enrols the view it sees "
        "at the camera's next usable sample (within quality.interval_s) and reports "
        "quality_reference_reset and quality_reference_enrolled events. Region-of-interest "
        "polygons are drawn on the reference: check them against the new view.",
    )
    reset.add_argument("cameras", nargs="*", metavar="CAMERA", help="enrolled camera ids")
    reset.add_argument("--all", action="store_true", help="every enrolled camera")
    add_config_flag(reset)
    add_json_flag(reset)
    reset.set_defaults(handler=run_reset)


def _when(seconds: object) -> str | None:
    from agent.uplink.messages import from_epoch

    if not isinstance(seconds, int | float):
        return None
    return from_epoch(seconds).isoformat(timespec="seconds")


def run_list(args: argparse.Namespace) -> int:
    from agent.capture.reference import ReferenceStore
    from agent.config import load_config

    config = load_config(config_path(args))
    stored = {e["camera_id"]: e for e in ReferenceStore(config.paths.state_dir).entries()}
    cameras: list[dict[str, Any]] = []
    for camera in config.cameras.enrolled:
        entry = stored.get(camera.id)
        cameras.append(
            {
                "camera_id": camera.id,
                "kcps": [str(assignment.kcp) for assignment in camera.kcps],
                "enrolled_at": _when(entry.get("captured_at")) if entry else None,
                "source_size": entry.get("source_size") if entry else None,
                "features": entry.get("features") if entry else None,
                "image": entry.get("image") if entry else None,
            }
        )
    rows = [
        (
            c["camera_id"],
            ",".join(c["kcps"]) or "-",
            c["enrolled_at"] or "none yet (enrolled at the next usable sample)",
            "x".join(str(v) for v in c["source_size"]) if c["source_size"] else "-",
            c["image"] or "-",
        )
        for c in cameras
    ]
    human = table(("CAMERA", "KCPS", "ENROLLED", "FROM", "PICTURE"), rows)
    emit(args, {"cameras": cameras}, human)
    return 0


def run_reset(args: argparse.Namespace) -> int:
    from agent.capture.reference import ReferenceStore
    from agent.config import load_config

    if bool(args.cameras) == bool(args.all):
        raise UsageError("name the cameras to reset, or give --all")
    config = load_config(config_path(args))
    enrolled = [camera.id for camera in config.cameras.enrolled]
    unknown = [camera_id for camera_id in args.cameras if camera_id not in enrolled]
    if unknown:
        raise UsageError(
            f"not enrolled: {', '.join(unknown)} (enrolled: {', '.join(enrolled) or 'none'})"
        )
    store = ReferenceStore(config.paths.state_dir)
    chosen = enrolled if args.all else list(dict.fromkeys(args.cameras))
    try:
        forgotten = [camera_id for camera_id in chosen if store.delete(camera_id)]
    except OSError as error:
        raise UnavailableError(
            f"cannot change {store.root}: {error.strerror or error} (run as root or as the "
            "service user)"
        ) from None
    payload = {
        "reset": forgotten,
        "without_reference": [camera_id for camera_id in chosen if camera_id not in forgotten],
    }
    lines = [f"reset: {c} (enrolled again at its next usable sample)" for c in forgotten]
    lines += [f"had no reference yet: {c}" for c in payload["without_reference"]]
    emit(args, payload, "\n".join(lines))
    return 0
