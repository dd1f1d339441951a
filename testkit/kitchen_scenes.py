"""Procedurally rendered commercial-kitchen views, as a ceiling camera sees them.

Made for the quality evaluation (issue 15): real kitchens are hard on cameras in ways
the general photographs of the first evaluation set are not — brushed steel with specular
highlights, glossy tiled walls, stove flames far brighter than anything else, dark
corners and doorways. Every scene is built in linear light (radiance relative to a white
tile under the main lights, so a flame is 20-60x white) and only then put through a
plain camera: lens softness, vignetting, auto-exposure on the mean, clipping at white and
the BT.709 transfer curve.

Six kinds of key control point, two layouts each, are committed as small JPEGs under
``tests/data/quality/kitchen/`` (the evaluation reads the committed files, so its source
pictures do not drift with OpenCV's drawing code). Regenerate them with
``.venv/bin/python -m testkit.kitchen_scenes --write``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

Linear = npt.NDArray[np.float32]  # H x W x 3, BGR radiance, 1.0 = a white tile in full light

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "tests" / "data" / "quality" / "kitchen"
KINDS = ("cooking", "cold_room", "prep", "dishwashing", "packing", "storage")
SCENES = tuple(f"{kind}_{n}" for kind in KINDS for n in (1, 2))
WIDTH, HEIGHT = 640, 360


def _bgr(red: float, green: float, blue: float) -> npt.NDArray[np.float32]:
    return np.array([blue, green, red], np.float32)


def _smooth_noise(
    rng: np.random.Generator, shape: tuple[int, int], scale_px: float
) -> npt.NDArray[np.float32]:
    """Zero-mean noise of unit spread whose features are about ``scale_px`` wide."""
    height, width = shape
    small = rng.normal(
        0.0,
        1.0,
        (max(2, round(height / scale_px)) + 2, max(2, round(width / scale_px)) + 2),
    ).astype(np.float32)
    field = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return (field - field.mean()) / max(float(field.std()), 1e-6)


class _Canvas:
    """A scene under construction: radiance plus the light falling on each point."""

    def __init__(self, width: int, height: int, rng: np.random.Generator) -> None:
        self.width, self.height, self.rng = width, height, rng
        self.albedo: Linear = np.zeros((height, width, 3), np.float32)
        self.emitted: Linear = np.zeros((height, width, 3), np.float32)
        self.gloss = np.zeros((height, width), np.float32)  # specular strength per point
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        self.xs, self.ys = xs, ys

    def paint(
        self, mask: npt.NDArray[np.float32], colour: npt.NDArray[np.float32], gloss: float = 0.05
    ) -> None:
        """Cover ``mask`` with a matt (or ``gloss``) surface of one colour."""
        m = mask[..., None]
        self.albedo = self.albedo * (1.0 - m) + colour * m
        self.gloss = self.gloss * (1.0 - mask) + gloss * mask

    def polygon_mask(self, points: list[tuple[float, float]]) -> npt.NDArray[np.float32]:
        mask = np.zeros((self.height, self.width), np.uint8)
        cv2.fillPoly(mask, [np.round(np.array(points)).astype(np.int32)], 255, cv2.LINE_AA)
        return mask.astype(np.float32) / 255.0

    def ellipse_mask(
        self, centre: tuple[float, float], axes: tuple[float, float], angle: float = 0.0
    ) -> npt.NDArray[np.float32]:
        mask = np.zeros((self.height, self.width), np.uint8)
        cv2.ellipse(
            mask,
            (round(centre[0]), round(centre[1])),
            (max(1, round(axes[0])), max(1, round(axes[1]))),
            angle,
            0,
            360,
            255,
            -1,
            cv2.LINE_AA,
        )
        return mask.astype(np.float32) / 255.0

    def rect(self, x0: float, y0: float, x1: float, y1: float) -> npt.NDArray[np.float32]:
        return self.polygon_mask([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])


# --- surfaces ----------------------------------------------------------------------------


def _tiled_wall(canvas: _Canvas, bottom: float, colour: npt.NDArray[np.float32]) -> None:
    """Glossy ceramic tiles with grout lines; each tile a shade apart."""
    rng = canvas.rng
    size = rng.uniform(0.045, 0.08) * canvas.width
    aspect = rng.choice((1.0, 0.5))  # square tiles or metro bricks
    tile_h = size * aspect
    rows = np.floor(canvas.ys / tile_h)
    offset = np.where((rows % 2 == 1) & (aspect < 1.0), size / 2, 0.0)
    cols = np.floor((canvas.xs + offset) / size)
    shade = np.sin(rows * 12.9898 + cols * 78.233) * 43758.5453
    shade = (shade - np.floor(shade) - 0.5) * 0.08 + 1.0
    grout_w = max(1.5, size * 0.04)
    in_x = (canvas.xs + offset) % size
    in_y = canvas.ys % tile_h
    grout = (np.minimum(in_x, size - in_x) < grout_w / 2) | (
        np.minimum(in_y, tile_h - in_y) < grout_w / 2
    )
    wall = canvas.ys < bottom
    tiles = colour[None, None, :] * shade[..., None]
    tiles = np.where(grout[..., None], colour * 0.55, tiles)
    canvas.albedo = np.where(wall[..., None], tiles, canvas.albedo).astype(np.float32)
    canvas.gloss = np.where(wall & ~grout, 0.35, canvas.gloss).astype(np.float32)


def _brushed_steel(
    canvas: _Canvas, mask: npt.NDArray[np.float32], level: float, horizontal: bool
) -> None:
    """Stainless steel: grey, streaked along the brushing, strongly specular."""
    rng = canvas.rng
    streaks = rng.normal(0.0, 1.0, (canvas.height, canvas.width)).astype(np.float32)
    kernel = (1, 41) if horizontal else (41, 1)
    streaks = cv2.blur(streaks, kernel[::-1]) * 2.5
    base = level * (1.0 + 0.06 * streaks + 0.05 * _smooth_noise(rng, streaks.shape, 60))
    steel = np.repeat(base[..., None], 3, axis=2) * _bgr(0.98, 1.0, 1.03)
    m = mask[..., None]
    canvas.albedo = (canvas.albedo * (1 - m) + steel * m).astype(np.float32)
    canvas.gloss = canvas.gloss * (1 - mask) + 0.9 * mask


def _floor(canvas: _Canvas, top: float) -> None:
    rng = canvas.rng
    colour = rng.choice([_bgr(0.35, 0.2, 0.15), _bgr(0.3, 0.3, 0.3), _bgr(0.25, 0.22, 0.2)])
    quarry = np.floor(canvas.xs / (canvas.width * 0.09)) + np.floor(canvas.ys / 22.0) * 7
    shade = 1.0 + 0.07 * np.sin(quarry * 3.7)
    floor = canvas.ys >= top
    canvas.albedo = np.where(floor[..., None], colour * shade[..., None], canvas.albedo).astype(
        np.float32
    )
    canvas.gloss = np.where(floor, 0.15, canvas.gloss).astype(np.float32)


# --- objects -----------------------------------------------------------------------------


def _pot(canvas: _Canvas, x: float, base: float, width: float, height: float) -> None:
    """A steel pot or container: a cylinder shaded across, its rim an ellipse."""
    body = canvas.rect(x - width / 2, base - height, x + width / 2, base)
    across = np.clip((canvas.xs - (x - width / 2)) / max(width, 1.0), 0.0, 1.0)
    shading = 0.35 + 0.65 * np.clip(np.sin(np.pi * across), 0.0, 1.0) ** 0.7
    level = canvas.rng.uniform(0.45, 0.7)
    colour = np.repeat((level * shading)[..., None], 3, axis=2)
    m = body[..., None]
    canvas.albedo = (canvas.albedo * (1 - m) + colour * m).astype(np.float32)
    canvas.gloss = canvas.gloss * (1 - body) + 0.8 * body
    rim = canvas.ellipse_mask((x, base - height), (width / 2, width * 0.12))
    canvas.paint(rim, np.full(3, level * 0.35, np.float32))


def _wok_with_flame(canvas: _Canvas, x: float, y: float, size: float, lit: bool) -> None:
    wok = canvas.ellipse_mask((x, y), (size, size * 0.42))
    canvas.paint(wok, np.full(3, 0.04, np.float32))
    inner = canvas.ellipse_mask((x, y - size * 0.05), (size * 0.8, size * 0.3))
    canvas.paint(inner, _bgr(0.09, 0.07, 0.05))
    canvas.gloss = canvas.gloss * (1 - wok) + 0.6 * wok
    if not lit:
        return
    # Flame licking up round the wok's rim: blue at the base, yellow-orange above,
    # tens of times brighter than a white tile.
    rng = canvas.rng
    for _ in range(int(rng.integers(5, 9))):
        fx = x + rng.uniform(-1.0, 1.0) * size * 0.95
        fy = y + size * 0.25
        tall = size * rng.uniform(0.35, 0.8)
        core = canvas.ellipse_mask((fx, fy - tall / 2), (size * 0.09, tall / 2))
        soft = cv2.GaussianBlur(core, (0, 0), size * 0.04)
        canvas.emitted += soft[..., None] * _bgr(1.0, 0.55, 0.12) * rng.uniform(20.0, 60.0)
        base = canvas.ellipse_mask((fx, fy), (size * 0.1, size * 0.05))
        canvas.emitted += (
            cv2.GaussianBlur(base, (0, 0), 2.0)[..., None]
            * _bgr(0.2, 0.35, 1.0)
            * rng.uniform(3.0, 8.0)
        )


def _hood(canvas: _Canvas, x0: float, x1: float, bottom: float) -> None:
    """An extraction hood across the top: steel, with its grease filters' slats."""
    drop = canvas.height * 0.02
    shape = canvas.polygon_mask([(x0 + 30, 0), (x1 - 30, 0), (x1, bottom), (x0, bottom + drop)])
    _brushed_steel(canvas, shape, 0.55, horizontal=True)
    slats = (np.floor(canvas.xs / 9.0) % 2 == 0) & (canvas.ys > bottom - 28) & (canvas.ys < bottom)
    filt = shape * slats.astype(np.float32)
    canvas.paint(filt, np.full(3, 0.12, np.float32))


