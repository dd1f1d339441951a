"""The documented example config, generated from the models so it can never go stale.

``python -m agent.config.example`` rewrites config/agent.example.yaml and
config/agent.schema.json; a test proves the committed copies are current.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from agent.config.loader import LineMap, validate_data
from agent.config.model import config_json_schema
from agent.config.render import full_data, render_yaml

EXAMPLE: dict[str, Any] = {
    "store": {
        "id": "sh-xh-0001",
        "name": "老王面馆（漕溪北路店）",
        "licence_number": "JY23101040012345",
        "district": "xuhui",
        "address": "上海市徐汇区漕溪北路1号",
        "kcps": ["cooking", "cold_room", "prep", "dishwashing"],
    },
    "broker": {"url": "mqtts://mqtt.example.invalid:8883", "username": "xuhui/sh-xh-0001"},
    "cameras": {
        "username": "admin",
        "static": ["192.0.2.20:8000"],
        "enrolled": [
            {
                "id": "mac-44a642e1b2c3",
                "name": "热菜区 wok line",
                "kcps": [
                    {"kcp": "cooking", "roi": [[0.1, 0.2], [0.9, 0.2], [0.9, 0.95], [0.1, 0.95]]},
                    {"kcp": "prep"},
                ],
            },
            {"id": "mac-44a642e1b2c4", "name": "凉菜间", "kcps": [{"kcp": "cold_room"}]},
        ],
    },
    "streams": {
        "ingest_url": "rtmp://ingest.example.invalid/live/{store_id}-{camera_id}?token={token}",
    },
}


def example_yaml() -> str:
    config = validate_data(EXAMPLE, LineMap(None), "example")
    return render_yaml(full_data(config))


def schema_json() -> str:
    return json.dumps(config_json_schema(), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("config")
    (root / "agent.example.yaml").write_text(example_yaml(), encoding="utf-8")
    (root / "agent.schema.json").write_text(schema_json(), encoding="utf-8")


if __name__ == "__main__":
    main()
