"""Quality alarms with hysteresis and business hours (pure; the clock is passed in).

An alarm for one camera and one check is raised after ``raise_after`` bad samples in a
row and cleared after ``clear_after`` good ones, so one odd frame (a cook's hand passing
the lens, a flash of steam) never pages anyone. Outside business hours bad samples do not
count towards a new alarm, except for the checks in ``always_alarm`` (signal lost, frozen,
camera turned away are news at any hour; a dark, closed kitchen is not). Good samples
clear alarms at any hour.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from agent.model import AlarmState, Severity

MINUTES_PER_DAY = 24 * 60


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def parse_hours(ranges: Sequence[str]) -> list[tuple[int, int]]:
    """'HH:MM-HH:MM' strings (validated by the config) as (start, end) minutes of day."""
    return [(_minutes(item[:5]), _minutes(item[6:])) for item in ranges]


def is_open(moment: dt.time | dt.datetime, ranges: Sequence[str]) -> bool:
    """True when ``moment`` (local time) falls in a business-hours range; always open when
    no ranges are configured. A range whose end is before its start passes midnight;
    start is inclusive, end exclusive."""
    if not ranges:
        return True
    clock = moment.time() if isinstance(moment, dt.datetime) else moment
    minute = clock.hour * 60 + clock.minute
    for start, end in parse_hours(ranges):
        if start < end:
            if start <= minute < end:
                return True
        elif minute >= start or minute < end:
            return True
    return False


@dataclass(frozen=True)
class AlarmTrack:
    active: bool = False
    bad_streak: int = 0
    good_streak: int = 0
    severity: Severity | None = None
    value: float | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class AlarmChange:
    code: str
    state: AlarmState
    severity: Severity | None
    value: float | None
    threshold: float | None


@dataclass(frozen=True)
class Sample:
    """One check's outcome for one sample: bad or good, with its numbers when bad."""

    code: str
    bad: bool
    severity: Severity | None = None
    value: float | None = None
    threshold: float | None = None


def step(
    state: AlarmTrack,
    sample: Sample,
    raise_after: int,
    clear_after: int,
    counts: bool = True,
) -> tuple[AlarmTrack, AlarmChange | None]:
    """Advance one alarm by one sample. ``counts`` False (outside business hours) keeps a
    bad sample from building up a new alarm."""
    if sample.bad:
        if not counts and not state.active:
            return replace(state, bad_streak=0, good_streak=0), None
        bad_streak = state.bad_streak + 1
        updated = replace(
            state,
            bad_streak=bad_streak,
            good_streak=0,
            severity=sample.severity,
            value=sample.value,
            threshold=sample.threshold,
        )
        if not state.active and bad_streak >= raise_after:
            raised = replace(updated, active=True)
            return raised, AlarmChange(
                sample.code, AlarmState.RAISED, sample.severity, sample.value, sample.threshold
            )
        return updated, None
    good_streak = state.good_streak + 1
    updated = replace(state, good_streak=good_streak, bad_streak=0)
    if state.active and good_streak >= clear_after:
        cleared = AlarmTrack(good_streak=good_streak)
        return cleared, AlarmChange(
            sample.code, AlarmState.CLEARED, state.severity, state.value, state.threshold
        )
    return updated, None


class AlarmBook:
    """The alarms of one camera, one per check code (not thread-safe: one owner)."""

    def __init__(
        self,
        raise_after: int,
        clear_after: int,
        business_hours: Sequence[str] = (),
        always_alarm: Iterable[str] = (),
    ) -> None:
        self.raise_after = raise_after
        self.clear_after = clear_after
        self.business_hours = list(business_hours)
        self.always_alarm = frozenset(always_alarm)
        self.states: dict[str, AlarmTrack] = {}

    def update(self, samples: Iterable[Sample], moment: dt.time | dt.datetime) -> list[AlarmChange]:
        """Feed one sample of every check; returns the alarms raised or cleared."""
        open_now = is_open(moment, self.business_hours)
        transitions: list[AlarmChange] = []
        for sample in samples:
            state = self.states.get(sample.code, AlarmTrack())
            counts = open_now or sample.code in self.always_alarm
            new_state, transition = step(state, sample, self.raise_after, self.clear_after, counts)
            self.states[sample.code] = new_state
            if transition is not None:
                transitions.append(transition)
        return transitions

    def active(self) -> list[str]:
        return sorted(code for code, state in self.states.items() if state.active)
