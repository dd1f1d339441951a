"""Accuracy of the video quality checks on held-out pictures, two degradation models, both
modes (see testkit/quality_accuracy.py, which holds the evaluation the tests share).

Run: ``.venv/bin/python benchmarks/quality_accuracy.py [--help]`` (needs Debian's
opencv-doc for part of the photographs).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from testkit.quality_accuracy import main

if __name__ == "__main__":
    raise SystemExit(main())
