"""How failed sign-ins slow guessing down without letting a stranger lock the owner out.

Failures are counted under three keys, each a SHA-256 digest so that no address typed at
sign-in is stored in clear:

* **client**: the address a request came from (an IPv6 client by its /64, which one
  machine usually holds whole), whatever account it tries. Stops one machine guessing
  many accounts.
* **pair**: that client and one account. Stops one machine guessing one password; the
  owner elsewhere is untouched.
* **account**: the account from anywhere. Guessing spread over many machines slows down,
  but only as a *slow-down* with a short ceiling, and never for a client with good history
  (one that has signed in to this account before): the owner is never locked out by
  someone else's failures.

An address that is no account shares its counters with the other unknown addresses of its
bucket (``UNKNOWN_BUCKETS``): probing random addresses leaves a bounded number of rows, and
is throttled just like probing a real account, so the throttle says nothing about whether
an account exists. Counters are forgotten ``FORGET_AFTER`` after their last failure.
"""

from __future__ import annotations

import enum
import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

#: Unknown addresses hash into this many buckets per key kind.
UNKNOWN_BUCKETS = 512
#: A counter with no failure for this long is deleted.
FORGET_AFTER = timedelta(days=1)
#: A client that signed in to an account this recently skips that account's slow-down.
GOOD_HISTORY = timedelta(days=30)


class ThrottleScope(enum.StrEnum):
    CLIENT = "client"
    PAIR = "pair"
    ACCOUNT = "account"
    #: Not failures but successes: a client's good history with an account.
    TRUSTED = "trusted"


@dataclass(frozen=True)
class Counter:
    """Failures (or, for TRUSTED, successes) counted under one key."""

    count: int = 0
    last_at: datetime | None = None


@dataclass(frozen=True)
class Backoff:
    """After ``free`` failures, each further one doubles the wait, up to ``ceiling``."""

    free: int
    ceiling: timedelta
    first_wait: timedelta = timedelta(seconds=2)

    def until(self, counter: Counter) -> datetime | None:
        if counter.last_at is None or counter.count < self.free:
            return None
        doublings = min(counter.count - self.free, 20)
        wait: timedelta = min(self.first_wait * 2**doublings, self.ceiling)
        return counter.last_at + wait


@dataclass(frozen=True)
class SignInKeys:
    """The digests one sign-in attempt is counted under."""

    client: str
    pair: str
    account: str
    trusted: str

    def failure_keys(self) -> dict[str, ThrottleScope]:
        return {
            self.client: ThrottleScope.CLIENT,
            self.pair: ThrottleScope.PAIR,
            self.account: ThrottleScope.ACCOUNT,
        }


def client_label(address: str | None) -> str:
    """What a client is counted as: its IPv4 address, its IPv6 /64, or the text given."""
    if not address:
        return "local"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:100]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


def keys_for(client: str | None, email: str, *, known: bool) -> SignInKeys:
    """The keys of an attempt on ``email`` (lower-cased) from ``client``."""
    who = client_label(client)
    account = email if known else f"unknown#{_bucket(email)}"
    return SignInKeys(
        client=_digest("client", who),
        pair=_digest("pair", who, account),
        account=_digest("account", account),
        trusted=_digest("trusted", who, email),
    )


@dataclass(frozen=True)
class SignInThrottle:
    """The three backoffs and how long each kind of counter is kept."""

    client: Backoff = Backoff(free=20, ceiling=timedelta(minutes=15))
    pair: Backoff = Backoff(free=5, ceiling=timedelta(minutes=15))
    account: Backoff = Backoff(free=10, ceiling=timedelta(minutes=1))

    def wait_until(
        self, counters: dict[str, Counter], keys: SignInKeys, now: datetime
    ) -> datetime | None:
        """When the attempt may be made, if not now."""
        trusted = counters.get(keys.trusted, Counter())
        has_history = trusted.last_at is not None and now - trusted.last_at < GOOD_HISTORY
        limits = [
            self.client.until(counters.get(keys.client, Counter())),
            self.pair.until(counters.get(keys.pair, Counter())),
            None if has_history else self.account.until(counters.get(keys.account, Counter())),
        ]
        waits = [t for t in limits if t is not None and t > now]
        return max(waits) if waits else None


def _bucket(email: str) -> int:
    return int.from_bytes(hashlib.sha256(email.encode()).digest()[:4], "big") % UNKNOWN_BUCKETS


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()
