"""Data classification levels, ordered from least to most sensitive."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class DataLevel(StrEnum):
    """How sensitive a piece of CRM data is; the order decides where it may be sent."""

    PUBLIC = "PUBLIC"
    INTERNAL = "INTERNAL"
    CONFIDENTIAL = "CONFIDENTIAL"
    PERSONAL = "PERSONAL"
    PRIVILEGED = "PRIVILEGED"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @classmethod
    def parse(cls, value: object) -> DataLevel:
        """Read a level from untrusted input; anything unknown is the most sensitive level."""
        if isinstance(value, str):
            normalised = value.strip().upper()
            if normalised in cls.__members__:
                return cls[normalised]
        return cls.PRIVILEGED


_RANK = {level: rank for rank, level in enumerate(DataLevel)}


def highest(levels: Iterable[DataLevel], floor: DataLevel = DataLevel.PUBLIC) -> DataLevel:
    """The most sensitive of ``levels`` (or ``floor`` when there are none)."""
    return max([floor, *levels], key=_RANK.__getitem__)
