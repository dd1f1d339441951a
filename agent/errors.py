"""One error family for the whole agent.

Every error the agent reports carries a stable ``code`` (a short snake_case string that
appears in logs, heartbeats, events and ``--json`` output) and the process exit code a CLI
command ends with when that error stops it. Codes are registered when a subclass is
defined, so two errors can never claim the same code by accident.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from agent.model import ErrorInfo


class ExitCode(enum.IntEnum):
    """Process exit codes (sysexits.h where one fits); systemd must not restart on CONFIG."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    UNAVAILABLE = 69
    TEMPORARY = 75
    CONFIG = 78


class AgentError(Exception):
    """Root of every error the agent raises on purpose."""

    code: ClassVar[str] = "agent_error"
    exit_code: ClassVar[ExitCode] = ExitCode.FAILURE
    registry: ClassVar[dict[str, type[AgentError]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        code = cls.__dict__.get("code")
        if code is None:
            return  # abstract family that inherits its parent's code
        other = AgentError.registry.get(code)
        if other is not None and other is not cls:
            raise TypeError(f"error code {code!r} already used by {other.__name__}")
        AgentError.registry[code] = cls

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        """The wire form used in ``--json`` output."""
        return {"code": self.code, "message": self.message}

    def info(self) -> ErrorInfo:
        """The error as it leaves the box (heartbeats, events, command results)."""
        from agent.model import ErrorInfo
        from agent.scrub import scrub

        return ErrorInfo(code=self.code, message=scrub(self.message))


AgentError.registry[AgentError.code] = AgentError


# --- usage and configuration -------------------------------------------------------------


class UsageError(AgentError):
    code = "usage"
    exit_code = ExitCode.USAGE


class ConfigError(AgentError):
    """A configuration that cannot be used. ``problems`` holds one line per finding."""

    code = "config_invalid"
    exit_code = ExitCode.CONFIG

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = problems if problems is not None else [message]
        super().__init__(message if problems is None else "\n".join(self.problems))

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class SecretMissingError(ConfigError):
    code = "secret_missing"


class UnavailableError(AgentError):
    """A resource the command needs does not exist here (no network, no ffmpeg...)."""

    code = "unavailable"
    exit_code = ExitCode.UNAVAILABLE


class NoNetworkError(UnavailableError):
    code = "no_network"


class AgentNotRunning(UnavailableError):
    """Nothing answers on the status socket: no agent runs with this runtime folder."""

    code = "agent_not_running"


class StatusNotAllowed(UnavailableError):
    """The status socket is there but this user may not connect to it."""

    code = "status_not_allowed"


class TemporaryError(AgentError):
    """Worth retrying later: the broker is down, a lock is held..."""

    code = "temporary"
    exit_code = ExitCode.TEMPORARY


class AgentNotResponding(TemporaryError):
    """The agent accepted a status request but gave no usable answer in time."""

    code = "agent_not_responding"


# --- cameras (discovery, ONVIF, frames) --------------------------------------------------


class CameraError(AgentError):
    """A problem with one camera. Never fatal to the agent: it is reported per camera."""

    code = "camera_error"


class CameraUnreachable(CameraError):
    code = "unreachable"


class CameraTimeout(CameraError):
    code = "timeout"


class CameraAuthFailed(CameraError):
    code = "auth_failed"


class CameraClockSkew(CameraError):
    code = "clock_skew"


class CameraNotOnvif(CameraError):
    code = "not_onvif"


class CameraBadResponse(CameraError):
    code = "bad_response"


class CameraNotFound(CameraError):
    """An enrolled camera that discovery has never seen."""

    code = "not_found"


class FrameUnavailable(CameraError):
    code = "no_frame"


class ImageTooLarge(FrameUnavailable):
    """A picture whose header declares more pixels than the box decodes (an image bomb)."""

    code = "image_too_large"


class CameraUntrustedHost(CameraError):
    """A camera pointed a stream, snapshot or media URI at a host it may not send the
    password to (not its own, not in ``cameras.enrolled[].media_hosts``): not followed."""

    code = "untrusted_host"


class CameraUnsupportedUri(CameraError):
    """A URI of a scheme the box does not read from a camera (``file:``, ``ftp:``...)."""

    code = "unsupported_uri"


class CameraInsecureAuth(CameraError):
    """A camera asked for HTTP Basic over plain HTTP (the password readable on the LAN)
    and its config does not allow it (``cameras.enrolled[].allow_basic_http``)."""

    code = "insecure_auth"


class CameraIdentityUnverified(CameraError):
    """A device claims the identity of a camera that has a login of its own and is bound
    to another address: it gets none of that camera's credentials (docs/security.md)."""

    code = "identity_unverified"


# --- uplink (MQTT, streams) --------------------------------------------------------------


class StreamError(AgentError):
    """A platform stream that is not up; each subclass's code says why (the family has no
    code of its own). The relay retries by itself."""


class FfmpegExited(StreamError):
    code = "ffmpeg_exited"


class FfmpegMissing(StreamError):
    code = "ffmpeg_missing"


class StreamNoOutput(StreamError):
    """ffmpeg started but made no progress within its first grace period."""

    code = "no_output"


class StreamStalled(StreamError):
    """ffmpeg stopped making progress (a frozen camera, a stuck ingest)."""

    code = "stalled"


class StreamRestartLimit(StreamError):
    """Too many restarts in the last hour: the relay waits before trying again."""

    code = "restart_limit"


class UplinkBudget(StreamError):
    """Paused: the uplink budget is taken by higher-priority cameras."""

    code = "uplink_budget"


class NoStreamProfile(StreamError):
    """The camera offers nothing ffmpeg can read (no profile with an RTSP URI)."""

    code = "no_profile"


class CameraNotInventoried(StreamError):
    """Waiting for discovery to inventory the camera (just after start)."""

    code = "camera_unknown"


class CommandRejected(AgentError):
    """A remote command that will not be run; ``code`` tells ops why."""

    code = "command_rejected"


class CommandMalformed(CommandRejected):
    code = "command_malformed"


class CommandUnknown(CommandRejected):
    code = "command_unknown"


class CommandExpired(CommandRejected):
    code = "command_expired"


class CommandBadArgs(CommandRejected):
    code = "command_bad_args"


class CommandBusy(CommandRejected):
    code = "command_busy"


class CommandExpiryTooFar(CommandRejected):
    """``expires_at`` further ahead than a command may live (1 h): a replay of it later
    could not be told from a new command once its id was forgotten."""

    code = "command_expiry_too_far"


class CommandNotSupported(CommandRejected):
    """The daemon did not provide this action (e.g. no streams configured)."""

    code = "command_not_supported"


class SnapshotTooLarge(AgentError):
    code = "snapshot_too_large"


# --- storage (the state directory) ---------------------------------------------------------


class StorageError(AgentError):
    """The state directory cannot be written (an I/O error, a read-only filesystem): what
    needs it works on in a degraded mode and the heartbeat says so."""

    code = "storage_error"


class StorageFull(StorageError):
    """No space left on the state filesystem, or less than the reserve kept for the rest of
    the box."""

    code = "storage_full"


# --- subprocesses ------------------------------------------------------------------------


class ProcessTimeout(AgentError):
    """A helper process (ffmpeg, ffprobe) ran past its deadline and was killed."""

    code = "process_timeout"
