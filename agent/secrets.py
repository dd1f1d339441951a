"""Secrets live in files of a credentials directory, never in the YAML.

Under systemd, ``LoadCredential=`` puts them in ``$CREDENTIALS_DIRECTORY``; otherwise the
folder is ``/etc/kitchen-agent/credentials`` (or ``paths.credentials_dir``). Every value read
here is registered with the scrubber, so it is masked in every log line and message.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from agent.errors import AgentError, SecretMissingError
from agent.model import CameraLogin
from agent.scrub import register_secret

if TYPE_CHECKING:
    from agent.config.cameras import CamerasConfig

log = structlog.get_logger(__name__)

DEFAULT_CREDENTIALS_DIR = Path("/etc/kitchen-agent/credentials")
# File names in the credentials directory, not secret values.
CAMERA_PASSWORD = "camera-password"  # noqa: S105
MQTT_PASSWORD = "mqtt-password"  # noqa: S105
STREAM_TOKEN = "stream-token"  # noqa: S105
SECRET_NAMES = (CAMERA_PASSWORD, MQTT_PASSWORD, STREAM_TOKEN)


def credentials_dir(configured: Path | None = None) -> Path:
    """$CREDENTIALS_DIRECTORY (systemd) wins, then the configured folder, then /etc."""
    from_systemd = os.environ.get("CREDENTIALS_DIRECTORY")
    if from_systemd:
        return Path(from_systemd)
    if configured is not None:
        return configured
    return DEFAULT_CREDENTIALS_DIR


def _read_secret_file(path: Path) -> str:
    # Secrets are single-line; a trailing newline from `echo > file` is not part of them.
    return path.read_text(encoding="utf-8").rstrip("\r\n")


def read_password_file(path: Path) -> str:
    """Read a password given on the command line as ``--password-file``."""
    try:
        value = _read_secret_file(path)
    except OSError as error:
        raise SecretMissingError(f"cannot read password file {path}: {error.strerror}") from None
    register_secret(value)
    return value


class SecretState(enum.StrEnum):
    """What a credential file holds, as people are told about it (never its value)."""

    PRESENT = "present"
    EMPTY = "empty"  # install.sh creates the files empty: the agent reads that as unset
    MISSING = "missing"
    UNREADABLE = "unreadable"


def _what(name: str) -> str:
    return "token" if name.startswith(STREAM_TOKEN) else "password"


class CredentialStore:
    """The credentials directory: one file per secret."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def state(self, name: str) -> SecretState:
        """Whether the secret ``name`` is set, without registering or returning its value."""
        try:
            value = _read_secret_file(self.directory / name)
        except FileNotFoundError:
            return SecretState.MISSING
        except OSError:
            return SecretState.UNREADABLE
        return SecretState.PRESENT if value else SecretState.EMPTY

    def describe(self, name: str) -> str:
        """The state of ``name`` in words for people: what is wrong and what to do."""
        state = self.state(name)
        path = self.directory / name
        if state is SecretState.PRESENT:
            return "present"
        if state is SecretState.UNREADABLE:
            return f"unreadable — check the permissions of {path} (run as root)"
        return f"{state.value} — write the {_what(name)} into {path}"

    def names(self) -> list[str]:
        """The shared secrets, then every per-camera password file there is."""
        try:
            own = sorted(
                p.name for p in self.directory.iterdir() if p.name.startswith(f"{CAMERA_PASSWORD}.")
            )
        except OSError:
            own = []
        return [*SECRET_NAMES, *own]

    def get(self, name: str) -> str | None:
        """The secret ``name``, or None when its file does not exist."""
        path = self.directory / name
        try:
            value = _read_secret_file(path)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise SecretMissingError(
                f"cannot read credential {name} in {self.directory}: {error.strerror}"
            ) from None
        if value == "":
            return None  # install.sh creates empty files for unset secrets
        register_secret(value)
        return value

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise SecretMissingError(
                f"credential {name} is missing: put it in the file {self.directory / name}"
            )
        return value

    def camera_password(self, camera_id: str | None) -> str | None:
        """A camera's own password file (camera-password.<id>) wins over the shared one.

        Under systemd it arrives named with '-' for each ':' of the id (mac-00-11-...), as a
        credential name cannot hold ':' (scripts/refresh-credentials.sh writes the drop-in).
        """
        if camera_id:
            for name in dict.fromkeys((camera_id, camera_id.replace(":", "-"))):
                own = self.get(f"{CAMERA_PASSWORD}.{name}")
                if own is not None:
                    return own
        return self.get(CAMERA_PASSWORD)

    def register_all(self) -> None:
        """Read every secret file once so all values are masked before anything logs."""
        try:
            names = [p.name for p in self.directory.iterdir() if p.is_file()]
        except OSError:
            return
        for name in names:
            if name.startswith(SECRET_NAMES):
                self.get(name)


class CameraLogins:
    """The one place that decides which username and password go to a camera, and where
    they may go.

    Username: the enrolled camera's own (``cameras.enrolled[].username``), else
    ``cameras.username``. Password: the camera's own file ``camera-password.<id>``, else
    the shared ``camera-password`` (or, for ``discover --password-file``, that file's
    value for every camera). An unreadable password file is reported and treated as
    unset, so one bad file never stops the agent. The login carries the camera's
    ``media_hosts`` and ``allow_basic_http`` from its enrolment, which :mod:`agent.trust`
    applies wherever the login is used. Call it as a :data:`agent.model.LoginResolver`.
    """

    def __init__(
        self,
        default_username: str,
        store: CredentialStore | None,
        usernames: Mapping[str, str] | None = None,
        password_override: str | None = None,
        media_hosts: Mapping[str, Iterable[str]] | None = None,
        basic_http: Iterable[str] = (),
    ) -> None:
        self.default_username = default_username
        self.store = store
        self.usernames = dict(usernames or {})
        self.password_override = password_override
        self.media_hosts = {k: frozenset(v) for k, v in (media_hosts or {}).items() if v}
        self.basic_http = frozenset(basic_http)

    @classmethod
    def from_config(
        cls,
        cameras: CamerasConfig,
        store: CredentialStore | None,
        password_override: str | None = None,
        default_username: str | None = None,
    ) -> CameraLogins:
        return cls(
            default_username or cameras.username,
            store,
            {c.id: c.username for c in cameras.enrolled if c.username},
            password_override=password_override,
            media_hosts={c.id: c.media_hosts for c in cameras.enrolled},
            basic_http=[c.id for c in cameras.enrolled if c.allow_basic_http],
        )

    def __call__(self, camera_id: str | None) -> CameraLogin:
        key = camera_id or ""
        username = self.usernames.get(key, self.default_username)
        password: str | None = None
        if self.password_override is not None:
            password = self.password_override
        elif self.store is not None:
            try:
                password = self.store.camera_password(camera_id)
            except AgentError as error:
                log.warning("camera_password_unreadable", camera_id=camera_id, reason=error.message)
        return CameraLogin(
            username,
            password,
            media_hosts=self.media_hosts.get(key, frozenset()),
            allow_basic_http=key in self.basic_http,
        )
