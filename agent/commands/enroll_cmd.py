"""``kitchen-agent enroll``: assign cameras to key control points, their reference taken now.

For each camera given a KCP, the picture is taken and judged on the spot: a picture that
cannot be a reference (a fogged or greasy lens, a dark or washed-out view, no signal) is
refused with what to do, unless ``--force``; ``--accept-view`` lifts blur and low contrast
for a view that is like that by nature. An accepted picture becomes the camera's reference
(what the daemon judges it against) and a snapshot beside the config with the KCP regions
drawn. The config is written through the same models and rendering as ``config init``,
then a running daemon is told to reload.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.cli_support import add_config_flag, add_json_flag, config_path, emit, progress

if TYPE_CHECKING:
    from agent.config import AgentConfig
    from agent.site.cameras import CameraDirectory
    from agent.site.enrolment import Request
    from agent.site.look import Look

DESCRIPTION = (
    "Assign the kitchen's cameras to the store's key control points. CAMERA is a camera "
    "id (as `discover` lists it), its address or host:port. Each camera given a KCP has "
    "its picture taken and judged now; a picture that cannot be its reference (fogged or "
    "greasy lens, too dark, washed out, no signal) is refused with what to do, unless "
    "--force. The picture becomes the camera's reference and a snapshot beside the config "
    "(snapshots/<camera>.jpg, regions drawn). The config is rewritten atomically, "
    "everything else kept, and a running agent is told to reload. Needs root.",
    "Without --assign, on a terminal, it asks: it lists the cameras found with what each "
    "sees, asks which KCPs each covers and a name, and confirms before writing.",
    "Exit 0 when everything asked was done, 1 when a camera was refused (the others are "
    "written), 69 when a named camera is not found, 78 when the config is invalid.",
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "enroll",
        help="assign cameras to key control points, taking each one's reference now",
        description="\n\n".join(textwrap.fill(p, 79) for p in DESCRIPTION),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--assign",
        action="append",
        default=[],
        metavar="CAMERA=KCP[,KCP...]",
        help="the key control points this camera covers (its whole list; repeatable)",
    )
    parser.add_argument(
        "--roi",
        action="append",
        default=[],
        metavar="CAMERA=KCP:x1,y1,x2,y2,x3,y3[,...]",
        help="where the KCP is in the camera's picture: a polygon in fractions of width "
        "and height (0..1); the daemon checks it stays in view (repeatable)",
    )
    parser.add_argument(
        "--name", action="append", default=[], metavar="CAMERA=TEXT", help="a name, e.g. 热菜区"
    )
    parser.add_argument(
        "--remove", action="append", default=[], metavar="CAMERA", help="un-enrol a camera"
    )
    parser.add_argument(
        "--accept-view",
        action="append",
        default=[],
        metavar="CAMERA",
        help="enrol a view that reads blurred or low-contrast by nature (a bare steel wall)",
    )
    parser.add_argument(
        "--force", action="store_true", help="enrol a camera even when its picture is refused"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help="how long discovery listens (default: cameras.discovery.timeout_s)",
    )
    add_config_flag(parser)
    add_json_flag(parser)
    parser.set_defaults(handler=run)


@dataclass
class Outcome:
    """What became of one camera."""

    camera_id: str
    look: Look | None = None
    accepted: bool = False  # its picture became its reference
    refused: list[str] = field(default_factory=list)  # issue codes, or the camera error
    snapshot: Path | None = None
    notes: list[str] = field(default_factory=list)


def _request(args: argparse.Namespace, config: AgentConfig, directory: CameraDirectory) -> Request:
    from agent.site.enrolment import Request, parse_kcps, parse_roi, split_pair

    declared = [str(k) for k in config.store.kcps]
    request = Request()
    for text in args.assign:
        ref, kcps = split_pair(text, "--assign")
        request.assign[directory.resolve(ref)] = parse_kcps(kcps, declared)
    for text in args.roi:
        ref, value = split_pair(text, "--roi")
        kcp, polygon = parse_roi(value)
        request.rois.setdefault(directory.resolve(ref), {})[kcp] = polygon
    for text in args.name:
        ref, name = split_pair(text, "--name")
        request.names[directory.resolve(ref)] = name
    request.remove = [directory.resolve(ref) for ref in args.remove]
    request.accept_view = {directory.resolve(ref) for ref in args.accept_view}
    # A view accepted once stays accepted (cameras.enrolled[].accept_view).
    request.accept_view |= {c.id for c in config.cameras.enrolled if c.accept_view}
    return request


def _needs_search(args: argparse.Namespace, enrolled: list[str]) -> bool:
    from agent.site.enrolment import split_pair

    if args.assign or args.interactive:
        return True
    refs = [split_pair(t, "--roi")[0] for t in args.roi]
    refs += [split_pair(t, "--name")[0] for t in args.name]
    return any(ref not in enrolled for ref in [*refs, *args.remove, *args.accept_view])


def run(args: argparse.Namespace) -> int:
    from agent.config import load_config
    from agent.errors import UsageError
    from agent.secrets import CameraLogins, CredentialStore, credentials_dir
    from agent.site.cameras import CameraDirectory, search_cameras, search_for

    path = config_path(args)
    config = load_config(path)
    edits = args.assign or args.roi or args.name or args.remove or args.accept_view
    args.interactive = not edits and sys.stdin.isatty() and sys.stdout.isatty() and not args.json
    if not edits and not args.interactive:
        raise UsageError(
            "nothing to do: give --assign CAMERA=KCP[,KCP...] (or run it on a terminal to be asked)"
        )
    if args.timeout is not None and not 0 < args.timeout <= 120:
        raise UsageError("--timeout must be between 0 and 120 seconds")
    store = CredentialStore(credentials_dir(config.paths.credentials_dir))
    store.register_all()
    logins = CameraLogins.from_config(config.cameras, store)
    enrolled = [camera.id for camera in config.cameras.enrolled]
    found = []
    if _needs_search(args, enrolled):
        found = search_cameras(search_for(config, args.timeout), logins, progress)
    directory = CameraDirectory(found, enrolled)
    if args.interactive:
        from agent.site.prompt import ask

        answer = ask(config, path, directory, logins)
        if answer is None:
            sys.stdout.write("nothing written\n")
            return 1
        request, looks, forced = answer
    else:
        from agent.site.enrolment import apply

        request = _request(args, config, directory)
        apply(config.model_dump(mode="json")["cameras"]["enrolled"], request)  # usage first
        looks = _look(config, directory, request, logins)
        forced = set(request.assign) if args.force else set()
    return _enrol(args, config, path, directory, request, looks, forced)


def _look(
    config: AgentConfig, directory: CameraDirectory, request: Request, logins: Any
) -> dict[str, Look]:
    from agent.site.look import look_at_all

    cameras = [c for c in (directory.get(i) for i in request.assign) if c is not None]
    if cameras:
        progress(f"taking the picture of {len(cameras)} camera(s) ...")
    return look_at_all(cameras, logins, config.quality)


def _enrol(
    args: argparse.Namespace,
    config: AgentConfig,
    path: Path,
    directory: CameraDirectory,
    request: Request,
    looks: dict[str, Look],
    forced: set[str],
) -> int:
    from agent.capture.reference import ReferenceStore
    from agent.site.daemon_link import reload_daemons
    from agent.site.enrolment import apply, uncovered, with_enrolled, write_config

    before = config.model_dump(mode="json")["cameras"]["enrolled"]
    outcomes = {
        camera_id: _take_reference(
            config, path, camera_id, looks.get(camera_id), request, camera_id in forced
        )
        for camera_id in request.assign
    }
    for camera_id, outcome in outcomes.items():
        if outcome.refused and camera_id not in forced:
            # Refused: not enrolled now; a camera enrolled before keeps what it had.
            request.assign.pop(camera_id)
            if camera_id not in {e["id"] for e in before}:
                request.rois.pop(camera_id, None)
                request.names.pop(camera_id, None)
    enrolled = apply(before, request)
    new = with_enrolled(config, enrolled)
    changed = new != config
    if changed:
        write_config(path, new)
    baselines = ReferenceStore(config.paths.state_dir)
    for camera_id in request.remove:
        baselines.delete(camera_id)
    for camera_id in request.rois:
        if camera_id not in outcomes:
            outcomes[camera_id] = _redraw(config, path, enrolled, camera_id)
    reload = reload_daemons(new, path) if changed else None
    return _report(
        args,
        path,
        config,
        enrolled,
        outcomes,
        request,
        reload,
        uncovered([str(k) for k in config.store.kcps], enrolled),
    )


def _rois(enrolled: list[dict[str, Any]], request: Request, camera_id: str) -> dict[str, Any]:
    from agent.site.enrolment import apply, rois_of

    entry = next((e for e in apply(enrolled, request) if e["id"] == camera_id), None)
    return rois_of(entry) if entry is not None else {}


def _take_reference(
    config: AgentConfig,
    path: Path,
    camera_id: str,
    look: Look | None,
    request: Request,
    forced: bool,
) -> Outcome:
    """Make the picture the camera's reference, or say why not."""
    from agent.capture.reference import ReferenceStore, camera_dir_name
    from agent.site.look import CHECK_ON_SITE, refusal
    from agent.site.pictures import draw, file_name, give_to_owner_of, save_picture, snapshot_dir

    outcome = Outcome(camera_id, look)
    if look is None or look.image is None:
        code = look.error.code if look is not None and look.error is not None else "not_found"
        outcome.refused = [code]
        if forced:
            outcome.notes.append(
                "enrolled without a reference: the agent takes it at its next usable sample"
            )
        return outcome
    outcome.refused = refusal(look.issues, camera_id in request.accept_view)
    before = config.model_dump(mode="json")["cameras"]["enrolled"]
    rois = _rois(before, request, camera_id)
    notes = [issue.code for issue in look.issues]
    name = file_name(camera_id)
    if outcome.refused and not forced:
        # Kept for the installer to see what the camera shows; never a reference.
        target = snapshot_dir(path) / f"{name}-refused.jpg"
        outcome.snapshot = save_picture(target, draw(look.image, rois, notes), owner_of=path)
        return outcome
    state_dir = config.paths.state_dir
    stored = ReferenceStore(state_dir).save(camera_id, look.image, config.quality.analysis_width)
    folder = state_dir / "quality" / camera_dir_name(camera_id)
    for item in (state_dir / "quality", folder, *folder.iterdir()):
        give_to_owner_of(item, state_dir)
    outcome.accepted = True
    (snapshot_dir(path) / f"{name}-refused.jpg").unlink(missing_ok=True)
    target = snapshot_dir(path) / f"{name}.jpg"
    outcome.snapshot = save_picture(target, draw(look.image, rois, notes), owner_of=path)
    from agent.capture.view_match import MIN_REFERENCE_FEATURES

    if len(stored.reference.view) < MIN_REFERENCE_FEATURES:
        outcome.notes.append(
            "the view has too little detail to tell later whether the camera moved or a "
            "region left the picture"
        )
    # Nothing was raised, but one frame cannot tell a greasy lens from a soft scene or a
    # cover from a smooth wall; the installer, standing there, can, and this picture is the
    # camera's reference from now on.
    outcome.notes += [
        f"{CHECK_ON_SITE} (this picture is now its reference): {what}" for what in look.to_check
    ]
    return outcome


