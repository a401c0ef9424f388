"""``sovgw audit verify|trace|report`` on the records the pipeline wrote in LocalStack."""

from __future__ import annotations

import gzip
import html
import json
import subprocess
import sys
import unicodedata
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pypdf import PdfReader

from sovgw.adapters.chromium import screenshot
from sovgw.cli import main
from sovgw.local.stack import LocalSovereignStack
from tests.conftest import ROOT
from tests.e2e.conftest import CONTRACT, FR_ORG

CONFIG = str(ROOT / "config" / "gateway.yaml")


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main([*args, "--config", CONFIG])
    return code, capsys.readouterr().out


def test_seal_then_verify_reports_ok(
    stack: LocalSovereignStack, fr_request: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, sealed = _run(capsys, "audit", "seal", "--jurisdiction", "eu-fr")
    assert code == 0 and "streams" in sealed.splitlines()[-1]
    code, out = _run(capsys, "audit", "verify", "--jurisdiction", "eu-fr")
    assert code == 0, out
    assert f"OK eu-fr/{FR_ORG}" in out
    assert out.splitlines()[-1].startswith("OK manifest eu-fr: #")


def test_trace_by_contract_id_joins_cloudtrail(
    stack: LocalSovereignStack, fr_request: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = stack.session("eu-west-3").client("s3")
    code, out = _run(capsys, "audit", "trace", CONTRACT, "--jurisdiction", "eu-fr")
    assert code == 0
    stages = [line.split()[1] for line in out.splitlines() if not line.startswith(" ")]
    decisions = [stage for stage in stages if stage != "salesforce_call"]
    assert decisions[:4] == ["classification", "routing", "model_invocation", "write_back"]
    # The Salesforce calls the request took (query log) are in its journey too.
    assert "salesforce_call" in stages
    invocation = json.loads(
        s3.get_object(
            Bucket="sovgw-audit-eu-fr",
            Key=next(
                k["Key"]
                for k in s3.list_objects_v2(
                    Bucket="sovgw-audit-eu-fr", Prefix=f"records/eu-fr/{FR_ORG}/"
                )["Contents"]
                if b'"model_invocation"'
                in s3.get_object(Bucket="sovgw-audit-eu-fr", Key=k["Key"])["Body"].read()
            ),
        )["Body"].read()
    )
    request_id = invocation["links"]["aws_request_ids"][0]
    s3.create_bucket(
        Bucket="trail-fr", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
    )
    log = {
        "Records": [
            {
                "eventVersion": "1.09",
                "eventTime": "2026-11-22T10:00:00Z",
                "eventSource": "sagemaker.amazonaws.com",
                "eventName": "InvokeEndpoint",
                "awsRegion": "eu-west-3",
                "requestID": request_id,
            },
            {
                "eventTime": "2026-11-22T10:00:01Z",
                "eventSource": "s3.amazonaws.com",
                "eventName": "PutObject",
                "awsRegion": "eu-west-3",
                "requestID": "unrelated",
            },
        ]
    }
    s3.put_object(
        Bucket="trail-fr",
        Key="AWSLogs/111122223333/CloudTrail/eu-west-3/2026/11/22/x_CloudTrail_eu-west-3_y.json.gz",
        Body=gzip.compress(json.dumps(log).encode()),
    )
    code, out = _run(
        capsys,
        "audit",
        "trace",
        fr_request["result_id"],
        "--jurisdiction",
        "eu-fr",
        "--cloudtrail-bucket",
        "trail-fr",
    )
    assert code == 0
    assert (
        f"cloudtrail 2026-11-22T10:00:00Z sagemaker.amazonaws.com InvokeEndpoint eu-west-3 requestID={request_id}"
        in out
    )
    assert "unrelated" not in out
    assert _run(capsys, "audit", "trace", "no-such-id", "--jurisdiction", "eu-fr")[0] == 1


@pytest.fixture(scope="module")
def policy_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The policy pack over the eu-fr program, as an operator runs it before ``pulumi up``."""
    out = tmp_path_factory.mktemp("policy") / "policy-eu-fr.json"
    archive = json.dumps({"account_id": "444455556666", "deploy_role_arn": ARCHIVE_ROLE})
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "infra.policy.evaluate",
            "--stack",
            "eu-fr",
            "--set",
            "sovgw:accountId=111122223333",
            "--set",
            "sovgw:codePath=functions",
            "--set",
            f"sovgw:logArchive={archive}",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return out


ARCHIVE_ROLE = "arn:aws:iam::444455556666:role/sovgw-log-archive-deploy"


def _report(capsys: pytest.CaptureFixture[str], fmt: str, *extra: str) -> tuple[int, str]:
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    return _run(
        capsys,
        *("audit", "report", "--art30", "--format", fmt, "--jurisdiction", "eu-fr"),
        *("--org", FR_ORG, "--from", since, *extra),
    )


@pytest.mark.parametrize("fmt", ["md", "html", "csv"])
def test_art30_report_describes_what_happened(
    stack: LocalSovereignStack,
    fr_request: dict[str, Any],
    policy_results: Path,
    capsys: pytest.CaptureFixture[str],
    fmt: str,
) -> None:
    code, out = _report(capsys, fmt, "--policy-results", str(policy_results))
    assert code == 0, out
    text = html.unescape(out)
    assert "review_clause" in text and "IBAN" in text and "EMAIL" in text
    assert "sovgw-eu-fr-llm (eu-west-3)" in text
    assert "all processing stayed in eu-fr's allowed regions" in text
    assert "rgpd@fabrikam.example" in text and "dpo@fabrikam.example" in text, "(a) from config"
    assert "contract counterparties" in text, "(c) data subjects of review_clause"
    assert "Contract: ContractNumber, SpecialTerms, Description" in text
    assert "COMPLIANCE 1 days" in text, "(g) the audit bucket's lock, read live"
    assert "rotation on" in text and "aws:kms" in text and "7/7 actions denied" in text
    assert "evidence-replicated: " in text and "passed over" in text, "policy pack results"
    assert "no replication configuration on sovgw-audit-eu-fr" in text, "a gap, named"
    assert "no VPC tagged sovgw-eu-fr-vpc found" in text, "LocalStack runs no VPC: a gap"
    assert "14 days" in text and "not stored" in text, "(f) erasure limits"
    assert "sovgw audit trace " in text and "--jurisdiction eu-fr" in text
    assert f"eu-fr/{FR_ORG}" in text
    assert "j.dupont@example.fr" not in out and "FR76" not in out


def test_art30_report_renders_in_chromium_as_a_page_and_a_pdf(
    stack: LocalSovereignStack,
    fr_request: dict[str, Any],
    policy_results: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    code, page = _report(capsys, "html", "--policy-results", str(policy_results))
    assert code == 0
    shot = tmp_path / "art30.png"
    screenshot(page, shot, width=1280, height=1600)
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 1600)
    colours = Counter(image.get_flattened_data())
    assert len(colours) > 50, "text, tables and charts, not a blank page"
    level_colour = (0x94, 0x67, 0xBD)  # PERSONAL's bar in the requests-per-day chart
    assert colours[level_colour] > 500, "the chart's bars are drawn"
    assert colours[(0xFD, 0xE8, 0xE8)] > 1000, "the red banner: this record has a gap"

    pdf = tmp_path / "art30.pdf"
    code, _ = _report(capsys, "pdf", "--policy-results", str(policy_results), "--out", str(pdf))
    assert code == 0
    # NFKC: the PDF's text layer uses ligatures (fi, ffi) where the page shows them.
    text = unicodedata.normalize(
        "NFKC", " ".join(p.extract_text() for p in PdfReader(pdf).pages)
    ).replace("\n", " ")
    for expected in (
        "Record of processing activities (GDPR Art. 30(1))",
        "Controller and data protection officer (Art. 30(1)(a))",
        "rgpd@fabrikam.example",
        "Requests per day by data level",
        "sovgw-eu-fr-llm (eu-west-3)",
        "Time limits for erasure (Art. 30(1)(f))",
        "Audit chain verification for the period",
        "sovgw audit trace",
    ):
        assert expected in text, expected
    assert "j.dupont@example.fr" not in text


def test_a_pdf_needs_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "audit",
            "report",
            "--art30",
            "--format",
            "pdf",
            "--jurisdiction",
            "eu-fr",
            "--config",
            CONFIG,
        ]
    )
    assert code == 2 and "--out" in capsys.readouterr().err
