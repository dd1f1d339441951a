"""A stand-in for systemctl and the service manager on machines that run no systemd.

The install scripts call it through ``$SYSTEMCTL`` (see :func:`write_systemctl`)::

    fake_systemd.py --root ROOT --state DIR <systemctl arguments>

It keeps what systemd keeps (enabled or not, ActiveState/SubState, MainPID, NRestarts) in
DIR, records every call in ``DIR/calls.jsonl``, and runs a unit the way systemd runs a
``Type=notify`` service: ExecStart from the unit file and its drop-ins under ROOT (paths
under /opt, /etc and /var mapped into ROOT), ``LoadCredential=``/``SetCredential=``
copied into a private ``$CREDENTIALS_DIRECTORY`` (a missing file without a default fails
the start, as systemd's exit status 243 does), ``Environment=``, and a ``NOTIFY_SOCKET``:
the unit is active/running only once the process sent READY=1, failed when it exits
first. ``RuntimeDirectory=`` is created (in a short temporary folder,
shown as the unit's ``RuntimeDirectory`` property) and handed over as
``$RUNTIME_DIRECTORY``. ``WatchdogSec=`` is passed as ``$WATCHDOG_USEC`` and enforced:
no WATCHDOG=1 for that long after READY=1 and the process gets SIGABRT. A process that
fails after READY=1 (exit, crash, watchdog) is restarted as ``Restart=on-failure`` says,
after ``RestartSec=``, counting ``NRestarts``; one that fails before READY=1 fails its
start job (systemd would also schedule a restart; the fake leaves that to the caller).
``STATUS=`` is kept as the ``StatusText`` property. ``start``/``restart`` block until
the unit is active (or failed), like systemctl. A detached host process per unit owns
the service process; ``stop`` sends it SIGTERM (the host forwards SIGTERM to the main
process, then SIGKILLs the session after TimeoutStopSec).

Standard library only: it runs as a plain script, outside the test process.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
MAPPED_PREFIXES = ("/opt/", "/etc/", "/var/")
START_WAIT_S = 120.0


def write_systemctl(bin_dir: Path, root: Path, state: Path) -> Path:
    """An executable ``systemctl`` in bin_dir that drives this fake for root."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    path = bin_dir / "systemctl"
    path.write_text(
        "#!/bin/sh\n"
        f"exec {shlex.quote(sys.executable)} {shlex.quote(str(HERE))} "
        f'--root {shlex.quote(str(root))} --state {shlex.quote(str(state))} "$@"\n',
        encoding="utf-8",
    )
    path.chmod(0o755)
    return path


def calls(state: Path) -> list[list[str]]:
    """Every systemctl command line the fake received, in order."""
    log = state / "calls.jsonl"
    if not log.exists():
        return []
    return [json.loads(line)["argv"] for line in log.read_text(encoding="utf-8").splitlines()]


def unit_state(state: Path, unit: str = "kitchen-agent.service") -> dict[str, Any]:
    return _Store(state, unit).read()


def stop_all(state: Path) -> None:
    """End every service host of this state folder (test teardown)."""
    for path in (state / "units").glob("*.json"):
        store = _Store(state, path.stem)
        _stop(store)


# ---- the unit file -------------------------------------------------------------------


def read_unit(root: Path, unit: str) -> dict[str, list[str]]:
    """[Service] settings of the unit and its drop-ins; an empty assignment resets a list."""
    directory = root / "etc/systemd/system"
    paths = [directory / unit, *sorted((directory / f"{unit}.d").glob("*.conf"))]
    settings: dict[str, list[str]] = {}
    for path in paths:
        if not path.exists():
            continue
        section = ""
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line
                continue
            if section != "[Service]":
                continue
            key, _, value = line.partition("=")
            if value == "":
                settings[key] = []
            else:
                settings.setdefault(key, []).append(value)
    return settings


def _last(settings: dict[str, list[str]], key: str, default: str) -> str:
    values = settings.get(key)
    return values[-1] if values else default


def _seconds(settings: dict[str, list[str]], key: str, default: float) -> float:
    values = settings.get(key)
    return float(values[-1]) if values else default


def _map_path(root: Path, token: str) -> str:
    return str(root) + token if token.startswith(MAPPED_PREFIXES) else token


