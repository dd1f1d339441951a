"""Accuracy of the video quality checks, on two independent degradation models.

- ``first`` (``quality_evalset.py``): the set the thresholds were tuned on;
- ``physical`` (``quality_physical.py``): faults simulated where they happen in a camera,
  written apart from the first so that nothing is tuned to it (issue 15, item 4).

Both models are applied to every source picture: the first set's photographs and the
second's (rendered kitchens, more photographs). The split into "tune" and "report"
(held out) is by picture, the same for both models. Every sample is judged in two modes:
- with reference: how the daemon runs (every camera has its enrolled reference);
- single frame: ``check-frame IMAGE`` alone, the daemon's first sample and the view
  offered as a reference (a colourful scene's colour cast and a scene change need a
  reference and are left out there; a grey scene turned colour is kept).

For each model, mode and check: recall on clear and severe degradations (mild ones are
reported apart: a mild defect need not be flagged) and the share of clean samples that
raise nothing, set against the targets of issue 15. Every miss (a fault not named, a
clean sample that raised something) is written to a file naming the picture, class,
strength, model, mode and what was reported instead. With the physical model, a still
camera's lens fogging up (``quality_physical.fogging_up``) is also counted: the pairs of
samples read as shaken, which must be none (each is a miss in the file); and kitchen
views textured over most of the picture (``kitchen_textures``) or filled with regular
structure (``kitchen_patterns``), on one frame: clean ones must not read as noisy or
striped, noisy or flickering ones must; and a dim view of a lit subject before a dark,
out-of-focus background, eight draws a picture on one frame, which must raise nothing;
and two samples of a still view without a reference (``check-frame --sequence``), where
the noise over time settles what one frame read as noise and bands that roll between the
samples are stripes.

Run: ``.venv/bin/python benchmarks/quality_accuracy.py`` (needs Debian's opencv-doc
package for the photographs: ``apt-get install opencv-doc``; about 16 minutes on one core).
``--suggest`` prints, per metric, the clean extreme and the degraded 5th percentile on the
tune pictures, from which thresholds are chosen.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from testkit import kitchen_patterns, kitchen_textures, quality_evalset, quality_physical

MODES = ("with reference", "single frame")
MODELS = ("first", "physical")
DEFAULT_MISSES = (
    Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "quality_misses.txt"
)

# Targets of issue 15 (item 4), on the held-out pictures at clear + severe strength.
SPLIT_LABELS = (("report", "held out"), ("tune", "used for tuning"))  # report order
RECALL_GOAL = 0.95
CLEAN_GOAL = {"with reference": 0.98, "single frame": 0.97}
SINGLE_FRAME_TARGETED = frozenset(
    {"too_dark", "too_bright", "low_contrast", "blurred", "noisy", "no_signal", "color_cast"}
)
SEQUENCE_CHECKS = frozenset({"frozen", "jitter"})  # judged on samples in a row, either mode
REPORT_ORDER = (
    "no_signal",
    "frozen",
    "too_dark",
    "too_bright",
    "blurred",
    "low_contrast",
    "color_cast",
    "noisy",
    "stripes",
    "occluded",
    "scene_changed",
    "jitter",
)


# --- the adapter: the only place that knows the agent's quality API ----------------------


@dataclass
class Judgement:
    codes: list[str]
    metrics: dict[str, float | None]
    undecided: list[str]  # single frame: the checks it says it cannot judge without a reference


class QualityAdapter:
    """Judges JPEG bytes the way the agent does (its reduced decode, then the checks).
    References are prepared once per distinct reference picture."""

    def __init__(self) -> None:
        from agent.capture.decode import decode_for_analysis
        from agent.capture.quality import (
            analyse,
            check_sequence,
            make_reference,
            pair_issues,
            prepare,
        )
        from agent.capture.quality.renewal import renewal
        from agent.config.quality import QualityConfig

        self._settings = QualityConfig()
        self._renewal = renewal
        width = self._settings.analysis_width
        self._frame = lambda jpeg: prepare(decode_for_analysis(jpeg, width), width)
        self._analyse = analyse
        self._check_sequence = check_sequence
        self._pair_issues = pair_issues
        self._make_reference = make_reference
        self._references: dict[bytes, Any] = {}

    def judge(self, jpeg: bytes, reference_jpeg: bytes | None) -> Judgement:
        reference = None
        if reference_jpeg is not None:
            reference = self._references.get(reference_jpeg)
            if reference is None:
                reference = self._make_reference(self._frame(reference_jpeg))
                self._references[reference_jpeg] = reference
        report = self._analyse(self._frame(jpeg), self._settings, reference)
        return Judgement(
            [issue.code for issue in report.issues],
            dict(report.metrics),
            [item.code for item in report.undecided],
        )

    def renewal(self, reference_jpeg: bytes, jpeg: bytes) -> tuple[str, ...]:
        """What the daemon does with a sample ``jpeg`` of a camera whose reference is
        ``reference_jpeg``: the codes the old reference showed when the sample replaces it,
        () when it stays (references made here are not kept: there are thousands)."""
        reference = self._make_reference(self._frame(reference_jpeg))
        frame = self._frame(jpeg)
        report = self._analyse(frame, self._settings, reference)
        return tuple(self._renewal(frame, report, reference, self._settings))

    def judge_sequence(self, jpegs: Iterable[bytes]) -> list[str]:
        frames = [self._frame(jpeg) for jpeg in jpegs]
        return [issue.code for issue in self._check_sequence(frames, self._settings)]

    def shaken(self, jpegs: Iterable[bytes]) -> tuple[int, bool]:
        """How many consecutive pairs the daemon reads as shaken (its per-sample form),
        and whether the samples as a sequence raise jitter (``check-frame --sequence``)."""
        frames = [self._frame(jpeg) for jpeg in jpegs]
        pairs = sum(
            any(issue.code == "jitter" for issue in self._pair_issues(a, b, self._settings))
            for a, b in itertools.pairwise(frames)
        )
        sequence = self._check_sequence(frames, self._settings)
        return pairs, any(issue.code == "jitter" for issue in sequence)

    def judge_samples(self, jpegs: Iterable[bytes]) -> tuple[list[str], list[str]]:
        """Samples of one camera without a reference, as ``check-frame --sequence`` judges
        them: what the last raises on one frame, and what it raises once the samples'
        noise over time settled it, with what the sequence raises."""
        from agent.capture.quality import noise_in_time, settle_noise

        frames = [self._frame(jpeg) for jpeg in jpegs]
        alone = self._analyse(frames[-1], self._settings, None).issues
        settled = settle_noise(alone, noise_in_time(frames), self._settings)
        sequence = self._check_sequence(frames, self._settings, [settled])
        codes = [issue.code for issue in settled + sequence]
        return [issue.code for issue in alone], list(dict.fromkeys(codes))

    def forget_references(self) -> None:
        self._references.clear()


# --- the evaluation ------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One sample of either model, in the shape the evaluation needs."""

    model: str
    photo: str
    kind: str
    variant: str
    severity: str
    jpeg: bytes
    reference_jpeg: bytes
    sequence: tuple[bytes, ...] | None
    accepted: frozenset[str]  # codes that count as naming the fault
    modes: tuple[str, ...]


