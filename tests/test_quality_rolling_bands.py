"""Rolling bands: two samples of a still view tell flicker and interference from the
scene's own pattern.

One frame cannot tell faint flicker from a tiled wall or shelving (single-frame `stripes`
is "as one frame allows"). Flicker not locked to the frame rate and interference bars move
between samples; the scene's pattern holds still. Views here are committed pictures and
patterned views drawn with seeds the benchmark does not use, through the physical camera.
"""

from __future__ import annotations

import numpy as np
import pytest

from agent.capture.quality import (
    WITHOUT_REFERENCE,
    Undecided,
    analyse,
    bands_in_time,
    check_sequence,
)
from agent.capture.quality.frame import Frame
from agent.config.quality import QualityConfig
from testkit import kitchen_patterns
from testkit import quality_physical as qp

KITCHENS = ["cooking_1", "cold_room_1", "packing_2", "coffee"]


def sample(scene: qp.Radiance, tag: str) -> Frame:
    return qp.agent_frame(qp.capture(scene, qp.rng_for(tag, "sample")))


def flickering(scene: qp.Radiance, depth: float, phases: tuple[float, float]) -> list[Frame]:
    return [
        sample(qp.flicker_bands(scene, depth, 4.5, phase), f"flicker{k}")
        for k, phase in enumerate(phases)
    ]


def codes(frames: list[Frame]) -> list[str]:
    return [issue.code for issue in check_sequence(frames)]


def test_faint_flicker_that_rolls_is_stripes_over_two_samples() -> None:
    one_frame = 0
    for name in KITCHENS:
        frames = flickering(qp.committed_scene(name), 0.15, (0.4, 2.6))
        one_frame += "stripes" in [i.code for i in analyse(frames[1]).issues]
        assert codes(frames) == ["stripes"], name
        rolling = bands_in_time(frames, QualityConfig())
        assert rolling is not None and rolling > QualityConfig().checks.stripes.limit(True)
    assert one_frame <= 1  # what one frame alone makes of the same bands


@pytest.mark.parametrize("name", KITCHENS)
def test_interference_bars_that_roll_are_stripes_over_two_samples(name: str) -> None:
    scene = qp.committed_scene(name)
    frames = []
    for k, phase in enumerate((0.3, 2.9)):
        shot = qp.interference_bars(qp.capture(scene, qp.rng_for(name, k)), 10.0, 27.0, 8.0, phase)
        frames.append(qp.agent_frame(shot))
    assert codes(frames) == ["stripes"]


@pytest.mark.parametrize("name", KITCHENS)
def test_flicker_that_holds_still_and_clean_samples_raise_nothing(name: str) -> None:
    scene = qp.committed_scene(name)
    # Flicker locked to the frame rate shows nothing between samples: one frame's word stands.
    assert codes(flickering(scene, 0.15, (1.0, 1.0))) == []
    clean = [sample(scene, f"{name}{k}") for k in range(3)]
    assert codes(clean) == []
    rolling = bands_in_time(clean, QualityConfig())
    assert rolling is not None and rolling < 1.0


@pytest.mark.parametrize("pattern", sorted(kitchen_patterns.PATTERNS))
def test_the_scenes_own_pattern_holds_still_between_samples(pattern: str) -> None:
    scene = qp.to_radiance(kitchen_patterns.scene(pattern, 20, 0.0))
    assert codes([sample(scene, f"{pattern}{k}") for k in range(2)]) == []


def test_a_shaken_or_turned_view_is_not_read_for_bands() -> None:
    scene = qp.committed_scene("cooking_1")
    still = sample(qp.view(scene), "still")
    shaken = sample(qp.view(scene, 0.012, -0.008), "shaken")  # a few pixels
    assert bands_in_time([still, shaken], QualityConfig()) is None
    other = sample(qp.committed_scene("cold_room_1"), "other")
    assert bands_in_time([still, other], QualityConfig()) is None
    assert "stripes" not in codes([still, other])


def test_bands_follow_the_configured_limit_and_can_be_turned_off() -> None:
    frames = flickering(qp.committed_scene("cooking_1"), 0.15, (0.4, 2.6))
    off = QualityConfig.model_validate({"checks": {"stripes": {"enabled": False}}})
    assert [i.code for i in check_sequence(frames, off)] == []
    rolling = bands_in_time(frames, QualityConfig())
    assert rolling is not None
    lax = QualityConfig.model_validate({"checks": {"stripes": {"vs_reference": rolling + 1}}})
    assert [i.code for i in check_sequence(frames, lax)] == []
    assert np.isfinite(rolling)


def test_at_enrolment_bands_the_installer_was_asked_about_are_settled_by_a_second_picture() -> None:
    from agent.site.look import Look, settle_over_time

    scene = qp.committed_scene("packing_2")

    def picture(phase: float, k: int) -> np.ndarray:
        lit = qp.flicker_bands(scene, 0.15, 4.5, phase)
        return qp.capture(lit, qp.rng_for("enrolment", phase, k))

    def asked() -> Look:
        reason = "faint periodic bands (2.9 levels): flicker or the scene's own pattern"
        return Look("cam", notes=(Undecided("stripes", 2.9, f"{reason}; {WITHOUT_REFERENCE}"),))

    rolled = asked()
    settle_over_time(rolled, picture(0.4, 0), picture(2.6, 1), QualityConfig())
    assert [i.code for i in rolled.issues] == ["stripes"]
    assert rolled.to_check == () and rolled.notes == ()

    held = asked()  # flicker locked to the frame rate: the question stays with the installer
    settle_over_time(held, picture(1.0, 0), picture(1.0, 1), QualityConfig())
    assert held.issues == () and [note.code for note in held.notes] == ["stripes"]
