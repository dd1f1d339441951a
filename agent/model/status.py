"""What the agent knows right now about each camera's picture and stream, and about the
store's key control points. Written by the workers into :class:`agent.state.AgentState`,
read by the reporter, the CLI and the status socket."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.model.camera import ErrorInfo
from agent.model.states import (
    CoverageReason,
    RouteName,
    Severity,
    Stage,
    StreamState,
    UplinkState,
    Verdict,
)


@dataclass(frozen=True)
class QualityIssue:
    """One check that found a problem in one picture."""

    code: str  # a QualityCheck value
    severity: Severity
    value: float
    threshold: float

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "value": round(self.value, 4),
            "threshold": self.threshold,
        }


def worst_verdict(issues: Iterable[QualityIssue]) -> Verdict:
    """``fail`` when any issue fails, ``warn`` when there is any issue, else ``ok``."""
    found = list(issues)
    if any(issue.severity is Severity.FAIL for issue in found):
        return Verdict.FAIL
    return Verdict.WARN if found else Verdict.OK


@dataclass(frozen=True)
class QualityStatus:
    verdict: Verdict = Verdict.UNKNOWN
    issues: tuple[QualityIssue, ...] = ()
    alarms: tuple[str, ...] = ()  # codes of raised alarms
    checked_at: float | None = None
    in_view: Mapping[str, float] = field(default_factory=dict)  # kcp -> visible ROI share


@dataclass(frozen=True)
class StreamStatus:
    state: StreamState = StreamState.STOPPED
    route: RouteName | None = None
    bitrate_kbps: float | None = None
    fps: float | None = None
    cap_kbps: int | None = None
    restarts_last_hour: int = 0
    up_since: float | None = None
    error: ErrorInfo | None = None


@dataclass(frozen=True)
class UplinkStatus:
    """The MQTT link as the reporter last saw it (written by the reporter only)."""

    state: UplinkState = UplinkState.STOPPED
    broker: str | None = None  # URL without credentials
    session: int | None = None  # session number of the current (or last) connection
    rtt_ms: float | None = None  # round trip of the last acknowledged QoS 1 publish
    since: float | None = None  # wall-clock time of the last change of ``state``
    error: str | None = None  # why the last connection attempt failed (scrubbed)


@dataclass(frozen=True)
class KcpCoverage:
    """One declared key control point: covered now, and by which cameras."""

    kcp: str
    covered: bool
    cameras: tuple[str, ...]  # cameras that cover it now
    assigned: tuple[str, ...]  # cameras assigned to it
    reason: CoverageReason | None  # why not covered

    def to_json(self) -> dict[str, Any]:
        return {
            "covered": self.covered,
            "cameras": list(self.cameras),
            "assigned": list(self.assigned),
            "reason": None if self.reason is None else self.reason.value,
        }


@dataclass(frozen=True)
class StoreCoverage:
    """Coverage of the store's declared KCPs (in declaration order) at one moment."""

    kcps: tuple[KcpCoverage, ...]
    checked_at: float | None = None

    @property
    def declared(self) -> int:
        return len(self.kcps)

    @property
    def covered(self) -> int:
        return sum(1 for item in self.kcps if item.covered)

    @property
    def ratio(self) -> float:
        return round(self.covered / self.declared, 4) if self.kcps else 1.0

    def get(self, kcp: str) -> KcpCoverage | None:
        return next((item for item in self.kcps if item.kcp == kcp), None)

    def covered_map(self, declared: Sequence[str] | None = None) -> dict[str, bool]:
        """Per KCP (``declared`` ones, or every KCP held): covered now."""
        by_kcp = {item.kcp: item.covered for item in self.kcps}
        keys = list(by_kcp) if declared is None else list(declared)
        return {kcp: by_kcp.get(kcp, False) for kcp in keys}

    def to_json(self) -> dict[str, Any]:
        return {
            "ratio": self.ratio,
            "covered": self.covered,
            "declared": self.declared,
            "kcps": {item.kcp: item.to_json() for item in self.kcps},
            "checked_at": self.checked_at,
        }


@dataclass(frozen=True)
class StageStatus:
    """The store's construction stage as the daemon holds it (see :mod:`agent.stage`)."""

    stage: Stage | None  # live, with hysteresis; None until first judged
    reached: Stage  # the highest stage held for 10 minutes (annex 4's 建设进度)
    reached_at: float | None = None  # when it was reached (Unix seconds)
