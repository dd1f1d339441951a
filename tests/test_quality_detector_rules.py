"""The detector rules of issue 15's second round, as pure functions, built the way the
faults and the clean views they must be told from are described: a flicker band is one
frequency, while tiles seen in perspective or a thin bright edge spread over several.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.capture.decode import decode_for_analysis
from agent.capture.quality import Frame, analyse, banding, cells, colour, compare, make_reference
from agent.capture.quality import stripes as bands
from agent.capture.quality.cells import BlockStats, joined_region
from agent.capture.quality.frame import fit_to, half_size, prepare
from agent.capture.quality.judge import _COVERED_DETAIL_IN_PLACE, FrameReport
from agent.capture.quality.metrics import BLUR_BEYOND_FROM
from agent.config.quality import QualityConfig
from testkit import kitchen_patterns, kitchen_textures
from testkit import quality_physical as qp
from testkit.images import read_bgr

SIZE = 180  # rows of a 320x180 analysis picture


def spectrum(profile: np.ndarray) -> np.ndarray:
    """The band magnitudes of a profile, as single_frame_stripes sees them."""
    operator = bands.band_operator(profile.shape[0])
    assert operator is not None
    parts = operator.astype(np.float64) @ profile.astype(np.float64)
    half = parts.shape[0] // 2
    return np.asarray(np.hypot(parts[:half], parts[half:]), np.float32)


def peak_is_narrow(profile: np.ndarray, prominence: float) -> bool:
    magnitudes = spectrum(profile)
    narrow = bands.narrow_bands(
        magnitudes, magnitudes.shape[0], np.full_like(magnitudes, prominence)
    )
    return bool(narrow[int(magnitudes.argmax())])


# Every period the check looks for, on a frequency step and between two steps.
PERIODS = [float(p) for p in np.linspace(3.2, 39.0, 60)]


@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("phase", [0.0, 1.3])
def test_a_sinusoidal_band_is_one_frequency(period: float, phase: float) -> None:
    rows = np.arange(SIZE, dtype=np.float64)
    flicker = 128.0 * (1.0 + 0.1 * np.sin(2 * np.pi * rows / period + phase))
    # Between two frequency steps the window spreads it a little further: allowed only
    # when it stands far out of the spectrum, as a real band on a quiet scene does.
    assert peak_is_narrow(flicker, prominence=20.0)


@pytest.mark.parametrize(("near", "far"), [(4.0, 8.0), (6.0, 12.0), (10.0, 20.0)])
@pytest.mark.parametrize("phase", np.linspace(0.0, 6.0, 7).tolist())
def test_tiles_in_perspective_spread_over_several_frequencies(
    near: float, far: float, phase: float
) -> None:
    # Tile joints whose spacing grows from the near to the far side of the view.
    period = np.linspace(near, far, SIZE)
    joints = 128.0 * (1.0 + 0.1 * np.sin(np.cumsum(2 * np.pi / period) + phase))
    assert not peak_is_narrow(joints, prominence=10.0)


@pytest.mark.parametrize("row", range(20, 160, 20))
def test_a_thin_bright_edge_spreads_over_several_frequencies(row: int) -> None:
    rows = np.arange(SIZE, dtype=np.float64)
    edge = 100.0 + 60.0 * np.exp(-0.5 * ((rows - row) / 6.0) ** 2)
    assert not peak_is_narrow(edge, prominence=10.0)


def test_spread_allowed_grows_with_prominence_only() -> None:
    magnitudes = np.array([0.0, 0.55, 0.9, 1.0, 0.3, 0.0], np.float32)
    low = bands.narrow_bands(magnitudes, 6, np.full(6, 10.0, np.float32))
    high = bands.narrow_bands(magnitudes, 6, np.full(6, 20.0, np.float32))
    assert not low[3] and high[3]
    # The two directions are apart: a row band's neighbours are not the column bands.
    split = np.array([1.0, 0.0, 0.9, 0.0, 0.0, 0.0], np.float32)
    assert bands.narrow_bands(split, 2, np.full(6, 10.0, np.float32))[0]
    assert not bands.narrow_bands(split, 6, np.full(6, 10.0, np.float32))[0]


# --- the white balance against the reference, region by region ---------------------------

ENROLLED = np.random.default_rng(5).uniform(0.05, 0.3, (9, 3)).astype(np.float32)


@pytest.mark.parametrize("exposure", [0.5, 0.8, 1.0, 1.7, 3.0])
def test_a_change_of_exposure_is_no_cast(exposure: float) -> None:
    assert colour.cast_shift(ENROLLED * exposure, ENROLLED) == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("gains", [(1.0, 1.0, 1.5), (0.7, 1.0, 1.0), (1.0, 1.3, 0.9)])
def test_a_white_balance_that_moved_shifts_every_region(gains: tuple[float, float, float]) -> None:
    shifted = ENROLLED * np.array(gains, np.float32)
    expected = np.log(max(gains)) - np.log(min(gains))
    assert colour.cast_shift(shifted, ENROLLED) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("region", range(9))
@pytest.mark.parametrize("lit", [1, 2])
def test_a_flame_or_lamp_in_part_of_the_view_is_outvoted(region: int, lit: int) -> None:
    # A warm, bright source spreads red and green far more than blue where it is.
    current = ENROLLED.copy()
    for k in range(lit):
        current[(region + k) % 9] *= np.array([1.2, 3.0, 6.0], np.float32)
    assert colour.cast_shift(current, ENROLLED) < 0.05


@pytest.mark.parametrize("light", [0.3, 0.5, 1.8])
def test_light_changed_over_part_of_the_view_is_no_cast(light: float) -> None:
    # A lamp gone off (or on) over four of the nine regions scales every channel there
    # alike, and a red crate moved in a fifth halves its red. Each channel's own median
    # then fell on a different side of the change: red's among the four, blue's and
    # green's among the rest, a cast of log(light) that no white balance made.
    current = ENROLLED.copy()
    current[:4] *= light
    current[4] *= np.array([1.0, 1.0, light], np.float32)
    assert colour.cast_shift(current, ENROLLED) < 0.05
    # The white balance moving as well still shows, on both sides of the change.
    moved = current * np.array([1.0, 1.0, 1.5], np.float32)
    assert colour.cast_shift(moved, ENROLLED) == pytest.approx(np.log(1.5), abs=0.01)


def test_regions_the_reference_shows_flat_are_left_out() -> None:
    enrolled = ENROLLED.copy()
    enrolled[:3] = 0.001  # a featureless wall along the top
    current = ENROLLED.copy()
    current[:3] = np.array([0.001, 0.001, 0.004], np.float32)  # its noise, tinted
    assert colour.cast_shift(current, enrolled) < 0.05


def test_region_spreads_are_each_regions_linear_spread() -> None:
    thumb = np.random.default_rng(1).integers(0, 256, (45, 80, 3), dtype=np.uint8)
    spreads = colour.region_spreads(thumb)
    linear = colour._SRGB_TO_LINEAR[thumb]
    first = linear[:15, :26].reshape(-1, 3).std(axis=0)
    last = linear[30:45, 52:78].reshape(-1, 3).std(axis=0)
    assert spreads.shape == (9, 3)
    np.testing.assert_allclose(spreads[0], first, rtol=1e-4)
    np.testing.assert_allclose(spreads[8], last, rtol=1e-4)


# --- detail lost against the reference, block by block -----------------------------------


def blocks(gradient: np.ndarray, mean: float = 120.0) -> BlockStats:
    return BlockStats(
        mean=np.full(gradient.shape, mean, np.float32), gradient=gradient.astype(np.float32)
    )


REFERENCE_DETAIL = np.random.default_rng(2).uniform(4.0, 20.0, (11, 19))


@pytest.mark.parametrize("exposure", [0.6, 1.0, 1.5])
def test_a_clean_view_loses_no_detail_whatever_its_exposure(exposure: float) -> None:
    enrolled = blocks(REFERENCE_DETAIL)
    current = blocks(REFERENCE_DETAIL * exposure, 120.0 * exposure)
    assert compare._detail_lost(current, enrolled, None) == 0.0


@pytest.mark.parametrize("rows", range(12))
def test_detail_lost_is_the_share_of_detailed_blocks_that_kept_under_half(rows: int) -> None:
    # Grease strokes over the top rows: detail there kept at a third.
    gradient = REFERENCE_DETAIL.copy()
    gradient[:rows] *= 0.33
    lost = compare._detail_lost(blocks(gradient), blocks(REFERENCE_DETAIL), None)
    assert lost == pytest.approx(rows / 11)


def test_blocks_without_detail_or_outside_a_moved_view_do_not_count() -> None:
    enrolled = REFERENCE_DETAIL.copy()
    enrolled[:, :10] = 1.0  # a bare wall on the left: nothing to lose
    current = enrolled * 0.2
    assert compare._detail_lost(blocks(current), blocks(enrolled), None) == 1.0
    inside = np.zeros(enrolled.shape, bool)
    inside[:, 10:] = True
    current[:, 10:15] = enrolled[:, 10:15]  # ...and half of what is inside kept
    lost = compare._detail_lost(blocks(current), blocks(enrolled), inside)
    assert lost == pytest.approx(4 / 9)


# --- a view mostly covered, told from a camera turned elsewhere ---------------------------


def kitchen_frame(
    name: str, seed: int = 0, covered_rows: int = 0, pan: float = 0.0, roll: float = 0.0
) -> Frame:
    """A kitchen (or a photograph) through a camera (sensor noise, JPEG): its view panned
    by ``pan`` of its width and rolled by ``roll`` degrees, its top rows under a soft
    cover."""
    radiance = qp.committed_scene(name)
    scene = qp.view(radiance, pan, 0.1 if pan else 0.0, roll)
    if covered_rows:
        hard = np.zeros(scene.shape[:2], np.float32)
        hard[: covered_rows * scene.shape[0] // 11] = 1.0
        mask = cv2.GaussianBlur(hard, (0, 0), 0.03 * scene.shape[1])[..., None]
        scene = scene * (1 - mask) + np.full_like(scene, 0.3) * mask
    picture = qp.capture(scene, np.random.default_rng(seed))
    return qp.agent_frame(picture)


@pytest.mark.parametrize("name", ["cooking_1", "prep_2", "storage_1", "dishwashing_1"])
@pytest.mark.parametrize("covered_rows", [6, 8, 9])
def test_what_a_cover_leaves_is_detail_in_place(name: str, covered_rows: int) -> None:
    # A hand over the top of the lens: flat there, the rest of the view as it was, down
    # to its sensor noise and JPEG.
    enrolled = make_reference(kitchen_frame(name))
    current = kitchen_frame(name, seed=1, covered_rows=covered_rows)
    in_place = compare._detail_in_place(current.grey, enrolled)
    assert in_place is not None and in_place > 1.5 * _COVERED_DETAIL_IN_PLACE


@pytest.mark.parametrize("name", ["cooking_2", "prep_2", "packing_2", "dishwashing_1"])
@pytest.mark.parametrize(("pan", "roll"), [(0.35, 0.0), (-0.5, 0.0), (0.5, 6.0)])
def test_a_camera_turned_along_a_tiled_wall_shows_other_detail_elsewhere(
    name: str, pan: float, roll: float
) -> None:
    # Glazed tiles and a row of cabinet doors repeat: turned along them, some of their
    # edges fall where others were, but not the view's detail as a whole.
    enrolled = make_reference(kitchen_frame(name))
    turned = kitchen_frame(name, seed=1, pan=pan, roll=roll)
    in_place = compare._detail_in_place(turned.grey, enrolled)
    assert in_place is not None and abs(in_place) < _COVERED_DETAIL_IN_PLACE


@pytest.mark.parametrize("name", ["cooking_1", "storage_1"])
@pytest.mark.parametrize("elsewhere", ["astronaut", "camera", "coffee", "rocket"])
@pytest.mark.parametrize("covered_rows", [0, 8])
def test_a_camera_turned_to_another_scene_has_nothing_where_it_was(
    name: str, elsewhere: str, covered_rows: int
) -> None:
    enrolled = make_reference(kitchen_frame(name))
    other = fit_to(kitchen_frame(elsewhere, seed=1, covered_rows=covered_rows), enrolled.frame.size)
    in_place = compare._detail_in_place(other.grey, enrolled)
    assert in_place is not None and abs(in_place) < _COVERED_DETAIL_IN_PLACE / 2


def test_a_lens_covered_whole_tells_nothing_about_place() -> None:
    enrolled = make_reference(kitchen_frame("cooking_1"))
    covered = kitchen_frame("cooking_1", seed=1, covered_rows=11)
    assert compare._detail_in_place(covered.grey, enrolled) is None


# --- flicker and slanted bars against the reference ---------------------------------------

PHOTOS = Path(__file__).parent / "data" / "quality"


def scene_grey() -> np.ndarray:
    return prepare(read_bgr(sorted(PHOTOS.glob("*.jpg"))[0]), 320).grey


def rows_of(grey: np.ndarray) -> np.ndarray:
    return grey.astype(np.float32).mean(axis=1)


@pytest.mark.parametrize("cycles", [2.5, 3.3, 4.0, 5.5, 7.0, 9.5])
@pytest.mark.parametrize("depth", [0.05, 0.1, 0.2])
def test_mains_flicker_is_found_at_its_depth(cycles: float, depth: float) -> None:
    enrolled = rows_of(scene_grey())
    rows = np.arange(enrolled.shape[0])
    ripple = 1.0 + depth * np.sin(2 * np.pi * cycles * rows / rows.shape[0] + 0.7)
    found = banding.flicker_vs_reference((enrolled * ripple).astype(np.float32), enrolled)
    assert found == pytest.approx(128.0 * depth, rel=0.25)


@pytest.mark.parametrize("exposure", [0.6, 1.0, 1.4])
def test_exposure_a_slow_trend_or_a_lamp_is_not_flicker(exposure: float) -> None:
    enrolled = rows_of(scene_grey())
    position = np.linspace(0.0, 1.0, enrolled.shape[0])
    steam = exposure * enrolled * (0.7 + 0.3 * position) + 40.0 * (1 - position)
    assert banding.flicker_vs_reference(steam.astype(np.float32), enrolled) == 0.0
    lamp = enrolled * exposure + 60.0 * np.exp(-0.5 * ((position - 0.3) / 0.05) ** 2)
    assert banding.flicker_vs_reference(lamp.astype(np.float32), enrolled) == 0.0


def bars(grey: np.ndarray, amplitude: float, period: float, angle: float) -> np.ndarray:
    """A sinusoid added to the video, ``period`` analysis pixels across its crests,
    tilted ``angle`` degrees from vertical."""
    ys, xs = np.mgrid[0 : grey.shape[0], 0 : grey.shape[1]].astype(np.float32)
    theta = np.radians(angle)
    wave = amplitude * np.sin(2 * np.pi * (xs * np.cos(theta) + ys * np.sin(theta)) / period)
    return np.clip(grey.astype(np.float32) + wave, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("angle", [-25.0, -10.0, 0.0, 7.0, 20.0, 70.0, 90.0, 112.0])
@pytest.mark.parametrize("period", [7.0, 12.0, 20.0, 30.0])
def test_interference_bars_at_any_slant_are_found(angle: float, period: float) -> None:
    grey = scene_grey()
    noisy = np.random.default_rng(4).normal(0, 2.0, grey.shape)
    current = np.clip(bars(grey, 10.0, period, angle) + noisy, 0, 255).astype(np.uint8)
    found = banding.interference_vs_reference(half_size(current), half_size(grey))
    assert found == pytest.approx(10.0, rel=0.5)


@pytest.mark.parametrize("shift", [0, 1, 2])
def test_noise_exposure_or_a_nudge_is_no_interference(shift: int) -> None:
    grey = scene_grey()
    noisy = np.random.default_rng(shift).normal(0, 4.0, grey.shape) + 0.8 * np.roll(grey, shift, 1)
    current = np.clip(noisy, 0, 255).astype(np.uint8)
    assert banding.interference_vs_reference(half_size(current), half_size(grey)) == 0.0


# --- end to end, through a camera's sensor and JPEG: the kitchen's light sources ---------

KITCHENS = Path(__file__).parent / "data" / "quality" / "kitchen"


def judged_against(picture: np.ndarray, reference: np.ndarray) -> list[str]:
    def frame(image: np.ndarray) -> Frame:
        return qp.agent_frame(image)

    enrolled = make_reference(frame(reference))
    return [issue.code for issue in analyse(frame(picture), QualityConfig(), enrolled).issues]


WARM_LIGHT = np.array([0.12, 0.55, 1.0], np.float32)  # (B, G, R): blue barely varies


@pytest.mark.parametrize("name", ["cold_room_1", "cold_room_2", "cooking_1", "cooking_2"])
@pytest.mark.parametrize("source", ["flame", "lamp"])
@pytest.mark.parametrize("seed", [0, 1])
def test_a_lit_flame_or_lamp_is_no_colour_cast_while_a_moved_white_balance_is(
    name: str, source: str, seed: int
) -> None:
    # A kitchen under warm light: its blue channel barely varies, so a near-white flame
    # or lamp lit in a corner multiplies the whole view's blue spread (which the whole
    # view's white balance read as a cast), while the other regions keep theirs.
    scene = qp.to_radiance(read_bgr(KITCHENS / f"{name}.jpg")) * WARM_LIGHT
    rng = np.random.default_rng(seed)
    reference = qp.capture(scene, rng)
    lit = qp.capture(qp.with_light_source(scene, source, rng), rng)
    assert "color_cast" not in judged_against(lit, reference)
    cast = qp.capture(scene, rng, gains=qp.cast_gains("cool", "clear"))
    assert "color_cast" in judged_against(cast, reference)


@pytest.mark.parametrize("cycles", [2.5, 4.0, 7.0, 9.5])
@pytest.mark.parametrize("brightness", [0.5, 1.0, 1.5])
def test_flicker_of_the_threshold_passes_the_gate_and_sensor_noise_does_not(
    cycles: float, brightness: float
) -> None:
    least = 3.5
    grey = scene_grey().astype(np.float32) * brightness
    rows = np.arange(grey.shape[0])[:, None]
    ripple = 1.0 + least / 128.0 * np.sin(2 * np.pi * cycles * rows / grey.shape[0])
    noise = np.random.default_rng(5).normal(0, 2.0, grey.shape)
    enrolled = half_size(np.clip(grey, 0, 255).astype(np.uint8))
    flickering = half_size(np.clip(grey * ripple + noise, 0, 255).astype(np.uint8))
    still = half_size(np.clip(grey + noise, 0, 255).astype(np.uint8))
    assert banding.flicker_possible(banding.unexplained_centre(flickering, enrolled), least)
    # The gate only saves work: on a normally exposed view sensor noise stays under it,
    # on a dim one the fit is made (and finds nothing).
    if brightness >= 1.0:
        assert not banding.flicker_possible(banding.unexplained_centre(still, enrolled), least)
    enrolled_rows = rows_of(np.clip(grey, 0, 255).astype(np.uint8))
    still_rows = rows_of(np.clip(grey + noise, 0, 255).astype(np.uint8))
    assert banding.flicker_vs_reference(still_rows, enrolled_rows, least) == 0.0


# --- one frame: a veil lifts the blacks; faint bands are left undecided --------------------


def soft_close_up(shadow: float) -> np.ndarray:
    """Radiance of a smooth, round, lit object filling the view (a bowl of soup, an orange
    seen close), shaded into deep shadow on one side: little local contrast anywhere, and
    black where the light does not reach."""
    height, width = 360, 640
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    # Lambert shading of a sphere lit from the upper left, falling to ``shadow`` behind it.
    nx, ny = (xs - 0.55 * width) / (0.6 * width), (ys - 0.5 * height) / (0.6 * width)
    nz = np.sqrt(np.clip(1.0 - nx**2 - ny**2, 0.0, 1.0))
    lit = np.where(nz > 0.0, np.clip(-0.5 * nx - 0.4 * ny + 0.77 * nz, 0.0, 1.0), 0.0)
    shade = shadow + (1.0 - shadow) * lit
    colour = np.array([0.01, 0.3, 0.85], np.float32)  # orange, in BGR: deep in blue
    return np.asarray(shade[..., None] * colour, np.float32)


def judged_alone(picture: np.ndarray) -> tuple[list[str], FrameReport]:
    frame = qp.agent_frame(picture)
    report = analyse(frame, QualityConfig())
    return [issue.code for issue in report.issues], report


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_soft_close_up_that_keeps_its_blacks_is_no_veil_while_steam_over_it_is(
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    scene = soft_close_up(shadow=0.0)
    codes, report = judged_alone(qp.capture(scene, rng))
    light = report.measured.own.light
    # Flat enough to read as a veil by its local contrast alone: the blacks tell it apart.
    assert light.clarity < QualityConfig().checks.low_contrast.clarity
    assert "low_contrast" not in codes
    hazy, _ = qp.steam(scene, 0.4, rng)
    codes, _ = judged_alone(qp.capture(hazy, rng, exposure=qp.auto_exposure(hazy, scene)))
    assert "low_contrast" in codes


def banded(grey: np.ndarray, amplitude: float, cycles: float) -> np.ndarray:
    """Flicker of ``amplitude`` levels at mid-grey across the rows (light modulated), on a
    grey or colour picture."""
    rows = np.arange(grey.shape[0], dtype=np.float32)[:, None]
    ripple = 1.0 + amplitude / 128.0 * np.sin(2 * np.pi * cycles * rows / grey.shape[0] + 0.4)
    if grey.ndim == 3:
        ripple = ripple[..., None]
    return np.clip(grey.astype(np.float32) * ripple, 0, 255).astype(np.uint8)


def busy_counter(seed: int) -> np.ndarray:
    """A mid-grey view busy with texture of no period (produce, utensils, sensor noise):
    a band across it stands out of the spectrum at its own amplitude."""
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.normal(0, 30, (SIZE, 320)).astype(np.float32), (0, 0), 3)
    return np.clip(128 + texture + rng.normal(0, 2, (SIZE, 320)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("cycles", [8.0, 14.0, 24.0])
def test_faint_bands_on_one_frame_are_undecided_and_strong_ones_are_stripes(
    cycles: float,
) -> None:
    grey = busy_counter(int(cycles))
    threshold = QualityConfig().checks.stripes.threshold

    def judge(picture: np.ndarray) -> tuple[list[str], list[str], float]:
        frame = Frame(grey=picture, thumb=prepare(picture, 80).thumb, source_size=(320, 180))
        report = analyse(frame, QualityConfig())
        assert report.measured.alone is not None
        return (
            [issue.code for issue in report.issues],
            [item.code for item in report.undecided],
            report.measured.alone.stripes,
        )

    # As strong as a window's mullions or shelving can read on one frame: not called
    # stripes, but said to need a reference.
    codes, undecided, measured = judge(banded(grey, 3.8, cycles))
    assert measured == pytest.approx(3.8, rel=0.2)
    assert measured < threshold
    assert "stripes" not in codes and "stripes" in undecided
    codes, undecided, measured = judge(banded(grey, 10.0, cycles))
    assert "stripes" in codes and "stripes" not in undecided


@pytest.mark.parametrize("period", [4.0, 8.0, 14.0])
@pytest.mark.parametrize("slant", [0.0, 0.3, 1.2])
def test_bars_alone_measures_a_sharp_sinusoid_and_ignores_shading(
    period: float, slant: float
) -> None:
    # A wall lit unevenly, with a sensor's noise, in whole grey levels.
    ys, xs = np.mgrid[0:90, 0:160].astype(np.float32)
    noise = np.random.default_rng(int(period)).normal(0.0, 1.5, xs.shape)
    shading = 128 + 40 * np.sin(xs / 160 * 3) + 20 * np.cos(ys / 90 * 2) + noise
    along = xs * np.cos(slant) + ys * np.sin(slant)
    barred = shading + 6.0 * np.sin(2 * np.pi * along / period)
    # Between frequency bins the Hann window's peak reads low, down to about two thirds.
    assert 0.6 * 6.0 <= banding.bars_alone(np.round(barred).astype(np.float32)) <= 1.05 * 6.0
    assert banding.bars_alone(np.round(shading).astype(np.float32)) == 0.0


@pytest.mark.parametrize("name", ["packing_1", "storage_1", "cold_room_2", "dishwashing_1"])
def test_bars_on_one_frame_are_said_to_need_a_reference(name: str) -> None:
    # Slanted interference bars average out of the row and column profiles the one-frame
    # stripes check reads; a sharp peak in the picture's own spectrum shows them, but a
    # grille or tiles seen square on make one too: said, not raised.
    base = qp.capture(kitchen(name), np.random.default_rng(1))

    def said(picture: np.ndarray) -> tuple[list[str], dict[str, str]]:
        frame = qp.agent_frame(picture)
        report = analyse(frame, QualityConfig())
        return [i.code for i in report.issues], {u.code: u.reason for u in report.undecided}

    codes, undecided = said(base)
    assert "stripes" not in codes and "stripes" not in undecided
    for amplitude, cycles, tilt in ((10.0, 30.0, 20.0), (20.0, 45.0, 100.0)):
        codes, undecided = said(qp.interference_bars(base, amplitude, cycles, tilt, 0.3))
        assert "stripes" not in codes
        assert "sharp periodic pattern" in undecided["stripes"]
        assert "cannot judge without a reference" in undecided["stripes"]


def one_frame_blur_state(picture: np.ndarray) -> int:
    """0: nothing said of blur; 1: "cannot judge without a reference"; 2: blurred."""
    report = analyse(qp.agent_frame(picture), QualityConfig())
    if "blurred" in [issue.code for issue in report.issues]:
        assert "blurred" not in [item.code for item in report.undecided]
        return 2
    return int("blurred" in [item.code for item in report.undecided])


@pytest.mark.parametrize("name", ["cooking_1", "storage_1", "prep_2"])
def test_a_softening_lens_on_one_frame_goes_from_unsaid_to_undecided_to_blurred(
    name: str,
) -> None:
    # Defocus growing on a kitchen: a clean view says nothing of blur; a lens going soft
    # reads like a soft scene on one frame, so the check says it needs a reference before
    # it is sure enough to call it blurred, and never goes back as the blur grows.
    radiance = qp.to_radiance(read_bgr(KITCHENS / f"{name}.jpg"))
    states = [
        one_frame_blur_state(
            qp.capture(
                qp.disc_blur(radiance, radius) if radius else radiance, np.random.default_rng(1)
            )
        )
        for radius in (0, 2, 3, 4, 5, 6, 8)
    ]
    assert states[0] == 0 and states[-1] == 2
    assert 1 in states
    assert states == sorted(states)


@pytest.mark.parametrize(
    ("name", "seed"), [("coffee", 2), ("coffee", 3), ("camera", 1), ("camera", 3)]
)
def test_grease_over_most_of_the_lens_on_one_frame_is_said_not_passed(name: str, seed: int) -> None:
    # Finger strokes of grease over 60 % of the lens: the clear glass between them keeps
    # the whole picture's blur under what a soft scene shows, and one frame raises
    # nothing. Block by block most of the lit view is soft, so the check says it cannot
    # judge, where before it said nothing; the clean view says nothing of blur.
    radiance = qp.to_radiance(read_bgr(PHOTOS / f"{name}.jpg"))
    noise = np.random.default_rng(seed + 10)
    smeared = qp.capture(qp.grease_smear(radiance, 0.6, np.random.default_rng(seed)), noise)
    report = analyse(qp.agent_frame(smeared), QualityConfig())
    assert report.issues == []
    assert report.measured.own.blur < 0.42
    said = {item.code: item.reason for item in report.undecided}
    assert said["blurred"].startswith("most of the lit picture is soft")
    clean = qp.capture(radiance, np.random.default_rng(seed + 10))
    assert one_frame_blur_state(clean) == 0


def test_a_veil_is_named_not_left_as_a_soft_picture() -> None:
    radiance = qp.to_radiance(read_bgr(KITCHENS / "cooking_1.jpg"))
    hazy, _ = qp.steam(radiance, 0.3, np.random.default_rng(2))
    picture = qp.capture(hazy, np.random.default_rng(1))
    report = analyse(qp.agent_frame(picture), QualityConfig())
    assert "low_contrast" in [issue.code for issue in report.issues]
    assert "blurred" not in [item.code for item in report.undecided]


# --- with a reference: which finding is the root cause ------------------------------------

SCENES = ["cooking_1", "prep_2", "packing_1", "dishwashing_1"]


def kitchen(name: str) -> np.ndarray:
    return qp.to_radiance(read_bgr(KITCHENS / f"{name}.jpg"))


def shot(radiance: np.ndarray, seed: int) -> np.ndarray:
    return qp.capture(radiance, np.random.default_rng(seed))


def judged_covered(
    scene: np.ndarray,
    coverage: float,
    material: str,
    seed: int,
    reference: np.ndarray,
    shot_seed: int = 2,
) -> list[str]:
    """The findings on ``scene`` with ``material`` over ``coverage`` of the lens (placed
    by ``seed``), shot with its own noise (``shot_seed``), against ``reference``."""
    hidden, _ = qp.covered(scene, coverage, material, np.random.default_rng(seed))
    return judged_against(shot(hidden, shot_seed), reference)


@pytest.mark.parametrize("name", SCENES)
@pytest.mark.parametrize(
    ("material", "root_cause"), [("black_tape", "too_dark"), ("paper", "too_bright")]
)
def test_a_black_or_white_cover_over_most_of_the_lens_is_a_cover_not_bad_light(
    name: str, material: str, root_cause: str
) -> None:
    scene = kitchen(name)
    reference = shot(scene, 0)
    codes = judged_covered(scene, 0.75, material, 1, reference)
    assert "occluded" in codes and root_cause not in codes
    # Light itself gone wrong changes the whole view, the part no cover hides included.
    if root_cause == "too_dark":
        bad_light = qp.underexposed(scene, 0.8, np.random.default_rng(3))
    else:
        bad_light = qp.overexposed(scene, 0.8, np.random.default_rng(3))
    codes = judged_against(bad_light, reference)
    assert root_cause in codes and "occluded" not in codes


@pytest.mark.parametrize("name", SCENES)
def test_dense_steam_is_a_veil_not_a_cover_or_another_view(name: str) -> None:
    scene = kitchen(name)
    rng = np.random.default_rng(4)
    reference = shot(scene, 0)
    hazy, _ = qp.steam(scene, 0.22, rng)
    steamed = qp.capture(hazy, rng, exposure=qp.auto_exposure(hazy, scene))
    codes = judged_against(steamed, reference)
    assert "low_contrast" in codes
    assert "occluded" not in codes and "scene_changed" not in codes
    fogged = shot(qp.condensation(scene, 0.15, rng), 5)
    codes = judged_against(fogged, reference)
    assert "low_contrast" in codes and "scene_changed" not in codes


@pytest.mark.parametrize("name", SCENES)
@pytest.mark.parametrize("tilt", [5.0, 80.0])
def test_bars_over_a_sharp_view_are_stripes_and_not_blur(name: str, tilt: float) -> None:
    scene = kitchen(name)
    reference = shot(scene, 0)
    barred = qp.interference_bars(shot(scene, 7), 20.0, 20.0, tilt, 0.5)
    codes = judged_against(barred, reference)
    assert "stripes" in codes and "blurred" not in codes
    # Moderate defocus is blur, whatever else is on the picture.
    soft = shot(qp.disc_blur(scene, 6.0), 8)
    assert "blurred" in judged_against(soft, reference)


def test_a_cover_is_one_region_through_the_featureless_blocks_it_hides() -> None:
    # A hand over the top left: the shelf above and the counter below lost their detail,
    # the smooth wall between them had none to lose and has none now.
    blocked = np.zeros((8, 12), np.bool_)
    blocked[0:2, 0:6] = True
    blocked[5:8, 0:6] = True
    wall = np.zeros_like(blocked)
    wall[2:5, 0:6] = True
    share, region = joined_region(blocked, wall)
    assert share == pytest.approx(30 / 96)
    assert region is not None and np.array_equal(region, blocked | wall)
    # Without the wall between them they are two regions, the larger one counted.
    share, region = joined_region(blocked, np.zeros_like(blocked))
    assert share == pytest.approx(18 / 96)
    assert region is not None and region[5:8, 0:6].all() and not region[0:2].any()
    # Featureless blocks alone are no cover, and they never add to one's size.
    assert joined_region(np.zeros_like(blocked), wall) == (0.0, None)
    everywhere_flat = ~blocked
    assert joined_region(blocked, everywhere_flat)[0] == pytest.approx(30 / 96)


def test_detail_lost_beyond_a_cover_leaves_out_its_region_and_the_ring_around_it() -> None:
    enrolled = blocks(REFERENCE_DETAIL)
    current = REFERENCE_DETAIL.copy()
    current[:6] *= 0.2  # the cover over the top six rows...
    current[6] *= 0.4  # ...took the detail of the row under its soft edge too
    region = np.zeros(REFERENCE_DETAIL.shape, np.bool_)
    region[:6] = True
    beyond = cells.beyond(region)
    assert not beyond[:7].any() and beyond[7:].all()
    lost = compare._detail_lost(blocks(current), enrolled, None, 1.0, beyond)
    assert lost == 0.0
    current[9:] *= 0.3  # grease strokes across the bottom rows, apart from the cover
    lost = compare._detail_lost(blocks(current), enrolled, None, 1.0, beyond)
    assert lost == pytest.approx(2 / 11)


@pytest.mark.parametrize(
    ("name", "material", "seed"),
    [
        ("cold_room_1", "hand", 1),
        ("cooking_1", "blue_glove", 1),
        ("dishwashing_2", "hand", 2),
        ("packing_1", "grey_cloth", 1),
        ("prep_2", "paper", 2),
    ],
)
def test_a_cover_over_half_the_view_and_the_smooth_wall_behind_it_is_occluded(
    name: str, material: str, seed: int
) -> None:
    # The cover hides shelving, counter and the plain tiles between: the tiles had no
    # detail to lose, yet they are under the same cover.
    scene = kitchen(name)
    assert "occluded" in judged_covered(scene, 0.45, material, seed, shot(scene, 0), 3)


@pytest.mark.parametrize(
    ("name", "material", "seed"),
    [
        ("cold_room_1", "hand", 0),
        ("cold_room_1", "grey_cloth", 0),
        ("cold_room_1", "blue_glove", 1),
        ("prep_1", "grey_cloth", 0),
        ("prep_1", "blue_glove", 0),
        ("packing_2", "blue_glove", 1),
        ("packing_2", "grey_cloth", 1),
        ("packing_1", "grey_cloth", 1),
        # Over the darker parts a pale cover lifts the brightness by less than 40 levels,
        # but by a third of it and more.
        ("prep_1", "blue_glove", 1),
        ("storage_2", "blue_glove", 1),
        ("storage_2", "grey_cloth", 1),
        ("storage_2", "grey_cloth", 3),
        ("packing_1", "blue_glove", 1),
    ],
)
def test_a_cover_over_plain_tiles_and_a_dim_counter_is_occluded(
    name: str, material: str, seed: int
) -> None:
    # A third of the view under a hand, a cloth or a glove, where it shows little detail:
    # pale tiles, a dim counter, brushed steel. What texture it had (tile joints, edges)
    # is gone under the cover's smooth face, and a dim part is lit by it.
    scene = kitchen(name)
    assert judged_covered(scene, 0.3, material, seed, shot(scene, 0), 3) == ["occluded"]


@pytest.mark.parametrize("name", ["cold_room_1", "prep_1", "packing_2", "storage_2", "packing_1"])
def test_the_faint_texture_of_a_clean_view_is_kept_noisy_nudged_or_dimmer(name: str) -> None:
    scene = kitchen(name)
    reference = shot(qp.view(scene), 0)
    for clean in (
        shot(qp.view(scene), 3),
        shot(qp.view(scene, 0.01, 0.005), 2),
        qp.capture(qp.view(scene), np.random.default_rng(4), light=0.5),
    ):
        assert "occluded" not in judged_against(clean, reference)


@pytest.mark.parametrize(
    ("before", "after", "changed"),
    [
        (30.0, 51.0, True),  # brighter by 21: over 20 and over a third of 51
        (30.0, 49.0, False),  # brighter by 19
        (60.0, 90.0, True),  # brighter by 30, over a third of 90
        (60.0, 85.0, False),  # brighter by 25, under a third of 85
        (10.0, 40.0, True),
        (100.0, 139.0, False),  # brighter by 39, under a third of 139 and under 40
        (100.0, 145.0, True),  # brighter by 45, over 40
        (30.0, 9.0, False),  # darker by 21: lights going off look the same
        (100.0, 65.0, False),  # darker by 35
        (200.0, 159.0, True),  # darker by 41, over 40
        (200.0, 161.0, False),
    ],
)
def test_a_block_changed_its_light_by_40_levels_or_brighter_by_a_third(
    before: float, after: float, changed: bool
) -> None:
    level = np.full((2, 3), after, np.float32)
    assert compare._level_changed(level, np.full((2, 3), before, np.float32)).all() == changed
    assert not compare._level_changed(level, level).any()


def lamp_off(scene: np.ndarray, side: str, light: float) -> np.ndarray:
    """The light over one side of the view down to ``light`` of what it was (a hood lamp
    switched off), fading across the middle third."""
    height, width = scene.shape[:2]
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    across = {
        "left": columns / width,
        "right": 1 - columns / width,
        "top": rows / height,
        "bottom": 1 - rows / height,
    }[side]
    lit = np.clip((across - 0.35) / 0.3, 0, 1)
    return np.asarray(scene * (light + (1 - light) * lit)[..., None], np.float32)


@pytest.mark.parametrize("name", ["prep_1", "packing_1", "cold_room_1", "packing_2"])
def test_a_lamp_gone_off_over_one_side_of_the_kitchen_is_not_stripes_nor_a_cover(
    name: str,
) -> None:
    # The shelving and tiles on the darkened side keep their period and lose part of
    # their light: one gain for the whole profile left that period behind as bands. The
    # counter under it falls towards sensor noise, as under black tape, but that is not
    # a cover.
    scene = kitchen(name)
    reference = shot(scene, 0)
    for side in ("left", "right", "top", "bottom"):
        for light in (0.35, 0.5, 0.65, 0.8):
            assert judged_against(shot(lamp_off(scene, side, light), 3), reference) == []


@pytest.mark.parametrize("cycles", [8.0, 14.0, 24.0])
def test_bands_over_a_view_whose_lamp_went_off_are_still_stripes(cycles: float) -> None:
    scene = kitchen("prep_1")
    darker = shot(lamp_off(scene, "top", 0.65), 3)
    assert "stripes" in judged_against(banded(darker, 8.0, cycles), shot(scene, 0))


def plain_wall(texture: float) -> np.ndarray:
    """A plain wall with faint texture (plaster, brushed steel: under the detail of a block)
    below a shelf of boxes, as a camera would encode it (BGR)."""
    rng = np.random.default_rng(0)
    grain = cv2.GaussianBlur(rng.normal(0.0, 1.0, (360, 640)).astype(np.float32), (0, 0), 2.0)
    wall = 140.0 + texture * grain / float(grain.std())
    wall[20:80, 40:600] = 60.0 + 120.0 * ((np.indices((60, 560)).sum(axis=0) // 6) % 2)
    return cv2.cvtColor(np.clip(wall, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)


def judged_jpeg(picture: np.ndarray, reference: np.ndarray, quality: int) -> list[str]:
    def frame(image: np.ndarray, seed: int, jpeg: int) -> Frame:
        noisy = image + np.random.default_rng(seed).normal(0.0, 1.5, image.shape)
        encoded = cv2.imencode(
            ".jpg", np.clip(noisy, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, jpeg]
        )[1]
        return prepare(decode_for_analysis(bytes(encoded), 320), 320)

    enrolled = make_reference(frame(reference, 1, 85))
    report = analyse(frame(picture, 2, quality), QualityConfig(), enrolled)
    return [issue.code for issue in report.issues]


@pytest.mark.parametrize("texture", [3.0, 5.0])
def test_a_starved_stream_flattening_a_plain_wall_is_no_cover(texture: float) -> None:
    # The substream's bitrate cut after enrolment: JPEG at quality 18 or 10 smooths the
    # wall's faint texture everywhere at once.
    wall = plain_wall(texture)
    for quality in (30, 18, 10):
        assert judged_jpeg(wall, wall, quality) == []


@pytest.mark.parametrize("level", [120.0, 140.0, 160.0])
def test_a_smooth_cover_over_a_plain_wall_is_occluded(level: float) -> None:
    # A sheet over the bottom third, as light as the wall or a little darker or lighter:
    # there was no detail under it to lose, only the wall's faint texture.
    wall = plain_wall(3.0)
    edge = np.zeros(wall.shape[:2], np.float32)
    edge[240:] = 1.0
    sheet = cv2.GaussianBlur(edge, (0, 0), 12.0)[..., None]
    covered = wall.astype(np.float32) * (1.0 - sheet) + level * sheet
    assert judged_jpeg(covered, wall, 85) == ["occluded"]


@pytest.mark.parametrize(
    ("name", "material"),
    [
        ("cooking_1", "blue_glove"),
        ("cooking_1", "black_tape"),
        ("prep_2", "paper"),
        ("dishwashing_1", "paper"),
        ("dishwashing_1", "grey_cloth"),
        ("cold_room_1", "blue_glove"),
    ],
)
def test_a_cover_over_nearly_all_the_view_is_occluded_not_a_turned_camera(
    name: str, material: str
) -> None:
    # Too little of the view is left for features to match, and the cover hides what had
    # detail (shelves, counter), but the cabinets it leaves are where they were.
    scene = kitchen(name)
    codes = judged_covered(scene, 0.85, material, 1, shot(scene, 0))
    assert "occluded" in codes and "scene_changed" not in codes


@pytest.mark.parametrize("name", ["prep_1", "cold_room_1"])
def test_a_sheet_over_nearly_all_the_lens_is_a_cover_not_steam(name: str) -> None:
    # Paper over 85 % of the lens: the picture's clarity fell and its blacks rose as in
    # steam, but the cabinets it leaves kept every bit of their detail.
    scene = kitchen(name)
    assert judged_covered(scene, 0.85, "paper", 1, shot(scene, 0)) == ["occluded"]


@pytest.mark.parametrize("name", ["cooking_1", "prep_2", "dishwashing_1", "cold_room_1"])
def test_a_camera_turned_along_the_kitchen_or_to_another_is_still_a_scene_change(
    name: str,
) -> None:
    scene = kitchen(name)
    reference = shot(qp.view(scene), 0)
    turned = shot(qp.view(scene, 0.5, 0.1, 6.0), 2)
    elsewhere = shot(qp.view(qp.to_radiance(read_bgr(PHOTOS / "coffee.jpg"))), 2)
    for moved in (turned, elsewhere):
        codes = judged_against(moved, reference)
        assert "scene_changed" in codes and "occluded" not in codes


# --- one frame: noise at high gain over bright parts -------------------------------------


@pytest.mark.parametrize("name", ["astronaut", "camera", "coffee", "cooking_1"])
def test_noise_at_high_gain_is_seen_in_the_shadows_of_a_bright_picture(name: str) -> None:
    # A dim room brought up 48 times by the camera's gain: the bright parts (a white
    # suit, the sky, a cup) look smooth after the tone curve, the shadows do not.
    scene = qp.committed_scene(name)
    grainy = qp.capture(scene, np.random.default_rng(3), light=1 / 48)
    assert judged_alone(grainy)[0] == ["noisy"]
    # An evening's twice the gain is the camera working as it should.
    evening = qp.capture(scene, np.random.default_rng(3), light=0.5)
    assert judged_alone(evening)[0] == []


@pytest.mark.parametrize("texture", ["rice", "herbs", "granite"])
def test_fine_texture_over_most_of_the_view_is_not_noise_when_a_plate_shows_the_truth(
    texture: str,
) -> None:
    # A tray of rice or a heap of herbs seen from the ceiling: at the analysis width its
    # grains are a pixel or two, like snow. A plate over a twelfth of the view is smooth
    # and brighter than the texture; it shows the camera's true noise.
    scene = qp.to_radiance(kitchen_textures.scene(texture, 7, 0.08))
    for light in (1.0, 0.5):
        clean = qp.capture(scene, np.random.default_rng(4), light=light)
        assert "noisy" not in judged_alone(clean)[0]
    grainy = qp.capture(scene, np.random.default_rng(4), light=1 / 48)
    assert "noisy" in judged_alone(grainy)[0]


def repeat_rows(picture: np.ndarray) -> float:
    """The period, in analysis rows, of the strongest repeat of a picture's row profile."""
    grey = prepare(picture, 320).grey.astype(np.float64)
    profile = grey.mean(axis=1)
    spectrum = np.abs(np.fft.rfft(profile - profile.mean()))
    return grey.shape[0] / (int(spectrum[4:].argmax()) + 4)


