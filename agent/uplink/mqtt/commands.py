"""Remote commands from ops (``.../cmd``) and their results (``.../cmd/result``).

A command is ``{command_id, name, args, expires_at}``. Whatever arrives, nothing crashes:
unreadable (too large, too deeply nested, not JSON), unknown, badly-argued, expired or
too long-lived commands are answered ``rejected`` with an error code; a valid one is
answered ``accepted``, run off the MQTT thread by a single worker thread, and answered
``succeeded`` (with a result) or ``failed`` (with an error). A command lives at most an hour
and its id is remembered until it expires (:mod:`agent.uplink.mqtt.ledger`): a repeated id
is not run again, its last known status is repeated with ``duplicate: true``.

The actions themselves belong to the daemon, which provides them through
:class:`CommandHooks`; ``rebirth`` is handled by the reporter.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from pydantic import BaseModel, ValidationError

from agent.errors import (
    AgentError,
    CommandBadArgs,
    CommandBusy,
    CommandExpired,
    CommandExpiryTooFar,
    CommandMalformed,
    CommandNotSupported,
    CommandUnknown,
    SnapshotTooLarge,
)
from agent.images import check_image
from agent.model import ErrorInfo
from agent.scrub import scrub, scrub_value
from agent.uplink.messages import (
    COMMAND_ARGS,
    CameraArgs,
    Command,
    CommandResultMessage,
    CommandStatus,
    NoArgs,
    SnapshotArgs,
    SnapshotResult,
    StartStreamArgs,
    utc_now,
)
from agent.uplink.mqtt.ledger import (
    CLOCK_MARGIN_S,
    MAX_LIFETIME_S,
    REJECTED_KEEP_S,
    SeenCommands,
)

log = structlog.get_logger(__name__)

MAX_COMMAND_BYTES = 64 * 1024
MAX_JSON_DEPTH = 16  # a command is two levels deep; json.loads recurses, and crashes deep


class CommandHooks(Protocol):
    """What the daemon lets ops do remotely. Raise an AgentError subclass to fail with its
    code; anything else fails as ``agent_error``. Calls come from the command thread."""

    def rescan(self) -> dict[str, Any]:
        """Run camera discovery now; a summary (e.g. cameras found) for the result."""
        ...

    def snapshot(self, camera_id: str) -> bytes:
        """One current JPEG of ``camera_id``."""
        ...

    def restart_stream(self, camera_id: str) -> None:
        """Restart the platform stream of ``camera_id``."""
        ...

    def start_stream(self, camera_id: str, duration_s: int | None) -> dict[str, Any]:
        """Stream an on-demand camera for ``duration_s`` (or its idle timeout)."""
        ...

    def stop_stream(self, camera_id: str) -> dict[str, Any]:
        """Stop an on-demand camera's stream now."""
        ...

    def reload_config(self) -> dict[str, Any]:
        """Re-read the config file; a summary (e.g. applied, config_hash) for the result."""
        ...

    def diagnose(self) -> dict[str, Any]:
        """The `kitchen-agent diagnose --json` object (secrets already scrubbed)."""
        ...

    def reset_reference(self, camera_id: str) -> dict[str, Any]:
        """Forget the camera's reference view so its next usable frame is enrolled."""
        ...


