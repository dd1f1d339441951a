"""``broker:`` — the central MQTT broker that operations watch the fleet through."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from agent.config.base import Section


class TlsConfig(Section):
    ca_file: Path | None = Field(
        default=None, description="CA bundle to verify the broker (default: system CAs)."
    )
    cert_file: Path | None = Field(default=None, description="Client certificate (PEM).")
    key_file: Path | None = Field(default=None, description="Client private key (PEM).")


class BrokerConfig(Section):
    url: str = Field(
        pattern=r"^mqtts?://[^/@\s]+(:\d+)?/?$",
        description="Broker URL, mqtt://host[:port] or mqtts://host[:port] (TLS).",
    )
    username: str | None = Field(
        default=None,
        description="Broker username; the password is the credential file mqtt-password.",
    )
    client_id: str | None = Field(
        default=None, description="MQTT client id (default: kitchen-agent-<store.id>)."
    )
    keepalive_s: int = Field(default=60, ge=10, le=600, description="MQTT keepalive in seconds.")
    heartbeat_interval_s: int = Field(
        default=30, ge=5, le=3600, description="Seconds between heartbeats."
    )
    topic_root: str = Field(
        default="kitchen/v1",
        pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$",
        description="Topic prefix; messages go to <topic_root>/<district>/<store_id>/...",
    )
    tls: TlsConfig = Field(default_factory=TlsConfig, description="TLS settings for mqtts://.")
