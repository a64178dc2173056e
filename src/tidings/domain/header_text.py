"""Header text as RFC 5322, 2047 and 6532 mean it, and as mail clients read it.

- A line ends at CRLF, or at a bare LF as Unix mail stores it. A bare CR is data (read as a
  space), never a line end: no header can be started inside another one that way. Mail with
  no LF at all (files from classic Mac OS) ends its lines with CR, and is read so.
- Unfolding removes the line end before whitespace, nothing else: spaces and tabs stay.
- Encoded words are decoded in their charset, or its nearest relative where the declared
  name is one real mail uses but Python does not know (``ks_c_5601-1987``, ``x-gbk``,
  ``iso-8859-8-i``, ``x-mac-*`` …); in an unknown charset they are read as UTF-8 with
  replacement characters, never left as ``=?…?=`` text.
- Undeclared 8-bit header bytes are read as UTF-8 (RFC 6532), else in the message's own
  charset, else as Latin-1.
- Comments (``(…)``, nested, outside quoted strings) are no part of a value's meaning.
"""

from __future__ import annotations

import binascii
import codecs
import functools
import re

_BARE_CR = re.compile(rb"\r(?!\n)")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_LINE_END = re.compile(r"\r?\n")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?\s]*)\?=")
_BASE64_LETTERS = re.compile(r"[^A-Za-z0-9+/]")
_DECLARED_CHARSET = re.compile(
    rb"(?im)^content-type:[^\n]*(?:\n[ \t][^\n]*)*?charset\s*=\s*\"?([A-Za-z0-9_.:+-]+)"
)

#: Charset names real mail declares, by the codec that reads them (WHATWG's encoding
#: standard maps most of these the same way).
_RELATIVES = {
    "ks_c_5601-1987": "cp949",
    "ks_c_5601-1989": "cp949",
    "ks_c_5601": "cp949",
    "ksc5601": "cp949",
    "ksc_5601": "cp949",
    "euc-kr": "cp949",
    "x-gbk": "gbk",
    "gb2312": "gb18030",
    "gb_2312-80": "gb18030",
    "x-gb2312": "gb18030",
    "csgb2312": "gb18030",
    "big5": "big5hkscs",
    "x-x-big5": "big5hkscs",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "windows-31j": "cp932",
    "x-euc-jp": "euc_jp",
    "iso-8859-8-i": "iso8859_8",
    "iso-8859-8-e": "iso8859_8",
    "iso-8859-6-i": "iso8859_6",
    "iso-8859-6-e": "iso8859_6",
    "logical": "iso8859_8",
    "visual": "iso8859_8",
    "unicode-1-1-utf-7": "utf_7",
    "unicode-2-0-utf-7": "utf_7",
    "x-unicode20utf7": "utf_7",
    "unicode-1-1-utf-8": "utf_8",
    "unicode-2-0-utf-8": "utf_8",
    "x-unicode20utf8": "utf_8",
    "windows-874": "cp874",
    "tis-620": "cp874",
    "iso-8859-11": "cp874",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "x-mac-ce": "mac_latin2",
    "x-mac-centraleurroman": "mac_latin2",
    "x-mac-cyrillic": "mac_cyrillic",
    "x-mac-ukrainian": "mac_cyrillic",
    "x-mac-greek": "mac_greek",
    "x-mac-icelandic": "mac_iceland",
    "x-mac-turkish": "mac_turkish",
    "x-mac-croatian": "mac_croatian",
    "x-mac-romanian": "mac_romanian",
    "x-mac-japanese": "shift_jis",
    "x-mac-chinesetrad": "big5hkscs",
    "x-mac-chinesesimp": "gb18030",
    "x-mac-korean": "cp949",
    "x-cp1250": "cp1250",
    "x-cp1251": "cp1251",
    "x-cp1252": "cp1252",
    "ansi_x3.4-1968": "ascii",
    "unicode": "utf_16",
}
#: Codecs that are no text charset of mail, whatever a header names.
_NOT_MAIL_CHARSETS = frozenset(
    {"undefined", "unicode_escape", "raw_unicode_escape", "idna", "punycode", "mbcs", "oem"}
)


def neutral_line_ends(raw: bytes) -> bytes:
    """``raw`` with each bare CR made a space, as a line ends only at CRLF or LF.

    Python's email parser ends a line at a bare CR as well; reading the result instead of
    ``raw`` makes it read lines as RFC 5322 does. Mail without a single LF is CR-ended.
    """
    if b"\r" not in raw:
        return raw
    if b"\n" not in raw:
        return raw.replace(b"\r", b"\n")
    if raw.count(b"\r") == raw.count(b"\r\n"):
        return raw
    return _BARE_CR.sub(b" ", raw)


