"""WS-Discovery messages, pure: bytes in, :class:`DiscoveryMessage` out (and probes out).

Probe messages are built with ``wsdiscovery`` (``constructProbe`` + ``createSOAPMessage``).
Replies are parsed here: the library's parser needs a MessageID, a RelatesTo and a
MetadataVersion in every ProbeMatch and raises on anything else, and its networking thread
silently drops a reply whose MessageID equals one of our probes' (cameras that reuse the
prober's MessageID). Real cameras do all of that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.capture.discovery.addresses import pick_xaddr, repair_xaddr, repair_xaddrs, xaddr_host
from agent.capture.discovery.limits import MAX_DATAGRAM, MAX_MATCHES_PER_DATAGRAM
from agent.errors import UsageError
from agent.trust import xaddr_from_sender

MULTICAST_GROUP = "239.255.255.250"
DISCOVERY_PORT = 3702

NS_DEVICE_WSDL = "http://www.onvif.org/ver10/device/wsdl"
NS_NETWORK_WSDL = "http://www.onvif.org/ver10/network/wsdl"

# Probe variants: cameras differ in which Types they answer. Some only match on the
# `dn:` prefix literally, some on `tds:Device`, some only on an untyped Probe.
PROBE_VARIANTS: tuple[tuple[str, str, str] | None, ...] = (
    (NS_NETWORK_WSDL, "NetworkVideoTransmitter", "dn"),
    (NS_DEVICE_WSDL, "Device", "tds"),
    None,
)


@dataclass(frozen=True)
class DiscoveryMessage:
    """One device described by a ProbeMatch, Hello or Bye (several per packet possible)."""

    kind: str  # "probe_match" | "hello" | "bye"
    endpoint: str | None  # EndpointReference address, usually urn:uuid:...
    xaddrs: tuple[str, ...]  # repaired device-service URLs; the truth, not the source
    source: str  # IP the datagram came from
    types: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    message_id: str | None = None
    relates_to: str | None = None

    @property
    def primary_xaddr(self) -> str | None:
        return pick_xaddr(self.xaddrs, self.source)

    @property
    def key(self) -> tuple[str, str]:
        """Identity of the *device instance* in one discovery round.

        The endpoint alone is not enough (cloned firmware reuses UUIDs) and the source is
        not either (an NVR answers for several cameras), so the pair endpoint + where its
        device service lives is what tells two devices apart.
        """
        return (self.endpoint or "", self.primary_xaddr or self.source)


_SOAP_ACTION_KINDS = {
    "probematches": "probe_match",
    "probematch": "probe_match",
    "hello": "hello",
    "bye": "bye",
    "probe": "probe",
    "resolvematches": "probe_match",
}

_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"']{1,512}")
# Somebody else's Probe: the prefix is bounded so that no input makes this scan quadratic
# (``<[^>]*:?Probe`` took a second of CPU for "probe" and 8,000 '<').
_PROBE_TAG = re.compile(r"<(?:[\w.-]{1,64}:)?Probe[\s/>]")
_UUID_IN_TEXT = re.compile(r"urn:uuid:[0-9a-fA-F-]{32,36}")


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""  # comments / processing instructions
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()


def _text(element: object) -> str:
    text = getattr(element, "text", None)
    return text.strip() if isinstance(text, str) else ""


def _parse_xml(data: bytes) -> object | None:
    """lxml in recover mode: truncated or badly escaped packets still yield a tree."""
    from lxml import etree

    parser = etree.XMLParser(
        recover=True,
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
    )
    try:
        root: object | None = etree.fromstring(data, parser=parser)
    except (etree.XMLSyntaxError, ValueError):
        return None
    return root


def _find_all(root: object, local_name: str) -> list[object]:
    iterator = getattr(root, "iter", None)
    if iterator is None:
        return []
    return [el for el in iterator() if _local(el.tag) == local_name]


def _first_text(root: object, local_name: str) -> str | None:
    for element in _find_all(root, local_name):
        value = _text(element)
        if value:
            return value
    return None


def parse_discovery_message(data: bytes, source: str) -> list[DiscoveryMessage]:
    """Every device described in one WS-Discovery datagram; [] for probes and noise.

    Tolerates: missing ProbeMatches/ProbeMatch wrappers, any namespace prefix (or none, or
    a wrong namespace), a missing or reused MessageID/RelatesTo, several matches in one
    packet, XAddrs spread over several elements, and broken XML (URLs and urn:uuid values
    are then recovered from the raw text).

    Bounded: a datagram over MAX_DATAGRAM bytes is ignored, at most
    MAX_MATCHES_PER_DATAGRAM devices are read from one, the work is linear in its size,
    and an XAddr on any host but ``source`` is dropped (trust: a device cannot point the
    box at another host).
    """
    if not data or len(data) > MAX_DATAGRAM or not data.strip():
        return []
    root = _parse_xml(data)
    if root is None:
        return _salvage_from_text(data, source)

    action = _first_text(root, "action") or ""
    kind = _SOAP_ACTION_KINDS.get(action.rstrip("/").rsplit("/", 1)[-1].lower())
    if kind is None:
        for candidate in ("probematches", "probematch", "hello", "bye", "probe", "resolvematch"):
            if _find_all(root, candidate):
                kind = _SOAP_ACTION_KINDS.get(candidate, "probe_match")
                break
    if kind == "probe":
        return []
    if kind is None:
        # No action and no known body element: a camera that sent only the match fields.
        if not _find_all(root, "xaddrs"):
            return []
        kind = "probe_match"

    message_id = _first_text(root, "messageid")
    relates_to = _first_text(root, "relatesto")
    containers = _find_all(root, "probematch") or _find_all(root, "resolvematch")
    if not containers:
        containers = _find_all(root, kind) if kind in ("hello", "bye") else []
    if not containers:
        containers = [root]  # missing wrappers: the fields sit directly in the body

    messages = []
    for container in containers[:MAX_MATCHES_PER_DATAGRAM]:
        endpoint = None
        for reference in _find_all(container, "endpointreference"):
            endpoint = _first_text(reference, "address")
            if endpoint:
                break
        if endpoint is None:
            # Some firmwares put the Address straight in the match, without the EPR.
            for element in _find_all(container, "address"):
                value = _text(element)
                if value and not value.lower().startswith(("http://", "https://")):
                    endpoint = value
                    break
        raw_xaddrs: list[str] = []
        for element in _find_all(container, "xaddrs"):
            raw_xaddrs.extend(_text(element).split())
        types = tuple(t for el in _find_all(container, "types") for t in _text(el).split())
        scopes = tuple(s for el in _find_all(container, "scopes") for s in _text(el).split())
        xaddrs = _own_xaddrs(raw_xaddrs, source)
        if kind != "bye" and not xaddrs and endpoint is None:
            continue
        messages.append(
            DiscoveryMessage(
                kind=kind,
                endpoint=endpoint,
                xaddrs=xaddrs,
                source=source,
                types=types,
                scopes=scopes,
                message_id=message_id,
                relates_to=relates_to,
            )
        )
    if not messages:
        return _salvage_from_text(data, source)
    return messages


def _salvage_from_text(data: bytes, source: str) -> list[DiscoveryMessage]:
    """Last resort for XML too broken for a tree: pull URLs and the uuid from the text."""
    text = data.decode("utf-8", "replace")
    if "probe" not in text.lower() and "hello" not in text.lower():
        return []
    if "ProbeMatch" not in text and _PROBE_TAG.search(text):
        return []  # somebody else's Probe, not an answer
    urls = [u for u in _URL_IN_TEXT.findall(text) if "onvif" in u.lower() or "device" in u.lower()]
    xaddrs = _own_xaddrs(urls, source)
    if not xaddrs:
        return []
    uuid_match = _UUID_IN_TEXT.search(text)
    lowered = text.lower()
    kind = "hello" if "hello" in lowered and "probematch" not in lowered else "probe_match"
    return [
        DiscoveryMessage(
            kind=kind,
            endpoint=uuid_match.group(0) if uuid_match else None,
            xaddrs=xaddrs,
            source=source,
        )
    ]


def _own_xaddrs(raw: list[str], source: str) -> tuple[str, ...]:
    """The repaired XAddrs that are on the sender's own address (at most a few)."""
    repaired = repair_xaddrs(raw[: 4 * MAX_MATCHES_PER_DATAGRAM], source)
    return tuple(x for x in repaired if xaddr_from_sender(x, source))[:8]


