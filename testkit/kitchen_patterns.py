"""Kitchen views filled with regular structure, made here for the one-frame stripes check.

Flicker and interference cross the whole picture with one phase, and so does regular
structure seen square on: a glazed tiled wall, wire shelving, a louvred vent or blind, a
wall of drawer fronts. Such structure is steps and thin lines (slat edges, shelf edges,
grout), which repeat with every harmonic, while flicker bands are smooth waves.

Each view is drawn in 8-bit grey at 1280x720, square on or rolled by 3 degrees, slightly
soft as a lens draws it; the physical camera model (``quality_physical.capture``) then
takes the picture, clean or under mains flicker. The views are the benchmark's
independent check on patterned scenes (``quality_accuracy.patterned_views``).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator

import cv2
import numpy as np
import numpy.typing as npt

Picture = npt.NDArray[np.uint8]
Canvas = npt.NDArray[np.float32]
WIDTH, HEIGHT = 1280, 720


def tiled_wall(rng: np.random.Generator) -> Canvas:
    """Glazed square tiles of 28-90 px with 2-5 px grout, a sheen from a lamp."""
    size, grout = int(rng.integers(28, 90)), int(rng.integers(2, 6))
    base = float(rng.uniform(150, 210))
    canvas = np.full((HEIGHT, WIDTH), base * float(rng.uniform(0.35, 0.7)), np.float32)
    ox, oy = (int(v) for v in rng.integers(0, size, 2))
    for y in range(oy - size, HEIGHT, size):
        for x in range(ox - size, WIDTH, size):
            level = base + float(rng.normal(0, 6))
            cv2.rectangle(canvas, (x, y), (x + size - grout, y + size - grout), level, -1)
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    cx, cy = float(rng.uniform(0, WIDTH)), float(rng.uniform(0, HEIGHT))
    return canvas + 30.0 * np.exp(-((cols - cx) ** 2 + (rows - cy) ** 2) / (2 * 200.0**2))


def shelving(rng: np.random.Generator) -> Canvas:
    """Wire shelves every 70-160 px, lit edges with a shadow below, stock on each."""
    canvas = np.full((HEIGHT, WIDTH), float(rng.uniform(60, 110)), np.float32)
    gap = int(rng.integers(70, 160))
    for y in range(int(rng.integers(0, gap)), HEIGHT, gap):
        canvas[y : y + 8] = float(rng.uniform(170, 220))
        canvas[y + 8 : y + 14] = 30.0
        x = 0
        while x < WIDTH:
            wide, tall = int(rng.integers(30, 120)), int(rng.integers(20, gap - 20))
            cv2.rectangle(
                canvas, (x, y - tall), (x + wide - 6, y - 1), float(rng.uniform(40, 230)), -1
            )
            x += wide
    return canvas


def louvres(rng: np.random.Generator) -> Canvas:
    """A louvred vent or blind: slats of 16-60 px, lit more towards their lower edge, with
    a dark gap between."""
    period = int(rng.integers(16, 60))
    phase = (np.arange(HEIGHT, dtype=np.float32) % period) / period
    profile = np.where(phase < 0.75, 120.0 + 80.0 * phase, 50.0).astype(np.float32)
    return np.repeat(profile[:, None], WIDTH, axis=1)


def drawers(rng: np.random.Generator) -> Canvas:
    """A wall of drawer fronts in a 4-8 by 3-5 grid, each with a dark handle."""
    columns, rows = int(rng.integers(4, 9)), int(rng.integers(3, 6))
    canvas = np.full((HEIGHT, WIDTH), 160.0, np.float32)
    wide, tall = WIDTH // columns, HEIGHT // rows
    for r in range(rows):
        for c in range(columns):
            x, y = c * wide, r * tall
            level = float(rng.uniform(140, 190))
            cv2.rectangle(canvas, (x + 4, y + 4), (x + wide - 4, y + tall - 4), level, -1)
            middle = x + wide // 2
            cv2.rectangle(canvas, (middle - 30, y + 20), (middle + 30, y + 28), 60.0, -1)
    return canvas


PATTERNS: dict[str, Callable[[np.random.Generator], Canvas]] = {
    "tiled_wall": tiled_wall,
    "shelving": shelving,
    "louvres": louvres,
    "drawers": drawers,
}


def scene(pattern: str, seed: int, roll_deg: float) -> Picture:
    """One patterned view (BGR), rolled by ``roll_deg`` and zoomed in a little so that no
    corner is empty."""
    rng = np.random.default_rng([seed, zlib.crc32(pattern.encode())])
    canvas = PATTERNS[pattern](rng)
    if roll_deg:
        matrix = cv2.getRotationMatrix2D((WIDTH / 2, HEIGHT / 2), roll_deg, 1.15)
        rolled = cv2.warpAffine(canvas, matrix, (WIDTH, HEIGHT), borderMode=cv2.BORDER_REFLECT)
        canvas = np.asarray(rolled, np.float32)
    soft = cv2.GaussianBlur(canvas, (0, 0), 1.0)
    grey = np.clip(soft, 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def scenes(
    seeds: range, rolls: tuple[float, ...] = (0.0, 3.0)
) -> Iterator[tuple[str, int, float, Picture]]:
    """Every pattern, each seed, each roll: (pattern, seed, roll, picture)."""
    for pattern in PATTERNS:
        for seed in seeds:
            for roll in rolls:
                yield pattern, seed, roll, scene(pattern, seed, roll)
