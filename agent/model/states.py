"""The named states of the agent, one enum each, shared by every side and every message.

Each is a ``StrEnum`` so that its value is what appears on the wire (heartbeats, events,
``--json`` output) and a JSON Schema lists the allowed values.
"""

from __future__ import annotations

import enum


class Stage(enum.StrEnum):
    """Construction stage of a store, as the programme's district reports count it."""

    PREPARATION = "preparation"
    EQUIPMENT_INSTALLED = "equipment_installed"
    VIDEO_CONNECTED = "video_connected"
    COMPLETED = "completed"

    @property
    def name_zh(self) -> str:
        """The stage in the words of the programme's annex 4 (建设进度)."""
        return STAGE_NAMES_ZH[self]

    @property
    def rank(self) -> int:
        """Order of the stages: preparation 0 .. completed 3."""
        return _STAGE_ORDER.index(self)


_STAGE_ORDER = (
    Stage.PREPARATION,
    Stage.EQUIPMENT_INSTALLED,
    Stage.VIDEO_CONNECTED,
    Stage.COMPLETED,
)

STAGE_NAMES_ZH: dict[Stage, str] = {
    Stage.PREPARATION: "前期准备",
    Stage.EQUIPMENT_INSTALLED: "设备安装",
    Stage.VIDEO_CONNECTED: "视频对接",
    Stage.COMPLETED: "完成建设",
}


class StreamState(enum.StrEnum):
    """Where a camera's platform stream is in its life cycle."""

    STOPPED = "stopped"  # not wanted (on-demand at rest, stopped by command, removed)
    WAITING = "waiting"  # wanted, but discovery has not inventoried the camera yet
    STARTING = "starting"  # ffmpeg started (or the camera's encoder is being set)
    UP = "up"  # ffmpeg is making progress
    DOWN = "down"  # failed; a restart is scheduled
    PAUSED = "paused"  # the uplink budget is taken by higher-priority cameras


class RouteName(enum.StrEnum):
    """How a camera's video reaches the ingest, cheapest first."""

    COPY = "copy"
    SET_ENCODER = "set_encoder"
    TRANSCODE = "transcode"


class Verdict(enum.StrEnum):
    """A camera's picture as a whole: the worst of its current issues."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"  # no picture judged (yet, or this time)


class Severity(enum.StrEnum):
    """How bad one quality issue is: ``fail`` uncovers the camera's KCPs, ``warn`` not."""

    WARN = "warn"
    FAIL = "fail"


class AlarmState(enum.StrEnum):
    RAISED = "raised"
    CLEARED = "cleared"


class CoverageReason(enum.StrEnum):
    """Why a declared KCP is not covered, the most telling first."""

    NO_CAMERA = "no_camera"  # no enrolled camera is assigned to it
    OUT_OF_VIEW = "out_of_view"  # its camera is up but its region of interest left the view
    FAILING = "failing"  # its camera has a fail-level quality alarm
    OFFLINE = "offline"  # its camera does not answer


class DiscoverySource(enum.StrEnum):
    """How a camera was last found."""

    MULTICAST = "multicast"  # WS-Discovery ProbeMatch (multicast, or a unicast --scan)
    STATIC = "static"  # cameras.static in the config
    HELLO = "hello"  # announced itself while the daemon listened
    RECHECK = "recheck"  # a known camera asked again at its last address


class PresenceReason(enum.StrEnum):
    """Why the box's retained ``state`` says what it says."""

    CONNECTED = "connected"
    STOPPED = "stopped"
    CONNECTION_LOST = "connection_lost"


class UplinkState(enum.StrEnum):
    """The MQTT link to central operations, as the reporter sees it."""

    CONNECTED = "connected"  # CONNACK received: presence, heartbeats and events flow
    CONNECTING = "connecting"  # a CONNECT is on the wire, no answer yet
    OFFLINE = "offline"  # no connection; the next attempt waits for its backoff
    STOPPED = "stopped"  # the reporter is not running (stopping, or not started yet)