def decode_header_block(block: bytes) -> str:
    """A header block as text: UTF-8 where valid, else line by line in the message's
    declared charset, else Latin-1 (which reads every byte)."""
    if b"\0" in block:
        block = block.replace(b"\0", b"")
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = _DECLARED_CHARSET.search(block)
    codec = codec_for(declared.group(1).decode("ascii")) if declared else None
    return "\n".join(_decode_line(line, codec) for line in block.split(b"\n"))


def _decode_line(line: bytes, codec: str | None) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if codec is not None and codec not in ("utf_8", "ascii"):
        try:
            return line.decode(codec)
        except (UnicodeDecodeError, LookupError):
            pass
    return line.decode("latin-1")


@functools.lru_cache(maxsize=256)
def codec_for(charset: str) -> str | None:
    """The codec that reads ``charset`` (or its nearest relative), or ``None`` if none does."""
    name = charset.strip().strip('"').lower().partition("*")[0]  # RFC 2231 §5: "*language"
    if not name:
        return None
    candidates = [_RELATIVES.get(name, name)]
    if name.startswith("x-"):
        candidates.append(_RELATIVES.get(name[2:], name[2:]))
    if name.startswith("windows-"):
        candidates.append("cp" + name.removeprefix("windows-"))
    if name.startswith("cp-"):
        candidates.append("cp" + name.removeprefix("cp-"))
    if name.endswith(("-i", "-e")):
        candidates.append(name[:-2])
    if name.startswith("x-mac-"):
        candidates.append("mac_" + name.removeprefix("x-mac-"))
    for candidate in candidates:
        try:
            info = codecs.lookup(candidate)
        except (LookupError, ValueError):
            continue
        text_codec = getattr(info, "_is_text_encoding", True)
        if text_codec and info.name not in _NOT_MAIL_CHARSETS:
            return info.name
    return None


def unfold(value: str) -> str:
    """RFC 5322 §2.2.3: remove the line ends before folding whitespace, keep the whitespace."""
    if "\n" not in value:
        return value
    return _LINE_END.sub(" ", _FOLD.sub("", value))


def decode_text(value: str) -> str:
    """An unstructured header value as a reader sees it: unfolded, encoded words decoded,
    without the whitespace around it; whitespace inside is kept as written."""
    text = decode_words(unfold(value)) if "=?" in value else unfold(value)
    if "\0" in text:
        text = text.replace("\0", "")
    return text.strip(" \t\r\n")


def decode_words(value: str) -> str:
    """Decode every RFC 2047 encoded word in ``value``.

    Whitespace between two encoded words is dropped (RFC 2047 §6.2); adjacent words in one
    charset are decoded together, so a character split between them reads whole.
    """
    pieces: list[str] = []
    pending: list[tuple[str | None, bytes]] = []  # encoded words not decoded yet
    position = 0
    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        if between and not (pending and between.isspace()):
            pieces.append(_decode_pending(pending))
            pending = []
            pieces.append(between)
        charset, encoding, text = match.groups()
        pending.append((codec_for(charset), _word_bytes(encoding, text)))
        position = match.end()
    pieces.append(_decode_pending(pending))
    pieces.append(value[position:])
    return "".join(pieces)


def _word_bytes(encoding: str, text: str) -> bytes:
    if encoding in "Bb":
        letters = _BASE64_LETTERS.sub("", text)
        if len(letters) % 4 == 1:  # a stray letter: no whole byte is left in it
            letters = letters[:-1]
        try:
            return binascii.a2b_base64(letters + "=" * (-len(letters) % 4))
        except binascii.Error:
            return b""
    return binascii.a2b_qp(text.encode("utf-8", "replace"), header=True)


def _decode_pending(pending: list[tuple[str | None, bytes]]) -> str:
    decoded: list[str] = []
    index = 0
    while index < len(pending):
        codec, data = pending[index]
        index += 1
        while index < len(pending) and pending[index][0] == codec:
            data += pending[index][1]
            index += 1
        decoded.append(_decode_bytes(data, codec))
    return "".join(decoded)


def _decode_bytes(data: bytes, codec: str | None) -> str:
    if codec is not None:
        try:
            return data.decode(codec, "replace")
        except (LookupError, ValueError, UnicodeError):
            pass
    return data.decode("utf-8", "replace")


def strip_comments(value: str) -> str:
    """``value`` without its RFC 5322 comments; quoted strings are left as they are."""
    if "(" not in value:
        return value
    kept: list[str] = []
    depth = 0
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                kept.append(char)
            continue
        if char == "\\" and (quoted or depth):
            escaped = True
            if depth == 0:
                kept.append(char)
            continue
        if depth == 0 and char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
            continue
        elif not quoted and char == ")" and depth:
            depth -= 1
            if depth == 0:
                kept.append(" ")
            continue
        if depth == 0:
            kept.append(char)
    return "".join(kept)