def _credentials(root: Path, settings: dict[str, list[str]], target: Path) -> str | None:
    """Fill target like systemd; the reason it would fail the start, or None."""
    defaults: dict[str, bytes] = {}
    for entry in settings.get("SetCredential", []):
        name, _, value = entry.partition(":")
        defaults[name] = value.encode("latin-1").decode("unicode_escape").encode()
    target.mkdir(parents=True, exist_ok=True)
    for entry in settings.get("LoadCredential", []):
        name, _, source = entry.partition(":")
        path = Path(_map_path(root, source or name))
        if path.is_file():
            data = path.read_bytes()
        elif name in defaults:
            data = defaults[name]
        else:
            return f"credential {name}: cannot read {source}"
        (target / name).write_bytes(data)
        (target / name).chmod(0o400)
    return None


# ---- state ---------------------------------------------------------------------------


class _Store:
    def __init__(self, state: Path, unit: str) -> None:
        self.state = state
        self.unit = unit
        (state / "units").mkdir(parents=True, exist_ok=True)
        self.path = state / "units" / f"{unit}.json"
        self.enabled_flag = state / "units" / f"{unit}.enabled"
        self.journal = state / f"{unit}.journal"

    def read(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            data = {}
        base: dict[str, Any] = {
            "ActiveState": "inactive",
            "SubState": "dead",
            "MainPID": 0,
            "NRestarts": 0,
            "HostPID": 0,
            "Result": "success",
        }
        return {**base, **data}

    def write(self, **changes: Any) -> None:
        data = {**self.read(), **changes}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, self.path)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
    except (FileNotFoundError, IndexError):
        return False
    return fields[0] != "Z"


# ---- the host: owns one service process ----------------------------------------------


