"""The ONVIF WSDLs shipped by onvif-zeep, each parsed once per process.

``onvif.ONVIFCamera`` parses them again for every camera and every service (hundreds of ms
per camera, seconds for a kitchen); here each is parsed once into a ``zeep.wsdl.Document``
shared by every camera's light ``zeep.Client``.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

NS_DEVICE = "http://www.onvif.org/ver10/device/wsdl"
NS_MEDIA = "http://www.onvif.org/ver10/media/wsdl"
DEVICE_BINDING = f"{{{NS_DEVICE}}}DeviceBinding"
MEDIA_BINDING = f"{{{NS_MEDIA}}}MediaBinding"


def wsdl_dir() -> Path:
    """onvif-zeep's WSDL folder (site-packages/wsdl), found without importing ``onvif``."""
    spec = importlib.util.find_spec("onvif")
    if spec is None or spec.origin is None:
        raise RuntimeError("onvif-zeep is not installed (its WSDL files are needed)")
    return Path(spec.origin).parent.parent / "wsdl"


_documents: dict[str, Any] = {}
_documents_lock = threading.Lock()


def zeep_settings() -> Any:
    from zeep import Settings

    return Settings(strict=False, xml_huge_tree=False, forbid_dtd=True, forbid_entities=True)


def wsdl_document(name: str) -> Any:
    """The parsed ``zeep.wsdl.Document`` for ``devicemgmt.wsdl``/``media.wsdl`` (cached)."""
    with _documents_lock:
        document = _documents.get(name)
        if document is None:
            from zeep import Transport
            from zeep.wsdl import Document

            transport: Any = Transport()  # type: ignore[no-untyped-call]
            document = Document(str(wsdl_dir() / name), transport, settings=zeep_settings())
            _documents[name] = document
        return document


def warm_up() -> None:
    """Parse the WSDLs now (before the first camera's timeout starts ticking)."""
    wsdl_document("devicemgmt.wsdl")
    wsdl_document("media.wsdl")
