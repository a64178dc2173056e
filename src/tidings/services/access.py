"""Signing in and out, console sessions, API tokens, and the first administrator.

Every way in — a console session, an API token, HTTP Basic — ends in the same ``Caller``, whose
security roles every service then checks.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tidings.domain.access import (
    API_TOKEN_PREFIX,
    ApiToken,
    SignInSession,
    digest_token,
)
from tidings.domain.access_levels import units_below
from tidings.domain.errors import (
    NotFoundError,
    SignInThrottledError,
    ValidationError,
)
from tidings.domain.people import Caller, Privilege, User, levels_of, privileges_of
from tidings.domain.records import normalize_address
from tidings.domain.sign_in_throttle import (
    FORGET_AFTER,
    GOOD_HISTORY,
    SignInKeys,
    SignInThrottle,
    ThrottleScope,
    keys_for,
)
from tidings.services.changes import check_text
from tidings.services.ports import Clock, PasswordHasher, UnitOfWork
from tidings.services.setup import SetupService

#: NIST SP 800-63B's floor for passwords a person chooses.
MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True)
class SignedIn:
    """A new console session; ``token`` goes into the cookie and is not kept anywhere."""

    token: str
    session: SignInSession
    caller: Caller


@dataclass(frozen=True)
class NewApiToken:
    """A new API token; ``token`` is shown to its holder once and never again."""

    token: str
    record: ApiToken


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


class AccessService:
    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        hasher: PasswordHasher,
        clock: Clock,
        setup: SetupService,
        throttle: SignInThrottle | None = None,
    ) -> None:
        self._uow = uow_factory
        self._hasher = hasher
        self._clock = clock
        self._setup = setup
        self._throttle = throttle or SignInThrottle()
        self._dummy: str | None = None

    def authenticate(self, email: str, password: str, client: str | None = None) -> Caller | None:
        """The caller if ``password`` is right for an active user, else ``None``.

        ``client`` is the address the attempt comes from. Raises ``SignInThrottledError``
        while this client, this client on this account, or (for a client without good
        history) this account waits out failed attempts; the password is then not even
        checked, so guessing during the wait gains nothing.
        """
        email = email.strip().lower()
        if not _could_be_an_address(email):
            # No user has it, and the database could not even look it up (PostgreSQL refuses
            # NUL; the failure log keeps addresses of up to 320 characters): wrong, as ever.
            self._hasher.verify(self._dummy_hash(), password)
            return None
        # The stored form: every spelling of an international address (A-label, Unicode,
        # decomposed) is one account, with one throttle.
        email = normalize_address(email)
        now = self._clock.now()
        with self._uow() as uow:
            user = uow.directory.get_user_by_email(email)
            keys = keys_for(client, email, known=user is not None)
            counters = uow.access.sign_in_counters(
                [keys.client, keys.pair, keys.account, keys.trusted]
            )
        until = self._throttle.wait_until(counters, keys, now)
        if until is not None:
            raise SignInThrottledError(max(1, math.ceil((until - now).total_seconds())))
        if user is None or not user.is_active or user.password_hash is None:
            # Hash anyway so that a missing user costs the same time as a wrong password.
            self._hasher.verify(self._dummy_hash(), password)
            ok = False
        else:
            ok = self._hasher.verify(user.password_hash, password)
        self._count(keys, ok, now)
        if not ok or user is None:
            return None
        with self._uow() as uow:
            caller = caller_as(uow, user)
            if user.password_hash is not None and self._hasher.needs_rehash(user.password_hash):
                # Made at another cost: the password is at hand only now, at sign-in.
                user.password_hash = self._hasher.hash(password)
                uow.directory.save_user(user)
                uow.commit()
            return caller

    def _count(self, keys: SignInKeys, ok: bool, now: datetime) -> None:
        with self._uow() as uow:
            if ok:
                # The client's good history; its own failures on the account are forgiven.
                uow.access.clear_sign_in_counter(keys.pair)
                uow.access.count_sign_in(keys.trusted, ThrottleScope.TRUSTED, now)
            else:
                for key, scope in keys.failure_keys().items():
                    uow.access.count_sign_in(key, scope, now)
                uow.access.forget_sign_in_counters(now - FORGET_AFTER, now - GOOD_HISTORY)
            uow.commit()

    def sign_in(self, email: str, password: str, client: str | None = None) -> SignedIn | None:
        caller = self.authenticate(email, password, client)
        if caller is None:
            return None
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        session = SignInSession(
            user_id=_user_id(caller.user),
            token_digest=digest_token(token),
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
        )
        with self._uow() as uow:
            session_id = uow.access.add_session(session)
            uow.commit()
        return SignedIn(token, _with_id(session, session_id), caller)

    def session_caller(self, token: str) -> tuple[Caller, SignInSession] | None:
        """The caller and session behind a session cookie, while the session is valid."""
        now = self._clock.now()
        with self._uow() as uow:
            session = uow.access.get_session(digest_token(token))
            if session is None:
                return None
            if not session.is_valid_at(now):
                uow.access.remove_session(session.token_digest)
                uow.commit()
                return None
            caller = _caller_of(uow, session.user_id)
            if caller is None:
                return None
            if session.needs_touch_at(now) and session.id is not None:
                uow.access.touch_session(session.id, now)
                uow.commit()
        return caller, session

    def sign_out(self, token: str) -> None:
        with self._uow() as uow:
            uow.access.remove_session(digest_token(token))
            uow.commit()

    def caller_for(self, email: str) -> Caller:
        """The active user with this address, as a caller with that user's own roles: what
        an operator on the server acts as to hand a user a token.

        Trusted: whoever runs the command line on the server may act as anyone.
        """
        with self._uow() as uow:
            user = uow.directory.get_user_by_email(email)
            caller = _caller_of(uow, user.id) if user is not None and user.id else None
        if caller is None:
            raise NotFoundError(f"no active user with the address {email}")
        return caller

    def create_api_token(self, caller: Caller, name: str) -> NewApiToken:
        """A token acting with the caller's own roles, for scripts and integrations."""
        name = name.strip()
        if not name or len(name) > 200:
            raise ValidationError("an API token needs a name of 1 to 200 characters")
        check_text("name", name, 200)
        token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = ApiToken(
            user_id=_user_id(caller.user),
            name=name,
            token_digest=digest_token(token),
            hint=token[: len(API_TOKEN_PREFIX) + 4],
            created_at=self._clock.now(),
        )
        with self._uow() as uow:
            token_id = uow.access.add_api_token(record)
            uow.commit()
        return NewApiToken(token, ApiToken(**{**record.__dict__, "id": token_id}))

    def api_tokens(self, caller: Caller) -> list[ApiToken]:
        with self._uow() as uow:
            return uow.access.api_tokens_of(_user_id(caller.user))

    def require_api_token(self, caller: Caller, token_id: int) -> ApiToken:
        """A token the caller may revoke: their own, or anyone's for user administrators."""
        with self._uow() as uow:
            return _revocable(uow, caller, token_id)

    def revoke_api_token(self, caller: Caller, token_id: int) -> None:
        """Holders revoke their own tokens; user administrators revoke anyone's."""
        with self._uow() as uow:
            _revocable(uow, caller, token_id)
            uow.access.revoke_api_token(token_id, self._clock.now())
            uow.commit()

    def token_caller(self, token: str) -> Caller | None:
        if not token.startswith(API_TOKEN_PREFIX):
            return None
        with self._uow() as uow:
            record = uow.access.get_api_token(digest_token(token))
            if record is None or not record.is_active or record.id is None:
                return None
            caller = _caller_of(uow, record.user_id)
            if caller is None:
                return None
            uow.access.mark_api_token_used(record.id, self._clock.now())
            uow.commit()
        return caller

    def create_admin(self, full_name: str, email: str, password: str) -> int:
        """A System Administrator who also holds the tracking role: the first sign-in."""
        check_password(password)
        return self._setup.add_user(
            full_name, email.strip().lower(), ["admin", "tracking"], password
        )

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = self._hasher.hash("no such user")
        return self._dummy