class WorkerState(enum.StrEnum):
    """One supervised worker of the daemon."""

    RUNNING = "running"  # in its loop and checking in
    RESTARTING = "restarting"  # crashed; waiting for its backoff before the next start
    WEDGED = "wedged"  # alive but has not checked in within the watchdog period
    FAILED = "failed"  # crashed too often: given up on (the watchdog stops, systemd restarts)
    STOPPED = "stopped"  # ended by a stop or a reload


class QualityCheck(enum.StrEnum):
    """Every video quality check, in the order they are judged and reported."""

    NO_SIGNAL = "no_signal"
    FROZEN = "frozen"
    TOO_DARK = "too_dark"
    TOO_BRIGHT = "too_bright"
    BLURRED = "blurred"
    LOW_CONTRAST = "low_contrast"
    COLOR_CAST = "color_cast"
    NOISY = "noisy"
    STRIPES = "stripes"
    OCCLUDED = "occluded"
    SCENE_CHANGED = "scene_changed"
    JITTER = "jitter"

    @property
    def lower_is_bad(self) -> bool:
        """True when a value *below* the threshold raises the issue (else above)."""
        return self in _LOWER_IS_BAD

    @property
    def description(self) -> str:
        return QUALITY_CHECK_DESCRIPTIONS[self]


# A picture no camera is enrolled with: judged against itself, a blurred, fogged or dark
# view would look fine forever. The lens must be cleaned (or the light switched on) first.
REFERENCE_VETO = frozenset(
    {
        QualityCheck.NO_SIGNAL,
        QualityCheck.TOO_DARK,
        QualityCheck.TOO_BRIGHT,
        QualityCheck.BLURRED,
        QualityCheck.LOW_CONTRAST,
    }
)
# Of those, what some views are by nature (a bare steel wall): `enroll --accept-view`.
NATURAL_VIEW = frozenset({QualityCheck.BLURRED, QualityCheck.LOW_CONTRAST})

_LOWER_IS_BAD = frozenset({QualityCheck.FROZEN, QualityCheck.TOO_DARK, QualityCheck.LOW_CONTRAST})

QUALITY_CHECK_DESCRIPTIONS: dict[QualityCheck, str] = {
    QualityCheck.NO_SIGNAL: "share of the picture at one flat level (black, blue or grey "
    "screen, a 'no signal' card)",
    QualityCheck.FROZEN: "share of pixels that changed since the previous sample (a stuck "
    "encoder repeats itself exactly)",
    QualityCheck.TOO_DARK: "brightness of the picture, or the share of it lost to black",
    QualityCheck.TOO_BRIGHT: "brightness of the picture, or the share of it lost to white "
    "(with a reference: its rise)",
    QualityCheck.BLURRED: "re-blur measure, 0 sharp .. 1 flat (with a reference: its rise "
    "over the reference)",
    QualityCheck.LOW_CONTRAST: "contrast of the picture (steam, grease, a film on the lens), "
    "or its clarity (local contrast under a veil that lifts the blacks); with a reference: "
    "the share of the reference's contrast or clarity kept",
    QualityCheck.COLOR_CAST: "colour tint (with a reference: shift of white balance)",
    QualityCheck.NOISY: "noise level (snow, a failing sensor)",
    QualityCheck.STRIPES: "strength of periodic bands (flicker, interference)",
    QualityCheck.OCCLUDED: "share of the view covered",
    QualityCheck.SCENE_CHANGED: "share of the enrolled view the camera no longer shows "
    "(moved or re-aimed)",
    QualityCheck.JITTER: "how far the whole view moved between samples (a shaking mount)",
}

# Alarm codes besides the quality checks: an online camera that gives no picture at all,
# and a KCP's region of interest out of view ("roi:" + KCP code).
NO_FRAME_ALARM = "no_frame"
ROI_ALARM_PREFIX = "roi:"