def _shelf(canvas: _Canvas, x0: float, x1: float, y: float) -> None:
    board = canvas.rect(x0, y, x1, y + 8)
    _brushed_steel(canvas, board, 0.6, horizontal=True)
    rng = canvas.rng
    x = x0 + 10.0
    while x < x1 - 40:
        width = rng.uniform(30, 70)
        height = rng.uniform(30, 90)
        kind = rng.integers(3)
        if kind == 0:
            _pot(canvas, x + width / 2, y, width, height)
        else:
            box = canvas.rect(x, y - height, x + width, y)
            colours = [_bgr(0.8, 0.78, 0.72), _bgr(0.6, 0.45, 0.3), _bgr(0.2, 0.35, 0.6)]
            canvas.paint(box, colours[int(rng.integers(3))] * rng.uniform(0.7, 1.0))
            label = canvas.rect(
                x + width * 0.2, y - height * 0.6, x + width * 0.8, y - height * 0.4
            )
            canvas.paint(label, _bgr(0.9, 0.9, 0.85))
        x += width + rng.uniform(4, 20)


def _produce(canvas: _Canvas, x0: float, x1: float, y: float, count: int) -> None:
    """Vegetables and a chopping board on the counter."""
    rng = canvas.rng
    board_w = (x1 - x0) * 0.45
    bx = rng.uniform(x0, x1 - board_w)
    board = canvas.polygon_mask(
        [(bx, y - 30), (bx + board_w, y - 30), (bx + board_w + 20, y + 10), (bx - 20, y + 10)]
    )
    grain = 1.0 + 0.08 * np.sin(canvas.ys * 0.9 + 3.0 * _smooth_noise(rng, board.shape, 30))
    wood = _bgr(0.62, 0.45, 0.28)
    m = board[..., None]
    canvas.albedo = (canvas.albedo * (1 - m) + wood * grain[..., None] * m).astype(np.float32)
    colours = [_bgr(0.15, 0.45, 0.08), _bgr(0.7, 0.08, 0.05), _bgr(0.85, 0.45, 0.05)]
    for _ in range(count):
        cx, cy = rng.uniform(x0, x1), y + rng.uniform(-25, 5)
        radius = rng.uniform(8, 20)
        blob = canvas.ellipse_mask((cx, cy), (radius, radius * 0.8))
        lit = 0.6 + 0.4 * np.clip(1 - ((canvas.ys - cy + radius * 0.4) / radius) ** 2, 0, 1)
        colour = colours[int(rng.integers(len(colours)))]
        m = blob[..., None]
        canvas.albedo = (canvas.albedo * (1 - m) + colour * lit[..., None] * m).astype(np.float32)


