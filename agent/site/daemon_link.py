"""The running daemon of a config, as the site commands need it: told to reload (SIGHUP,
what ``systemctl reload`` sends) after ``enroll`` changed the config, and asked what it
pushes (``acceptance``).

The daemon answers on its status socket (``kitchen-agent status``) with its pid and the
config it runs. Where none answers (a daemon from before the socket, another runtime
folder), a daemon is a ``kitchen-agent run`` process whose config (``--config``, else
``$KITCHEN_AGENT_CONFIG``, else the default path) is the same file. Either way another
agent with another config is left alone. Root sees every process even with ``hidepid``.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agent.cli_support import CONFIG_ENV, DEFAULT_CONFIG_PATH

if TYPE_CHECKING:
    from agent.config import AgentConfig
    from agent.status.model import StatusReport

_PROC = Path("/proc")


def config_of(argv: Sequence[str], environ: dict[str, str], cwd: Path) -> Path | None:
    """The config a ``kitchen-agent ... run ...`` command line reads; None when it is not
    one (pure)."""
    if "run" not in argv:
        return None
    names = [Path(a).name for a in argv[: argv.index("run")]]
    if "fleet" in names or not any(n in ("kitchen-agent", "agent") for n in names):
        return None
    for index, arg in enumerate(argv):
        if arg == "--config" and index + 1 < len(argv):
            return cwd / argv[index + 1]
        if arg.startswith("--config="):
            return cwd / arg.split("=", 1)[1]
    if environ.get(CONFIG_ENV):
        return cwd / environ[CONFIG_ENV]
    return DEFAULT_CONFIG_PATH


def _same(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return a.resolve() == b.resolve()


def find_daemons(config_path: Path, proc: Path = _PROC) -> list[int]:
    """Pids of ``kitchen-agent run`` processes reading ``config_path``."""
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError, ValueError):
            argv = [a.decode() for a in (entry / "cmdline").read_bytes().split(b"\0") if a]
            if "run" not in argv:
                continue
            raw_env = (entry / "environ").read_bytes().split(b"\0")
            environ = dict(
                item.decode(errors="replace").split("=", 1) for item in raw_env if b"=" in item
            )
            cwd = (entry / "cwd").readlink()
            path = config_of(argv, environ, cwd)
            if path is not None and _same(path, config_path):
                found.append(int(entry.name))
    return sorted(found)


@dataclass(frozen=True)
class Reload:
    pids: tuple[int, ...]

    @property
    def running(self) -> bool:
        return bool(self.pids)

    def describe(self) -> str:
        if not self.pids:
            return (
                "no agent is running with this config: start it (systemctl start "
                "kitchen-agent); it reads the new config then"
            )
        return f"told the running agent (pid {', '.join(map(str, self.pids))}) to reload"


def reload_daemons(config: AgentConfig, config_path: Path) -> Reload:
    """SIGHUP the daemon of ``config_path`` (what ``systemctl reload`` does); the daemon
    validates the file before applying it. Its status socket names it; else ``/proc``."""
    report = _ask(config, config_path, 2.0)
    pids = [report.pid] if report is not None else find_daemons(config_path)
    told = []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGHUP)
            told.append(pid)
    return Reload(tuple(told))


@dataclass(frozen=True)
class DaemonView:
    """What the running agent of a config says of its streams."""

    pids: tuple[int, ...]
    # camera id -> (stream state, a line for people); None when the agent was not asked
    streams: dict[str, tuple[str, str]] | None = None

    @property
    def running(self) -> bool:
        return bool(self.pids)


def _ask(config: AgentConfig, config_path: Path, timeout_s: float) -> StatusReport | None:
    """The status of the agent running ``config_path``, from its socket; None when none
    answers there (or another config's agent does)."""
    from agent.errors import AgentError
    from agent.status.channel import ask_status, socket_path

    try:
        report = ask_status(socket_path(config.paths.runtime), timeout_s)
    except AgentError:
        return None
    return report if _same(Path(report.config_path), config_path) else None


def daemon_view(config: AgentConfig, config_path: Path, timeout_s: float = 3.0) -> DaemonView:
    """The running agent of ``config_path``, if any, and its streams as it tells them on its
    status socket (``kitchen-agent status``)."""
    report = _ask(config, config_path, timeout_s)
    if report is None:
        return DaemonView(tuple(find_daemons(config_path)))
    streams = {}
    for camera in report.cameras:
        stream = camera.stream
        route = stream.route.value if stream.route else "?"
        kbps = f"{stream.kbps:.0f} kbit/s" if stream.kbps else "no bitrate yet"
        streams[camera.id] = (stream.state.value, f"{stream.state.value} ({route}, {kbps})")
    return DaemonView((report.pid,), streams)
