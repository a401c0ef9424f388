"""The Art. 30 record from audit records: per purpose, org and period; every gap named; the
three text formats say the same (the HTML and PDF in a real browser: tests/e2e)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sovgw.config import Contact, GatewayConfig
from sovgw.domain.art30 import (
    DATA_SUBJECTS,
    Art30Report,
    ChainResult,
    ErasureLimit,
    Measure,
    build_art30,
)
from sovgw.domain.audit import AuditLinks, AuditRecord, DatasetFacts, Outcome, Stage
from sovgw.domain.levels import DataLevel
from sovgw.reports.art30 import render
from tests.unit.test_policy_tools import CONFIG

DAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ORG = "00D5F0000000002UAA"


def _journey(
    n: int,
    when: datetime,
    purpose: str,
    level: DataLevel,
    *,
    stage: Stage = Stage.MODEL_INVOCATION,
    outcome: Outcome = Outcome.OK,
    region: str = "eu-west-3",
    rule_id: str | None = None,
) -> list[AuditRecord]:
    """A classification and the stage after it (an invocation, or a denial), one event."""
    links = AuditLinks(salesforce_event_uuid=f"event-{n}")
    return [
        AuditRecord(
            record_id=f"c{n}",
            stage=Stage.CLASSIFICATION,
            outcome=Outcome.OK,
            purpose=purpose,
            data_level=level,
            entity_counts={"EMAIL": 1, "IBAN": n % 2},
            jurisdiction="eu-fr",
            org_id=ORG,
            links=links,
            time=when,
        ),
        AuditRecord(
            record_id=f"m{n}",
            stage=stage,
            outcome=outcome,
            endpoint="sovgw-eu-fr-llm",
            region=region,
            rule_id=rule_id,
            jurisdiction="eu-fr",
            org_id=ORG,
            links=links,
            time=when,
        ),
    ]


def _records() -> list[AuditRecord]:
    return [
        *_journey(1, DAY, "review_clause", DataLevel.PERSONAL),
        *_journey(2, DAY + timedelta(days=1), "summarise_case", DataLevel.PRIVILEGED),
        *_journey(
            3,
            DAY + timedelta(days=1, hours=1),
            "summarise_case",
            DataLevel.PERSONAL,
            stage=Stage.ROUTING,
            outcome=Outcome.DENIED,
            rule_id="residency.deny-unknown-region",
        ),
        *_journey(4, DAY + timedelta(days=30), "draft_reply", DataLevel.INTERNAL),
    ]


def _report(config: GatewayConfig = CONFIG, **changes: Any) -> Art30Report:
    jurisdiction = config.jurisdiction("eu-fr")
    assert jurisdiction is not None
    arguments: dict[str, Any] = {
        "generated": DAY + timedelta(days=40),
        "erasure": [ErasureLimit("Dead-letter queues", "events", "14 days", "expire")],
        "measures": [Measure("integrity", "Object Lock", "COMPLIANCE 3650 days", "live", True)],
        "chain": [ChainResult(f"eu-fr/{ORG}", True, 3, 8, 0, ())],
        **changes,
    }
    return build_art30(jurisdiction, config.orgs_of("eu-fr"), _records(), **arguments)


def test_each_purpose_is_an_activity_with_its_subjects_data_and_recipients() -> None:
    report = _report(until=DAY + timedelta(days=7))
    assert [a.purpose for a in report.activities] == ["review_clause", "summarise_case"]
    review, summarise = report.activities
    assert review.fields == {"Contract": ("ContractNumber", "SpecialTerms", "Description")}
    assert review.data_subjects == (
        "contract counterparties, signatories and employees under contract",
    )
    assert review.personal_data == {"EMAIL": 1, "IBAN": 1}
    assert review.recipients == {"sovgw-eu-fr-llm (eu-west-3)": 1}
    assert (summarise.requests, summarise.denied) == (2, 1), "the denial counts under its purpose"
    assert summarise.levels == {"PRIVILEGED": 1, "PERSONAL": 1}
    assert report.denials_by_rule == {"residency.deny-unknown-region": (1, "m3")}
    assert report.per_day_by_level == {
        "2026-11-02": {"PERSONAL": 1},
        "2026-11-03": {"PRIVILEGED": 1, "PERSONAL": 1},
    }
    assert report.records_considered == 6, "the record of day 30 is outside the period"
    assert report.fileable and report.gaps == ()
    (controller,) = report.controllers
    assert controller.controller is not None and controller.dpo is not None


def test_every_gap_is_named() -> None:
    unbound = CONFIG.model_copy(
        update={
            "orgs": tuple(
                o.model_copy(update={"dpo": None}) if o.org_id == ORG else o for o in CONFIG.orgs
            )
        }
    )
    report = _report(
        unbound,
        chain=[ChainResult(f"eu-fr/{ORG}", False, 1, 1, 0, ("hidden: k: marker",))],
        measures=[Measure("resilience", "Log archive", "no replication", "live", False)],
    )
    gaps = "\n".join(report.gaps)
    assert "no dpo contact configured" in gaps
    assert "audit chain eu-fr/" in gaps and "measure not in place: Log archive" in gaps
    abroad = build_art30(
        CONFIG.jurisdiction("eu-fr"),  # type: ignore[arg-type]
        CONFIG.orgs_of("eu-fr"),
        _journey(9, DAY, "review_clause", DataLevel.PUBLIC, region="us-east-1"),
        generated=DAY,
    )
    assert [(t.record_id, t.region) for t in abroad.transfers] == [("m9", "us-east-1")]
    assert any("transfer outside the jurisdiction" in g for g in abroad.gaps)


def test_one_org_and_a_period_narrow_the_record() -> None:
    other = _report(org="00D5E0000000001UAA")
    assert other.activities == () and other.controllers == ()
    assert "no org is bound to eu-fr" in other.gaps
    mine = _report(org=ORG[:15], since=DAY + timedelta(days=29))
    assert [a.purpose for a in mine.activities] == ["draft_reply"]


def test_markdown_csv_and_html_carry_the_same_record() -> None:
    report = _report()
    markdown, table, page = (render(report, fmt) for fmt in ("md", "csv", "html"))
    for item in ("(a)", "(b)-(c)", "(d)", "(e)", "(f)", "(g)"):
        assert item in markdown and item in page
    trace = "sovgw audit trace m3 --jurisdiction eu-fr"
    assert trace in markdown and trace in page and trace in table
    rows = list(csv.DictReader(io.StringIO(table)))
    controllers = [r for r in rows if r["section"].startswith("Controller")]
    assert {r["value"] for r in controllers} >= {
        f"Fabrikam SAS RH ({ORG})",
        "Fabrikam SAS, rgpd@fabrikam.example, 1 rue Exemple, 75002 Paris, France",
    }
    assert page.count("<svg") == 4
    assert "COMPLIANCE 3650 days" in page and "14 days" in page
    for text in (markdown, table, page):
        assert "all processing stayed in eu-fr's allowed regions" in text.replace("&#x27;", "'")


def test_contacts_are_validated_at_load() -> None:
    assert Contact(name="DPO", email="dpo@example.org").address is None
    with pytest.raises(ValueError, match="email"):
        Contact(name="DPO", email="not an address")


def test_training_is_a_purpose_with_the_fields_and_categories_its_builds_took() -> None:
    """A dataset build's export counts as processing for the dataset's purpose; its scan
    names the personal data categories that entered training as one-way tokens."""

    def step(action: str, **extra: Any) -> AuditRecord:
        return AuditRecord(
            record_id=f"{action}-1",
            stage=Stage.DATASET,
            outcome=Outcome.OK,
            purpose="model-training",
            fields_used=("Subject", "Description"),
            jurisdiction="eu-fr",
            org_id=ORG,
            time=DAY + timedelta(days=2),
            dataset=DatasetFacts(
                dataset="case-training",
                sobject="Case",
                version="1",
                definition_sha256="0" * 64,
                build_id="case-training-20261110T000000Z-abcdef",
                action=action,
            ),
            **extra,
        )

    jurisdiction = CONFIG.jurisdiction("eu-fr")
    assert jurisdiction is not None
    records = [*_records(), step("export"), step("scan", entity_counts={"EMAIL": 7, "IBAN": 2})]
    report = build_art30(
        jurisdiction, CONFIG.orgs_of("eu-fr"), records, generated=DAY + timedelta(days=40)
    )
    training = next(a for a in report.activities if a.purpose == "model-training")
    assert training.requests == 1 and training.evidence == "export-1"
    assert training.fields == {"Case": ("Description", "Subject")}
    assert training.personal_data == {"EMAIL": 7, "IBAN": 2}
    assert "one-way pseudonymised" in training.description
    assert training.data_subjects == (DATA_SUBJECTS["Case"],)
    assert not report.transfers
