"""``policy.default`` that parses each distinct header value once.

Under ``policy.default`` every read of a header parses its value anew, and the parser itself
reads ``Content-Type`` a dozen times per message (content type, main type, boundary, charset
…): for typical business email that is about half of the whole parse. The header objects
are immutable values of ``(name, value)``, so handing back the one already built gives the
same message, header for header, as ``policy.default`` does.
"""

from __future__ import annotations

import functools
import re
from email.headerregistry import BaseHeader, HeaderRegistry
from email.policy import EmailPolicy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import override
else:  # the domain needs no third-party module at run time

    def override(method):  # noqa: ANN001, ANN201
        return method


#: How many distinct header values a process keeps parsed (values repeat across messages:
#: ``text/plain; charset="utf-8"``, ``base64``, ``inline`` …).
_CACHED_VALUES = 4096
#: The folding ``policy.default`` removes before parsing (``email.policy.linesep_splitter``).
_LINESEP = re.compile(r"\n|\r")


class _ClassPerName(HeaderRegistry):
    """The stdlib registry builds a new header class on every lookup; build each once."""

    @override
    def __getitem__(self, name: str) -> type[BaseHeader]:
        return _header_class(self, name.lower())


@functools.cache
def _header_class(registry: HeaderRegistry, name: str) -> type[BaseHeader]:
    return HeaderRegistry.__getitem__(registry, name)


class CachedHeaderPolicy(EmailPolicy):
    """``policy.default`` with parsed header values shared instead of parsed again."""

    @override
    def header_fetch_parse(self, name: str, value: Any) -> Any:
        if hasattr(value, "name"):  # already a header object
            return value
        return _parsed_header(self, name, "".join(_LINESEP.split(value)))


@functools.lru_cache(maxsize=_CACHED_VALUES)
def _parsed_header(policy: EmailPolicy, name: str, value: str) -> BaseHeader:
    return policy.header_factory(name, value)  # type: ignore[no-any-return]


#: The policy ``parse_email`` reads messages with.
CACHED_DEFAULT = CachedHeaderPolicy(header_factory=_ClassPerName())
