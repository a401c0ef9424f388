"""Purpose-bound data minimisation: each purpose reads only the fields it needs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType

from sovgw.domain.errors import RejectedInput

KEY_PREFIX_OBJECTS = MappingProxyType({"500": "Case", "800": "Contract"})


@dataclass(frozen=True)
class PurposeSpec:
    """What a purpose may read per object, and how much text it may send."""

    instruction: str
    fields: MappingProxyType[str, tuple[str, ...]]
    keywords: tuple[str, ...] = ()
    max_chars_per_field: int = 4000


PURPOSES: MappingProxyType[str, PurposeSpec] = MappingProxyType(
    {
        "summarise_case": PurposeSpec(
            "Summarise this case for the legal team in five sentences.",
            MappingProxyType({"Case": ("Subject", "Description", "Status", "Priority")}),
            ("claim", "dispute", "deadline", "court", "klage", "frist", "litige", "délai"),
        ),
        "draft_reply": PurposeSpec(
            "Draft a reply to the customer about this case.",
            MappingProxyType({"Case": ("Subject", "Description")}),
            ("asks", "request", "question", "bittet", "frage", "demande"),
        ),
        "review_clause": PurposeSpec(
            "Review these contract terms for unusual liability or termination clauses.",
            MappingProxyType({"Contract": ("ContractNumber", "SpecialTerms", "Description")}),
            (
                "liab",
                "terminat",
                "indemn",
                "non-compet",
                "penalt",
                "haftung",
                "kündigung",
                "klausel",
                "responsabilit",
                "résiliation",
                "concurrence",
                "indemnit",
            ),
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


_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|$)")
OMITTED = " […] "


def relevant_segments(text: str, cap: int, keywords: tuple[str, ...]) -> str:
    """``text`` if it fits in ``cap`` characters; otherwise the sentences that mention the
    purpose's keywords most, in their original order, up to ``cap``, gaps marked ``[…]``.

    The first sentence is kept when it fits: in CRM text it usually says what the matter is.
    """
    if len(text) <= cap:
        return text
    sentences = [m.group().strip() for m in _SENTENCE.finditer(text) if m.group().strip()]
    lowered = [s.lower() for s in sentences]
    scores = [sum(k in s for k in keywords) for s in lowered]
    order = [0, *sorted(range(1, len(sentences)), key=lambda i: (-scores[i], i))]
    chosen: set[int] = set()
    used = 0
    for index in order:
        cost = len(sentences[index]) + len(OMITTED)
        if used + cost <= cap:
            chosen.add(index)
            used += cost
    if not chosen:
        return text[: max(cap - len(OMITTED), 0)] + OMITTED.rstrip()
    parts: list[str] = []
    previous = -1
    for index in sorted(chosen):
        if index != previous + 1:
            parts.append(OMITTED.strip())
        parts.append(sentences[index])
        previous = index
    if previous != len(sentences) - 1:
        parts.append(OMITTED.strip())
    return " ".join(parts)[:cap]
