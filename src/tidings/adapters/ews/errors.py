"""exchangelib's exceptions in an admin's words, as Tidings' errors.

EWS ResponseCode values: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/responsecode
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import requests
from exchangelib import errors as ews

from tidings.domain.errors import (
    CursorExpiredError,
    FolderMissingError,
    MailServerError,
    ThrottledError,
)

#: The operating system's reason inside a failed connection's text ("[Errno 111] Connection
#: refused").
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")
#: When ErrorServerBusy carries no BackOffMilliseconds, wait this long (seconds).
DEFAULT_BACK_OFF = 30.0
#: Codes that a person must fix: a retry cannot help.
_PERMANENT = (
    ews.ErrorAccessDenied,
    ews.ErrorImpersonationFailed,
    ews.RedirectError,
    ews.AutoDiscoverFailed,
)


@dataclass(frozen=True)
class Context:
    """What the failing request was about, for the message."""

    address: str
    #: True when a service account logs in for the mailbox (impersonation).
    impersonating: bool
    folder: str | None = None
    #: True when an app registration signs in (auth=oauth), not an account.
    oauth: bool = False


def translate(error: Exception, context: Context) -> MailServerError:
    """The Tidings error for an exception exchangelib (or requests under it) raised."""
    whose = "the service account's" if context.impersonating else "the mailbox's"
    if isinstance(error, ews.UnauthorizedError):
        return MailServerError(
            f"authentication failed: check {whose} user name and password", permanent=True
        )
    if isinstance(error, ews.ErrorServerBusy):
        seconds = error.back_off if error.back_off else DEFAULT_BACK_OFF
        return ThrottledError(f"Exchange is busy (ErrorServerBusy): {error}", seconds)
    if isinstance(error, ews.ErrorInvalidSyncStateData):
        return CursorExpiredError("Exchange no longer knows this folder's sync state")
    if isinstance(error, ews.ErrorImpersonateUserDenied) and context.oauth:
        return MailServerError(
            "the app registration may not impersonate this mailbox: grant it the "
            "full_access_as_app application permission of Office 365 Exchange Online with "
            "admin consent, or check the mailbox's application access policy",
            permanent=True,
        )
    if isinstance(error, ews.ErrorImpersonateUserDenied):
        return MailServerError(
            "the service account may not impersonate this mailbox: grant it the "
            "ApplicationImpersonation role",
            permanent=True,
        )
    if isinstance(error, ews.ErrorNonExistentMailbox):
        return MailServerError(
            f"Exchange has no mailbox for {context.address}: check the address", permanent=True
        )
    if isinstance(error, ews.ErrorFolderNotFound):
        return FolderMissingError(f"the mailbox {context.address} has no folder {context.folder!r}")
    return _transport(error, context)


def _transport(error: Exception, context: Context) -> MailServerError:
    text = str(error)
    if isinstance(error, requests.exceptions.SSLError) or "CERTIFICATE_VERIFY_FAILED" in text:
        return MailServerError(
            "the EWS server's certificate is not trusted: check the EWS URL's host name, or "
            "give the profile the CA file that signed it",
            permanent=True,
        )
    if isinstance(error, ews.ErrorTimeoutExpired) and text.startswith("Reraised from"):
        # exchangelib's wording for a connection that failed or timed out under it.
        found = _ERRNO.search(text)
        reason = found.group(1).strip() if found else "no answer in time"
        return MailServerError(
            f"cannot reach the EWS server ({reason}): check the profile's EWS URL and that "
            "Exchange is running",
            permanent=False,
        )
    if isinstance(error, ews.AutoDiscoverFailed):
        return MailServerError(
            f"autodiscover found no EWS URL for {context.address}: set the profile's EWS URL",
            permanent=True,
        )
    if isinstance(error, _PERMANENT):
        return MailServerError(f"Exchange refused: {text}", permanent=True)
    return MailServerError(f"Exchange did not answer as expected: {text}", permanent=False)
