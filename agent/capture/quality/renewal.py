"""When a clearer view of the same scene should replace a camera's reference (pure).

The daemon enrols a camera's first usable frame as its reference, and one frame cannot
always tell steam, grease or a soft lens from a soft scene (single-frame ``low_contrast``
is at 78 % and ``blurred`` at 85 % on the physical camera model). A reference taken through a
veil would then be the camera's measure for good: a later veil judged against it reads
as nothing new. So when a sample looks clearer than the reference, the old reference is
judged the other way round, against the new view, with the same checks the daemon
trusts (with a reference they meet every target): when the old view reads as veiled or
blurred beside the new one, and the new one is sound on its own, the new one becomes the
reference.

What must not pass for a clearer view:

- noise: sensor noise reads as fine detail, so the old view beside a noisier new one can
  read as blurred (at a gain of 10, which one frame does not call noisy). The new
  view's quiet parts (its noise floor) may not be noisier than the old view's by more
  than the ``noisy`` check allows against a reference, and a view that reads as noisy
  against the old one renews it only for a veil (clarity and contrast, which noise
  barely moves), not for softness alone. A clean view beside a veiled
  reference often reads as noisy too (the veil smoothed the reference's fine detail), so
  this costs a quarter of the soft references' renewals, and none of the veiled ones'.
- a change of light: lights dimmed around a lit subject deepen the blacks and raise the
  contrast, and the old view beside them reads as low in contrast. A veil lifting
  changes the picture's mean by a quarter at most, as auto-exposure follows it (0.77 of
  the old mean on the tune pictures); the lights going down halve it.
- another scene, a cover, a lost signal or a bad exposure in the new view, or in the old
  view beside it anything but a veil, softness, their tint and the parts of the view
  they hide; and something
  dark come into part of a pale, flat view (a black tray in a white cold room, a small
  cover) that deepens its blacks and widens its spread of tones, so that the old view
  reads as low in contrast beside it, and would read so again once it is gone. A veil on
  the lens takes detail everywhere: the old view is renewed as veiled only when, over an
  eighth of the view at least, blocks with detail in the new view lost half of it in the
  old one (clear and severe veils of the tune pictures: 0.16 of the view and more, the
  least over a smooth rendered cold room; a small dark cover on a pale text photograph,
  which the benchmark caught being taken for a lifted veil: none; a black tray over a
  fifth of a pale, flat kitchen: 0.06).

Each renewal raises the reference's clarity or sharpness past what the checks count as a
change, so renewals cannot go back and forth between two views.
"""

from __future__ import annotations

from collections.abc import Iterable

from agent.capture.quality.compare import Reference, make_reference
from agent.capture.quality.frame import Frame
from agent.capture.quality.judge import FrameReport, analyse, judge
from agent.capture.quality.metrics import Comparison, FrameMetrics
from agent.config.quality import QualityConfig

# What the old view must show beside the new one: it was veiled or soft.
RENEWING = frozenset({"low_contrast", "blurred"})
# What the old view may show besides: a veil's own tint (yellow grease, warm steam), and
# parts of the view hidden (grease strokes and steam plumes hide some of it, so beside the
# clean view the old one reads as covered in places: on the tune pictures a fifth of the
# veiled references that read so, 14 of 200, none of the clean ones).
_ALSO_EXPLAINED = frozenset({"color_cast", "occluded"})
# What the new view may not show against the old reference: another scene, a cover, a
# lost signal, a bad exposure, or a fault of its own.
_NOT_THE_SAME_VIEW = frozenset(
    {
        "no_signal",
        "too_dark",
        "too_bright",
        "blurred",
        "low_contrast",
        "occluded",
        "scene_changed",
    }
)
# Against the old reference, a view worth comparing back: clarity or contrast up by this
# factor, or blur down by this much. Every renewal of the tune pictures passes (all but 2
# of 405); 3 % of clean samples against a clean reference do.
_CLEARER = 1.4
_HIGHER_CONTRAST = 1.5
_SHARPER = -0.06
# The new view is at least this share of the old one's mean brightness.
_LIGHT_KEPT = 0.6
# A veil took half the detail of the blocks that have some in the new view, over at least
# this share of the view.
_VEILED_SHARE = 0.12


