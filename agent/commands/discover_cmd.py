"""``kitchen-agent discover``: find every ONVIF camera and show what it can do."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.cli_support import (
    add_config_flag,
    add_json_flag,
    config_path,
    emit,
    progress,
    table,
)

if TYPE_CHECKING:
    from agent.config import AgentConfig
    from agent.model import Camera

DEFAULT_TIMEOUT_S = 3.0


DESCRIPTION = (
    "Find ONVIF cameras by WS-Discovery multicast (and unicast probes of --scan ranges, "
    "and cameras.static from the config), log into each one and list maker, model, MAC, "
    "clock skew and stream profiles. A camera that fails is listed with its error "
    "(unreachable, timeout, auth_failed, clock_skew, not_onvif, bad_response, and "
    "untrusted_host or identity_unverified where it points elsewhere or claims another "
    "camera's identity: see docs/security.md). Exit 0 "
    "when discovery ran, 69 when there is no usable network interface. The config file "
    "is optional here.",
    "A camera with a password of its own: put it in camera-password.<id> in the "
    "credentials directory, <id> as listed here; it is tried once when the shared "
    "password is refused.",
    "Limit: most cameras tell their MAC (their usual mac-... id) only after a login. A "
    "camera seen for the first time that refuses the shared password is listed under "
    "its uuid-... or addr-... id: name the file after that id and run discover again. "
    "Once the camera is listed under its mac-... id, store the password as "
    "camera-password.<that id> too: streaming and snapshots look it up by that id.",
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "discover",
        help="find ONVIF cameras (WS-Discovery, unicast scan) and list their streams",
        description="\n\n".join(textwrap.fill(paragraph, 79) for paragraph in DESCRIPTION),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help="seconds to listen for answers; also bounds each camera request "
        f"(default: cameras.discovery.timeout_s, or {DEFAULT_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--scan",
        action="append",
        default=[],
        metavar="CIDR",
        help="also send unicast probes to every address of this range, e.g. "
        "192.168.1.0/24 (for networks that block multicast; repeatable)",
    )
    parser.add_argument("--no-multicast", action="store_true", help="do not send multicast probes")
    parser.add_argument(
        "--username",
        default=None,
        help="camera username (default: cameras.username from the config, else admin)",
    )
    parser.add_argument(
        "--password-file",
        type=Path,
        default=None,
        metavar="F",
        help="file holding the camera password, used for every camera (default: "
        "camera-password in the credentials directory, or a camera's own "
        "camera-password.<id>)",
    )
    add_config_flag(parser)
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def _load_optional_config(args: argparse.Namespace) -> AgentConfig | None:
    """--config must load; the default path is used only when it exists (a laptop has none)."""
    from agent.config import load_config

    path = config_path(args)
    if args.config is None and not path.exists():
        return None
    return load_config(path)


def run(args: argparse.Namespace) -> int:
    from agent.capture.inventory import InventoryStore, discover_json
    from agent.config.cameras import CamerasConfig
    from agent.errors import UsageError
    from agent.secrets import CameraLogins, CredentialStore, credentials_dir, read_password_file
    from agent.site.cameras import Search, search_cameras

    if args.timeout is not None and not 0 < args.timeout <= 120:
        raise UsageError("--timeout must be between 0 and 120 seconds")
    config = _load_optional_config(args)
    cameras_config = config.cameras if config is not None else None
    timeout_s = args.timeout or (
        cameras_config.discovery.timeout_s if cameras_config else DEFAULT_TIMEOUT_S
    )
    override = None if args.password_file is None else read_password_file(args.password_file)
    store = (
        None
        if override is not None
        else CredentialStore(credentials_dir(config.paths.credentials_dir if config else None))
    )
    logins = CameraLogins.from_config(
        cameras_config or CamerasConfig(),
        store,
        password_override=override,
        default_username=args.username,
    )

    multicast = not args.no_multicast and (
        cameras_config.discovery.multicast if cameras_config else True
    )
    scan = list(args.scan) + (list(cameras_config.discovery.scan) if cameras_config else [])
    static = list(cameras_config.static) if cameras_config else []
    known = list(InventoryStore(config.paths.state_dir).load().values()) if config else []
    search = Search(timeout_s, multicast=multicast, scan=scan, static=static, known=known)
    cameras = search_cameras(search, logins, progress)
    payload = discover_json(cameras)
    emit(args, payload, render_table(cameras))
    return 0


def _streams(camera: Camera) -> str:
    parts = []
    for profile in camera.profiles:
        size = f"{profile.width}x{profile.height}" if profile.width else "?"
        fps = f"@{profile.fps:g}" if profile.fps else ""
        rate = f" {profile.bitrate_kbps}k" if profile.bitrate_kbps else ""
        parts.append(f"{size}{fps} {profile.encoding or '?'}{rate}")
    return ", ".join(parts) or "-"


def render_table(cameras: list[Camera]) -> str:
    if not cameras:
        return (
            "No cameras found. Check that the box is on the camera network; if the "
            "network blocks multicast, try --scan 192.168.1.0/24 (your camera range)."
        )
    rows = []
    for camera in cameras:
        status = "OK" if camera.error is None else f"{camera.error.code}: {camera.error.message}"
        skew = "" if camera.clock_skew_s is None else f"{camera.clock_skew_s:+.0f}s"
        maker = " ".join(x for x in (camera.manufacturer, camera.model) if x) or "-"
        rows.append(
            (
                camera.id,
                camera.address,
                maker,
                camera.firmware or "-",
                camera.mac or "-",
                skew,
                _streams(camera),
                status,
            )
        )
    text = table(("id", "address", "camera", "firmware", "mac", "clock", "streams", "status"), rows)
    failed = sum(1 for c in cameras if c.error is not None)
    summary = f"\n\n{len(cameras)} camera(s)" + (f", {failed} with problems" if failed else "")
    if any(c.error_code == "auth_failed" for c in cameras):
        summary += (
            "\n\nA camera with a password of its own: put it in camera-password.<id> in the "
            "credentials directory (see discover --help)."
        )
    uris = []
    for camera in cameras:
        for profile in camera.profiles:
            if profile.rtsp_uri:
                uris.append(f"  {camera.id} {profile.token}: {profile.rtsp_uri}")
    if uris:
        summary += "\n\nstreams:\n" + "\n".join(uris)
    return text + summary
