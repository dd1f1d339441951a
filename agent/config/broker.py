"""``broker:`` — the central MQTT broker that operations watch the fleet through."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from agent.config.base import Section


class TlsConfig(Section):
    ca_file: Path | None = Field(
        default=None, description="CA bundle to verify the broker (default: system CAs)."
    )
    cert_file: Path | None = Field(default=None, description="Client certificate (PEM).")
    key_file: Path | None = Field(default=None, description="Client private key (PEM).")


class OutboxConfig(Section):
    max_events: int = Field(
        default=10000,
        ge=10,
        le=1_000_000,
        description="Most events kept for delivery; beyond it the oldest are dropped (and "
        "counted in the next heartbeat).",
    )
    max_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=65536,
        le=1024 * 1024 * 1024,
        description="Most bytes of event payloads kept for delivery; oldest dropped beyond.",
    )
    max_age_s: int = Field(
        default=7 * 86400,
        ge=60,
        le=90 * 86400,
        description="Events older than this are dropped undelivered (counted as dropped).",
    )
    late_after_s: float = Field(
        default=30.0,
        ge=1,
        le=86400,
        description="An event delivered more than this many seconds after it happened is "
        "flagged late: true.",
    )


class BrokerConfig(Section):
    url: str = Field(
        pattern=r"^mqtts?://[^/@\s]+(:\d+)?/?$",
        description="Broker URL, mqtt://host[:port] or mqtts://host[:port] (TLS).",
    )
    allow_plaintext: bool = Field(
        default=False,
        description="Allow a username and password over mqtt:// (unencrypted: anyone on the "
        "way reads them). Only for a broker on a network you trust; use mqtts:// otherwise.",
    )
    username: str | None = Field(
        default=None,
        description="Broker username; the password is the credential file mqtt-password. "
        "With the ACL of docs/mqtt.md: <district>/<store id>.",
    )
    client_id: str | None = Field(
        default=None, description="MQTT client id (default: kitchen-agent-<store.id>)."
    )
    keepalive_s: int = Field(
        default=60,
        ge=5,
        le=600,
        description="MQTT keepalive in seconds (never 0); the broker declares the box "
        "offline (Last Will) after 1.5 x this without traffic.",
    )
    heartbeat_interval_s: int = Field(
        default=30, ge=5, le=3600, description="Seconds between heartbeats."
    )
    topic_root: str = Field(
        default="kitchen/v1",
        pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$",
        description="Topic prefix; messages go to <topic_root>/<district>/<store_id>/...",
    )
    tls: TlsConfig = Field(default_factory=TlsConfig, description="TLS settings for mqtts://.")
    protocol: Literal["auto", "5", "3.1.1"] = Field(
        default="auto",
        description="MQTT version: auto tries 5 and falls back to 3.1.1 when the broker "
        "refuses it.",
    )
    connect_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="Give up one connection attempt (TCP, TLS and CONNACK) after this long.",
    )
    reconnect_min_s: float = Field(
        default=1.0,
        gt=0,
        le=600,
        description="First reconnect delay; doubles per failure (with jitter).",
    )
    reconnect_max_s: float = Field(
        default=60.0, gt=0, le=3600, description="Longest reconnect delay."
    )
    queue_max_messages: int = Field(
        default=100,
        ge=1,
        le=10000,
        description="Command results held in memory while offline; the oldest is dropped "
        "beyond this (events use the durable outbox instead).",
    )
    snapshot_max_bytes: int = Field(
        default=256 * 1024,
        ge=16 * 1024,
        le=4 * 1024 * 1024,
        description="Largest JPEG a snapshot command may return (it is re-encoded smaller "
        "when the camera's is bigger).",
    )
    outbox: OutboxConfig = Field(
        default_factory=OutboxConfig,
        description="Durable event outbox (SQLite in paths.state_dir).",
    )

    @field_validator("username")
    @classmethod
    def _no_password_in_clear(cls, value: str | None, info: ValidationInfo) -> str | None:
        url = str(info.data.get("url", ""))
        if value and url.startswith("mqtt://") and not info.data.get("allow_plaintext"):
            raise ValueError(
                "a username means a password sent in clear over mqtt://: use mqtts://, or set "
                "broker.allow_plaintext: true for a broker on a network you trust"
            )
        return value

    @model_validator(mode="after")
    def _backoff_order(self) -> BrokerConfig:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        return self
