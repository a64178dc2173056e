"""The exceptions Tidings raises, split by who must act: the user or the operator."""

from __future__ import annotations

from collections.abc import Mapping


class TidingsError(Exception):
    """Every error Tidings raises on purpose derives from this."""


class UserError(TidingsError):
    """The caller asked for something that cannot be done; the message says what to change."""


class SystemError_(TidingsError):
    """Something outside the caller's control failed; the message says what broke."""


class SecretError(SystemError_):
    """A sealed secret cannot be opened with the configured keys (the key that sealed it is
    gone): the operator restores the key, or the password is entered again."""


class ValidationError(UserError):
    """Input breaks a rule of the domain (a port out of range, too many folder rules …)."""


class FieldValueError(ValidationError):
    """Values given for named fields break a rule: ``problems`` says, by field (dotted for a
    nested one: ``tracking_token.prefix``), what is wrong with each, so that an API answers
    as it does for a value its schema refused (422, located at the field) and a form shows
    each problem beside its field. The message, by default each field and its problem, is
    what a person reads."""

    def __init__(self, problems: Mapping[str, str], message: str = "") -> None:
        self.problems = dict(problems)
        super().__init__(message or "; ".join(f"{f}: {m}" for f, m in self.problems.items()))


class UnsafeTargetError(ValidationError):
    """A URL Tidings would call points where it may not (a webhook at a private address)."""


class ConfigurationError(UserError):
    """A setting of the process (a ``TIDINGS_*`` variable or the ``.env`` file) is wrong:
    the message names each such setting and what it takes, never the value given, which
    may hold a password."""


class NotAuthorizedError(UserError):
    """The caller's security roles do not allow what was asked."""


class NotFoundError(UserError):
    """A record the caller named does not exist."""


class ConflictError(UserError):
    """The request conflicts with existing data (a duplicate name or address …)."""


class SignInThrottledError(UserError):
    """Too many failed sign-ins from this client or for this account: the next attempt
    must wait. The words are the same whether or not the account exists."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


class StorageError(SystemError_):
    """The database failed in a way the caller cannot fix."""


class MailServerError(SystemError_):
    """A mail server refused or failed; ``permanent`` when a person must fix something
    (a password, a certificate), not when trying again later may work."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class FolderMissingError(MailServerError):
    """The mailbox has no folder of that name (deleted, renamed or never made, IMAP's
    NONEXISTENT): nothing to sync there until it exists. Not the mailbox's failure: its
    other folders go on, and it is never disabled for it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=False)


class ServerAnsweredError(MailServerError):
    """A mail API answered the request with an error of its own (an HTTP 400 or 500, say),
    not one about sign-in, throttling or its availability: asked for one message, that
    message's failure. Its neighbours may still be had."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=False)


class ThrottledError(MailServerError):
    """A mail API asked Tidings to slow down (HTTP 429 or 503 with Retry-After, EWS
    ErrorServerBusy with its back-off hint): wait that long, then go on; not a failure."""

    def __init__(self, message: str, retry_after_seconds: float) -> None:
        super().__init__(message, permanent=False)
        self.retry_after_seconds = retry_after_seconds


class CursorExpiredError(MailServerError):
    """A mail API no longer knows the folder's cursor (Graph 410 ``syncStateNotFound``,
    Gmail 404 for an old historyId, EWS ErrorInvalidSyncStateData): read the folder again
    from the start; the raw store keeps that from duplicating anything."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=False)


class WebhookSendError(SystemError_):
    """A webhook receiver gave no HTTP answer: refused, unreachable, timed out."""
