"""One copy of each set of words many connections hold alike.

Every connection to a server keeps the server's capabilities, and every folder the flags it
keeps for good: the same thirty-odd words, a set and a string each, on each of a worker's
1,000 connections (4 KB a connection). Equal sets are shared instead; a set is dropped once
no connection holds it, so a server that varies its words costs no more than before.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Iterable

_SHARED: weakref.WeakValueDictionary[frozenset[str], frozenset[str]] = weakref.WeakValueDictionary()


def shared(words: Iterable[str]) -> frozenset[str]:
    """A frozen set equal to ``words``: the one already held elsewhere if there is one."""
    wanted = frozenset(words)
    found = _SHARED.get(wanted)
    if found is None:
        found = frozenset(sys.intern(word) for word in wanted)
        _SHARED[found] = found
    return found
