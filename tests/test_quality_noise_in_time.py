"""Noise over time: two samples of a still view tell fine texture from sensor noise.

One frame of a view textured edge to edge (granite, rice, herbs, a coir mat, a mesh
grease filter) reads as noisy: its grain is a pixel or two at the analysis width, as snow
is. Between two samples the texture stays and the noise is drawn afresh. The views here
are drawn with seeds the benchmark does not use, through the physical camera model.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from agent.capture.quality import analyse, noise_in_time, settle_noise
from agent.capture.quality.frame import Frame
from agent.capture.quality.metrics import noise_between
from agent.config.quality import QualityConfig
from agent.model import QualityIssue, Severity
from testkit import kitchen_textures as kt
from testkit import quality_physical as qp

SEED = 9  # the benchmark draws seeds 0-5


def samples(scene: qp.Radiance, tag: str, light: float = 1.0, count: int = 2) -> list[Frame]:
    """``count`` samples of a still view through the physical camera, as the agent decodes
    them (JPEG, then its analysis size)."""
    out = []
    for k in range(count):
        shot = qp.capture(scene, qp.rng_for(tag, "sample", k), light=light)
        out.append(qp.agent_frame(shot))
    return out


def textured(name: str) -> qp.Radiance:
    return qp.to_radiance(kt.scene(name, SEED, 0.0))


def codes(issues: list[QualityIssue]) -> set[str]:
    return {issue.code for issue in issues}


@pytest.mark.parametrize("texture", sorted(kt.TEXTURES))
def test_texture_filling_the_view_is_noise_on_one_frame_and_texture_over_two(texture: str) -> None:
    first, second = samples(textured(texture), texture)
    alone = analyse(first).issues
    assert "noisy" in codes(alone)  # the failure one frame cannot avoid
    noise = noise_in_time([first, second])
    assert noise is not None and noise < 1.2
    settled = settle_noise(alone, noise, QualityConfig())
    assert "noisy" not in codes(settled)
    assert codes(settled) == codes(alone) - {"noisy"}  # nothing else is touched


@pytest.mark.parametrize("texture", ["granite", "coir_mat"])
@pytest.mark.parametrize("light", [1 / 48, 1 / 120])
def test_noise_on_a_textured_view_stays_noise_over_two_samples(texture: str, light: float) -> None:
    first, second = samples(textured(texture), f"{texture}{light}", light)
    alone = analyse(first).issues
    noise = noise_in_time([first, second])
    assert noise is not None and noise >= QualityConfig().checks.noisy.threshold
    assert "noisy" in codes(settle_noise(alone, noise, QualityConfig()))


@pytest.mark.parametrize("name", ["cold_room_1", "coffee"])
def test_noise_over_time_grows_with_the_gain_and_matches_one_frame_on_a_plain_view(
    name: str,
) -> None:
    scene = qp.committed_scene(name)
    measured = []
    for light in (1.0, 1 / 48, 1 / 120):
        first, second = samples(scene, f"{name}{light}", light)
        noise = noise_in_time([first, second])
        assert noise is not None
        measured.append(noise)
        if light < 1.0:
            floor = analyse(first).measured.alone
            assert floor is not None
            # What one frame of a view with smooth parts reads is the sensor's noise.
            assert 0.6 * floor.noise_floor <= noise <= 1.6 * floor.noise_floor
            assert "noisy" in codes(settle_noise(analyse(first).issues, noise, QualityConfig()))
    assert measured[0] < 1.5 < 2.5 <= measured[1] < measured[2]


def test_a_smooth_change_of_light_between_samples_is_not_noise() -> None:
    first, second = samples(textured("granite"), "light")
    height, width = second.grey.shape
    ramp = np.linspace(0.0, 14.0, width, dtype=np.float32)[None, :].repeat(height, axis=0)
    lit = np.clip(second.grey.astype(np.float32) + 6.0 + ramp, 0, 255).astype(np.uint8)
    same = noise_between(first.grey, second.grey)
    changed = noise_between(first.grey, lit)
    assert same is not None and changed is not None
    assert changed == pytest.approx(same, rel=0.15)


def test_what_moved_in_part_of_the_view_does_not_count_as_noise() -> None:
    first, second = samples(textured("herbs"), "mover")
    other = samples(textured("rice"), "mover elsewhere", count=1)[0]
    moved = second.grey.copy()
    height, width = moved.shape
    moved[: height // 2, : width * 2 // 5] = other.grey[: height // 2, : width * 2 // 5]  # 20 %
    still = noise_between(first.grey, second.grey)
    busy = noise_between(first.grey, moved)
    assert still is not None and busy is not None
    assert busy < 1.3 * still < 1.5


def test_copied_or_frozen_samples_show_no_noise_to_measure() -> None:
    first, second = samples(textured("granite"), "copied")
    assert noise_between(first.grey, first.grey) is None  # a frozen picture
    assert noise_in_time([first, first, first]) is None
    width = first.grey.shape[1]
    mostly = second.grey.copy()
    mostly[:, : width * 6 // 10] = first.grey[:, : width * 6 // 10]  # skip blocks over 60 %
    assert noise_between(first.grey, mostly) is None
    partly = second.grey.copy()
    partly[:, : width * 3 // 10] = first.grey[:, : width * 3 // 10]  # over 30 %: measured
    whole = noise_between(first.grey, second.grey)
    measured = noise_between(first.grey, partly)
    assert whole is not None and measured == pytest.approx(whole, rel=0.1)


def test_the_median_over_pairs_skips_a_pair_that_shows_nothing() -> None:
    first, second = samples(textured("rice"), "pairs")
    one_pair = noise_in_time([first, second])
    assert one_pair is not None
    assert noise_in_time([first, second, second]) == pytest.approx(one_pair)


def test_samples_of_different_sizes_or_too_small_are_not_measured() -> None:
    first, second = samples(textured("rice"), "sizes")
    smaller = np.asarray(cv2.resize(second.grey, (160, 90), interpolation=cv2.INTER_AREA), np.uint8)
    assert noise_between(first.grey, smaller) is None
    tiny = first.grey[:12, :12]
    assert noise_between(tiny, tiny.copy()) is None
    assert noise_in_time([first]) is None


def issue(code: str, value: float) -> QualityIssue:
    return QualityIssue(code, Severity.WARN, value, 2.5)


@pytest.mark.parametrize(
    ("noise", "floor", "withdrawn"),
    [
        (None, 9.0, False),  # the noise over time is unknown: one frame's word stands
        (0.8, 9.0, True),  # granite: the samples differ by a tenth of it
        (0.9, 3.0, True),  # a coir mat under evening gain: under a third
        (1.0, 3.0, False),  # a third of it and more: the frame's noise is partly real
        (2.0, 3.0, False),  # a camera's temporal noise reduction at work: stays
        (2.6, 12.0, False),  # over the threshold: noisy whatever the texture adds
    ],
)
def test_settling_withdraws_noisy_only_when_the_samples_barely_differ(
    noise: float | None, floor: float, withdrawn: bool
) -> None:
    issues = [issue("noisy", floor), issue("color_cast", 9.0)]
    settled = settle_noise(issues, noise, QualityConfig())
    assert codes(settled) == ({"color_cast"} if withdrawn else {"noisy", "color_cast"})


def test_settling_follows_the_configured_threshold() -> None:
    strict = QualityConfig.model_validate({"checks": {"noisy": {"threshold": 0.5}}})
    assert codes(settle_noise([issue("noisy", 3.0)], 0.8, strict)) == {"noisy"}
    assert codes(settle_noise([issue("noisy", 3.0)], 0.8, QualityConfig())) == set()
