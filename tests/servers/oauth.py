"""A small OAuth 2.0 authorization server for tests, over HTTPS on a free loopback port.

It is what XOAUTH2 needs around a real mail server, no more:

- ``POST /token``: the refresh-token grant of RFC 6749 §6, client authenticated in the body
  (§2.3.1); answers §5.1 (``access_token``, ``token_type``, ``expires_in``) or §5.2 errors
  (``invalid_client`` with 401, ``invalid_grant``, ``unsupported_grant_type``).
- ``POST /introspect``: RFC 7662 token introspection (``token=...``), answering
  ``{"active": true, "username": <address>}`` or ``{"active": false}``: what Dovecot's
  ``oauth2`` passdb asks with ``introspection_mode = post``.

Usage::

    with OAuthServer(issue_certificates(tmp_path / "tls")) as oauth:
        refresh_token = oauth.grant("dana@northwind.example")
        profile.options |= {"token_url": oauth.token_url, "client_id": oauth.client_id}
        oauth.revoke(refresh_token)      # the next refresh gets invalid_grant
        oauth.expire_access_tokens()     # tokens issued so far stop being active

``token_requests`` counts the grants answered, to tell a cached access token from a new one.
"""

from __future__ import annotations

import json
import secrets
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

from tests.servers.dovecot import Certificates


class OAuthServer:
    """Issues access tokens for the refresh tokens it granted, and says whose they are."""

    host = "127.0.0.1"

    def __init__(
        self,
        certificates: Certificates,
        *,
        client_id: str = "tidings-test-client",
        client_secret: str = "tidings-test-secret",
        lifetime_seconds: int = 3600,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.lifetime_seconds = lifetime_seconds
        self.certificates = certificates
        self._lock = threading.Lock()
        self._refresh_tokens: dict[str, str] = {}
        self._access_tokens: dict[str, str] = {}
        self.token_requests = 0
        self._server = ThreadingHTTPServer((self.host, 0), _handler_for(self))
        self._server.daemon_threads = True
        self._server.socket = certificates.server_context().wrap_socket(
            self._server.socket, server_side=True
        )
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def token_url(self) -> str:
        return f"https://localhost:{self.port}/token"

    @property
    def introspection_url(self) -> str:
        return f"https://localhost:{self.port}/introspect"

    # -- what tests do ------------------------------------------------------------------------

    def grant(self, address: str) -> str:
        """A new refresh token for ``address``, as if its owner had signed in."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._refresh_tokens[token] = address
        return token

    def revoke(self, refresh_token: str) -> None:
        """The owner signed out everywhere (or the admin revoked the grant)."""
        with self._lock:
            self._refresh_tokens.pop(refresh_token, None)

    def expire_access_tokens(self) -> None:
        """Every access token issued so far expires now (refresh tokens stay valid)."""
        with self._lock:
            self._access_tokens.clear()

    def address_for(self, access_token: str) -> str | None:
        """Whose an active access token is (None when unknown or expired)."""
        with self._lock:
            return self._access_tokens.get(access_token)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> OAuthServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the endpoints ------------------------------------------------------------------------

    def token(self, form: dict[str, str]) -> tuple[HTTPStatus, dict[str, Any]]:
        """RFC 6749 §6 and §5: the refresh-token grant."""
        if (form.get("client_id"), form.get("client_secret")) != (
            self.client_id,
            self.client_secret,
        ):
            return HTTPStatus.UNAUTHORIZED, {"error": "invalid_client"}
        if form.get("grant_type") != "refresh_token":
            return HTTPStatus.BAD_REQUEST, {"error": "unsupported_grant_type"}
        with self._lock:
            address = self._refresh_tokens.get(form.get("refresh_token", ""))
            if address is None:
                return HTTPStatus.BAD_REQUEST, {"error": "invalid_grant"}
            access_token = secrets.token_urlsafe(24)
            self._access_tokens[access_token] = address
            self.token_requests += 1
        return HTTPStatus.OK, {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.lifetime_seconds,
        }

    def introspect(self, form: dict[str, str]) -> tuple[HTTPStatus, dict[str, Any]]:
        """RFC 7662 §2.2: an unknown or expired token is simply not active."""
        address = self.address_for(form.get("token", ""))
        if address is None:
            return HTTPStatus.OK, {"active": False}
        return HTTPStatus.OK, {"active": True, "username": address}


def _handler_for(server: OAuthServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            query = parse_qs(self.rfile.read(length).decode())
            form = {name: values[0] for name, values in query.items()}
            endpoint = {"/token": server.token, "/introspect": server.introspect}.get(self.path)
            if endpoint is None:
                status, body = HTTPStatus.NOT_FOUND, {"error": "not_found"}
            else:
                status, body = endpoint(form)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # requests carry tokens: nothing is printed

    return Handler
