"""Address lists (From, To, Cc, Bcc …) read as RFC 5322 §3.4 reads them.

A mailbox is a display name and an address in angle brackets, or a bare address. Comments
are no part of either: ``"Doe, John" (Sales) <j@x>`` names ``Doe, John``; only where a
mailbox has no display name does its comment serve as one (``j@x (John Doe)``), as every
mail client shows it. Groups (``Team: a@x, b@y;``, ``undisclosed-recipients:;``) give their
members. Encoded words in names are decoded, in quoted strings too, as clients do. A name
written unquoted with a comma (``Doe, John <j@x>``, as some clients write ``Last, First``)
is read whole, since the part before the comma names no address.
"""

from __future__ import annotations

import re

from tidings.domain.header_text import decode_words

_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[QqBb]\?[^?\s]*\?=")
_SPECIALS = frozenset('<>,;:@"()\\')
_WHITESPACE = frozenset(" \t\r\n")

#: Token kinds: a word of a phrase or an address, a quoted string, a comment, a special.
_ATOM, _QUOTED, _COMMENT, _SPECIAL = "atom", "quoted", "comment", "special"


def parse_address_list(value: str) -> list[tuple[str, str]]:
    """Each mailbox of an address-list header as ``(display name, address)``, in order.

    ``value`` is unfolded. The address is as written (not checked, not normalized); an entry
    that names no address at all gives none.
    """
    found: list[tuple[str, str]] = []
    loose_names: list[str] = []  # entries before this one that named no address
    for entry in _entries(_tokens(value)):
        name, address, angled = _mailbox(entry)
        if not address:
            if name and "@" not in name:
                loose_names.append(name)
            else:
                loose_names = []
            continue
        if angled and loose_names:
            name = ", ".join([*loose_names, name]) if name else ", ".join(loose_names)
        loose_names = []
        found.append((name, address))
    return found


def _tokens(value: str) -> list[tuple[str, str, bool]]:
    """``(kind, text, whitespace before)`` for each token of ``value``."""
    tokens: list[tuple[str, str, bool]] = []
    index, end, space = 0, len(value), False
    while index < end:
        char = value[index]
        if char in _WHITESPACE:
            space = True
            index += 1
            continue
        if char == '"':
            text, index = _delimited(value, index + 1, '"')
            tokens.append((_QUOTED, text, space))
        elif char == "(":
            text, index = _comment(value, index + 1)
            tokens.append((_COMMENT, text, space))
        elif char in _SPECIALS:
            tokens.append((_SPECIAL, char, space))
            index += 1
        else:
            word = _ENCODED_WORD.match(value, index)
            stop = word.end() if word else index
            while stop < end and value[stop] not in _SPECIALS and value[stop] not in _WHITESPACE:
                stop += 1
            tokens.append((_ATOM, value[index:stop], space))
            index = stop
        space = False
    return tokens


def _delimited(value: str, index: int, close: str) -> tuple[str, int]:
    """A quoted string's text from ``index``, unescaped; runs to the end if never closed."""
    chars: list[str] = []
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value):
            chars.append(value[index + 1])
            index += 2
            continue
        if char == close:
            return "".join(chars), index + 1
        chars.append(char)
        index += 1
    return "".join(chars), index


def _comment(value: str, index: int) -> tuple[str, int]:
    """A comment's text from ``index``, nested comments included."""
    chars: list[str] = []
    depth = 1
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value):
            chars.append(value[index + 1])
            index += 2
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return "".join(chars), index + 1
        chars.append(char)
        index += 1
    return "".join(chars), index


def _entries(tokens: list[tuple[str, str, bool]]) -> list[list[tuple[str, str, bool]]]:
    """The tokens of each mailbox: split at commas outside angle brackets, group names and
    their colon dropped, a group's closing semicolon ending its last member."""
    entries: list[list[tuple[str, str, bool]]] = []
    current: list[tuple[str, str, bool]] = []
    in_angle = False
    for token in tokens:
        kind, text, _ = token
        if kind == _SPECIAL:
            if text == "<":
                in_angle = True
            elif text == ">":
                in_angle = False
            elif not in_angle and text in ",;":
                entries.append(current)
                current = []
                continue
            elif not in_angle and text == ":":
                current = []  # a group's name names no one
                continue
        current.append(token)
    entries.append(current)
    return entries


def _mailbox(entry: list[tuple[str, str, bool]]) -> tuple[str, str, bool]:
    """``(name, address, whether the address was in angle brackets)`` of one entry."""
    phrase: list[tuple[str, str, bool]] = []
    angle: list[tuple[str, str, bool]] | None = None
    comments: list[str] = []
    in_angle = False
    for token in entry:
        kind, text, _ = token
        if kind == _COMMENT:
            comments.append(text)
        elif kind == _SPECIAL and text == "<":
            in_angle, angle = True, []
        elif kind == _SPECIAL and text == ">":
            in_angle = False
        elif in_angle and angle is not None:
            if kind == _SPECIAL and text in ":":
                angle = []  # an obsolete source route (@a,@b:) before the address
            elif not (kind == _SPECIAL and text == ","):
                angle.append(token)
        else:
            phrase.append(token)
    if angle is not None:
        return _phrase_text(phrase), _address_text(angle), True
    at = next((i for i, (k, t, _) in enumerate(phrase) if k == _SPECIAL and t == "@"), None)
    if at is None:
        return _phrase_text(phrase), "", False
    # The address is the run of tokens around "@" with no whitespace in it; words written
    # before it (``Joe Bloggs joe@x``) name it when no comment does.
    start = at
    while start > 0 and not phrase[start][2]:
        start -= 1
    stop = at + 1
    while stop < len(phrase) and not phrase[stop][2]:
        stop += 1
    name = " ".join(c.strip() for c in comments if c.strip())
    name = decode_words(" ".join(name.split())) if name else _phrase_text(phrase[:start])
    return name, _address_text(phrase[start:stop]), False


def _phrase_text(tokens: list[tuple[str, str, bool]]) -> str:
    words: list[str] = []
    for kind, text, space in tokens:
        if kind == _QUOTED:
            words.append(text)
        elif kind == _ATOM or (kind == _SPECIAL and text not in "<>"):
            # "." and other stray specials stick to the word before them, as written.
            if words and (not space or kind == _SPECIAL):
                words[-1] += text
            else:
                words.append(text)
    return decode_words(" ".join(words)).strip() if words else ""


def _address_text(tokens: list[tuple[str, str, bool]]) -> str:
    parts: list[str] = []
    for kind, text, _ in tokens:
        if kind == _QUOTED:
            parts.append(f'"{text}"')
        elif kind in (_ATOM, _SPECIAL):
            parts.append(text)
    return "".join(parts)