def build_probe(variant: tuple[str, str, str] | None, message_id: str | None = None) -> bytes:
    """A Probe datagram (built by the wsdiscovery library) for one of PROBE_VARIANTS."""
    from wsdiscovery.actions.probe import constructProbe
    from wsdiscovery.message import createSOAPMessage
    from wsdiscovery.qname import QName

    types = [] if variant is None else [QName(variant[0], variant[1], variant[2])]
    envelope = constructProbe(types, [])
    if message_id is not None:
        envelope.setMessageId(message_id)
    text: str = createSOAPMessage(envelope)
    return text.encode("utf-8")


def static_message(entry: str) -> DiscoveryMessage:
    """A configured ``host[:port]`` (or full URL) as if the camera had answered a probe."""
    value = entry.strip()
    if not value:
        raise UsageError("empty static camera address")
    netloc = value.split("://", 1)[-1].split("/", 1)[0]
    if "@" in netloc:
        raise UsageError(
            f"static camera address {value.split('@')[-1]!r} must not carry "
            "credentials; the password belongs in the credentials directory"
        )
    url = repair_xaddr(value, "")
    host = xaddr_host(url) if url else ""
    if not url or not host:
        raise UsageError(f"not a camera address: {value!r} (expected host[:port] or a URL)")
    return DiscoveryMessage(kind="static", endpoint=None, xaddrs=(url,), source=host)