@pytest.mark.parametrize("pattern", ["tiled_wall", "shelving", "louvres"])
def test_structure_seen_square_on_is_not_stripes_on_one_frame(pattern: str) -> None:
    # Slats, shelf edges and grout lines cross the whole view in phase, as flicker does,
    # but as steps and thin lines: every harmonic of them is there too. Below a repeat of
    # 6 analysis rows the second harmonic is past the bands measured, so one frame
    # cannot tell (a louvre 5.5 rows apart still reads as stripes).
    judged = 0
    for seed in range(20, 26):
        picture = kitchen_patterns.scene(pattern, seed, 0.0)
        if repeat_rows(picture) < 6.0:
            continue
        shot = qp.capture(qp.to_radiance(picture), np.random.default_rng(seed))
        assert "stripes" not in judged_alone(shot)[0], seed
        judged += 1
    assert judged >= 3


def test_flicker_over_a_wall_of_drawers_is_stripes_on_one_frame() -> None:
    # The drawer fronts' grid repeats too, with every harmonic: a flicker band that falls
    # on one of the grid's harmonics is taken for the grid (1 of these 12 walls). Any
    # other flicker over them is still seen on one frame.
    caught = 0
    for seed in range(20, 32):
        scene = qp.to_radiance(kitchen_patterns.scene("drawers", seed, 0.0))
        flickering = qp.flicker_bands(scene, 0.15, 12.5, float(seed))
        shot = qp.capture(flickering, np.random.default_rng(seed))
        caught += "stripes" in judged_alone(shot)[0]
    assert caught >= 11


