"""A few passes in C that say which detectors can match a text at all.

Each detector's regex is rewritten as a looser pattern for RE2, its required label (when it
has one) written before it, and the patterns run together in a few ``re2.Set`` automata (one
DFA pass each): lookarounds and word boundaries are dropped, a back-reference becomes what its
group matches, and every character class is widened to what Python's Unicode matching
(case-insensitive where the detector is) could accept. Whatever a detector's regex matches,
its looser pattern matches too, so a detector no pass names cannot find anything and its regex
is not run: the findings are the same, fewer regexes run.

It fails closed: a pass that ends without naming the pattern that matches every text (RE2
answers an automaton out of memory with no match at all) names every detector of its group.
"""

from __future__ import annotations

import re
import re._constants as sre  # type: ignore[import-not-found]
import re._parser as sre_parse  # type: ignore[import-not-found]
from collections.abc import Sequence
from typing import Any

from sovgw.domain.dlp.rewrite import Written

# Characters that Python's Unicode IGNORECASE matching takes for an ASCII letter besides its
# two cases: simple lower-case mappings (KELVIN SIGN, CAPITAL I WITH DOT ABOVE) and the regex
# engine's own equivalences (dotless i, long s). tests/unit/test_dlp_prefilter.py checks every
# code point.
CASE_EXTRAS = {"i": "\u0131\u0130", "s": "\u017f", "k": "\u212a"}
# RE2 reads an ASCII shadow of the text, where every other character is written "?" and every
# digit but 0 is written "1" (two C calls), so the automata stay small: patterns that count
# digits in step would otherwise multiply their states by the digits' values. A 0 stays itself:
# a trunk or international prefix starts with one, which keeps dates and years from naming the
# phone detectors. A class that holds any non-ASCII character takes "?", and one that holds a
# digit from 1 to 9 takes "1"; a negated class never excludes "?", and excludes "1" only when it
# excludes each of 1 to 9. A real "?" or "1" then matches more, never less.
SUBSTITUTE = "?"
_ASCII = range(128)
_CATEGORY_MEMBERS = {
    category: frozenset(code for code in _ASCII if re.fullmatch(regex, chr(code)))
    for category, regex in (
        (sre.CATEGORY_DIGIT, r"\d"),
        (sre.CATEGORY_NOT_DIGIT, r"\D"),
        (sre.CATEGORY_SPACE, r"\s"),
        (sre.CATEGORY_NOT_SPACE, r"\S"),
        (sre.CATEGORY_WORD, r"\w"),
        (sre.CATEGORY_NOT_WORD, r"\W"),
    )
}


_NON_ZERO = frozenset(range(0x31, 0x3A))
_ONE_DIGIT = bytes.maketrans(b"23456789", b"11111111")


def shadow(text: str) -> bytes:
    """``text`` as RE2 reads it: ASCII kept but digits 1 to 9 written 1, every other character
    one SUBSTITUTE byte."""
    return text.encode("ascii", "replace").translate(_ONE_DIGIT)


def _members(code: int, ignore_case: bool) -> set[int]:
    """The characters a literal matches (all of its case forms when ``ignore_case``)."""
    char = chr(code)
    if not ignore_case or not char.isascii() or not char.isalpha():
        return {code}
    lower = char.lower()
    return {ord(c) for c in (lower, lower.upper(), *CASE_EXTRAS.get(lower, ""))}


def _byte_class(codes: set[int], negated: bool) -> str:
    """A class over the shadow. ``codes`` are what the Python class holds (or, negated,
    excludes); every non-ASCII code is one SUBSTITUTE, which a negated class may not exclude."""
    substitute = ord(SUBSTITUTE)
    ascii_codes = {code for code in codes if code < 128}
    other = len(ascii_codes) < len(codes)
    non_zero = ascii_codes & _NON_ZERO
    ascii_codes -= _NON_ZERO
    if non_zero and (not negated or non_zero == _NON_ZERO):
        ascii_codes.add(0x31)
    if negated:
        ascii_codes.discard(substitute)
    elif other:
        ascii_codes.add(substitute)
    body = "".join(f"\\x{code:02x}" for code in sorted(ascii_codes))
    if negated:
        return f"[^{body}]" if body else "[\\x00-\\xff]"
    return f"[{body}]" if body else "[^\\x00-\\xff]"


