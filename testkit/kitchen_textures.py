"""Kitchen views textured over most of the picture, made here for the noise check.

One frame tells noise from detail by the quietest parts of the picture: sensor noise is
everywhere, texture only where there is texture. A camera looking down on a tray of
rice, chopped herbs, a granite counter, a coir mat or a baffle grease filter sees fine
texture over most of the view, and at the analysis width (320 px) those grains and
strands are a pixel or two, as snow is. What is left to tell them apart is the smooth
part of the view: a plate or a steel pot, usually brighter than the texture around it.

Each scene is drawn in 8-bit sRGB at 1280x720 in the darker half of the tones (texture
sits there in a kitchen: food, counters, mats), with an optional smooth, lit plate over a
share of the view. The physical camera model (``quality_physical.capture``) then takes
the picture, as it does for every photograph of the evaluation. The scenes are not
photographs of anything the detectors were tuned on: they are the benchmark's
independent check on textured views (``quality_accuracy.textured_views``).
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


def _octaves(
    rng: np.random.Generator, scales: tuple[int, ...], weights: tuple[float, ...]
) -> Canvas:
    """Smooth random fields at several scales (pixels per random value), summed."""
    total = np.zeros((HEIGHT, WIDTH), np.float32)
    for scale, weight in zip(scales, weights, strict=True):
        coarse = rng.normal(0.0, 1.0, (max(2, HEIGHT // scale), max(2, WIDTH // scale)))
        total += weight * cv2.resize(
            coarse.astype(np.float32), (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC
        )
    return total


def granite(rng: np.random.Generator) -> Canvas:
    """A speckled dark granite counter: grain at several scales and pale crystals."""
    base = _octaves(rng, (1, 2, 4, 16), (0.5, 0.6, 0.4, 0.2))
    crystals = (rng.random((HEIGHT, WIDTH)) < 0.05).astype(np.float32)
    crystals = np.asarray(cv2.dilate(crystals, np.ones((3, 3), np.uint8)), np.float32)
    grey = 55.0 + 18.0 * base + 90.0 * crystals * rng.random((HEIGHT, WIDTH)).astype(np.float32)
    return np.dstack([grey * 0.95, grey, grey * 1.02])


def _strokes(
    canvas: Canvas,
    rng: np.random.Generator,
    count: int,
    angle: Callable[[], float],
    length: tuple[float, float],
    colour: Callable[[float], tuple[float, float, float]],
    brightness: tuple[float, float],
    widths: tuple[int, ...] = (1,),
) -> Canvas:
    for _ in range(count):
        x, y = int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT))
        heading, reach = angle(), float(rng.uniform(*length))
        end = (int(x + reach * np.cos(heading)), int(y + reach * np.sin(heading)))
        cv2.line(
            canvas,
            (x, y),
            end,
            colour(float(rng.uniform(*brightness))),
            int(rng.choice(widths)),
            cv2.LINE_AA,
        )
    return canvas


def herbs(rng: np.random.Generator) -> Canvas:
    """Chopped coriander and spring onion heaped on a dark board."""
    canvas = np.full((HEIGHT, WIDTH, 3), (20.0, 45.0, 25.0), np.float32)
    return _strokes(
        canvas,
        rng,
        count=14000,
        angle=lambda: float(rng.uniform(0, np.pi)),
        length=(4.0, 18.0),
        colour=lambda g: (g * 0.35, g, g * 0.45),
        brightness=(40.0, 150.0),
        widths=(1, 2),
    )


def coir_mat(rng: np.random.Generator) -> Canvas:
    """A coir floor mat (or a mop head, a wicker basket): brown fibres, mostly one way."""
    canvas = np.full((HEIGHT, WIDTH, 3), (30.0, 45.0, 60.0), np.float32)
    return _strokes(
        canvas,
        rng,
        count=9000,
        angle=lambda: float(rng.normal(0.6, 0.5)),
        length=(15.0, 45.0),
        colour=lambda b: (b * 0.6, b * 0.8, b),
        brightness=(50.0, 140.0),
    )


def rice(rng: np.random.Generator) -> Canvas:
    """A tray of rice grains on a grey steel tray."""
    canvas = np.full((HEIGHT, WIDTH, 3), 60.0, np.float32)
    for _ in range(16000):
        centre = (int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT)))
        axes = (int(rng.integers(3, 7)), int(rng.integers(1, 3)))
        level = float(rng.uniform(90, 170))
        cv2.ellipse(
            canvas, centre, axes, float(rng.uniform(0, 180)), 0, 360,
            (level * 0.9, level, level), -1, cv2.LINE_AA,
        )  # fmt: skip
    return canvas


def grease_filter(rng: np.random.Generator) -> Canvas:
    """A hood's mesh grease filter, lit from one side, its holes a little wavy."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    wave = float(rng.uniform(30, 50))
    holes = np.sin(cols / 2.3) * np.sin(rows / 2.3 + 0.3 * np.sin(cols / wave)) > 0.2
    grey = 40.0 + 100.0 * holes.astype(np.float32) * (0.5 + 0.5 * cols / WIDTH)
    return np.dstack([grey, grey, grey * 1.05])


TEXTURES: dict[str, Callable[[np.random.Generator], Canvas]] = {
    "granite": granite,
    "herbs": herbs,
    "coir_mat": coir_mat,
    "rice": rice,
    "grease_filter": grease_filter,
}


def with_plate(canvas: Canvas, rng: np.random.Generator, share: float) -> Canvas:
    """A smooth, lit plate (or a steel pot's lid) over ``share`` of the view, shaded from
    one side to the other."""
    radius = int(np.sqrt(share * WIDTH * HEIGHT / np.pi))
    cx = int(rng.integers(radius, WIDTH - radius))
    cy = int(rng.integers(radius, HEIGHT - radius))
    mask = np.zeros((HEIGHT, WIDTH), np.float32)
    cv2.circle(mask, (cx, cy), radius, 1.0, -1, cv2.LINE_AA)
    cols = np.arange(WIDTH, dtype=np.float32)[None, :].repeat(HEIGHT, axis=0)
    shade = 170.0 + 50.0 * (cols - cx) / (2.0 * radius)
    plate = np.dstack([shade, shade, shade * 0.98])
    weight = mask[..., None]
    return canvas * (1.0 - weight) + plate * weight


def scene(texture: str, seed: int, plate_share: float) -> Picture:
    """One textured view: ``texture`` drawn from ``seed``, a plate over ``plate_share`` of
    it (none at 0)."""
    rng = np.random.default_rng([seed, zlib.crc32(texture.encode())])
    canvas = TEXTURES[texture](rng)
    if plate_share > 0:
        canvas = with_plate(canvas, rng, plate_share)
    return np.clip(canvas, 0, 255).astype(np.uint8)


def scenes(
    seeds: int = 3, plate_shares: tuple[float, ...] = (0.0, 0.08, 0.2)
) -> Iterator[tuple[str, int, float, Picture]]:
    """Every texture, ``seeds`` draws of each, with each plate share: (texture, seed,
    plate share, picture)."""
    for texture in TEXTURES:
        for seed in range(seeds):
            for share in plate_shares:
                yield texture, seed, share, scene(texture, seed, share)
