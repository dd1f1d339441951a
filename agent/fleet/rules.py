"""The consumer rules of ``docs/mqtt.md``, as pure functions over one store's record.

``apply(record, observation, stale_heartbeats)`` returns the new record and what to add to
the history; ``sweep(record, now, stale_heartbeats)`` marks a store whose heartbeats
stopped. Nothing here reads a clock or a database.

Presence is kept as two max-registers, so the order in which messages arrive does not
matter (two consumer instances may each see half of a store's traffic):

- ``online_session``: the highest session known to have connected (a ``state`` with
  ``online: true``, a ``birth`` or a ``heartbeat`` of that session proves it);
- ``offline_session``: the highest session known to have ended (a ``state`` with
  ``online: false``: a clean stop or the Last Will).

The store is connected while ``online_session > offline_session`` — an ``online: false``
of an older session than the latest connection (a late Will) changes nothing — and online
while connected and a heartbeat (or the connection itself) was heard within
``stale_heartbeats x heartbeat_interval_s``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from agent.fleet.ingest import (
    BirthSeen,
    EventSeen,
    HeartbeatSeen,
    KcpEventData,
    Observation,
    StageChangedData,
    StateSeen,
    event_data,
)

DEFAULT_HEARTBEAT_INTERVAL_S = 30


@dataclass(frozen=True)
class StoreRecord:
    """Everything the fleet knows about one store now (one database row)."""

    store_id: str
    district: str
    name: str | None = None
    address: str | None = None
    licence_number: str | None = None
    expected_completion: str | None = None
    agent_version: str | None = None
    kcps: tuple[str, ...] = ()
    cameras: tuple[dict[str, Any], ...] = ()  # enrolled, from birth: {id, name, kcps}
    heartbeat_interval_s: int = DEFAULT_HEARTBEAT_INTERVAL_S
    online_session: int = 0
    offline_session: int = 0
    offline_reason: str | None = None
    last_alive_at: float | None = None
    online: bool = False
    online_changed_at: float | None = None
    first_seen: float | None = None
    last_seen: float | None = None
    stage: str | None = None
    stage_reached: str | None = None
    stage_reached_since: float | None = None
    hb_session: int = 0
    hb_seq: int = 0
    hb_ts: float | None = None
    live_cameras: tuple[dict[str, Any], ...] = ()  # from the latest heartbeat
    coverage: dict[str, dict[str, Any]] = field(default_factory=dict)  # kcp -> covered, since


# --- history entries -----------------------------------------------------------------------


@dataclass(frozen=True)
class PresenceChange:
    at: float
    online: bool
    reason: str
    session: int


@dataclass(frozen=True)
class StageChange:
    at: float
    stage_reached: str | None
    stage: str | None


@dataclass(frozen=True)
class KcpChange:
    kcp: str
    covered: bool
    at: float


@dataclass(frozen=True)
class AlarmChange:
    camera_id: str
    code: str
    raised: bool
    at: float
    severity: str | None = None


HistoryEntry = PresenceChange | StageChange | KcpChange | AlarmChange


@dataclass(frozen=True)
class Outcome:
    record: StoreRecord
    history: tuple[HistoryEntry, ...] = ()


# --- presence ------------------------------------------------------------------------------


def stale_window_s(record: StoreRecord, stale_heartbeats: int) -> float:
    return float(stale_heartbeats * max(1, record.heartbeat_interval_s))


def judge(record: StoreRecord, now: float, stale_heartbeats: int) -> tuple[bool, str]:
    """(online, why) for ``record`` at ``now``."""
    if record.online_session <= record.offline_session:
        if record.online_session == 0 and record.offline_session == 0:
            return False, "never_connected"
        return False, record.offline_reason or "connection_lost"
    if record.last_alive_at is None:
        return False, "stale"
    if now - record.last_alive_at >= stale_window_s(record, stale_heartbeats):
        return False, "stale"
    return True, "connected"


def _settle(
    before: StoreRecord, after: StoreRecord, at: float, stale_heartbeats: int
) -> tuple[StoreRecord, tuple[HistoryEntry, ...]]:
    """Record a presence change when the judgement at ``at`` differs from the stored one."""
    online, why = judge(after, at, stale_heartbeats)
    if not online and why == "stale":
        # Silence is judged by sweep() alone, which dates it to when the store went quiet
        # and which the consumer holds back after its own start (its heartbeats need time
        # to arrive before silence means anything).
        online = before.online
    if online == before.online and before.online_changed_at is not None:
        return after, ()
    if online == before.online and not online:
        # Never judged before and offline: nothing flipped, but the clock starts now.
        return dataclasses.replace(after, online_changed_at=at), ()
    when = max(at, before.online_changed_at or at)
    session = after.online_session if online else max(after.offline_session, 0)
    change = PresenceChange(when, online, why, session)
    return dataclasses.replace(after, online=online, online_changed_at=when), (change,)


def sweep(record: StoreRecord, now: float, stale_heartbeats: int) -> Outcome:
    """A store whose heartbeats stopped goes offline at the moment it became stale."""
    if not record.online:
        return Outcome(record)
    online, why = judge(record, now, stale_heartbeats)
    if online:
        return Outcome(record)
    if why == "stale" and record.last_alive_at is not None:
        at = record.last_alive_at + stale_window_s(record, stale_heartbeats)
    else:
        at = now
    at = max(at, record.online_changed_at or at)
    change = PresenceChange(at, False, why, record.offline_session)
    return Outcome(dataclasses.replace(record, online=False, online_changed_at=at), (change,))


# --- applying one observation --------------------------------------------------------------


def _seen(record: StoreRecord, at: float) -> StoreRecord:
    first = record.first_seen if record.first_seen is not None else at
    last = max(record.last_seen or at, at)
    return dataclasses.replace(record, first_seen=min(first, at), last_seen=last)


def _alive(record: StoreRecord, at: float) -> StoreRecord:
    return dataclasses.replace(record, last_alive_at=max(record.last_alive_at or at, at))


def apply(record: StoreRecord, observation: Observation, stale_heartbeats: int) -> Outcome:
    """The store after ``observation``, and the history it adds."""
    received = observation.origin.received_at
    before = record
    record = _seen(record, received)
    if record.district != observation.origin.district:
        record = dataclasses.replace(record, district=observation.origin.district)
    history: list[HistoryEntry] = []
    if isinstance(observation, StateSeen):
        record = _apply_state(record, observation)
    elif isinstance(observation, BirthSeen):
        record, stage_history = _apply_birth(record, observation)
        history += stage_history
    elif isinstance(observation, HeartbeatSeen):
        record, more = _apply_heartbeat(record, observation)
        history += more
    else:
        record, more = _apply_event(record, observation)
        history += more
    record, presence = _settle(before, record, received, stale_heartbeats)
    return Outcome(record, (*presence, *history))


def _new_connection(record: StoreRecord, session: int) -> bool:
    return session > record.online_session


def _apply_state(record: StoreRecord, state: StateSeen) -> StoreRecord:
    at = state.origin.received_at
    if state.online:
        if _new_connection(record, state.session):
            # A connection we did not know of: it gets a full stale window to send its
            # first heartbeat (a retained state at start-up is news to this consumer too).
            record = _alive(dataclasses.replace(record, online_session=state.session), at)
        return record
    if state.session >= record.offline_session:
        record = dataclasses.replace(
            record, offline_session=state.session, offline_reason=state.reason
        )
    return record


def _stage_update(
    record: StoreRecord, stage: str | None, reached: str | None, at: float
) -> tuple[StoreRecord, list[HistoryEntry]]:
    new_stage = stage if stage is not None else record.stage
    new_reached = reached if reached is not None else record.stage_reached
    if new_stage == record.stage and new_reached == record.stage_reached:
        return record, []
    since = record.stage_reached_since
    if new_reached != record.stage_reached:
        since = at
    updated = dataclasses.replace(
        record, stage=new_stage, stage_reached=new_reached, stage_reached_since=since
    )
    return updated, [StageChange(at, new_reached, new_stage)]


def _box_time(ts: float, received: float) -> float:
    """The box's clock for timelines (docs/mqtt.md), but never after we received it."""
    return min(ts, received)


