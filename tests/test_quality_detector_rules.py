"""The detector rules of issue 15's second round, as pure functions, built the way the
faults and the clean views they must be told from are described: a flicker band is one
frequency, while tiles seen in perspective or a thin bright edge spread over several.
"""

from __future__ import annotations

import numpy as np
import pytest

from agent.capture.quality import stripes as bands

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
