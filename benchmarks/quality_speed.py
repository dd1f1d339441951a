"""How much does judging a frame cost next to decoding it?

For 1920x1080 (main stream / snapshot) and 640x360 (sub-stream) JPEGs made from real
photos, measured in the same run on this machine:
- baseline: a plain full ``cv2.imdecode`` of the JPEG;
- decode for analysis: the agent's reduced-size decode (libjpeg 1/2, 1/4, 1/8 scaling);
- analysis: ``prepare`` + every check on the decoded frame, without and with a reference
  (feature matching, occlusion blocks);
- check-frame end to end: reduced decode + analysis, as the command and the daemon do.

Run: ``/tmp/probe-venv/bin/python benchmarks/quality_speed.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.capture.decode import decode_for_analysis
from agent.capture.quality import analyse, make_reference, prepare
from agent.config.quality import QualityConfig

PHOTOS = Path(__file__).resolve().parent.parent / "tests" / "data" / "quality"
SIZES = ((1920, 1080), (640, 360))


def _jpegs(size: tuple[int, int]) -> list[bytes]:
    out = []
    rng = np.random.default_rng(1)
    for path in sorted(PHOTOS.glob("*.jpg")):
        image = cv2.resize(cv2.imread(str(path)), size, interpolation=cv2.INTER_CUBIC)
        # A camera's picture has sensor grain; a smooth upscale would decode unusually fast.
        grain = rng.normal(0, 2.0, image.shape)
        image = np.clip(image + grain, 0, 255).astype(np.uint8)
        ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        assert ok
        out.append(buffer.tobytes())
    return out


def _per_call_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm up (first ORB call allocates)
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        samples.append((time.perf_counter() - start) / repeat * 1000.0)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="calls per timing sample")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # one core, as the daemon's worker thread uses it
    settings = QualityConfig()
    width = settings.analysis_width
    lines = []
    print(
        f"opencv {cv2.__version__}, numpy {np.__version__}, analysis width {width} px, "
        "1 thread; per-frame medians over 4 photos",
        file=sys.stderr,
    )
    for size in SIZES:
        jpegs = _jpegs(size)
        buffers = [np.frombuffer(j, np.uint8) for j in jpegs]
        decoded = [decode_for_analysis(j, width) for j in jpegs]
        references = [make_reference(prepare(d, width)) for d in decoded]
        full = statistics.mean(
            _per_call_ms(lambda b=b: cv2.imdecode(b, cv2.IMREAD_COLOR), args.repeat)
            for b in buffers
        )
        reduced = statistics.mean(
            _per_call_ms(lambda j=j: decode_for_analysis(j, width), args.repeat) for j in jpegs
        )
        plain = statistics.mean(
            _per_call_ms(lambda d=d: analyse(prepare(d, width), settings), args.repeat)
            for d in decoded
        )
        with_ref = statistics.mean(
            _per_call_ms(lambda d=d, r=r: analyse(prepare(d, width), settings, r), args.repeat)
            for d, r in zip(decoded, references, strict=True)
        )
        label = f"{size[0]}x{size[1]}"
        lines.append(
            f"{label:>9}  full decode {full:6.2f} ms | reduced decode {reduced:5.2f} ms "
            f"({reduced / full:.2f}x) | analysis {plain:5.2f} ms ({plain / full:.2f}x) | "
            f"analysis+reference {with_ref:5.2f} ms ({with_ref / full:.2f}x) | check-frame "
            f"end to end {reduced + plain:5.2f} ms ({(reduced + plain) / full:.2f}x), with "
            f"reference {reduced + with_ref:5.2f} ms ({(reduced + with_ref) / full:.2f}x)"
        )
        print(lines[-1], file=sys.stderr)
    print(
        "\n```text\nquality_speed (ratios against a full cv2.imdecode of the same JPEG, same run)"
    )
    for line in lines:
        print(line)
    print("goal: analysis <= 0.2x without reference, <= 0.5x with reference matching\n```")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
