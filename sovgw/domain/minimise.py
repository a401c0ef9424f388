"""Purpose-bound data minimisation: each purpose reads only the fields it needs."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from sovgw.domain.errors import RejectedInput

KEY_PREFIX_OBJECTS = MappingProxyType({"500": "Case", "800": "Contract"})


@dataclass(frozen=True)
class PurposeSpec:
    """What a purpose may read per object, and how much text it may send."""

    instruction: str
    fields: MappingProxyType[str, tuple[str, ...]]
    max_chars_per_field: int = 4000


PURPOSES: MappingProxyType[str, PurposeSpec] = MappingProxyType(
    {
        "summarise_case": PurposeSpec(
            "Summarise this case for the legal team in five sentences.",
            MappingProxyType({"Case": ("Subject", "Description", "Status", "Priority")}),
        ),
        "draft_reply": PurposeSpec(
            "Draft a reply to the customer about this case.",
            MappingProxyType({"Case": ("Subject", "Description")}),
        ),
        "review_clause": PurposeSpec(
            "Review these contract terms for unusual liability or termination clauses.",
            MappingProxyType({"Contract": ("ContractNumber", "SpecialTerms", "Description")}),
        ),
    }
)


def object_for_record(record_id: str) -> str:
    """The sObject a record id belongs to, from its key prefix; unknown prefixes are refused."""
    sobject = KEY_PREFIX_OBJECTS.get(record_id[:3])
    if sobject is None:
        raise RejectedInput(f"record id prefix {record_id[:3]!r} is not a supported object")
    return sobject


def fields_for(purpose: str, sobject: str) -> tuple[PurposeSpec, tuple[str, ...]]:
    """The spec and field allow-list for ``purpose`` on ``sobject``; anything else is refused."""
    spec = PURPOSES.get(purpose)
    if spec is None:
        raise RejectedInput(f"unknown purpose {purpose!r}; known: {', '.join(sorted(PURPOSES))}")
    fields = spec.fields.get(sobject)
    if fields is None:
        raise RejectedInput(f"purpose {purpose!r} does not apply to {sobject} records")
    return spec, fields
