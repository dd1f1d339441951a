"""The config error matrix: every broken config names file, line and field, exit 78."""

from __future__ import annotations

import json
import subprocess
import sys
import time
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
            "  url: mqtts://127.0.0.1:8883",
            "  url: mqtts://box:s3cret-pw@127.0.0.1:8883",
            "agent.yaml:9: broker.url: this URL contains a password: remove it and put the "
            "password in the credentials directory as the file mqtt-password",
        ),
        (
            # A "/" in the password: urlsplit stops the host there; still a password.
            "  url: mqtts://127.0.0.1:8883",
            "  url: mqtts://box:s3cret-pw/x@127.0.0.1:8883",
            "agent.yaml:9: broker.url: this URL contains a password: remove it and put the "
            "password in the credentials directory as the file mqtt-password",
        ),
        (
            "rtmp://127.0.0.1/live/{store_id}-{camera_id}?token={token}",
            "srt://127.0.0.1:9000?streamid={camera_id}&passphrase=abcdef123",
            "agent.yaml:12: streams.ingest_url: this URL contains a literal token: write {token} "
            "instead and put the token in the credentials directory as the file stream-token",
        ),
        (
            "  url: mqtts://127.0.0.1:8883",
            "  url: mqtt://127.0.0.1:1883",
            "agent.yaml:10: broker.username: a username means a password sent in clear over "
            "mqtt://: use mqtts://, or set broker.allow_plaintext: true",
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
        # A typo cannot invent a district: the programme's table decides, with a suggestion.
        (
            "  district: xuhui",
            "  district: xuhiu",
            "agent.yaml:5: store.district: unknown district 'xuhiu'; did you mean xuhui (徐汇区)?",
        ),
        (
            "  district: xuhui",
            "  district: 浦东",
            "agent.yaml:5: store.district: unknown district '浦东'; "
            "did you mean pudong (浦东新区)?",
        ),
        (
            "  district: xuhui",
            "  district: atlantis",
            "agent.yaml:5: store.district: unknown district 'atlantis'; the programme's "
            "districts: pudong, putuo, xuhui,",
        ),
        (
            "  address:",
            "  expected_completion: 2024-13\n  address:",
            "agent.yaml:6: store.expected_completion:",
        ),
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


def test_plaintext_broker_with_a_username_needs_an_explicit_yes() -> None:
    text = VALID.replace("mqtts://127.0.0.1:8883", "mqtt://127.0.0.1:1883")
    with pytest.raises(ConfigError):
        load_text(text)
    allowed = text.replace("  username:", "  allow_plaintext: true\n  username:")
    assert load_text(allowed).broker.allow_plaintext is True
    anonymous = text.replace("  username: box-0001\n", "")
    assert load_text(anonymous).broker.username is None  # nothing secret crosses


def test_srt_passphrase_from_the_credential_is_fine() -> None:
    text = VALID.replace(
        "rtmp://127.0.0.1/live/{store_id}-{camera_id}?token={token}",
        "srt://127.0.0.1:9000?streamid={camera_id}&passphrase={token}",
    )
    assert load_text(text).streams.ingest_url is not None


def _lol(levels: int) -> str:
    """A few hundred bytes of nested aliases: 9^levels nodes once expanded."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            VALID.replace("  max_kbps: 512", "  max_kbps: &cap 512"),
            "agent.yaml:13: streams.max_kbps: YAML anchors and aliases",
        ),
        (
            VALID + "quality:\n  business_hours: *hours\n",
            "agent.yaml:15: quality.business_hours: YAML anchors and aliases",
        ),
        (_lol(6), "agent.yaml:1: a0: YAML anchors and aliases"),
        (VALID + "quality:\n  x: " + "[" * 50_000 + "]" * 50_000 + "\n", "nested deeper than"),
        (
            VALID + "quality:\n  business_hours: [" + ", ".join(["x"] * 30_000) + "]\n",
            "YAML nodes",
        ),
    ],
)
def test_yaml_bombs_are_refused_quickly_with_line_and_field(text: str, expected: str) -> None:
    started = time.monotonic()
    problems = problems_of(text)
    assert time.monotonic() - started < 2.0
    assert any(p.startswith(expected) or expected in p for p in problems), problems


def test_an_oversized_file_is_refused_before_it_is_read_whole(tmp_path: Path) -> None:
    big = tmp_path / "agent.yaml"
    with big.open("w", encoding="utf-8") as handle:
        handle.write(VALID)
        handle.write("# padding\n" * 2_000_000)  # 20 MB
    with pytest.raises(ConfigError, match=r"agent.yaml: larger than 256 KiB"):
        load_config(big)


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
