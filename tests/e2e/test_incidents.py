"""``sovgw incident`` against LocalStack: an incident opened with the evidence a real trace
finds, its clocks checked (the CLI and the scheduled function), actions recorded, the report
rendered from the stored events; each event written once into the audit bucket."""

from __future__ import annotations

import contextlib
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from functions.incident_clock.handler import handle
from sovgw.adapters.aws.incidents import S3IncidentStore
from sovgw.cli import main
from sovgw.domain.incidents import IncidentEvent
from sovgw.local.stack import LocalSovereignStack
from sovgw.ports import IncidentEventExists
from tests.conftest import ROOT
from tests.e2e.conftest import CONTRACT, FR_ORG

CONFIG = str(ROOT / "config" / "gateway.yaml")
SCHEDULED = {
    "version": "0",
    "id": "0c4e5d8a-1b2c-4d3e-8f9a-0b1c2d3e4f5a",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "000000000000",
    "time": "2026-12-02T08:00:00Z",
    "region": "eu-west-3",
    "resources": ["arn:aws:events:eu-west-3:000000000000:rule/sovgw-eu-fr-incident_clock"],
    "detail": {},
}


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main([*args, "--jurisdiction", "eu-fr", "--config", CONFIG])
    return code, capsys.readouterr().out


def _metric(printed: str) -> int:
    """The value of the EMF document the check printed (Powertools writes values as a list)."""
    documents = [json.loads(line) for line in printed.splitlines() if '"_aws"' in line]
    [value] = next(d for d in documents if "IncidentClocksAtRisk" in d)["IncidentClocksAtRisk"]
    return int(value)


def test_an_incident_from_a_trace_to_its_report(
    stack: LocalSovereignStack,
    fr_request: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    aware = (datetime.now(UTC) - timedelta(hours=70)).isoformat(timespec="seconds")
    code, out = _run(
        capsys, "incident", "open", "--title", "Contract read outside its purpose",
        "--aware-at", aware, "--org", FR_ORG, "--category", "PERSON_NAME", "--subjects", "3",
        "--trace", CONTRACT, "--containment", "integration credential b suspended",
        "--by", "dpo@fabrikam.example",
    )  # fmt: skip
    assert code == 0, out
    incident_id = re.search(r"opened (INC-eu-fr-\d{8}-[0-9a-f]{6})", out).group(1)  # type: ignore[union-attr]
    assert "gdpr_art33_notification" in out and "nis2_early_warning" in out

    code, out = _run(capsys, "incident", "check")
    assert code == 1, "72 h after awareness: the 72 h clocks are at risk, the 24 h one missed"
    assert f"{incident_id} nis2_early_warning" in out and "missed" in out
    deps = stack.deployments["eu-fr"].deps
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = handle(SCHEDULED, deps)
    assert f"{incident_id}:gdpr_art33_notification" in result["at_risk"]
    assert _metric(printed.getvalue()) == len(result["at_risk"]) == 3

    for clock, ref in (
        ("gdpr_art33_notification", "CNIL-2026-0042"),
        ("nis2_early_warning", "ANSSI-EW-7"),
        ("nis2_incident_notification", "ANSSI-N-7"),
    ):
        code, out = _run(capsys, "incident", "action", incident_id, "--clock", clock, "--ref", ref)
        assert code == 0, out
    code, out = _run(capsys, "incident", "check")
    assert code == 0 and out == ""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert handle(SCHEDULED, deps)["at_risk"] == []
    assert _metric(printed.getvalue()) == 0

    report = tmp_path / "incident.html"
    code, _ = _run(
        capsys, "incident", "report", incident_id, "--format", "html", "--out", str(report)
    )
    page = report.read_text()
    assert code == 0 and "No clock at risk." in page and "CNIL-2026-0042" in page
    assert page.count("LATE") == 1, "the early warning came after its 24 h"
    code, markdown = _run(capsys, "incident", "show", incident_id)
    trace_rows = [line for line in markdown.splitlines() if line.startswith("| audit_record |")]
    assert trace_rows and all("sovgw audit trace" in row for row in trace_rows)
    assert "| containment | step-1 | integration credential b suspended |" in markdown
    code, listed = _run(capsys, "incident", "list")
    assert f"{incident_id} open" in listed

    store = S3IncidentStore(stack.session("eu-west-3").client("s3"), "sovgw-audit-eu-fr")
    events = store.events(incident_id)
    assert [e.sequence for e in events] == [0, 1, 2, 3]
    assert events[0].by == "dpo@fabrikam.example" and events[1].by.startswith("arn:aws:")
    with pytest.raises(IncidentEventExists):
        store.write(IncidentEvent.model_validate({**events[1].model_dump(), "note": "rewritten"}))
