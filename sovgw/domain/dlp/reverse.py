"""A label test read from the end: "does this text end with a label?" in one anchored try.

Labels are patterns that end at ``$`` (a name, then up to 20 separators, then the value). A
forward ``search`` tries them at each of up to 64 positions before a value; the reversed
pattern, matched once at the start of the reversed text, answers the same question: a regular
language read backwards is a regular language, a lookbehind before the label becomes a
lookahead after it, and ``$`` (the end, or just before a final newline) becomes an optional
newline in front.
"""

from __future__ import annotations

import re
import re._constants as sre  # type: ignore[import-not-found]
import re._parser as sre_parse  # type: ignore[import-not-found]
from collections.abc import Callable, Sequence
from typing import Any

_CATEGORIES = {
    sre.CATEGORY_DIGIT: r"\d",
    sre.CATEGORY_NOT_DIGIT: r"\D",
    sre.CATEGORY_SPACE: r"\s",
    sre.CATEGORY_NOT_SPACE: r"\S",
    sre.CATEGORY_WORD: r"\w",
    sre.CATEGORY_NOT_WORD: r"\W",
}


def _char(code: int) -> str:
    return f"\\U{code:08x}"


def _class(items: Sequence[tuple[Any, Any]]) -> str:
    parts = []
    for op, value in items:
        if op is sre.NEGATE:
            parts.append("^")
        elif op is sre.LITERAL:
            parts.append(_char(value))
        elif op is sre.RANGE:
            parts.append(f"{_char(value[0])}-{_char(value[1])}")
        elif op is sre.CATEGORY:
            parts.append(_CATEGORIES[value])
        else:
            raise ValueError(f"unsupported class member {op}")
    return f"[{''.join(parts)}]"


def _reversed(tree: Sequence[tuple[Any, Any]], last: bool) -> str:
    """The pattern for ``tree`` read backwards; ``last``: the tree ends the whole pattern."""
    out: list[str] = []
    for index, (op, value) in enumerate(tree):
        at_end = last and index == len(tree) - 1
        if op is sre.LITERAL:
            out.append(_char(value))
        elif op is sre.IN:
            out.append(_class(value))
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            low, high, inner = value
            bound = "" if high is sre.MAXREPEAT else str(high)
            out.append(f"(?:{_reversed(inner, False)}){{{low},{bound}}}")
        elif op is sre.SUBPATTERN:
            _, add_flags, del_flags, inner = value
            if add_flags & ~re.IGNORECASE or del_flags:
                raise ValueError("only an added IGNORECASE flag is supported")
            body = _reversed(inner, at_end)
            out.append(f"(?i:{body})" if add_flags else f"(?:{body})")
        elif op is sre.BRANCH:
            _, branches = value
            out.append(f"(?:{'|'.join(_reversed(b, at_end) for b in branches)})")
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            direction, inner = value
            if direction != -1:
                raise ValueError("only lookbehinds are supported")
            sign = "=" if op is sre.ASSERT else "!"
            out.append(f"(?{sign}{_reversed(inner, False)})")
        elif op is sre.AT and value is sre.AT_END and at_end:
            out.append("\n?")
        elif op is sre.AT and value in (sre.AT_BOUNDARY, sre.AT_NON_BOUNDARY):
            out.append(r"\b" if value is sre.AT_BOUNDARY else r"\B")
        else:
            raise ValueError(f"unsupported regex construct {op} {value}")
    return "".join(reversed(out))


def ends_with(label: re.Pattern[str]) -> Callable[[str], bool]:
    """A test equal to ``label.search(text) is not None`` for a ``$``-anchored ``label``."""
    tree = list(sre_parse.parse(label.pattern, label.flags))
    if not tree or tree[-1] != (sre.AT, sre.AT_END):
        raise ValueError("the label must end with $")
    backwards = re.compile(_reversed(tree, True), label.flags)

    def test(text: str) -> bool:
        return backwards.match(text[::-1]) is not None

    return test