_NON_ASCII_MEMBER = 0x80  # stands for "some character outside ASCII" in a set of codes


def _class(items: list[tuple[Any, Any]], ignore_case: bool) -> str:
    return _byte_class(*_class_codes(items, ignore_case))


def _class_codes(items: list[tuple[Any, Any]], ignore_case: bool) -> tuple[set[int], bool]:
    """What a Python class holds (or, negated, excludes), and whether it is negated."""
    negated = bool(items) and items[0][0] is sre.NEGATE
    if negated:
        items = items[1:]
    codes: set[int] = set()
    for op, value in items:
        if op is sre.LITERAL:
            codes |= _members(value, ignore_case)
        elif op is sre.RANGE:
            low, high = value
            codes |= set(range(min(low, 128), min(high, 127) + 1))
            if high >= 128:
                codes.add(_NON_ASCII_MEMBER)
            if ignore_case:
                for code in range(low, min(high, 127) + 1):
                    codes |= _members(code, True)
        elif op is sre.CATEGORY:
            codes |= _CATEGORY_MEMBERS[value] | {_NON_ASCII_MEMBER}
        else:
            raise ValueError(f"unsupported class member {op}")
    return codes, negated


def _emit(tree: Sequence[tuple[Any, Any]], ignore_case: bool, groups: dict[int, str]) -> str:
    out: list[str] = []
    for op, value in tree:
        if op is sre.LITERAL:
            out.append(_byte_class(_members(value, ignore_case), negated=False))
        elif op is sre.NOT_LITERAL:
            out.append(_byte_class({value}, negated=True))
        elif op is sre.IN:
            out.append(_class(list(value), ignore_case))
        elif op is sre.ANY:
            out.append("[\\x00-\\xff]")
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            low, high, inner = value
            bound = "" if high is sre.MAXREPEAT else str(high)
            out.append(f"(?:{_emit(inner, ignore_case, groups)}){{{low},{bound}}}")
        elif op is sre.SUBPATTERN:
            group, add_flags, del_flags, inner = value
            case = (ignore_case or bool(add_flags & re.IGNORECASE)) and not (
                del_flags & re.IGNORECASE
            )
            body = _emit(inner, case, groups)
            if group is not None:
                groups[group] = body
            out.append(f"(?:{body})")
        elif op is sre.ATOMIC_GROUP:
            out.append(f"(?:{_emit(value, ignore_case, groups)})")
        elif op is sre.BRANCH:
            _, branches = value
            out.append(f"(?:{'|'.join(_emit(b, ignore_case, groups) for b in branches)})")
        elif op is sre.GROUPREF:
            out.append(f"(?:{groups[value]})")
        elif op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
            continue  # zero-width: dropping a condition only lets more through
        else:
            raise ValueError(f"unsupported regex construct {op}")
    return "".join(out)


_ZERO_WIDTH = (sre.AT, sre.ASSERT, sre.ASSERT_NOT)
_BEHIND, _AHEAD = -1, 1


def _excluded(body: Sequence[tuple[Any, Any]], ignore_case: bool) -> set[int]:
    """The characters a negative lookaround forbids as its one next (or previous) character:
    those of its one-character alternatives that are a literal or a class that is not negated.
    Its other alternatives are left out, which only lets more through."""
    nodes = list(body)
    branch = len(nodes) == 1 and nodes[0][0] is sre.BRANCH
    alternatives = [list(a) for a in nodes[0][1][1]] if branch else [nodes]
    codes: set[int] = set()
    for alternative in alternatives:
        if len(alternative) != 1:
            continue
        op, value = alternative[0]
        if op is sre.LITERAL:
            codes |= _members(value, ignore_case)
        elif op is sre.IN:
            members, negated = _class_codes(list(value), ignore_case)
            if not negated:
                codes |= members
    return codes


def _edge(nodes: Sequence[tuple[Any, Any]], direction: int, ignore_case: bool) -> set[int]:
    """What the negative lookarounds among ``nodes`` (zero-width, at one end of the pattern)
    forbid just outside the match, looking in ``direction``."""
    codes: set[int] = set()
    for op, value in nodes:
        if op is sre.ASSERT_NOT and value[0] == direction:
            codes |= _excluded(value[1], ignore_case)
    return codes