def _redraw(
    config: AgentConfig, path: Path, enrolled: list[dict[str, Any]], camera_id: str
) -> Outcome:
    """A new region on a camera kept as it was: drawn on its reference, to be checked."""
    from agent.capture.reference import ReferenceStore
    from agent.site.enrolment import rois_of
    from agent.site.pictures import draw, file_name, save_picture, snapshot_dir

    outcome = Outcome(camera_id)
    stored = ReferenceStore(config.paths.state_dir).load(camera_id, config.quality.analysis_width)
    entry = next(e for e in enrolled if e["id"] == camera_id)
    if stored is None:
        outcome.notes.append("no reference yet: the region is drawn on it once it is taken")
        return outcome
    target = snapshot_dir(path) / f"{file_name(camera_id)}.jpg"
    outcome.snapshot = save_picture(target, draw(stored.image, rois_of(entry)), owner_of=path)
    return outcome


def _advice(outcome: Outcome) -> Any:
    from agent.model import NATURAL_VIEW, QualityCheck
    from agent.site.advice import ACCEPT_VIEW, NONE, for_camera_error, for_quality

    codes = outcome.refused
    if not codes:
        return NONE
    if all(code in QualityCheck.__members__.values() for code in codes):
        advice = for_quality(codes)
        return advice + ACCEPT_VIEW if set(codes) <= NATURAL_VIEW else advice
    return for_camera_error(codes[0])


