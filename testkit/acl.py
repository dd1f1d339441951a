"""The broker ACL exactly as docs/mqtt.md publishes it (the tests load it into mosquitto)."""

from __future__ import annotations

from pathlib import Path

MQTT_DOC = Path(__file__).resolve().parents[1] / "docs" / "mqtt.md"
MARKER = "<!-- acl:"


def documented_acl() -> str:
    """The fenced block that follows the ``<!-- acl: ... -->`` marker in docs/mqtt.md."""
    text = MQTT_DOC.read_text(encoding="utf-8")
    start = text.index(MARKER)
    opening = text.index("```\n", start) + len("```\n")
    closing = text.index("```", opening)
    return text[opening:closing]
