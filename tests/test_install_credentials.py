"""A camera's own password file reaches the agent under systemd.

Under systemd the agent reads secrets only from $CREDENTIALS_DIRECTORY, which holds the
files the unit lists with LoadCredential=; without a line for camera-password.<id> the
agent would quietly use the shared password for that camera. refresh-credentials.sh writes
the drop-in and restarts the service; the fake manager builds $CREDENTIALS_DIRECTORY from
the unit and its drop-ins as systemd does (the drop-in's syntax is checked against
systemd's own parsers in test_install_units.py), and the agent's own lookup reads it.
"""

from __future__ import annotations

from pathlib import Path

from agent.secrets import CredentialStore
from testkit.install_fixtures import UNIT, Box, new_box

MAC_ID = "mac-00:11:22:33:44:55"


def service_credentials(box: Box) -> CredentialStore:
    return CredentialStore(box.state / "credentials" / UNIT)


def test_a_cameras_own_password_reaches_the_running_agent(box: Box) -> None:
    credentials = box.root / "etc/kitchen-agent/credentials"
    own = credentials / "camera-password.cam-01"
    own.write_text("cam-01 own secret\n", encoding="utf-8")
    (credentials / f"camera-password.{MAC_ID}").write_text("mac secret", encoding="utf-8")
    pid = box.service()["MainPID"]
    assert service_credentials(box).camera_password("cam-01") == "shared camera secret"

    result = box.script("refresh-credentials.sh", "--settle", "2")

    assert result.returncode == 0, result.stderr
    assert "2 per-camera password(s)" in result.stdout
    assert box.service()["ActiveState"] == "active"
    assert box.service()["MainPID"] != pid  # systemd copies credentials at start only
    seen = service_credentials(box)
    assert seen.camera_password("cam-01") == "cam-01 own secret"
    assert seen.camera_password(MAC_ID) == "mac secret"
    assert seen.camera_password("cam-09") == "shared camera secret"

    # Removing a file and refreshing drops its line (a file removed without a refresh
    # falls back to the drop-in's blank SetCredential= default: test_install_units.py).
    own.unlink()
    result = box.script("refresh-credentials.sh", "--no-restart")
    assert result.returncode == 0, result.stderr
    dropin = box.root / "etc/systemd/system/kitchen-agent.service.d/credentials.conf"
    assert "cam-01" not in dropin.read_text(encoding="utf-8")
    assert MAC_ID.replace(":", "-") in dropin.read_text(encoding="utf-8")


def test_refresh_needs_an_installed_agent(tmp_path: Path) -> None:
    empty = new_box(tmp_path)
    result = empty.script("refresh-credentials.sh")
    assert result.returncode == 1
    assert "kitchen-agent is not installed here" in result.stderr