def looks_clearer(versus: Comparison, issues: Iterable[str]) -> bool:
    """Whether a sample judged against its reference is worth comparing the other way
    round (cheap: the comparison is already made)."""
    if _NOT_THE_SAME_VIEW & set(issues):
        return False
    return (
        versus.clarity_kept >= _CLEARER
        or versus.contrast_kept >= _HIGHER_CONTRAST
        or versus.blur_rise <= _SHARPER
    )


def renewal_reason(
    new: FrameMetrics,
    new_alone: Iterable[str],
    new_against_old: Iterable[str],
    old: FrameMetrics,
    old_against_new: Iterable[str],
    old_detail_lost: float,
    settings: QualityConfig,
) -> tuple[str, ...]:
    """What the old reference shows against the new view (``low_contrast``, ``blurred``)
    when the new view should replace it; () when it should not.

    ``new``: the new view's own measurements with its single-frame forms, ``new_alone``:
    the issues it raises on its own, ``new_against_old``: against the reference; ``old``:
    the reference's measurements (``Reference.metrics``), ``old_against_new``: the issues
    the reference raises judged against the new view, ``old_detail_lost``: the share of
    the view where blocks with detail in the new view lost half of it in the old one.
    """
    if any(True for _ in new_alone):
        return ()  # only a view that is sound on its own may become the measure
    shown, against_old = set(old_against_new), set(new_against_old)
    if shown - RENEWING - _ALSO_EXPLAINED or against_old & _NOT_THE_SAME_VIEW:
        return ()
    veiled = "low_contrast" in shown and old_detail_lost >= _VEILED_SHARE
    soft = "blurred" in shown
    if not veiled and (not soft or "noisy" in against_old):
        return ()  # darker in places, or sharper and noisier: noise reads as detail
    if new.alone is None or old.alone is None:
        return ()
    noise_allowed = settings.checks.noisy.limit(with_reference=True)
    if new.alone.noise_floor - old.alone.noise_floor > noise_allowed:
        return ()
    if new.own.brightness < _LIGHT_KEPT * old.own.brightness:
        return ()
    return tuple(code for code, holds in (("low_contrast", veiled), ("blurred", soft)) if holds)


def renewal(
    frame: Frame, report: FrameReport, reference: Reference, settings: QualityConfig
) -> tuple[str, ...]:
    """The whole judgement for a sample ``frame`` whose ``report`` judged it against
    ``reference``: what the reference shows against it when the frame should replace it
    (``renewal_reason``), () when the reference stays. Costs nothing more unless the
    sample looks clearer (3 % of clean samples): then the frame's features and the
    reference judged against them."""
    versus = report.measured.versus
    against_old = [issue.code for issue in report.issues]
    if versus is None or not looks_clearer(versus, against_old):
        return ()
    candidate = make_reference(frame)
    own = candidate.metrics
    alone = judge(FrameMetrics(own.own, alone=own.alone), settings)
    backward = analyse(reference.frame, settings, candidate)
    return renewal_reason(
        own,
        (issue.code for issue in alone),
        against_old,
        reference.metrics,
        (issue.code for issue in backward.issues),
        _share_lost(backward, candidate),
        settings,
    )


def _share_lost(backward: FrameReport, new: Reference) -> float:
    """The share of the whole view where blocks with detail in ``new`` lost half of it in
    the view ``backward`` judged against it (``detail_lost`` counts them among the
    detailed blocks only, which in a pale, flat view are a dark object's edges)."""
    versus = backward.measured.versus
    if versus is None:
        return 0.0
    return versus.detail_lost * new.blocks.detailed_count / max(new.blocks.gradient.size, 1)
