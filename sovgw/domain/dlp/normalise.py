"""A normalised view of text for scanning, with a map back to the original offsets.

Evasions this defeats: full-width and other compatibility forms (NFKC), zero-width and bidi
control characters inserted inside a value, soft hyphens, digits from other scripts, and
characters written as escapes: percent-encoding (``jan%40example.nl``), HTML character
references (``&#64;``, ``&commat;``) and ``\\uXXXX``. A decoded character maps back to its
whole escape, so a finding covers what the original text holds.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

_INVISIBLE = frozenset(
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f"
    "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
)


# Escapes that write one printable character: %XX, &#NN; &#xNN; &name; and \\uXXXX.
_ESCAPE = re.compile(
    r"%[0-9A-Fa-f]{2}|&#[0-9]{1,7};|&#[xX][0-9A-Fa-f]{1,6};|&[A-Za-z]{2,8};|\\u[0-9A-Fa-f]{4}"
)
_ESCAPE_MARKS = ("%", "&", "\\u")


def _unescaped(escape: str) -> str | None:
    """The one printable character an escape writes, or None (left as it is)."""
    if escape[0] == "%":
        char = chr(int(escape[1:], 16))
    elif escape[0] == "&":
        char = html.unescape(escape)
        if char == escape:
            return None
    else:
        char = chr(int(escape[2:], 16))
    return char if len(char) == 1 and char.isprintable() else None


@dataclass(frozen=True)
class NormalisedText:
    text: str
    origin: Sequence[int]  # origin[i]: index in the original text of normalised char i
    ends: Sequence[int] | None = None  # ends[i]: where its source ends (escapes span several)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original [start, end) covering normalised [start, end)."""
        last = self.ends[end - 1] if self.ends is not None else self.origin[end - 1] + 1
        return self.origin[start], last


def normalise(original: str) -> NormalisedText:
    escaped = any(mark in original for mark in _ESCAPE_MARKS) and bool(_ESCAPE.search(original))
    if original.isascii() and original.isprintable():
        identity = range(len(original))  # nothing to fold: identity map
        if not escaped:
            return NormalisedText(original, identity)
        return _decode_escapes(original, identity, range(1, len(original) + 1))
    chars: list[str] = []
    origin: list[int] = []
    ends: list[int] = []
    for index, char in enumerate(original):
        if char in _INVISIBLE or unicodedata.category(char) == "Cf":
            continue
        folded = unicodedata.normalize("NFKC", char) if ord(char) > 127 else char
        for piece in folded:
            ascii_piece = (
                str(unicodedata.decimal(piece))
                if piece.isdecimal() and not piece.isascii()
                else piece
            )
            chars.append(ascii_piece)
            origin.append(index)
            ends.append(index + 1)
    if not escaped:
        return NormalisedText("".join(chars), origin, ends)
    return _decode_escapes("".join(chars), origin, ends)


def _decode_escapes(text: str, origin: Sequence[int], ends: Sequence[int]) -> NormalisedText:
    """Each escape replaced by its character, mapped to the whole escape in the original."""
    chars: list[str] = []
    new_origin: list[int] = []
    new_ends: list[int] = []
    cursor = 0
    for match in _ESCAPE.finditer(text):
        char = _unescaped(match.group())
        if char is None:
            continue
        chars.append(text[cursor : match.start()])
        new_origin.extend(origin[cursor : match.start()])
        new_ends.extend(ends[cursor : match.start()])
        chars.append(char)
        new_origin.append(origin[match.start()])
        new_ends.append(ends[match.end() - 1])
        cursor = match.end()
    chars.append(text[cursor:])
    new_origin.extend(origin[cursor:])
    new_ends.extend(ends[cursor:])
    return NormalisedText("".join(chars), new_origin, new_ends)
