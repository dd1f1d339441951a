"""The quality evaluation's second degradation model: faults simulated physically.

Written apart from ``quality_evalset.py`` (issue 15, item 4) so that the detectors, tuned
on that first set, are measured on conditions nobody tuned them to. Each source picture
is taken as a scene: its pixels are turned back into radiance (inverse BT.709, the
transfer curve of video cameras), and every fault is applied where it happens in a real
camera, then the picture is captured again:

- in the scene: light sources far brighter than white (a stove flame, a lamp, a
  window), the light itself dimmed (a kitchen at night), mains flicker beating with a
  rolling shutter;
- in the air and on the lens: steam whose density grows with depth and drifts in
  plumes, a greasy film, finger smears of grease, condensation, a cover close to the
  lens (far out of focus: soft edged, uniform, no texture);
- in the optics: defocus (a disc, not a Gaussian) and motion blur (a line), applied to
  radiance so highlights bloom as they do;
- on the sensor: photon shot noise (Poisson in electrons) and read noise, clipping at
  full well, the analogue gain, white balance gains from a colour-temperature mismatch;
- in the signal and the encoder: interference bars on an analogue link, JPEG blocking
  of a low-bitrate stream, a "no video" screen, a frame repeated, a mount that shakes
  or a camera turned away.

Each source picture gives mild, clear and severe strengths of every fault, and clean
pictures that must raise nothing, among them the cases a kitchen camera sees every
day and a detector easily mistakes: a small clipped flame, lamp or window; a dim view of
a lit subject against a dark, out-of-focus background; a low-bitrate stream; a lamp over
part of the kitchen switched off since enrolment. Every sample
carries the reference a camera would have enrolled (the clean view through the same
camera, with its own noise).

Self-contained on purpose (numpy and OpenCV only): nothing here is shared with the first
set, so the two models fail differently.

Sources: the rendered kitchens committed under ``tests/data/quality/kitchen/`` (see
``kitchen_scenes.py``) and photographs shipped by Debian's ``opencv-doc`` package that the
first set does not use (street and shop scenes, a CCTV frame from ``vtest.avi``).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from testkit.images import maybe_read_bgr, read_bgr

if TYPE_CHECKING:
    from agent.capture.quality import Frame

Radiance = npt.NDArray[np.float32]  # H x W x 3 BGR, linear, 1.0 = what the source showed as white
Picture = npt.NDArray[np.uint8]  # H x W x 3 BGR, 8-bit camera output

ROOT = Path(__file__).resolve().parent.parent
KITCHENS = ROOT / "tests" / "data" / "quality" / "kitchen"
OPENCV_DOC = Path("/usr/share/doc/opencv-doc/examples")
# (scenetext02.jpg, a lit sign against night-dark trees, is left out: its own mean
# brightness is under the too_dark threshold, so it cannot serve as a clean view.)
OPENCV_EXTRA_PHOTOS = (
    "text/scenetext04.jpg",
    "text/scenetext05.jpg",
    "text/scenetext06.jpg",
)
OPENCV_CCTV_FRAME = ("data/vtest.avi", 75)  # a surveillance camera's view, frame 75
MAX_WIDTH = 640  # a camera's sub-stream: sources are reduced to this first
ANALYSIS_WIDTH = 320.0  # strengths are given in pixels at this width (what is judged)
SEVERITIES = ("mild", "clear", "severe")
LUMA = np.array([0.0722, 0.7152, 0.2126], np.float32)  # BT.709, BGR order
CLIPPED_LEVEL = 250  # 8-bit luma at or above which a pixel is clipped white
CRUSHED_LEVEL = 12  # at or below which it is crushed black


@dataclass(frozen=True)
class Sample:
    """One picture to judge, with the reference the camera enrolled."""

    photo: str
    kind: str  # the check code it must raise, or "clean" (must raise nothing)
    variant: str
    severity: str  # mild | clear | severe | clean
    jpeg: bytes
    reference_jpeg: bytes
    sequence: tuple[bytes, ...] | None = None  # consecutive samples (frozen, jitter)
    also_accept: frozenset[str] = frozenset()  # other codes that also name this fault
    single_frame: bool = True  # False: only a reference can tell (a colourful scene's cast)


# --- sources -----------------------------------------------------------------------------


def _fit_width(image: Picture) -> Picture:
    height, width = image.shape[:2]
    if width <= MAX_WIDTH:
        return image
    size = (MAX_WIDTH, round(height * MAX_WIDTH / width))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)


def load_photos() -> dict[str, Picture]:
    """The second model's own source pictures, by name."""
    photos: dict[str, Picture] = {}
    for path in sorted(KITCHENS.glob("*.jpg")):
        image = maybe_read_bgr(path)
        if image is None:
            raise SystemExit(f"cannot read {path}")
        photos[f"kitchen/{path.name}"] = _fit_width(image)
    missing = []
    for name in OPENCV_EXTRA_PHOTOS:
        image = maybe_read_bgr(OPENCV_DOC / name)
        if image is None:
            missing.append(name)
            continue
        photos[f"opencv-doc/{name}"] = _fit_width(image)
    video, index = OPENCV_CCTV_FRAME
    capture = cv2.VideoCapture(str(OPENCV_DOC / video))
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = capture.read()
    capture.release()
    if ok:
        photos[f"opencv-doc/{video}#{index}"] = _fit_width(frame)
    else:
        missing.append(video)
    if missing:
        raise SystemExit(
            f"missing under {OPENCV_DOC}: {', '.join(missing)}; install Debian's opencv-doc "
            "package (apt-get install opencv-doc)"
        )
    return photos


# --- the camera --------------------------------------------------------------------------


