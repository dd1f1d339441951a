"""Accuracy of the video quality checks on real photographs (see quality_evalset.py).

For every check: recall on clearly degraded frames (severities "clear" and "severe"),
recall on mild degradations (for information: a mild defect need not be flagged), and
the share of clean variants (JPEG re-compression, +-0.5 stop, sensor grain, greyscale
IR, warm light, a 2 % nudge, live still sequences) that raise nothing. Two modes:
- with reference: how the daemon runs (every camera has its enrolled reference);
- without reference: ``check-frame IMAGE`` alone (colour cast then only judged on grey
  scenes turned colour; scene change needs a reference).

Thresholds are the config defaults, tuned on the "tune" photos; "report" photos were
held out. ``--suggest`` prints, per metric, the clean maximum and the degraded 5th
percentile on the tune photos, from which the defaults were chosen.

Run: ``.venv/bin/python benchmarks/quality_accuracy.py`` (needs Debian's
opencv-doc package for the photos: ``apt-get install opencv-doc``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.capture.decode import decode_for_analysis
from agent.capture.quality import (
    CHECK_CODES,
    Reference,
    analyse,
    check_sequence,
    make_reference,
    prepare,
)
from agent.config.quality import QualityConfig
from testkit.quality_evalset import Item, items, load_photos, split_of

GOAL_RECALL = 0.95
GOAL_CLEAN = 0.98
MODES = ("with reference", "without reference")

_SUGGEST = {  # check -> (metric with reference, metric without, True when high is bad)
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


def _applies(item: Item, mode: str) -> bool:
    if mode == "without reference":
        if item.kind == "scene_changed" or item.variant == "nudged_2pct":
            return False
        if item.kind == "color_cast" and not item.variant.startswith("grey_scene"):
            return False
    return True


def evaluate(settings: QualityConfig) -> list[dict[str, object]]:
    width = settings.analysis_width
    references: dict[bytes, Reference] = {}
    results: list[dict[str, object]] = []
    for item in items(load_photos()):
        frame = prepare(decode_for_analysis(item.jpeg, width), width)
        key = item.reference_jpeg
        if key not in references:
            references[key] = make_reference(prepare(decode_for_analysis(key, width), width))
        sequence_codes: list[str] = []
        if item.sequence is not None:
            frames = [prepare(decode_for_analysis(j, width), width) for j in item.sequence]
            sequence_codes = [issue.code for issue in check_sequence(frames, settings)]
        for mode in MODES:
            if not _applies(item, mode):
                continue
            reference = references[key] if mode == "with reference" else None
            report = analyse(frame, settings, reference)
            codes = [issue.code for issue in report.issues] + sequence_codes
            if item.kind in ("frozen", "jitter"):
                codes = sequence_codes
            results.append(
                {
                    "photo": item.photo,
                    "split": split_of(item.photo),
                    "mode": mode,
                    "kind": item.kind,
                    "variant": item.variant,
                    "severity": item.severity,
                    "codes": codes,
                    "metrics": report.metrics,
                }
            )
    return results


def _rate(hits: int, total: int) -> str:
    return f"{hits}/{total} = {100.0 * hits / total:5.1f} %" if total else "n/a"


def summarise(results: list[dict[str, object]], split: str) -> tuple[list[str], bool]:
    lines: list[str] = []
    met = True
    for mode in MODES:
        rows = [r for r in results if r["mode"] == mode and (split == "all" or r["split"] == split)]
        clean = [r for r in rows if r["kind"] == "clean"]
        quiet = sum(1 for r in clean if not r["codes"])
        clean_ok = bool(clean) and quiet / len(clean) >= GOAL_CLEAN
        lines.append(
            f"[{mode}] clean frames raising nothing: {_rate(quiet, len(clean))}"
            f"{'' if clean_ok else '  (below goal)'}"
        )
        noisy_clean: dict[str, int] = defaultdict(int)
        for r in clean:
            for code in r["codes"]:  # type: ignore[attr-defined]
                noisy_clean[code] += 1
        if noisy_clean:
            lines.append(
                "    false alarms by check: "
                + ", ".join(f"{code} {count}" for code, count in sorted(noisy_clean.items()))
            )
        for code in ("frozen", *CHECK_CODES[:1], *CHECK_CODES[2:]):
            positives = [r for r in rows if r["kind"] == code]
            if not positives:
                continue
            clear = [r for r in positives if r["severity"] in ("clear", "severe")]
            mild = [r for r in positives if r["severity"] == "mild"]
            hit = sum(1 for r in clear if code in r["codes"])  # type: ignore[operator]
            mild_hit = sum(1 for r in mild if code in r["codes"])  # type: ignore[operator]
            ok = bool(clear) and hit / len(clear) >= GOAL_RECALL
            if mode == "with reference":
                met = met and ok
            others: dict[str, int] = defaultdict(int)
            for r in clear:
                for other in set(r["codes"]) - {code}:  # type: ignore[arg-type]
                    others[other] += 1
            also = ", ".join(f"{o} {n}" for o, n in sorted(others.items()))
            lines.append(
                f"    {code:13s} recall clear+severe {_rate(hit, len(clear)):>17s}"
                f"{'' if ok else ' (below goal)':13s} mild {_rate(mild_hit, len(mild))}"
                + (f"  | also raised: {also}" if also else "")
            )
        if mode == "with reference":
            met = met and clean_ok
    return lines, met


def suggest(results: list[dict[str, object]]) -> None:
    for mode_index, mode in enumerate(MODES):
        print(f"[{mode}] tune split: clean max / 99th pct vs clearly degraded 5th pct")
        rows = [r for r in results if r["mode"] == mode and r["split"] == "tune"]
        clean = [r for r in rows if r["kind"] == "clean"]
        for code, spec in _SUGGEST.items():
            metric = spec[mode_index]
            if metric is None:
                continue
            high_bad = spec[2]

            def values(group: list[dict[str, object]], name: str = metric) -> np.ndarray:
                found = [r["metrics"].get(name) for r in group]  # type: ignore[attr-defined]
                return np.array([v for v in found if v is not None], dtype=np.float64)

            good = values(clean)
            bad = values(
                [r for r in rows if r["kind"] == code and r["severity"] in ("clear", "severe")]
            )
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
    parser.add_argument("--suggest", action="store_true", help="print threshold evidence")
    args = parser.parse_args()
    started = time.monotonic()
    results = evaluate(QualityConfig())
    photos = sorted({str(r["photo"]) for r in results})
    counts = {s: sum(1 for p in photos if split_of(p) == s) for s in ("tune", "report")}
    print(
        f"{len(photos)} photos ({counts['tune']} tune, {counts['report']} report), "
        f"{len(results)} judgements in {time.monotonic() - started:.0f} s",
        file=sys.stderr,
    )
    if args.suggest:
        suggest(results)
    block = [
        "```text",
        "quality_accuracy: default thresholds, evaluation set of "
        f"{len(photos)} real photos (goal: recall >= {GOAL_RECALL:.0%} on clearly "
        f"degraded frames, >= {GOAL_CLEAN:.0%} of clean frames raise nothing)",
    ]
    met_report = True
    for split in ("report", "tune"):
        lines, met = summarise(results, split)
        label = "held-out" if split == "report" else "used for tuning"
        block.append(f"--- {split} photos ({counts[split]}, {label})")
        block.extend(lines)
        if split == "report":
            met_report = met
    block.append(f"goals met on held-out photos (with reference): {'yes' if met_report else 'no'}")
    block.append("```")
    print("\n".join(block))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
