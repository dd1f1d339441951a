"""The pure core of WS-Discovery: tolerant ProbeMatch parsing, address repair, targets."""

from __future__ import annotations

import pytest

from agent.capture.discovery import (
    PROBE_VARIANTS,
    Interface,
    build_probe,
    parse_discovery_message,
    pick_xaddr,
    repair_xaddr,
    scan_hosts,
    static_message,
    usable_interfaces,
)
from agent.errors import UsageError
from testkit.fake_onvif import FakeCamera

SOURCE = "192.0.2.10"
UUID_A = "urn:uuid:11111111-2222-3333-4444-555555555555"
UUID_B = "urn:uuid:66666666-7777-8888-9999-000000000000"
ENVELOPE = (
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery">{header}<s:Body>{body}</s:Body>'
    "</s:Envelope>"
)
HEADER = (
    "<s:Header><a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches"
    "</a:Action><a:MessageID>urn:uuid:aaaa</a:MessageID><a:RelatesTo>urn:uuid:bbbb"
    "</a:RelatesTo></s:Header>"
)


def match(
    endpoint: str = UUID_A,
    xaddrs: str = f"http://{SOURCE}/onvif/device_service",
    tag: str = "d:ProbeMatch",
) -> str:
    return (
        f"<{tag}><a:EndpointReference><a:Address>{endpoint}</a:Address></a:EndpointReference>"
        "<d:Types>dn:NetworkVideoTransmitter</d:Types>"
        "<d:Scopes>onvif://www.onvif.org/name/Cam</d:Scopes>"
        f"<d:XAddrs>{xaddrs}</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion></{tag}>"
    )


def parse(body: str, header: str = HEADER, source: str = SOURCE) -> list:
    return parse_discovery_message(ENVELOPE.format(header=header, body=body).encode(), source)


def test_conformant_probe_match() -> None:
    [message] = parse(f"<d:ProbeMatches>{match()}</d:ProbeMatches>")
    assert message.kind == "probe_match"
    assert message.endpoint == UUID_A
    assert message.xaddrs == (f"http://{SOURCE}/onvif/device_service",)
    assert message.types == ("dn:NetworkVideoTransmitter",)
    assert message.scopes == ("onvif://www.onvif.org/name/Cam",)
    assert message.relates_to == "urn:uuid:bbbb"
    assert message.message_id == "urn:uuid:aaaa"


def test_missing_probe_matches_wrapper() -> None:
    [message] = parse(match())
    assert message.endpoint == UUID_A and message.xaddrs


def test_missing_every_wrapper_fields_directly_in_body() -> None:
    body = (
        f"<a:EndpointReference><a:Address>{UUID_A}</a:Address></a:EndpointReference>"
        f"<d:XAddrs>http://{SOURCE}:8080/onvif/device_service</d:XAddrs>"
    )
    [message] = parse(body)
    assert message.xaddrs == (f"http://{SOURCE}:8080/onvif/device_service",)
    assert message.endpoint == UUID_A


def test_address_without_endpoint_reference_wrapper() -> None:
    body = (
        f"<d:ProbeMatch><a:Address>{UUID_A}</a:Address>"
        f"<d:XAddrs>http://{SOURCE}/onvif/device_service</d:XAddrs></d:ProbeMatch>"
    )
    [message] = parse(body)
    assert message.endpoint == UUID_A


def test_odd_prefixes_and_wrong_namespaces() -> None:
    data = (
        '<?xml version="1.0"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/'
        'soap-envelope" xmlns:wsa5="http://www.w3.org/2005/08/addressing" '
        'xmlns:wsdd="http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01">'
        "<SOAP-ENV:Header><wsa5:Action>http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01/"
        "ProbeMatches</wsa5:Action></SOAP-ENV:Header><SOAP-ENV:Body><wsdd:ProbeMatches>"
        f"<wsdd:ProbeMatch><wsa5:EndpointReference><wsa5:Address>{UUID_A}</wsa5:Address>"
        f"</wsa5:EndpointReference><wsdd:XAddrs>http://{SOURCE}/onvif/device_service"
        "</wsdd:XAddrs></wsdd:ProbeMatch></wsdd:ProbeMatches></SOAP-ENV:Body>"
        "</SOAP-ENV:Envelope>"
    ).encode()
    [message] = parse_discovery_message(data, SOURCE)
    assert message.endpoint == UUID_A and message.kind == "probe_match"


def test_no_namespaces_at_all() -> None:
    data = (
        f"<Envelope><Body><ProbeMatch><EndpointReference><Address>{UUID_A}</Address>"
        f"</EndpointReference><XAddrs>http://{SOURCE}/onvif/device_service</XAddrs>"
        "</ProbeMatch></Body></Envelope>"
    ).encode()
    [message] = parse_discovery_message(data, SOURCE)
    assert message.endpoint == UUID_A


