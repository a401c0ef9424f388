"""``sovgw access review|verify`` against the local stack: the credentials in LocalStack's
Secrets Manager, one login each at the simulator, the users and permission sets read as the
monitor user, the quarter's break-glass steps from the audit bucket; kept signed there."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sovgw.cli import main
from sovgw.domain.audit import AuditRecord, Outcome, Stage, audit_record_id
from sovgw.local.stack import LocalSovereignStack
from tests.conftest import ROOT

CONFIG = str(ROOT / "config" / "gateway.yaml")
ORG = "00D5E0000000001UAA"  # Contoso, eu-de


def test_a_review_reads_salesforce_judges_and_keeps_a_signed_copy(
    stack: LocalSovereignStack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    assert stack.salesforce is not None
    monkeypatch.setenv("SOVGW_SALESFORCE_CA_BUNDLE", str(stack.salesforce.ca_bundle))
    granted = AuditRecord(
        record_id=audit_record_id("break-glass/review-test/granted", Stage.BREAK_GLASS),
        stage=Stage.BREAK_GLASS,
        jurisdiction="eu-de",
        org_id=ORG,
        principal="0055E000000000DQAQ",
        purpose="break-glass:granted",
        outcome=Outcome.OK,
    )
    stack.deployments["eu-de"].deps.audit.write(granted)

    code = main(["access", "review", "--org", ORG, "--config", CONFIG, "--out-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1, "the seed's integration user holds the export set for good: a finding"
    assert (
        "| standing_temporary_set | integration@contoso-legal.example | Sovgw_Dataset_Export" in out
    )
    rows = {
        line.split(" | ")[0].lstrip("| "): line
        for line in out.splitlines()
        if line.startswith("| sovgw/")  # the credentials table (findings name them second)
    }
    base = f"sovgw/eu-de/salesforce/{ORG}"
    assert set(rows) == {base, f"{base}/b", f"{base}/emergency", f"{base}/relay-monitor"}
    assert "| integration@contoso-legal.example | api |" in rows[base]
    assert re.search(r"\| relay-monitor@[\w.-]+ \| api \|", rows[f"{base}/relay-monitor"])
    assert f"| granted | 0055E000000000DQAQ | {granted.record_id} |" in out
    assert (tmp_path / "review.csv").read_text().startswith("section,column,row,value")
    location = out.strip().splitlines()[-1].rsplit(" ", 1)[-1]
    assert location.startswith(f"reviews/{ORG}/{datetime.now(UTC).year}Q")

    assert main(["access", "verify", "--org", ORG, "--config", CONFIG]) == 0
    assert f"OK {location}" in capsys.readouterr().out
    s3 = stack.session("eu-central-1").client("s3")
    s3.put_object(Bucket="sovgw-audit-eu-de", Key=f"{location}review.md", Body=b"all fine")
    assert main(["access", "verify", "--org", ORG, "--config", CONFIG]) == 1
    assert "review.md does not match its digest" in capsys.readouterr().out
