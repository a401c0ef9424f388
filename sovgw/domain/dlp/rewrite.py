"""Detector regexes rewritten, from Python's own parse tree, into forms that run faster and
match exactly the same.

- ``ends_with``: a label ("bsn:", "ID number", "order no.") is a pattern that ends at ``$``. A
  forward ``search`` tries it at each of up to 64 positions before a value; the reversed
  pattern, matched once at the start of the reversed text, answers the same question: a
  regular language read backwards is a regular language, a lookbehind before the label becomes
  a lookahead after it, and ``$`` (the end, or just before a final newline) becomes an
  optional newline in front.
- ``fast_start``: a pattern that starts with lookbehinds or ``\\b`` is tried at every position
  of a text; one that starts with a character class skips in C to where that class matches.
  The first character is taken first and each assertion checked just after it, widened by
  that character (``(?<!X)C`` is ``C(?<!XC)``): same matches, same spans.
"""

from __future__ import annotations

import re
import re._constants as sre  # type: ignore[import-not-found]
import re._parser as sre_parse  # type: ignore[import-not-found]
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

Node = tuple[Any, Any]


class Regex(NamedTuple):
    """A detector's regex as written, which the prefilter and these rewrites read. Only the
    rewritten forms run, built on first use: compiling every detector's regex as written at
    import cost each cold start about 10 ms for nothing."""

    pattern: str
    flags: int = 0

    def compiled(self) -> re.Pattern[str]:
        return re.compile(self.pattern, self.flags)


type Written = Regex | re.Pattern[str]  # what is read: the source and the flags


_CATEGORIES = {
    sre.CATEGORY_DIGIT: r"\d",
    sre.CATEGORY_NOT_DIGIT: r"\D",
    sre.CATEGORY_SPACE: r"\s",
    sre.CATEGORY_NOT_SPACE: r"\S",
    sre.CATEGORY_WORD: r"\w",
    sre.CATEGORY_NOT_WORD: r"\W",
}
_ANCHORS = {
    sre.AT_BOUNDARY: r"\b",
    sre.AT_NON_BOUNDARY: r"\B",
    sre.AT_BEGINNING: "^",
    sre.AT_BEGINNING_STRING: r"\A",
    sre.AT_END: "$",
    sre.AT_END_STRING: r"\Z",
}


def _char(code: int) -> str:
    return f"\\U{code:08x}"


def _class(items: Sequence[Node]) -> str:
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


def _written(tree: Sequence[Node], backwards: bool, last: bool = False) -> str:
    """The pattern for ``tree``, or for it read backwards; ``last``: the tree ends the whole
    pattern (where a backwards ``$`` may stand)."""
    out: list[str] = []
    for index, (op, value) in enumerate(tree):
        at_end = last and index == len(tree) - 1
        if op is sre.LITERAL:
            out.append(_char(value))
        elif op is sre.NOT_LITERAL:
            out.append(f"[^{_char(value)}]")
        elif op is sre.IN:
            out.append(_class(value))
        elif op is sre.ANY:
            out.append(".")
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            low, high, inner = value
            bound = "" if high is sre.MAXREPEAT else str(high)
            lazy = "?" if op is sre.MIN_REPEAT else ""
            out.append(f"(?:{_written(inner, backwards)}){{{low},{bound}}}{lazy}")
        elif op is sre.SUBPATTERN:
            group, add_flags, del_flags, inner = value
            if add_flags & ~re.IGNORECASE or del_flags:
                raise ValueError("only an added IGNORECASE flag is supported")
            if group is not None and backwards:
                raise ValueError("groups are not supported backwards")
            body = _written(inner, backwards, at_end)
            flags = "i" if add_flags else ""
            if group is None:
                out.append(f"(?{flags}:{body})")
            else:
                out.append(f"((?{flags}:{body}))" if flags else f"({body})")
        elif op is sre.BRANCH:
            _, branches = value
            out.append(f"(?:{'|'.join(_written(b, backwards, at_end) for b in branches)})")
        elif op is sre.GROUPREF and not backwards:
            out.append(f"(?:\\{value})")
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            direction, inner = value
            behind = direction == -1
            if backwards:
                if not behind:
                    raise ValueError("only lookbehinds are supported backwards")
                behind = False
            sign = "=" if op is sre.ASSERT else "!"
            out.append(f"(?{'<' if behind else ''}{sign}{_written(inner, backwards)})")
        elif op is sre.AT and backwards and value is sre.AT_END and at_end:
            out.append("\n?")
        elif op is sre.AT and (not backwards or value in (sre.AT_BOUNDARY, sre.AT_NON_BOUNDARY)):
            out.append(_ANCHORS[value])
        else:
            raise ValueError(f"unsupported regex construct {op} {value}")
    return "".join(reversed(out) if backwards else out)


