"""The quality evaluation set: real photographs, degraded at graded severities.

Photos come from two places, both real photographs (no synthetic patterns):
- ``tests/data/quality/*.jpg``: four public-domain / CC0 photos from scikit-image's data
  (astronaut, camera, coffee, rocket), committed small;
- OpenCV's sample images from Debian's ``opencv-doc`` package
  (``apt-get install opencv-doc``; /usr/share/doc/opencv-doc/examples/data), a fixed list
  of photographs of scenes, rooms, objects and people.

Each photo gives one item per (degradation, severity) with a seeded random variant, plus
clean variants that must raise nothing (among them a large smooth surface in view: a
steel counter, a tiled wall). Every item is JPEG-encoded as a camera would and
decoded at reduced size by the agent's own decode path. The split (tune / report) is by
photo, so no photo is seen in both parts.
"""

from __future__ import annotations

import hashlib
import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from testkit.images import maybe_read_bgr, read_bgr

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "tests" / "data" / "quality"
OPENCV_DOC = Path("/usr/share/doc/opencv-doc/examples")
OPENCV_PHOTOS = (
    "data/home.jpg",
    "data/building.jpg",
    "data/fruits.jpg",
    "data/baboon.jpg",
    "data/messi5.jpg",
    "data/aero1.jpg",
    "data/aero3.jpg",
    "data/leuvenA.jpg",
    "data/leuvenB.jpg",
    "data/graf1.png",
    "data/board.jpg",
    "data/aloeL.jpg",
    "data/butterfly.jpg",
    "data/squirrel_cls.jpg",
    "data/stuff.jpg",
    "data/basketball1.png",
    "data/rubberwhale1.png",
    "data/box_in_scene.png",
    "data/ela_original.jpg",
    "data/chicky_512.png",
    "data/smarties.png",
    "data/left01.jpg",
    "data/apple.jpg",
    "data/orange.jpg",
    "text/scenetext01.jpg",
    "text/scenetext03.jpg",
    "alphamat/input_images/plant.jpg",
    "hfs/data/000.jpg",
)

SEVERITIES = ("mild", "clear", "severe")


@dataclass
class Item:
    photo: str
    kind: str  # a check code, or "clean"
    variant: str  # e.g. "fog", "jpeg_q40"
    severity: str  # mild | clear | severe | clean
    jpeg: bytes
    reference_jpeg: bytes
    sequence: list[bytes] | None = None  # for frozen, jitter and live-still sequences


def load_photos() -> dict[str, np.ndarray]:
    photos: dict[str, np.ndarray] = {}
    for path in sorted(COMMITTED.glob("*.jpg")):
        photos[f"committed/{path.name}"] = read_bgr(path)
    missing = []
    for name in OPENCV_PHOTOS:
        image = maybe_read_bgr(OPENCV_DOC / name)
        if image is None:
            missing.append(name)
            continue
        photos[f"opencv-doc/{name}"] = image
    if missing:
        raise SystemExit(
            f"{len(missing)} evaluation photos missing under {OPENCV_DOC}: install Debian's "
            "opencv-doc package (apt-get install opencv-doc)"
        )
    return photos


def split_of(photo: str) -> str:
    """'tune' or 'report', fixed per photo by a hash of its name."""
    digest = hashlib.sha256(photo.encode()).digest()[0]
    return "tune" if digest % 2 == 0 else "report"


# --- image operations ------------------------------------------------------------------


def _to_linear(image: np.ndarray) -> np.ndarray:
    x = image.astype(np.float32) / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def _to_srgb(linear: np.ndarray) -> np.ndarray:
    x = np.clip(linear, 0.0, 1.0)
    y = np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    return np.clip(y * 255.0 + 0.5, 0, 255).astype(np.uint8)