@dataclass
class Result:
    model: str
    photo: str
    split: str
    mode: str
    kind: str
    variant: str
    severity: str
    accepted: frozenset[str]
    codes: list[str]
    metrics: dict[str, float | None] = field(default_factory=dict)
    undecided: list[str] = field(default_factory=list)  # "cannot judge without a reference"

    @property
    def correct(self) -> bool:
        if self.kind == "clean":
            return not self.codes
        return bool(self.accepted & set(self.codes))

    @property
    def said_undecided(self) -> bool:
        """A fault missed, but the check said one frame cannot settle it: the user is told
        to judge against a reference, not that the view is fine."""
        return (
            not self.correct and self.kind != "clean" and bool(self.accepted & set(self.undecided))
        )


def _first_modes(item: quality_evalset.Item) -> tuple[str, ...]:
    single = not (
        item.kind == "scene_changed"
        or item.variant == "nudged_2pct"
        or (item.kind == "color_cast" and not item.variant.startswith("grey_scene"))
    )
    return MODES if single else MODES[:1]


def first_cases(photos: dict[str, np.ndarray]) -> Iterator[Case]:
    for item in quality_evalset.items(photos):
        yield Case(
            "first",
            item.photo,
            item.kind,
            item.variant,
            item.severity,
            item.jpeg,
            item.reference_jpeg,
            None if item.sequence is None else tuple(item.sequence),
            frozenset({item.kind}),
            _first_modes(item),
        )


def physical_cases(photos: dict[str, np.ndarray]) -> Iterator[Case]:
    for sample in quality_physical.samples(photos):
        yield Case(
            "physical",
            sample.photo,
            sample.kind,
            sample.variant,
            sample.severity,
            sample.jpeg,
            sample.reference_jpeg,
            sample.sequence,
            frozenset({sample.kind}) | sample.also_accept,
            MODES if sample.single_frame else MODES[:1],
        )


def evaluate(cases: Iterable[Case], adapter: QualityAdapter, keep_metrics: bool) -> list[Result]:
    results: list[Result] = []
    photo = None
    for case in cases:
        if case.photo != photo:  # references are per picture: keep the cache small
            adapter.forget_references()
            photo = case.photo
        sequence_codes = adapter.judge_sequence(case.sequence) if case.sequence else []
        for mode in case.modes:
            reference = case.reference_jpeg if mode == "with reference" else None
            judgement = adapter.judge(case.jpeg, reference)
            codes = list(dict.fromkeys(judgement.codes + sequence_codes))
            if case.kind in SEQUENCE_CHECKS:
                codes = sequence_codes
            results.append(
                Result(
                    case.model,
                    case.photo,
                    quality_evalset.split_of(case.photo),
                    mode,
                    case.kind,
                    case.variant,
                    case.severity,
                    case.accepted,
                    codes,
                    judgement.metrics if keep_metrics else {},
                    judgement.undecided,
                )
            )
    return results


def miss_line(
    model: str,
    split: str,
    mode: str,
    photo: str,
    kind: str,
    severity: str,
    variant: str,
    reported: str,
) -> str:
    """One line of the misses file (its columns: ``misses``' header)."""
    return "\t".join((model, split, mode, photo, kind, severity, variant, reported))


