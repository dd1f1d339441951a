"""One-command diagnosis for a technician in a hot kitchen (and the MQTT `diagnose` command).

Each check is small, bounded by a timeout and independent of the others, so one dead part
never hides what is wrong with the rest. The verdict of the whole is pure: the worst check.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agent.config import AgentConfig, load_config
from agent.errors import AgentError, ConfigError
from agent.scrub import scrub_value, strip_userinfo
from agent.secrets import (
    CAMERA_PASSWORD,
    MQTT_PASSWORD,
    STREAM_TOKEN,
    CredentialStore,
    SecretState,
    credentials_dir,
)

OK, WARN, FAIL = "ok", "warn", "fail"
_RANK = {OK: 0, WARN: 1, FAIL: 2}


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    hint: str | None = None


def overall(checks: Iterable[Check]) -> str:
    """The worst status of all checks (ok when there are none)."""
    worst = OK
    for check in checks:
        if _RANK[check.status] > _RANK[worst]:
            worst = check.status
    return worst


def tcp_reachable(host: str, port: int, timeout_s: float) -> tuple[bool, str]:
    started = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except TimeoutError:
        return False, f"{host}:{port} did not answer within {timeout_s:g} s"
    except OSError as error:
        return False, f"{host}:{port}: {error.strerror or error}"
    return True, f"{host}:{port} answers ({(time.monotonic() - started) * 1000:.0f} ms)"


def check_config(path: Path) -> tuple[Check, AgentConfig | None]:
    try:
        config = load_config(path)
    except ConfigError as error:
        return (
            Check(
                "config",
                FAIL,
                "; ".join(error.problems[:5]),
                "fix the file, then `kitchen-agent config check`",
            ),
            None,
        )
    return Check("config", OK, f"{path} valid (store {config.store.id})"), config


def check_credentials(config: AgentConfig) -> Check:
    store = CredentialStore(credentials_dir(config.paths.credentials_dir))
    needed = [CAMERA_PASSWORD]
    if config.broker.username:
        needed.append(MQTT_PASSWORD)
    if config.streams.ingest_url and "{token}" in config.streams.ingest_url:
        needed.append(STREAM_TOKEN)
    # An empty file (what install.sh leaves) is no secret: the agent reads it as unset.
    lacking = [name for name in needed if store.state(name) is not SecretState.PRESENT]
    if lacking:
        return Check(
            "credentials",
            FAIL,
            "; ".join(f"{name}: {store.describe(name)}" for name in lacking),
            "write each secret to its file (mode 0600)",
        )
    return Check("credentials", OK, f"{store.directory}: {', '.join(needed)} present")


def _ipv4_interfaces() -> list[str]:
    """Names of the interfaces with an IPv4 address whose link is up (not loopback)."""
    from agent.netif import system_interfaces

    names: list[str] = []
    for interface in system_interfaces():
        if interface.loopback or not (interface.up and interface.running):
            continue
        if interface.name not in names:
            names.append(interface.name)
    return names


def check_network() -> Check:
    interfaces = _ipv4_interfaces()
    if not interfaces:
        return Check("network", FAIL, "no network interface is up", "check the cable or the switch")
    has_default = False
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/route").read_text(encoding="ascii").splitlines()[1:]:
            fields = line.split()
            if len(fields) > 2 and fields[1] == "00000000":
                has_default = True
    if not has_default:
        return Check(
            "network",
            WARN,
            f"interfaces up: {', '.join(interfaces)}; no default route",
            "the shop router is not giving a gateway (DHCP?)",
        )
    return Check("network", OK, f"interfaces up: {', '.join(interfaces)}; default route")


def check_tools() -> Check:
    missing = [tool for tool in ("ffmpeg", "ffprobe") if shutil.which(tool) is None]
    if missing:
        return Check(
            "tools", FAIL, f"not installed: {', '.join(missing)}", "apt-get install ffmpeg"
        )
    return Check("tools", OK, "ffmpeg and ffprobe installed")


def check_state_dir(config: AgentConfig) -> Check:
    directory = config.paths.state_dir
    if not directory.exists():
        return Check("storage", WARN, f"{directory} does not exist yet (the agent creates it)")
    try:
        usage = shutil.disk_usage(directory)
    except OSError as error:
        return Check("storage", FAIL, f"{directory}: {error.strerror}")
    if not os.access(directory, os.W_OK):
        return Check("storage", FAIL, f"{directory} is not writable")
    free_mb = usage.free / 1e6
    if free_mb < 100:
        return Check("storage", WARN, f"{directory}: only {free_mb:.0f} MB free")
    return Check("storage", OK, f"{directory}: {free_mb:.0f} MB free")


def check_clock() -> Check:
    year = time.gmtime().tm_year
    if year < 2024:
        return Check("clock", FAIL, f"system clock says {year}", "enable NTP (systemd-timesyncd)")
    return Check("clock", OK, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def check_broker(config: AgentConfig, timeout_s: float) -> Check:
    parts = urlsplit(config.broker.url)
    tls = parts.scheme == "mqtts"
    host = parts.hostname or ""
    port = parts.port or (8883 if tls else 1883)
    reachable, detail = tcp_reachable(host, port, timeout_s)
    if not reachable:
        return Check(
            "broker", FAIL, detail, "the box cannot reach central operations: check the uplink"
        )
    if tls:
        context = ssl.create_default_context(
            cafile=str(config.broker.tls.ca_file) if config.broker.tls.ca_file else None
        )
        try:
            with (
                socket.create_connection((host, port), timeout=timeout_s) as raw,
                context.wrap_socket(raw, server_hostname=host),
            ):
                pass
        except (OSError, ssl.SSLError) as error:
            return Check(
                "broker",
                FAIL,
                f"TLS to {host}:{port} failed: {error}",
                "check broker.tls.ca_file and the box's clock",
            )
        detail += ", TLS verified"
    return Check("broker", OK, detail)


def check_ingest(config: AgentConfig, timeout_s: float) -> Check:
    template = config.streams.ingest_url
    if not template:
        return Check("ingest", OK, "streaming not configured")
    parts = urlsplit(template.replace("{", "").replace("}", ""))
    defaults = {"rtmp": 1935, "rtmps": 443, "rtsp": 554, "srt": 0}
    port = parts.port or defaults.get(parts.scheme, 0)
    if parts.scheme == "srt" or not port:
        return Check("ingest", OK, f"{parts.scheme}:// ingest (UDP, not probed)")
    reachable, detail = tcp_reachable(parts.hostname or "", port, timeout_s)
    if not reachable:
        return Check("ingest", FAIL, detail, "the platform ingest is unreachable from here")
    return Check("ingest", OK, detail)


CAMERA_HINTS = {
    "unreachable": "is the camera powered and on the kitchen switch?",
    "timeout": "the camera is slow or hung: power-cycle it",
    "auth_failed": "the camera password differs: put it in the credential file "
    "camera-password.<camera id>",
    "clock_skew": "the camera's clock is far off: set its time or NTP in its web page",
    "not_onvif": "enable ONVIF (and an ONVIF user) in the camera's web page",
    "bad_response": "the camera answers nonsense: update its firmware",
}


def _host_port(address: str, default_port: int = 80) -> tuple[str, int]:
    parts = urlsplit(address if "://" in address else f"http://{address}")
    return parts.hostname or "", parts.port or default_port


def check_cameras(config: AgentConfig, timeout_s: float) -> list[Check]:
    """Every enrolled camera as the daemon last saw it, reachable now; static addresses."""
    from agent.capture.inventory import InventoryStore

    known = InventoryStore(config.paths.state_dir).load()
    checks = []
    declared = {str(k) for k in config.store.kcps}
    covered = {str(a.kcp) for camera in config.cameras.enrolled for a in camera.kcps}
    for kcp in sorted(declared - covered):
        checks.append(
            Check(
                f"kcp {kcp}",
                FAIL,
                "declared but no camera is enrolled for it",
                "enrol a camera for it in cameras.enrolled",
            )
        )
    for enrolled in config.cameras.enrolled:
        name = f"camera {enrolled.id}" + (f" ({enrolled.name})" if enrolled.name else "")
        camera = known.get(enrolled.id)
        if camera is None:
            checks.append(
                Check(
                    name,
                    FAIL,
                    "never discovered by this box",
                    "run `kitchen-agent discover` and check the id",
                )
            )
            continue
        host, port = _host_port(camera.xaddr)
        reachable, detail = tcp_reachable(host, port, timeout_s)
        if not reachable:
            checks.append(Check(name, FAIL, detail, CAMERA_HINTS["unreachable"]))
        elif camera.error is not None:
            code = camera.error.code
            checks.append(
                Check(name, FAIL, f"{code}: {camera.error.message}", CAMERA_HINTS.get(code))
            )
        else:
            checks.append(Check(name, OK, f"{camera.model or 'camera'} at {detail}"))
    enrolled_addresses = {known[c.id].address for c in config.cameras.enrolled if c.id in known}
    for address in config.cameras.static:
        if address in enrolled_addresses:
            continue
        host, port = _host_port(strip_userinfo(address))
        ok, detail = tcp_reachable(host, port, timeout_s)
        checks.append(
            Check(
                f"camera {address}",
                OK if ok else FAIL,
                detail,
                None if ok else CAMERA_HINTS["unreachable"],
            )
        )
    return checks


def check_daemon(config: AgentConfig | None, timeout_s: float) -> Check:
    """Is the agent for this config running, and is it running this config?

    Asked over the agent's status socket (``/proc`` is mounted ``hidepid``, and a process
    list cannot tell which config an agent runs): the answer comes from the daemon itself.
    """
    from agent.config import config_hash
    from agent.config.paths import DEFAULT_RUNTIME_DIR
    from agent.errors import AgentNotRunning, StatusNotAllowed
    from agent.status.channel import ask_status, socket_path

    path = socket_path(config.paths.runtime if config is not None else DEFAULT_RUNTIME_DIR)
    hint = "systemctl status kitchen-agent; journalctl -u kitchen-agent -n 50"
    try:
        report = ask_status(path, timeout_s)
    except (AgentNotRunning, StatusNotAllowed) as error:
        return Check("daemon", WARN, error.message, hint)
    except AgentError as error:
        return Check("daemon", FAIL, error.message, "systemctl restart kitchen-agent")
    running = f"kitchen-agent {report.version} is running (pid {report.pid}, up "
    running += f"{report.uptime_s / 3600:.1f} h): {report.summary}"
    if config is not None and report.config_hash != config_hash(config):
        return Check(
            "daemon",
            WARN,
            f"{running}; it runs config {report.config_hash} from {report.config_path}, "
            f"not this file's {config_hash(config)}",
            "apply the file: systemctl reload kitchen-agent",
        )
    troubled = [w for w in report.workers if w.state != "running"]
    if troubled:
        names = ", ".join(f"{w.name} {w.state.value}" for w in troubled)
        return Check("daemon", WARN, f"{running}; workers: {names}", hint)
    return Check("daemon", OK, running)


def run_diagnosis(
    config_path: Path,
    timeout_s: float = 3.0,
    extra: Callable[[AgentConfig], list[Check]] | None = None,
) -> dict[str, Any]:
    """Every check, in the order a technician would go through them."""
    config_check, config = check_config(config_path)
    checks = [
        config_check,
        check_daemon(config, timeout_s),
        check_network(),
        check_clock(),
        check_tools(),
    ]
    if config is not None:
        checks += [check_credentials(config), check_state_dir(config)]
        checks.append(check_broker(config, timeout_s))
        checks.append(check_ingest(config, timeout_s))
        checks += check_cameras(config, timeout_s)
        if extra is not None:
            try:
                checks += extra(config)
            except AgentError as error:
                checks.append(Check("cameras", FAIL, error.message))
    return {
        "verdict": overall(checks),
        "checks": [scrub_value(asdict(c)) for c in checks],
    }
