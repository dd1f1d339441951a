"""Video quality diagnosis (视频质量诊断): pure checks on decoded frames.

A frame goes down once: ``prepare`` (grey at the analysis width, 320 px by default, and an
80 px colour thumbnail: ``frame.py``) -> ``measure`` (what the frame shows on its own,
typed: ``metrics.py``, with the band spectra of ``stripes.py`` and the grid arithmetic of
``cells.py``) -> ``compare`` with the camera's reference, using the view matching of
``agent.capture.view_match`` (``compare.py``) -> ``judge`` (``judge.py``). Checks across
consecutive samples (frozen picture, jitter, rolling bands, noise over time) are in
``sequence.py``. Each module's docstring says what its metrics catch and what they cannot.
"""

from agent.capture.quality.compare import Reference, make_reference
from agent.capture.quality.frame import Frame, prepare
from agent.capture.quality.judge import (
    CHECK_CODES,
    WITHOUT_REFERENCE,
    FrameReport,
    Undecided,
    analyse,
    judge,
)
from agent.capture.quality.metrics import FrameMetrics
from agent.capture.quality.sequence import (
    bands_in_time,
    check_sequence,
    noise_in_time,
    pair_issues,
    rolling_stripes,
    settle_noise,
    view_shift,
)

__all__ = [
    "CHECK_CODES",
    "WITHOUT_REFERENCE",
    "Frame",
    "FrameMetrics",
    "FrameReport",
    "Reference",
    "Undecided",
    "analyse",
    "bands_in_time",
    "check_sequence",
    "judge",
    "make_reference",
    "noise_in_time",
    "pair_issues",
    "prepare",
    "rolling_stripes",
    "settle_noise",
    "view_shift",
]