def _caller_of(uow: UnitOfWork, user_id: int) -> Caller | None:
    user = uow.directory.get_user(user_id)
    if user is None or not user.is_active:
        return None
    return caller_as(uow, user)


def caller_as(uow: UnitOfWork, user: User) -> Caller:
    """``user`` as a caller: the privileges of their roles, each at its deepest level, their
    business unit with the units below it, and the queues they are a member of."""
    roles = uow.directory.roles()
    unit = user.business_unit_id
    below = units_below(uow.directory.business_units(), unit) if unit else frozenset()
    return Caller(
        user,
        privileges_of(user.role_ids, roles),
        levels_of(user.role_ids, roles),
        unit,
        below,
        uow.directory.queues_of_member(_user_id(user)),
    )


def _user_id(user: User) -> int:
    assert user.id is not None, "a signed-in user is stored"  # noqa: S101
    return user.id


def _with_id(session: SignInSession, session_id: int) -> SignInSession:
    return SignInSession(**{**session.__dict__, "id": session_id})


def _could_be_an_address(email: str) -> bool:
    """Whether a user's email address could be this text at all."""
    if len(email) > MAX_EMAIL_LENGTH or "\0" in email:
        return False
    try:
        email.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


#: What the database keeps of an email address (RFC 5321's 64 + 1 + 255).
MAX_EMAIL_LENGTH = 320


def _revocable(uow: UnitOfWork, caller: Caller, token_id: int) -> ApiToken:
    token = uow.access.get_api_token_by_id(token_id)
    mine = token is not None and token.user_id == caller.user.id
    if token is None or not (mine or caller.can(Privilege.WRITE_USERS)):
        raise NotFoundError(f"no API token {token_id}")
    return token
