from collections import Counter

import pytest

from sovgw.domain import dlp
from sovgw.domain.dlp import EntityType


@pytest.mark.parametrize(
    "iban",
    ["DE89 3704 0044 0532 0130 00", "DE89370400440532013000", "FR7630006000011234567890189"],
)
def test_valid_ibans_are_found(iban: str) -> None:
    findings = dlp.detect(f"pay to {iban} today")
    assert [f.entity for f in findings] == [EntityType.IBAN]


def test_iban_with_bad_checksum_is_not_a_finding() -> None:
    assert not dlp.iban_is_valid("DE89370400440532013001")
    assert all(f.entity is not EntityType.IBAN for f in dlp.detect("DE89370400440532013001"))


def test_email_phone_and_privilege_markers() -> None:
    text = "Mail a.b@example.de, call +49 151 2345 6789. Privileged & Confidential."
    kinds = [f.entity for f in dlp.detect(text)]
    assert kinds == [EntityType.EMAIL, EntityType.PHONE, EntityType.PRIVILEGED]


@pytest.mark.parametrize("text", ["privileged access management", "privilege escalation on EKS"])
def test_technical_privilege_wording_is_not_legal_privilege(text: str) -> None:
    assert dlp.detect(text) == []


def test_redaction_keeps_no_value_and_numbers_placeholders() -> None:
    text = "a@x.example and b@x.example; attorney-client privilege"
    findings = dlp.detect(text)
    redacted = dlp.redact(text, findings, Counter())
    assert redacted == "[EMAIL_1] and [EMAIL_2]; attorney-client privilege"


def test_offsets_point_into_the_original_text() -> None:
    text = "Kontakt: " * 3 + "jane@corp.example"
    (finding,) = dlp.detect(text)
    assert text[finding.start : finding.end] == "jane@corp.example"
