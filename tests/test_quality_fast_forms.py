"""The cheap forms of the quality metrics equal their textbook definitions.

The analysis computes several metrics in a roundabout but cheaper way (telescoped
differences, integral images, a folded spectrum operator, partition instead of sort,
strip profiles from the integral image); each is checked here against the plain
definition on real photos and on noise.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.capture.decode import halve_towards, resize_to_width
from agent.capture.quality import cells as grid
from agent.capture.quality import metrics
from agent.capture.quality import stripes as bands
from agent.capture.quality.frame import prepare
from testkit.images import read_bgr

PHOTOS = Path(__file__).parent / "data" / "quality"


def greys() -> list[np.ndarray]:
    pictures = [prepare(read_bgr(path), 320).grey for path in sorted(PHOTOS.glob("*.jpg"))]
    noise = np.random.default_rng(3).integers(0, 256, (180, 320), dtype=np.uint8)
    dark = (pictures[0] // 16).astype(np.uint8)  # small differences, where rounding shows
    return [*pictures, noise, dark]


@pytest.fixture(scope="module", params=range(6), ids=lambda i: f"grey{i}")
def grey(request: pytest.FixtureRequest) -> np.ndarray:
    return greys()[request.param]


def blur_definition(grey: np.ndarray) -> float:
    """Crete-Roffet: per axis 1 - sum(max(0, d - d_blurred)) / sum(d), 9-pixel box re-blur
    in floating point, over the rows (columns) where the box stays inside the picture."""
    image = grey.astype(np.float64)
    results = []
    for axis in (0, 1):
        blurred = cv2.blur(image, (1, 9) if axis == 0 else (9, 1))
        d = np.abs(np.diff(image, axis=axis))
        d_blurred = np.abs(np.diff(blurred, axis=axis))
        inner = (slice(4, -4), slice(None)) if axis == 0 else (slice(None), slice(4, -4))
        d, d_blurred = d[inner], d_blurred[inner]
        results.append(1.0 - np.maximum(0.0, d - d_blurred).sum() / d.sum())
    return max(results)


def test_blur_is_the_papers_measure(grey: np.ndarray) -> None:
    d_vertical, d_horizontal = metrics.differences(grey)
    fast = metrics.blur(grey, d_vertical, d_horizontal)
    assert fast == pytest.approx(blur_definition(grey), abs=1e-9)


def test_blur_of_a_flat_or_tiny_picture_is_one() -> None:
    flat = np.full((180, 320), 77, np.uint8)
    assert metrics.blur(flat, *metrics.differences(flat)) == 1.0
    tiny = np.random.default_rng(1).integers(0, 256, (8, 8), dtype=np.uint8)
    assert metrics.blur(tiny, *metrics.differences(tiny)) == 1.0


def soft_blocks_definition(grey: np.ndarray) -> float | None:
    """The median, over the 32-pixel blocks from 4 pixels in whose grey level averages 90
    and more with a spread of 12 and more, of each block's Crete-Roffet measure (the
    larger of its two axes, in floating point); None under six such blocks."""
    image = grey.astype(np.float64)
    height, width = grey.shape
    rows, cols = (height - 9) // 32, (width - 9) // 32
    per_axis = []
    for axis in (0, 1):
        blurred = cv2.blur(image, (1, 9) if axis == 0 else (9, 1))
        d = np.abs(np.diff(image, axis=axis))
        d_blurred = np.abs(np.diff(blurred, axis=axis))
        # Differences 4 in from where the box leaves the picture, on the pixels from 4 in.
        inner = (slice(4, -4), slice(4, None)) if axis == 0 else (slice(4, None), slice(4, -4))
        per_axis.append((d[inner], d_blurred[inner]))
    values = []
    for row in range(rows):
        for col in range(cols):
            at = (slice(32 * row, 32 * row + 32), slice(32 * col, 32 * col + 32))
            block = image[4:, 4:][at]
            if block.mean() < 90.0 or block.std() < 12.0:
                continue
            measures = []
            for d, d_blurred in per_axis:
                lost = np.maximum(0.0, d[at] - d_blurred[at]).sum()
                measures.append(1.0 - lost / max(d[at].sum(), 1.0))
            values.append(max(measures))
    return float(np.median(values)) if len(values) >= 6 else None


def soft_blocks_of(grey: np.ndarray) -> float | None:
    sums, squares = cv2.integral2(grey, sdepth=cv2.CV_32S, sqdepth=cv2.CV_64F)
    axes = metrics.reblurred(grey, *metrics.differences(grey))
    return metrics.soft_blocks(axes, sums, np.asarray(squares, np.float64))


def test_soft_blocks_is_the_median_of_the_lit_blocks_measure(grey: np.ndarray) -> None:
    fast, plain = soft_blocks_of(grey), soft_blocks_definition(grey)
    assert (fast is None) == (plain is None)
    if plain is not None:
        assert fast == pytest.approx(plain, abs=1e-9)


def test_soft_blocks_tell_a_lens_smeared_over_most_of_the_view() -> None:
    sharp = greys()[2]
    assert soft_blocks_definition(sharp) is not None
    # Blur over the lower two thirds: most of the lit blocks go soft.
    smeared = sharp.copy()
    smeared[60:] = cv2.GaussianBlur(sharp, (0, 0), 3.0)[60:]
    before, after = soft_blocks_of(sharp), soft_blocks_of(smeared)
    assert before is not None and after is not None
    assert after > before + 0.15
    # Too dark to judge (sensor noise would pass for detail): nothing is said.
    assert soft_blocks_of((sharp // 3).astype(np.uint8)) is None
    tiny = sharp[:60, :100]
    assert soft_blocks_of(tiny) is None


def noise_definition(grey: np.ndarray) -> float:
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = cv2.filter2D(grey, cv2.CV_32F, kernel)[1:-1, 1:-1]
    magnitude = np.minimum(np.abs(np.round(response)), 255)[::2, ::2]  # a quarter sample
    ordered = np.sort(magnitude.reshape(-1))
    # The smallest level whose cumulative count reaches half the pixels.
    median = ordered[int(np.ceil(0.5 * ordered.size)) - 1]
    return float(median) / (0.6745 * 6.0)


def test_noise_is_immerkaers_median(grey: np.ndarray) -> None:
    magnitude = metrics.noise_response(grey)
    assert metrics.noise_estimate(magnitude) == pytest.approx(noise_definition(grey), abs=1e-9)


def noise_floor_definition(grey: np.ndarray) -> float:
    """Immerkaer's mean form, sigma = sqrt(pi/2) / 6 * mean |response|, per 8x8 cell of
    the inner pixels; a cell brighter than 128 divided by the square root of its headroom
    to white, (255 - level) / 127; the 5th percentile over cells whose mean grey is within
    16..240 when there are at least 8 of them."""
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = cv2.filter2D(grey, cv2.CV_32F, kernel)[1:-1, 1:-1]
    magnitude = np.minimum(np.abs(np.round(response)), 255).astype(np.float64)
    inner = grey[1:-1, 1:-1].astype(np.float64)
    rows, cols = magnitude.shape[0] // 8, magnitude.shape[1] // 8

    def cells(image: np.ndarray) -> np.ndarray:
        return image[: rows * 8, : cols * 8].reshape(rows, 8, cols, 8).mean(axis=(1, 3)).ravel()

    noise, levels = cells(magnitude), cells(inner)
    unclipped = (levels >= 16) & (levels <= 240)
    if unclipped.sum() >= 8:
        squeeze = np.sqrt(np.minimum((255 - levels) / 127, 1.0))
        noise = noise[unclipped] / squeeze[unclipped]
    return float(np.percentile(noise, 5)) * np.sqrt(np.pi / 2) / 6


def test_noise_floor_is_the_quietest_cells_noise(grey: np.ndarray) -> None:
    integral = np.asarray(cv2.integral(grey), np.int32)
    floor = metrics.noise_floor(metrics.noise_response(grey), integral)
    assert floor == pytest.approx(noise_floor_definition(grey), abs=1e-6)


def test_noise_floor_tells_snow_from_detail() -> None:
    """A detailed photo with smooth parts reads low; the same photo under snow reads its
    noise: the floor is where the picture is quietest."""
    photo = prepare(read_bgr(PHOTOS / "astronaut.jpg"), 320).grey
    snow = np.random.default_rng(5).normal(0.0, 8.0, photo.shape)
    noisy = np.clip(photo + snow, 0, 255).astype(np.uint8)

    def floor(grey: np.ndarray) -> float:
        integral = np.asarray(cv2.integral(grey), np.int32)
        return metrics.noise_floor(metrics.noise_response(grey), integral)

    assert floor(photo) < 1.0
    assert floor(noisy) == pytest.approx(8.0, rel=0.25)


def grain(level: float, sigma: float, seed: int) -> np.ndarray:
    return level + np.random.default_rng(seed).normal(0.0, sigma, (180, 320))


def noise_floor_of(picture: np.ndarray) -> float:
    grey = np.clip(np.round(picture), 0, 255).astype(np.uint8)
    integral = np.asarray(cv2.integral(grey), np.int32)
    return metrics.noise_floor(metrics.noise_response(grey), integral)


@pytest.mark.parametrize("shadow_rows", [40, 80, 120])
def test_noise_in_the_highlights_counts_for_what_the_tone_curve_squeezed(shadow_rows: int) -> None:
    """High gain over a bright smooth wall: the tone curve's shoulder and the nearness of
    white leave the noise at 215 about 0.6 of what it is in the shadows (measured through
    the physical camera model at gains x48 and x120). The wall must not read as the quiet
    part of the picture."""
    picture = grain(215.0, 3.0, 7)
    picture[-shadow_rows:] = grain(70.0, 5.0, 8)[-shadow_rows:]
    in_shadow = noise_floor_of(grain(70.0, 5.0, 9))
    assert noise_floor_of(picture) == pytest.approx(in_shadow, rel=0.15)


def test_a_smooth_bright_part_is_the_quiet_part_of_a_textured_picture() -> None:
    """Fine texture over most of the view (rice, herbs at the analysis width) reads like
    snow; a really smooth plate in it, brighter than the texture, shows the true noise."""
    texture = grain(80.0, 12.0, 14)
    picture = texture.copy()
    picture[40:120, 100:220] = grain(200.0, 0.5, 15)[40:120, 100:220]  # a sixth of the view
    assert noise_floor_of(texture) > 2.5 * 3  # far above the noisy threshold
    assert noise_floor_of(picture) < 1.0


def test_a_bright_picture_without_shadows_reads_its_highlights() -> None:
    picture = grain(215.0, 3.0, 11)
    picture[:8, :64] = grain(70.0, 9.0, 12)[:8, :64]  # too few dark cells to go by
    assert noise_floor_of(picture) == pytest.approx(noise_floor_of(grain(215.0, 3.0, 13)), rel=0.15)


def band_peak_definition(profile: np.ndarray) -> float:
    """Detrend (41-sample box, reflected), centre, Hann, FFT; the stripe band's peak."""
    size = profile.shape[0]
    trend = cv2.blur(
        profile.reshape(-1, 1).astype(np.float64), (1, 41), borderType=cv2.BORDER_REFLECT
    ).reshape(-1)
    detrended = profile - trend
    spectrum = np.abs(np.fft.rfft((detrended - detrended.mean()) * np.hanning(size)))
    frequencies = np.fft.rfftfreq(size)
    band = spectrum[(frequencies >= 1 / 40) & (frequencies <= 1 / 3)]
    return float(band.max()) * 4.0 / size