@pytest.mark.parametrize(
    "header",
    [
        "",
        "<s:Header><a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches"
        "</a:Action></s:Header>",
        "<s:Header><a:MessageID>urn:uuid:ours</a:MessageID></s:Header>",  # reused MessageID
    ],
)
def test_missing_or_reused_message_ids_are_accepted(header: str) -> None:
    [message] = parse(f"<d:ProbeMatches>{match()}</d:ProbeMatches>", header=header)
    assert message.relates_to is None
    assert message.endpoint == UUID_A


def test_several_cameras_from_one_source_address() -> None:
    # An NVR answers for its channels, each a device service on its own address.
    body = (
        "<d:ProbeMatches>"
        + match(UUID_A, "http://192.0.2.20:8001/onvif/device_service")
        + match(UUID_B, "http://192.0.2.20:8002/onvif/device_service")
        + "</d:ProbeMatches>"
    )
    messages = parse(body, source="192.0.2.20")
    assert [m.endpoint for m in messages] == [UUID_A, UUID_B]
    assert [m.primary_xaddr for m in messages] == [
        "http://192.0.2.20:8001/onvif/device_service",
        "http://192.0.2.20:8002/onvif/device_service",
    ]
    assert len({m.key for m in messages}) == 2


def test_xaddrs_on_other_hosts_are_dropped() -> None:
    """A device may only point the box at its own address: the password would follow."""
    body = (
        "<d:ProbeMatches>"
        + match(UUID_A, "http://192.0.2.21/onvif/device_service http://192.0.2.20:81/x")
        + match(UUID_B, "http://192.0.2.22/onvif/device_service http://kitchen-cam/onvif")
        + "</d:ProbeMatches>"
    )
    messages = parse(body, source="192.0.2.20")
    assert [m.xaddrs for m in messages] == [("http://192.0.2.20:81/x",), ()]


def test_clones_sharing_an_endpoint_are_two_devices() -> None:
    [a] = parse(match(UUID_A, "http://192.0.2.21/onvif/device_service"), source="192.0.2.21")
    [b] = parse(match(UUID_A, "http://192.0.2.22/onvif/device_service"), source="192.0.2.22")
    assert a.key != b.key


def test_xaddrs_are_the_truth_and_get_repaired() -> None:
    [message] = parse(
        match(
            xaddrs="http://0.0.0.0:8000/onvif/device_service http://[fe80::1]/onvif/device_service"
        )
    )
    assert message.xaddrs[0] == f"http://{SOURCE}:8000/onvif/device_service"
    assert message.primary_xaddr == f"http://{SOURCE}:8000/onvif/device_service"


def test_malformed_probe_match_from_the_fake_camera_is_recovered() -> None:
    camera = FakeCamera(persona="malformed_probe_match", host=SOURCE, port=8000)
    reply = camera.probe_reply(build_probe(PROBE_VARIANTS[0]))
    assert reply is not None and b"Cheap&Cam" in reply  # really not well-formed
    [message] = parse_discovery_message(reply, SOURCE)
    assert message.xaddrs == (f"http://{SOURCE}:8000/onvif/device_service",)
    assert message.endpoint == camera.endpoint


def test_truncated_packet_is_salvaged_from_text() -> None:
    data = (
        f'<?xml version="1.0"?><s:Envelope><s:Body><d:ProbeMatches><d:ProbeMatch>'
        f"<a:Address>{UUID_A}</a:Address><d:XAddrs>http://{SOURCE}/onvif/device_service"
        "</d:XAddrs><d:Meta"
    ).encode()
    [message] = parse_discovery_message(data, SOURCE)
    assert message.endpoint == UUID_A
    assert message.primary_xaddr == f"http://{SOURCE}/onvif/device_service"


def test_hello_and_bye() -> None:
    hello_header = (
        "<s:Header><a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Hello"
        "</a:Action></s:Header>"
    )
    [hello] = parse(match(tag="d:Hello"), header=hello_header)
    assert hello.kind == "hello" and hello.primary_xaddr
    bye_header = hello_header.replace("Hello", "Bye")
    [bye] = parse(
        f"<d:Bye><a:EndpointReference><a:Address>{UUID_A}</a:Address>"
        "</a:EndpointReference></d:Bye>",
        header=bye_header,
    )
    assert bye.kind == "bye" and bye.endpoint == UUID_A and bye.xaddrs == ()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   ",
        b"hello world",
        b"\x00\xff\x10garbage",
        b"<html><body>hi</body></html>",
        b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>",
    ],
)
def test_noise_yields_nothing(data: bytes) -> None:
    assert parse_discovery_message(data, SOURCE) == []


@pytest.mark.parametrize("variant", PROBE_VARIANTS)
def test_our_own_probes_are_not_answers(variant: tuple[str, str, str] | None) -> None:
    assert parse_discovery_message(build_probe(variant), SOURCE) == []