@dataclass(frozen=True)
class Fogging:
    """A still camera's lens fogging up (``quality_physical.fogging_up``): nothing moved."""

    photo: str
    split: str
    veil: str
    pairs: int
    shaken_pairs: int
    sequence_jitter: bool


def fogging_up(photos: dict[str, np.ndarray], adapter: QualityAdapter) -> list[Fogging]:
    out = []
    for name in sorted(photos):
        for veil, jpegs in quality_physical.fogging_up(name, photos[name]):
            shaken, sequence = adapter.shaken(jpegs)
            split = quality_evalset.split_of(name)
            out.append(Fogging(name, split, veil, len(jpegs) - 1, shaken, sequence))
    return out


def fogging_lines(results: list[Fogging]) -> list[str]:
    lines = [
        "--- a still camera's lens fogging up (the physical model's steam, grease film, smear "
        "and condensation, severe): no pair may read as a shake"
    ]
    for split, label in SPLIT_LABELS:
        rows = [r for r in results if r.split == split]
        pairs = sum(r.pairs for r in rows)
        shaken = sum(r.shaken_pairs for r in rows)
        raised = sum(r.sequence_jitter for r in rows)
        lines.append(
            f"  {label:15s}: pairs read as shaken {shaken}/{pairs}; sequences raising "
            f"jitter {raised}/{len(rows)}"
        )
    return lines


def fogging_misses(results: list[Fogging]) -> list[str]:
    return [
        miss_line(
            "physical",
            r.split,
            "sequence",
            r.photo,
            "fogging_up",
            "severe",
            r.veil,
            f"jitter ({r.shaken_pairs} of {r.pairs} pairs"
            + (", and the sequence" if r.sequence_jitter else "")
            + ")",
        )
        for r in results
        if r.shaken_pairs or r.sequence_jitter
    ]


RENEWED_KINDS = ("low_contrast", "blurred")  # a reference taken through these must heal


@dataclass(frozen=True)
class Renewal:
    """A camera enrolled on one sample of a picture, then shown another of the same scene
    (``renewal.py``): a reference taken through a veil or a soft lens, then the clean
    view (it should be replaced); or a clean reference, then any other sample (it must
    not be). A reference taken through another fault (a cover, bands) may be replaced
    by the clean view too; that is counted apart."""

    model: str
    split: str
    photo: str
    reference_kind: str  # the enrolled sample's class, variant and strength
    reference_variant: str
    severity: str
    view: str  # kind/variant of the later sample
    codes: tuple[str, ...]  # what the old reference showed; (): it stayed

    @property
    def reference(self) -> str:
        return f"{self.reference_kind}/{self.reference_variant}"

    @property
    def should_renew(self) -> bool:
        return self.reference_kind in RENEWED_KINDS


def with_renewals(
    cases: Iterable[Case], adapter: QualityAdapter, found: list[Renewal]
) -> Iterator[Case]:
    """The cases, passed on unchanged; each picture's renewals are judged (into
    ``found``) once its samples have gone by (every model yields them picture by
    picture), so the samples are made once."""
    group: list[Case] = []
    for case in cases:
        if group and case.photo != group[0].photo:
            found.extend(_renewals_of(group, adapter))
            group = []
        group.append(case)
        yield case
    if group:
        found.extend(_renewals_of(group, adapter))


def _renewals_of(group: list[Case], adapter: QualityAdapter) -> list[Renewal]:
    single = [c for c in group if c.sequence is None and c.kind not in SEQUENCE_CHECKS]
    clean = next(
        (c for c in single if c.kind == "clean" and c.variant in ("as_is", "original")), None
    )
    if clean is None:
        return []
    split = quality_evalset.split_of(clean.photo)

    def judged(reference: Case, view: Case) -> Renewal:
        return Renewal(
            clean.model,
            split,
            clean.photo,
            reference.kind,
            reference.variant,
            reference.severity,
            f"{view.kind}/{view.variant}",
            adapter.renewal(reference.jpeg, view.jpeg),
        )

    out = [judged(c, clean) for c in single if c.kind != "clean"]
    out += [judged(clean, c) for c in single if c is not clean]
    return out


def renewal_lines(results: list[Renewal]) -> list[str]:
    lines = [
        "--- references taken through a veil or a soft lens, then the clean view: renewed "
        "(clear + severe; mild apart); a clean reference replaced by any later sample: never"
    ]
    for split, label in SPLIT_LABELS:
        for model in sorted({r.model for r in results}):
            rows = [r for r in results if r.model == model and r.split == split]
            faulty = [r for r in rows if r.reference_kind != "clean"]
            cells = []
            for kind in RENEWED_KINDS:
                for mild in (False, True):
                    of = [
                        r
                        for r in faulty
                        if r.reference_kind == kind and (r.severity == "mild") == mild
                    ]
                    renewed = sum(bool(r.codes) for r in of)
                    cells.append(f"{kind}{' mild' if mild else ''} {renewed}/{len(of)}")
            other = [r for r in faulty if not r.should_renew]
            kept = [r for r in rows if r.reference_kind == "clean"]
            lines.append(
                f"  {model:8s} {label:15s}: {', '.join(cells)}; other faults "
                f"{sum(bool(r.codes) for r in other)}/{len(other)}; clean replaced "
                f"{sum(bool(r.codes) for r in kept)}/{len(kept)}"
            )
    return lines


