"""A reference taken through steam, grease or a soft lens is replaced by the first clearer
view of the same scene, and by nothing else (``agent/capture/quality/renewal.py``).

The decision's rules one by one on real measurements, then the whole judgement (the
sample against its reference, the reference against the sample) through the physical
camera model on the committed kitchen pictures: veiled and blurred references are
renewed by a clean view; a clean reference is never replaced by a noisier, dimmer, lit
differently, covered or faulty view.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from agent.capture.quality import Frame, FrameMetrics, analyse, make_reference, prepare
from agent.capture.quality.renewal import looks_clearer, renewal, renewal_reason
from agent.config.quality import QualityConfig
from testkit import quality_physical as qp

SETTINGS = QualityConfig()


def frame_of(radiance: qp.Radiance, seed: int, light: float = 1.0) -> Frame:
    picture = qp.capture(radiance, np.random.default_rng(seed), light=light)
    return prepare(picture, 320)


def renewed(old: Frame, new: Frame) -> tuple[str, ...]:
    """What the worker does with a sample ``new`` of a camera whose reference is ``old``:
    the codes the old view showed when it is replaced, () when it stays."""
    reference = make_reference(old)
    return renewal(new, analyse(new, SETTINGS, reference), reference, SETTINGS)


# --- the rules, one by one ------------------------------------------------------------


@pytest.fixture(scope="module")
def metrics() -> tuple[FrameMetrics, FrameMetrics]:
    """A clean view and a view of the same kitchen through grease, both measured."""
    scene = qp.committed_scene("prep_2")
    clean = make_reference(frame_of(scene, 1)).metrics
    greasy = make_reference(frame_of(qp.greasy_film(scene, 0.3), 2)).metrics
    return clean, greasy


def test_the_old_view_veiled_or_soft_beside_a_sound_new_one_is_renewed(
    metrics: tuple[FrameMetrics, FrameMetrics],
) -> None:
    new, old = metrics
    assert renewal_reason(new, [], [], old, ["low_contrast"], 1.0, SETTINGS) == ("low_contrast",)
    assert renewal_reason(new, [], [], old, ["blurred"], 1.0, SETTINGS) == ("blurred",)
    both = renewal_reason(new, [], [], old, ["blurred", "low_contrast"], 1.0, SETTINGS)
    assert both == ("low_contrast", "blurred")
    # A veil's own tint (yellow grease, warm steam) is part of what the old view showed, and
    # so are the parts of the view that grease strokes or steam plumes hide.
    for beside in ("color_cast", "occluded"):
        shown = [beside, "low_contrast"]
        assert renewal_reason(new, [], [], old, shown, 1.0, SETTINGS) == ("low_contrast",)


@pytest.mark.parametrize(
    "old_against_new",
    [
        [],
        ["color_cast"],
        ["noisy"],
        ["low_contrast", "scene_changed"],
        ["occluded"],
        ["blurred", "too_dark"],
        ["blurred", "stripes"],
    ],
)
def test_nothing_but_a_veil_or_softness_in_the_old_view_renews_it(
    metrics: tuple[FrameMetrics, FrameMetrics], old_against_new: list[str]
) -> None:
    new, old = metrics
    assert renewal_reason(new, [], [], old, old_against_new, 1.0, SETTINGS) == ()


@pytest.mark.parametrize("fault", ["noisy", "stripes", "color_cast", "occluded"])
def test_a_new_view_with_a_fault_of_its_own_never_becomes_the_reference(
    metrics: tuple[FrameMetrics, FrameMetrics], fault: str
) -> None:
    new, old = metrics
    assert renewal_reason(new, [fault], [], old, ["low_contrast"], 1.0, SETTINGS) == ()


def test_a_new_view_noisier_where_it_is_quiet_is_not_clearer(
    metrics: tuple[FrameMetrics, FrameMetrics],
) -> None:
    """Sensor noise reads as fine detail, so the old view beside it can read as blurred:
    the new view's noise floor may rise by what the noisy check allows, no more."""
    new, old = metrics
    assert new.alone is not None and old.alone is not None
    allowed = SETTINGS.checks.noisy.limit(with_reference=True)
    floor = old.alone.noise_floor
    within = replace(new, alone=replace(new.alone, noise_floor=floor + 0.9 * allowed))
    beyond = replace(new, alone=replace(new.alone, noise_floor=floor + 1.1 * allowed))
    assert renewal_reason(within, [], [], old, ["blurred"], 1.0, SETTINGS) == ("blurred",)
    assert renewal_reason(beyond, [], [], old, ["blurred"], 1.0, SETTINGS) == ()


