"""Where the link connects and what it publishes to: topics, connection settings, TLS."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from agent.backoff import Backoff
from agent.config.broker import BrokerConfig


@dataclass(frozen=True)
class Topics:
    """``{root}/{district}/{store_id}/...`` for one store."""

    root: str
    district: str
    store_id: str

    @property
    def base(self) -> str:
        return f"{self.root}/{self.district}/{self.store_id}"

    @property
    def state(self) -> str:
        return f"{self.base}/state"

    @property
    def birth(self) -> str:
        return f"{self.base}/birth"

    @property
    def heartbeat(self) -> str:
        return f"{self.base}/heartbeat"

    @property
    def event(self) -> str:
        return f"{self.base}/event"

    @property
    def cmd(self) -> str:
        return f"{self.base}/cmd"

    @property
    def cmd_result(self) -> str:
        return f"{self.base}/cmd/result"


@dataclass(frozen=True)
class LinkSettings:
    host: str
    port: int
    use_tls: bool
    client_id: str
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive_s: int = 60
    protocol: Literal["auto", "5", "3.1.1"] = "auto"
    connect_timeout_s: float = 10.0
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    queue_max_messages: int = 100

    @classmethod
    def from_config(
        cls, broker: BrokerConfig, client_id: str, password: str | None
    ) -> LinkSettings:
        parts = urlsplit(broker.url)
        use_tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (8883 if use_tls else 1883),
            use_tls=use_tls,
            client_id=broker.client_id or client_id,
            username=broker.username,
            password=password,
            ca_file=broker.tls.ca_file,
            cert_file=broker.tls.cert_file,
            key_file=broker.tls.key_file,
            keepalive_s=max(5, broker.keepalive_s),
            protocol=broker.protocol,
            connect_timeout_s=broker.connect_timeout_s,
            reconnect_min_s=broker.reconnect_min_s,
            reconnect_max_s=broker.reconnect_max_s,
            queue_max_messages=broker.queue_max_messages,
        )

    @property
    def backoff(self) -> Backoff:
        """Reconnect delays: the agent's one backoff policy."""
        return Backoff(self.reconnect_min_s, self.reconnect_max_s)


class TrackingContext(ssl.SSLContext):
    """An SSLContext that remembers its last socket: paho leaks it when the handshake
    fails (e.g. the broker's certificate is not trusted), so the link closes it."""

    last_socket: ssl.SSLSocket | None = None

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        sock = super().wrap_socket(*args, **kwargs)
        self.last_socket = sock
        return sock


def make_tls_context(settings: LinkSettings) -> TrackingContext:
    context = TrackingContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies certificate + host name
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.ca_file is not None:
        context.load_verify_locations(cafile=str(settings.ca_file))
    else:
        context.load_default_certs()
    if settings.cert_file is not None:
        context.load_cert_chain(
            str(settings.cert_file), str(settings.key_file) if settings.key_file else None
        )
    return context
