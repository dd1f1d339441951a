"""No secret ever reaches a log line, whoever logs it."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from agent.errors import SecretMissingError
from agent.logs import configure_logging
from agent.scrub import forget_secrets, register_secret, scrub, strip_userinfo
from agent.secrets import CredentialStore, credentials_dir, read_password_file


@pytest.fixture(autouse=True)
def _clean_secrets_and_logging() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()
    # These tests point structlog at a StringIO and raise its level: undo it for the rest.
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "rtsp://admin:Pa55w0rd@192.0.2.10:554/Streaming/101",
            "rtsp://admin:***@192.0.2.10:554/Streaming/101",
        ),
        ("mqtts://box:p@ss@broker:8883", "mqtts://box:***@broker:8883"),
        ("rtmp://ingest/live/s1?token=abc123&x=1", "rtmp://ingest/live/s1?token=***&x=1"),
        ("srt://h:9000?streamid=a&passphrase=zz", "srt://h:9000?streamid=a&passphrase=***"),
        ("mqtt://box:pa/ss@broker:1883", "mqtt://box:***@broker:1883"),
        ("rtsp://admin:a/b#c@192.0.2.10/live", "rtsp://admin:***@192.0.2.10/live"),
        ('url="rtsp://u:p/w@h/a" other=x@y', 'url="rtsp://u:***@h/a" other=x@y'),
        ("http://h/snap.jpg?auth=YWRtaW46MTIz", "http://h/snap.jpg?auth=***"),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_scrub_patterns(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_registered_secret_masked_anywhere() -> None:
    register_secret("hunter2-long")
    register_secret("ab")  # too short to mask safely: ignored
    assert scrub("stderr: auth hunter2-long failed; ab") == "stderr: auth *** failed; ab"


def test_strip_userinfo() -> None:
    assert strip_userinfo("rtsp://u:p@192.0.2.1:554/a?b=1") == "rtsp://192.0.2.1:554/a?b=1"
    assert "pa/ss" not in strip_userinfo("mqtt://u:pa/ss@broker:1883")
    assert strip_userinfo("http://[2001:db8::1]:80/x") == "http://[2001:db8::1]:80/x"
    assert strip_userinfo("rtsp://u:p@[2001:db8::1]/x") == "rtsp://[2001:db8::1]/x"


def test_logs_are_json_and_scrubbed() -> None:
    register_secret("cam-secret-99")
    stream = io.StringIO()
    configure_logging("info", stream=stream, json_lines=True)
    log = structlog.get_logger("test")
    log.info(
        "camera_login",
        url="rtsp://admin:cam-secret-99@192.0.2.5/live",
        nested={"list": ["token cam-secret-99"]},
    )
    logging.getLogger("zeep.transports").warning("POST http://u:pw1234@192.0.2.5/onvif")
    try:
        raise RuntimeError("failed with cam-secret-99")
    except RuntimeError:
        log.exception("camera_failed")
    output = stream.getvalue()
    assert "cam-secret-99" not in output
    assert "pw1234" not in output
    lines = [json.loads(line) for line in output.splitlines()]
    assert lines[0]["event"] == "camera_login"
    assert lines[0]["url"] == "rtsp://admin:***@192.0.2.5/live"
    assert lines[0]["level"] == "info"
    assert "***" in lines[1]["event"]
    assert "RuntimeError" in lines[2]["exception"]


def test_debug_filtering() -> None:
    stream = io.StringIO()
    configure_logging("warning", stream=stream, json_lines=True)
    structlog.get_logger("t").info("hidden")
    structlog.get_logger("t").warning("shown")
    assert [json.loads(x)["event"] for x in stream.getvalue().splitlines()] == ["shown"]


def test_credentials_directory_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    assert credentials_dir(None) == Path("/etc/kitchen-agent/credentials")
    assert credentials_dir(tmp_path) == tmp_path
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", "/run/credentials/kitchen-agent.service")
    assert credentials_dir(tmp_path) == Path("/run/credentials/kitchen-agent.service")


def test_credentials_read_and_register(tmp_path: Path) -> None:
    (tmp_path / "camera-password").write_text("shared-pass\n", encoding="utf-8")
    (tmp_path / "camera-password.cam2").write_text("own-pass", encoding="utf-8")
    credentials = CredentialStore(tmp_path)
    assert credentials.camera_password("cam1") == "shared-pass"
    assert credentials.camera_password("cam2") == "own-pass"
    assert credentials.get("mqtt-password") is None
    with pytest.raises(SecretMissingError, match="mqtt-password"):
        credentials.require("mqtt-password")
    assert scrub("shared-pass own-pass") == "*** ***"
    (tmp_path / "pw").write_text("from-file-pw\n", encoding="utf-8")
    assert read_password_file(tmp_path / "pw") == "from-file-pw"
    with pytest.raises(SecretMissingError):
        read_password_file(tmp_path / "none")
