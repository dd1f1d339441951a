"""The status socket: the daemon answers ``status`` on ``<runtime_dir>/status.sock``.

Why a socket rather than a file or ``/proc``: the installer mounts ``/proc`` with
``hidepid=invisible``, so nobody but root sees the agent's processes, and a file would be
stale the moment the agent hangs. A socket answers only while the agent is alive, and the
answer is the agent's own picture, not a guess from outside.

Who may ask: the socket is mode 0660, owned by the agent's user and given to the group
``kitchen-tech`` when it exists (sysusers creates it; the unit puts the agent in it), so
technicians in that group and root may connect; nobody else. It is bound under a
temporary name, given its mode and group, and only then renamed into place, so it is never
reachable with looser permissions.

The protocol is one line each way: the client sends ``status\\n``, the daemon answers one
JSON object (:class:`agent.status.model.StatusReport`) and a newline, then closes. What a
client sends is bounded (256 bytes, 2 s); so is what the client reads (1 MiB, its
timeout).
"""

from __future__ import annotations

import contextlib
import errno
import grp
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from pydantic import ValidationError

from agent.errors import AgentError, AgentNotResponding, AgentNotRunning, StatusNotAllowed
from agent.status.model import StatusReport

if TYPE_CHECKING:
    from agent.supervisor import WorkerContext

log = structlog.get_logger(__name__)

SOCKET_NAME = "status.sock"
TECH_GROUP = "kitchen-tech"
SOCKET_MODE = 0o660
MAX_REQUEST_BYTES = 256
MAX_ANSWER_BYTES = 1 << 20
CLIENT_TIMEOUT_S = 2.0


def socket_path(runtime_dir: Path) -> Path:
    return Path(runtime_dir) / SOCKET_NAME


# --- the daemon's side ----------------------------------------------------------------------


class StatusServer:
    """Worker ``status``: answers status requests until the agent stops.

    It stops with the reporter, after the producers, so a technician still gets an
    answer (``phase: stopping``) while the cameras and streams are being stopped.
    """

    name = "status"
    stop_last = True

    def __init__(
        self,
        runtime_dir: Path,
        report: Callable[[], StatusReport],
        group: str | None = TECH_GROUP,
    ) -> None:
        self.runtime_dir = Path(runtime_dir)
        self.path = socket_path(self.runtime_dir)
        self.report = report
        self.group = group
        self.served = 0

    def run(self, ctx: WorkerContext) -> None:
        listener = self._bind()
        bound = self.path.stat()
        try:
            while not ctx.stopping.is_set():
                ctx.beat()
                try:
                    connection, _ = listener.accept()
                except TimeoutError:
                    continue
                with connection:
                    self._serve(connection)
        finally:
            listener.close()
            # Remove the socket only if it is still the one we bound (a newer agent may
            # have taken the name since).
            with contextlib.suppress(OSError):
                now = self.path.stat()
                if (now.st_dev, now.st_ino) == (bound.st_dev, bound.st_ino):
                    self.path.unlink()

    def _bind(self) -> socket.socket:
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            if _answers(self.path):
                raise AgentError(f"another agent already answers on {self.path}")
            self.path.unlink()  # left behind by an agent that was killed
        temporary = self.runtime_dir / f".{SOCKET_NAME}.{os.getpid()}"
        temporary.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(temporary))
            temporary.chmod(SOCKET_MODE)
            gid = _group_id(self.group)
            if gid is not None:
                try:
                    os.chown(temporary, -1, gid)
                except PermissionError:
                    log.warning("status_socket_group_not_set", group=self.group)
            temporary.replace(self.path)
            listener.listen(8)
        except BaseException:
            listener.close()
            temporary.unlink(missing_ok=True)
            raise
        listener.settimeout(0.5)
        log.info("status_socket_listening", path=str(self.path), group=self.group)
        return listener

    def _serve(self, connection: socket.socket) -> None:
        connection.settimeout(CLIENT_TIMEOUT_S)
        try:
            request = _read_line(connection, MAX_REQUEST_BYTES).strip()
            if request in (b"", b"status"):
                try:
                    answer = self.report().model_dump_json()
                except Exception as error:  # a bug must not take the socket down
                    log.exception("status_report_failed")
                    answer = json.dumps(
                        {"error": {"code": "agent_error", "message": type(error).__name__}}
                    )
            else:
                answer = json.dumps(
                    {"error": {"code": "usage", "message": "the only request is 'status'"}}
                )
            connection.sendall(answer.encode("utf-8") + b"\n")
            self.served += 1
        except OSError as error:
            log.info("status_client_gone", error=str(error))


def _group_id(name: str | None) -> int | None:
    if not name:
        return None
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None  # not installed by the installer (a development machine)


def _read_line(connection: socket.socket, limit: int) -> bytes:
    data = b""
    while b"\n" not in data and len(data) < limit:
        chunk = connection.recv(limit - len(data))
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0]


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


# --- the client's side ----------------------------------------------------------------------


def ask_status(path: Path, timeout_s: float = 3.0) -> StatusReport:
    """The running agent's status, or an error whose sentence says what to do."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout_s)
        try:
            client.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError) as error:
            raise AgentNotRunning(
                f"No kitchen-agent is running here: nothing answers on {path}."
            ) from error
        except PermissionError as error:
            raise StatusNotAllowed(
                f"You may not ask the agent: {path} is for root and the {TECH_GROUP} group "
                f"(sudo usermod -aG {TECH_GROUP} $USER, then log in again)."
            ) from error
        except OSError as error:
            if error.errno in (errno.ENOTSOCK, errno.ENOTDIR, errno.ENOENT):
                raise AgentNotRunning(
                    f"No kitchen-agent is running here: {path} is not its socket."
                ) from error
            raise AgentNotRunning(f"Cannot reach the agent on {path}: {error.strerror}.") from error
        try:
            client.sendall(b"status\n")
            data = b""
            while len(data) <= MAX_ANSWER_BYTES:
                chunk = client.recv(65536)
                if not chunk:
                    break
                data += chunk
        except TimeoutError as error:
            raise AgentNotResponding(
                f"The agent did not answer within {timeout_s:g} s on {path}: it may be stuck "
                "(journalctl -u kitchen-agent -n 50)."
            ) from error
        except OSError as error:
            raise AgentNotResponding(f"The agent hung up on {path}: {error.strerror}.") from error
    return parse_answer(data, path)


def parse_answer(data: bytes, path: Path) -> StatusReport:
    if len(data) > MAX_ANSWER_BYTES:
        raise AgentNotResponding(f"The answer on {path} is larger than 1 MiB.")
    try:
        body = json.loads(data)
    except ValueError as error:
        raise AgentNotResponding(f"The answer on {path} is not JSON.") from error
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = str(body["error"].get("message", "error"))
        raise AgentNotResponding(f"The agent could not answer: {message}.")
    try:
        return StatusReport.model_validate(body)
    except ValidationError as error:
        raise AgentNotResponding(
            f"The answer on {path} is not a status: {error.error_count()} problems."
        ) from error