def _sink_and_rack(canvas: _Canvas, x0: float, x1: float, y: float) -> None:
    basin = canvas.polygon_mask([(x0, y - 10), (x1, y - 10), (x1 - 15, y + 25), (x0 + 15, y + 25)])
    _brushed_steel(canvas, basin, 0.35, horizontal=False)
    drain = canvas.ellipse_mask(((x0 + x1) / 2, y + 12), (8, 4))
    canvas.paint(drain, np.full(3, 0.03, np.float32))
    # A rack of plates standing on edge next to it: thin bright ellipses in a row.
    rack_x = x1 + 25
    for k in range(9):
        plate = canvas.ellipse_mask((rack_x + k * 7, y - 25), (3, 26))
        canvas.paint(plate, _bgr(0.85, 0.85, 0.82))


def _doorway(canvas: _Canvas, x0: float, x1: float, bottom: float) -> None:
    """An opening into an unlit store room: nearly black, a shelf faintly visible."""
    door = canvas.rect(x0, canvas.height * 0.08, x1, bottom)
    canvas.paint(door, np.full(3, 0.025, np.float32), gloss=0.0)
    inner_shelf = canvas.rect(x0 + 10, bottom - 60, x1 - 10, bottom - 55) * door
    canvas.paint(inner_shelf, np.full(3, 0.06, np.float32))