def _apply_birth(record: StoreRecord, birth: BirthSeen) -> tuple[StoreRecord, list[HistoryEntry]]:
    at = birth.origin.received_at
    if birth.session < record.online_session:
        return record, []  # an older connection's birth: the newer one has said it all
    if _new_connection(record, birth.session):
        record = _alive(dataclasses.replace(record, online_session=birth.session), at)
    record = dataclasses.replace(
        record,
        name=birth.name,
        address=birth.address,
        licence_number=birth.licence_number,
        expected_completion=birth.expected_completion,
        agent_version=birth.agent_version,
        kcps=birth.kcps,
        cameras=tuple({"id": c.id, "name": c.name, "kcps": list(c.kcps)} for c in birth.cameras),
        heartbeat_interval_s=birth.heartbeat_interval_s,
    )
    when = _box_time(birth.ts, at)
    if record.hb_ts is not None and birth.ts < record.hb_ts:
        return record, []  # a heartbeat after this birth already told the stage
    return _stage_update(record, birth.stage, birth.stage_reached, when)


def _apply_heartbeat(
    record: StoreRecord, beat: HeartbeatSeen
) -> tuple[StoreRecord, list[HistoryEntry]]:
    at = beat.origin.received_at
    if beat.session > record.offline_session:
        if _new_connection(record, beat.session):
            record = dataclasses.replace(record, online_session=beat.session)
        record = _alive(record, at)
    if (beat.session, beat.seq) <= (record.hb_session, record.hb_seq):
        return record, []  # an older heartbeat than the one we hold (or a QoS 1 repeat)
    when = _box_time(beat.ts, at)
    record = dataclasses.replace(
        record,
        hb_session=beat.session,
        hb_seq=beat.seq,
        hb_ts=beat.ts,
        live_cameras=tuple(
            {
                "id": c.id,
                "online": c.online,
                "error": c.error,
                "stream": c.stream,
                "quality": c.quality,
                "issues": list(c.issues),
                "enrolled": c.enrolled,
            }
            for c in beat.cameras
        ),
    )
    history: list[HistoryEntry] = []
    coverage = dict(record.coverage)
    for kcp, covered in beat.coverage.items():
        change = _kcp_observation(coverage, kcp, covered, when)
        if change is not None:
            history.append(change)
    record = dataclasses.replace(record, coverage=coverage)
    record, stage_history = _stage_update(record, beat.stage, beat.stage_reached, when)
    return record, history + stage_history


