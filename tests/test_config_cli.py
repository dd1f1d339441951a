"""`config init/check/show/schema` as an installer's flashing script uses them."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import config_json_schema, load_config

REPO = Path(__file__).resolve().parents[1]

INIT = [
    "config",
    "init",
    "--store-id",
    "sh-xh-0001",
    "--store-name",
    "老王面馆",
    "--licence-number",
    "JY31010400012345",
    "--district",
    "xuhui",
    "--address",
    "上海市徐汇区漕溪北路1号",
    "--broker",
    "mqtt://127.0.0.1:1883",
    "--kcp",
    "cooking,cold_room,prep",
]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_init_then_check_succeeds(tmp_path: Path) -> None:
    out = tmp_path / "agent.yaml"
    result = cli(
        *INIT,
        "--set",
        "streams.max_kbps=384",
        "--set",
        "store.licence_number=0123",
        "--output",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    text = out.read_text(encoding="utf-8")
    assert "# Bitrate cap of one camera's stream." in text  # commented from the model
    config = load_config(out)
    assert config.streams.max_kbps == 384
    assert config.store.licence_number == "0123"  # kept as text, not octal 83
    assert [k.value for k in config.store.kcps] == ["cooking", "cold_room", "prep"]
    check = cli("config", "check", "--config", str(out), "--json")
    assert check.returncode == 0, check.stderr
    payload = json.loads(check.stdout)
    assert payload["ok"] is True
    assert any("cold_room" in w for w in payload["warnings"])  # no camera assigned yet


def test_init_misspelt_key_then_check_names_key_and_line(tmp_path: Path) -> None:
    out = tmp_path / "agent.yaml"
    assert cli(*INIT, "--output", str(out)).returncode == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip().startswith("keepalive_s:"))
    lines[index] = lines[index].replace("keepalive_s", "keep_alive_s")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("config", "check", "--config", str(out))
    assert result.returncode == 78
    assert f"{out}:{index + 1}: broker.keep_alive_s: unknown key (did you mean keepalive_s?)" in (
        result.stderr
    )


def test_init_refuses_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "agent.yaml"
    out.write_text("keep me", encoding="utf-8")
    result = cli(*INIT, "--output", str(out))
    assert result.returncode == 2
    assert "--force" in result.stderr
    assert out.read_text(encoding="utf-8") == "keep me"
    assert cli(*INIT, "--output", str(out), "--force").returncode == 0
    load_config(out)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--set", "streams.max_kbps=9"], "--set streams.max_kbps: must be between 64 and 8000"),
        (["--set", "streams.maxkbps=300"], "--set streams.maxkbps: unknown key"),
        (["--set", "broker.password=x1y2z3"], "--set broker.password: secrets do not belong"),
        (["--kcp", "cooking,fryer"], "unknown key control point 'fryer'"),
        (["--set", "nonsense"], "expected dotted.key=VALUE"),
    ],
)
def test_init_rejects_bad_values_and_writes_nothing(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    out = tmp_path / "agent.yaml"
    args = list(INIT)
    if extra[0] == "--kcp":
        args[args.index("--kcp") + 1] = extra[1]
        extra = []
    result = cli(*args, *extra, "--output", str(out))
    assert result.returncode == 78, result.stderr
    assert message in result.stderr
    assert "x1y2z3" not in result.stderr
    assert not out.exists()


def test_show_prints_effective_config_and_credential_presence(tmp_path: Path) -> None:
    out = tmp_path / "agent.yaml"
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "camera-password").write_text("cam-pass-123\n", encoding="utf-8")
    # What install.sh's tmpfiles leave: an empty file, which the agent reads as unset.
    (creds / "stream-token").write_text("", encoding="utf-8")
    (creds / "camera-password.mac-0200").write_text("\n", encoding="utf-8")
    assert (
        cli(*INIT, "--set", f"paths.credentials_dir={creds}", "--output", str(out)).returncode == 0
    )
    result = cli("config", "show", "--config", str(out), "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["config"]["broker"]["heartbeat_interval_s"] == 30
    assert payload["credentials"]["camera-password"] == "present"
    assert payload["credentials"]["mqtt-password"] == (
        f"missing — write the password into {creds / 'mqtt-password'}"
    )
    assert payload["credentials"]["stream-token"] == (
        f"empty — write the token into {creds / 'stream-token'}"
    )
    assert payload["credentials"]["camera-password.mac-0200"] == (
        f"empty — write the password into {creds / 'camera-password.mac-0200'}"
    )
    assert "cam-pass-123" not in result.stdout
    human = cli("config", "show", "--config", str(out))
    assert "heartbeat_interval_s: 30" in human.stdout
    assert f"#   stream-token: empty — write the token into {creds / 'stream-token'}" in (
        human.stdout
    )
    text = out.read_text(encoding="utf-8").replace(
        "ingest_url: null", "ingest_url: rtmp://127.0.0.1/live/{camera_id}?token={token}"
    )
    out.write_text(text, encoding="utf-8")
    warnings = json.loads(cli("config", "check", "--config", str(out), "--json").stdout)["warnings"]
    assert f"the credential stream-token is empty — write the token into {creds}/stream-token" in (
        " ".join(warnings)
    )
    assert "cam-pass-123" not in human.stdout


def test_committed_schema_is_current() -> None:
    committed = json.loads((REPO / "config" / "agent.schema.json").read_text(encoding="utf-8"))
    assert committed == config_json_schema(), (
        "config/agent.schema.json is stale: run `python -m agent.config.example`"
    )


def test_schema_command_matches_models() -> None:
    result = cli("config", "schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema == config_json_schema()
    assert schema["additionalProperties"] is False
    assert "max_kbps" in json.dumps(schema)


def test_example_config_is_valid_and_current() -> None:
    from agent.config.example import example_yaml

    path = REPO / "config" / "agent.example.yaml"
    config = load_config(path)
    assert config.cameras.enrolled, "the example shows how to enrol a camera"
    assert path.read_text(encoding="utf-8") == example_yaml(), (
        "config/agent.example.yaml is stale: run `python -m agent.config.example`"
    )


def test_help_lists_only_working_commands() -> None:
    result = cli("--help")
    assert result.returncode == 0
    from agent.cli import COMMAND_MODULES

    for module in COMMAND_MODULES:
        name = module.rsplit(".", 1)[1].removesuffix("_cmd").replace("_", "-")
        assert name in result.stdout


def test_unknown_command_is_usage_error() -> None:
    result = cli("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