def test_probe_variants_types() -> None:
    typed, device, untyped = (build_probe(v).decode() for v in PROBE_VARIANTS)
    assert "<d:Types>dn:NetworkVideoTransmitter</d:Types>" in typed
    assert 'xmlns:dn="http://www.onvif.org/ver10/network/wsdl"' in typed
    assert "<d:Types>tds:Device</d:Types>" in device
    assert "Types" not in untyped


def test_prefix_only_camera_answers_just_the_dn_variant() -> None:
    camera = FakeCamera(persona="prefix_only", host=SOURCE, port=8000)
    answers = [camera.probe_reply(build_probe(v)) is not None for v in PROBE_VARIANTS]
    assert answers == [True, False, False]


@pytest.mark.parametrize(
    ("advertised", "repaired"),
    [
        ("http://192.0.2.5/onvif/device_service", "http://192.0.2.5/onvif/device_service"),
        ("http://0.0.0.0/onvif/device_service", f"http://{SOURCE}/onvif/device_service"),
        ("http://0.0.0.0:8080/onvif/device_service", f"http://{SOURCE}:8080/onvif/device_service"),
        ("http://192.0.2.5:80:80/onvif/device_service", "http://192.0.2.5:80/onvif/device_service"),
        ("http://192.0.2.5:8000:8000/x", "http://192.0.2.5:8000/x"),
        ("192.0.2.5:8000", "http://192.0.2.5:8000/onvif/device_service"),
        ("http://192.0.2.5", "http://192.0.2.5/onvif/device_service"),
        ("  http://192.0.2.5/onvif/device_service, ", "http://192.0.2.5/onvif/device_service"),
        ("http://127.0.0.1/onvif/device_service", f"http://{SOURCE}/onvif/device_service"),
        ("http://169.254.3.4/onvif/device_service", f"http://{SOURCE}/onvif/device_service"),
        ("http://admin:pw@192.0.2.5/onvif/device_service", "http://192.0.2.5/onvif/device_service"),
        ("https://cam.local/onvif/device_service", "https://cam.local/onvif/device_service"),
        ("ftp://192.0.2.5/", None),
        ("", None),
        ("http://192.0.2.5:notaport/", None),
    ],
)
def test_repair_xaddr(advertised: str, repaired: str | None) -> None:
    assert repair_xaddr(advertised, SOURCE) == repaired


def test_loopback_xaddr_kept_when_the_source_is_loopback() -> None:
    assert repair_xaddr("http://127.0.0.1:81/x", "127.0.0.1") == "http://127.0.0.1:81/x"


def test_pick_xaddr_prefers_ipv4_and_the_source() -> None:
    xaddrs = ["http://[2001:db8::1]/a", "http://192.0.2.99/a", f"http://{SOURCE}/a"]
    assert pick_xaddr(xaddrs, SOURCE) == f"http://{SOURCE}/a"
    assert pick_xaddr(xaddrs[:2], SOURCE) == "http://192.0.2.99/a"
    assert pick_xaddr([], SOURCE) is None


def test_scan_hosts() -> None:
    assert scan_hosts("192.0.2.0/30") == ["192.0.2.1", "192.0.2.2"]
    assert scan_hosts("192.0.2.7") == ["192.0.2.7"]
    assert scan_hosts("192.0.2.7/24")[0] == "192.0.2.1"  # host bits forgiven
    assert len(scan_hosts("198.51.100.0/24")) == 254
    for bad in ("10.0.0.0/8", "2001:db8::/120", "kitchen", "192.0.2.0/33"):
        with pytest.raises(UsageError):
            scan_hosts(bad)


def test_static_addresses() -> None:
    assert static_message("192.0.2.9").primary_xaddr == "http://192.0.2.9/onvif/device_service"
    message = static_message("192.0.2.9:8000")
    assert message.primary_xaddr == "http://192.0.2.9:8000/onvif/device_service"
    assert message.kind == "static" and message.source == "192.0.2.9"
    with pytest.raises(UsageError, match="credentials"):
        static_message("http://admin:secret@192.0.2.9/")
    with pytest.raises(UsageError):
        static_message("  ")


def test_usable_interfaces() -> None:
    candidates = [
        Interface("lo", "127.0.0.1", loopback=True),
        Interface("eth0", "192.0.2.1"),
        Interface("eth0", "192.0.2.1"),  # same address twice (alias): probe once
        Interface("eth1", "169.254.1.1"),
        Interface("wg0", "198.51.100.1", multicast=False),
        Interface("eth2", "203.0.113.1", up=False),
        Interface("eth3", "not-an-ip"),
    ]
    assert [i.name for i in usable_interfaces(candidates)] == ["eth0"]
    assert [i.name for i in usable_interfaces(candidates, include_loopback=True)] == ["lo", "eth0"]
    assert usable_interfaces([Interface("lo", "127.0.0.1", loopback=True)]) == []