def renewal_misses(results: list[Renewal]) -> list[str]:
    out = []
    for r in results:
        if r.should_renew and r.severity != "mild" and not r.codes:
            told = "kept (the clean view did not replace it)"
        elif r.reference_kind == "clean" and r.codes:
            told = f"replaced by {r.view} ({', '.join(r.codes)})"
        else:
            continue
        out.append(
            miss_line(
                r.model,
                r.split,
                "reference renewal",
                r.photo,
                r.reference_kind,
                r.severity,
                r.reference_variant,
                told,
            )
        )
    return out


@dataclass(frozen=True)
class ProbeView:
    """A view made for one check (``kitchen_textures``, ``kitchen_patterns``) through the
    physical camera, judged on one frame. Only that check (``watched``) is counted: a
    heap of herbs is green all over, which one frame may call a colour cast (a cast is
    only judged on grey scenes), and a pale tiled wall is not what the stripes line
    measures."""

    name: str  # the picture: scene, draw and setting
    group: str  # the line it is counted in (a plate's share, a pattern)
    split: str
    variant: str
    severity: str  # "clean", or the fault's strength
    watched: str  # the check measured
    codes: list[str]
    mode: str = "single frame"

    @property
    def faulty(self) -> bool:
        return self.severity != "clean"

    @property
    def missed(self) -> bool:
        return self.faulty != (self.watched in self.codes)


# Textured views: seeds 0-2 were made to decide the noise floor's rule; 3-5 were first
# seen in the benchmark's figures.
TEXTURE_TUNE_SEEDS = 3
TEXTURE_SEEDS = 6
TEXTURE_SHOTS = (  # variant, light (under 1: a dimmer scene brought back by gain), severity
    ("as_is", 1.0, "clean"),
    ("dimmer_evening_gain", 0.5, "clean"),
    ("low_light_gain_x48", 1 / 48, "clear"),
    ("low_light_gain_x120", 1 / 120, "severe"),
)
# Patterned views: the stripes rule was decided on a draft of the same four structures
# (other pictures); seeds 0-5 are labelled tune all the same, 6-11 are held out.
PATTERN_TUNE_SEEDS = 6
PATTERN_SEEDS = 12
PATTERN_SHOTS = (  # variant, flicker bands a frame (0: none), depth, severity
    ("as_is", 0.0, 0.0, "clean"),
    ("flicker_0.15_12.5bands", 12.5, 0.15, "clear"),
    ("flicker_0.3_19.5bands", 19.5, 0.3, "severe"),
)


def textured_views(adapter: QualityAdapter) -> list[ProbeView]:
    out = []
    for texture, seed, share, picture in kitchen_textures.scenes(TEXTURE_SEEDS):
        scene = quality_physical.to_radiance(picture)
        split = "tune" if seed < TEXTURE_TUNE_SEEDS else "report"
        for variant, light, severity in TEXTURE_SHOTS:
            rng = quality_physical.rng_for(texture, seed, share, variant)
            shot = quality_physical.capture(scene, rng, light=light)
            codes = adapter.judge(quality_physical.encode(shot), None).codes
            name = f"texture/{texture}_{seed}_plate{share:g}"
            group = f"plate {share:4.0%}"
            out.append(ProbeView(name, group, split, variant, severity, "noisy", codes))
    return out


def patterned_views(adapter: QualityAdapter) -> list[ProbeView]:
    out = []
    for pattern, seed, roll, picture in kitchen_patterns.scenes(range(PATTERN_SEEDS)):
        scene = quality_physical.to_radiance(picture)
        split = "tune" if seed < PATTERN_TUNE_SEEDS else "report"
        for variant, bands, depth, severity in PATTERN_SHOTS:
            phase = float(seed)  # where the bands fall differs from view to view
            lit = quality_physical.flicker_bands(scene, depth, bands, phase) if bands else scene
            rng = quality_physical.rng_for(pattern, seed, roll, variant)
            shot = quality_physical.capture(lit, rng)
            codes = adapter.judge(quality_physical.encode(shot), None).codes
            name = f"pattern/{pattern}_{seed}_roll{roll:g}"
            out.append(ProbeView(name, pattern, split, variant, severity, "stripes", codes))
    return out


def probe_lines(title: str, results: list[ProbeView]) -> list[str]:
    lines = [f"--- {title}"]
    for split, label in SPLIT_LABELS:
        for group in dict.fromkeys(r.group for r in results):
            rows = [r for r in results if r.split == split and r.group == group]
            clean = [r for r in rows if not r.faulty]
            faulty = [r for r in rows if r.faulty]
            watched = rows[0].watched if rows else ""
            lines.append(
                f"  {label:15s} {group:12s}: clean read as {watched} "
                f"{sum(r.missed for r in clean)}/{len(clean)}; {watched} caught "
                f"{sum(not r.missed for r in faulty)}/{len(faulty)}"
            )
    return lines


