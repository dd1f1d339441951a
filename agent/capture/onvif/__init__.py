"""ONVIF over zeep, with the WSDLs shipped by onvif-zeep (not ``onvif.ONVIFCamera``).

The rooms, each small:

- :mod:`.wsdl` — the WSDLs, parsed once per process;
- :mod:`.parse` — pure readers of clocks, service URLs and profiles;
- :mod:`.faults` — exceptions turned into the per-camera errors of :mod:`agent.errors`;
- :mod:`.session` — one camera's SOAP session (skew-corrected WS-Security, deadlines) and
  the one media-service lookup;
- :mod:`.device` — the inventory of one camera (with one retry login);
- :mod:`.pool` — the one thread pool that inventories many;
- :mod:`.encoder` — the streaming side's encoder setting.

Its import never imports ``onvif`` itself (whose import calls ``logging.basicConfig``).
"""

from agent.capture.onvif.device import (
    AnonymousIdentity,
    DeviceFacts,
    FallbackLogin,
    RetryLogin,
    inventory_device,
)
from agent.capture.onvif.encoder import EncoderSettings, set_h264_cbr
from agent.capture.onvif.faults import classify_error
from agent.capture.onvif.parse import (
    http_date,
    parse_camera_clock,
    posix_tz_offset,
    repair_service_url,
)
from agent.capture.onvif.pool import (
    InventoryJob,
    InventoryPool,
    InventoryRun,
    InventoryTarget,
    inventory_many,
)
from agent.capture.onvif.session import (
    DEFAULT_REQUEST_TIMEOUT_S,
    DEFAULT_TIMEOUT_S,
    CameraSession,
    find_media_service,
    make_token,
)
from agent.capture.onvif.wsdl import DEVICE_BINDING, MEDIA_BINDING, warm_up, wsdl_document

__all__ = [
    "DEFAULT_REQUEST_TIMEOUT_S",
    "DEFAULT_TIMEOUT_S",
    "DEVICE_BINDING",
    "MEDIA_BINDING",
    "AnonymousIdentity",
    "CameraSession",
    "DeviceFacts",
    "EncoderSettings",
    "FallbackLogin",
    "InventoryJob",
    "InventoryPool",
    "InventoryRun",
    "InventoryTarget",
    "RetryLogin",
    "classify_error",
    "find_media_service",
    "http_date",
    "inventory_device",
    "inventory_many",
    "make_token",
    "parse_camera_clock",
    "posix_tz_offset",
    "repair_service_url",
    "set_h264_cbr",
    "warm_up",
    "wsdl_document",
]
