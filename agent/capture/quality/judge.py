"""Judging: a frame goes down once (measure, compare with the reference when there is
one, judge) and comes out as issues.

When the picture is gone (``no_signal``) nothing else is reported; a frame that is too
dark or too bright reports only that (darkness and glare flatten detail, colour and
contrast and defeat matching), unless against the reference a cover made it so (black
tape, white paper: the view it leaves is as lit as it was); a frame that moved is not
also called occluded (the block comparison is meaningless then), and an unmatched frame
that is mostly blank is occluded rather than moved, and so is one whose remaining fine
detail is where the reference had it (it did not move; mostly featureless, it is
covered, even where what the cover hides had no detail for blocks to lose); an unmatched
frame behind a veil (clarity lost, and blacks lifted or light and dark still where they
were) is the enrolled view in steam or fog, not a moved camera, unless beyond a large
cover the view kept its detail (the cover took the clarity). Against the reference,
detail lost over much of the view that no veil or cover explains is blurred (defocus,
motion, grease smeared over the lens), and a veil's tint is not a colour cast; detail
lost only under a cover is the cover's, while lost all over it is defocus, not a cover;
the contrast a cover takes from the picture is not a veil when the view beyond it kept
its detail; dense steam that took the whole view's detail is a veil, not a cover where
it is thickest; bands over a view that kept its detail are not blur. On one frame, low
clarity is a veil only with the blacks lifted (a soft close-up keeps them), a cover
whose view beyond is as soft as a blurred picture is also blurred (the lens is out of
focus or fogged, or a cover came with a blur: one frame cannot say which), and what the
picture shows but cannot settle (a featureless area that may be a cover or a smooth
surface, a soft picture, faint bands, a sharp periodic pattern) is listed as undecided,
"cannot judge without a reference", rather than guessed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from agent.capture.quality.compare import Reference, compare
from agent.capture.quality.exposure import Light
from agent.capture.quality.frame import Frame, Mask
from agent.capture.quality.metrics import (
    Comparison,
    FrameMetrics,
    Metrics,
    SingleFrameForms,
    measure,
)
from agent.capture.view_match import ViewMatch
from agent.config.quality import CheckRule, QualityConfig
from agent.model import QualityCheck, QualityIssue, Severity, Verdict, worst_verdict

CHECK_CODES: tuple[str, ...] = tuple(check.value for check in QualityCheck)
# The checks by code: a dict look-up, where the enum's own costs a microsecond or two a call.
_CHECK_BY_CODE: dict[str, QualityCheck] = {check.value: check for check in QualityCheck}

_COVERED_OCCLUSION = 0.3  # unmatched view this much unlike the reference is covered if...
_COVERED_UNMOVED = 2  # ...this many features are still exactly where they were, or...
_COVERED_BLANK = 0.9  # ...it is featureless almost edge to edge (the lens covered whole)
# An unmatched view whose remaining fine detail correlates this well with the reference's
# in place has not moved: what is left is where it was (the rest of the view beside a
# cover: 0.57 and more on the tune pictures; a turned camera's view: 0.08 at most, 0.2
# when turned along a tiled wall whose joints repeat).
_COVERED_DETAIL_IN_PLACE = 0.4
_LAYOUT_KEPT = 0.9  # an unmatched view whose block brightness still correlates this well
# with the reference's is the same view behind steam, grease or defocus, not another one
_VEIL_LIFT = 0.35  # black level lifted this much over the reference's: a veil (with clarity)
# ...or light and dark still this much where they were (with clarity lost): fog on the lens
# keeps the layout at 0.84 and more, a turned camera's view correlates 0.7 at most
_LAYOUT_KEPT_VEILED = 0.8
_SURROUNDED = 0.9  # a blank region taking this share of the frame's border surrounds the rest
_VEIL_LIFT_ALONE = 0.35  # low contrast with the blacks lifted this far towards white: a veil
# Low clarity on one frame is a veil only with the blacks lifted at least this far: steam,
# grease and condensation scatter light into every pixel (a tenth of the white and more,
# even after auto-exposure), while a soft close-up or a smooth surface filling the view has
# little local contrast but keeps its blacks (under a twentieth).
_VEIL_LIFT_CLARITY = 0.07
_UNIFORM_LIFT = 0.9  # a featureless view whose blacks reach its white: one uniform cover
_UNDECIDED_SHARE = 0.5  # evidence from this share of a check's threshold up is undecided
# A picture this soft (a share of the blur threshold: 0.42 of 0.48) may be a soft scene or
# a lens out of focus; one frame cannot say which. On the tune pictures 3 % of clean views
# are this soft (6 of 200 of either model: close-ups, smooth walls), and 92 of 100 blurred
# ones of the physical model (49 of 50 of the first), of which 77 (47) reach the threshold.
_SOFT_UNDECIDED = 0.875
# ...or when block by block most of its lit parts are this soft (``soft_blocks``): grease
# strokes or condensation over most of the lens with clear glass between, or a soft scene,
# which the whole-frame measure reads as sharp enough. On the tune pictures clean views
# reach 0.52 (a smooth rendered cold room with a lamp lit, a nudged photograph of sweets),
# the blurs and veils the whole-frame measure leaves unsaid 0.55-0.75. Raised as blur, it
# also caught photographs with a soft background and dim views of a lit subject whose
# pool of light fades into the dark, so it is only said.
_SOFT_BLOCKS_UNDECIDED = 0.55
# ...but a picture from this share of the blur threshold (0.40 of 0.48) whose spectrum
# carries the zeros of a defocus disc or a motion streak (``spectrum.blur_zeros``) is
# blurred: a soft scene fades smoothly. On the tune pictures it caught 13 of the 23 blurs
# the whole-picture measure missed, and no clean view of either model; sharper structure
# seen square on (drawer fronts, shelving: blur 0.38 at most) can leave such zeros too.
# One frame of a view soft by nature and with regular structure both above and below
# (cupboards under shelving) may still read so: a reference settles it.
_BLUR_ZEROS_SOFT = 5 / 6
_ROOT_CAUSES = frozenset({"no_signal", "too_dark", "too_bright"})
# With a reference: detail lost (kept under half) in this share of the view's detailed
# blocks is blurred when no cover or veil explains it: defocus, motion blur, grease
# smeared over most of the lens with clear glass between the strokes. A clean view, even
# nudged, noisy or striped, loses a tenth at most, a quarter under heavy JPEG (quality 18).
_DETAIL_LOST = 0.4
# A veil over the whole view: this share of the detailed blocks lost half their detail and
# clarity fell under this fraction of the reference's (dense steam: all of them, under
# 0.15; a cover keeps the rest of the view, at most 0.87 of the blocks lost, clarity 0.17
# and more).
_VEILED_WHOLE = (0.95, 0.2)
# The view a cover leaves is as sharp as it was when its blur rose less than this: the
# cover's soft, out-of-focus edge spills into it (up to 0.14 beside paper or a hand),
# while defocus raises it as much as the whole view's (0.26 and more).
_SHARP_BESIDE_COVER = 0.2
# ...or when it rose much more than the whole view's: where a large cover leaves little,
# its soft edge is most of what is measured there (1.7 times the whole view's rise and more
# on the tune pictures), while defocus and motion blur raise both alike (0.85-1.05 times).
_EDGE_BESIDE_COVER = 1.4
_BANDS_KEEP_DETAIL = 0.1  # ...while bands over a sharp view leave almost all of it
_SMEARED = 0.6  # ...and beside a cover, when this share lost detail...
# ...some of it beyond the covered region and the ring of blocks around it (its soft
# edge): a cover leaves 2 % of the detailed blocks lost there at most, grease strokes and
# veils 5 % and more. Under it, the view beyond the cover kept its detail: not a veil.
_LOST_BEYOND_COVER = 0.03
# Light lost to white on one frame counts when the blacks are lifted at least this far:
# too much light lifts everything that is not black, while a view exposed right on a
# white backdrop (a product on white) keeps its blacks and full colours. A view with
# truly black parts (a night sky, an unlit doorway) overexposed is missed on one frame.
_GLARE_LIFT = 0.03
# With a reference, a cover (not darkness or glare) is what changed when the view it leaves
# keeps between half and 1.35 times the reference's brightness there: auto-exposure
# answering a black or white cover moves the rest by about a quarter either way (0.6-1.3),
# while too little light leaves it at a quarter or less and a blown exposure at 1.45 and
# more.
_COVER_KEEPS_LIGHT = (0.5, 1.35)


@dataclass(frozen=True)
class Undecided:
    """A check one frame cannot settle: the evidence is there but fits a fault and a
    healthy view alike; only a reference tells them apart."""

    code: str
    value: float
    reason: str

    def to_json(self) -> dict[str, str | float]:
        return {"code": self.code, "value": round(self.value, 4), "reason": self.reason}


@dataclass(frozen=True, eq=False)
class FrameReport:
    measured: FrameMetrics
    issues: list[QualityIssue]
    match: ViewMatch | None = None
    blocked: Mask | None = None  # occlusion grid on the reference's geometry, True: blocked
    # Single frame: what cannot be judged without a reference, worked out only when read
    # (check-frame shows it to a person; the daemon never reads it).
    notes: Callable[[], tuple[Undecided, ...]] | None = None

    @functools.cached_property
    def undecided(self) -> tuple[Undecided, ...]:
        return () if self.notes is None else self.notes()

    @functools.cached_property
    def metrics(self) -> Metrics:
        """The measurements by name (check-frame's JSON)."""
        return self.measured.as_dict()

    @property
    def verdict(self) -> Verdict:
        return worst_verdict(self.issues)


def analyse(
    frame: Frame, settings: QualityConfig | None = None, reference: Reference | None = None
) -> FrameReport:
    """Judge one frame (against the camera's reference when there is one)."""
    config = settings if settings is not None else QualityConfig()
    measured = measure(frame)
    if reference is None:
        alone = FrameMetrics(measured.values, alone=measured.single_frame)
        issues = judge(alone, config)
        notes = functools.partial(
            undecided, alone, issues, config, lambda: measured.bars, lambda: measured.soft
        )
        return FrameReport(alone, issues, notes=notes)
    check = compare(frame, measured, reference, config)
    metrics = FrameMetrics(
        measured.values,
        measured.noise,
        measured.single_frame if check.view_gone else None,
        check.comparison,
    )
    return FrameReport(metrics, judge(metrics, config), check.match, check.blocked)


def judge(metrics: FrameMetrics, settings: QualityConfig) -> list[QualityIssue]:
    """Turn metrics into issues (pure: metrics and settings in, issues out). With a
    comparison, the frame is judged against its reference."""
    checks = settings.checks
    own, alone, versus = metrics.own, metrics.alone, metrics.versus
    light = own.light
    found: dict[str, QualityIssue] = {}

    def consider(code: str, value: float | None, relative: bool = False) -> None:
        rule: CheckRule = getattr(checks, code)
        if not rule.enabled or value is None:
            return
        threshold = rule.limit(with_reference=relative)
        check = _CHECK_BY_CODE[code]
        if check is QualityCheck.NO_SIGNAL:
            bad = value >= threshold
        else:
            bad = value < threshold if check.lower_is_bad else value > threshold
        if bad:
            found[code] = QualityIssue(code, rule.severity, float(value), threshold)

    def also(code: str, value: float | None, threshold: float, low_is_bad: bool) -> None:
        """A second form of a check (its own metric and threshold), when the first did not
        fire."""
        rule: CheckRule = getattr(checks, code)
        if code in found or not rule.enabled or value is None:
            return
        if value < threshold if low_is_bad else value >= threshold:
            found[code] = QualityIssue(code, rule.severity, float(value), threshold)

    consider("no_signal", own.uniformity)
    if "no_signal" in found:
        return list(found.values())
    consider("too_dark", own.brightness)
    also("too_dark", light.crushed, checks.too_dark.lost, low_is_bad=False)
    consider("too_bright", own.brightness)
    veil = checks.low_contrast
    moved = False
    if versus is not None:
        consider("scene_changed", versus.view_lost)
        consider("occluded", versus.occlusion, relative=True)
        unmatched = (versus.view_lost or 0.0) >= 1.0
        # A cover over most of the lens lowers the picture's clarity and lifts its blacks
        # as a veil does, but beyond it and its soft edge the view kept its detail, which a
        # veil over the lens would not have left.
        large_cover = versus.occlusion >= _COVERED_OCCLUSION and _kept_beyond_cover(versus)
        veiled = (
            versus.clarity_kept < veil.clarity_vs_reference
            and (
                versus.lift_rise >= _VEIL_LIFT or (versus.layout_kept or 0.0) >= _LAYOUT_KEPT_VEILED
            )
            and not large_cover
        )
        # Too little of the view is left to match, but its detail is where it was: the
        # camera did not move (a turned camera has nothing where it was).
        rest_in_place = unmatched and (versus.detail_in_place or 0.0) >= _COVERED_DETAIL_IN_PLACE
        if "scene_changed" in found and "occluded" in found:
            # An unmatched view that is largely unlike the reference is covered, not
            # turned away, when what is left is in place or the lens is covered whole.
            in_place = (versus.unmoved or 0.0) >= _COVERED_UNMOVED
            blank = alone is not None and alone.blank_edge >= _COVERED_BLANK
            if (rest_in_place and not veiled) or (
                unmatched and (in_place or blank) and versus.occlusion >= _COVERED_OCCLUSION
            ):
                del found["scene_changed"]
            else:
                del found["occluded"]  # block comparison is meaningless on a moved view
        elif "scene_changed" in found and rest_in_place:
            # A cover over the part of the view that had detail leaves too few blocks to
            # have lost any for the block comparison (what is left was a bare wall), but
            # the frame shows it: mostly featureless, the rest where it was.
            del found["scene_changed"]
            if alone is not None and not veiled:
                also("occluded", alone.blank_edge, checks.occluded.threshold, low_is_bad=False)
        if (
            "scene_changed" in found
            and unmatched
            and (veiled or (versus.layout_kept or 0.0) >= _LAYOUT_KEPT)
        ):
            # Unmatched, yet light and dark are where they were, or a veil lifted the
            # blacks and flattened the detail features need: the enrolled view behind
            # steam, grease or defocus, which the relative checks below name.
            del found["scene_changed"]
        moved = "scene_changed" in found
    # The comparison when the view is the enrolled one (None without a reference or when it
    # moved: another scene is judged on its own, like a frame without a reference).
    same = None if moved else versus
    # Light lost to white: against the reference's when the view is the enrolled one (a
    # window it shows does not count); a moved view is another scene, judged on its own.
    bright = checks.too_bright
    if same is None:
        lifted = light.black_lift >= _GLARE_LIFT
        also("too_bright", light.clipped if lifted else None, bright.lost, low_is_bad=False)
    else:
        also("too_bright", same.clipped_rise, bright.lost_vs_reference, low_is_bad=False)
    if same is not None:
        consider("blurred", same.blur_rise, relative=True)
        consider("noisy", same.noise_rise, relative=True)
        consider("stripes", same.stripes_rise, relative=True)
        consider("low_contrast", same.contrast_kept, relative=True)
        also("low_contrast", same.clarity_kept, veil.clarity_vs_reference, low_is_bad=True)
        consider("color_cast", same.cast_shift, relative=True)
    else:
        consider("blurred", own.blur)
        if alone is not None and own.blur >= _BLUR_ZEROS_SOFT * checks.blurred.threshold:
            also("blurred", alone.blur_zeros, 1.0, low_is_bad=False)
        consider("noisy", None if alone is None else alone.noise_floor)
        consider("stripes", None if alone is None else alone.stripes)
        if light.black_lift >= _VEIL_LIFT_ALONE:
            # Low contrast with the blacks kept is a pale, flat scene, not a veil.
            consider("low_contrast", own.contrast)
        if light.black_lift >= _VEIL_LIFT_CLARITY:
            also("low_contrast", light.clarity, veil.clarity, low_is_bad=True)
        consider("color_cast", None if alone is None else alone.tint)
    if versus is None and alone is not None and _covered_alone(alone, light, veil.clarity):
        consider("occluded", alone.blank_edge)
    if "occluded" in found:
        # The cover dominates the picture's colour and brightness profile.
        found.pop("color_cast", None)
        found.pop("stripes", None)
        if versus is None and alone is not None:
            # A cover near the lens leaves the rest of the view as sharp as it was. When
            # the view beyond the featureless region and its soft edge is as soft as a
            # blurred picture, the lens is out of focus or smeared (whose featureless parts
            # read as a cover), or a cover came with a blur: one frame cannot say which,
            # so both stay.
            also("blurred", alone.blur_beyond_blank, checks.blurred.threshold, low_is_bad=False)
    if "low_contrast" in found and same is not None:
        # A veil come over the enrolled view: its own light (warm steam, yellow grease)
        # tints the view and its uneven density (plumes, strokes) shapes the profiles, but
        # neither the camera's white balance nor flicker is what changed. (On one frame a
        # flat grey scene turned colour may read as low contrast too; the tint stays.)
        found.pop("color_cast", None)
        found.pop("stripes", None)
        if same.detail_lost >= _VEILED_WHOLE[0] and same.clarity_kept < _VEILED_WHOLE[1]:
            # Dense steam took the detail of the whole view: the region read as covered is
            # only where the plume is thickest. A cover leaves the rest of the view clear.
            found.pop("occluded", None)
    if (
        "low_contrast" in found
        and "occluded" in found
        and same is not None
        and _kept_beyond_cover(same)
    ):
        # Beyond the cover and its soft edge the view kept its detail: no veil came over
        # it; the contrast lost is the cover's (it fills most of the picture).
        found.pop("low_contrast", None)
    if (
        "blurred" in found
        and "stripes" in found
        and same is not None
        and same.detail_lost < _BANDS_KEEP_DETAIL
    ):
        # Bands laid over the view read as softness to the whole-frame blur measure, but
        # every block kept the detail it had: the picture is as sharp as it was.
        found.pop("blurred", None)
    if "blurred" in found and "occluded" in found and same is not None:
        sharp_beside = same.uncovered_blur_rise is not None and (
            same.uncovered_blur_rise < _SHARP_BESIDE_COVER
            or same.uncovered_blur_rise > _EDGE_BESIDE_COVER * same.blur_rise
        )
        if sharp_beside:
            # The view the cover leaves is as sharp as it was, or blurred only by the
            # cover's soft edge beside it: the blur is the cover's own soft face, far out
            # of focus.
            found.pop("blurred", None)
        else:
            # Defocus erases the detail that block comparison relies on, everywhere: the
            # "cover" is the blur.
            found.pop("occluded", None)
    if same is not None and "low_contrast" not in found:
        # Detail lost over much of the view that no veil explains: the lens is out of
        # focus, shaken or smeared, though the best-kept detail (clear glass between
        # grease strokes) holds the frame-wide measures up. Where a cover was found, only
        # when most of the view lost detail and some of it beyond the covered region and
        # its soft edge (strokes of grease across it; a hand is one region), and the
        # cover is kept.
        scattered = (
            same.detail_lost - same.occlusion
            if same.lost_beyond_cover is None
            else same.lost_beyond_cover
        )
        if "occluded" not in found or (
            same.detail_lost >= _SMEARED and scattered >= _LOST_BEYOND_COVER
        ):
            also("blurred", same.detail_lost, _DETAIL_LOST, low_is_bad=False)
    if (
        "occluded" in found
        and same is not None
        and same.uncovered_light is not None
        and _COVER_KEEPS_LIGHT[0] <= same.uncovered_light <= _COVER_KEEPS_LIGHT[1]
    ):
        # Black tape or white paper over much of the lens makes the picture dark or bright,
        # but the view it leaves is as lit as at enrolment: the cover is the root cause.
        found.pop("too_dark", None)
        found.pop("too_bright", None)
    if "too_dark" in found or "too_bright" in found:
        # Darkness or glare is the root cause: it flattens detail, colour and contrast
        # everywhere and defeats view matching, so those findings would only be echoes.
        for echo in (
            "low_contrast",
            "color_cast",
            "occluded",
            "scene_changed",
            "blurred",
            "noisy",
            "stripes",
        ):
            found.pop(echo, None)
    veil_issue = found.get("low_contrast")
    if (
        veil_issue is not None
        and veil.hides_view_below is not None
        and light.clarity < veil.hides_view_below
    ):
        # Steam in the room flattens the picture and leaves its edges: a warning. Grease
        # or fog on the lens takes the detail too, and the kitchen is gone behind it.
        found["low_contrast"] = replace(veil_issue, severity=Severity.FAIL)
    return [found[code] for code in CHECK_CODES if code in found]


def _kept_beyond_cover(versus: Comparison) -> bool:
    """Whether beyond the largest blocked region and the ring of blocks around it (a
    cover's soft edge) the view kept its detail: true of a cover, not of a veil or grease
    smeared across the lens."""
    return versus.lost_beyond_cover is not None and versus.lost_beyond_cover < _LOST_BEYOND_COVER


def _covered_alone(alone: SingleFrameForms, light: Light, clarity: float) -> bool:
    """Whether the featureless region joined to the edge may be a cover, on one frame.

    A cover near the lens comes in from a side or a corner and leaves the rest of the view
    as it was: the view's best-kept local contrast stays, and the rest reaches the frame's
    edge. A veil of steam or grease flattens the whole view (low clarity), so what is
    featureless is the veil, unless its darkest parts are as light as its white (one
    uniform cover over the whole lens). A featureless region that runs all round the frame
    without filling it is a dark, out-of-focus background behind a lit subject."""
    if light.clarity < clarity and light.black_lift < _UNIFORM_LIFT:
        return False
    if alone.blank_border < _SURROUNDED:
        return True
    return alone.blank_edge >= _COVERED_BLANK


WITHOUT_REFERENCE = "cannot judge without a reference"


def undecided(
    metrics: FrameMetrics,
    issues: Sequence[QualityIssue],
    settings: QualityConfig,
    bars: Callable[[], float] = lambda: 0.0,
    soft: Callable[[], float | None] = lambda: None,
) -> tuple[Undecided, ...]:
    """What one frame shows but cannot settle (pure): a featureless area joined to the
    edge that is too small, or too like a smooth surface, to be called a cover, a soft
    picture that a soft scene and a lens out of focus make alike, faint bands that
    flicker and the scene's own pattern draw alike, and a sharp periodic pattern that
    interference bars and a grille or tiles make alike. Said instead of guessing;
    nothing when the frame is judged against a reference, when the check raised an
    issue, or when darkness, glare or a lost signal explain the picture. ``bars``: the
    sharp periodic pattern's amplitude (``bars_alone``), ``soft``: how soft the lit parts
    are block by block (``soft_blocks``), each measured only when needed."""
    alone = metrics.alone
    raised = {issue.code for issue in issues}
    if metrics.versus is not None or alone is None or raised & _ROOT_CAUSES:
        return ()
    checks = settings.checks
    found = []
    occluded = checks.occluded
    if (
        occluded.enabled
        and "occluded" not in raised
        and "low_contrast" not in raised
        and alone.blank_edge >= _UNDECIDED_SHARE * occluded.threshold
        and _covered_alone(alone, metrics.own.light, checks.low_contrast.clarity)
    ):
        share = round(100 * alone.blank_edge)
        found.append(
            Undecided(
                "occluded",
                alone.blank_edge,
                f"a featureless area joined to the edge fills {share} % of the view: a cover "
                f"or a smooth surface; {WITHOUT_REFERENCE}",
            )
        )
    blurred, blur = checks.blurred, metrics.own.blur
    if blurred.enabled and "blurred" not in raised and "low_contrast" not in raised:
        if blur >= _SOFT_UNDECIDED * blurred.threshold:
            found.append(
                Undecided(
                    "blurred",
                    blur,
                    f"the picture is soft (blur {blur:.2f}): a soft scene or a lens out of "
                    f"focus or smeared; {WITHOUT_REFERENCE}",
                )
            )
        elif (parts := soft()) is not None and parts >= _SOFT_BLOCKS_UNDECIDED:
            found.append(
                Undecided(
                    "blurred",
                    parts,
                    f"most of the lit picture is soft, though some of it is sharp (soft "
                    f"blocks {parts:.2f}): a soft scene, or a lens smeared or fogged over "
                    f"most of it; {WITHOUT_REFERENCE}",
                )
            )
    stripes = checks.stripes
    least = _UNDECIDED_SHARE * stripes.threshold
    if stripes.enabled and "stripes" not in raised:
        if alone.stripes >= least:
            found.append(
                Undecided(
                    "stripes",
                    alone.stripes,
                    f"faint periodic bands ({alone.stripes:.1f} levels): flicker or the "
                    f"scene's own pattern; {WITHOUT_REFERENCE}",
                )
            )
        elif (pattern := bars()) >= least:
            found.append(
                Undecided(
                    "stripes",
                    pattern,
                    f"a sharp periodic pattern ({pattern:.1f} levels): interference bars or "
                    f"the scene's own (a grille, tiles); {WITHOUT_REFERENCE}",
                )
            )
    return tuple(found)