def test_a_new_view_noisy_against_the_old_one_renews_only_a_veil(
    metrics: tuple[FrameMetrics, FrameMetrics],
) -> None:
    """Sharper and noisier look alike to the blur measure; clarity and contrast are what
    a veil takes, and noise barely moves them."""
    new, old = metrics
    assert renewal_reason(new, [], ["noisy"], old, ["blurred"], 1.0, SETTINGS) == ()
    assert renewal_reason(new, [], ["noisy"], old, ["low_contrast", "blurred"], 1.0, SETTINGS) == (
        "low_contrast",
        "blurred",
    )
    # A veiled reference leaves a cast, stripes or noise against it; nothing else.
    for code in ("color_cast", "stripes"):
        assert renewal_reason(new, [], [code], old, ["blurred"], 1.0, SETTINGS) == ("blurred",)
    for code in ("occluded", "scene_changed", "low_contrast", "too_dark"):
        assert renewal_reason(new, [], [code], old, ["low_contrast"], 1.0, SETTINGS) == ()


def test_the_old_view_is_veiled_only_when_it_lost_detail_across_the_view(
    metrics: tuple[FrameMetrics, FrameMetrics],
) -> None:
    """Something dark come into part of a pale, flat view deepens its blacks and widens
    its spread of tones, and the old view reads as low in contrast beside it; a veil on
    the lens takes detail everywhere."""
    new, old = metrics
    veil = ["low_contrast"]
    assert renewal_reason(new, [], [], old, veil, 0.13, SETTINGS) == ("low_contrast",)
    assert renewal_reason(new, [], [], old, veil, 0.11, SETTINGS) == ()
    both = ["low_contrast", "blurred"]
    assert renewal_reason(new, [], [], old, both, 0.1, SETTINGS) == ("blurred",)
    # ...and then it is softness alone, which a view noisy against the old one cannot renew.
    assert renewal_reason(new, [], ["noisy"], old, both, 0.1, SETTINGS) == ()


def test_a_new_view_much_darker_is_a_change_of_light_not_a_veil_lifting(
    metrics: tuple[FrameMetrics, FrameMetrics],
) -> None:
    new, old = metrics
    level = old.own.brightness
    dimmed = replace(new, own=replace(new.own, brightness=0.55 * level))
    kept = replace(new, own=replace(new.own, brightness=0.7 * level))
    assert renewal_reason(dimmed, [], [], old, ["low_contrast"], 1.0, SETTINGS) == ()
    assert renewal_reason(kept, [], [], old, ["low_contrast"], 1.0, SETTINGS) == ("low_contrast",)


def test_only_a_view_much_clearer_than_its_reference_is_compared_back() -> None:
    reference = make_reference(frame_of(qp.committed_scene("prep_2"), 1))
    forward = analyse(frame_of(qp.committed_scene("prep_2"), 2), SETTINGS, reference)
    versus = forward.measured.versus
    assert versus is not None
    # Two clean samples of one view: nothing to compare back (the daemon's usual sample).
    assert not looks_clearer(versus, [])
    assert looks_clearer(replace(versus, clarity_kept=1.5), [])
    assert looks_clearer(replace(versus, contrast_kept=1.6), [])
    assert looks_clearer(replace(versus, blur_rise=-0.1), [])
    # ...unless the sample is another scene, covered, or faulty against the reference.
    for code in ("scene_changed", "occluded", "too_dark", "too_bright", "blurred"):
        assert not looks_clearer(replace(versus, clarity_kept=1.5), [code])


# --- through the physical camera --------------------------------------------------------

