"""A normalised view of text for scanning, with a map back to the original offsets.

Evasions this defeats: full-width and other compatibility forms (NFKC), zero-width and bidi
control characters inserted inside a value, soft hyphens, and digits from other scripts.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

_INVISIBLE = frozenset(
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f"
    "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
)


@dataclass(frozen=True)
class NormalisedText:
    text: str
    origin: Sequence[int]  # origin[i]: index in the original text of normalised char i

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original [start, end) covering normalised [start, end)."""
        return self.origin[start], self.origin[end - 1] + 1


def normalise(original: str) -> NormalisedText:
    if original.isascii() and original.isprintable():
        return NormalisedText(original, range(len(original)))  # nothing to fold: identity map
    chars: list[str] = []
    origin: list[int] = []
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
    return NormalisedText("".join(chars), origin)
