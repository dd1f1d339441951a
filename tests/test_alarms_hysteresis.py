"""Quality alarms: hysteresis and business hours (pure state machine)."""

from __future__ import annotations

import datetime as dt

import pytest

from agent.capture.alarms import AlarmBook, AlarmTrack, Sample, is_open, step
from agent.config.quality import QualityConfig
from agent.model import Severity

BAD = Sample("too_dark", True, Severity.FAIL, 12.0, 35.0)
GOOD = Sample("too_dark", False)
NOON = dt.time(12, 0)


def run(book: AlarmBook, pattern: str, moment: dt.time = NOON) -> list[str]:
    """Feed 'B'/'G' samples; returns the transitions as 'raised'/'cleared' per step."""
    out = []
    for char in pattern:
        transitions = book.update([BAD if char == "B" else GOOD], moment)
        out.append(",".join(t.state for t in transitions) or "-")
    return out


def test_raises_after_n_bad_in_a_row_and_clears_after_m_good() -> None:
    book = AlarmBook(raise_after=3, clear_after=2)
    assert run(book, "BBB") == ["-", "-", "raised"]
    assert book.active() == ["too_dark"]
    assert run(book, "BBGBG") == ["-", "-", "-", "-", "-"]  # good streak broken: still on
    assert run(book, "G") == ["cleared"]
    assert book.active() == []


def test_a_good_sample_resets_the_bad_streak() -> None:
    book = AlarmBook(raise_after=3, clear_after=1)
    assert run(book, "BBGBBGBB") == ["-"] * 8
    assert run(book, "B") == ["raised"]


def test_raise_after_one_raises_immediately_and_once() -> None:
    book = AlarmBook(raise_after=1, clear_after=1)
    assert run(book, "BBBG") == ["raised", "-", "-", "cleared"]


def test_transition_carries_the_numbers() -> None:
    state, transition = step(AlarmTrack(), BAD, raise_after=1, clear_after=1)
    assert transition is not None
    assert (transition.code, transition.state) == ("too_dark", "raised")
    assert transition.severity == "fail"
    assert (transition.value, transition.threshold) == (12.0, 35.0)
    _, cleared = step(state, GOOD, raise_after=1, clear_after=1)
    assert cleared is not None and cleared.state == "cleared" and cleared.value == 12.0


def test_checks_are_independent() -> None:
    book = AlarmBook(raise_after=2, clear_after=1)
    blur = Sample("blurred", True, Severity.WARN, 0.3, 0.17)
    book.update([BAD, blur], NOON)
    transitions = book.update([GOOD, blur], NOON)
    assert [(t.code, t.state) for t in transitions] == [("blurred", "raised")]
    assert book.active() == ["blurred"]


HOURS = ["06:00-14:00", "16:00-22:30"]


@pytest.mark.parametrize(
    ("clock", "expected"),
    [
        ("05:59", False),
        ("06:00", True),
        ("13:59", True),
        ("14:00", False),
        ("15:00", False),
        ("16:00", True),
        ("22:29", True),
        ("22:30", False),
        ("03:00", False),
    ],
)
def test_business_hours(clock: str, expected: bool) -> None:
    assert is_open(dt.time.fromisoformat(clock), HOURS) is expected


@pytest.mark.parametrize(
    ("clock", "expected"),
    [("21:59", False), ("22:00", True), ("23:59", True), ("01:59", True), ("02:00", False)],
)
def test_business_hours_across_midnight(clock: str, expected: bool) -> None:
    assert is_open(dt.time.fromisoformat(clock), ["22:00-02:00"]) is expected


def test_no_hours_means_always_open() -> None:
    assert is_open(dt.time(3, 0), [])
    assert is_open(dt.datetime(2024, 5, 1, 3, 0, tzinfo=dt.UTC), ["00:00-24:00"])


def test_closed_kitchen_at_night_is_not_an_alarm() -> None:
    book = AlarmBook(raise_after=2, clear_after=1, business_hours=HOURS)
    night = dt.time(23, 30)
    assert run(book, "BBBBB", night) == ["-"] * 5
    assert book.active() == []
    # Opening time: the streak starts afresh, bad samples before opening did not count.
    assert run(book, "B", dt.time(6, 0)) == ["-"]
    assert run(book, "B", dt.time(6, 1)) == ["raised"]


def test_always_alarm_checks_count_at_night() -> None:
    book = AlarmBook(raise_after=2, clear_after=1, business_hours=HOURS, always_alarm=["no_signal"])
    lost = Sample("no_signal", True, Severity.FAIL, 0.99, 0.93)
    night = dt.time(2, 0)
    book.update([lost, BAD], night)
    transitions = book.update([lost, BAD], night)
    assert [(t.code, t.state) for t in transitions] == [("no_signal", "raised")]


def test_an_alarm_raised_before_closing_clears_at_night_on_good_samples() -> None:
    book = AlarmBook(raise_after=1, clear_after=2, business_hours=HOURS)
    assert run(book, "B", dt.time(22, 0)) == ["raised"]
    assert run(book, "B", dt.time(23, 0)) == ["-"]  # stays raised, not re-raised
    assert run(book, "GG", dt.time(23, 1)) == ["-", "cleared"]


def test_config_check_rules_keep_their_defaults_when_partly_set() -> None:
    config = QualityConfig.model_validate(
        {"checks": {"too_dark": {"severity": "warn"}, "blurred": {"vs_reference": 0.3}}}
    )
    defaults = QualityConfig().checks
    assert config.checks.too_dark.severity == "warn"
    assert config.checks.too_dark.threshold == defaults.too_dark.threshold
    assert config.checks.blurred.threshold == defaults.blurred.threshold
    assert config.checks.blurred.vs_reference == 0.3


def test_config_validates_business_hours_and_always_alarm() -> None:
    from pydantic import ValidationError

    config = QualityConfig.model_validate({"business_hours": [*HOURS, "22:00-24:00"]})
    assert config.business_hours[-1] == "22:00-24:00"
    for bad in (["6:00-14:00"], ["06:00-25:00"], ["10:00-10:00"], ["06:00"], ["24:30-01:00"]):
        with pytest.raises(ValidationError):
            QualityConfig.model_validate({"business_hours": bad})
    with pytest.raises(ValidationError, match="not a check"):
        QualityConfig.model_validate({"always_alarm": ["too_drak"]})
    with pytest.raises(ValidationError):
        QualityConfig.model_validate({"raise_after": 0})
    with pytest.raises(ValidationError):
        QualityConfig.model_validate({"checks": {"too_dark": {"threshold": 3, "level": "x"}}})
    with pytest.raises(ValidationError):
        QualityConfig.model_validate(
            {"checks": {"blurred": {"threshold": 0.5, "severity": "error"}}}
        )
