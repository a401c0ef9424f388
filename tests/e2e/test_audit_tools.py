"""``sovgw audit verify|trace|report`` on the records the pipeline wrote in LocalStack."""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

import pytest
from simple_salesforce.format import format_soql

from sovgw.cli import main
from sovgw.local.stack import LocalSovereignStack
from tests.conftest import ROOT

CONFIG = str(ROOT / "config" / "gateway.yaml")
FR_ORG = "00D5F0000000002UAA"
CONTRACT = "8005F000000003FQAQ"


@pytest.fixture(scope="module")
def fr_request(stack: LocalSovereignStack) -> dict[str, Any]:
    """One review_clause request in eu-fr, run to completion."""
    assert stack.salesforce is not None
    uuid = stack.publish_platform_event(
        FR_ORG,
        "AI_Request__e",
        {
            "Record_Id__c": CONTRACT,
            "Purpose__c": "review_clause",
            "Requested_By__c": "0055F000000000CQAQ",
        },
    )
    deadline = time.monotonic() + 30
    sim = stack.salesforce.sim
    while time.monotonic() < deadline:
        rows = sim.rest.query(
            sim.org(FR_ORG),
            format_soql("SELECT Id FROM AI_Result__c WHERE Request_Event_Id__c = {}", uuid),
            "62.0",
        )
        if rows["records"]:
            return {"uuid": uuid, "result_id": rows["records"][0]["Id"]}
        time.sleep(0.2)
    raise AssertionError("request did not complete")


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
    assert stages[:4] == ["classification", "routing", "model_invocation", "write_back"]
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


@pytest.mark.parametrize("fmt", ["md", "html", "csv"])
def test_art30_report_describes_what_happened(
    stack: LocalSovereignStack,
    fr_request: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    fmt: str,
) -> None:
    code, out = _run(
        capsys, "audit", "report", "--art30", "--format", fmt, "--jurisdiction", "eu-fr"
    )
    assert code == 0
    assert "review_clause" in out and "IBAN" in out and "EMAIL" in out
    assert "sovgw-eu-fr-llm (eu-west-3)" in out
    assert "none: all processing stayed in eu-fr" in out
    assert "COMPLIANCE" in out
    assert "j.dupont@example.fr" not in out and "FR76" not in out