def host(root: Path, state: Path, unit: str) -> int:
    store = _Store(state, unit)
    store.write(ActiveState="activating", SubState="start", HostPID=os.getpid(), MainPID=0)
    settings = read_unit(root, unit)
    credentials = state / "credentials" / unit
    if credentials.exists():
        for child in credentials.iterdir():
            child.chmod(0o600)
            child.unlink()
    problem = _credentials(root, settings, credentials)
    if problem is not None:
        print(f"{unit}: Failed to set up credentials: {problem}", flush=True)
        store.write(ActiveState="failed", SubState="failed", Result="exit-code", MainPID=0)
        return 243
    argv = shlex.split(settings["ExecStart"][-1])
    argv = [_map_path(root, token) for token in argv]
    env = dict(os.environ)
    for entry in settings.get("Environment", []):
        for assignment in shlex.split(entry):
            key, _, value = assignment.partition("=")
            env[key] = value
    short = Path(tempfile.mkdtemp(prefix="fsd-"))  # AF_UNIX paths must stay short
    notify_path = short / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify_path))
    sock.settimeout(0.2)
    env.update(NOTIFY_SOCKET=str(notify_path), CREDENTIALS_DIRECTORY=str(credentials))
    # RuntimeDirectory=: systemd's /run/<name>, here under the short folder (the agent's
    # status socket lives there), created at start and removed at the end like systemd.
    runtime_dirs = []
    for name in " ".join(settings.get("RuntimeDirectory", [])).split():
        runtime = short / "run" / name
        runtime.mkdir(parents=True)
        runtime.chmod(int(_last(settings, "RuntimeDirectoryMode", "0755"), 8))
        runtime_dirs.append(str(runtime))
    if runtime_dirs:
        env["RUNTIME_DIRECTORY"] = ":".join(runtime_dirs)
    store.write(RuntimeDirectory=":".join(runtime_dirs))
    stopping = False

    def on_term(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    restart = _last(settings, "Restart", "no")
    restart_s = _seconds(settings, "RestartSec", 0.1)
    try:
        while True:
            outcome = _run_main(store, settings, argv, env, sock, lambda: stopping)
            if outcome == "stopped":
                store.write(ActiveState="inactive", SubState="dead", MainPID=0, Result="success")
                return 0
            if outcome == "failed-to-start":
                return 1
            if outcome == "exited" and restart != "always":
                return 0
            # It was up and then failed (exit, crash, watchdog): Restart=on-failure.
            if restart not in ("on-failure", "on-abnormal", "always") or stopping:
                store.write(ActiveState="failed", SubState="failed", MainPID=0)
                return 0
            store.write(ActiveState="activating", SubState="auto-restart", MainPID=0)
            waited = time.monotonic() + restart_s
            while time.monotonic() < waited and not stopping:
                time.sleep(0.05)
            if stopping:
                store.write(ActiveState="inactive", SubState="dead", MainPID=0)
                return 0
            store.write(NRestarts=int(store.read()["NRestarts"]) + 1)
            counter = store.read()["NRestarts"]
            print(f"{unit}: Scheduled restart job, restart counter is at {counter}.", flush=True)
    finally:
        sock.close()
        shutil.rmtree(short, ignore_errors=True)


def _run_main(
    store: _Store,
    settings: dict[str, list[str]],
    argv: list[str],
    env: dict[str, str],
    sock: socket.socket,
    stopping: Any,
) -> str:
    """Run the main process once, as systemd supervises it; how it ended: ``stopped``,
    ``failed-to-start`` (before READY=1) or ``failed`` (after it, or by the watchdog)."""
    unit = store.unit
    watchdog_s = _seconds(settings, "WatchdogSec", 0)
    run_env = dict(env)
    if watchdog_s > 0:
        run_env["WATCHDOG_USEC"] = str(int(watchdog_s * 1_000_000))
    process = subprocess.Popen(
        argv,
        env=run_env,
        stdin=subprocess.DEVNULL,
        stdout=sys.stdout,
        stderr=sys.stderr,
        start_new_session=True,
    )
    store.write(MainPID=process.pid, ActiveState="activating", SubState="start")
    start_deadline = time.monotonic() + _seconds(settings, "TimeoutStartSec", 90)
    stop_timeout = _seconds(settings, "TimeoutStopSec", 90)
    ready = False
    last_ping = time.monotonic()
    # Counted over every run of the unit (restarts included), as tests read them.
    pings = int(store.read().get("WatchdogPings", 0))
    ping_times: list[float] = list(store.read().get("WatchdogPingTimes", []))
    result = "exit-code"
    while process.poll() is None:
        if stopping():
            store.write(ActiveState="deactivating", SubState="stop-sigterm")
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(stop_timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
            break
        if not ready and time.monotonic() > start_deadline:
            os.killpg(process.pid, signal.SIGKILL)
            store.write(ActiveState="failed", SubState="failed", Result="timeout")
            process.wait()
            return "failed-to-start"
        if ready and watchdog_s > 0 and time.monotonic() - last_ping > watchdog_s:
            # What systemd does when the pings stop: SIGABRT (WatchdogSignal=), a failure.
            print(f"{unit}: Watchdog timeout (limit {watchdog_s:g}s)!", flush=True)
            result = "watchdog"
            store.write(Result=result)
            process.send_signal(signal.SIGABRT)
            try:
                process.wait(stop_timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
            break
        try:
            message = sock.recv(4096).decode("utf-8", "replace")
        except TimeoutError:
            continue
        lines = message.splitlines()
        if not ready and "READY=1" in lines:
            ready = True
            last_ping = time.monotonic()
            store.write(ActiveState="active", SubState="running")
        if "WATCHDOG=1" in lines:
            last_ping = time.monotonic()
            pings += 1
            ping_times = [*ping_times[-9:], time.time()]  # wall clock: tests compare it
            store.write(WatchdogPings=pings, WatchdogPingTimes=ping_times)
        for line in lines:
            if line.startswith("STATUS="):
                store.write(StatusText=line.removeprefix("STATUS="))
    code = process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # what is left of the "cgroup"
    if stopping():
        return "stopped"
    print(f"{unit}: Main process exited, status={code}", flush=True)
    if code == 0 and result != "watchdog" and ready:
        store.write(ActiveState="inactive", SubState="dead", MainPID=0, Result="success")
        return "exited"
    store.write(ActiveState="failed", SubState="failed", MainPID=0, Result=result)
    return "failed" if ready else "failed-to-start"


# ---- systemctl -----------------------------------------------------------------------


def _start(root: Path, store: _Store) -> bool:
    store.write(ActiveState="activating", SubState="start", HostPID=0, MainPID=0)
    with store.journal.open("ab") as journal:
        subprocess.Popen(
            [
                sys.executable,
                str(HERE),
                "--root",
                str(root),
                "--state",
                str(store.state),
                "--host",
                store.unit,
            ],
            stdin=subprocess.DEVNULL,
            stdout=journal,
            stderr=journal,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_WAIT_S
    while time.monotonic() < deadline:
        data = store.read()
        if data["ActiveState"] in ("active", "failed"):
            return bool(data["ActiveState"] == "active")
        if data["HostPID"] and not _alive(int(data["HostPID"])):
            return False
        time.sleep(0.05)
    return False


def _stop(store: _Store) -> None:
    data = store.read()
    pid = int(data["HostPID"])
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    if store.read()["ActiveState"] not in ("inactive", "failed"):
        store.write(ActiveState="inactive", SubState="dead", MainPID=0)


def _active(store: _Store) -> bool:
    data = store.read()
    return data["ActiveState"] == "active" and _alive(int(data["HostPID"]))


def systemctl(root: Path, state: Path, argv: list[str]) -> int:
    with (state / "calls.jsonl").open("a", encoding="utf-8") as log:
        log.write(json.dumps({"argv": argv}) + "\n")
    quiet = "--quiet" in argv or "-q" in argv
    now = "--now" in argv
    value_only = "--value" in argv
    properties: list[str] = []
    words: list[str] = []
    rest = iter(argv)
    for word in rest:
        if word in ("-p", "--property"):
            properties.extend(next(rest, "").split(","))
        elif word.startswith("--property="):
            properties.extend(word.split("=", 1)[1].split(","))
        elif not word.startswith("-"):
            words.append(word)
    if not words:
        print("fake systemctl: no command", file=sys.stderr)
        return 1
    command, units = words[0], words[1:]
    if command in ("daemon-reload",):
        return 0
    if not units:
        print(f"fake systemctl: {command} needs a unit", file=sys.stderr)
        return 1
    store = _Store(state, units[0])
    if command == "reset-failed":
        if store.read()["ActiveState"] == "failed":
            store.write(ActiveState="inactive", SubState="dead")
        return 0
    if command in ("enable", "disable"):
        if command == "enable":
            store.enabled_flag.touch()
            if now and not _active(store):
                return 0 if _start(root, store) else 1
        else:
            store.enabled_flag.unlink(missing_ok=True)
            if now:
                _stop(store)
        return 0
    if command == "is-enabled":
        enabled = store.enabled_flag.exists()
        if not quiet:
            print("enabled" if enabled else "disabled")
        return 0 if enabled else 1
    if command == "is-active":
        active = _active(store)
        if not quiet:
            print("active" if active else store.read()["ActiveState"])
        return 0 if active else 3
    if command in ("start", "restart", "try-restart"):
        if command == "try-restart" and not _active(store):
            return 0
        if command == "start" and _active(store):
            return 0
        _stop(store)
        if _start(root, store):
            return 0
        print(
            f"Job for {store.unit} failed because the control process exited with error "
            f'code.\nSee "systemctl status {store.unit}" and "journalctl -xeu {store.unit}" '
            "for details.",
            file=sys.stderr,
        )
        return 1
    if command == "stop":
        _stop(store)
        return 0
    if command == "show":
        data = store.read()
        if data["ActiveState"] == "active" and not _alive(int(data["HostPID"])):
            data.update(ActiveState="failed", SubState="failed", MainPID=0)
        for name in properties or list(data):
            print(data.get(name, "") if value_only else f"{name}={data.get(name, '')}")
        return 0
    if command == "status":
        data = store.read()
        print(f"{store.unit} - {data['ActiveState']} ({data['SubState']})")
        return 0 if data["ActiveState"] == "active" else 3
    print(f"fake systemctl: unsupported command {command}", file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    # The wrapper from write_systemctl always passes --root R --state S first.
    root, state, rest = Path(argv[1]), Path(argv[3]), argv[4:]
    if rest[:1] == ["--host"]:
        return host(root, state, rest[1])
    return systemctl(root, state, rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