# --- light and camera --------------------------------------------------------------------


def _illumination(canvas: _Canvas, lamps: list[tuple[float, float]], dark_side: float) -> Linear:
    """Ceiling lamps above the picture plus a little ambient; one side falls into a dark
    corner (``dark_side`` = share of the width that is poorly lit, at the left or right)."""
    light = np.full((canvas.height, canvas.width), 0.06, np.float32)
    for lx, ly in lamps:
        d2 = ((canvas.xs - lx) ** 2 + ((canvas.ys - ly) * 1.3) ** 2) / (canvas.width * 0.35) ** 2
        light += 1.0 / (1.0 + d2)
    if dark_side:
        edge = canvas.width * dark_side
        fall = np.clip(canvas.xs / edge, 0.0, 1.0) ** 1.5
        if canvas.rng.random() < 0.5:
            fall = fall[:, ::-1]
        light *= 0.12 + 0.88 * fall
    return light


def _speculars(canvas: _Canvas, lamps: list[tuple[float, float]]) -> Linear:
    """Mirror-like reflections of the lamps in steel and glazed tiles: elongated
    highlights below each lamp, several times brighter than white where the gloss is high."""
    spec = np.zeros((canvas.height, canvas.width), np.float32)
    for lx, ly in lamps:
        for depth in (0.55, 0.8):
            cy = ly + canvas.height * depth
            d2 = ((canvas.xs - lx) / (canvas.width * 0.03)) ** 2 + (
                (canvas.ys - cy) / (canvas.height * 0.045)
            ) ** 2
            spec += 3.0 * np.exp(-d2)
    return (spec * canvas.gloss)[..., None] * np.ones(3, np.float32)