def probe_misses(results: list[ProbeView]) -> list[str]:
    return [
        miss_line(
            "physical",
            r.split,
            r.mode,
            r.name,
            r.watched if r.faulty else "clean",
            r.severity,
            r.variant,
            ", ".join(r.codes) or "nothing (ok)",
        )
        for r in results
        if r.missed
    ]


# Two samples of one still view, without a reference (``check-frame --sequence``): the
# textured views filled edge to edge and every picture through the physical camera,
# clean and at the noisy strengths. ``sequence.settle_noise``'s share was decided on the
# tune half.
STILL_TITLE = (
    "two samples of a still view without a reference (check-frame --sequence; only `noisy` "
    "counted): the later sample alone, then settled by the noise over time"
)
STILL_SHOTS = (  # variant, light, severity: the textured views' shots
    ("as_is", 1.0, "clean"),
    ("dimmer_evening_gain", 0.5, "clean"),
    ("low_light_gain_x48", 1 / 48, "clear"),
    ("low_light_gain_x120", 1 / 120, "severe"),
)


def _judged_twice(
    adapter: QualityAdapter,
    view: tuple[str, str, str],
    variant: str,
    severity: str,
    watched: str,
    pictures: Iterable[np.ndarray],
) -> list[ProbeView]:
    """``pictures`` of one view (name, group, split) judged as samples of a camera without
    a reference: the last alone ("single frame") and with the rest ("two frames")."""
    alone, both = adapter.judge_samples(quality_physical.encode(p) for p in pictures)
    return [
        ProbeView(*view[:3], variant, severity, watched, codes, mode)
        for mode, codes in (("single frame", alone), ("two frames", both))
    ]


def still_pairs(
    photos: dict[str, np.ndarray], adapter: QualityAdapter, seeds: int = TEXTURE_SEEDS
) -> list[ProbeView]:
    """Each still view taken twice, the later sample judged alone (mode "single frame")
    and settled by both ("two frames"): the textured views without a plate (the only ones
    one frame reads as noisy) and ``photos``."""
    views = []
    for texture, seed, share, picture in kitchen_textures.scenes(seeds, (0.0,)):
        split = "tune" if seed < TEXTURE_TUNE_SEEDS else "report"
        views.append((f"texture/{texture}_{seed}_plate{share:g}", "textured", split, picture))
    for name in sorted(photos):
        views.append((name, "pictures", quality_evalset.split_of(name), photos[name]))
    out = []
    for name, group, split, picture in views:
        scene = quality_physical.to_radiance(picture)
        for variant, light, severity in STILL_SHOTS:
            shots = (
                quality_physical.capture(
                    scene, quality_physical.rng_for(name, "still", variant, k), light=light
                )
                for k in range(2)
            )
            out += _judged_twice(adapter, (name, group, split), variant, severity, "noisy", shots)
    return out


def pair_lines(title: str, results: list[ProbeView], fault: str) -> list[str]:
    """A line per split and group of views taken twice: clean ones read as the watched
    check and faulty ones caught, one frame -> two frames."""
    lines = [f"--- {title}"]
    for split, label in SPLIT_LABELS:
        for group in dict.fromkeys(r.group for r in results):
            rows = [r for r in results if r.split == split and r.group == group]

            def count(mode: str, faulty: bool, rows: list[ProbeView] = rows) -> str:
                picked = [r for r in rows if r.mode == mode and r.faulty == faulty]
                return f"{sum(r.watched in r.codes for r in picked)}/{len(picked)}"

            watched = rows[0].watched if rows else ""
            lines.append(
                f"  {label:15s} {group:9s}: clean read as {watched} "
                f"{count('single frame', False)} -> {count('two frames', False)}; {fault} "
                f"caught {count('single frame', True)} -> {count('two frames', True)}"
            )
    return lines


def still_lines(results: list[ProbeView]) -> list[str]:
    return pair_lines(STILL_TITLE, results, "noisy")


# Bands that roll between two samples of a still view, without a reference
# (``check-frame --sequence``): mains flicker and interference bars whose phase moved
# between the samples (flicker not locked to the frame rate), over every picture and over
# the patterned views; and clean pairs of the same views. Nothing was decided on it: the
# limit is the with-reference stripes limit.
ROLLING_TITLE = (
    "bands that roll between two samples of a still view without a reference (check-frame "
    "--sequence; only `stripes` counted): the later sample alone, then with the sequence"
)


