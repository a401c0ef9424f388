"""A normalised view of text for scanning, with a map back to the original offsets.

Evasions this defeats: full-width and other compatibility forms (NFKC); letters of other
scripts that look like Latin ones (Unicode TR39 confusables: Cyrillic a, U+0430, in an
e-mail; Greek capital Iota, U+0399, in an IBAN); zero-width and bidi control characters
inserted inside a value; soft hyphens; digits of other scripts; and characters written as
escapes: percent-encoding (``jan%40example.nl``, also twice: ``%2540``), HTML character
references (``&#64;``, ``&commat;``), ``\\uXXXX`` and quoted-printable (``=40``, soft line
breaks). A decoded character maps back to its whole escape, so a finding covers what the
original text holds.

The view is built by C-level passes: text is only looked at character by character where it
is not ASCII or holds an escape, and the map is a list of pieces (searched with bisect) rather
than one entry per character.
"""

from __future__ import annotations

import html
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from sovgw.domain.dlp.confusables import LATIN_LOOKALIKES

_INVISIBLE = frozenset(
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f"
    "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
)
_NON_ASCII = re.compile(r"[^\x00-\x7f]")

# Escapes that write one printable character: %XX, &#NN; &#xNN; &name; \\uXXXX and the
# quoted-printable =XX (capital hex, RFC 2045), and a quoted-printable soft line break.
_ESCAPE = re.compile(
    r"%[0-9A-Fa-f]{2}|&#[0-9]{1,7};|&#[xX][0-9A-Fa-f]{1,6};|&[A-Za-z]{2,8};|\\u[0-9A-Fa-f]{4}"
    r"|=[0-9A-F]{2}|=\r?\n"
)
_ESCAPE_MARKS = ("%", "&", "\\u", "=")
_DECODE_LEVELS = 3  # %252540 is still an @, three levels down


def _unescaped(escape: str) -> str | None:
    """What an escape writes ("" for a soft line break), or None (left as it is)."""
    first = escape[0]
    if first in "%=":
        if escape[1] in "\r\n":
            return ""
        code = int(escape[1:], 16)
        # Quoted-printable encodes bytes: only ASCII ones are one character on their own.
        char = chr(code) if first == "%" or code < 0x80 else ""
    elif first == "&":
        char = html.unescape(escape)
        if char == escape:
            return None
    else:
        char = chr(int(escape[2:], 16))
    return char if len(char) == 1 and char.isprintable() else None


@lru_cache(maxsize=4096)
def _folded(char: str) -> str:
    """The scanning form of one non-ASCII character ("" for an invisible one)."""
    if char in _INVISIBLE or unicodedata.category(char) == "Cf":
        return ""
    folded = unicodedata.normalize("NFKC", char)
    return "".join(
        str(unicodedata.decimal(piece))
        if piece.isdecimal() and not piece.isascii()
        else LATIN_LOOKALIKES.get(piece, piece)
        for piece in folded
    )


@dataclass(frozen=True)
class NormalisedText:
    """``text`` and a piecewise map to the text it was made from (``source``)."""

    text: str
    # Piece i starts at starts[i] in text; it comes from source[begins[i]:finishes[i]].
    # A linear piece maps character by character; another one is one replacement.
    starts: Sequence[int] = ()
    begins: Sequence[int] = ()
    finishes: Sequence[int] = ()
    linear: Sequence[bool] = ()
    inner: NormalisedText | None = None  # the view this one was decoded from

    def _source_span(self, start: int, end: int) -> tuple[int, int]:
        if not self.starts:
            return start, end
        first = bisect_right(self.starts, start) - 1
        last = bisect_right(self.starts, end - 1) - 1
        begin = (
            self.begins[first] + start - self.starts[first]
            if self.linear[first]
            else self.begins[first]
        )
        finish = (
            self.begins[last] + end - self.starts[last]
            if self.linear[last]
            else self.finishes[last]
        )
        return begin, finish

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original [start, end) covering normalised [start, end)."""
        begin, finish = self._source_span(start, end)
        return self.inner.span(begin, finish) if self.inner is not None else (begin, finish)

    @property
    def origin(self) -> list[int]:
        """origin[i]: where normalised character i starts in the original (for tests)."""
        return [self.span(i, i + 1)[0] for i in range(len(self.text))]


def _rewritten(
    source: str, edits: list[tuple[int, int, str]], inner: NormalisedText | None
) -> NormalisedText:
    """``source`` with each (start, end, replacement) applied, mapped back piece by piece."""
    parts: list[str] = []
    starts: list[int] = []
    begins: list[int] = []
    finishes: list[int] = []
    linear: list[bool] = []
    cursor = length = 0
    for start, end, replacement in edits:
        if start > cursor:
            parts.append(source[cursor:start])
            starts.append(length)
            begins.append(cursor)
            finishes.append(start)
            linear.append(True)
            length += start - cursor
        for char in replacement:
            parts.append(char)
            starts.append(length)
            begins.append(start)
            finishes.append(end)
            linear.append(False)
            length += 1
        cursor = end
    if cursor < len(source) or not starts:
        parts.append(source[cursor:])
        starts.append(length)
        begins.append(cursor)
        finishes.append(len(source))
        linear.append(True)
    return NormalisedText("".join(parts), starts, begins, finishes, linear, inner)


def _decoded(view: NormalisedText) -> NormalisedText:
    """Escapes replaced by what they write, up to _DECODE_LEVELS levels deep."""
    for _ in range(_DECODE_LEVELS):
        text = view.text
        if not any(mark in text for mark in _ESCAPE_MARKS):
            break
        edits = []
        for match in _ESCAPE.finditer(text):
            char = _unescaped(match.group())
            if char is not None:
                edits.append((match.start(), match.end(), char))
        if not edits:
            break
        view = _rewritten(text, edits, view)
    return view


def normalise(original: str) -> NormalisedText:
    view = NormalisedText(original)
    if not original.isascii():
        edits = []
        for match in _NON_ASCII.finditer(original):
            char = match.group()
            folded = _folded(char)
            if folded != char:
                edits.append((match.start(), match.end(), folded))
        if edits:
            view = _rewritten(original, edits, None)
    return _decoded(view)
