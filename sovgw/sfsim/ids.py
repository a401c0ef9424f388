"""Salesforce record ids: 15-character case-sensitive ids and their 18-character form."""

from __future__ import annotations

import itertools
import re
import threading

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ID_PATTERN = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$")


def checksum_suffix(id15: str) -> str:
    """The three characters Salesforce appends so an id survives case-insensitive systems."""
    suffix = ""
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += _SUFFIX_ALPHABET[bits]
    return suffix


def to18(record_id: str) -> str:
    """The 18-character form of a 15- or 18-character id."""
    return record_id if len(record_id) == 18 else record_id + checksum_suffix(record_id)


def is_valid_id(record_id: str) -> bool:
    """True for a well-formed 15-character id, or an 18-character id with a correct suffix."""
    if not ID_PATTERN.match(record_id):
        return False
    return len(record_id) == 15 or checksum_suffix(record_id[:15]) == record_id[15:]


def make_id(key_prefix: str, pod: str, number: int) -> str:
    """An 18-character id: key prefix, 2-character pod, then ``number`` in base 62."""
    digits = ""
    while number:
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
    id15 = f"{key_prefix}{pod}{digits.rjust(10, '0')}"
    if len(id15) != 15:
        raise ValueError("key prefix must be 3 characters and pod 2 characters")
    return to18(id15)


class IdFactory:
    """Hands out unique ids per key prefix for one org."""

    def __init__(self, pod: str) -> None:
        self._pod = pod
        self._counter = itertools.count(1001)
        self._lock = threading.Lock()

    def next(self, key_prefix: str) -> str:
        with self._lock:
            return make_id(key_prefix, self._pod, next(self._counter))
