"""The shared model is the only meeting place of capture and uplink, and every event the
agent emits is exactly what its published schema says."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import jsonschema
import pytest

from agent import errors
from agent.model import EVENT_PAYLOADS, QualityCheck

AGENT = Path(__file__).resolve().parent.parent / "agent"
SCHEMAS = AGENT.parent / "docs" / "schemas"
MQTT_DOC = AGENT.parent / "docs" / "mqtt.md"


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function (TYPE_CHECKING too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize(
    ("side", "forbidden"), [("uplink", "agent.capture"), ("capture", "agent.uplink")]
)
def test_capture_and_uplink_never_import_each_other(side: str, forbidden: str) -> None:
    files = sorted((AGENT / side).rglob("*.py"))
    assert files
    offenders = {
        f"{path.relative_to(AGENT.parent)} imports {module}"
        for path in files
        for module in imported_modules(path)
        if module == forbidden or module.startswith(forbidden + ".")
    }
    assert not offenders, sorted(offenders)


def test_the_model_depends_on_neither_side() -> None:
    for path in (AGENT / "model").rglob("*.py"):
        bad = {m for m in imported_modules(path) if m.startswith(("agent.capture", "agent.uplink"))}
        assert not bad, (path, bad)


def test_the_live_state_holds_only_typed_model_objects() -> None:
    source = (AGENT / "state.py").read_text(encoding="utf-8")
    assert "Any" not in source and "dict[str, object]" not in source


@pytest.mark.parametrize("event_type", sorted(EVENT_PAYLOADS))
def test_every_event_type_has_a_published_schema_and_a_documented_row(event_type: str) -> None:
    schema = json.loads((SCHEMAS / "events" / f"{event_type}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert f"`{event_type}`" in MQTT_DOC.read_text(encoding="utf-8")


def test_every_code_that_can_leave_the_box_is_documented() -> None:
    doc = MQTT_DOC.read_text(encoding="utf-8")
    undocumented = [code for code in errors.AgentError.registry if f"`{code}`" not in doc]
    assert not undocumented, undocumented
    checks = [check.value for check in QualityCheck if f"`{check.value}`" not in doc]
    assert not checks, checks
