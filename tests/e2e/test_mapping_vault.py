"""Pseudonymisation mappings sealed with the jurisdiction's KMS key in LocalStack."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from sovgw.adapters.vault import KmsMappingVault, MappingExpired
from sovgw.domain.errors import RejectedInput
from sovgw.local.stack import LocalSovereignStack

MAPPING = {"[EMAIL_1]": "max.mueller@example.de", "[IBAN_1]": "DE89 3704 0044 0532 0130 00"}
CONTEXT = {"event_uuid": "e-1", "org_id": "00D5E0000000001UAA", "jurisdiction": "eu-de"}


def _vault(
    stack: LocalSovereignStack,
    ttl: timedelta = timedelta(hours=1),
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> KmsMappingVault:
    kms = stack.session("eu-central-1").client("kms")
    return KmsMappingVault(kms, "alias/sovgw-eu-de", ttl=ttl, clock=clock)


def test_round_trip_without_the_values_in_the_sealed_blob(stack: LocalSovereignStack) -> None:
    vault = _vault(stack)
    sealed = vault.seal(MAPPING, CONTEXT)
    assert "max.mueller" not in base64.b64decode(sealed).decode()
    assert vault.open(sealed, CONTEXT) == MAPPING


def test_mapping_cannot_be_opened_for_another_request(stack: LocalSovereignStack) -> None:
    vault = _vault(stack)
    sealed = vault.seal(MAPPING, CONTEXT)
    with pytest.raises(RejectedInput, match="cannot be opened here"):
        vault.open(sealed, {**CONTEXT, "event_uuid": "e-2"})


def test_altered_mapping_is_refused(stack: LocalSovereignStack) -> None:
    vault = _vault(stack)
    blob = json.loads(base64.b64decode(vault.seal(MAPPING, CONTEXT)))
    ciphertext = bytearray(base64.b64decode(blob["ciphertext"]))
    ciphertext[0] ^= 1
    blob["ciphertext"] = base64.b64encode(bytes(ciphertext)).decode()
    with pytest.raises(RejectedInput, match="altered"):
        vault.open(base64.b64encode(json.dumps(blob).encode()).decode(), CONTEXT)


def test_mapping_expires(stack: LocalSovereignStack) -> None:
    now = datetime.now(UTC)
    sealed = _vault(stack, ttl=timedelta(minutes=5), clock=lambda: now).seal(MAPPING, CONTEXT)
    later = _vault(stack, clock=lambda: now + timedelta(minutes=6))
    with pytest.raises(MappingExpired):
        later.open(sealed, CONTEXT)