# Seeds outside the accuracy benchmark's; kitchens of both of its splits.
FAULTS = {
    "grease_film_0.45": lambda r, scale: qp.greasy_film(r, 0.45),
    "grease_smear_0.6": lambda r, scale: qp.grease_smear(r, 0.6, np.random.default_rng(41)),
    "condensation_0.3": lambda r, scale: qp.condensation(r, 0.3, np.random.default_rng(42)),
    "defocus_r3": lambda r, scale: qp.disc_blur(r, 3 * scale),
    "motion_8px": lambda r, scale: qp.line_blur(r, 8 * scale, 30.0),
}
SCENES = ("prep_1", "cooking_1", "dishwashing_1", "storage_2", "cold_room_2", "packing_2")


def test_a_reference_taken_through_a_veil_or_a_soft_lens_is_renewed_by_a_clean_view() -> None:
    renewals, trials, kept = 0, 0, []
    for name in SCENES:
        scene = qp.committed_scene(name)
        scale = scene.shape[1] / 320
        clean = frame_of(scene, 43)
        for fault, make in FAULTS.items():
            trials += 1
            codes = renewed(frame_of(make(scene, scale), 44), clean)
            if codes:
                renewals += 1
                assert set(codes) <= {"low_contrast", "blurred"}
            else:
                kept.append(f"{name} {fault}")
    # The rendered kitchens renew 29 of these 30 (the benchmark's pictures, photographs
    # among them, 67-77 % at clear and severe strength); what a person would notice is
    # nearly every one of them healing.
    assert renewals >= 0.9 * trials, kept


def test_grease_strokes_that_hide_part_of_the_view_are_renewed_too() -> None:
    """Beside the clean view, a reference taken through grease strokes reads as soft and
    as covered where the strokes are thickest: the cover is the grease."""
    scene = qp.committed_scene("camera")
    greasy = qp.grease_smear(scene, 0.6, np.random.default_rng(73))
    old = prepare(qp.capture(greasy, np.random.default_rng(83)), 320)
    clean = frame_of(scene, 71)
    beside = {i.code for i in analyse(old, SETTINGS, make_reference(clean)).issues}
    assert "occluded" in beside and beside & {"low_contrast", "blurred"}
    assert renewed(old, clean)


def pale(scene: qp.Radiance) -> qp.Radiance:
    """A white-tiled room in bright, even light: little contrast, no deep black."""
    return np.asarray(scene * 0.35 + 0.45, np.float32)


def with_black_tray(scene: qp.Radiance) -> qp.Radiance:
    """A black tray put down in a corner, over a fifth of the view."""
    height, width = scene.shape[:2]
    side = round(np.sqrt(0.2) * height)
    out = scene.copy()
    out[height - side :, width - round(side * width / height) :] = 0.02
    return out


def test_a_clean_reference_is_never_replaced() -> None:
    """By the same view dimmer in the evening, with the lights down around a lit counter,
    noisier at high gain, under faults of every kind, or covered; nor a pale, flat view by
    the same with a black tray put down (deeper blacks and a wider spread of tones, so the
    old view reads as low in contrast beside it: it is no veil lifted)."""
    replaced = []
    for name in SCENES:
        scene = qp.committed_scene(name)
        scale = scene.shape[1] / 320
        reference = frame_of(scene, 45)
        pale_reference = frame_of(pale(scene), 58)
        lit, _ = qp.dim_subject_dark_background(scene, np.random.default_rng(46))
        rng = np.random.default_rng(47)
        views = {
            "evening": frame_of(scene, 48, light=0.5),
            "lamp_off": frame_of(qp.part_lit(scene, rng), 49),
            "lit_counter": frame_of(lit, 50, light=0.5),
            "gain_x48": frame_of(scene, 51, light=1 / 48),
            "flicker": frame_of(qp.flicker_bands(scene, 0.3, 12.0, 0.0), 52),
            "covered": frame_of(qp.covered(scene, 0.6, "grey_cloth", rng)[0], 54),
            "small_dark_cover": frame_of(qp.covered(scene, 0.12, "black_tape", rng)[0], 56),
            "black_tray_in_a_pale_room": frame_of(with_black_tray(pale(scene)), 57),
            "gain_x10": frame_of(scene, 55, light=1 / 10),
            **{fault: frame_of(make(scene, scale), 53) for fault, make in FAULTS.items()},
        }
        for label, view in views.items():
            old = pale_reference if label == "black_tray_in_a_pale_room" else reference
            if renewed(old, view):
                replaced.append(f"{name} {label}")
    assert replaced == []