def _zero_width_run(tree: Sequence[tuple[Any, Any]]) -> int:
    return next((i for i, (op, _) in enumerate(tree) if op not in _ZERO_WIDTH), len(tree))


def loosened(pattern: Written, edges: bool = True) -> str:
    """An RE2 pattern over the shadow that matches wherever ``pattern`` matches the text.

    With ``edges``, a negative lookbehind at its start and a negative lookahead at its end that
    test one character become a class that reads that character (or the text's edge): a set
    only says whether a pattern matches, so reading the character is as good as looking at it,
    and dates and longer digit runs then stop naming detectors that cannot match them. Labels
    go without: the engine reads them in the 64 characters before a value, where a lookbehind
    at the first of them sees the start of the text."""
    tree = list(sre_parse.parse(pattern.pattern, pattern.flags))
    ignore_case = bool(pattern.flags & re.IGNORECASE)
    out = _emit(tree, ignore_case, {})
    if not edges:
        return out
    before = _edge(tree[: _zero_width_run(tree)], _BEHIND, ignore_case)
    after = _edge(tree[len(tree) - _zero_width_run(tree[::-1]) :], _AHEAD, ignore_case)
    if before:
        out = f"(?:^|{_byte_class(before, negated=True)}){out}"
    if after:
        out = f"{out}(?:{_byte_class(after, negated=True)}|$)"
    return out


Candidate = tuple[Written, Written | None]


def _loosened_candidate(candidate: Candidate) -> str:
    """A value's pattern, or its required label's pattern followed by the value's first
    element: a label ends where the value starts (its ``$`` is the value's start), and it is
    what makes such a value rare; counting the value's digits as well would multiply the
    automaton's states for little."""
    pattern, label = candidate
    if label is None:
        return loosened(pattern)
    ignore_case = bool(pattern.flags & re.IGNORECASE)
    tree = [
        node
        for node in sre_parse.parse(pattern.pattern, pattern.flags)
        if node[0] not in _ZERO_WIDTH
    ]
    # Up to the first element that reads a character: an optional one ("(?:19|20)?") alone
    # would let the label match by itself.
    first = next(
        (i for i, node in enumerate(tree) if sre_parse.SubPattern(None, [node]).getwidth()[0]),
        len(tree) - 1,
    )
    return loosened(label, edges=False) + _emit(tree[: first + 1], ignore_case, {})


class _GroupSet:
    """One RE2 set over some of the patterns, answering with their overall indexes."""

    def __init__(self, patterns: Sequence[Candidate], indexes: Sequence[int]) -> None:
        import re2  # type: ignore[import-untyped]  # noqa: PLC0415 - 15 ms, paid on first scan

        options = re2.Options()
        options.encoding = re2.Options.Encoding.LATIN1
        # Bounds each automaton (a Lambda may have 256 MB): about 10 MB of states for all of
        # them after 40,000 records; a set that outgrows it fails closed (its group runs).
        options.max_mem = 16 << 20
        self._set = re2.Set.SearchSet(options)
        for index in indexes:
            self._set.Add(_loosened_candidate(patterns[index]))
        self._sentinel = self._set.Add("")  # matches every text: its absence is an error
        self._set.Compile()
        self._indexes = tuple(indexes)

    def hits(self, text: bytes) -> list[int]:
        local = self._set.Match(text) or ()
        if self._sentinel not in local:
            return list(self._indexes)
        return [self._indexes[i] for i in local if i != self._sentinel]


class Prefilter:
    """Which of ``patterns`` can match a text, from one RE2 pass per group.

    Patterns are grouped because one automaton for all of them grows without bound: digit
    patterns that count in step multiply its states, and every new text builds more.
    """

    def __init__(
        self, patterns: Sequence[Candidate], groups: Sequence[Sequence[int]] | None = None
    ) -> None:
        every = range(len(patterns))
        groups = groups if groups is not None else [every]
        if sorted(i for group in groups for i in group) != list(every):
            raise ValueError("each pattern belongs to exactly one group")
        self._sets = [_GroupSet(patterns, group) for group in groups]

    def candidates(self, text: str) -> frozenset[int]:
        """Indexes of the patterns that may match ``text``; a group's all if unsure."""
        shadowed = shadow(text)
        return frozenset(i for group in self._sets for i in group.hits(shadowed))
