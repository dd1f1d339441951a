"""The running daemon of a config, as the site commands need it: told to reload (SIGHUP,
what ``systemctl reload`` sends) after ``enroll`` changed the config.

A daemon is ``kitchen-agent run`` whose config (``--config``, else
``$KITCHEN_AGENT_CONFIG``, else the default path) is the same file: another agent on the
machine with another config is left alone. Root sees every process even with
``hidepid``.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.cli_support import CONFIG_ENV, DEFAULT_CONFIG_PATH

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


def reload_daemons(config_path: Path) -> Reload:
    """SIGHUP every daemon of ``config_path``; the daemon validates before applying."""
    told = []
    for pid in find_daemons(config_path):
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


def daemon_view(config_path: Path) -> DaemonView:
    """The running agent of ``config_path``, if any. Its streams come from its status
    socket (``kitchen-agent status``) where the agent offers one."""
    return DaemonView(tuple(find_daemons(config_path)))
