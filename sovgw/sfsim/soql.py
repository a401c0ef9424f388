"""The SOQL subset the project uses: SELECT fields|COUNT() FROM obj [WHERE] [ORDER BY] [LIMIT]
[OFFSET], with AND/OR/NOT, parentheses, = != <> < <= > >= LIKE IN NOT IN, and string,
number, boolean, null, date and datetime literals. Errors carry Salesforce's error codes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


class SoqlError(Exception):
    """A query Salesforce would refuse; ``code`` is the REST ``errorCode``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^'\\]|\\.)*')
    | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2})
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),])
    | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}
_KEYWORDS = {
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "LIKE",
    "ORDER",
    "BY",
    "LIMIT",
    "OFFSET",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "TRUE",
    "FALSE",
    "NULL",
}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    value: Any = None


def _unescape(literal: str) -> str:
    out, index = [], 1
    while index < len(literal) - 1:
        char = literal[index]
        if char == "\\":
            nxt = literal[index + 1]
            if nxt not in _ESCAPES:
                raise SoqlError("MALFORMED_QUERY", f"invalid escape sequence \\{nxt}")
            out.append(_ESCAPES[nxt])
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


def tokenize(text: str) -> list[Token]:
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise SoqlError("MALFORMED_QUERY", f"unexpected character at position {position}")
        kind = match.lastgroup or ""
        raw = match.group(kind)
        position = match.end()
        if kind == "string":
            tokens.append(Token("value", raw, _unescape(raw)))
        elif kind == "datetime":
            tokens.append(Token("value", raw, datetime.fromisoformat(raw.replace("Z", "+00:00"))))
        elif kind == "date":
            tokens.append(Token("value", raw, date.fromisoformat(raw)))
        elif kind == "number":
            tokens.append(Token("value", raw, float(raw) if "." in raw else int(raw)))
        elif kind == "word" and raw.upper() in {"TRUE", "FALSE", "NULL"}:
            tokens.append(
                Token("value", raw, {"TRUE": True, "FALSE": False, "NULL": None}[raw.upper()])
            )
        elif kind == "word" and raw.upper() in _KEYWORDS:
            tokens.append(Token("kw", raw.upper()))
        else:
            tokens.append(Token(kind, raw))
    return tokens


Predicate = Callable[[Mapping[str, Any]], bool]


