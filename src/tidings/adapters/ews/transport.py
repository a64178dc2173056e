"""How exchangelib reaches one profile's EWS endpoint: TLS verified as the profile says, the
profile's connection timeout, and no retrying (Tidings' engine does the waiting).

exchangelib keeps one ``Protocol`` (its HTTP session pool) per endpoint and credentials for
the whole process, and takes its HTTP adapter class from a class attribute: neither can tell
two profiles apart. So each account gets a protocol of its own, ``ProfileProtocol``, whose
sessions mount an adapter pinned to the profile's verification: its ``ca_file`` when given,
the system's CAs otherwise, none when the profile turns verification off. Pinned means that
requests' environment (``REQUESTS_CA_BUNDLE``) cannot loosen or swap it either.

A streamed response (GetStreamingEvents) blocks a thread in a socket read for many minutes;
closing the socket would not wake it, so ``interrupt`` shuts the socket down instead, and
refuses any request that starts after it.

With OAuth, each new session carries the next token of the account's ``BearerTokens``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import weakref
from typing import Any

import requests
from exchangelib.protocol import CachingProtocol, Protocol
from typing_extensions import override

from tidings.adapters.ews.oauth import BearerTokens
from tidings.domain.server_profile import ServerProfile


def verification(profile: ServerProfile) -> str | bool:
    """What requests verifies the server's certificate against."""
    if not profile.verify_certificates:
        return False
    return profile.options.get("ca_file") or True


class PinnedTlsAdapter(requests.adapters.HTTPAdapter):
    """Verifies every connection against one choice, whatever the request asked; keeps its
    streamed responses so that ``interrupt`` can end them."""

    def __init__(self, verify: str | bool, closing: threading.Event, **kwargs: Any) -> None:
        self._verify = verify
        self._closing = closing
        self._streams: weakref.WeakSet[requests.Response] = weakref.WeakSet()
        super().__init__(**kwargs)

    @override
    def send(
        self, request: requests.PreparedRequest, stream: bool = False, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if self._closing.is_set():
            raise requests.exceptions.ConnectionError("the EWS connection is closed")
        response = super().send(request, stream, *args, **kwargs)
        if stream:
            self._streams.add(response)
            if self._closing.is_set():  # closed while this request was on its way
                self.interrupt()
        return response

    def interrupt(self) -> None:
        """End every streamed response's read at once."""
        for response in list(self._streams):
            sock = getattr(getattr(response.raw, "connection", None), "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    @override
    def cert_verify(self, conn: Any, url: str, verify: bool | str, cert: Any) -> None:
        super().cert_verify(conn, url, self._verify, cert)

    @override
    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: bool | str | None,
        proxies: Any = None,
        cert: Any = None,
    ) -> Any:
        return super().get_connection_with_tls_context(
            request, self._verify, proxies=proxies, cert=cert
        )


class _Unshared(CachingProtocol):  # type: ignore[misc]
    """Builds protocols without exchangelib's process-wide cache."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return type.__call__(cls, *args, **kwargs)


class ProfileProtocol(Protocol, metaclass=_Unshared):  # type: ignore[misc]
    """One account's connection to EWS, owned and closed by whoever opened it."""

    def __init__(
        self, *, config: Any, profile: ServerProfile, bearer: BearerTokens | None = None
    ) -> None:
        self._bearer = bearer
        super().__init__(config=config)
        self._verify = verification(profile)
        self._closing = threading.Event()
        self._adapters: weakref.WeakSet[PinnedTlsAdapter] = weakref.WeakSet()
        # An instance attribute: exchangelib reads ``protocol.TIMEOUT`` for every request.
        self.TIMEOUT = profile.connection_timeout_seconds

    @override
    def create_session(self) -> Any:
        session = super().create_session()
        # One connection per session and no retries, as exchangelib's own adapter is built.
        adapter = PinnedTlsAdapter(
            self._verify,
            self._closing,
            pool_block=True,
            pool_connections=1,
            pool_maxsize=1,
            max_retries=0,
        )
        self._adapters.add(adapter)
        session.mount(self.service_endpoint, adapter)
        return session

    @override
    def create_oauth2_session(self) -> Any:
        if self._bearer is not None:
            # Given a token, exchangelib's session fetches none of its own.
            self.credentials.access_token = self._bearer.next_token()
        return super().create_oauth2_session()

    def interrupt(self) -> None:
        """Refuse new requests and end streamed ones: the protocol is being closed."""
        self._closing.set()
        for adapter in list(self._adapters):
            adapter.interrupt()
