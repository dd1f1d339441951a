"""The short form of the quality accuracy benchmark: its second (physical) degradation
model makes what it claims, so that a recall or clean figure measured on it means what its
label says. Each check measures the generated picture itself, on small rendered kitchens
(seconds in all); the benchmark's own report logic is checked on results made up here."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from testkit import kitchen_patterns, kitchen_textures
from testkit import quality_accuracy as bench
from testkit import quality_physical as qp
from testkit.images import read_bgr
from testkit.kitchen_scenes import SCENES, render

KITCHENS = Path(__file__).parent / "data" / "quality" / "kitchen"
SOME = ("cooking_1", "cold_room_2", "storage_1")


def small_scene(name: str) -> np.ndarray:
    image = read_bgr(KITCHENS / f"{name}.jpg")
    assert image is not None, name
    return qp.to_radiance(cv2.resize(image, (320, 180), interpolation=cv2.INTER_AREA))


def rng(seed: int = 3) -> np.random.Generator:
    return np.random.default_rng(seed)


def block_contrast(picture: np.ndarray) -> float:
    """Median spread of brightness in 16-pixel blocks: local contrast."""
    grey = qp.luma(picture)
    h, w = (s - s % 16 for s in grey.shape)
    blocks = grey[:h, :w].reshape(h // 16, 16, w // 16, 16).std(axis=(1, 3))
    return float(np.median(blocks))


def gradient_energy(grey: np.ndarray, where: np.ndarray) -> float:
    gy, gx = np.gradient(cv2.GaussianBlur(grey, (0, 0), 0.7))
    return float(np.mean(np.hypot(gx, gy)[where]))


def test_committed_kitchens_are_the_renderer_output_and_small() -> None:
    for name in SCENES:
        assert (KITCHENS / f"{name}.jpg").stat().st_size < 40_000, name
    for name in SOME:  # rendering takes most of a second each: a few stand for all
        committed = read_bgr(KITCHENS / f"{name}.jpg").astype(np.float32)
        # JPEG at q88 stays within a few levels of what the renderer draws.
        assert np.abs(committed - render(name)).mean() < 3.0, name
    with pytest.raises(ValueError, match="unknown kitchen kind"):
        render("bathroom_1")


@pytest.mark.parametrize("name", SOME)
def test_overexposure_clips_the_share_asked_for(name: str) -> None:
    scene = small_scene(name)
    for share in (0.35, 0.6, 0.8):
        picture = qp.overexposed(scene, share, rng())
        assert abs(qp.clipped_share(picture) - share) < 0.06
    # The failure: more than half clipped, the mean short of the old threshold.
    half = qp.overexposed(scene, 0.6, rng())
    assert qp.clipped_share(half) > 0.5
    assert 190 < qp.luma(half).mean() < 240


@pytest.mark.parametrize("name", SOME)
def test_underexposure_crushes_the_share_asked_for(name: str) -> None:
    scene = small_scene(name)
    picture = qp.underexposed(scene, 0.6, rng())
    assert 0.5 < qp.crushed_share(picture) < 0.7
    assert qp.crushed_share(qp.capture(scene, rng())) < 0.2  # the clean view is not dark


@pytest.mark.parametrize("source", ["flame", "lamp", "window"])
def test_small_bright_source_clips_only_a_small_region(source: str) -> None:
    scene = small_scene("cold_room_2")
    before = qp.clipped_share(qp.capture(scene, rng()))
    after = qp.clipped_share(qp.capture(qp.with_light_source(scene, source, rng(7)), rng()))
    assert after - before > 0.003  # the source really clips...
    assert after < 0.12  # ...over a small part of the view: a clean case, not overexposure


@pytest.mark.parametrize("name", SOME)
def test_steam_is_a_depth_varying_veil_that_keeps_faint_detail(name: str) -> None:
    scene = small_scene(name)
    clean = qp.capture(scene, rng())
    hazy, transmission = qp.steam(scene, 0.22, rng())
    picture = qp.capture(hazy, rng(), exposure=qp.auto_exposure(hazy, scene))
    assert abs(transmission.mean() - 0.22) < 0.01
    quarter = transmission.shape[0] // 4
    assert transmission[:quarter].mean() < transmission[-quarter:].mean() - 0.05  # far is denser
    assert (
        np.percentile(qp.luma(picture), 2) > np.percentile(qp.luma(clean), 2) + 40
    )  # black lifted
    assert block_contrast(picture) < 0.5 * block_contrast(clean)  # local contrast compressed
    # Detail faintly visible: the fine structure still lines up with the clean view's.
    detail = [
        cv2.GaussianBlur(qp.luma(p), (0, 0), 1.0) - cv2.GaussianBlur(qp.luma(p), (0, 0), 4.0)
        for p in (picture, clean)
    ]
    assert np.corrcoef(detail[0].ravel(), detail[1].ravel())[0, 1] > 0.3
    # Thinner steam is a thinner veil.
    thin, _ = qp.steam(scene, 0.7, rng())
    assert block_contrast(qp.capture(thin, rng())) > block_contrast(picture)


@pytest.mark.parametrize("name", SOME)
def test_lens_films_lower_contrast(name: str) -> None:
    scene = small_scene(name)
    clean = block_contrast(qp.capture(scene, rng()))
    assert block_contrast(qp.capture(qp.greasy_film(scene, 0.25), rng())) < 0.6 * clean
    assert block_contrast(qp.capture(qp.condensation(scene, 0.15, rng()), rng())) < 0.6 * clean
    smeared = qp.capture(qp.grease_smear(scene, 0.85, rng()), rng())
    assert block_contrast(smeared) < 0.8 * clean


@pytest.mark.parametrize("name", SOME)
def test_dim_subject_confounder_is_dim_soft_and_dark_behind_not_clipped(name: str) -> None:
    scene = small_scene(name)
    dim, subject = qp.dim_subject_dark_background(scene, rng(), 0.2, 0.03)
    picture = qp.capture(dim, rng(), light=0.5)
    grey = qp.luma(picture)
    inside, behind = subject > 0.9, subject < 0.1
    assert abs(float(np.mean(subject > 0.5)) - 0.2) < 0.03  # the subject's share, as asked
    assert 40 < grey.mean() < 85  # dim, not too dark
    assert qp.clipped_share(picture) < 0.1  # not overexposed...
    assert np.mean(grey[behind] >= qp.CLIPPED_LEVEL) < 0.005  # ...and the dark part never
    assert grey[behind].mean() < 0.35 * grey[inside].mean()  # dark behind a lit subject
    sharp = gradient_energy(qp.luma(qp.capture(scene, rng())), behind)
    assert gradient_energy(grey, behind) < 0.5 * sharp  # out of focus


@pytest.mark.parametrize("material", ["hand", "grey_cloth", "paper", "plastic_bag"])
def test_cover_hides_the_share_asked_for_softly_and_without_texture(material: str) -> None:
    scene = small_scene("prep_2")
    hidden, mask = qp.covered(scene, 0.45, material, rng())
    assert abs(float(np.mean(mask > 0.5)) - 0.45) < 0.05
    assert np.mean((mask > 0.1) & (mask < 0.9)) > 0.03  # a soft, out-of-focus edge
    picture = qp.capture(hidden, rng())
    core = mask > 0.99
    grey = qp.luma(picture)
    covered_texture = gradient_energy(grey, core)
    assert covered_texture < 0.5 * gradient_energy(qp.luma(qp.capture(scene, rng())), core)


def test_sensor_noise_is_shot_noise_plus_read_noise() -> None:
    flat = np.full((90, 160, 3), 0.18, np.float32)
    spreads = [qp.luma(qp.capture(flat, rng(), light=light)).std() for light in (1, 1 / 6, 1 / 24)]
    assert spreads[0] < 3.0 < spreads[1] < spreads[2]  # a clean camera is quiet; gain is not
    # Shot noise grows with the light collected: in linear terms a bright patch is noisier.
    bright = qp.to_radiance(qp.capture(flat * 3, rng(), light=1 / 24)).std()
    dark = qp.to_radiance(qp.capture(flat / 3, rng(), light=1 / 24)).std()
    assert bright > 1.5 * dark


def test_white_balance_casts_point_the_right_way_and_keep_brightness() -> None:
    grey = qp.greyscale_scene(small_scene("cold_room_2"))
    clean = qp.capture(grey, rng()).reshape(-1, 3).mean(axis=0)
    for cast, (channel, over) in {
        "warm": (2, 0),
        "cool": (0, 2),
        "green": (1, 2),
        "magenta": (2, 1),
    }.items():
        gains = qp.cast_gains(cast, "clear")
        assert abs(float(gains @ qp.LUMA) - 1.0) < 1e-5
        tinted = qp.capture(grey, rng(), gains=gains).reshape(-1, 3).mean(axis=0)
        assert tinted[channel] > 1.15 * tinted[over], cast
        assert abs(tinted.mean() - clean.mean()) < 25
        mild = qp.cast_gains(cast, "mild")
        severe = qp.cast_gains(cast, "severe")
        assert np.ptp(mild) < np.ptp(gains) < np.ptp(severe), cast


def test_flicker_and_interference_have_the_period_claimed() -> None:
    scene = small_scene("cold_room_2")
    rows = qp.flicker_bands(scene, 0.15, 4.0, 0.3).mean(axis=(1, 2)) / scene.mean(axis=(1, 2))
    spectrum = np.abs(np.fft.rfft(rows - rows.mean()))
    assert int(np.argmax(spectrum)) == 4
    base = qp.capture(scene, rng())
    barred = qp.interference_bars(base, 10.0, 20.0, 0.0, 0.0)
    added = (barred.astype(np.float32) - base).mean(axis=(0, 2))
    spectrum = np.abs(np.fft.rfft(added - added.mean()))
    assert int(np.argmax(spectrum)) == 20
    assert 6.0 < added.std() * np.sqrt(2) < 11.0  # amplitude, less what clipping cut


def test_defocus_and_motion_blur_remove_detail_as_claimed() -> None:
    scene = small_scene("storage_1")
    sharp = scene @ qp.LUMA

    def detail(radiance: np.ndarray) -> float:
        return float(cv2.Laplacian(radiance @ qp.LUMA, cv2.CV_32F).var())

    assert detail(qp.disc_blur(scene, 3.0)) < 0.2 * detail(scene)
    assert detail(qp.disc_blur(scene, 6.0)) < detail(qp.disc_blur(scene, 3.0))
    moved = qp.line_blur(scene, 8.0, 0.0) @ qp.LUMA  # a horizontal smear
    along = np.abs(np.diff(moved, axis=1)).mean() / np.abs(np.diff(sharp, axis=1)).mean()
    across = np.abs(np.diff(moved, axis=0)).mean() / np.abs(np.diff(sharp, axis=0)).mean()
    assert along < 0.75 * across


@pytest.mark.parametrize("style", range(4))
def test_no_video_screens_are_nearly_one_colour(style: int) -> None:
    screen = qp.no_video_screen(640, 360, style)
    grey = cv2.cvtColor(screen, cv2.COLOR_BGR2GRAY).astype(int)
    commonest = np.bincount(grey.ravel()).argmax()
    assert np.mean(np.abs(grey - commonest) <= 4) > 0.93


@pytest.fixture(scope="module")
def kitchen_samples() -> list[qp.Sample]:
    image = read_bgr(KITCHENS / "prep_1.jpg")
    other = read_bgr(KITCHENS / "cooking_2.jpg")
    small = cv2.resize(image, (320, 180), interpolation=cv2.INTER_AREA)
    return list(qp.samples_for("kitchen/prep_1.jpg", small, cv2.resize(other, (320, 180))))


def decoded(jpeg: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE).astype(np.float32)


def test_the_set_covers_every_check_at_every_strength(kitchen_samples: list[qp.Sample]) -> None:
    kinds = {(s.kind, s.severity) for s in kitchen_samples}
    graded = set(bench.REPORT_ORDER) - {"no_signal", "frozen", "jitter"}
    for kind in graded:
        assert {(kind, severity) for severity in qp.SEVERITIES} <= kinds, kind
    assert {("no_signal", "clear"), ("frozen", "clear"), ("jitter", "clear")} <= kinds
    variants = {s.variant for s in kitchen_samples if s.kind == "clean"}
    assert {
        "small_bright_flame",
        "dim_subject_dark_background",
        "low_bitrate_q18",
        "lamp_off_part",
    } <= variants
    # Samples do not depend on the order they are made in: the same draw gives the same bytes.
    again = next(
        qp.samples_for(
            "kitchen/prep_1.jpg",
            cv2.resize(read_bgr(KITCHENS / "prep_1.jpg"), (320, 180)),
            np.zeros((180, 320, 3), np.uint8),
        )
    )
    assert again.jpeg == kitchen_samples[0].jpeg


def test_sequences_freeze_or_shake_as_labelled(kitchen_samples: list[qp.Sample]) -> None:
    by_kind = {s.kind: s for s in kitchen_samples if s.sequence}
    frozen = by_kind["frozen"].sequence
    assert frozen is not None and len(set(frozen)) == 1
    live = next(s for s in kitchen_samples if s.variant == "live_still_sequence").sequence
    assert live is not None and len(set(live)) == 3  # fresh noise: a live, still camera
    shaken = by_kind["jitter"].sequence
    assert shaken is not None
    frames = [decoded(jpeg) for jpeg in shaken]
    width = frames[0].shape[1]
    for before, after in itertools.pairwise(frames):
        (dx, dy), _ = cv2.phaseCorrelate(before, after)
        assert np.hypot(dx, dy) > 0.015 * width  # every sample moved from the last


def test_a_fogging_lens_is_a_still_camera_losing_contrast() -> None:
    image = read_bgr(KITCHENS / "cooking_1.jpg")
    assert image is not None
    photo = cv2.resize(image, (320, 180), interpolation=cv2.INTER_AREA)
    sequences = dict(qp.fogging_up("kitchen/cooking_1.jpg", photo))
    assert sorted(sequences) == ["condensation", "grease_film", "grease_smear", "steam"]
    clear = {jpegs[0] for jpegs in sequences.values()}
    assert len(clear) == 1  # one clear first sample, then the lens fogs

    def contrast(jpeg: bytes) -> float:
        grey = decoded(jpeg)[:176, :320]
        return float(np.median(grey.reshape(11, 16, 20, 16).std(axis=(1, 3))))

    before = contrast(next(iter(clear)))
    for veil, jpegs in sequences.items():
        assert len(jpegs) == 4 and len(set(jpegs)) == 4, veil  # fresh noise: a live camera
        for jpeg in jpegs[1:]:
            assert contrast(jpeg) < 0.8 * before, veil


def test_turned_camera_shows_less_of_the_enrolled_view(kitchen_samples: list[qp.Sample]) -> None:
    turned = {s.severity: s for s in kitchen_samples if s.kind == "scene_changed"}
    reference = decoded(turned["clear"].reference_jpeg)
    for severity in ("clear", "severe"):
        picture = decoded(turned[severity].jpeg)
        (dx, _), peak = cv2.phaseCorrelate(reference, picture)
        assert abs(dx) > 0.3 * reference.shape[1] or peak < 0.2, severity
    nudged = next(s for s in kitchen_samples if s.variant == "nudged_1.5pct")
    (dx, _), _ = cv2.phaseCorrelate(reference, decoded(nudged.jpeg))
    assert 0.005 * reference.shape[1] < abs(dx) < 0.03 * reference.shape[1]


def test_low_bitrate_clean_case_shows_blocking(kitchen_samples: list[qp.Sample]) -> None:
    low = decoded(next(s for s in kitchen_samples if s.variant == "low_bitrate_q18").jpeg)
    usual = decoded(next(s for s in kitchen_samples if s.variant == "as_is").jpeg)

    def blockiness(grey: np.ndarray) -> float:
        steps = np.abs(np.diff(grey, axis=1))
        return float(steps[:, 7::8].mean() / max(steps.mean(), 1e-6))

    assert blockiness(low) > 1.2 * blockiness(usual)


def test_a_lamp_off_over_part_of_the_view_darkens_one_side_only(
    kitchen_samples: list[qp.Sample],
) -> None:
    sample = next(s for s in kitchen_samples if s.variant == "lamp_off_part")
    now, before = decoded(sample.jpeg), decoded(sample.reference_jpeg)

    def cells(grey: np.ndarray) -> np.ndarray:
        return cv2.resize(grey.astype(np.float32), (8, 6), interpolation=cv2.INTER_AREA)

    ratio = cells(now) / np.maximum(cells(before), 1.0)
    # One side kept most of its light, the other lost a good part of it.
    assert ratio.max() > 0.8 and ratio.min() < ratio.max() - 0.2


def _result(
    kind: str,
    severity: str,
    codes: list[str],
    mode: str = "single frame",
    undecided: tuple[str, ...] = (),
) -> bench.Result:
    return bench.Result(
        "physical",
        "kitchen/x.jpg",
        "report",
        mode,
        kind,
        f"{kind}_v",
        severity,
        frozenset({kind, "blurred"} if kind == "low_contrast" else {kind}),
        codes,
        undecided=list(undecided),
    )


def test_report_counts_recall_and_clean_apart_and_lists_every_miss() -> None:
    results = [
        _result("clean", "clean", []),
        _result("clean", "clean", ["occluded"]),
        _result("too_bright", "clear", []),
        _result("too_bright", "severe", ["too_bright"]),
        _result("too_bright", "mild", []),
        _result("low_contrast", "clear", ["blurred"]),  # another accepted name for a veil
        _result("low_contrast", "severe", ["low_contrast", "occluded"]),  # caught, plus a cover
        _result("occluded", "clear", []),
    ]
    lines, met = bench.table(results, "physical", "report")
    text = "\n".join(lines)
    assert "  1/2    50.0 % NOT met" in text  # clean, single frame
    assert "  1/2    50.0 % NOT met" in next(line for line in lines if "too_bright" in line)
    assert "  0/1     0.0 %" in next(line for line in lines if "too_bright" in line)  # mild
    assert "met" in next(line for line in lines if "low_contrast" in line)
    assert "as is" in next(line for line in lines if "occluded" in line)  # no target
    assert "false alarms on clean samples (single frame): occluded 1" in text
    assert "caught, but also raised (single frame): low_contrast: occluded 1" in text
    assert met == {"with reference": True, "single frame": False}
    missed = bench.misses(results)
    assert len(missed) == 1 + 4  # header + clean alarm, two too_bright misses, occluded miss
    assert all(len(line.split("\t")) == 8 for line in missed)
    assert (
        "physical\treport\tsingle frame\tkitchen/x.jpg\tclean\tclean\tclean_v\toccluded" in missed
    )
    assert any(line.endswith("too_bright\tclear\ttoo_bright_v\tnothing (ok)") for line in missed)


def test_report_counts_a_fogging_lens_read_as_shaken_and_lists_it() -> None:
    rows = [
        bench.Fogging("kitchen/x.jpg", "report", "steam", 3, 0, False),
        bench.Fogging("kitchen/x.jpg", "report", "grease_smear", 3, 2, True),
        bench.Fogging("kitchen/y.jpg", "tune", "steam", 3, 1, False),
    ]
    lines = bench.fogging_lines(rows)
    assert "  held out       : pairs read as shaken 2/6; sequences raising jitter 1/2" in lines
    assert "  used for tuning: pairs read as shaken 1/3; sequences raising jitter 0/1" in lines
    missed = bench.fogging_misses(rows)
    assert missed == [
        "physical\treport\tsequence\tkitchen/x.jpg\tfogging_up\tsevere\tgrease_smear"
        "\tjitter (2 of 3 pairs, and the sequence)",
        "physical\ttune\tsequence\tkitchen/y.jpg\tfogging_up\tsevere\tsteam\tjitter (1 of 3 pairs)",
    ]


def test_report_counts_reference_renewals_by_class_and_lists_the_misses() -> None:
    def row(
        split: str, reference: str, severity: str, view: str, codes: tuple[str, ...]
    ) -> bench.Renewal:
        kind, variant = reference.split("/", maxsplit=1)
        return bench.Renewal(
            "physical", split, "kitchen/x.jpg", kind, variant, severity, view, codes
        )

    rows = [
        row("report", "low_contrast/steam_t0.4", "clear", "clean/as_is", ("low_contrast",)),
        row("report", "low_contrast/grease_smear_0.6", "clear", "clean/as_is", ()),
        row("report", "low_contrast/steam_t0.7", "mild", "clean/as_is", ()),
        row("report", "blurred/defocus_disc_r3", "severe", "clean/as_is", ("blurred",)),
        row("report", "occluded/hand_0.75", "severe", "clean/as_is", ("low_contrast",)),
        row("report", "clean/as_is", "clean", "noisy/low_light_gain_x10", ("blurred",)),
        row("report", "clean/as_is", "clean", "clean/nudged_1.5pct", ()),
        row("tune", "clean/as_is", "clean", "clean/dimmer_evening_gain", ()),
    ]
    lines = bench.renewal_lines(rows)
    assert (
        "  physical held out       : low_contrast 1/2, low_contrast mild 0/1, blurred 1/1, "
        "blurred mild 0/0; other faults 1/1; clean replaced 1/2" in lines
    )
    assert any(
        line.startswith("  physical used for tuning:") and "clean replaced 0/1" in line
        for line in lines
    )
    assert bench.renewal_misses(rows) == [
        "physical\treport\treference renewal\tkitchen/x.jpg\tlow_contrast\tclear"
        "\tgrease_smear_0.6\tkept (the clean view did not replace it)",
        "physical\treport\treference renewal\tkitchen/x.jpg\tclean\tclean\tas_is"
        "\treplaced by noisy/low_light_gain_x10 (blurred)",
    ]


def test_the_benchmark_renews_a_veiled_reference_the_way_the_daemon_does(
    kitchen_samples: list[qp.Sample],
) -> None:
    """Through the agent's own decode and checks: the kitchen's references taken through
    the physical model's veils and blurs are mostly renewed by its clean view, and its
    clean reference by nothing."""
    cases = [
        bench.Case(
            "physical",
            s.photo,
            s.kind,
            s.variant,
            s.severity,
            s.jpeg,
            s.reference_jpeg,
            s.sequence,
            frozenset({s.kind}),
            bench.MODES,
        )
        for s in kitchen_samples
    ]
    found: list[bench.Renewal] = []
    assert list(bench.with_renewals(cases, bench.QualityAdapter(), found)) == cases
    should = [r for r in found if r.should_renew and r.severity != "mild"]
    assert len(should) == 12  # four veils and two blurs, clear and severe
    assert sum(bool(r.codes) for r in should) >= 8, [r.reference for r in should if not r.codes]
    assert [r.view for r in found if r.reference_kind == "clean" and r.codes] == []
    assert {r.reference_kind for r in found} >= {"clean", "low_contrast", "blurred", "occluded"}


def test_report_counts_probe_views_by_group_and_lists_their_misses() -> None:
    def view(name: str, group: str, split: str, severity: str, codes: list[str]) -> bench.ProbeView:
        return bench.ProbeView(name, group, split, "v", severity, "noisy", codes)

    rows = [
        view("rice_4", "plate 8%", "report", "clean", ["color_cast"]),  # not noise: clean
        view("rice_4", "plate 8%", "report", "clean", ["noisy"]),
        view("rice_4", "plate 8%", "report", "clear", ["noisy"]),
        view("rice_5", "plate 8%", "report", "severe", []),
        view("herbs_1", "plate 0%", "tune", "clean", ["noisy"]),
    ]
    lines = bench.probe_lines("title", rows)
    assert lines[0] == "--- title"
    assert "  held out        plate 8%    : clean read as noisy 1/2; noisy caught 1/2" in lines
    assert "  used for tuning plate 0%    : clean read as noisy 1/1; noisy caught 0/0" in lines
    assert bench.probe_misses(rows) == [
        "physical\treport\tsingle frame\trice_4\tclean\tclean\tv\tnoisy",
        "physical\treport\tsingle frame\trice_5\tnoisy\tsevere\tv\tnothing (ok)",
        "physical\ttune\tsingle frame\therbs_1\tclean\tclean\tv\tnoisy",
    ]


def test_report_sets_one_frame_beside_two_samples_of_a_still_view() -> None:
    def view(split: str, severity: str, mode: str, codes: list[str]) -> bench.ProbeView:
        return bench.ProbeView("granite_4", "textured", split, "v", severity, "noisy", codes, mode)

    rows = [
        view("report", "clean", "single frame", ["noisy"]),
        view("report", "clean", "two frames", []),
        view("report", "clear", "single frame", ["noisy"]),
        view("report", "clear", "two frames", ["noisy"]),
        view("tune", "clean", "single frame", ["noisy"]),
        view("tune", "clean", "two frames", ["noisy"]),
    ]
    lines = bench.still_lines(rows)
    assert lines[0] == f"--- {bench.STILL_TITLE}"
    assert (
        "  held out        textured : clean read as noisy 1/1 -> 0/1; noisy caught 1/1 -> 1/1"
        in lines
    )
    assert (
        "  used for tuning textured : clean read as noisy 1/1 -> 1/1; noisy caught 0/0 -> 0/0"
        in lines
    )
    assert bench.probe_misses([r for r in rows if r.mode == "two frames"]) == [
        "physical\ttune\ttwo frames\tgranite_4\tclean\tclean\tv\tnoisy"
    ]


def test_the_benchmark_settles_textured_views_over_two_samples_as_check_frame_does() -> None:
    photos = {"committed/coffee.jpg": read_bgr(KITCHENS.parent / "coffee.jpg")}
    found = bench.still_pairs(photos, bench.QualityAdapter(), seeds=1)
    textured = [r for r in found if r.group == "textured"]
    assert len(textured) == 2 * 4 * len(kitchen_textures.TEXTURES)  # two modes, four shots

    def noisy(mode: str, faulty: bool, rows: list[bench.ProbeView] = textured) -> int:
        return sum("noisy" in r.codes for r in rows if r.mode == mode and r.faulty == faulty)

    clean = 2 * len(kitchen_textures.TEXTURES)
    assert noisy("single frame", False) == clean  # one frame reads every one as noisy
    assert noisy("two frames", False) == 0
    assert noisy("single frame", True) == noisy("two frames", True) == clean
    assert {r.group for r in found} == {"textured", "pictures"}


def test_the_benchmark_catches_bands_that_roll_between_two_samples() -> None:
    photos = {"committed/coffee.jpg": read_bgr(KITCHENS.parent / "coffee.jpg")}
    rows = bench.rolling_pairs(photos, bench.QualityAdapter(), seeds=0)
    assert {r.mode for r in rows} == {"single frame", "two frames"} and len(rows) == 10
    two = [r for r in rows if r.mode == "two frames"]
    assert [r.variant for r in two if "stripes" in r.codes] == [
        r.variant for r in two if r.faulty
    ]  # every rolled band caught, the clean pair not
    lines = bench.rolling_lines(rows)
    assert lines[0] == f"--- {bench.ROLLING_TITLE}"
    assert any("used for tuning pictures : clean read as stripes 0/1 -> 0/1" in x for x in lines)


def test_textured_scenes_are_fine_grained_over_most_of_the_view() -> None:
    # At the analysis width the texture's grain is a pixel or two, as snow is: no 8-pixel
    # cell outside the plate is smooth. The plate is, and takes the share asked for.
    for texture in kitchen_textures.TEXTURES:
        picture = kitchen_textures.scene(texture, 0, 0.08)
        grey = cv2.cvtColor(cv2.resize(picture, (320, 180), interpolation=cv2.INTER_AREA),
                            cv2.COLOR_BGR2GRAY).astype(np.float32)  # fmt: skip
        cells = grey[:176].reshape(22, 8, 40, 8).std(axis=(1, 3))
        plate = cells < 2.0
        assert 0.04 < plate.mean() < 0.10, texture
        assert np.percentile(cells[~plate], 5) > 4.0, texture
        assert float(np.median(grey)) < 128, texture  # texture sits in the darker tones
        assert kitchen_textures.scene(texture, 0, 0.08).tobytes() == picture.tobytes()


def test_patterned_scenes_repeat_across_the_whole_view() -> None:
    # Every pattern crosses the view in phase: the row profiles of the left and right
    # thirds of a square-on view are alike, and the structure is steps and thin lines
    # (its profile's spectrum has a strong second harmonic), not a smooth wave.
    for pattern in kitchen_patterns.PATTERNS:
        picture = kitchen_patterns.scene(pattern, 0, 0.0)
        grey = cv2.cvtColor(cv2.resize(picture, (320, 180), interpolation=cv2.INTER_AREA),
                            cv2.COLOR_BGR2GRAY).astype(np.float64)  # fmt: skip
        left, right = grey[:, :100].mean(axis=1), grey[:, -100:].mean(axis=1)
        assert np.corrcoef(left, right)[0, 1] > 0.5, pattern
        spectrum = np.abs(np.fft.rfft(left - left.mean()))
        peak = int(spectrum[4:60].argmax()) + 4
        if 2 * peak + 1 < spectrum.size:
            assert spectrum[2 * peak - 1 : 2 * peak + 2].max() > 0.2 * spectrum[peak], pattern
        assert kitchen_patterns.scene(pattern, 0, 0.0).tobytes() == picture.tobytes()


def test_report_counts_the_misses_one_frame_said_it_cannot_judge() -> None:
    results = [
        _result("occluded", "clear", [], undecided=("occluded",)),  # missed, but said so
        _result("occluded", "severe", []),  # missed in silence
        _result("occluded", "severe", ["occluded"]),  # caught
        _result("stripes", "clear", ["blurred"], undecided=("stripes",)),  # said, beside blur
        _result("stripes", "severe", [], undecided=("occluded",)),  # said, but of another check
        _result("stripes", "mild", [], undecided=("stripes",)),  # mild: not counted
        _result("clean", "clean", [], undecided=("occluded",)),  # a note: still clean
        _result("clean", "clean", []),
    ]
    lines, _ = bench.table(results, "physical", "report")
    assert "  2/2   100.0 % met" in next(line for line in lines if "clean" in line)
    assert (
        "  cannot judge without a reference (single frame): said for the misses of "
        "stripes 1 of 2, occluded 1 of 2; noted on 1 of 2 clean samples (occluded 1)"
    ) in lines
    missed = bench.misses(results)
    assert any(
        line.endswith(
            "occluded\tclear\toccluded_v\tnothing (ok); said occluded: cannot judge "
            "without a reference"
        )
        for line in missed
    )
    assert any(line.endswith("occluded\tsevere\toccluded_v\tnothing (ok)") for line in missed)
    assert any(line.endswith("stripes\tsevere\tstripes_v\tnothing (ok)") for line in missed)
    assert all(len(line.split("\t")) == 8 for line in missed)


def test_the_benchmark_hears_what_the_agent_says_it_cannot_judge() -> None:
    """Through the agent's own decode and checks: a hand over 45 % of a kitchen is told
    apart only with a reference; on one frame the agent says it cannot judge, and the
    benchmark counts that miss as said, not silent."""
    scene = qp.to_radiance(
        cv2.resize(read_bgr(KITCHENS / "cooking_1.jpg"), (640, 360), interpolation=cv2.INTER_AREA)
    )
    hidden, _ = qp.covered(scene, 0.45, "hand", rng(3))
    case = bench.Case(
        "physical",
        "kitchen/cooking_1.jpg",
        "occluded",
        "hand_0.45",
        "clear",
        qp.encode(qp.capture(hidden, rng(4))),
        qp.encode(qp.capture(scene, rng(5))),
        None,
        frozenset({"occluded"}),
        bench.MODES,
    )
    results = bench.evaluate([case], bench.QualityAdapter(), keep_metrics=False)
    by_mode = {r.mode: r for r in results}
    assert by_mode["with reference"].correct and not by_mode["with reference"].undecided
    alone = by_mode["single frame"]
    assert not alone.correct and alone.undecided == ["occluded"] and alone.said_undecided
    (missed,) = bench.misses(results)[1:]
    assert missed.endswith("said occluded: cannot judge without a reference")


def test_report_counts_dim_subject_views_raising_anything_and_lists_them() -> None:
    rows = [
        bench.DimSubjectView("cooking_1", "report", "dim_subject_draw0_share0.19", ["blurred"]),
        bench.DimSubjectView("cooking_1", "report", "dim_subject_draw1_share0.35", []),
        bench.DimSubjectView("rocket", "report", "dim_subject_draw0_share0.22", ["occluded"]),
        bench.DimSubjectView("coffee", "tune", "dim_subject_draw0_share0.30", []),
    ]
    lines = bench.dim_subject_lines(rows)
    assert lines[0] == f"--- {bench.DIM_SUBJECT_TITLE}"
    assert "  held out       : clean read as anything 2/3 (blurred 1, occluded 1)" in lines
    assert "  used for tuning: clean read as anything 0/1" in lines
    assert bench.dim_subject_misses(rows) == [
        "physical\treport\tsingle frame\tcooking_1\tclean\tclean\t"
        "dim_subject_draw0_share0.19\tblurred",
        "physical\treport\tsingle frame\trocket\tclean\tclean\t"
        "dim_subject_draw0_share0.22\toccluded",
    ]


def test_dim_subject_draws_differ_and_go_through_the_agents_decode() -> None:
    photos = {"committed/coffee.jpg": read_bgr(KITCHENS.parent / "coffee.jpg")}
    views = bench.dim_subject_views(photos, bench.QualityAdapter())
    assert len(views) == bench.DIM_SUBJECT_DRAWS
    shares = {float(v.variant.rsplit("share", 1)[1]) for v in views}
    assert len(shares) >= 6 and min(shares) >= 0.1 and max(shares) <= 0.45
    assert {v.split for v in views} == {"tune"}  # coffee.jpg is a tune picture