def rolling_pairs(
    photos: dict[str, np.ndarray], adapter: QualityAdapter, seeds: int = PATTERN_SEEDS
) -> list[ProbeView]:
    """Each view twice: clean, and under flicker or interference bars that moved between
    the samples (clear and severe strengths of the physical model's own)."""
    views = [(name, "pictures", quality_evalset.split_of(name), photos[name]) for name in photos]
    for pattern, seed, roll, picture in kitchen_patterns.scenes(range(seeds)):
        split = "tune" if seed < PATTERN_TUNE_SEEDS else "report"
        views.append((f"pattern/{pattern}_{seed}_roll{roll:g}", "patterned", split, picture))
    out = []
    for name, group, split, picture in sorted(views, key=lambda view: view[0]):
        scene = quality_physical.to_radiance(picture)
        pick = quality_physical.rng_for(name, "rolling")
        shots: list[tuple[str, str, list[np.ndarray]]] = [
            ("clean", "clean", [quality_physical.capture(scene, pick) for _ in range(2)])
        ]
        for severity, depth, amplitude in (("clear", 0.15, 10.0), ("severe", 0.3, 20.0)):
            bands = float(pick.uniform(2.5, 7.0))
            start = float(pick.uniform(0, 2 * np.pi))
            phases = (start, start + float(pick.uniform(0.6, 2 * np.pi - 0.6)))
            flicker = [
                quality_physical.capture(
                    quality_physical.flicker_bands(scene, depth, bands, p), pick
                )
                for p in phases
            ]
            shots.append((f"flicker_{depth:g}_{bands:.1f}bands", severity, flicker))
            cycles = float(pick.uniform(10.0, 50.0))
            tilt = float(pick.choice((0.0, 90.0)) + pick.uniform(-25.0, 25.0))
            bars = [
                quality_physical.interference_bars(
                    quality_physical.capture(scene, pick), amplitude, cycles, tilt, p
                )
                for p in phases
            ]
            shots.append(
                (f"interference_{amplitude:g}_{cycles:.0f}cyc_{tilt:.0f}deg", severity, bars)
            )
        for variant, severity, pictures in shots:
            view = (name, group, split)
            out += _judged_twice(adapter, view, variant, severity, "stripes", pictures)
    return out


def rolling_lines(results: list[ProbeView]) -> list[str]:
    return pair_lines(ROLLING_TITLE, results, "bands")


TEXTURED_TITLE = (
    "kitchen views textured over most of the picture (rice, herbs, granite, a coir mat, a "
    "grease filter; single frame; only `noisy` counted), by the share of a smooth plate"
)
PATTERNED_TITLE = (
    "kitchen views filled with regular structure (a tiled wall, shelving, louvres, drawer "
    "fronts; single frame; only `stripes` counted), clean and under flicker"
)


# A dim but healthy view of a lit subject before a dark, out-of-focus background (issue 15's
# third failure). The physical model's clean samples make one draw of it per picture; this
# line makes eight (the subject's place, size and light differ), judged on one frame, and
# counts every alarm: nothing was decided on it.
DIM_SUBJECT_DRAWS = 8
DIM_SUBJECT_TITLE = (
    "a dim view of a lit subject before a dark, out-of-focus background (eight draws a "
    "picture, the subject over 15-40 % of the view; single frame; every alarm counted)"
)


@dataclass(frozen=True)
class DimSubjectView:
    photo: str
    split: str
    variant: str  # the draw and the subject's share of the view
    codes: list[str]


def dim_subject_views(
    photos: dict[str, np.ndarray], adapter: QualityAdapter
) -> list[DimSubjectView]:
    out = []
    for name in sorted(photos):
        scene = quality_physical.to_radiance(photos[name])
        for draw in range(DIM_SUBJECT_DRAWS):
            rng = quality_physical.rng_for(name, "dim subject", draw)
            lit, subject = quality_physical.dim_subject_dark_background(scene, rng)
            shot = quality_physical.capture(lit, rng)
            codes = adapter.judge(quality_physical.encode(shot), None).codes
            variant = f"dim_subject_draw{draw}_share{float(subject.mean()):.2f}"
            out.append(DimSubjectView(name, quality_evalset.split_of(name), variant, codes))
    return out


def dim_subject_lines(results: list[DimSubjectView]) -> list[str]:
    lines = [f"--- {DIM_SUBJECT_TITLE}"]
    for split, label in SPLIT_LABELS:
        rows = [r for r in results if r.split == split]
        raised = Counter(code for r in rows for code in r.codes)
        which = ", ".join(f"{code} {count}" for code, count in sorted(raised.items()))
        lines.append(
            f"  {label:15s}: clean read as anything {sum(bool(r.codes) for r in rows)}/"
            f"{len(rows)}{f' ({which})' if which else ''}"
        )
    return lines


def dim_subject_misses(results: list[DimSubjectView]) -> list[str]:
    return [
        miss_line(
            "physical",
            r.split,
            "single frame",
            r.photo,
            "clean",
            "clean",
            r.variant,
            ", ".join(r.codes),
        )
        for r in results
        if r.codes
    ]


# --- the report ----------------------------------------------------------------------------


def _cell(hits: int, total: int) -> str:
    return f"{hits:3d}/{total:<3d} {100.0 * hits / total:5.1f} %" if total else "    n/a       "


def _target(mode: str, kind: str) -> float | None:
    if kind == "clean":
        return CLEAN_GOAL[mode]
    if mode == "with reference":
        return RECALL_GOAL
    if kind in SINGLE_FRAME_TARGETED:
        return RECALL_GOAL
    return None  # occluded, stripes: as high as one frame allows; sequences: see above


