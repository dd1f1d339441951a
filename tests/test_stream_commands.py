"""start_stream / stop_stream: what ops may send, and what the box accepts for which camera.

The relay side (durations, renewals) is in tests/test_stream_manager.py; a live start and
stop through a real broker, ffmpeg and ingest in tests/test_daemon_lifecycle.py.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from agent.config.loader import load_text
from agent.daemon import Daemon
from agent.errors import CommandBadArgs, CommandNotSupported
from agent.hooks import DaemonHooks
from agent.state import AgentState
from agent.uplink.messages import StartStreamArgs, StreamCommandResult
from agent.uplink.mqtt.commands import Outcome, ParsedCommand, parse_command
from agent.uplink.video.manager import StreamManager
from agent.workers import WORKER_SPECS
from testkit.configs import VALID

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
CONFIG = (
    VALID
    + """\
cameras:
  enrolled:
    - {id: cam-wok, kcps: [{kcp: cooking}]}
    - {id: cam-sink, kcps: [{kcp: dishwashing}]}
    - {id: cam-off, kcps: [{kcp: prep}]}
"""
).replace(
    "  max_kbps: 512\n",
    "  max_kbps: 512\n  cameras:\n    cam-wok: {mode: on_demand}\n    cam-off: {enabled: false}\n",
)


def command(name: str, args: dict[str, object]) -> ParsedCommand | Outcome:
    expires = (NOW + dt.timedelta(minutes=5)).isoformat()
    body = {"command_id": "c-1", "name": name, "args": args, "expires_at": expires}
    return parse_command(json.dumps(body).encode(), NOW)


def test_what_ops_may_send() -> None:
    parsed = command("start_stream", {"camera_id": "cam-wok", "duration_s": 600})
    assert isinstance(parsed, ParsedCommand) and parsed.args == StartStreamArgs(
        camera_id="cam-wok", duration_s=600
    )
    assert isinstance(command("start_stream", {"camera_id": "cam-wok"}), ParsedCommand)
    assert isinstance(command("stop_stream", {"camera_id": "cam-wok"}), ParsedCommand)
    for name, args in [
        ("start_stream", {}),
        ("start_stream", {"camera_id": "cam-wok", "duration_s": 5}),
        ("start_stream", {"camera_id": "cam-wok", "duration_s": 90000}),
        ("stop_stream", {"camera_id": "cam-wok", "duration_s": 60}),
    ]:
        rejected = command(name, args)
        assert isinstance(rejected, Outcome) and rejected.error is not None
        assert rejected.error.code == "command_bad_args", (name, args)


@pytest.fixture
def hooks(tmp_path: Path) -> tuple[DaemonHooks, StreamManager]:
    config = load_text(
        CONFIG
        + f"paths:\n  state_dir: {tmp_path / 'state'}\n  credentials_dir: {tmp_path}\n"
        + f"  runtime_dir: {tmp_path / 'run'}\n"
    )
    runtime = Daemon(tmp_path / "agent.yaml", WORKER_SPECS, config=config)._make_runtime(config)
    manager = StreamManager(config.streams, config.store.id, AgentState(), list, None)
    return DaemonHooks(runtime, {"streams": manager}.get), manager


def test_start_and_stop_an_on_demand_camera(hooks: tuple[DaemonHooks, StreamManager]) -> None:
    actions, manager = hooks
    started = actions.start_stream("cam-wok", 600)
    result = StreamCommandResult.model_validate(started)
    assert result.streaming and result.until is not None
    assert 590 < (result.until - dt.datetime.now(dt.UTC)).total_seconds() <= 600
    assert manager._commands.get_nowait() == ("start", "cam-wok", 600)
    # Without a duration: the configured idle timeout.
    actions.start_stream("cam-wok", None)
    assert manager._commands.get_nowait() == ("start", "cam-wok", 300)
    stopped = StreamCommandResult.model_validate(actions.stop_stream("cam-wok"))
    assert (stopped.streaming, stopped.until) == (False, None)
    assert manager._commands.get_nowait() == ("stop", "cam-wok", None)


def test_what_the_box_refuses(hooks: tuple[DaemonHooks, StreamManager]) -> None:
    actions, _ = hooks
    with pytest.raises(CommandNotSupported, match="streams always"):
        actions.start_stream("cam-sink", None)
    with pytest.raises(CommandNotSupported, match="streams always"):
        actions.stop_stream("cam-sink")
    with pytest.raises(CommandNotSupported, match="streaming is off"):
        actions.start_stream("cam-off", None)
    with pytest.raises(CommandBadArgs, match="not enrolled"):
        actions.start_stream("cam-nope", None)
    no_streams = DaemonHooks(actions.runtime, lambda _name: None)
    with pytest.raises(CommandNotSupported, match="not configured"):
        no_streams.start_stream("cam-wok", None)