def _kcp_observation(
    coverage: dict[str, dict[str, Any]], kcp: str, covered: bool, at: float
) -> KcpChange | None:
    """Fold "``kcp`` was ``covered`` at ``at``" into ``coverage``; the change, if any."""
    current = coverage.get(kcp)
    if current is None:
        coverage[kcp] = {"covered": covered, "since": at}
        return KcpChange(kcp, covered, at)
    if current["covered"] == covered:
        if at < current["since"]:
            coverage[kcp] = {"covered": covered, "since": at}  # earlier evidence (late event)
        return None
    if at < current["since"]:
        return None  # older than what we know: a late event about a past state
    coverage[kcp] = {"covered": covered, "since": at}
    return KcpChange(kcp, covered, at)


def _apply_event(record: StoreRecord, event: EventSeen) -> tuple[StoreRecord, list[HistoryEntry]]:
    """Events are deduplicated on msg_id by the caller; this folds one into the record."""
    if event.session > record.offline_session:
        if _new_connection(record, event.session):
            record = dataclasses.replace(record, online_session=event.session)
        record = _alive(record, event.origin.received_at)
    when = _box_time(event.ts, event.origin.received_at)
    data = event_data(event)  # ValidationError propagates: the caller counts it as bad
    if data is None:
        return record, []
    if event.type in ("camera_offline", "camera_online"):
        camera_id = str(event.data["camera_id"])
        offline = event.type == "camera_offline"
        return record, [AlarmChange(camera_id, "camera_offline", offline, when)]
    if event.type == "quality_alarm":
        raised = getattr(data, "is_raised", None)
        if raised is None:
            return record, []
        return record, [
            AlarmChange(
                str(event.data["camera_id"]),
                str(event.data["code"])[:64],
                bool(raised),
                when,
                getattr(data, "severity", None),
            )
        ]
    if isinstance(data, KcpEventData):
        coverage = dict(record.coverage)
        change = _kcp_observation(coverage, data.kcp, event.type == "kcp_covered", when)
        record = dataclasses.replace(record, coverage=coverage)
        return record, [change] if change is not None else []
    if isinstance(data, StageChangedData):
        if record.hb_ts is not None and event.ts < record.hb_ts:
            return record, []  # a later heartbeat already told the stage
        stage = str(data.stage) if data.stage is not None else None
        reached = str(data.stage_reached) if data.stage_reached is not None else None
        return _stage_update(record, stage, reached, when)
    return record, []