def exposure(image: np.ndarray, stops: float) -> np.ndarray:
    """Change exposure in linear light. Beyond one stop over, colour also bleeds towards
    white and glare veils the blacks (crosstalk, bloom, flare), as on a real camera."""
    linear = _to_linear(image)
    if stops > 1:
        luma = linear @ np.array([0.0722, 0.7152, 0.2126], np.float32)
        bleed = min(0.8, 0.3 * (stops - 1))
        # Veiling glare lifts even the blacks of an over-exposed picture.
        linear = linear * (1.0 - bleed) + luma[..., None] * bleed + 0.002 * (stops - 1)
    return _to_srgb(linear * (2.0**stops))


def expose_to(image: np.ndarray, target_mean: float) -> np.ndarray:
    """Under- or over-expose (in linear light, clipping) until the mean brightness of the
    picture is ``target_mean`` (0..255): a picture a viewer finds too dark or too bright
    whatever the scene."""
    small = cv2.resize(
        image,
        (160, max(1, round(image.shape[0] * 160 / image.shape[1]))),
        interpolation=cv2.INTER_AREA,
    )
    lo, hi = -10.0, 10.0
    for _ in range(24):
        stops = (lo + hi) / 2
        mean = float(cv2.cvtColor(exposure(small, stops), cv2.COLOR_BGR2GRAY).mean())
        if mean < target_mean:
            lo = stops
        else:
            hi = stops
    return exposure(image, (lo + hi) / 2)


def white_balance(image: np.ndarray, gains_bgr: tuple[float, float, float]) -> np.ndarray:
    linear = _to_linear(image) * np.array(gains_bgr, dtype=np.float32)
    return _to_srgb(linear)


def blur(image: np.ndarray, sigma_analysis_px: float) -> np.ndarray:
    sigma = sigma_analysis_px * image.shape[1] / 320.0
    return cv2.GaussianBlur(image, (0, 0), sigma)


def veil(image: np.ndarray, transmission: float, airlight: float, tint: np.ndarray) -> np.ndarray:
    light = np.full_like(image, 0, dtype=np.float32) + airlight * tint
    out = image.astype(np.float32) * transmission + light * (1.0 - transmission)
    return np.clip(out, 0, 255).astype(np.uint8)


def add_noise(
    image: np.ndarray, sigma: float, rng: np.random.Generator, grain_px: float
) -> np.ndarray:
    """Gaussian noise with grains of about ``grain_px`` source pixels (colour noise)."""
    height, width = image.shape[:2]
    gh, gw = max(2, round(height / grain_px)), max(2, round(width / grain_px))
    field = rng.normal(0.0, sigma, (gh, gw, 3)).astype(np.float32)
    if (gh, gw) != (height, width):
        field = cv2.resize(field, (width, height), interpolation=cv2.INTER_NEAREST)
    return np.clip(image.astype(np.float32) + field, 0, 255).astype(np.uint8)


