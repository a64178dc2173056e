"""Google's OAuth 2.0 token endpoint as the Gmail contract fake plays it.

Two grants, as Google documents them:

- the JWT-bearer grant of a service account
  (https://developers.google.com/identity/protocols/oauth2/service-account#httprest):
  ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and an RS256-signed
  ``assertion`` whose claims are ``iss`` (the service account's email), ``scope``
  (space-separated), ``aud`` (the token endpoint), ``exp``/``iat`` (at most an hour apart) and,
  for domain-wide delegation, ``sub`` (the user to act as). Acting as a user needs the
  client id to be granted those scopes in the Admin console
  (https://support.google.com/a/answer/162106); otherwise Google answers 401
  ``unauthorized_client``;
- the ``refresh_token`` grant of an OAuth client a user consented to
  (https://developers.google.com/identity/protocols/oauth2/web-server#offline): a revoked
  token is 400 ``invalid_grant`` (#token-revoke), a wrong secret 401 ``invalid_client``.

Access tokens last ``expires_in`` seconds; a test may expire them all at once.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_LIFETIME = 3600
#: The documented ``aud`` of an assertion, wherever the endpoint that reads it is served.
AUDIENCE = "https://oauth2.googleapis.com/token"


@dataclass(frozen=True)
class AccessToken:
    """Who a token acts as (None: the service account itself) and what it may do."""

    subject: str | None
    scopes: frozenset[str]
    expires_at: float


@dataclass(frozen=True)
class RefreshToken:
    client_id: str
    subject: str
    scopes: frozenset[str]


class TokenError(Exception):
    """An OAuth error answer: status, ``error`` and ``error_description`` (RFC 6749 §5.2)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def to_json(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass
class FakeGoogleAuth:
    """Service accounts, OAuth clients, Admin-console grants and the tokens handed out."""

    token_url: str = ""
    service_accounts: dict[str, tuple[str, rsa.RSAPublicKey]] = field(default_factory=dict)
    #: Admin console → Security → API controls → Domain-wide delegation: client id → scopes.
    delegation: dict[str, frozenset[str]] = field(default_factory=dict)
    clients: dict[str, str] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    users: set[str] = field(default_factory=set)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def create_service_account(
        self, client_id: str, project: str = "tidings-test"
    ) -> dict[str, str]:
        """A new service account and its JSON key, as the Cloud console downloads it."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        email = f"sync-{client_id}@{project}.iam.gserviceaccount.com"
        with self.lock:
            self.service_accounts[email] = (client_id, key.public_key())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return {
            "type": "service_account",
            "project_id": project,
            "private_key_id": secrets.token_hex(20),
            "private_key": pem.decode("ascii"),
            "client_email": email,
            "client_id": client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_url,
        }

    @staticmethod
    def forged_key(key: dict[str, str]) -> dict[str, str]:
        """``key`` with a private key Google never issued (a deleted key, say)."""
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return {**key, "private_key": pem.decode("ascii"), "private_key_id": secrets.token_hex(20)}

    def grant(self, client_id: str, scopes: list[str]) -> None:
        with self.lock:
            self.delegation[client_id] = frozenset(scopes)

    def revoke_delegation(self, client_id: str) -> None:
        with self.lock:
            self.delegation.pop(client_id, None)

    def add_client(self, client_id: str, client_secret: str) -> None:
        with self.lock:
            self.clients[client_id] = client_secret

    def consent(self, client_id: str, subject: str, scopes: list[str]) -> str:
        """The refresh token a user's consent gives the client (access_type=offline)."""
        token = "1//" + secrets.token_urlsafe(32)
        with self.lock:
            self.refresh_tokens[token] = RefreshToken(client_id, subject, frozenset(scopes))
        return token

    def revoke_refresh_token(self, token: str) -> None:
        with self.lock:
            self.refresh_tokens.pop(token, None)

    def expire_tokens(self) -> None:
        with self.lock:
            self.access_tokens.clear()

    def access(self, token: str) -> AccessToken | None:
        with self.lock:
            found = self.access_tokens.get(token)
        return found if found is not None and found.expires_at > time.time() else None

    def token(self, form: dict[str, str]) -> dict[str, object]:
        """Answer one token request; raise ``TokenError`` as Google would."""
        grant_type = form.get("grant_type", "")
        if grant_type == JWT_BEARER:
            subject, scopes = self._jwt_grant(form.get("assertion", ""))
        elif grant_type == "refresh_token":
            subject, scopes = self._refresh_grant(form)
        else:
            raise TokenError(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        value = "ya29." + secrets.token_urlsafe(32)
        with self.lock:
            self.access_tokens[value] = AccessToken(subject, scopes, time.time() + TOKEN_LIFETIME)
        return {
            "access_token": value,
            "expires_in": TOKEN_LIFETIME,
            "scope": " ".join(sorted(scopes)),
            "token_type": "Bearer",
        }

    def _jwt_grant(self, assertion: str) -> tuple[str | None, frozenset[str]]:
        claims = self._verified_claims(assertion)
        scopes = frozenset(str(claims.get("scope", "")).split())
        subject = claims.get("sub")
        if subject is None:
            return None, scopes
        client_id = self.service_accounts[str(claims["iss"])][0]
        with self.lock:
            granted = self.delegation.get(client_id, frozenset())
            known = subject in self.users
        if not scopes or not scopes <= granted:
            raise TokenError(
                401,
                "unauthorized_client",
                "Client is unauthorized to retrieve access tokens using this method, or "
                "client not authorized for any of the scopes requested.",
            )
        if not known:
            raise TokenError(400, "invalid_grant", "Invalid email or User ID")
        return str(subject), scopes

    def _verified_claims(self, assertion: str) -> dict[str, object]:
        try:
            header_b64, claims_b64, signature_b64 = assertion.split(".")
            header = json.loads(_unb64(header_b64))
            claims: dict[str, object] = json.loads(_unb64(claims_b64))
        except ValueError as error:
            raise TokenError(400, "invalid_grant", "Invalid JWT: malformed") from error
        with self.lock:
            account = self.service_accounts.get(str(claims.get("iss")))
        if header.get("alg") != "RS256" or account is None:
            raise TokenError(400, "invalid_grant", "Invalid JWT Signature.")
        try:
            account[1].verify(
                _unb64(signature_b64),
                f"{header_b64}.{claims_b64}".encode("ascii"),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature as error:
            raise TokenError(400, "invalid_grant", "Invalid JWT Signature.") from error
        now = time.time()
        issued, expires = _number(claims.get("iat")), _number(claims.get("exp"))
        if claims.get("aud") not in (AUDIENCE, self.token_url):
            raise TokenError(400, "invalid_grant", "Invalid JWT: audience")
        if not issued - 300 <= now <= expires or expires - issued > 3600:
            raise TokenError(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token")
        return claims

    def _refresh_grant(self, form: dict[str, str]) -> tuple[str, frozenset[str]]:
        client_id = form.get("client_id", "")
        with self.lock:
            secret = self.clients.get(client_id)
            found = self.refresh_tokens.get(form.get("refresh_token", ""))
        if secret is None or not secrets.compare_digest(secret, form.get("client_secret", "")):
            raise TokenError(401, "invalid_client", "Unauthorized")
        if found is None or found.client_id != client_id:
            raise TokenError(400, "invalid_grant", "Token has been expired or revoked.")
        return found.subject, found.scopes


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0
