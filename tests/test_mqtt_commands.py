"""Commands from a fleet-wide broker: whatever arrives is answered, nothing is run twice.

Pure parsing and the command ledger alone (no broker); the reporter-level behaviour is in
tests/test_mqtt_reporter.py.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.uplink.mqtt.commands import (
    MAX_COMMAND_BYTES,
    CommandRunner,
    NoHooks,
    Outcome,
    ParsedCommand,
    json_depth_exceeds,
    parse_command,
)
from agent.uplink.mqtt.ledger import SEEN_FILE, SeenCommands
from testkit.disk_fixtures import SmallDisk, fault_code

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def body(command_id: str = "c-1", name: str = "rebirth", **extra: Any) -> bytes:
    command = {
        "command_id": command_id,
        "name": name,
        "args": {},
        "expires_at": (NOW + timedelta(minutes=10)).isoformat(),
    }
    return json.dumps({**command, **extra}).encode()


def rejected_code(result: ParsedCommand | Outcome) -> str | None:
    assert isinstance(result, Outcome) and result.status == "rejected", result
    return result.error.code if result.error else None


# --- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 64_000,  # RecursionError in json.loads on the code before this test
        b"{" * 60_000,
        b'{"command_id": "x", "args": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
        b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    ],
)
def test_deeply_nested_json_is_rejected_never_raised(payload: bytes) -> None:
    assert len(payload) <= MAX_COMMAND_BYTES
    assert rejected_code(parse_command(payload, NOW)) == "command_malformed"


def test_depth_counting_ignores_brackets_inside_strings() -> None:
    assert not json_depth_exceeds(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', 3)
    assert not json_depth_exceeds(b'{"a": "\\"[[[[[[[[["}', 3)
    assert json_depth_exceeds(b"[[[[1]]]]", 3)
    assert not json_depth_exceeds(b"[[[1]]]", 3)


def test_every_byte_string_gets_an_answer_not_an_exception() -> None:
    """Random and mutated payloads: each is parsed into a command or a rejection."""
    generator = random.Random(12)
    seeds = [body(), b"[]", b"{}", b'"x"', b"null", b"1e999999", b'{"command_id": 1}']
    for _ in range(3000):
        payload = bytearray(generator.choice(seeds))
        for _ in range(generator.randint(0, 8)):
            position = generator.randint(0, len(payload))
            payload[position:position] = bytes([generator.choice(b'[]{}",:\\\x00\xff1aeE-')])
        result = parse_command(bytes(payload), NOW)
        assert isinstance(result, ParsedCommand | Outcome)


@pytest.mark.parametrize(
    ("expires_in", "code"),
    [
        (None, "command_expiry_too_far"),  # year 9999
        (timedelta(hours=2), "command_expiry_too_far"),
        (timedelta(hours=1, minutes=5, seconds=1), "command_expiry_too_far"),
        (timedelta(hours=1, minutes=5), None),  # one hour plus the clock margin
        (timedelta(hours=1), None),
        (timedelta(seconds=-1), "command_expired"),
    ],
)
def test_a_command_lives_at_most_an_hour(expires_in: timedelta | None, code: str | None) -> None:
    expires_at = NOW + expires_in if expires_in is not None else datetime(9999, 12, 31, tzinfo=UTC)
    result = parse_command(body(expires_at=expires_at.isoformat()), NOW)
    if code is None:
        assert isinstance(result, ParsedCommand)
    else:
        assert rejected_code(result) == code


# --- the runner and its ledger -------------------------------------------------------------


class Counting(NoHooks):
    def __init__(self) -> None:
        self.rescans = 0

    def rescan(self) -> dict[str, Any]:
        self.rescans += 1
        return {}


def run_to_end(runner: CommandRunner, payload: bytes) -> list[Outcome]:
    outcomes = runner.submit(payload)
    if outcomes and outcomes[0].status == "accepted":
        done = threading.Event()
        while not done.wait(0.01):
            finished = runner.finished()
            if finished:
                outcomes += finished
                done.set()
    return outcomes


def make_runner(
    state_dir: Path, hooks: Any = None, clock: Callable[[], datetime] = lambda: NOW, **ledger: Any
) -> CommandRunner:
    seen = SeenCommands(state_dir, clock=lambda: clock().timestamp(), **ledger)
    return CommandRunner(hooks or Counting(), seen, rebirth=lambda: None, clock=clock)


def test_an_id_is_remembered_until_its_command_expires_whatever_came_after(
    tmp_path: Path,
) -> None:
    """Before: the last 500 ids; 600 rejected commands pushed a live id out, and a replay
    of that command ran again."""
    hooks = Counting()
    runner = make_runner(tmp_path, hooks)
    first = body("rescan-1", "rescan")
    assert [o.status for o in run_to_end(runner, first)] == ["accepted", "succeeded"]
    for n in range(600):
        (noise,) = runner.submit(body(f"noise-{n}", "selfdestruct"))
        assert noise.status == "rejected"
    (replay,) = runner.submit(first)
    assert replay.duplicate and replay.status == "succeeded"
    assert hooks.rescans == 1
    runner.shutdown()


def test_a_full_ledger_of_live_commands_refuses_new_ones_rather_than_forget(
    tmp_path: Path,
) -> None:
    runner = make_runner(tmp_path, limit=5)
    for n in range(5):
        assert run_to_end(runner, body(f"live-{n}", "rescan"))[0].status == "accepted"
    (busy,) = runner.submit(body("live-5", "rescan"))
    assert busy.status == "rejected" and busy.error is not None
    assert busy.error.code == "command_busy"
    for n in range(5):
        assert runner.submit(body(f"live-{n}", "rescan"))[0].duplicate
    runner.shutdown()


def test_ids_survive_a_restart_and_are_forgotten_after_expiry(tmp_path: Path) -> None:
    now = [NOW]
    runner = make_runner(tmp_path, clock=lambda: now[0])
    assert run_to_end(runner, body("rescan-9", "rescan"))[0].status == "accepted"
    runner.shutdown()
    stored = json.loads((tmp_path / SEEN_FILE).read_text())
    (entry,) = [value for key, value in stored["seen"] if key == "rescan-9"]
    assert entry["status"] == "succeeded"
    expiry = (NOW + timedelta(minutes=10)).timestamp()
    assert entry["keep_until"] == pytest.approx(expiry + 300)
    later = SeenCommands(tmp_path, clock=lambda: expiry + 299)
    assert later.get("rescan-9") is not None
    assert SeenCommands(tmp_path, clock=lambda: expiry + 301).get("rescan-9") is None


def test_a_ledger_of_the_old_format_keeps_its_ids_for_the_longest_lifetime(
    tmp_path: Path,
) -> None:
    (tmp_path / SEEN_FILE).write_text(
        json.dumps({"seen": [["old-1", {"name": "rescan", "status": "succeeded", "error": None}]]})
    )
    assert SeenCommands(tmp_path, clock=NOW.timestamp).get("old-1") is not None
    forgotten = SeenCommands(tmp_path, clock=NOW.timestamp)
    forgotten._clock = lambda: NOW.timestamp() + 3601 + 300
    assert forgotten.get("old-1") is None


def test_a_full_disk_degrades_the_ledger_to_memory_without_a_crash(
    small_disk: Callable[[int], SmallDisk],
) -> None:
    """Before: SeenCommands.record raised ENOSPC on the reporter's thread."""
    disk = small_disk(256)
    hooks = Counting()
    runner = make_runner(disk.root, hooks, reserve_bytes=0)
    assert run_to_end(runner, body("before", "rescan"))[0].status == "accepted"
    assert fault_code(runner.seen) is None
    filler = disk.fill()
    outcomes = run_to_end(runner, body("during", "rescan"))
    assert [o.status for o in outcomes] == ["accepted", "succeeded"]
    assert fault_code(runner.seen) == "storage_full"
    assert runner.submit(body("during", "rescan"))[0].duplicate  # remembered in memory
    assert hooks.rescans == 2
    filler.unlink()
    run_to_end(runner, body("after", "rescan"))
    assert fault_code(runner.seen) is None  # the next save succeeded: no longer degraded
    stored = json.loads((disk.root / SEEN_FILE).read_text())
    assert {key for key, _ in stored["seen"]} >= {"before", "during", "after"}
    runner.shutdown()


def test_the_reserve_keeps_the_ledger_from_taking_the_last_megabytes(
    small_disk: Callable[[int], SmallDisk],
) -> None:
    disk = small_disk(1024)
    runner = make_runner(disk.root, reserve_bytes=2 * 1024 * 1024)  # more than the disk
    assert run_to_end(runner, body("x", "rescan"))[0].status == "accepted"
    assert fault_code(runner.seen) == "storage_full"
    assert not (disk.root / SEEN_FILE).exists()
    runner.shutdown()