def table(results: list[Result], model: str, split: str) -> tuple[list[str], dict[str, bool]]:
    """One model's figures on one split: a row per class, the two modes side by side.
    Returns the lines and, per mode, whether every target was met."""
    rows = [r for r in results if r.model == model and (split == "all" or r.split == split)]
    met = dict.fromkeys(MODES, True)
    header = f"  {'class':13s}" + "".join(
        f" | {mode + ': clear+severe':31s} {'mild':14s}" for mode in MODES
    )
    lines = [header]
    for kind in ("clean", *REPORT_ORDER):
        line = f"  {kind:13s}"
        present = False
        for mode in MODES:
            group = [r for r in rows if r.mode == mode and r.kind == kind]
            strong = [r for r in group if r.severity in ("clear", "severe", "clean")]
            mild = [r for r in group if r.severity == "mild"]
            hits = sum(r.correct for r in strong)
            goal = _target(mode, kind)
            if kind in SEQUENCE_CHECKS and mode == "single frame":
                goal = None
            verdict = ""
            if strong and goal is not None:
                ok = hits / len(strong) >= goal
                met[mode] = met[mode] and ok
                verdict = "met" if ok else "NOT met"
            elif strong:
                verdict = "as is"
            present = present or bool(group)
            mild_cell = _cell(sum(r.correct for r in mild), len(mild)) if mild else ""
            line += f" | {_cell(hits, len(strong))} {verdict:8s}   {mild_cell:14s}"
        if present:
            lines.append(line)
    for mode in MODES:
        # A fault named, but with a wrong finding beside it (steam also read as a cover).
        beside: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for r in rows:
            if r.mode == mode and r.kind != "clean" and r.severity != "mild" and r.correct:
                for code in set(r.codes) - r.accepted:
                    beside[r.kind][code] += 1
        if beside:
            listed = "; ".join(
                f"{kind}: " + ", ".join(f"{code} {n}" for code, n in sorted(codes.items()))
                for kind, codes in sorted(beside.items())
            )
            lines.append(f"  caught, but also raised ({mode}): {listed}")
    for mode in MODES:
        alarms: dict[str, int] = defaultdict(int)
        for r in rows:
            if r.mode == mode and r.kind == "clean":
                for code in r.codes:
                    alarms[code] += 1
        if alarms:
            listed = ", ".join(f"{code} {n}" for code, n in sorted(alarms.items()))
            lines.append(f"  false alarms on clean samples ({mode}): {listed}")
    lines.extend(_undecided_lines(rows))
    return lines, met


def _undecided_lines(rows: list[Result]) -> list[str]:
    """Where one frame cannot tell, the check says so (issue 15): of each class's misses on
    one frame, how many it said it cannot judge without a reference, and how many clean
    views carry that note (a note, not an alarm: they still count as clean)."""
    single = [r for r in rows if r.mode == "single frame" and r.severity != "mild"]
    clean = [r for r in single if r.kind == "clean"]
    noted = sum(bool(r.undecided) for r in clean)
    by_check: dict[str, int] = defaultdict(int)
    for r in clean:
        for code in r.undecided:
            by_check[code] += 1
    said = []
    for kind in REPORT_ORDER:
        missed = [r for r in single if r.kind == kind and not r.correct]
        told = sum(r.said_undecided for r in missed)
        if told:
            said.append(f"{kind} {told} of {len(missed)}")
    if not said and not noted:
        return []
    checks = ", ".join(f"{code} {n}" for code, n in sorted(by_check.items()))
    return [
        "  cannot judge without a reference (single frame): said for the misses of "
        f"{', '.join(said) or 'no class'}; noted on {noted} of {len(clean)} clean samples"
        + (f" ({checks})" if checks else "")
    ]


def misses(results: list[Result]) -> list[str]:
    header = "model\tsplit\tmode\tphoto\tclass\tstrength\tvariant\treported instead"
    out = []
    for r in results:
        if r.correct:
            continue
        reported = ", ".join(r.codes) if r.codes else "nothing (ok)"
        if r.said_undecided:
            told = ", ".join(code for code in r.undecided if code in r.accepted)
            reported += f"; said {told}: cannot judge without a reference"
        out.append(
            miss_line(r.model, r.split, r.mode, r.photo, r.kind, r.severity, r.variant, reported)
        )
    order = {m: i for i, m in enumerate(MODELS)}

    def key(line: str) -> tuple[object, ...]:
        model, split, mode, photo, kind, strength, *_ = line.split("\t")
        # Mild misses last: a mild defect need not be flagged.
        return (order[model], strength == "mild", split, mode, kind, strength, photo, line)

    out.sort(key=key)
    return [header, *out]


_SUGGEST = {  # check -> (metric with reference, metric single frame, True when high is bad)
    "too_dark": ("brightness", "brightness", False),
    "too_bright": ("brightness", "brightness", True),
    "blurred": ("blur_rise", "blur", True),
    "low_contrast": ("contrast_kept", "contrast", False),
    "color_cast": ("cast_shift", "tint", True),
    "noisy": ("noise_rise", "noise_floor", True),
    "stripes": ("stripes_rise", "stripes", True),
    "occluded": ("occlusion", "blank_edge", True),
    "scene_changed": ("view_lost", None, True),
    "no_signal": ("uniformity", "uniformity", True),
}


