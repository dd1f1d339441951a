"""The fleet as it is installed and configured: its unit, its config, its boundaries."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from agent.fleet.config import FleetConfig, config_json_schema, load_text
from agent.fleet.contract import ConfigError
from testkit.fleet_fixtures import run_cli

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "systemd" / "kitchen-fleet.service"
EXAMPLE = REPO / "config" / "fleet.example.yaml"


def local_unit(tmp_path: Path) -> Path:
    executable = Path(sys.executable).with_name("kitchen-agent")
    text = UNIT.read_text(encoding="utf-8").replace(
        "/opt/kitchen-agent/venv/bin/kitchen-agent", str(executable)
    )
    unit = tmp_path / "kitchen-fleet.service"
    unit.write_text(text, encoding="utf-8")
    return unit


def test_unit_verifies_and_is_hardened(tmp_path: Path) -> None:
    assert shutil.which("systemd-analyze"), "systemd is installed by scripts/setup.sh"
    unit = local_unit(tmp_path)
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0, verify.stderr
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", security.stdout)
    assert match, security.stdout[-500:]
    assert float(match.group(1)) <= 2.0
    text = UNIT.read_text(encoding="utf-8")
    for line in (
        "Type=notify",
        "RestartPreventExitStatus=78",
        "ExecStart=/opt/kitchen-agent/venv/bin/kitchen-agent fleet run --config "
        "/etc/kitchen-fleet/fleet.yaml",
        "LoadCredential=mqtt-password:",
        "LoadCredential=db-password:",
        "StateDirectory=kitchen-fleet",
    ):
        assert line in text


def leaf_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, info in model.model_fields.items():
        inner = info.annotation
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            keys += leaf_keys(inner, f"{prefix}{name}.")
        else:
            keys.append(prefix + name)
    return keys


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def test_example_config_documents_every_key_with_its_default() -> None:
    import yaml

    text = EXAMPLE.read_text(encoding="utf-8")
    shown = flatten(yaml.safe_load(text))
    assert sorted(shown) == sorted(leaf_keys(FleetConfig))
    assert load_text(text, str(EXAMPLE)) == FleetConfig()


def test_published_schema_is_current() -> None:
    committed = json.loads((REPO / "config" / "fleet.schema.json").read_text(encoding="utf-8"))
    assert committed == json.loads(json.dumps(config_json_schema()))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "broker:\n  url: mqtt://h\n  usernme: ops\n",
            "fleet.yaml:3: broker.usernme: unknown key (did you mean username?)",
        ),
        (
            "database:\n  url: postgresql://fleet:s3cret@db/fleet\n",
            "fleet.yaml:2: database.url: this URL contains a password",
        ),
        ("database:\n  url: mysql://db/fleet\n", "fleet.yaml:2: database.url:"),
        (
            "broker:\n  shared_group: fleet\n",
            "shared_group needs a database all instances share",
        ),
        ("report:\n  timezone: Mars/Olympus\n", "fleet.yaml:2: report.timezone: unknown time zone"),
    ],
)
def test_config_problems_name_the_line_and_the_field(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_text(text)
    rendered = "\n".join(caught.value.problems)
    assert expected.split(": this URL", maxsplit=1)[0] in rendered
    assert "s3cret" not in rendered
    if "password" in expected:
        assert "db-password" in rendered


def test_config_error_exits_78_with_one_json_object(tmp_path: Path) -> None:
    bad = tmp_path / "fleet.yaml"
    bad.write_text("consumer:\n  stale_heartbeats: 1\n", encoding="utf-8")
    result = run_cli("report", "--json", config=bad)
    assert result.returncode == 78
    assert result.json()["error"]["message"].startswith(f"{bad}:2: consumer.stale_heartbeats")
    missing = run_cli("watch", "--json", config=tmp_path / "absent.yaml")
    assert missing.returncode == 78 and "no such file" in missing.json()["error"]["message"]


def test_a_bad_selected_store_list_imports_nothing(tmp_path: Path) -> None:
    config = tmp_path / "fleet.yaml"
    config.write_text(f"database:\n  url: sqlite:///{tmp_path / 'fleet.db'}\n", encoding="utf-8")
    listing = tmp_path / "stores.csv"
    listing.write_text(
        "store_id,name,address,licence_number,district,expected_completion\n"
        "sh-xh-0001,老王面馆,徐汇区1号,JY1,xuhui,2024-06\n"
        "SH XH 2,小李,徐汇区2号,JY2,徐汇,2024-13\n"
        "sh-xh-0003,,徐汇区3号,JY3,atlantis,\n",
        encoding="utf-8",
    )
    result = run_cli("stores", "import", str(listing), "--json", config=config)
    assert result.returncode == 2
    message = result.json()["error"]["message"]
    assert f"{listing}:3: store_id" in message and f"{listing}:3: expected_completion" in message
    assert f"{listing}:4: name: must not be empty" in message
    assert f"{listing}:4: district: unknown district 'atlantis'" in message
    assert not (tmp_path / "fleet.db").exists()


def test_the_fleet_loads_no_box_machinery_and_the_box_no_fleet() -> None:
    code = (
        "import sys\n"
        "import agent.fleet.cli, agent.fleet.consumer, agent.fleet.report, agent.fleet.export\n"
        "import agent.fleet.source, agent.fleet.commands\n"
        "heavy = ('cv2', 'numpy', 'zeep', 'onvif', 'wsdiscovery')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy\n"
        "      or m.startswith(('agent.capture', 'agent.uplink.video', 'agent.daemon'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
    # Only agent/fleet/contract.py imports box code; no box module imports the fleet.
    for path in (REPO / "agent" / "fleet").glob("*.py"):
        if path.name == "contract.py":
            continue
        imports = re.findall(r"^\s*(?:from|import) (agent\.[\w.]+)", path.read_text(), re.M)
        assert all(i.startswith(("agent.fleet", "agent.districts")) for i in imports), path
    for path in (REPO / "agent").rglob("*.py"):
        if "fleet" in path.parts or path.name == "fleet_cmd.py":
            continue
        assert "agent.fleet" not in path.read_text(encoding="utf-8"), path


def test_watch_redraws_in_place_on_a_terminal(tmp_path: Path) -> None:
    """What an operator sees: the table drawn again and again at the top of the screen."""
    import time

    from agent.fleet.db import open_database
    from agent.fleet.ingest import Incoming, parse
    from testkit.fleet_sim import make_stores
    from testkit.terminal import Terminal

    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    database = open_database(url, None, writer=True, create=True)
    now = time.time()
    observations = []
    for store in make_stores(3, seed=5):
        for kind, payload in (
            ("state", store.state(True, "connected", now)),
            ("birth", store.birth(now)),
        ):
            observations.append(
                parse(Incoming(f"{store.root}/{kind}", payload, False, now), "kitchen/v1", 65536)
            )
    database.apply_batch(observations, 3)  # type: ignore[arg-type]
    database.close()
    config = tmp_path / "fleet.yaml"
    config.write_text(f"database:\n  url: {url}\n", encoding="utf-8")
    terminal = Terminal("fleet", "watch", "--interval", "0.3", "--config", str(config))
    try:
        screen = terminal.read_until(lambda shown: shown.count(b"\x1b[H\x1b[2J") >= 3)
    finally:
        code = terminal.interrupt()
    assert screen.count(b"\x1b[H\x1b[2J") >= 3, screen[-2000:]
    last = screen.rsplit(b"\x1b[H\x1b[2J", 1)[1].decode()
    assert "3 stores, 3 online" in last and "sim-0002" in last
    assert code == 130