def ends_with(label: Written) -> Callable[[str], bool]:
    """A test equal to ``label.search(text) is not None`` for a ``$``-anchored ``label``."""
    tree = list(sre_parse.parse(label.pattern, label.flags))
    if not tree or tree[-1] != (sre.AT, sre.AT_END):
        raise ValueError("the label must end with $")
    backwards = re.compile(_written(tree, backwards=True, last=True), label.flags)

    def test(text: str) -> bool:
        return backwards.match(text[::-1]) is not None

    return test


def _first_char(node: Node) -> tuple[Node, list[Node]] | None:
    """``node`` as one character node and what follows it, when it starts with exactly one
    character from a class (a class, a literal, or a repeat, taken at least once, of a
    sequence that starts with one)."""
    op, value = node
    if op in (sre.IN, sre.LITERAL):
        return node, []
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
        low, high, inner = value
        split = _first_char(inner[0]) if low >= 1 and inner else None
        if split is not None:
            # The first of at least one turns: X{m,n} is X X{m-1,n-1}, tried in the same order;
            # X's own first element splits the same way ((?:\d{1,3}\.){3} starts with \d).
            first, inner_rest = split
            rest_high = high if high is sre.MAXREPEAT else high - 1
            rest = [] if rest_high == 0 else [(op, (low - 1, rest_high, inner))]
            return first, [*inner_rest, *inner[1:], *rest]
    return None


def is_word_char(char: str) -> bool:
    """What Python's Unicode ``\\w`` matches (and ``\\b`` calls a word character)."""
    return char.isalnum() or char == "_"


def _is_word_only(node: Node, flags: int) -> bool:
    """Every character ``node`` matches is a word character (checked on its members)."""
    op, value = node
    if op is sre.LITERAL:
        return is_word_char(chr(value))
    for member, item in value:
        if member is sre.LITERAL and is_word_char(chr(item)):
            continue
        if member is sre.RANGE and all(is_word_char(chr(c)) for c in range(item[0], item[1] + 1)):
            continue
        if member is sre.CATEGORY and item in (sre.CATEGORY_DIGIT, sre.CATEGORY_WORD):
            continue
        return False
    return not (flags & re.ASCII)


def fast_start(pattern: Written) -> re.Pattern[str]:
    """``pattern`` compiled with its leading lookbehinds and ``\\b`` moved after its first
    character, or as written when it does not start that way."""
    tree = list(sre_parse.parse(pattern.pattern, pattern.flags))
    leading = 0
    while leading < len(tree) and (
        (tree[leading][0] in (sre.ASSERT, sre.ASSERT_NOT) and tree[leading][1][0] == -1)
        or tree[leading] == (sre.AT, sre.AT_BOUNDARY)
    ):
        leading += 1
    split = _first_char(tree[leading]) if 0 < leading < len(tree) else None
    if split is None:
        return re.compile(pattern.pattern, pattern.flags)
    first, rest = split
    checks: list[Node] = []
    for op, value in tree[:leading]:
        if op is sre.AT:
            if not _is_word_only(first, pattern.flags):
                return re.compile(pattern.pattern, pattern.flags)
            # \b before a word character: the character before it is no word character.
            checks.append(
                (sre.ASSERT_NOT, (-1, [(sre.IN, [(sre.CATEGORY, sre.CATEGORY_WORD)]), first]))
            )
        else:
            _, inner = value
            checks.append((op, (-1, [*inner, first])))
    written = _written([first, *checks, *rest, *tree[leading + 1 :]], backwards=False)
    return re.compile(written, pattern.flags)