class NoHooks:
    """Hooks for a daemon that offers no remote actions: every command fails cleanly."""

    def _unsupported(self) -> Any:
        raise CommandNotSupported("this agent does not offer that action")

    def rescan(self) -> dict[str, Any]:
        return self._unsupported()  # type: ignore[no-any-return]

    def snapshot(self, camera_id: str) -> bytes:
        return self._unsupported()  # type: ignore[no-any-return]

    def restart_stream(self, camera_id: str) -> None:
        self._unsupported()

    def start_stream(self, camera_id: str, duration_s: int | None) -> dict[str, Any]:
        return self._unsupported()  # type: ignore[no-any-return]

    def stop_stream(self, camera_id: str) -> dict[str, Any]:
        return self._unsupported()  # type: ignore[no-any-return]

    def reload_config(self) -> dict[str, Any]:
        return self._unsupported()  # type: ignore[no-any-return]

    def diagnose(self) -> dict[str, Any]:
        return self._unsupported()  # type: ignore[no-any-return]

    def reset_reference(self, camera_id: str) -> dict[str, Any]:
        return self._unsupported()  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Outcome:
    """One result to publish on ``cmd/result``."""

    command_id: str | None
    name: str | None
    status: CommandStatus
    error: ErrorInfo | None = None
    result: dict[str, Any] | None = None
    duplicate: bool = False

    def message(self, session: int) -> CommandResultMessage:
        return CommandResultMessage(
            command_id=self.command_id,
            name=self.name,
            status=self.status,
            ts=utc_now(),
            session=max(1, session),
            duplicate=self.duplicate,
            error=self.error,
            result=self.result,
        )


def _rejected(error: AgentError, command_id: str | None, name: str | None) -> Outcome:
    info = error.info()
    return Outcome(command_id, name, "rejected", error=info)


@dataclass(frozen=True)
class ParsedCommand:
    command: Command
    args: NoArgs


def json_depth_exceeds(payload: bytes, limit: int) -> bool:
    """Whether JSON text nests arrays/objects deeper than ``limit`` (strings skipped).

    Linear and allocation-free, so it runs before a parser that recurses per level.
    """
    depth = 0
    in_string = escaped = False
    for byte in payload:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


def parse_command(payload: bytes, now: datetime) -> ParsedCommand | Outcome:
    """Validate a ``cmd`` payload: a runnable command, or the ``rejected`` outcome. Pure."""
    if len(payload) > MAX_COMMAND_BYTES:
        return _rejected(
            CommandMalformed(f"command larger than {MAX_COMMAND_BYTES} bytes"), None, None
        )
    if json_depth_exceeds(payload, MAX_JSON_DEPTH):
        return _rejected(
            CommandMalformed(f"command nested deeper than {MAX_JSON_DEPTH} levels"), None, None
        )
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _rejected(CommandMalformed("command is not JSON"), None, None)
    if not isinstance(body, dict):
        return _rejected(CommandMalformed("command must be a JSON object"), None, None)
    raw_id, raw_name = body.get("command_id"), body.get("name")
    command_id = raw_id if isinstance(raw_id, str) and len(raw_id) <= 64 else None
    name = raw_name if isinstance(raw_name, str) and len(raw_name) <= 64 else None
    try:
        command = Command.model_validate(body)
    except ValidationError as error:
        return _rejected(CommandMalformed(_first_problem(error)), command_id, name)
    args_model = COMMAND_ARGS.get(command.name)
    if args_model is None:
        return _rejected(
            CommandUnknown(f"unknown command {command.name!r}"), command.command_id, command.name
        )
    if command.expires_at <= now:
        return _rejected(
            CommandExpired(f"expired at {command.expires_at.isoformat()}"),
            command.command_id,
            command.name,
        )
    latest = now + timedelta(seconds=MAX_LIFETIME_S + CLOCK_MARGIN_S)
    if command.expires_at > latest:
        return _rejected(
            CommandExpiryTooFar(
                f"expires_at may be at most {MAX_LIFETIME_S / 3600:g} h ahead "
                f"(got {command.expires_at.isoformat()})"
            ),
            command.command_id,
            command.name,
        )
    try:
        args = args_model.model_validate(command.args)
    except ValidationError as error:
        return _rejected(CommandBadArgs(_first_problem(error)), command.command_id, command.name)
    return ParsedCommand(command, args)


def _first_problem(error: ValidationError) -> str:
    problem = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in problem["loc"]) or "command"
    return f"{where}: {problem['msg']}"


