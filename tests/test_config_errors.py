"""The config error matrix: every broken config names file, line and field, exit 78."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import load_config, load_text
from agent.errors import ConfigError, ExitCode
from testkit.configs import VALID


def problems_of(text: str, name: str = "agent.yaml") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_text(text, name)
    assert caught.value.exit_code == ExitCode.CONFIG
    return caught.value.problems


def test_valid_config_loads_with_contract_defaults() -> None:
    config = load_text(VALID)
    assert config.store.name == "老王面馆"
    assert config.broker.heartbeat_interval_s == 30
    assert config.broker.keepalive_s == 60
    assert config.broker.topic_root == "kitchen/v1"
    assert config.cameras.username == "admin"
    assert config.quality.interval_s == 60
    assert config.streams.max_kbps == 512
    assert str(config.paths.state_dir) == "/var/lib/kitchen-agent"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "  max_kbps: 512",
            "  max_kpbs: 512",
            "agent.yaml:13: streams.max_kpbs: unknown key (did you mean max_kbps?)",
        ),
        (
            "  max_kbps: 512",
            "  max_kbps: 9000",
            "agent.yaml:13: streams.max_kbps: must be between 64 and 8000",
        ),
        (
            "  max_kbps: 512",
            "  max_kbps: fast",
            "agent.yaml:13: streams.max_kbps: must be a whole number (got 'fast')",
        ),
        (
            "kcps: [cooking, prep, dishwashing]",
            "kcps: [cooking, kitchen]",
            "agent.yaml:7: store.kcps[1]: unknown key control point 'kitchen'; expected one of: "
            "cooking, cold_room, prep, dishwashing, packing, storage",
        ),
        (
            "  username: box-0001",
            "  username: box-0001\n  password: s3cret-pw",
            "agent.yaml:11: broker.password: secrets do not belong in the config: remove this "
            "key and put the value in the credentials directory as the file mqtt-password",
        ),
        (
            "  url: mqtt://127.0.0.1:1883",
            "  url: mqtt://box:s3cret-pw@127.0.0.1:1883",
            "agent.yaml:9: broker.url: this URL contains a password: remove it and put the "
            "password in the credentials directory as the file mqtt-password",
        ),
        (
            "?token={token}",
            "?token=abcdef123",
            "agent.yaml:12: streams.ingest_url: this URL contains a literal token: write {token} "
            "instead and put the token in the credentials directory as the file stream-token",
        ),
        (
            "  licence_number: JY31010400012345",
            "  licence_number: 310104000123",
            "agent.yaml:4: store.licence_number: must be text (got the number 310104000123; "
            "put it in quotes)",
        ),
        ("  district: xuhui\n", "", "agent.yaml:1: store.district: is required"),
        (
            "  id: sh-xh-0001",
            "  id: sh-xh-0001\n  id: sh-xh-0002",
            "agent.yaml:3: store.id: key appears twice (the line 3 one would win)",
        ),
        (
            "broker:\n  url",
            "broker:\n  url: [unclosed\n  x",
            "agent.yaml:10: invalid YAML:",
        ),
    ],
)
def test_error_matrix_names_line_and_field(old: str, new: str, expected: str) -> None:
    assert old in VALID
    problems = problems_of(VALID.replace(old, new, 1))
    assert any(p.startswith(expected) for p in problems), problems
    # A problem never leaks the secret value it complains about.
    assert not any("s3cret-pw" in p or "abcdef123" in p for p in problems)


def test_all_problems_are_reported_together() -> None:
    text = VALID.replace("max_kbps: 512", "max_kbps: 1").replace("xuhui", "Xu Hui")
    problems = problems_of(text)
    assert len(problems) == 2
    assert problems[0].startswith("agent.yaml:5: store.district:")
    assert problems[1].startswith("agent.yaml:13: streams.max_kbps:")


def test_empty_and_non_mapping_files() -> None:
    assert problems_of("") == ["agent.yaml: the file is empty"]
    assert problems_of("- a\n- b\n") == [
        "agent.yaml:1: the top level must be a mapping of sections"
    ]


def test_missing_file_and_bad_encoding(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"agent.yaml: no such file"):
        load_config(tmp_path / "agent.yaml")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(
        VALID.encode("utf-8").replace("老王面馆".encode(), "caf\xe9".encode("latin-1"))
    )
    with pytest.raises(ConfigError, match=r"latin.yaml:3: not valid UTF-8"):
        load_config(latin)
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (VALID.replace("max_kbps: 512", "max_kpbs: 512"), "streams.max_kpbs: unknown key"),
        (VALID + "foo: [\n", "invalid YAML"),
        (VALID.replace("prep,", "fryer,"), "unknown key control point 'fryer'"),
    ],
)
def test_check_exits_78_without_traceback(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    result = run_cli("config", "check", "--config", str(path))
    assert result.returncode == 78
    assert fragment in result.stderr
    assert str(path) in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    as_json = run_cli("config", "check", "--config", str(path), "--json")
    assert as_json.returncode == 78
    payload = json.loads(as_json.stdout)
    assert payload["ok"] is False
    assert payload["error"]["code"] == "config_invalid"
    assert any(fragment in p for p in payload["problems"])


def test_missing_config_file_is_exit_78(tmp_path: Path) -> None:
    result = run_cli("config", "check", "--config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 78
    assert "nope.yaml: no such file" in result.stderr


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "env.yaml"
    path.write_text(VALID, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "agent", "config", "check", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, "KITCHEN_AGENT_CONFIG": str(path)},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["path"] == str(path)