def _report(
    args: argparse.Namespace,
    path: Path,
    config: AgentConfig,
    enrolled: list[dict[str, Any]],
    outcomes: dict[str, Outcome],
    request: Request,
    reload: Any,
    missing: list[str],
) -> int:
    from agent.site.enrolment import kcp_label, rois_of
    from agent.site.pictures import ascii_thumbnail

    by_id = {entry["id"]: entry for entry in enrolled}
    cameras: list[dict[str, Any]] = []
    lines: list[str] = []
    failed = False
    for camera_id, outcome in outcomes.items():
        entry = by_id.get(camera_id)
        look = outcome.look
        # Refused and not forced: _enrol took it out of the request.
        refused = bool(outcome.refused) and camera_id not in request.assign and not outcome.accepted
        failed = failed or refused
        advice = _advice(outcome)
        cameras.append(
            {
                "id": camera_id,
                "name": entry.get("name") if entry else None,
                "kcps": [item["kcp"] for item in entry["kcps"]] if entry else [],
                "enrolled": entry is not None,
                "reference_taken": outcome.accepted,
                "refused": outcome.refused if refused else [],
                "verdict": look.verdict.value if look is not None else None,
                "issues": [issue.to_json() for issue in look.issues] if look else [],
                "snapshot": str(outcome.snapshot) if outcome.snapshot else None,
                "advice_en": advice.en or None,
                "advice_zh": advice.zh or None,
                "notes": outcome.notes,
            }
        )
        title = camera_id + (f" {entry['name']}" if entry and entry.get("name") else "")
        kcps = ", ".join(kcp_label(item["kcp"]) for item in entry["kcps"]) if entry else "-"
        if refused:
            lines.append(f"{title}: REFUSED ({', '.join(outcome.refused)}), not enrolled")
            lines += [f"  {advice.en}", f"  {advice.zh}"]
        elif outcome.accepted:
            issues = ", ".join(i.code for i in look.issues) if look and look.issues else "ok"
            lines.append(f"{title} → {kcps}: enrolled, reference taken (picture: {issues})")
        else:
            lines.append(f"{title} → {kcps}: enrolled")
        lines += [f"  note: {note}" for note in outcome.notes]
        if outcome.snapshot is not None:
            lines.append(f"  snapshot: {outcome.snapshot}")
            if look is not None and look.image is not None:
                thumbnail = ascii_thumbnail(look.image, 48, rois_of(entry) if entry else {})
                lines += ["  " + row for row in thumbnail.splitlines()]
    for camera_id in request.remove:
        lines.append(f"{camera_id}: removed")
    if missing:
        lines.append(
            "key control points without a camera: " + ", ".join(kcp_label(k) for k in missing)
        )
    else:
        lines.append("every key control point has a camera")
    if reload is not None:
        lines.append(f"{path} written; {reload.describe()}")
    else:
        lines.append(f"{path} unchanged")
    payload = {
        "ok": not failed,
        "config": str(path),
        "cameras": cameras,
        "removed": list(request.remove),
        "uncovered": missing,
        "daemon": {
            "running": bool(reload and reload.running),
            "pids": list(reload.pids) if reload else [],
            "reloaded": bool(reload and reload.running),
        },
    }
    emit(args, payload, "\n".join(lines))
    return 1 if failed else 0