def fit_jpeg(data: bytes, max_bytes: int) -> tuple[bytes, int | None, int | None]:
    """``data`` if small enough, else re-encoded smaller (quality, then size) to fit."""
    import cv2
    import numpy as np

    if not data.startswith(b"\xff\xd8"):
        raise SnapshotTooLarge("the camera did not return a JPEG")
    check_image(data, ("jpeg",))  # its header, before a decoder allocates what it claims
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise SnapshotTooLarge("the camera's JPEG cannot be decoded")
    height, width = image.shape[:2]
    if len(data) <= max_bytes:
        return data, int(width), int(height)
    for scale in (1.0, 0.75, 0.5, 0.35, 0.25, 0.15):
        scaled = (
            image
            if scale == 1.0
            else cv2.resize(
                image,
                (max(1, int(width * scale)), max(1, int(height * scale))),
                interpolation=cv2.INTER_AREA,
            )
        )
        for quality in (80, 60, 40):
            ok, encoded = cv2.imencode(".jpg", scaled, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok and len(encoded) <= max_bytes:
                h, w = scaled.shape[:2]
                return encoded.tobytes(), int(w), int(h)
    raise SnapshotTooLarge(f"no JPEG of this camera fits in {max_bytes} bytes")


def _keep_until(command: Command) -> float:
    """Until when a command's id must be remembered: it can be replayed until it expires."""
    return command.expires_at.timestamp() + CLOCK_MARGIN_S


class CommandRunner:
    """Turns ``cmd`` payloads into outcomes; runs accepted commands on one worker thread.

    Owner thread: :meth:`submit` (immediate outcomes) and :meth:`finished` (results of
    commands that completed since the last call).
    """

    def __init__(
        self,
        hooks: CommandHooks,
        seen: SeenCommands,
        rebirth: Callable[[], None],
        snapshot_max_bytes: int = 256 * 1024,
        max_pending: int = 8,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.hooks = hooks
        self.seen = seen
        self.rebirth = rebirth
        self.snapshot_max_bytes = snapshot_max_bytes
        self.max_pending = max_pending
        self._clock = clock
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="mqtt-cmd"
        )
        self._lock = threading.Lock()
        self._running: set[concurrent.futures.Future[Outcome]] = set()
        self._done: list[Outcome] = []

    def submit(self, payload: bytes) -> list[Outcome]:
        """Answer one ``cmd`` payload. Never raises: whatever arrives gets an answer."""
        now = self._clock()
        try:
            parsed = parse_command(payload, now)
        except Exception:  # a parser's surprise is an unreadable command, not our crash
            log.exception("command_unreadable")
            parsed = _rejected(CommandMalformed("command cannot be read"), None, None)
        if isinstance(parsed, Outcome):
            known = self.seen.get(parsed.command_id) if parsed.command_id else None
            if known is not None and parsed.error and parsed.error.code != "command_malformed":
                return [self._duplicate(parsed.command_id, known)]
            log.warning(
                "command_rejected",
                command_id=parsed.command_id,
                name=parsed.name,
                code=parsed.error.code if parsed.error else None,
            )
            self._remember(parsed, now.timestamp() + REJECTED_KEEP_S)
            return [parsed]
        command = parsed.command
        known = self.seen.get(command.command_id)
        if known is not None:
            return [self._duplicate(command.command_id, known)]
        with self._lock:
            busy = len(self._running) >= self.max_pending
        if busy or not self.seen.has_room():
            why = "running" if busy else "this hour"
            outcome = _rejected(
                CommandBusy(f"too many commands {why}; try again later"),
                command.command_id,
                command.name,
            )
            return [outcome]  # not remembered: the same id may be sent again later
        accepted = Outcome(command.command_id, command.name, "accepted")
        self._remember(accepted, _keep_until(command))
        log.info("command_accepted", command_id=command.command_id, name=command.name)
        future = self._executor.submit(self._run, parsed)
        with self._lock:
            self._running.add(future)
        future.add_done_callback(self._collect)
        return [accepted]

    def _remember(self, outcome: Outcome, keep_until: float) -> None:
        error = outcome.error.model_dump() if outcome.error else None
        self.seen.record(outcome.command_id, outcome.name, outcome.status, error, keep_until)

    @staticmethod
    def _duplicate(command_id: str | None, known: dict[str, Any]) -> Outcome:
        error = known.get("error")
        return Outcome(
            command_id,
            known.get("name"),
            known.get("status", "accepted"),
            error=ErrorInfo.model_validate(error) if isinstance(error, dict) else None,
            duplicate=True,
        )

    def _collect(self, future: concurrent.futures.Future[Outcome]) -> None:
        try:
            outcome = future.result()
        except BaseException as error:  # _run catches everything; this is belt and braces
            outcome = Outcome(
                None, None, "failed", ErrorInfo(code="agent_error", message=str(error))
            )
        with self._lock:
            self._running.discard(future)
            self._done.append(outcome)

    def finished(self) -> list[Outcome]:
        with self._lock:
            done, self._done = self._done, []
        return done

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._running)

    def _run(self, parsed: ParsedCommand) -> Outcome:
        command = parsed.command
        if command.expires_at <= self._clock():
            outcome = _rejected(
                CommandExpired("expired while waiting to run"), command.command_id, command.name
            )
        else:
            try:
                result = self._act(command.name, parsed.args)
                outcome = Outcome(command.command_id, command.name, "succeeded", result=result)
            except AgentError as error:
                info = error.info()
                outcome = Outcome(command.command_id, command.name, "failed", error=info)
            except Exception as error:  # a bug in an action must not kill the command thread
                log.exception("command_crashed", command_id=command.command_id, name=command.name)
                info = ErrorInfo(
                    code=AgentError.code, message=scrub(f"{type(error).__name__}: {error}")
                )
                outcome = Outcome(command.command_id, command.name, "failed", error=info)
        log.info(
            "command_finished",
            command_id=command.command_id,
            name=command.name,
            status=outcome.status,
            code=outcome.error.code if outcome.error else None,
        )
        self._remember(outcome, _keep_until(command))
        return outcome

    def _act(self, name: str, args: BaseModel) -> dict[str, Any]:
        if name == "rebirth":
            self.rebirth()
            return {}
        if name == "rescan":
            return dict(scrub_value(self.hooks.rescan()))
        if name == "reload_config":
            return dict(scrub_value(self.hooks.reload_config()))
        if name == "diagnose":
            return dict(scrub_value(self.hooks.diagnose()))
        if name == "reset_reference":
            if not isinstance(args, CameraArgs):
                raise CommandBadArgs("camera_id is required")
            return dict(self.hooks.reset_reference(args.camera_id))
        if name == "restart_stream":
            if not isinstance(args, CameraArgs):
                raise CommandBadArgs("camera_id is required")
            self.hooks.restart_stream(args.camera_id)
            return {"camera_id": args.camera_id}
        if name == "start_stream":
            if not isinstance(args, StartStreamArgs):
                raise CommandBadArgs("camera_id is required")
            return dict(self.hooks.start_stream(args.camera_id, args.duration_s))
        if name == "stop_stream":
            if not isinstance(args, CameraArgs):
                raise CommandBadArgs("camera_id is required")
            return dict(self.hooks.stop_stream(args.camera_id))
        if name == "snapshot":
            if not isinstance(args, SnapshotArgs):
                raise CommandBadArgs("camera_id is required")
            limit = min(self.snapshot_max_bytes, args.max_bytes or self.snapshot_max_bytes)
            jpeg, width, height = fit_jpeg(self.hooks.snapshot(args.camera_id), limit)
            return SnapshotResult(
                camera_id=args.camera_id,
                bytes=len(jpeg),
                width=width,
                height=height,
                jpeg_base64=base64.b64encode(jpeg).decode("ascii"),
            ).model_dump()
        raise CommandUnknown(f"unknown command {name!r}")

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
