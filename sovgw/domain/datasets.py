"""Training datasets: what an export from Salesforce may take, and what may enter training.

A dataset definition is versioned data (``config/datasets/<id>.yaml``), like a routing
policy. It names one object, its fields, an optional filter and the purpose, and what may
enter training: fields up to ``allowed_level`` (never PERSONAL or PRIVILEGED as such), a
field above it only when listed under ``tokenise`` (the whole value becomes a one-way token),
personal values found in the text one-way pseudonymised, and never a field without
classification metadata, a privilege marker or a secret.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from sovgw.domain.dataset_ids import DATASET_ID
from sovgw.domain.levels import DataLevel
from sovgw.policy import Frozen, read_yaml

_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
# What a filter may not contain: a second statement, a sub-query, a clause Bulk API 2.0 refuses
# or that changes which rows come back (LIMIT, ORDER BY, GROUP BY, OFFSET, TYPEOF).
_FILTER_FORBIDDEN = re.compile(
    r";|\(\s*select\b|\b(?:limit|order\s+by|group\s+by|offset|typeof|having|for\s+update)\b",
    re.IGNORECASE,
)
# The most a dataset may allow as a field's own level: personal and privileged fields never
# enter as such (a personal field may enter tokenised).
MOST_ALLOWED = DataLevel.CONFIDENTIAL


class DatasetDefinition(Frozen):
    """One dataset: where its records come from and what of them may enter training."""

    id: str = Field(pattern=DATASET_ID)
    version: str = Field(min_length=1, max_length=40)
    purpose: str = Field(pattern=r"^[a-z][a-z0-9_.-]{1,60}$")
    description: str = ""
    object: str
    fields: tuple[str, ...] = Field(min_length=1, max_length=200)
    filter: str | None = Field(default=None, max_length=2000)
    allowed_level: DataLevel = DataLevel.INTERNAL
    tokenise: tuple[str, ...] = ()
    page_records: int = Field(default=50_000, ge=1, le=100_000)

    @field_validator("object")
    @classmethod
    def _object_is_api_name(cls, value: str) -> str:
        if not _API_NAME.match(value):
            raise ValueError(f"not a Salesforce object API name: {value!r}")
        return value

    @field_validator("fields", "tokenise")
    @classmethod
    def _fields_are_api_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not _API_NAME.match(name):
                raise ValueError(f"not a field API name: {name!r}")
            if name == "Id":
                raise ValueError("Id is always exported (as lineage); do not list it")
        if len(set(value)) != len(value):
            raise ValueError("a field is listed twice")
        return value

    @field_validator("filter")
    @classmethod
    def _filter_is_a_condition(cls, value: str | None) -> str | None:
        if value is not None and _FILTER_FORBIDDEN.search(value):
            raise ValueError(
                "filter must be a WHERE condition only (no ';', sub-query, LIMIT, ORDER BY, "
                "GROUP BY, OFFSET, TYPEOF)"
            )
        return value

    @model_validator(mode="after")
    def _levels_are_bounded(self) -> DatasetDefinition:
        if self.allowed_level.rank > MOST_ALLOWED.rank:
            raise ValueError(
                f"allowed_level {self.allowed_level} would let personal or privileged fields "
                f"into training; the most a dataset may allow is {MOST_ALLOWED} (tokenise a "
                "personal field instead)"
            )
        stray = set(self.tokenise) - set(self.fields)
        if stray:
            raise ValueError(f"tokenise names fields the dataset does not export: {sorted(stray)}")
        return self

    @property
    def soql(self) -> str:
        """The Bulk API 2.0 query: Id first, no ORDER BY or LIMIT (they disable chunking)."""
        where = f" WHERE {self.filter}" if self.filter else ""
        # Names are validated API names; the filter is the definition author's own condition,
        # checked above for a second statement or a clause that changes the rows.
        return f"SELECT Id, {', '.join(self.fields)} FROM {self.object}{where}"  # noqa: S608

    @property
    def sha256(self) -> str:
        """The definition's content hash: the manifest names exactly what a build applied."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


def load_dataset(directory: Path, dataset_id: str) -> DatasetDefinition:
    """Read ``<directory>/<dataset_id>.yaml``; its ``id`` must be its file name."""
    if not re.match(DATASET_ID, dataset_id):
        raise ValueError(f"not a dataset id: {dataset_id!r}")
    path = directory / f"{dataset_id}.yaml"
    if not path.is_file():
        raise ValueError(f"no dataset definition {path}")
    raw: Any = read_yaml(path)
    definition = DatasetDefinition.model_validate(raw)
    if definition.id != dataset_id:
        raise ValueError(f"{path} defines dataset {definition.id!r}, not {dataset_id!r}")
    return definition


def dataset_reads(
    definitions: Iterable[DatasetDefinition],
) -> dict[str, dict[str, tuple[str, ...]]]:
    """Purpose → object → fields the exports of that purpose read (what the anomaly detector
    expects of them)."""
    reads: dict[str, dict[str, set[str]]] = {}
    for definition in definitions:
        fields = reads.setdefault(definition.purpose, {}).setdefault(definition.object, set())
        fields.update(("Id", *definition.fields))
    return {
        purpose: {sobject: tuple(sorted(names)) for sobject, names in objects.items()}
        for purpose, objects in reads.items()
    }


def load_datasets(directory: Path) -> list[DatasetDefinition]:
    """Every definition in ``directory`` (none when it does not exist)."""
    if not directory.is_dir():
        return []
    return [load_dataset(directory, path.stem) for path in sorted(directory.glob("*.yaml"))]