def occlude(
    image: np.ndarray, fraction: float, rng: np.random.Generator, other: np.ndarray
) -> np.ndarray:
    """Cover ``fraction`` of the view from an edge or a corner with something close to the
    lens: a dark hand/cloth, a sheet of paper or a defocused object."""
    height, width = image.shape[:2]
    mask = np.zeros((height, width), np.float32)
    if rng.random() < 0.5:  # band from one side
        side = int(rng.integers(4))
        if side in (0, 1):
            size = round(height * fraction)
            rows = slice(0, size) if side == 0 else slice(height - size, height)
            mask[rows, :] = 1.0
        else:
            size = round(width * fraction)
            cols = slice(0, size) if side == 2 else slice(width - size, width)
            mask[:, cols] = 1.0
    else:  # ellipse centred on a corner covering about ``fraction``
        corner = (int(rng.integers(2)) * width, int(rng.integers(2)) * height)
        aspect = width / height
        lo, hi = 0.0, 3.0 * height
        for _ in range(30):
            radius = (lo + hi) / 2
            test = np.zeros((height, width), np.uint8)
            cv2.ellipse(test, corner, (round(radius * aspect), round(radius)), 0, 0, 360, 1, -1)
            if test.mean() < fraction:
                lo = radius
            else:
                hi = radius
        cv2.ellipse(mask, corner, (round(lo * aspect), round(lo)), 0, 0, 360, 1.0, -1)
    soft = max(3, width // 60) | 1
    mask = cv2.GaussianBlur(mask, (soft, soft), 0)[..., None]
    kind = int(rng.integers(3))
    if kind == 0:  # dark, defocused hand or cloth with a little shading
        base = float(rng.uniform(15, 60))
        ramp = np.linspace(0, 25, width, dtype=np.float32)[None, :, None]
        cover = np.broadcast_to(base + ramp, image.shape).astype(np.float32)
    elif kind == 1:  # paper, tape, a bag: bright and flat
        cover = np.full(image.shape, float(rng.uniform(180, 240)), np.float32)
    else:  # an object right in front of the lens: another scene, far out of focus
        other_resized = cv2.resize(other, (width, height))
        cover = cv2.GaussianBlur(other_resized, (0, 0), width / 25.0).astype(np.float32) * 0.7
    noise = rng.normal(0, 1.5, image.shape).astype(np.float32)
    out = image.astype(np.float32) * (1 - mask) + (cover + noise) * mask
    return np.clip(out, 0, 255).astype(np.uint8)


def stripes(image: np.ndarray, amplitude: float, pick: random.Random) -> np.ndarray:
    """Bands across the picture: horizontal rolling bands (tube flicker beating with the
    shutter) or vertical interference bars, with a period of 4..30 analysis pixels."""
    height, width = image.shape[:2]
    period = pick.uniform(4.0, 30.0) * width / 320.0
    phase = pick.uniform(0, 2 * np.pi)
    if pick.random() < 0.7:
        wave = np.sin(np.arange(height) * 2 * np.pi / period + phase)[:, None, None]
    else:
        wave = np.sin(np.arange(width) * 2 * np.pi / period + phase)[None, :, None]
    # Flicker modulates the light, so the bands scale with the scene's brightness.
    out = image.astype(np.float32) * (1.0 + amplitude / 128.0 * wave.astype(np.float32))
    return np.clip(out, 0, 255).astype(np.uint8)


def smooth_area(image: np.ndarray, pick: random.Random) -> np.ndarray:
    """Part of the view is a large smooth surface in focus: a steel counter or floor along
    the bottom, a tiled wall or ceiling along the top (30-45 % of the height), a gentle
    gradient of light across it and the camera's sensor grain on top."""
    height, width = image.shape[:2]
    rows = round(height * pick.uniform(0.30, 0.45))
    level = pick.uniform(70.0, 200.0)
    light = np.linspace(level - 15.0, level + 15.0, width, dtype=np.float32)
    if pick.random() < 0.5:
        light = light[::-1]
    out = image.astype(np.float32)
    band = slice(height - rows, height) if pick.random() < 0.6 else slice(0, rows)
    out[band] = light[None, :, None]
    grain = np.random.default_rng(pick.randrange(1 << 30)).normal(0.0, 2.0, out.shape)
    return np.clip(out + grain.astype(np.float32), 0, 255).astype(np.uint8)


def translate(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """The picture moved by (dx, dy) source pixels, edges reflected: a camera nudged or
    shaken on its mount between two samples."""
    height, width = image.shape[:2]
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)


def view_crop(
    image: np.ndarray, dx: float = 0.0, dy: float = 0.0, angle: float = 0.0
) -> np.ndarray:
    """The 'camera view': a 60% window of the photo, shifted by dx/dy (fractions of the
    window) and rotated by ``angle`` degrees, as when a camera is knocked aside."""
    height, width = image.shape[:2]
    cw, ch = round(width * 0.6), round(height * 0.6)
    cx = width / 2 + dx * cw
    cy = height / 2 + dy * ch
    matrix = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
    matrix[0, 2] += cw / 2 - cx
    matrix[1, 2] += ch / 2 - cy
    return cv2.warpAffine(image, matrix, (cw, ch), borderMode=cv2.BORDER_REFLECT)


def no_signal_card(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    kind = int(rng.integers(5))
    colours = [(0, 0, 0), (200, 40, 20), (128, 128, 128), (235, 60, 0), (16, 16, 16)]
    card = np.zeros((height, width, 3), np.uint8)
    card[:] = colours[kind]
    scale = width / 640
    if kind in (1, 3, 4):
        text = ["NO SIGNAL", "Video Loss", "无信号"][int(rng.integers(2))]
        cv2.putText(
            card,
            text,
            (round(width * 0.3), height // 2),
            cv2.FONT_HERSHEY_SIMPLEX,
            1.2 * scale,
            (255, 255, 255),
            max(1, round(2 * scale)),
            cv2.LINE_AA,
        )
    if kind == 4:
        cv2.putText(
            card,
            "CH01 2024-05-01 12:00:00",
            (10, round(30 * scale)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6 * scale,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
    return card


def encode(image: np.ndarray, quality: int = 85) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buffer.tobytes()


# --- the set -----------------------------------------------------------------------------

_CAST_GAINS = {  # (B, G, R) gains of a failing white balance / IR-cut filter
    "red": (0.55, 0.75, 1.0),
    "green": (0.6, 1.0, 0.6),
    "blue": (1.0, 0.75, 0.55),
    "magenta": (1.0, 0.55, 1.0),
    "yellow": (0.5, 1.0, 1.0),
    "cyan": (1.0, 1.0, 0.5),
}


def _strength(severity: str, mild: float, clear: float, severe: float) -> float:
    return {"mild": mild, "clear": clear, "severe": severe}[severity]


def items(photos: dict[str, np.ndarray] | None = None) -> Iterator[Item]:
    photos = photos if photos is not None else load_photos()
    names = sorted(photos)
    for index, name in enumerate(names):
        image = photos[name]
        other = photos[names[(index + 7) % len(names)]]
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        pick = random.Random(name)
        reference = encode(image, 90)
        height, width = image.shape[:2]

        def item(
            kind: str,
            variant: str,
            severity: str,
            picture: np.ndarray,
            q: int = 85,
            ref: bytes = reference,
            name: str = name,
        ) -> Item:
            return Item(name, kind, variant, severity, encode(picture, q), ref)

        # Clean variants: nothing may fire.
        yield item("clean", "original", "clean", image)
        yield item("clean", f"jpeg_q{(q := pick.choice((30, 40, 50)))}", "clean", image, q)
        yield item("clean", "exposure_-0.5", "clean", exposure(image, -0.5))
        yield item("clean", "exposure_+0.5", "clean", exposure(image, 0.5))
        yield item("clean", "grain", "clean", add_noise(image, 3.0, rng, 1.0))
        grey = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        yield item("clean", "greyscale_ir", "clean", exposure(grey, pick.uniform(-0.3, 0.3)))
        yield item("clean", "warm_light", "clean", white_balance(image, (0.85, 0.97, 1.1)))
        # A camera whose view includes a steel counter or a tiled wall: its reference shows
        # it too, and each sample has fresh grain. (Its own random draws, so that the
        # other variants stay as they were before it was added.)
        own = random.Random(f"{name}/smooth_area")
        surface = smooth_area(image, own)
        grained = add_noise(surface, 1.0, np.random.default_rng(own.randrange(1 << 30)), 1.0)
        yield item("clean", "smooth_area", "clean", grained, ref=encode(surface, 90))
        view = view_crop(image)
        yield item(
            "clean",
            "nudged_2pct",
            "clean",
            view_crop(image, pick.uniform(-0.02, 0.02), pick.uniform(-0.02, 0.02), 1.0),
            ref=encode(view, 90),
        )
        live = [encode(add_noise(image, 1.5, rng, 1.0), 80) for _ in range(3)]
        yield Item(name, "clean", "live_still_sequence", "clean", live[0], reference, live)

        for severity in SEVERITIES:
            target = _strength(severity, 60.0, 28.0, 12.0)
            yield item(
                "too_dark",
                f"mean_{target:g}",
                severity,
                add_noise(expose_to(image, target), 1.0, rng, 1.0),
            )
            target = _strength(severity, 195.0, 238.0, 248.0)
            yield item("too_bright", f"mean_{target:g}", severity, expose_to(image, target))
            sigma = _strength(severity, 0.7, 1.5, 3.0)
            yield item("blurred", f"defocus_sigma_{sigma:g}", severity, blur(image, sigma))
            transmission = _strength(severity, 0.75, 0.45, 0.3)
            tint = np.array([1.0, 1.0, 1.0], np.float32)
            kind = pick.choice(("fog", "steam", "film", "grease"))
            hazy = image
            if kind == "grease":
                hazy = blur(image, 0.8)
                tint = np.array([0.85, 0.95, 1.0], np.float32)
            elif kind == "film":
                tint = np.array([0.95, 0.97, 1.0], np.float32)
            yield item(
                "low_contrast",
                f"{kind}_t{transmission:g}",
                severity,
                veil(hazy, transmission, pick.uniform(170, 235), tint),
            )
            cast = pick.choice(sorted(_CAST_GAINS))
            strength = _strength(severity, 0.3, 1.0, 1.4)
            blue, green, red = (min(1.6, 1.0 - (1.0 - g) * strength) for g in _CAST_GAINS[cast])
            gains = (blue, green, red)
            yield item("color_cast", f"{cast}_{strength:g}", severity, white_balance(image, gains))
            # The no-reference case: a (near) grey scene, e.g. steel and tiles, turned colour.
            yield item(
                "color_cast",
                f"grey_scene_{cast}_{strength:g}",
                severity,
                white_balance(grey, gains),
                ref=encode(grey, 90),
            )
            noise_sigma = _strength(severity, 6.0, 16.0, 28.0)
            yield item(
                "noisy",
                f"noise_sigma_{noise_sigma:g}",
                severity,
                add_noise(image, noise_sigma, rng, max(1.0, width / 320)),
            )
            amplitude = _strength(severity, 2.0, 8.0, 16.0)
            yield item("stripes", f"bands_{amplitude:g}", severity, stripes(image, amplitude, pick))
            fraction = _strength(severity, 0.12, 0.4, 0.65)
            yield item(
                "occluded", f"cover_{fraction:g}", severity, occlude(image, fraction, rng, other)
            )
            if severity == "mild":
                moved = view_crop(image, pick.choice((-1, 1)) * 0.08, 0.0, 0.0)
            elif severity == "clear":
                moved = view_crop(
                    image,
                    pick.choice((-1, 1)) * 0.45,
                    pick.uniform(-0.2, 0.2),
                    pick.uniform(-10, 10),
                )
            else:
                moved = view_crop(other)  # turned to face somewhere else entirely
            yield item("scene_changed", f"moved_{severity}", severity, moved, ref=encode(view, 90))
        card = no_signal_card(width, height, rng)
        yield item("no_signal", "card", "clear", card)
        still = encode(image, 85)
        yield Item(name, "frozen", "repeated_frame", "clear", still, reference, [still] * 3)
        # A shaking mount: the view wanders by 1.5-3 % (and half a degree) between samples.
        own = random.Random(f"{name}/jitter")
        grain = np.random.default_rng(own.randrange(1 << 30))
        shaken = []
        for _ in range(3):
            dx, dy = (own.choice((-1, 1)) * own.uniform(0.015, 0.03) for _ in range(2))
            moved = view_crop(image, dx, dy, own.uniform(-0.5, 0.5))
            shaken.append(encode(add_noise(moved, 1.5, grain, 1.0), 85))
        yield Item(name, "jitter", "shaking_mount", "clear", shaken[0], encode(view, 90), shaken)