def committed_scene(name: str) -> Radiance:
    """A committed picture by name, a rendered kitchen (``tests/data/quality/kitchen``) or
    else a photograph (``tests/data/quality``), as the light the camera sees."""
    path = KITCHENS / f"{name}.jpg"
    return to_radiance(read_bgr(path if path.exists() else KITCHENS.parent / f"{name}.jpg"))


def to_radiance(picture: Picture) -> Radiance:
    """Inverse BT.709 transfer: the scene a camera with that curve saw."""
    signal = picture.astype(np.float32) / 255.0
    toe = signal < 0.081
    linear = np.where(toe, signal / 4.5, ((signal + 0.099) / 1.099) ** (1.0 / 0.45))
    return linear.astype(np.float32)


def to_signal(linear: Radiance) -> Picture:
    """BT.709 transfer and 8-bit quantisation of normalised sensor values (0..1)."""
    x = np.clip(linear, 0.0, 1.0)
    signal = np.where(x < 0.018, 4.5 * x, 1.099 * np.power(x, 0.45) - 0.099)
    return np.clip(signal * 255.0 + 0.5, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Sensor:
    """A small IP-camera sensor. ``full_well``: electrons at white at base exposure;
    ``read_noise``: electrons rms."""

    full_well: float = 6000.0
    read_noise: float = 3.0


_DEMOSAIC = np.array([0.25, 0.5, 0.25], np.float32)
_DEMOSAIC_GAIN = 1.0 / float(np.sum(np.outer(_DEMOSAIC, _DEMOSAIC) ** 2)) ** 0.5


def capture(
    radiance: Radiance,
    rng: np.random.Generator,
    *,
    exposure: float = 1.0,
    light: float = 1.0,
    gains: npt.NDArray[np.float32] | None = None,
    sensor: Sensor = Sensor(),
) -> Picture:
    """Expose the sensor to ``radiance`` x ``exposure`` x ``light`` for a frame.

    ``light`` < 1 is a dimmer scene that the camera's analogue gain brings back to the same
    brightness (so only the noise grows). Photon shot noise and read noise in electrons,
    correlated between neighbours as demosaicking does; clipping at full well; then the
    white balance ``gains`` (B, G, R) and the transfer curve."""
    electrons = np.clip(radiance * (exposure * light * sensor.full_well), 0.0, None)
    shot = rng.poisson(electrons.astype(np.float64)).astype(np.float32) - electrons
    noise = shot + rng.normal(0.0, sensor.read_noise, electrons.shape).astype(np.float32)
    noise = cv2.sepFilter2D(noise, -1, _DEMOSAIC, _DEMOSAIC) * _DEMOSAIC_GAIN
    collected = np.clip(electrons + noise, 0.0, sensor.full_well)
    normalised = collected / (sensor.full_well * light)
    if gains is not None:
        normalised = normalised * gains
    return to_signal(normalised)


def agent_frame(picture: Picture) -> Frame:
    """``picture`` as the agent analyses it: encoded as the camera's JPEG, decoded at the
    analysis width (320) and prepared (an ``agent.capture.quality.Frame``)."""
    from agent.capture.decode import decode_for_analysis
    from agent.capture.quality import prepare

    return prepare(decode_for_analysis(encode(picture), 320), 320)


def encode(picture: Picture, quality: int = 85) -> bytes:
    ok, data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes()


def luma(picture: Picture) -> npt.NDArray[np.float32]:
    return np.asarray(picture.astype(np.float32) @ LUMA, np.float32)


def clipped_share(picture: Picture) -> float:
    return float(np.mean(luma(picture) >= CLIPPED_LEVEL))


def crushed_share(picture: Picture) -> float:
    return float(np.mean(luma(picture) <= CRUSHED_LEVEL))


def _scale(radiance: Radiance) -> float:
    """Source pixels per analysis pixel: strengths are set as the detector sees them."""
    return radiance.shape[1] / ANALYSIS_WIDTH


def _preview(radiance: Radiance) -> Radiance:
    height, width = radiance.shape[:2]
    size = (160, max(1, round(height * 160 / width)))
    return np.asarray(cv2.resize(radiance, size, interpolation=cv2.INTER_AREA), np.float32)


def _solve(measure: Callable[[float], float], target: float, lo: float, hi: float) -> float:
    """The x in [lo, hi] where the increasing ``measure(x)`` reaches ``target``."""
    for _ in range(28):
        mid = (lo + hi) / 2
        if measure(mid) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


# --- exposure ----------------------------------------------------------------------------


def overexposed(radiance: Radiance, share: float, rng: np.random.Generator) -> Picture:
    """Exposure raised until ``share`` of the picture clips white at the sensor."""
    small = _preview(radiance)

    def clipped(stops: float) -> float:
        return clipped_share(to_signal(small * 2.0**stops))

    stops = _solve(clipped, share, 0.0, 12.0)
    return capture(radiance, rng, exposure=2.0**stops)


def underexposed(radiance: Radiance, share: float, rng: np.random.Generator) -> Picture:
    """Exposure cut (an auto-exposure or IR illuminator failing at night) until ``share``
    of the picture is crushed black."""
    small = _preview(radiance)

    def crushed(stops: float) -> float:
        return crushed_share(to_signal(small * 2.0**-stops))

    stops = _solve(crushed, share, 0.0, 14.0)
    return capture(radiance, rng, exposure=2.0**-stops)


def _soft_blob(
    shape: tuple[int, int], centre: tuple[float, float], axes: tuple[float, float], soft: float
) -> npt.NDArray[np.float32]:
    mask = np.zeros(shape, np.float32)
    cv2.ellipse(
        mask,
        (round(centre[0]), round(centre[1])),
        (max(1, round(axes[0])), max(1, round(axes[1]))),
        0,
        0,
        360,
        1.0,
        -1,
        cv2.LINE_AA,
    )
    return cv2.GaussianBlur(mask, (0, 0), max(0.5, soft)) if soft > 0 else mask


def with_light_source(radiance: Radiance, kind: str, rng: np.random.Generator) -> Radiance:
    """A small very bright region in an otherwise well exposed view: a stove ``flame``
    (20-60x white), a ceiling ``lamp`` (~50x) or a daylit ``window`` (5-8x), with the
    faint glare a lens spreads around it."""
    height, width = radiance.shape[:2]
    scene = radiance.copy()
    emitted = np.zeros_like(scene)
    if kind == "flame":
        x0 = rng.uniform(0.2, 0.8) * width
        y0 = rng.uniform(0.55, 0.8) * height
        for _ in range(int(rng.integers(4, 8))):
            x = x0 + rng.uniform(-0.05, 0.05) * width
            tall = rng.uniform(0.04, 0.08) * height
            blob = _soft_blob((height, width), (x, y0 - tall / 2), (0.008 * width, tall / 2), 1.5)
            emitted += blob[..., None] * np.array([0.1, 0.5, 1.0], np.float32) * rng.uniform(20, 60)
    elif kind == "lamp":
        x = rng.uniform(0.15, 0.85) * width
        y = rng.uniform(0.05, 0.3) * height
        blob = _soft_blob((height, width), (x, y), (0.05 * width, 0.025 * width), 1.0)
        emitted += blob[..., None] * np.array([0.9, 0.97, 1.0], np.float32) * 50.0
    elif kind == "window":
        w, h = rng.uniform(0.12, 0.2) * width, rng.uniform(0.18, 0.3) * height
        x0 = rng.choice((0.02, 0.98 - w / width)) * width
        y0 = rng.uniform(0.03, 0.2) * height
        pane = np.zeros((height, width), np.float32)
        pane[round(y0) : round(y0 + h), round(x0) : round(x0 + w)] = 1.0
        bar = max(2, round(0.008 * width))  # the mullions
        cx, cy = round(x0 + w / 2), round(y0 + h / 2)
        pane[:, cx - bar // 2 : cx + bar // 2 + 1] *= 0.0
        pane[cy - bar // 2 : cy + bar // 2 + 1, :] *= 0.0
        scene = scene * (1 - pane[..., None])
        emitted += pane[..., None] * np.array([1.05, 1.0, 0.95], np.float32) * rng.uniform(5, 8)
    else:
        raise ValueError(f"unknown light source {kind!r}")
    # Veiling glare: a fraction of a percent of the source's light spread widely.
    glare = cv2.GaussianBlur(emitted, (0, 0), 0.03 * width) * 0.004 * 40.0
    return np.asarray(scene + emitted + glare, np.float32)


def part_lit(radiance: Radiance, rng: np.random.Generator) -> Radiance:
    """A lamp over part of the kitchen switched off since enrolment (a hood light, the
    lights over the far end): light falls to 25-80 % of what it was on one side of a line
    across the view at any angle, fading smoothly over 15-45 % of the view's width."""
    height, width = radiance.shape[:2]
    heading = rng.uniform(0.0, 2.0 * np.pi)
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    along = (columns / width - 0.5) * np.cos(heading) + (rows / width - 0.5) * np.sin(heading)
    fade = rng.uniform(0.15, 0.45)
    lit = np.clip((along - rng.uniform(-0.2, 0.2)) / fade + 0.5, 0.0, 1.0)
    lit = lit * lit * (3.0 - 2.0 * lit)  # smoothstep: light has no corners
    kept = rng.uniform(0.25, 0.8)
    return np.asarray(radiance * (kept + (1.0 - kept) * lit)[..., None], np.float32)


def dim_subject_dark_background(
    radiance: Radiance,
    rng: np.random.Generator,
    subject_share: float | None = None,
    background_level: float | None = None,
) -> tuple[Radiance, npt.NDArray[np.float32]]:
    """A dim but healthy view: a lit subject (a pass counter under a spot lamp) in front of
    a dark, out-of-focus background, as a camera with its lens wide open sees it. The
    subject fills ``subject_share`` of the view (default: 15-40 %); the background gets
    ``background_level`` of the subject's light (default: 2-10 %), and is defocused by
    2-5 % of the width. Returns the radiance and where the subject is (1), not (0)."""
    height, width = radiance.shape[:2]
    centre = (rng.uniform(0.35, 0.65) * width, rng.uniform(0.4, 0.6) * height)
    share = subject_share if subject_share is not None else rng.uniform(0.15, 0.4)
    aspect = rng.uniform(0.8, 1.25)  # the subject's width / height, relative to the view's
    half_h = (share / np.pi / aspect) ** 0.5 * height  # ellipse area = share of the view
    axes = (half_h * aspect * width / height, half_h)
    subject = _soft_blob((height, width), centre, axes, 0.04 * width)[..., None]
    level = background_level if background_level is not None else rng.uniform(0.02, 0.1)
    background = disc_blur(radiance, rng.uniform(0.02, 0.05) * width) * level
    composed = radiance * subject + background * (1 - subject)
    # Dim, not dark: the picture's mean brightness ends up at 50-70 of 255.
    target = rng.uniform(50.0, 70.0)
    small = _preview(composed)

    def mean_level(gain: float) -> float:
        return float(luma(to_signal(small * gain)).mean())

    gain = _solve(mean_level, target, 0.0, 8.0)
    return np.asarray(composed * gain, np.float32), subject[..., 0]


# --- optics ------------------------------------------------------------------------------


def disc_blur(radiance: Radiance, radius_px: float) -> Radiance:
    """Defocus: a uniform disc of ``radius_px`` source pixels (the aperture's image)."""
    if radius_px < 0.5:
        return radiance
    size = 2 * int(np.ceil(radius_px)) + 3
    kernel = np.zeros((size * 4, size * 4), np.float32)
    cv2.circle(kernel, (size * 2, size * 2), round(radius_px * 4), 1.0, -1, cv2.LINE_AA)
    kernel = cv2.resize(kernel, (size, size), interpolation=cv2.INTER_AREA)
    kernel /= kernel.sum()
    return np.asarray(cv2.filter2D(radiance, -1, kernel, borderType=cv2.BORDER_REFLECT), np.float32)


def line_blur(radiance: Radiance, length_px: float, angle_deg: float) -> Radiance:
    """Motion blur: the image smeared along a line of ``length_px`` during the exposure."""
    size = 2 * int(np.ceil(length_px / 2)) + 3
    kernel = np.zeros((size * 4, size * 4), np.float32)
    c = size * 2
    dx = np.cos(np.radians(angle_deg)) * length_px * 2
    dy = np.sin(np.radians(angle_deg)) * length_px * 2
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 4)
    kernel = cv2.resize(kernel, (size, size), interpolation=cv2.INTER_AREA)
    kernel /= kernel.sum()
    return np.asarray(cv2.filter2D(radiance, -1, kernel, borderType=cv2.BORDER_REFLECT), np.float32)


def _smooth_field(
    rng: np.random.Generator, shape: tuple[int, int], feature_px: float
) -> npt.NDArray[np.float32]:
    """Zero-mean, unit-spread random field with features about ``feature_px`` wide."""
    height, width = shape
    grid = rng.normal(
        0.0, 1.0, (max(2, round(height / feature_px)) + 2, max(2, round(width / feature_px)) + 2)
    ).astype(np.float32)
    field = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.asarray((field - field.mean()) / max(float(field.std()), 1e-6), np.float32)


def steam(
    radiance: Radiance, transmission: float, rng: np.random.Generator
) -> tuple[Radiance, npt.NDArray[np.float32]]:
    """Steam between the camera and the scene (Koschmieder's law): what the scene sends is
    attenuated by t = exp(-beta * depth * density), and the kitchen's light scattered by
    the steam adds an airlight veil (1 - t) * A. Depth grows towards the top of the
    picture (a ceiling camera looks down at the near counter and across to the far wall);
    density drifts in plumes. Forward scattering softens what gets through. ``beta`` is
    set so that the mean transmission is ``transmission``. Returns the radiance and t."""
    height, width = radiance.shape[:2]
    ys = np.linspace(1.0, 0.0, height, dtype=np.float32)[:, None]  # 0 at the bottom
    depth = 0.5 + 0.7 * ys + 0.1 * np.linspace(-1, 1, width, dtype=np.float32)[None, :]
    plumes = np.clip(1.0 + 0.45 * _smooth_field(rng, (height, width), width / 5.0), 0.3, None)
    optical = depth * plumes

    def mean_t(beta: float) -> float:
        return -float(np.mean(np.exp(-beta * optical)))

    beta = _solve(mean_t, -transmission, 0.0, 20.0)
    t = np.exp(-beta * optical).astype(np.float32)
    airlight = rng.uniform(0.55, 0.85) * np.array([0.92, 0.97, 1.0], np.float32)  # warm light
    through = cv2.GaussianBlur(
        radiance, (0, 0), (0.3 + 1.2 * (1 - transmission)) * _scale(radiance)
    )
    hazy = through * t[..., None] + airlight * (1 - t[..., None])
    return np.asarray(hazy, np.float32), t


def auto_exposure(hazy: Radiance, clean: Radiance, most_stops: float = 1.5) -> float:
    """The exposure a camera's auto-exposure settles at to bring the mean back to the
    clean view's (it can only darken so far)."""
    ratio = float((clean @ LUMA).mean()) / max(float((hazy @ LUMA).mean()), 1e-6)
    return float(np.clip(ratio, 2.0**-most_stops, 2.0**most_stops))


def greasy_film(radiance: Radiance, transmission: float) -> Radiance:
    """A film of grease on the lens: it scatters a share (1 - t) of the scene's own light
    into a wide, yellowish glow and softens the rest."""
    scale = _scale(radiance)
    sharp = cv2.GaussianBlur(radiance, (0, 0), 0.8 * scale)
    glow = cv2.GaussianBlur(radiance, (0, 0), 25.0 * scale) * np.array(
        [0.8, 0.95, 1.05], np.float32
    )
    glow = glow * 1.2 + 0.04
    return np.asarray(sharp * transmission + glow * (1 - transmission), np.float32)


def grease_smear(radiance: Radiance, coverage: float, rng: np.random.Generator) -> Radiance:
    """Finger strokes of grease across the lens: inside them the picture is smeared along
    the stroke and glows; outside it is clear. ``coverage``: share of the view smeared."""
    height, width = radiance.shape[:2]
    angle = rng.uniform(-40, 40)
    slope = np.tan(np.radians(angle)) * width
    strokes = np.zeros((height, width), np.float32)
    thickness = max(3, round(0.11 * height))
    xs = np.arange(0, width + 20, 20, dtype=np.float32)
    for _ in range(60):  # stroke after stroke until enough of the lens is smeared
        if float(np.mean(strokes > 0.5)) >= coverage:
            break
        y = rng.uniform(-0.2, 1.2) * height
        wobble = rng.uniform(-0.05, 0.05) * height
        ys = y + slope * (xs / width - 0.5) + wobble * np.sin(xs / width * 6)
        points = np.round(np.stack([xs, ys], axis=1)).astype(np.int32)
        cv2.polylines(strokes, [points], False, 1.0, thickness, cv2.LINE_AA)
    mask = cv2.GaussianBlur(strokes, (0, 0), 0.02 * width)[..., None]
    scale = _scale(radiance)
    smeared = line_blur(radiance, 14.0 * scale, angle)
    smeared = cv2.GaussianBlur(smeared, (0, 0), 3.0 * scale) * 0.75
    smeared += cv2.GaussianBlur(radiance, (0, 0), 20.0 * scale) * 0.35
    return np.asarray(radiance * (1 - mask) + smeared * mask, np.float32)


def condensation(radiance: Radiance, transmission: float, rng: np.random.Generator) -> Radiance:
    """Fog of micro-droplets on the lens (a cold camera by the steamer): a share ``t`` of
    the light passes nearly straight, the rest is spread into a broad halo; a few larger
    drops have coalesced, clearer inside, with a dark refracting rim."""
    height, width = radiance.shape[:2]
    scale = _scale(radiance)
    t = np.full((height, width), transmission, np.float32)
    rims = np.zeros((height, width), np.float32)
    for _ in range(int(rng.integers(6, 14))):
        centre = (rng.uniform(0, width), rng.uniform(0, height))
        radius = rng.uniform(0.015, 0.04) * width
        drop = _soft_blob((height, width), centre, (radius, radius), 1.0)
        t = t * (1 - drop) + min(0.9, transmission + 0.4) * drop
        rim = np.zeros((height, width), np.float32)
        cv2.circle(rim, (round(centre[0]), round(centre[1])), round(radius), 1.0, 1, cv2.LINE_AA)
        rims = np.maximum(rims, rim)
    direct = cv2.GaussianBlur(radiance, (0, 0), 1.2 * scale)
    halo = cv2.GaussianBlur(radiance, (0, 0), 0.08 * width)
    fogged = direct * t[..., None] + halo * (1 - t[..., None])
    return np.asarray(fogged * (1 - 0.25 * rims[..., None]), np.float32)


# --- colour ------------------------------------------------------------------------------

_WAVELENGTHS = np.linspace(400e-9, 700e-9, 61)
_RESPONSE = {  # Gaussian stand-ins for a CMOS sensor's colour filters: centre, width (nm)
    "blue": (460e-9, 30e-9),
    "green": (540e-9, 35e-9),
    "red": (600e-9, 35e-9),
}


def _blackbody_rgb(kelvin: float) -> npt.NDArray[np.float64]:
    """What each colour channel collects from a black body at ``kelvin`` (B, G, R)."""
    h, c, k = 6.626e-34, 2.998e8, 1.381e-23
    spectrum = 1.0 / (_WAVELENGTHS**5 * (np.exp(h * c / (_WAVELENGTHS * k * kelvin)) - 1.0))
    return np.array(
        [
            float(np.sum(spectrum * np.exp(-(((_WAVELENGTHS - mu) / sd) ** 2) / 2)))
            for mu, sd in _RESPONSE.values()
        ]
    )


WHITE_BALANCE_KELVIN = 5000.0  # where a camera with a stuck white balance is set


def cast_gains(kind: str, severity: str) -> npt.NDArray[np.float32]:
    """(B, G, R) gains of a failing white balance: the light's colour temperature far from
    the one the camera balanced for (``warm``: tungsten or sodium light, ``cool``: shade
    or cold LEDs), a fluorescent tube's ``green`` spike, or near-infrared leaking through
    a failed IR-cut filter (``magenta``). Normalised to keep the brightness."""
    step = SEVERITIES.index(severity)
    if kind in ("warm", "cool"):
        kelvin = ((4200.0, 3200.0, 2500.0) if kind == "warm" else (6500.0, 9500.0, 16000.0))[step]
        gains = _blackbody_rgb(kelvin) / _blackbody_rgb(WHITE_BALANCE_KELVIN)
    elif kind == "green":
        gains = np.array([1.0, (1.2, 1.65, 2.1)[step], 1.0])
    elif kind == "magenta":
        gains = np.array([1.0, 1.0 / (1.2, 1.65, 2.1)[step], 1.0])
    else:
        raise ValueError(f"unknown cast {kind!r}")
    gains = gains / float(np.dot(gains, LUMA.astype(np.float64)))
    return gains.astype(np.float32)


def greyscale_scene(radiance: Radiance) -> Radiance:
    """The scene made colourless: steel, tiles, concrete."""
    grey = radiance @ LUMA
    return np.repeat(grey[..., None], 3, axis=2).astype(np.float32)


# --- bands -------------------------------------------------------------------------------


def flicker_bands(radiance: Radiance, depth: float, bands: float, phase: float) -> Radiance:
    """Mains flicker beating with a rolling shutter: each sensor row is exposed at a
    different moment of the lamps' 100 Hz ripple, so light varies by +-``depth`` in
    ``bands`` horizontal bands over the frame."""
    height = radiance.shape[0]
    rows = np.arange(height, dtype=np.float32)
    ripple = 1.0 + depth * np.sin(2 * np.pi * rows * bands / height + phase)
    return np.asarray(radiance * ripple[:, None, None], np.float32)


def interference_bars(
    picture: Picture, amplitude: float, cycles: float, angle_deg: float, phase: float
) -> Picture:
    """Interference on an analogue video link (ground loop, a nearby motor): a sinusoid of
    ``amplitude`` signal levels added to the video, ``cycles`` bars across the width,
    tilted by ``angle_deg`` from vertical (0: vertical bars; 90: horizontal)."""
    height, width = picture.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    theta = np.radians(angle_deg)
    along = (xs * np.cos(theta) + ys * np.sin(theta)) / width
    wave = amplitude * np.sin(2 * np.pi * cycles * along + phase)
    return np.clip(picture.astype(np.float32) + wave[..., None], 0, 255).astype(np.uint8)


# --- covers ------------------------------------------------------------------------------

_COVERS = {  # (B, G, R) reflectance of what is held or stuck in front of the lens
    "hand": (0.22, 0.3, 0.45),
    "grey_cloth": (0.2, 0.2, 0.2),
    "black_tape": (0.03, 0.03, 0.03),
    "paper": (0.75, 0.78, 0.8),
    "blue_glove": (0.35, 0.15, 0.08),
}


def cover_mask(
    shape: tuple[int, int], coverage: float, rng: np.random.Generator
) -> npt.NDArray[np.float32]:
    """Where a near-lens cover hides the view: a large blob entering from an edge or a
    corner (a hand, a sheet) covering ``coverage`` of it, its edge far out of focus."""
    height, width = shape
    edge = int(rng.integers(6))
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = xs / width, ys / height
    wave = 0.04 * np.sin(2 * np.pi * (u + v) * rng.uniform(0.5, 1.5) + rng.uniform(0, 6))
    distance = {  # how far in from the side the cover comes, per pixel
        0: v + wave,  # from the top
        1: 1 - v + wave,  # from the bottom
        2: u + wave,  # from the left
        3: 1 - u + wave,  # from the right
        4: np.hypot(u, v * height / width) + wave,  # from the top-left corner
        5: np.hypot(1 - u, v * height / width) + wave,  # from the top-right corner
    }[edge]
    reach = float(np.quantile(distance, coverage))
    hard = (distance <= reach).astype(np.float32)
    return np.asarray(cv2.GaussianBlur(hard, (0, 0), rng.uniform(0.02, 0.04) * width), np.float32)


def covered(
    radiance: Radiance, coverage: float, material: str, rng: np.random.Generator
) -> tuple[Radiance, npt.NDArray[np.float32]]:
    """A cover a few centimetres from the lens: uniform, no texture (it is far out of
    focus), lit more on one side than the other; a plastic bag lets a little of the
    scene through as a blur. Returns the radiance and the mask."""
    height, width = radiance.shape[:2]
    mask = cover_mask((height, width), coverage, rng)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    direction = rng.uniform(0, 2 * np.pi)
    ramp = (xs / width - 0.5) * np.cos(direction) + (ys / height - 0.5) * np.sin(direction)
    lit = rng.uniform(0.25, 0.7) * (1.0 + 0.8 * ramp)
    if material == "plastic_bag":
        surface = cv2.GaussianBlur(radiance, (0, 0), 0.1 * width) * 0.25 + 0.3 * lit[..., None]
    else:
        surface = np.array(_COVERS[material], np.float32) * lit[..., None]
    out = radiance * (1 - mask[..., None]) + surface * mask[..., None]
    return np.asarray(out, np.float32), mask


# --- geometry, signal loss ---------------------------------------------------------------


def view(radiance: Radiance, dx: float = 0.0, dy: float = 0.0, angle: float = 0.0) -> Radiance:
    """The camera's view: the middle 80 % of the source, panned by (dx, dy) of the view's
    size and rolled by ``angle`` degrees (the camera turned or shaken on its mount)."""
    height, width = radiance.shape[:2]
    vw, vh = round(width * 0.8), round(height * 0.8)
    cx, cy = width / 2 + dx * vw, height / 2 + dy * vh
    matrix = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
    matrix[0, 2] += vw / 2 - cx
    matrix[1, 2] += vh / 2 - cy
    warped = cv2.warpAffine(
        radiance, matrix, (vw, vh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101
    )
    return np.asarray(warped, np.float32)


def no_video_screen(width: int, height: int, style: int) -> Picture:
    """What a DVR or encoder shows when the camera's signal is gone."""
    screen = np.zeros((height, width, 3), np.uint8)
    scale = width / 700.0
    font = cv2.FONT_HERSHEY_DUPLEX
    if style == 0:  # blue screen
        screen[:] = (170, 20, 10)
        cv2.putText(screen, "NO VIDEO", (round(width * 0.33), height // 2), font, 1.4 * scale,
                    (255, 255, 255), max(1, round(2 * scale)), cv2.LINE_AA)  # fmt: skip
    elif style == 1:  # black with the channel's on-screen display
        cv2.putText(screen, "CAM 03  VIDEO LOSS", (round(width * 0.05), round(height * 0.1)),
                    font, 0.7 * scale, (230, 230, 230), 1, cv2.LINE_AA)  # fmt: skip
        cv2.putText(screen, "2025-11-03 19:42:07", (round(width * 0.6), round(height * 0.95)),
                    font, 0.6 * scale, (230, 230, 230), 1, cv2.LINE_AA)  # fmt: skip
    elif style == 2:  # mid grey, a small warning box
        screen[:] = (118, 118, 118)
        x0, y0 = round(width * 0.38), round(height * 0.44)
        cv2.rectangle(
            screen, (x0, y0), (round(width * 0.62), round(height * 0.56)), (30, 30, 30), -1
        )
        cv2.putText(screen, "Signal lost", (x0 + round(8 * scale), y0 + round(28 * scale)),
                    font, 0.6 * scale, (0, 200, 255), 1, cv2.LINE_AA)  # fmt: skip
    else:  # a vendor's dark navy card
        screen[:] = (60, 25, 15)
        cv2.putText(screen, "No Signal", (round(width * 0.38), round(height * 0.5)), font,
                    1.0 * scale, (200, 200, 200), max(1, round(scale)), cv2.LINE_AA)  # fmt: skip
    return screen


# --- the set -----------------------------------------------------------------------------


def rng_for(*parts: object) -> np.random.Generator:
    """A generator seeded by what the draw is for, so that samples do not depend on the
    order they are made in (adding one leaves the others as they were)."""
    return np.random.default_rng(zlib.crc32("/".join(map(str, parts)).encode()))


def _strength(severity: str, mild: float, clear: float, severe: float) -> float:
    return {"mild": mild, "clear": clear, "severe": severe}[severity]


_HAZE = frozenset({"blurred"})  # a veil on the lens also softens; naming either is right


def samples_for(name: str, photo: Picture, other: Picture) -> Iterator[Sample]:
    """Every sample made from one source picture (``other``: where a turned camera looks)."""
    scene = to_radiance(photo)
    height, width = photo.shape[:2]
    scale = width / ANALYSIS_WIDTH

    def shot(
        what: Radiance,
        tag: str,
        light: float = 1.0,
        gains: npt.NDArray[np.float32] | None = None,
    ) -> Picture:
        return capture(what, rng_for(name, tag, "noise"), light=light, gains=gains)

    reference = encode(shot(scene, "reference"))

    def sample(
        kind: str,
        variant: str,
        severity: str,
        picture: Picture,
        ref: bytes = reference,
        quality: int = 85,
        also_accept: frozenset[str] = frozenset(),
        single_frame: bool = True,
    ) -> Sample:
        jpeg = encode(picture, quality)
        return Sample(
            name,
            kind,
            variant,
            severity,
            jpeg,
            ref,
            also_accept=also_accept,
            single_frame=single_frame,
        )

    # --- clean: nothing may fire -------------------------------------------------------
    yield sample("clean", "as_is", "clean", shot(scene, "as_is"))
    for source in ("flame", "lamp", "window"):
        lit = with_light_source(scene, source, rng_for(name, source))
        # A stove or a lamp may have been off at enrolment; a window was there already.
        enrolled = encode(shot(lit, "window_reference")) if source == "window" else reference
        yield sample("clean", f"small_bright_{source}", "clean", shot(lit, source), ref=enrolled)
    dim, _ = dim_subject_dark_background(scene, rng_for(name, "dim"))
    yield sample(
        "clean",
        "dim_subject_dark_background",
        "clean",
        shot(dim, "dim", light=0.5),
        ref=encode(shot(dim, "dim_reference", light=0.5)),
    )
    yield sample("clean", "low_bitrate_q18", "clean", shot(scene, "low_bitrate"), quality=18)
    yield sample("clean", "dimmer_evening_gain", "clean", shot(scene, "evening", light=0.5))
    yield sample(
        "clean",
        "lamp_off_part",
        "clean",
        shot(part_lit(scene, rng_for(name, "lamp_off")), "lamp_off"),
    )
    still = view(scene)
    still_reference = encode(shot(still, "view_reference"))
    nudge = rng_for(name, "nudge")
    nudged = view(scene, nudge.choice((-1, 1)) * 0.015, nudge.uniform(-0.01, 0.01), 0.5)
    yield sample("clean", "nudged_1.5pct", "clean", shot(nudged, "nudged"), ref=still_reference)
    live = tuple(encode(shot(still, f"live{k}")) for k in range(3))
    yield Sample(name, "clean", "live_still_sequence", "clean", live[0], still_reference, live)

    # --- faults at three strengths --------------------------------------------------------
    for severity in SEVERITIES:
        tag = (name, severity)
        share = _strength(severity, 0.35, 0.6, 0.8)
        yield sample(
            "too_bright",
            f"clipped_{share:g}",
            severity,
            overexposed(scene, share, rng_for(*tag, "over")),
        )
        yield sample(
            "too_dark",
            f"crushed_{share:g}",
            severity,
            underexposed(scene, share, rng_for(*tag, "under")),
        )

        t = _strength(severity, 0.7, 0.4, 0.22)
        hazy, _ = steam(scene, t, rng_for(*tag, "steam"))
        exposure = auto_exposure(hazy, scene)
        yield sample(
            "low_contrast",
            f"steam_t{t:g}",
            severity,
            capture(hazy, rng_for(*tag, "steam_noise"), exposure=exposure),
            also_accept=_HAZE,
        )
        t = _strength(severity, 0.75, 0.45, 0.25)
        yield sample(
            "low_contrast",
            f"grease_film_t{t:g}",
            severity,
            shot(greasy_film(scene, t), f"film{severity}"),
            also_accept=_HAZE,
        )
        coverage = _strength(severity, 0.3, 0.6, 0.85)
        yield sample(
            "low_contrast",
            f"grease_smear_{coverage:g}",
            severity,
            shot(grease_smear(scene, coverage, rng_for(*tag, "smear")), f"smear{severity}"),
            also_accept=_HAZE,
        )
        t = _strength(severity, 0.6, 0.3, 0.15)
        yield sample(
            "low_contrast",
            f"condensation_t{t:g}",
            severity,
            shot(condensation(scene, t, rng_for(*tag, "fog")), f"fog{severity}"),
            also_accept=_HAZE,
        )

        radius = _strength(severity, 1.2, 3.0, 6.0)
        yield sample(
            "blurred",
            f"defocus_disc_r{radius:g}",
            severity,
            shot(disc_blur(scene, radius * scale), f"defocus{severity}"),
        )
        length = _strength(severity, 3.0, 8.0, 16.0)
        angle = float(rng_for(*tag, "motion").uniform(0, 180))
        yield sample(
            "blurred",
            f"motion_{length:g}px_{angle:.0f}deg",
            severity,
            shot(line_blur(scene, length * scale, angle), f"motion{severity}"),
        )

        # Per channel at mid-grey: about 6, 14 and 25 levels of noise.
        light = _strength(severity, 1 / 10, 1 / 48, 1 / 120)
        yield sample(
            "noisy",
            f"low_light_gain_x{1 / light:g}",
            severity,
            capture(scene, rng_for(*tag, "gain"), light=light),
        )

        pick = rng_for(*tag, "cast")
        cast = str(pick.choice(("warm", "cool", "green", "magenta")))
        gains = cast_gains(cast, severity)
        yield sample(
            "color_cast",
            f"white_balance_{cast}",
            severity,
            shot(scene, f"cast{severity}", gains=gains),
            single_frame=False,
        )
        grey = greyscale_scene(scene)
        yield sample(
            "color_cast",
            f"grey_scene_{cast}",
            severity,
            shot(grey, f"grey_cast{severity}", gains=gains),
            ref=encode(shot(grey, "grey_reference")),
        )

        pick = rng_for(*tag, "bands")
        depth = _strength(severity, 0.05, 0.15, 0.3)
        bands = float(pick.uniform(2.5, 7.0))
        flickering = flicker_bands(scene, depth, bands, float(pick.uniform(0, 2 * np.pi)))
        yield sample(
            "stripes",
            f"flicker_{depth:g}_{bands:.1f}bands",
            severity,
            shot(flickering, f"flicker{severity}"),
        )
        amplitude = _strength(severity, 3.0, 10.0, 20.0)
        cycles = float(pick.uniform(10.0, 50.0))
        tilt = float(pick.choice((0.0, 90.0)) + pick.uniform(-25.0, 25.0))
        yield sample(
            "stripes",
            f"interference_{amplitude:g}_{cycles:.0f}cyc_{tilt:.0f}deg",
            severity,
            interference_bars(
                shot(scene, f"interference{severity}"),
                amplitude,
                cycles,
                tilt,
                float(pick.uniform(0, 2 * np.pi)),
            ),
        )

        pick = rng_for(*tag, "cover")
        coverage = _strength(severity, 0.15, 0.45, 0.75)
        material = str(pick.choice([*sorted(_COVERS), "plastic_bag"]))
        hidden, _ = covered(scene, coverage, material, pick)
        yield sample(
            "occluded",
            f"{material}_{coverage:g}",
            severity,
            shot(hidden, f"cover{severity}"),
        )

        pick = rng_for(*tag, "turned")
        if severity == "severe":
            moved = view(to_radiance(other))
        else:
            pan = _strength(severity, 0.1, float(pick.uniform(0.35, 0.5)), 0.0)
            moved = view(
                scene,
                float(pick.choice((-1, 1))) * pan,
                float(pick.uniform(-0.15, 0.15)) if severity == "clear" else 0.0,
                float(pick.uniform(-8, 8)) if severity == "clear" else 0.0,
            )
        yield sample(
            "scene_changed",
            f"turned_{severity}",
            severity,
            shot(moved, f"turned{severity}"),
            ref=still_reference,
            single_frame=False,
        )

    style = int(rng_for(name, "screen").integers(4))
    yield sample("no_signal", f"screen_{style}", "clear", no_video_screen(width, height, style))
    frozen = encode(shot(scene, "frozen"))
    yield Sample(name, "frozen", "repeated_frame", "clear", frozen, reference, (frozen,) * 3)
    shake = rng_for(name, "shake")
    shaken = []
    swing = shake.uniform(0, np.pi)  # the direction the mount swings in
    for k in range(3):
        # A mount swinging back and forth: each sample is 1-2 % of the view off centre,
        # on the other side of the last, so consecutive samples are 2-4 % apart.
        heading = swing + shake.uniform(-0.3, 0.3)
        reach = (-1) ** k * shake.uniform(0.01, 0.02)
        dx, dy = reach * float(np.cos(heading)), reach * float(np.sin(heading))
        moved = view(scene, dx, dy, float(shake.uniform(-0.5, 0.5)))
        # The mount is still moving while the shutter is open: a short smear along it.
        smeared = line_blur(moved, 1.5 * scale, float(np.degrees(heading)))
        shaken.append(encode(shot(smeared, f"shake{k}")))
    yield Sample(
        name, "jitter", "shaking_mount", "clear", shaken[0], still_reference, tuple(shaken)
    )


def fogging_up(name: str, photo: Picture) -> Iterator[tuple[str, tuple[bytes, ...]]]:
    """A still camera whose lens fogs between its first sample and its second and stays
    fogged, under each veil at severe strength: (veil, four samples). Nothing moved, so no
    pair may read as a shake (the veil itself is the frames' business)."""
    scene = to_radiance(photo)
    veils = {
        "steam": steam(scene, 0.22, rng_for(name, "fogging", "steam"))[0],
        "grease_film": greasy_film(scene, 0.25),
        "grease_smear": grease_smear(scene, 0.85, rng_for(name, "fogging", "smear")),
        "condensation": condensation(scene, 0.15, rng_for(name, "fogging", "fog")),
    }
    clear = encode(capture(scene, rng_for(name, "fogging", "clear")))
    for veil, veiled in veils.items():
        fogged = (encode(capture(veiled, rng_for(name, "fogging", veil, k))) for k in range(3))
        yield veil, (clear, *fogged)


def samples(photos: dict[str, Picture] | None = None) -> Iterator[Sample]:
    """The whole set: every source picture's samples, in name order."""
    photos = photos if photos is not None else load_photos()
    names = sorted(photos)
    for index, name in enumerate(names):
        other = photos[names[(index + len(names) // 2) % len(names)]]
        yield from samples_for(name, photos[name], other)