def suggest(results: list[Result]) -> None:
    for mode_index, mode in enumerate(MODES):
        print(f"[{mode}] tune split: clean extreme / 99th pct vs clearly degraded 5th pct")
        rows = [r for r in results if r.mode == mode and r.split == "tune"]
        clean = [r for r in rows if r.kind == "clean"]
        for code, spec in _SUGGEST.items():
            metric = spec[mode_index]
            if metric is None or not isinstance(metric, str):
                continue
            high_bad = bool(spec[2])

            def values(group: list[Result], name: str = metric) -> np.ndarray:
                found = [r.metrics.get(name) for r in group]
                return np.array([v for v in found if v is not None], dtype=np.float64)

            good = values(clean)
            bad = values([r for r in rows if r.kind == code and r.severity in ("clear", "severe")])
            if not len(good) or not len(bad):
                continue
            edge = (
                (np.max(good), np.percentile(good, 99), np.percentile(bad, 5))
                if high_bad
                else (np.min(good), np.percentile(good, 1), np.percentile(bad, 95))
            )
            print(
                f"    {code:13s} {metric:14s} clean {edge[0]:8.3f} / {edge[1]:8.3f}   "
                f"degraded {edge[2]:8.3f}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", default=",".join(MODELS), help="comma-separated: first, physical"
    )
    parser.add_argument(
        "--misses", type=Path, default=DEFAULT_MISSES, help="where to write every miss"
    )
    parser.add_argument("--photos", type=int, default=0, help="only the first N of each source")
    parser.add_argument("--suggest", action="store_true", help="print threshold evidence")
    args = parser.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")

    def limited(photos: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = sorted(photos)[: args.photos] if args.photos else sorted(photos)
        return {name: photos[name] for name in names}

    first_photos = limited(quality_evalset.load_photos())
    second_photos = limited(quality_physical.load_photos())
    started = time.monotonic()
    adapter = QualityAdapter()
    results: list[Result] = []
    renewals: list[Renewal] = []
    if "first" in models:
        # Its own photographs and the second set's apart, so that the figures on its own
        # photographs stay as they were before the second set was added.
        for photos in (first_photos, second_photos):
            cases = with_renewals(first_cases(photos), adapter, renewals)
            results += evaluate(cases, adapter, args.suggest)
    fogging: list[Fogging] = []
    dim_subjects: list[DimSubjectView] = []
    probes: list[tuple[str, list[ProbeView]]] = []
    still: list[ProbeView] = []
    rolling: list[ProbeView] = []
    if "physical" in models:
        every = {**first_photos, **second_photos}
        cases = with_renewals(physical_cases(every), adapter, renewals)
        results += evaluate(cases, adapter, args.suggest)
        fogging = fogging_up(every, adapter)
        dim_subjects = dim_subject_views(every, adapter)
        probes = [
            (TEXTURED_TITLE, textured_views(adapter)),
            (PATTERNED_TITLE, patterned_views(adapter)),
        ]
        still = still_pairs(every, adapter)
        rolling = rolling_pairs(every, adapter)
    pictures = sorted({r.photo for r in results})
    counts = {
        s: sum(quality_evalset.split_of(p) == s for p in pictures) for s in ("tune", "report")
    }
    print(
        f"{len(pictures)} pictures ({counts['tune']} tune, {counts['report']} held out), "
        f"{len(results)} judgements in {time.monotonic() - started:.0f} s",
        file=sys.stderr,
    )
    if args.suggest:
        suggest(results)
    block = [
        "```text",
        f"quality_accuracy: default thresholds; {len(first_photos)} photographs of the first "
        f"set + {len(second_photos)} kitchen-like pictures (rendered kitchens, more photographs)",
        f"targets (issue 15): with reference every class >= {RECALL_GOAL:.0%}, clean >= "
        f"{CLEAN_GOAL['with reference']:.0%}; single frame "
        f"{', '.join(sorted(SINGLE_FRAME_TARGETED))} >= {RECALL_GOAL:.0%} (colour cast: a grey "
        f"scene), clean >= {CLEAN_GOAL['single frame']:.0%}; occluded, stripes: as is",
    ]
    verdicts = []
    for split, label in SPLIT_LABELS:
        for model in models:
            shown = sorted({r.photo for r in results if r.model == model and r.split == split})
            block.append(f"--- {model} model, {split} pictures ({len(shown)}, {label})")
            lines, met = table(results, model, split)
            block.extend(lines)
            if split == "report":
                verdicts += [
                    f"{model} model {mode}: {'met' if ok else 'NOT met'}"
                    for mode, ok in met.items()
                ]
    if fogging:
        block.extend(fogging_lines(fogging))
    if dim_subjects:
        block.extend(dim_subject_lines(dim_subjects))
    for title, views in probes:
        block.extend(probe_lines(title, views))
    if still:
        block.extend(still_lines(still))
    if rolling:
        block.extend(rolling_lines(rolling))
    if renewals:
        block.extend(renewal_lines(renewals))
    block.append("targets on held-out pictures: " + "; ".join(verdicts))
    block.append("```")
    print("\n".join(block))
    missed = misses(results) + fogging_misses(fogging) + renewal_misses(renewals)
    missed += dim_subject_misses(dim_subjects)
    for _, views in probes:
        missed += probe_misses(views)
    missed += probe_misses([r for r in still + rolling if r.mode == "two frames"])
    args.misses.parent.mkdir(parents=True, exist_ok=True)
    args.misses.write_text("\n".join(missed) + "\n", encoding="utf-8")
    print(f"{len(missed) - 1} misses written to {args.misses}", file=sys.stderr)
    return 0