@pytest.mark.parametrize("name", ["cooking_1", "prep_2", "packing_1", "dishwashing_1"])
def test_a_cover_over_most_of_the_view_is_not_also_blur_while_grease_strokes_are(
    name: str,
) -> None:
    # The detail a hand or a sheet hides is the cover's, its soft edge included; grease
    # smeared across the lens takes detail in strokes all over the view.
    scene = kitchen(name)
    reference = shot(scene, 0)
    for material in ("hand", "paper", "grey_cloth"):
        assert judged_covered(scene, 0.65, material, 4, reference) == ["occluded"]
    smeared = qp.grease_smear(scene, 0.6, np.random.default_rng(5))
    assert "blurred" in judged_against(shot(smeared, 3), reference)


@pytest.mark.parametrize("name", ["cooking_1", "prep_2", "cold_room_1", "prep_1"])
def test_a_cover_over_three_quarters_of_the_view_is_not_also_a_veil(name: str) -> None:
    # The cover fills most of the picture, so the picture's contrast fell; the view it
    # leaves kept every bit of its detail, which a veil over the lens would not.
    scene = kitchen(name)
    reference = shot(scene, 0)
    for material in ("hand", "grey_cloth", "blue_glove"):
        assert judged_covered(scene, 0.75, material, 6, reference) == ["occluded"]