def test_band_peak_is_the_windowed_spectrum(grey: np.ndarray) -> None:
    for profile in bands.profiles(grey):
        expected = band_peak_definition(profile)
        assert bands.band_peak(profile) == pytest.approx(expected, rel=1e-4, abs=1e-4)


def test_band_peak_finds_a_sinusoid() -> None:
    rows = np.arange(180, dtype=np.float32)
    profile = 100.0 + 8.0 * np.sin(2 * np.pi * rows / 12.0) + 0.2 * rows
    assert bands.band_peak(profile.astype(np.float32)) == pytest.approx(8.0, rel=0.1)
    assert bands.band_peak(np.zeros(20, np.float32)) == 0.0  # too short to say


def stripes_definition(grey: np.ndarray, strips: int = 6, prominence: float = 8.0) -> float:
    """Per strip along the bands, the complex Hann-windowed spectrum of its detrended
    brightness profile, scaled to amplitude at mid-grey; the weakest strip's part in
    the phase of the strips' mean component, at the best frequency of either direction
    where that mean component stands ``prominence`` times above its median."""
    best = 0.0
    height, width = grey.shape
    for axis, count in ((1, width), (0, height)):
        edges = np.linspace(0, count, strips + 1)
        components = []
        for k in range(strips):
            lo, hi = round(float(edges[k])), round(float(edges[k + 1]))
            part = grey[:, lo:hi] if axis == 1 else grey[lo:hi, :]
            profile = part.astype(np.float64).mean(axis=axis)
            size = profile.shape[0]
            trend = cv2.blur(profile.reshape(-1, 1), (1, 41), borderType=cv2.BORDER_REFLECT)
            detrended = profile - trend.reshape(-1)
            spectrum = np.fft.rfft((detrended - detrended.mean()) * np.hanning(size))
            frequencies = np.fft.rfftfreq(size)
            band = spectrum[(frequencies >= 1 / 40) & (frequencies <= 1 / 3)]
            components.append(np.conj(band) * 4.0 / size * 128.0 / max(profile.mean(), 8.0))
        stacked = np.array(components)  # strips x frequencies
        common = stacked.mean(axis=0)
        in_phase = (stacked * np.conj(common / np.abs(common))).real.min(axis=0)
        standing = in_phase[in_phase >= prominence * np.median(np.abs(common))]
        if standing.size:
            best = max(best, float(standing.max()))
    return best