@dataclass
class Query:
    sobject: str
    fields: list[str]
    count_only: bool = False
    where: Predicate | None = None
    order_by: list[tuple[str, bool, bool]] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "=":
        return bool(_norm(left) == _norm(right))
    if op in {"!=", "<>"}:
        return bool(_norm(left) != _norm(right))
    if left is None or right is None:
        return False
    left, right = _norm(left), _norm(right)
    try:
        return bool(
            {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
        )
    except TypeError:
        return False


def _norm(value: Any) -> Any:
    """Compare strings case-insensitively and datetimes/dates as values, like SOQL does."""
    if isinstance(value, str):
        for parse in (datetime.fromisoformat,):
            try:
                return parse(value.replace("Z", "+00:00"))
            except ValueError:
                pass
        return value.lower()
    return value


def _like(pattern: str) -> re.Pattern[str]:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(f"^{regex}$", re.IGNORECASE | re.DOTALL)


def _either(left: Predicate, right: Predicate) -> Predicate:
    return lambda row: left(row) or right(row)


def _both(left: Predicate, right: Predicate) -> Predicate:
    return lambda row: left(row) and right(row)


class _Parser:
    def __init__(self, tokens: list[Token], resolve_field: Callable[[str], str]) -> None:
        self.tokens = tokens
        self.index = 0
        self.resolve_field = resolve_field

    def peek(self, kind: str | None = None, text: str | None = None) -> bool:
        if self.index >= len(self.tokens):
            return False
        token = self.tokens[self.index]
        return (kind is None or token.kind == kind) and (text is None or token.text == text)

    def take(self, kind: str, text: str | None = None) -> Token:
        if not self.peek(kind, text):
            seen = self.tokens[self.index].text if self.index < len(self.tokens) else "end of query"
            raise SoqlError(
                "MALFORMED_QUERY", f"expecting {text or kind}, unexpected token: {seen}"
            )
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expression(self) -> Predicate:
        left = self.term()
        while self.peek("kw", "OR"):
            self.take("kw", "OR")
            right = self.term()
            left = _either(left, right)
        return left

    def term(self) -> Predicate:
        left = self.factor()
        while self.peek("kw", "AND"):
            self.take("kw", "AND")
            right = self.factor()
            left = _both(left, right)
        return left

    def factor(self) -> Predicate:
        if self.peek("kw", "NOT"):
            self.take("kw", "NOT")
            inner = self.factor()
            return lambda r: not inner(r)
        if self.peek("punct", "("):
            self.take("punct", "(")
            inner = self.expression()
            self.take("punct", ")")
            return inner
        name = self.resolve_field(self.take("word").text)
        if self.peek("kw", "NOT"):
            self.take("kw", "NOT")
            values = self.value_list()
            return lambda r: not any(_compare("=", r.get(name), v) for v in values)
        if self.peek("kw", "IN"):
            values = self.value_list()
            return lambda r: any(_compare("=", r.get(name), v) for v in values)
        if self.peek("kw", "LIKE"):
            self.take("kw", "LIKE")
            value = self.take("value").value
            if not isinstance(value, str):
                raise SoqlError("MALFORMED_QUERY", "LIKE needs a string")
            pattern = _like(value)
            return lambda r: isinstance(r.get(name), str) and bool(pattern.match(r[name]))
        op = self.take("op").text
        value = self.take("value").value
        return lambda r: _compare(op, r.get(name), value)

    def value_list(self) -> list[Any]:
        self.take("kw", "IN")
        self.take("punct", "(")
        values = [self.take("value").value]
        while self.peek("punct", ","):
            self.take("punct", ",")
            values.append(self.take("value").value)
        self.take("punct", ")")
        return values


def parse(
    text: str, resolve_object: Callable[[str], str], resolve_field_of: Callable[[str, str], str]
) -> Query:
    """Parse ``text``; the resolvers canonicalise names or raise INVALID_TYPE / INVALID_FIELD."""
    tokens = tokenize(text)
    head = _Parser(tokens, lambda name: name)
    head.take("kw", "SELECT")
    selected: list[str] = []
    count_only = False
    if head.peek("word") and head.tokens[head.index].text.upper() == "COUNT":
        head.take("word")
        head.take("punct", "(")
        head.take("punct", ")")
        count_only = True
    else:
        selected.append(head.take("word").text)
        while head.peek("punct", ","):
            head.take("punct", ",")
            selected.append(head.take("word").text)
    head.take("kw", "FROM")
    sobject = resolve_object(head.take("word").text)
    parser = _Parser(tokens, lambda name: resolve_field_of(sobject, name))
    parser.index = head.index
    query = Query(sobject, [resolve_field_of(sobject, f) for f in selected], count_only)
    if parser.peek("kw", "WHERE"):
        parser.take("kw", "WHERE")
        query.where = parser.expression()
    if parser.peek("kw", "ORDER"):
        parser.take("kw", "ORDER")
        parser.take("kw", "BY")
        while True:
            name = resolve_field_of(sobject, parser.take("word").text)
            descending = False
            if parser.peek("kw", "ASC") or parser.peek("kw", "DESC"):
                descending = parser.take("kw").text == "DESC"
            nulls_last = descending
            if parser.peek("kw", "NULLS"):
                parser.take("kw", "NULLS")
                nulls_last = parser.take("kw").text == "LAST"
            query.order_by.append((name, descending, nulls_last))
            if not parser.peek("punct", ","):
                break
            parser.take("punct", ",")
    if parser.peek("kw", "LIMIT"):
        parser.take("kw", "LIMIT")
        query.limit = _non_negative_int(parser.take("value").value, "LIMIT")
    if parser.peek("kw", "OFFSET"):
        parser.take("kw", "OFFSET")
        query.offset = _non_negative_int(parser.take("value").value, "OFFSET")
    if parser.index != len(tokens):
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: {tokens[parser.index].text}")
    return query


def _non_negative_int(value: Any, clause: str) -> int:
    if not isinstance(value, int) or value < 0:
        raise SoqlError("MALFORMED_QUERY", f"{clause} needs a non-negative integer")
    return value


def execute(query: Query, rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Filter, sort and page ``rows``."""
    matched = [row for row in rows if query.where is None or query.where(row)]
    for name, descending, nulls_last in reversed(query.order_by):
        present = [r for r in matched if r.get(name) is not None]
        absent = [r for r in matched if r.get(name) is None]
        present.sort(key=lambda r, n=name: _norm(r[n]), reverse=descending)  # type: ignore[misc]
        matched = present + absent if nulls_last else absent + present
    end = None if query.limit is None else query.offset + query.limit
    return matched[query.offset : end]
