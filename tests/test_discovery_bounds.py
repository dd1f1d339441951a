"""What any host on the LAN can make discovery do is bounded (issue 12): datagram size,
linear parsing, devices per datagram, per source and per round, Hello floods, pruning."""

from __future__ import annotations

import time
import uuid

import pytest

from agent.capture.discovery import AnnouncementListener, DiscoveryMessage, parse_discovery_message
from agent.capture.discovery.limits import (
    DEVICES_PER_SOURCE,
    DEVICES_TOTAL,
    MAX_DATAGRAM,
    MAX_MATCHES_PER_DATAGRAM,
    SourceBudget,
)
from agent.capture.discovery.probe import DiscoveryResult
from agent.capture.inventory import PRUNE_AFTER_ROUNDS, prune
from agent.model import Camera

ENVELOPE = (
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><s:Header><a:Action>'
    "http://schemas.xmlsoap.org/ws/2005/04/discovery/{action}</a:Action></s:Header>"
    "<s:Body>{body}</s:Body></s:Envelope>"
)


def match(host: str, n: int, tag: str = "d:ProbeMatch") -> str:
    return (
        f"<{tag}><a:EndpointReference><a:Address>urn:uuid:{uuid.UUID(int=n)}</a:Address>"
        f"</a:EndpointReference><d:Types>dn:NetworkVideoTransmitter</d:Types>"
        f"<d:XAddrs>http://{host}:{8000 + n % 1000}/onvif/device_service</d:XAddrs>"
        f"<d:MetadataVersion>1</d:MetadataVersion></{tag}>"
    )


def datagram(
    host: str, count: int, action: str = "ProbeMatches", tag: str = "d:ProbeMatch"
) -> bytes:
    body = "".join(match(host, n, tag) for n in range(count))
    if action == "ProbeMatches":
        body = f"<d:ProbeMatches>{body}</d:ProbeMatches>"
    return ENVELOPE.format(action=action, body=body).encode()


def timed(data: bytes, source: str = "192.0.2.66") -> float:
    started = time.process_time()
    parse_discovery_message(data, source)
    return time.process_time() - started


@pytest.mark.parametrize(
    "data",
    [
        # The review's case: a regex on "probe" + '<'*n was quadratic (0.9 s for 8,000).
        b"probe " + b"<" * 20_000,
        b"<d:Probe" + b"<a:" * 10_000,
        b"ProbeMatch http://" + b"a" * 30_000,
        b"<a>" * 10_000,  # deep nesting
        b"<x " + b'a="1" ' * 5_000 + b">probe",
        ("\u00e9" * 15_000).encode(),
    ],
    ids=["lt-flood", "prefix-flood", "long-url", "deep", "attributes", "utf8"],
)
def test_hostile_datagrams_cost_little_cpu(data: bytes) -> None:
    assert len(data) <= MAX_DATAGRAM
    assert timed(data) < 0.25


def test_parsing_is_linear_in_the_datagram() -> None:
    small = timed(b"probe " + b"<" * 2_000)
    large = timed(b"probe " + b"<" * 20_000)
    assert large < 0.25 and large < 30 * small + 0.02


def test_an_over_long_datagram_is_not_parsed() -> None:
    good = datagram("192.0.2.66", 1)
    assert len(parse_discovery_message(good, "192.0.2.66")) == 1
    padded = good.replace(b"<s:Body>", b"<s:Body>" + b" " * MAX_DATAGRAM)
    assert parse_discovery_message(padded, "192.0.2.66") == []


def test_one_datagram_describes_a_few_devices_at_most() -> None:
    flood = datagram("192.0.2.66", 100)  # the review sent 350 in one 64 KB datagram
    assert len(flood) <= MAX_DATAGRAM
    messages = parse_discovery_message(flood, "192.0.2.66")
    assert len(messages) == MAX_MATCHES_PER_DATAGRAM


def message(source: str, n: int, kind: str = "probe_match") -> DiscoveryMessage:
    return DiscoveryMessage(
        kind=kind,
        endpoint=f"urn:uuid:{uuid.UUID(int=n)}",
        xaddrs=(f"http://{source}:{1000 + n % 60000}/onvif/device_service",),
        source=source,
    )


def test_a_round_takes_a_few_devices_per_source_and_a_bounded_total() -> None:
    result = DiscoveryResult()
    flood = [message("192.0.2.66", n) for n in range(1000)]
    assert sum(result.add(m) for m in flood) == DEVICES_PER_SOURCE
    honest = [message(f"198.51.100.{n}", n) for n in range(1, 201)]
    taken = sum(result.add(m) for m in honest)
    assert len(result.devices) == DEVICES_TOTAL == DEVICES_PER_SOURCE + taken
    assert result.budget.refused["192.0.2.66"] == 1000 - DEVICES_PER_SOURCE


def test_source_budget() -> None:
    budget = SourceBudget(per_source=2, total=3)
    assert [budget.take(s) for s in ("a", "a", "a", "b", "c")] == [True, True, False, True, False]
    assert budget.worst() == {"a": 1, "c": 1}
    budget.reset()
    assert budget.take("a")


def test_the_hello_listener_passes_a_few_devices_per_sender() -> None:
    seen: list[DiscoveryMessage] = []
    listener = AnnouncementListener(seen.append, interfaces=[])
    for n in range(200):
        listener.handle(
            datagram("192.0.2.66", 1, "Hello", "d:Hello").replace(
                b"00000000-0000-0000-0000-000000000000", str(uuid.UUID(int=n + 1)).encode()
            ),
            "192.0.2.66",
        )
    assert 0 < len(seen) <= DEVICES_PER_SOURCE
    # A camera re-sending its own Hello still passes; another sender has its own share.
    honest = datagram("192.0.2.10", 1, "Hello", "d:Hello")
    assert listener.handle(honest, "192.0.2.10") == 1
    assert listener.handle(honest, "192.0.2.10") == 1
    # Over-long datagrams are dropped unparsed.
    assert listener.handle(honest + b" " * MAX_DATAGRAM, "192.0.2.10") == 0


def camera(camera_id: str, last_seen: float = 0.0) -> Camera:
    return Camera(
        id=camera_id,
        address="192.0.2.10",
        xaddr="http://192.0.2.10/onvif/device_service",
        last_seen=last_seen,
    )


def test_never_enrolled_devices_are_forgotten_after_silent_rounds() -> None:
    cameras = {c.id: c for c in (camera("enrolled"), camera("guest"), camera("talks"))}
    silent: dict[str, int] = {}
    for _ in range(PRUNE_AFTER_ROUNDS - 1):
        result = prune(cameras, ["talks"], silent, ["enrolled"])
        silent = result.silent_rounds
        assert result.forgotten == []
    result = prune(cameras, ["talks"], silent, ["enrolled"])
    assert result.forgotten == ["guest"]
    assert set(result.cameras) == {"enrolled", "talks"}
    assert result.silent_rounds == {"enrolled": PRUNE_AFTER_ROUNDS, "talks": 0}


def test_never_enrolled_devices_are_capped_most_recent_first() -> None:
    cameras = {f"d{n}": camera(f"d{n}", last_seen=float(n)) for n in range(10)}
    result = prune(cameras, list(cameras), {}, ["d0"], keep_at_most=3)
    assert set(result.cameras) == {"d0", "d9", "d8", "d7"}