def stripes(grey: np.ndarray) -> float:
    return bands.single_frame_stripes(np.asarray(cv2.integral(grey), np.int32))


def test_stripes_is_the_weakest_strips_in_phase_band(grey: np.ndarray) -> None:
    assert stripes(grey) == pytest.approx(stripes_definition(grey), rel=1e-4, abs=1e-4)


def test_stripes_across_the_picture_are_found_scene_structure_is_not() -> None:
    photo = prepare(read_bgr(PHOTOS / "coffee.jpg"), 320).grey.astype(np.float32)
    rows = np.arange(photo.shape[0], dtype=np.float32)[:, None]
    flicker = photo * (1.0 + 10.0 / 128.0 * np.sin(2 * np.pi * rows / 9.0))
    banded = np.clip(flicker, 0, 255).astype(np.uint8)
    assert stripes(banded) == pytest.approx(10.0, rel=0.3)
    # A chequered floor: strong periodic rows, but their phase flips from strip to strip.
    squares = ((np.arange(180)[:, None] // 10 + np.arange(320)[None, :] // 53) % 2) * 120 + 60
    floor = squares.astype(np.uint8)
    assert stripes(floor) < 1.0
    assert bands.band_peak(bands.profiles(floor[:, :53])[0]) > 20.0  # each strip has it


@pytest.mark.parametrize("period", [6.5, 9.0, 14.0, 20.0])
def test_slats_across_the_picture_are_not_stripes_a_smooth_wave_is(period: float) -> None:
    """Slats (a sawtooth: lit towards one edge, a dark gap) and a smooth wave of the same
    period and amplitude, both crossing the whole picture in phase: only the wave is
    flicker. The slats' second harmonic is half of them, and that harmonic, which may
    stand on its own, is theirs too. (From 6 rows down the second harmonic is past the
    bands measured: one frame cannot tell.)"""
    rows = np.arange(180, dtype=np.float64)[:, None]
    phase = (rows % period) / period
    slats = np.where(phase < 0.75, 100.0 + 80.0 * phase, 60.0) * np.ones((1, 320))
    grain = np.random.default_rng(3).normal(0.0, 1.0, (180, 320))
    swing = float(np.ptp(slats)) / 2
    wave = 120.0 + swing * np.sin(2 * np.pi * rows / period) * np.ones((1, 320))
    assert stripes(np.clip(slats + grain, 0, 255).astype(np.uint8)) < 1.0
    assert stripes(np.clip(wave + grain, 0, 255).astype(np.uint8)) > 4.5


def unexplained_definition(current: np.ndarray, enrolled: np.ndarray, reach: int = 8) -> np.ndarray:
    size = current.shape[0]
    target = current[reach : size - reach].astype(np.float64)
    y = target - target.mean()
    best, best_norm = None, np.inf
    for shift in range(-reach, reach + 1):
        x = enrolled[reach + shift : size - reach + shift].astype(np.float64)
        x = x - x.mean()
        slope = (x @ y) / max(x @ x, 1e-6)
        residual = y - slope * x
        if np.abs(residual).sum() < best_norm:
            best, best_norm = residual, np.abs(residual).sum()
    assert best is not None
    return best


def relit_definition(current: np.ndarray, enrolled: np.ndarray, reach: int = 8) -> np.ndarray:
    size = current.shape[0]
    target = current[reach : size - reach].astype(np.float64)
    position = np.linspace(-1.0, 1.0, target.shape[0])
    slow = np.stack([position**power for power in range(4)], axis=1)
    best, best_norm = None, np.inf
    for shift in range(-reach, reach + 1):
        x = enrolled[reach + shift : size - reach + shift].astype(np.float64)
        design = np.hstack([slow * x[:, None], slow])
        coefficients = np.linalg.lstsq(design, target, rcond=None)[0]
        residual = target - design @ coefficients
        if np.abs(residual).sum() < best_norm:
            best, best_norm = residual, np.abs(residual).sum()
    assert best is not None
    return best


def test_relit_reference_fit_is_the_best_shifted_fit_with_slow_light(grey: np.ndarray) -> None:
    moved = np.roll(grey, 3, axis=0).astype(np.float32)
    rows = np.linspace(0.0, 1.0, moved.shape[0], dtype=np.float32)[:, None]
    relit = moved * (0.6 + 0.4 * rows)  # the light fades towards the top
    for current, enrolled in zip(bands.profiles(relit), bands.profiles(grey), strict=True):
        fast = bands.unexplained_relit(current, bands.profile_fit(enrolled))
        assert np.allclose(fast, relit_definition(current, enrolled), atol=1e-2)


def test_a_ramp_of_light_over_shelving_is_explained_and_a_band_over_it_is_not() -> None:
    rows = np.arange(180, dtype=np.float32)
    shelving = np.where(np.sin(2 * np.pi * rows / 20.0) > 0, 140.0, 60.0).astype(np.float32)
    fit = bands.profile_fit(shelving)
    ramp = shelving * np.linspace(0.5, 1.0, rows.shape[0], dtype=np.float32)
    # One gain for the whole profile leaves the shelving's period behind as a band.
    assert bands.band_peak(bands.unexplained(ramp, fit)) > 2.0
    assert bands.band_peak(bands.unexplained_relit(ramp, fit)) < 0.5
    flicker = 6.0 * np.sin(2 * np.pi * rows / 12.0)
    assert bands.band_peak(bands.unexplained_relit(ramp + flicker, fit)) > 4.5


def test_reference_fit_is_the_best_shifted_affine_fit(grey: np.ndarray) -> None:
    moved = np.roll(grey, 3, axis=0)
    for current, enrolled in zip(bands.profiles(moved), bands.profiles(grey), strict=True):
        fast = bands.unexplained(current, bands.profile_fit(enrolled))
        assert np.allclose(fast, unexplained_definition(current, enrolled), atol=1e-3)


def test_block_stats_are_cell_means(grey: np.ndarray) -> None:
    d_vertical, d_horizontal = metrics.differences(grey)
    blocks = grid.block_stats(grey, d_vertical, d_horizontal)
    shared = grid.block_stats(
        grey, d_vertical, d_horizontal, np.asarray(cv2.integral(grey), np.int32)
    )
    assert np.array_equal(blocks.mean, shared.mean)
    rows, cols = blocks.mean.shape
    h, w = rows * grid.BLOCK_PX, cols * grid.BLOCK_PX

    def cells(image: np.ndarray) -> np.ndarray:
        part = image[:h, :w].astype(np.float64)
        return part.reshape(rows, grid.BLOCK_PX, cols, grid.BLOCK_PX).mean(axis=(1, 3))

    assert np.allclose(blocks.mean, cells(grey), atol=1e-4)
    gradient = (cells(d_vertical) + cells(d_horizontal)) / 2.0
    assert np.allclose(blocks.gradient, gradient, atol=1e-4)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7, 10, 64, 209])