# --- one frame: a cover leaves the rest of the view sharp -----------------------------------


def judged_alone_covered(
    scene: np.ndarray, radius: float, material: str
) -> tuple[list[str], float | None]:
    """The findings on one frame of ``scene`` seen through a lens defocused by a disc of
    ``radius`` analysis pixels (0: in focus), ``material`` over 60 % of it; and the blur
    of the view beyond the blank region."""
    seen = qp.disc_blur(scene, radius * qp._scale(scene)) if radius else scene
    hidden, _ = qp.covered(seen, 0.6, material, np.random.default_rng(4))
    codes, report = judged_alone(shot(hidden, 2))
    assert report.measured.alone is not None
    return codes, report.measured.alone.blur_beyond_blank


@pytest.mark.parametrize(
    ("name", "material"),
    [("cooking_1", "hand"), ("packing_1", "grey_cloth"), ("storage_2", "paper")],
)
def test_a_cover_over_a_lens_out_of_focus_is_also_blurred_on_one_frame(
    name: str, material: str
) -> None:
    # A hand or a sheet near the lens leaves the rest of the view as sharp as it was; when
    # what it leaves is soft too, the lens is out of focus as well, and one frame says so
    # (before, it said only that the view was covered).
    scene = kitchen(name)
    codes, beyond = judged_alone_covered(scene, 0.0, material)
    assert codes == ["occluded"]
    assert beyond is not None and beyond < QualityConfig().checks.blurred.threshold
    codes, beyond = judged_alone_covered(scene, 3.0, material)
    assert "occluded" in codes and "blurred" in codes
    assert beyond is not None and beyond >= QualityConfig().checks.blurred.threshold