def _light_colour(rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """Warm LED or fluorescent kitchen light, not quite white-balanced away."""
    return rng.choice([_bgr(1.0, 0.97, 0.9), _bgr(1.0, 1.0, 1.0), _bgr(0.96, 1.0, 1.02)])


def _camera(radiance: Linear, rng: np.random.Generator, exposure_target: float) -> np.ndarray:
    """Lens softness and vignetting, auto-exposure on the mean, clipping at white, the
    BT.709 transfer curve and 8-bit output."""
    height, width = radiance.shape[:2]
    image = cv2.GaussianBlur(radiance, (0, 0), 1.1)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    r2 = ((xs - width / 2) / (width / 2)) ** 2 + ((ys - height / 2) / (width / 2)) ** 2
    image = image * (1.0 / (1.0 + 0.35 * r2))[..., None] ** 2
    # Auto-exposure meters the scene while ignoring the brightest few percent (flames).
    luma = image @ np.array([0.0722, 0.7152, 0.2126], np.float32)
    meter = float(np.mean(np.minimum(luma, np.percentile(luma, 97))))
    image = image * (exposure_target / max(meter, 1e-6))
    image = image + rng.normal(0.0, 0.002, image.shape).astype(np.float32)
    linear = np.clip(image, 0.0, 1.0)
    signal = np.where(linear < 0.018, 4.5 * linear, 1.099 * np.power(linear, 0.45) - 0.099)
    return np.clip(signal * 255.0 + 0.5, 0, 255).astype(np.uint8)


# --- scenes ------------------------------------------------------------------------------


def _layout(kind: str, canvas: _Canvas, variant: int) -> tuple[list[tuple[float, float]], float]:
    """Draw a kitchen of one kind; returns the lamp positions and the dark share."""
    rng = canvas.rng
    w, h = float(canvas.width), float(canvas.height)
    counter_top = h * rng.uniform(0.48, 0.6)
    counter_front = counter_top + h * rng.uniform(0.1, 0.16)
    floor_top = h * rng.uniform(0.88, 0.95)
    tile_colours = [_bgr(0.85, 0.85, 0.82), _bgr(0.82, 0.8, 0.7), _bgr(0.6, 0.75, 0.72)]
    _tiled_wall(canvas, counter_top, tile_colours[int(rng.integers(3))])
    top = canvas.polygon_mask(
        [(0, counter_top), (w, counter_top), (w, counter_front), (0, counter_front)]
    )
    _brushed_steel(canvas, top, 0.5, horizontal=True)
    front = canvas.rect(0, counter_front, w, floor_top)
    _brushed_steel(canvas, front, 0.4, horizontal=False)
    for k in range(1, 6):  # cabinet doors and their handles
        gap = canvas.rect(k * w / 6 - 1.5, counter_front, k * w / 6 + 1.5, floor_top)
        canvas.paint(gap, np.full(3, 0.05, np.float32))
        handle = canvas.rect(k * w / 6 - 40, counter_front + 14, k * w / 6 - 12, counter_front + 19)
        _brushed_steel(canvas, handle, 0.8, horizontal=True)
    _floor(canvas, floor_top)
    lamps = [(w * x, -h * 0.15) for x in rng.uniform(0.15, 0.85, int(rng.integers(2, 4)))]
    dark = 0.0
    if kind == "cooking":
        _hood(canvas, w * 0.08, w * 0.92, h * rng.uniform(0.2, 0.3))
        for k in range(int(rng.integers(2, 4))):
            _wok_with_flame(
                canvas,
                w * (0.22 + 0.28 * k) + rng.uniform(-15, 15),
                counter_top + (counter_front - counter_top) * 0.45,
                w * rng.uniform(0.07, 0.1),
                lit=bool(rng.random() < 0.8) or k == 0,
            )
        dark = 0.3 if variant == 2 else 0.0
    elif kind == "cold_room":
        lamps = [(w * 0.3, -h * 0.1), (w * 0.7, -h * 0.1)]
        for _ in range(int(rng.integers(3, 6))):
            _pot(
                canvas,
                w * rng.uniform(0.1, 0.9),
                counter_top + 8,
                rng.uniform(40, 80),
                rng.uniform(25, 50),
            )
        _produce(canvas, w * 0.15, w * 0.85, counter_top + 20, int(rng.integers(2, 6)))
    elif kind == "prep":
        _shelf(canvas, w * 0.05, w * 0.6, h * rng.uniform(0.22, 0.3))
        _produce(canvas, w * 0.1, w * 0.9, counter_top + 25, int(rng.integers(6, 14)))
        dark = 0.35 if variant == 1 else 0.0
    elif kind == "dishwashing":
        _sink_and_rack(
            canvas, w * rng.uniform(0.15, 0.35), w * rng.uniform(0.5, 0.6), counter_top + 20
        )
        _shelf(canvas, w * 0.55, w * 0.95, h * 0.25)
        dark = 0.3
    elif kind == "packing":
        for _ in range(int(rng.integers(4, 8))):
            x = w * rng.uniform(0.05, 0.9)
            box = canvas.rect(
                x, counter_top - rng.uniform(20, 60), x + rng.uniform(40, 90), counter_top + 15
            )
            canvas.paint(box, _bgr(0.75, 0.6, 0.4) * rng.uniform(0.7, 1.0))
        _shelf(canvas, w * 0.35, w * 0.95, h * 0.2)
    else:  # storage: racks into a dark corner, a doorway to an unlit room
        _shelf(canvas, w * 0.05, w * 0.55, h * 0.15)
        _shelf(canvas, w * 0.05, w * 0.55, h * 0.35)
        _doorway(canvas, w * 0.65, w * 0.88, counter_top + 40)
        dark = 0.45
    return lamps, dark


def render(name: str, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """The kitchen scene ``name`` (e.g. ``cooking_1``) as a camera's 8-bit BGR picture."""
    kind, variant_text = name.rsplit("_", 1)
    if kind not in KINDS:
        raise ValueError(f"unknown kitchen kind {kind!r}; one of {', '.join(KINDS)}")
    seed = sum(ord(c) * 131**i for i, c in enumerate(name)) % (1 << 31)
    rng = np.random.default_rng(seed)
    canvas = _Canvas(width, height, rng)
    lamps, dark = _layout(kind, canvas, int(variant_text))
    light = _illumination(canvas, lamps, dark)[..., None] * _light_colour(rng)
    radiance = canvas.albedo * light + _speculars(canvas, lamps) * light + canvas.emitted
    return _camera(radiance, rng, exposure_target=rng.uniform(0.16, 0.24))


def write_committed(quality: int = 88) -> list[Path]:
    COMMITTED.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SCENES:
        path = COMMITTED / f"{name}.jpg"
        ok, data = cv2.imencode(".jpg", render(name), [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        path.write_bytes(data.tobytes())
        written.append(path)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write the scenes to {COMMITTED}")
    parser.add_argument("--sheet", type=Path, help="write a contact sheet of all scenes here")
    args = parser.parse_args()
    if args.write:
        for path in write_committed():
            print(f"{path.relative_to(ROOT)}  {path.stat().st_size // 1024} KiB")
    if args.sheet:
        tiles = [cv2.resize(render(n), (320, 180), interpolation=cv2.INTER_AREA) for n in SCENES]
        rows = [np.hstack(tiles[i : i + 3]) for i in range(0, len(tiles), 3)]
        cv2.imwrite(str(args.sheet), np.vstack(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
