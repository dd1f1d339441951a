"""The construction stage reported to the district is derived, never claimed."""

from __future__ import annotations

import pytest

from agent.model import Stage
from agent.stage import construction_stage

CAMS = {"cam1": ["cooking", "prep"], "cam2": ["cold_room"]}
DECLARED = ["cooking", "prep", "cold_room"]


@pytest.mark.parametrize(
    ("online", "up", "covered", "streaming", "expected"),
    [
        ([], [], [], True, Stage.PREPARATION),
        (["unenrolled"], [], [], True, Stage.PREPARATION),
        (["cam1"], [], ["cooking", "prep"], True, Stage.EQUIPMENT_INSTALLED),
        (["cam1", "cam2"], ["cam1"], DECLARED, True, Stage.VIDEO_CONNECTED),
        (["cam1", "cam2"], ["cam1", "cam2"], ["cooking", "prep"], True, Stage.VIDEO_CONNECTED),
        (["cam1", "cam2"], ["cam1", "cam2"], DECLARED, True, Stage.COMPLETED),
        (["cam1", "cam2"], [], DECLARED, False, Stage.COMPLETED),
        (["cam1"], [], ["cooking", "prep"], False, Stage.EQUIPMENT_INSTALLED),
    ],
)
def test_stage(
    online: list[str], up: list[str], covered: list[str], streaming: bool, expected: Stage
) -> None:
    assert construction_stage(DECLARED, CAMS, online, up, covered, streaming) == expected
