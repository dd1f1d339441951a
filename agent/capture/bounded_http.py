"""HTTP to cameras with every byte bounded: one deadline and one byte cap per call.

requests and urllib3 bound each socket operation, not a call: a device that answers one
byte a second (its headers included) holds a call for as long as it keeps sending, and a
body is read whole into memory. Here every socket of a camera session asks the call in
progress (a :class:`CallBudget`, set for the calling thread by :func:`bounded_call`)
before each read: past the deadline or past the byte cap the read fails, whatever the
device does. Plain HTTP and TLS alike. The caller tells the two apart by the budget's
``expired`` and ``too_large`` flags (urllib3 wraps the failure in its own errors).
"""

from __future__ import annotations

import contextlib
import functools
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

MAX_SOAP_BYTES = 1024 * 1024  # one SOAP answer: real ones are a few KB, GetProfiles ~100 KB


class CallOverrun(OSError):
    """A read past the call's deadline or byte cap (an OSError, so that urllib3 treats it
    as a broken connection and never reuses the socket)."""


class CallBudget:
    """The deadline and the byte allowance of one call (request and answer)."""

    def __init__(self, timeout_s: float, max_bytes: int) -> None:
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s
        self.max_bytes = max_bytes
        self.received = 0
        self.expired = False
        self.too_large = False

    def read_timeout(self, io_timeout: float | None) -> float:
        """The socket timeout for the next read; raises once the deadline has passed."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.expired = True
            raise CallOverrun("call deadline passed")
        return remaining if io_timeout is None else min(io_timeout, remaining)

    def count(self, received: int) -> None:
        self.received += received
        if self.received > self.max_bytes:
            self.too_large = True
            raise CallOverrun(f"answer over {self.max_bytes} bytes")

    def timed_out(self) -> bool:
        if time.monotonic() >= self.deadline:
            self.expired = True
        return self.expired


_current = threading.local()


@contextlib.contextmanager
def bounded_call(budget: CallBudget) -> Iterator[CallBudget]:
    """Reads of bounded sockets on this thread count against ``budget`` meanwhile."""
    previous = getattr(_current, "budget", None)
    _current.budget = budget
    try:
        yield budget
    finally:
        _current.budget = previous


def _budget() -> CallBudget | None:
    budget: CallBudget | None = getattr(_current, "budget", None)
    return budget


class _BoundedReads:
    """Socket reads that honour the calling thread's budget (mixed into socket classes)."""

    _io_timeout: float | None = None

    def settimeout(self, value: float | None) -> None:
        self._io_timeout = value
        super().settimeout(value)  # type: ignore[misc]

    def _before_read(self) -> None:
        budget = _budget()
        if budget is not None:
            super().settimeout(budget.read_timeout(self._io_timeout))  # type: ignore[misc]

    def _after_read(self, received: int) -> None:
        budget = _budget()
        if budget is not None:
            budget.count(received)

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        self._before_read()
        try:
            # Plain and TLS sockets read "nbytes=0" differently: pass it only when given.
            if nbytes is None:
                received: int = super().recv_into(buffer)  # type: ignore[misc]
            else:
                received = super().recv_into(buffer, nbytes, flags)  # type: ignore[misc]
        except TimeoutError:
            budget = _budget()
            if budget is not None:
                budget.timed_out()
            raise
        self._after_read(received)
        return received

    def recv(self, bufsize: int = 1024, flags: int = 0) -> bytes:
        self._before_read()
        data: bytes = super().recv(bufsize, flags)  # type: ignore[misc]
        self._after_read(len(data))
        return data


class _BoundedSocket(_BoundedReads, socket.socket):
    pass


class _BoundedSSLSocket(_BoundedReads, ssl.SSLSocket):
    pass


def _bounded(sock: socket.socket) -> socket.socket:
    timeout = sock.gettimeout()
    bounded = _BoundedSocket(fileno=sock.detach())
    bounded.settimeout(timeout)
    return bounded


def bounded_session() -> Any:
    """A ``requests.Session`` whose every read counts against the current
    :func:`bounded_call` budget; no proxy from the environment, no redirects followed by
    default (callers pass ``allow_redirects=False`` for GET)."""
    import requests

    session = requests.Session()
    session.trust_env = False  # never send a camera's traffic through a proxy
    adapter = _adapter_class()(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@functools.cache
def _adapter_class() -> Any:
    """The requests adapter whose pools make bounded sockets (built once: the imports
    are heavy and stay out of CLI commands that never talk to a camera)."""
    import urllib3
    from requests.adapters import HTTPAdapter
    from urllib3.util.ssl_ import create_urllib3_context

    class Connection(urllib3.connection.HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return _bounded(super()._new_conn())

    class TlsConnection(urllib3.connection.HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return _bounded(super()._new_conn())

    class Pool(urllib3.HTTPConnectionPool):
        ConnectionCls = Connection

    class TlsPool(urllib3.HTTPSConnectionPool):
        ConnectionCls = TlsConnection

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            context = create_urllib3_context()
            context.sslsocket_class = _BoundedSSLSocket
            kwargs.setdefault("ssl_context", context)
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": Pool, "https": TlsPool}

    return Adapter
