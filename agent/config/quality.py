"""``quality:`` — video quality diagnosis (视频质量诊断) settings.

Every check compares one metric with a threshold; the direction (whether a metric above
or below its threshold is bad) is fixed by the check and said in each description. The
defaults were tuned on the evaluation set of ``benchmarks/quality_accuracy.py``.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from agent.config.base import Section
from agent.model import Severity

_HOURS_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


_THRESHOLD = "Threshold on the check's metric without a reference."
_VS_REFERENCE = (
    "Threshold used instead when the camera has a reference frame (the metric is then "
    "relative to the reference); null: same as threshold."
)
_SEVERITY = "warn: picture usable but degraded; fail: not usable."


class CheckRule(Section):
    """One check's settings; each check's own subclass carries its tuned defaults, so a
    config may set just one of them (e.g. only the severity)."""

    enabled: bool = Field(default=True, description="Run this check.")
    threshold: float = Field(description=_THRESHOLD)
    vs_reference: float | None = Field(default=None, description=_VS_REFERENCE)
    severity: Severity = Field(default=Severity.WARN, description=_SEVERITY)

    def limit(self, with_reference: bool) -> float:
        """The threshold that applies: vs_reference when judged against a reference (and
        set), else threshold."""
        if with_reference and self.vs_reference is not None:
            return self.vs_reference
        return self.threshold


class NoSignalRule(CheckRule):
    threshold: float = Field(default=0.93, description=_THRESHOLD)
    severity: Severity = Field(default=Severity.FAIL, description=_SEVERITY)


class FrozenRule(CheckRule):
    threshold: float = Field(default=0.001, description=_THRESHOLD)
    severity: Severity = Field(default=Severity.FAIL, description=_SEVERITY)


class JitterRule(CheckRule):
    threshold: float = Field(default=0.5, description=_THRESHOLD)
    severity: Severity = Field(default=Severity.WARN, description=_SEVERITY)


class TooDarkRule(CheckRule):
    threshold: float = Field(default=35.0, description=_THRESHOLD)
    severity: Severity = Field(default=Severity.FAIL, description=_SEVERITY)
    lost: float = Field(
        default=0.8,
        ge=0.0,
        le=1.0,
        description="Also too dark when at least this share of the picture is lost to black "
        "(crushed); high because a dim view of a lit subject has up to half of it near "
        "black, and a black cover is black too.",
    )


class TooBrightRule(CheckRule):
    threshold: float = Field(default=229.0, description=_THRESHOLD)
    severity: Severity = Field(default=Severity.FAIL, description=_SEVERITY)
    lost: float = Field(
        default=0.4,
        ge=0.0,
        le=1.0,
        description="Also too bright when at least this share of the picture is lost to "
        "white (clipped), whatever the mean; a flame, a lamp or a window is a few per cent.",
    )
    lost_vs_reference: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="Used instead of lost with a reference: the rise of the share lost to "
        "white over the reference's (a window the reference shows does not count).",
    )


class BlurredRule(CheckRule):
    threshold: float = Field(default=0.48, description=_THRESHOLD)
    # Midway between what clean views rise by (nudged, re-encoded at quality 18, a gain
    # change, a lit flame: at most 0.06) and where moderate defocus and 8-pixel motion blur
    # begin (0.17): an edge at either side would be tuned to the pictures it was set on.
    vs_reference: float | None = Field(default=0.12, description=_VS_REFERENCE)
    severity: Severity = Field(default=Severity.WARN, description=_SEVERITY)


class LowContrastRule(CheckRule):
    threshold: float = Field(default=0.33, description=_THRESHOLD)
    vs_reference: float | None = Field(default=0.5, description=_VS_REFERENCE)
    severity: Severity = Field(default=Severity.WARN, description=_SEVERITY)
    clarity: float = Field(
        default=0.14,
        ge=0.0,
        description="Also low contrast (a veil) when the view's clarity is below this: the "
        "local contrast of its best-kept 16-pixel blocks, discounted by how far its black "
        "level is lifted towards white.",
    )
    clarity_vs_reference: float = Field(
        default=0.45,
        ge=0.0,
        description="Used instead of clarity with a reference: clarity as a fraction of the "
        "reference's.",
    )
    hides_view_below: float | None = Field(
        default=0.035,
        ge=0.0,
        description="A veil that hides the view: low contrast with a clarity below this "
        "(the detail gone as well as the contrast: grease or fog on the lens, not steam in "
        "the room) is a fail whatever severity says, so the KCPs behind it are not counted "
        "as in view. null: never.",
    )


class ColorCastRule(CheckRule):
    threshold: float = Field(default=7.0, description=_THRESHOLD)
    vs_reference: float | None = Field(default=0.4, description=_VS_REFERENCE)
    severity: Severity = Field(default=Severity.WARN, description=_SEVERITY)


class NoisyRule(CheckRule):
    threshold: float = Field(default=2.5, description=_THRESHOLD)
    vs_reference: float | None = Field(default=1.2, description=_VS_REFERENCE)
    severity: Severity = Field(default=Severity.WARN, description=_SEVERITY)


class StripesRule(CheckRule):
    # One frame needs more than a reference does: the scene's own regular structure (a
    # window's mullions, shelving) can stand out as one band in phase across the view up
    # to about 4 levels, while flicker and interference bars that one frame can catch at
    # all mostly stand far above that. Fainter bands are "cannot judge without a
    # reference" (check-frame's undecided).
    threshold: float = Field(default=4.5, description=_THRESHOLD)
    vs_reference: float | None = Field(default=3.5, description=_VS_REFERENCE)
    severity: Severity = Field(default=Severity.WARN, description=_SEVERITY)


class OccludedRule(CheckRule):
    threshold: float = Field(default=0.6, description=_THRESHOLD)
    vs_reference: float | None = Field(default=0.15, description=_VS_REFERENCE)
    severity: Severity = Field(default=Severity.FAIL, description=_SEVERITY)


class SceneChangedRule(CheckRule):
    threshold: float = Field(default=0.25, description=_THRESHOLD)
    severity: Severity = Field(default=Severity.FAIL, description=_SEVERITY)


class ChecksConfig(Section):
    no_signal: NoSignalRule = Field(
        default_factory=NoSignalRule,
        description="Signal lost (black, blue or 'no signal' card): fraction of the frame "
        "within a few grey levels of its commonest level; at or above threshold is bad.",
    )
    frozen: FrozenRule = Field(
        default_factory=FrozenRule,
        description="Frozen picture: fraction of pixels that changed between consecutive "
        "samples; below threshold (identical decoded frames) is bad.",
    )
    too_dark: TooDarkRule = Field(
        default_factory=TooDarkRule,
        description="Too dark: mean brightness 0..255; below threshold is bad (or most of "
        "the picture lost to black, see lost).",
    )
    too_bright: TooBrightRule = Field(
        default_factory=TooBrightRule,
        description="Too bright (over-exposed, glare): mean brightness 0..255; above "
        "threshold is bad, and so is a large share of the picture lost to white (lost). "
        "The issue's value is the brightness, or the share lost when that fired.",
    )
    blurred: BlurredRule = Field(
        default_factory=BlurredRule,
        description="Blurred / out of focus: blur 0..1 (Crete-Roffet re-blur measure); above "
        "threshold is bad. vs_reference: rise in blur over the reference.",
    )
    low_contrast: LowContrastRule = Field(
        default_factory=LowContrastRule,
        description="Low contrast (steam, grease, fog, protective film): contrast 0..1 "
        "((p95-p5)/(p95+p5) of brightness); below threshold is bad. vs_reference: "
        "contrast as a fraction of the reference's. A veil that keeps large-scale light "
        "and dark but lifts the blacks and flattens local contrast is judged by clarity. "
        "The issue's value is the contrast, or the clarity when that fired.",
    )
    color_cast: ColorCastRule = Field(
        default_factory=ColorCastRule,
        description="Colour cast: without a reference, a tint over the whole frame (chroma "
        "as % of lightness, counted only when the same across the frame); above threshold "
        "is bad. vs_reference: shift of white balance from the reference's "
        "(log of the largest ratio between colour channel gains, in linear light). "
        "Greyscale (infrared night) frames never have a cast.",
    )
    noisy: NoisyRule = Field(
        default_factory=NoisyRule,
        description="Noise / snow: estimated noise sigma in grey levels at analysis size; "
        "above threshold is bad. Without a reference, the noise where the picture is "
        "quietest (5th percentile over 8-pixel cells, a bright cell's noise raised by "
        "what the tone curve squeezes in the highlights); vs_reference: rise of the "
        "whole-frame estimate over the reference's.",
    )
    stripes: StripesRule = Field(
        default_factory=StripesRule,
        description="Stripes / rolling bands (light flicker, interference): amplitude in "
        "grey levels of the strongest periodic band across rows or columns; above "
        "threshold is bad. Without a reference, the band every one of six strips shows "
        "in phase (standing out of the spectrum), as amplitude at mid-grey; "
        "vs_reference: the band in what the reference does not explain, mains flicker "
        "(2.5-10 bands a frame) or interference bars at any slant.",
    )
    occluded: OccludedRule = Field(
        default_factory=OccludedRule,
        description="Occluded / tampered: fraction of the view blocked. Without a reference "
        "only featureless areas joined to the frame edge count; with one, areas whose "
        "detail or brightness no longer match the reference. Above threshold is bad.",
    )
    scene_changed: SceneChangedRule = Field(
        default_factory=SceneChangedRule,
        description="Camera moved or turned away (needs a reference): fraction of the "
        "enrolled view no longer in the picture (1 when the view cannot be matched at "
        "all); above threshold is bad.",
    )
    jitter: JitterRule = Field(
        default_factory=JitterRule,
        description="Jitter (a shaking mount): how far in analysis pixels the whole view "
        "moves between consecutive samples of the same view (phase correlation); above "
        "threshold is bad. The daemon raises it after raise_after shaken samples in a row "
        "(a camera knocked aside once moves once); check-frame --sequence when at least "
        "two pairs, and half of them, moved.",
    )


class QualityConfig(Section):
    interval_s: int = Field(
        default=60, ge=5, le=3600, description="Seconds between quality checks of a camera."
    )
    analysis_width: int = Field(
        default=320,
        ge=160,
        le=1280,
        description="Frames are decoded at reduced size and judged at this width in pixels.",
    )
    frame_timeout_s: float = Field(
        default=10.0, gt=0, le=60, description="Hard timeout for taking one frame."
    )
    raise_after: int = Field(
        default=3, ge=1, le=100, description="Raise an alarm after this many bad samples in a row."
    )
    clear_after: int = Field(
        default=2, ge=1, le=100, description="Clear an alarm after this many good samples in a row."
    )
    business_hours: list[str] = Field(
        default_factory=list,
        description='Local opening hours, e.g. ["06:00-14:00", "16:00-22:30"] (a range may '
        "pass midnight: 22:00-02:00). Outside them no new alarm is raised (a closed kitchen "
        "at night is not an alarm). Empty: always open.",
    )
    always_alarm: list[str] = Field(
        default_factory=lambda: ["no_signal", "frozen", "scene_changed"],
        description="Checks that raise alarms even outside business hours (a camera "
        "unplugged or turned away at night is still news; a dark closed kitchen is not).",
    )
    roi_min_visible: float = Field(
        default=0.6,
        ge=0.0,
        le=1.0,
        description="A KCP's region of interest counts as in view when at least this "
        "fraction of it is still visible and unblocked.",
    )
    checks: ChecksConfig = Field(
        default_factory=ChecksConfig, description="Threshold and severity of every check."
    )

    @field_validator("always_alarm")
    @classmethod
    def _known_checks(cls, value: list[str]) -> list[str]:
        known = set(ChecksConfig.model_fields)
        for code in value:
            if code not in known:
                raise ValueError(f"{code!r} is not a check; known: {', '.join(sorted(known))}")
        return value

    @field_validator("business_hours")
    @classmethod
    def _valid_hours(cls, value: list[str]) -> list[str]:
        for item in value:
            match = _HOURS_RE.match(item)
            if match is None:
                raise ValueError(f"{item!r} is not HH:MM-HH:MM")
            if match.group(3) == "24" and match.group(4) != "00":
                raise ValueError(f"{item!r}: 24:MM is only valid as 24:00")
            if item[:5] == item[6:]:
                raise ValueError(f"{item!r} is an empty range")
        return value
