"""``/etc/kitchen-fleet/fleet.yaml``: the fleet consumer's strict, documented config.

Same conventions as the box's ``agent.yaml``: unknown keys are errors, every field is
described, problems are reported as ``FILE:LINE: dotted.field: message`` (all of them, not
just the first), and secrets are never in the YAML: the broker password is the file
``mqtt-password`` and the database password the file ``db-password`` in the credentials
directory (``$CREDENTIALS_DIRECTORY`` under systemd, else ``paths.credentials_dir``, else
``/etc/kitchen-fleet/credentials``).
"""

from __future__ import annotations

import os
import socket
import zoneinfo
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agent.fleet.contract import (
    ConfigError,
    LineMap,
    Problem,
    SecretMissingError,
    find_secrets,
    format_loc,
    parse_yaml,
    read_config_text,
    register_secret,
    translate_error,
)

DEFAULT_CONFIG_PATH = Path("/etc/kitchen-fleet/fleet.yaml")
CONFIG_ENV = "KITCHEN_FLEET_CONFIG"
DEFAULT_CREDENTIALS_DIR = Path("/etc/kitchen-fleet/credentials")
MQTT_PASSWORD = "mqtt-password"  # noqa: S105 - a file name, not a password
DB_PASSWORD = "db-password"  # noqa: S105 - a file name, not a password
SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class Section(BaseModel):
    """Unknown keys are errors; every field carries a description (it becomes the schema)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class TlsConfig(Section):
    ca_file: Path | None = Field(
        default=None, description="CA bundle to verify the broker (default: system CAs)."
    )
    cert_file: Path | None = Field(default=None, description="Client certificate (PEM).")
    key_file: Path | None = Field(default=None, description="Client private key (PEM).")


class BrokerConfig(Section):
    url: str = Field(
        default="mqtt://127.0.0.1:1883",
        pattern=r"^mqtts?://[^/@\s]+(:\d+)?/?$",
        description="Broker URL, mqtt://host[:port] or mqtts://host[:port] (TLS). "
        "`--broker` on the command line overrides it.",
    )
    username: str | None = Field(
        default=None,
        description="Broker username (the ops user of docs/mqtt.md's ACL); the password is "
        "the credential file mqtt-password.",
    )
    client_id: str | None = Field(
        default=None,
        description="MQTT client id of the consumer (default: kitchen-fleet-<hostname>); "
        "each instance needs its own.",
    )
    topic_root: str = Field(
        default="kitchen/v1",
        pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$",
        description="Topic prefix the boxes publish under.",
    )
    shared_group: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="MQTT 5 shared-subscription group (e.g. fleet): several consumer "
        "instances split the live traffic ($share/<group>/<topic_root>/#) and share one "
        "PostgreSQL database. Unset: this instance reads everything (one consumer).",
    )
    keepalive_s: int = Field(default=60, ge=5, le=600, description="MQTT keepalive, seconds.")
    session_expiry_s: int = Field(
        default=3600,
        ge=0,
        le=7 * 86400,
        description="MQTT 5 session expiry: the broker queues QoS 1 events for the "
        "consumer while it restarts, up to this long (0: no persistent session).",
    )
    connect_timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="Give up one connection attempt after this."
    )
    tls: TlsConfig = Field(default_factory=TlsConfig, description="TLS settings for mqtts://.")


class DatabaseConfig(Section):
    url: str = Field(
        default="sqlite:////var/lib/kitchen-fleet/fleet.db",
        description="Where the fleet's state and history live: sqlite:////path/fleet.db "
        "(one consumer) or postgresql://user@host[:port]/dbname (several consumers; the "
        "password is the credential file db-password).",
    )

    @field_validator("url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme not in ("sqlite", "postgresql", "postgresql+psycopg", "postgres"):
            raise ValueError("must be sqlite:////path/to/fleet.db or postgresql://user@host/dbname")
        return value


class PathsConfig(Section):
    credentials_dir: Path | None = Field(
        default=None,
        description="Folder of secret files (mqtt-password, db-password). Default: "
        "$CREDENTIALS_DIRECTORY when set, else /etc/kitchen-fleet/credentials.",
    )
    districts_file: Path | None = Field(
        default=None,
        description="District table (seq, district_zh, district_en, slug, food_court_stores, "
        "other_stores, total_stores) overriding the one shipped (the 2022 programme's).",
    )


class ConsumerConfig(Section):
    stale_heartbeats: int = Field(
        default=3,
        ge=2,
        le=20,
        description="A store whose heartbeats stop for this many intervals is offline "
        "even if its state still says online (docs/mqtt.md).",
    )
    batch_max: int = Field(
        default=500, ge=1, le=10000, description="Most messages written in one transaction."
    )
    queue_max: int = Field(
        default=200_000,
        ge=1000,
        le=10_000_000,
        description="Most received messages waiting for the database; beyond it the oldest "
        "are dropped and counted (a database outage longer than the queue).",
    )
    max_payload_bytes: int = Field(
        default=256 * 1024,
        ge=4096,
        le=16 * 1024 * 1024,
        description="Largest state/birth/heartbeat/event payload accepted; bigger ones are "
        "counted as bad and dropped.",
    )
    keep_event_ids_days: int = Field(
        default=8,
        ge=1,
        le=90,
        description="How long event msg_ids are remembered for deduplication (the box "
        "keeps undelivered events 7 days).",
    )


class AlertsConfig(Section):
    offline_after_s: int = Field(
        default=900,
        ge=0,
        le=30 * 86400,
        description="fleet alerts: a store offline for longer than this is listed.",
    )
    kcp_uncovered_after_s: int = Field(
        default=1800,
        ge=0,
        le=30 * 86400,
        description="fleet alerts: a key control point uncovered for longer than this is listed.",
    )


class ReportConfig(Section):
    timezone: str = Field(
        default="Asia/Shanghai",
        description="Time zone of report months, dates and times shown to people.",
    )
    reporting_unit: str = Field(
        default="{district}市场监督管理局",
        description="上报单位 of each district's annex 3 ({district}: the full name such as "
        "徐汇区 or 浦东新区; {name_zh}: 徐汇; {slug}: xuhui).",
    )
    offline_problem_after_s: int = Field(
        default=86400,
        ge=60,
        description="存在的问题: stores offline for longer than this at the report date.",
    )
    stuck_after_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="存在的问题: stores whose construction stage has not moved for this "
        "many days (and is not 完成建设).",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)") from None
        return value

    @field_validator("reporting_unit")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            value.format(district="", name_zh="", slug="")
        except (KeyError, IndexError, ValueError):
            raise ValueError(
                "may only use the placeholders {district}, {name_zh} and {slug}"
            ) from None
        return value


class LogConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Log level (logs go to journald as JSON lines)."
    )


class FleetConfig(Section):
    """kitchen-agent fleet configuration (/etc/kitchen-fleet/fleet.yaml). Secrets are not
    here: they are files in the credentials directory."""

    broker: BrokerConfig = Field(default_factory=BrokerConfig, description="The city's broker.")
    database: DatabaseConfig = Field(
        default_factory=DatabaseConfig, description="State and history of the fleet."
    )
    paths: PathsConfig = Field(default_factory=PathsConfig, description="Files and folders.")
    consumer: ConsumerConfig = Field(
        default_factory=ConsumerConfig, description="The MQTT consumer (fleet run)."
    )
    alerts: AlertsConfig = Field(default_factory=AlertsConfig, description="fleet alerts.")
    report: ReportConfig = Field(default_factory=ReportConfig, description="fleet report.")
    log: LogConfig = Field(default_factory=LogConfig, description="Logging.")

    @model_validator(mode="after")
    def _shared_needs_a_shared_database(self) -> FleetConfig:
        if self.broker.shared_group and urlsplit(self.database.url).scheme == "sqlite":
            raise ValueError(
                "broker.shared_group needs a database all instances share: set database.url "
                "to postgresql://... (SQLite is one machine's file)"
            )
        return self

    def client_id(self) -> str:
        return self.broker.client_id or f"kitchen-fleet-{socket.gethostname()}"[:64]


def _secret_message(loc: tuple[str | int, ...]) -> str:
    file = DB_PASSWORD if loc and loc[0] == "database" else MQTT_PASSWORD
    return (
        "secrets do not belong in the config: remove it and put the password in the "
        f"credentials directory as the file {file}"
    )


def validate_data(data: Any, lines: LineMap, filename: str) -> FleetConfig:
    """Plain data to a FleetConfig, or ConfigError listing every problem with its line."""
    if data is None:
        data = {}  # an empty file means "every default"
    if not isinstance(data, dict):
        raise ConfigError(f"{filename}:1: the top level must be a mapping of sections")
    problems = [
        Problem(line, loc, f"key appears twice (the line {line} one would win)")
        for loc, line in lines.duplicates
    ]
    problems += [
        Problem(lines.line_of(loc), loc, _secret_message(loc)) for loc, _ in find_secrets(data)
    ]
    if not problems:
        try:
            return FleetConfig.model_validate(data)
        except ValidationError as error:
            for item in error.errors():
                loc, message = translate_error(item, FleetConfig)
                problems.append(Problem(lines.line_of(loc), loc, message))
    problems.sort(key=lambda p: (p.line or 0, format_loc(p.loc)))
    rendered = [p.render(filename) for p in problems]
    raise ConfigError(rendered[0], rendered)


def load_text(text: str, filename: str = "fleet.yaml") -> FleetConfig:
    data, lines = parse_yaml(text, filename)
    return validate_data(data, lines, filename)


def config_path(explicit: Path | None) -> Path:
    """--config, then $KITCHEN_FLEET_CONFIG, then /etc/kitchen-fleet/fleet.yaml."""
    if explicit is not None:
        return explicit
    from_env = os.environ.get(CONFIG_ENV)
    return Path(from_env) if from_env else DEFAULT_CONFIG_PATH


def load_config(path: Path | None, *, required: bool = True) -> FleetConfig:
    """The config at ``path`` (see :func:`config_path`); every default when the file is
    absent and not ``required`` (a one-shot ``--broker`` report needs no file)."""
    chosen = config_path(path)
    if not required and path is None and not chosen.exists():
        return FleetConfig()
    return load_text(read_config_text(chosen), str(chosen))


def credentials_dir(config: FleetConfig) -> Path:
    from_systemd = os.environ.get("CREDENTIALS_DIRECTORY")
    if from_systemd:
        return Path(from_systemd)
    return config.paths.credentials_dir or DEFAULT_CREDENTIALS_DIR


def read_secret(config: FleetConfig, name: str) -> str | None:
    """The secret file ``name`` (None when absent or empty), registered for scrubbing."""
    path = credentials_dir(config) / name
    try:
        value = path.read_text(encoding="utf-8").rstrip("\r\n")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise SecretMissingError(f"cannot read credential {path}: {error.strerror}") from None
    if not value:
        return None
    register_secret(value)
    return value


def with_broker(config: FleetConfig, url: str | None) -> FleetConfig:
    """``config`` with the broker URL of ``--broker`` (validated like the file's)."""
    if url is None:
        return config
    data = config.model_dump(mode="json")
    data["broker"]["url"] = url
    try:
        return FleetConfig.model_validate(data)
    except ValidationError as error:
        _loc, message = translate_error(error.errors()[0], FleetConfig)
        raise ConfigError(f"--broker {url}: {message}") from None


def config_json_schema() -> dict[str, object]:
    schema = FleetConfig.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://kitchen-agent.invalid/schemas/fleet-config.json"
    return schema