@pytest.mark.parametrize(
    ("name", "variant", "kind"),
    [
        ("cold_room_1", "defocus_disc_r3", "blurred"),
        ("storage_2", "condensation_t0.3", "low_contrast"),
    ],
)
def test_a_blur_whose_featureless_parts_read_as_a_cover_is_named(
    name: str, variant: str, kind: str
) -> None:
    # As the physical model's benchmark makes them: a defocused cold room and fog on the
    # lens over a store room leave large featureless areas at the edge, which one frame
    # reads as a cover; the view beyond them is as soft as a blurred picture. (A veil on
    # the lens also softens: naming it blurred is right.)
    picture = qp._fit_width(read_bgr(KITCHENS / f"{name}.jpg"))
    sample = next(
        s for s in qp.samples_for(f"kitchen/{name}.jpg", picture, picture) if s.variant == variant
    )
    assert sample.kind == kind and "blurred" in {kind} | sample.also_accept
    width = QualityConfig().analysis_width
    frame = prepare(decode_for_analysis(sample.jpeg, width), width)
    codes = [issue.code for issue in analyse(frame, QualityConfig()).issues]
    assert "occluded" in codes and "blurred" in codes


def test_the_view_beyond_a_blank_region_is_measured_only_where_enough_is_left() -> None:
    scene = kitchen("cooking_1")
    # A clean kitchen's featureless parts (a wall, the ceiling) are no cover's size.
    _, report = judged_alone(shot(scene, 1))
    alone = report.measured.alone
    assert alone is not None and 0.0 < alone.blank_edge < BLUR_BEYOND_FROM
    assert alone.blur_beyond_blank is None
    # No featureless region at the edge: nothing to measure beyond.
    textured = qp.capture(
        qp.to_radiance(kitchen_textures.scene("rice", 0, 0.0)), np.random.default_rng(1)
    )
    _, report = judged_alone(textured)
    alone = report.measured.alone
    assert alone is not None and alone.blank_edge == 0.0 and alone.blur_beyond_blank is None
    # A cover over nearly all of the lens leaves too little beyond its ring to judge.
    hidden, _ = qp.covered(scene, 0.97, "grey_cloth", np.random.default_rng(1))
    _, report = judged_alone(shot(hidden, 2))
    alone = report.measured.alone
    assert alone is not None and alone.blank_edge > 0.9 and alone.blur_beyond_blank is None