def test_percentile_matches_numpy(size: int) -> None:
    values = np.random.default_rng(size).random(size).astype(np.float32)
    assert grid.percentile(values, 0.9) == pytest.approx(np.percentile(values, 90), abs=1e-6)


@pytest.mark.parametrize(
    ("shape", "width", "halved"),
    [
        ((1080, 1920, 3), 320, (270, 480)),
        ((360, 640, 3), 320, (180, 320)),
        ((360, 640, 3), 80, (45, 80)),
        ((341, 512, 3), 320, (341, 512)),
        ((180, 320), 80, (45, 80)),
    ],
)
def test_halvings_stop_at_twice_the_width(
    shape: tuple[int, ...], width: int, halved: tuple[int, int]
) -> None:
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    assert halve_towards(image, width).shape[:2] == halved


@pytest.mark.parametrize("source", [(1080, 1920), (360, 640), (341, 512), (270, 480)])
def test_shrinking_by_halvings_matches_one_area_resize(source: tuple[int, int]) -> None:
    image = cv2.resize(read_bgr(PHOTOS / "coffee.jpg"), (source[1], source[0]))
    fast = resize_to_width(image, 80)
    height = round(source[0] * 80 / source[1])
    direct = cv2.resize(image, (80, height), interpolation=cv2.INTER_AREA)
    assert fast.shape == direct.shape
    # Each halving rounds once; area boxes may straddle differently where the last step is
    # uneven: the picture is the same, pixel for pixel within a few levels on average.
    assert float(np.abs(fast.astype(int) - direct).mean()) < 2.0
