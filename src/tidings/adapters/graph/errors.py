"""Microsoft's answers translated into Tidings errors, in words an admin can act on.

Token errors carry AADSTS codes (learn.microsoft.com/entra/identity-platform/reference-error-codes);
Graph errors an HTTP status and an ``error.code`` (learn.microsoft.com/graph/errors).
``permanent`` marks what a person must fix: a secret, a permission, a tenant, a mailbox.
"""

from __future__ import annotations

import json
import ssl
from typing import TYPE_CHECKING, Any

import httpx

from tidings.domain.errors import (
    CursorExpiredError,
    MailServerError,
    ServerAnsweredError,
    ThrottledError,
)

if TYPE_CHECKING:
    from tidings.adapters.graph.settings import GraphSettings

#: When Graph asks to slow down without saying how long (503 without Retry-After).
DEFAULT_RETRY_AFTER = 10.0
#: Statuses that say the service, not the request, is in trouble (a gateway, a timeout).
_UNAVAILABLE = (408, 502, 504)

_AADSTS: dict[int, str] = {
    7000215: "the client secret was refused: enter the secret's Value (not its Secret ID) "
    "from the app registration's Certificates & secrets page",
    7000222: "the client secret has expired: create a new one in the app registration and "
    "enter it in the server profile",
    700016: "no app registration with client id {client_id} in tenant {tenant_id}: check the "
    "Application (client) ID and the Directory (tenant) ID",
    90002: "tenant {tenant_id} was not found: check the Directory (tenant) ID",
    700027: "the certificate was refused: upload it to the app registration's Certificates & "
    "secrets page, or check that the key matches it",
    1002012: "the scope was refused: the Graph URL option must be the Graph host only",
}


def token_error(settings: GraphSettings, result: dict[str, Any]) -> MailServerError:
    """The failure of a token request, from MSAL's result (the endpoint's error response)."""
    codes = [int(c) for c in result.get("error_codes") or [] if str(c).isdigit()]
    for code in codes:
        if code in _AADSTS:
            text = _AADSTS[code].format(client_id=settings.client_id, tenant_id=settings.tenant_id)
            return MailServerError(f"Microsoft sign-in: {text} (AADSTS{code})", permanent=True)
    error = str(result.get("error", "unknown_error"))
    description = str(result.get("error_description", "")).split(" Trace ID:")[0]
    # invalid_client and unauthorized_client need a person; anything else may pass later.
    permanent = error in {"invalid_client", "unauthorized_client", "invalid_scope"}
    return MailServerError(
        f"Microsoft sign-in refused the app: {description or error}", permanent=permanent
    )


def discovery_error(settings: GraphSettings, error: ValueError) -> MailServerError:
    """MSAL could not read the tenant's OpenID configuration (an unknown tenant, mostly)."""
    cause = str(error.__context__ or error)
    if "AADSTS90002" in cause or "invalid_tenant" in cause:
        text = _AADSTS[90002].format(tenant_id=settings.tenant_id)
        return MailServerError(f"Microsoft sign-in: {text} (AADSTS90002)", permanent=True)
    return MailServerError(
        f"Microsoft sign-in at {settings.authority_url} could not be used for tenant "
        f"{settings.tenant_id}: {error}",
        permanent=True,
    )


def transport_error(url: str, error: httpx.HTTPError) -> MailServerError:
    """No HTTP answer: an untrusted certificate needs a person, anything else may pass."""
    if _is_certificate_error(error):
        return MailServerError(
            f"the certificate of {url} is not trusted: {error}; set the profile's ca_file "
            "option to the CA that issued it",
            permanent=True,
        )
    return MailServerError(
        f"cannot reach {url}: {str(error) or type(error).__name__}", permanent=False
    )


def graph_error(response: httpx.Response, *, address: str, permission: str) -> MailServerError:
    """A Graph error response to a call for ``address`` needing ``permission``."""
    status = response.status_code
    code, message = _error_body(response)
    detail = f"({status} {code}: {message})" if message else f"({status} {code})"
    if status in (429, 503):
        retry_after = _retry_after(response)
        return ThrottledError(
            f"Microsoft Graph asked Tidings to slow down; trying again in {retry_after:g} s "
            f"{detail}",
            retry_after,
        )
    if status == 410:
        return CursorExpiredError(
            f"Microsoft Graph no longer knows this folder's delta link {detail}"
        )
    if status == 401:
        return MailServerError(
            "Microsoft Graph refused the app's access token, even a fresh one: check that the "
            f"tenant id is the mailbox's tenant {detail}",
            permanent=True,
        )
    if status == 403:
        return MailServerError(
            f"the app registration lacks {permission} application permission (or an "
            f"application access policy excludes the mailbox {address}): grant it in Entra ID "
            f"with admin consent {detail}",
            permanent=True,
        )
    if code == "ErrorInvalidUser":
        return MailServerError(
            f"no mailbox {address} in the tenant: check the address and that the user has an "
            f"Exchange Online license {detail}",
            permanent=True,
        )
    if code == "MailboxNotEnabledForRESTAPI":
        return MailServerError(
            f"the mailbox {address} is inactive, soft-deleted or hosted on-premises: "
            f"Microsoft Graph cannot reach it {detail}",
            permanent=True,
        )
    if status in _UNAVAILABLE:
        return MailServerError(f"Microsoft Graph failed for {address} {detail}", permanent=False)
    return ServerAnsweredError(f"Microsoft Graph failed for {address} {detail}")


def error_code(response: httpx.Response) -> str:
    return _error_body(response)[0]


def _error_body(response: httpx.Response) -> tuple[str, str]:
    try:
        body = json.loads(response.content)
    except ValueError:
        return response.reason_phrase or "error", ""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return response.reason_phrase or "error", ""
    return str(error.get("code", "error")), str(error.get("message", ""))


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return max(float(value), 0.0)
    except ValueError:
        return DEFAULT_RETRY_AFTER


def _is_certificate_error(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(
            seen
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
