"""``sovgw export`` and ``sovgw dataset verify`` end to end: the Salesforce simulator's Bulk
API 2.0, the dataset bucket and audit bucket in LocalStack, the scan handler through the
local map runner, the org's shared budget. Personal values come from Faker's locale
providers; the privilege marker and the unclassified field are seeded on purpose."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError
from faker import Faker

from sovgw.adapters.aws.canaries import store_canaries
from sovgw.adapters.aws.incidents import S3IncidentStore
from sovgw.app.datasets import manifest_key
from sovgw.cli.main import main
from sovgw.domain.audit import Stage, audit_record_id
from sovgw.domain.canaries import new_canaries
from sovgw.domain.query_log import normalise_soql
from sovgw.local.stack import LocalSovereignStack
from sovgw.wiring import dataset_scan_definition
from tests.conftest import ROOT

ORG = "00D5E0000000001UAA"  # Contoso, eu-de
JURISDICTION = "eu-de"
PRIVILEGE = "Privileged & Confidential – attorney-client privilege. Draft settlement."  # noqa: RUF001


class Seeded:
    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.personal: list[str] = []
        self.privileged_id = ""
        self.unclassified_id = ""


@pytest.fixture(scope="module")
def seeded(stack: LocalSovereignStack) -> Seeded:
    assert stack.salesforce is not None
    sim = stack.salesforce.sim
    org = sim.org(ORG)
    fake = Faker("de_DE")
    fake.seed_instance(20261202)
    seeded = Seeded()
    for _ in range(60):
        email, iban = fake.email(), fake.iban()
        seeded.personal += [email, iban]
        seeded.ids.add(
            sim.insert(
                org,
                "Case",
                {
                    "Subject": fake.sentence(nb_words=4),
                    "Description": f"{fake.text(120)} Kontakt: {email}. Zahlung an {iban}.",
                    "Status": "Closed",
                    "Priority": "Medium",
                },
            )
        )
    seeded.privileged_id = sim.insert(
        org, "Case", {"Subject": "Settlement", "Description": PRIVILEGE, "Status": "Closed"}
    )
    seeded.unclassified_id = sim.insert(
        org, "Case", {"Subject": "Web form", "Description": "Lease question", "Origin": "Web"}
    )
    return seeded


@pytest.fixture
def datasets(tmp_path: Path) -> Path:
    """The shipped definition, with pages small enough to give several parts."""
    definition = yaml.safe_load((ROOT / "config/datasets/case-training.yaml").read_text())
    definition["page_records"] = 25
    (tmp_path / "case-training.yaml").write_text(yaml.safe_dump(definition))
    return tmp_path


@pytest.fixture
def operator_env(stack: LocalSovereignStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's shell: the same settings the functions get."""
    assert stack.salesforce is not None and stack.valkey is not None
    monkeypatch.setenv("SOVGW_SALESFORCE_CA_BUNDLE", str(stack.salesforce.ca_bundle))
    monkeypatch.setenv("SOVGW_BUDGET_STORE_URL", stack.valkey.url)
    monkeypatch.delenv("SOVGW_DATASET_STATE_MACHINE_ARN", raising=False)


def _sovgw(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main([*args, "--config", str(ROOT / "config/gateway.yaml")])
    return code, capsys.readouterr().out


def _s3(stack: LocalSovereignStack) -> Any:
    jurisdiction = stack.config.jurisdiction(JURISDICTION)
    assert jurisdiction is not None
    return stack.session(jurisdiction.region).client("s3")


def _object(stack: LocalSovereignStack, key: str) -> bytes:
    body: bytes = (
        _s3(stack).get_object(Bucket=f"sovgw-datasets-{JURISDICTION}", Key=key)["Body"].read()
    )
    return body


def _audit(stack: LocalSovereignStack, build_id: str, action: str) -> dict[str, Any]:
    record_id = audit_record_id(f"{build_id}/{action}", Stage.DATASET)
    key = f"records/{JURISDICTION}/{ORG}/{record_id}.json"
    found: dict[str, Any] = json.loads(
        _s3(stack).get_object(Bucket=f"sovgw-audit-{JURISDICTION}", Key=key)["Body"].read()
    )
    return found


def _case_count(stack: LocalSovereignStack) -> int:
    assert stack.salesforce is not None
    sim = stack.salesforce.sim
    return len(sim.org(ORG).records["Case"])


def _export(
    capsys: pytest.CaptureFixture[str], action: str, datasets: Path, *extra: str
) -> tuple[int, str]:
    """``sovgw export <action>`` for the test org and dataset, polling fast."""
    return _sovgw(
        capsys,
        *("export", action, "--org", ORG, "--dataset", "case-training"),
        *("--datasets", str(datasets), "--poll-seconds", "0.05", *extra),
    )


def _built(capsys: pytest.CaptureFixture[str], datasets: Path) -> str:
    """Start a build, scanned here; its id."""
    code, out = _export(capsys, "start", datasets, "--scan", "here")
    assert code == 0, out
    build_id: str = json.loads(out[: out.index("}\n") + 1])["build_id"]
    return build_id


@pytest.mark.usefixtures("operator_env")
def test_an_export_is_scanned_reconciled_verified_and_audited(
    stack: LocalSovereignStack,
    seeded: Seeded,
    datasets: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = _export(capsys, "start", datasets, "--scan", "here")
    assert code == 0, out
    summary = json.loads(out[: out.index("}\n") + 1])
    build_id = summary["build_id"]
    manifest = json.loads(_object(stack, manifest_key("case-training", build_id)))
    totals = manifest["totals"]
    assert manifest["reconciled"] is True, manifest["problems"]
    assert totals["exported"] == _case_count(stack) == summary["exported_records"]
    assert totals["exported"] == totals["curated"] + totals["quarantined"] + totals["rejected"]
    assert totals["unaccounted"] == 0 and len(manifest["parts"]) >= 3
    assert manifest["reasons"]["privileged_content"] >= 1
    assert manifest["reason_fields"]["unclassified_field:Origin"] == 1
    assert manifest["field_levels"]["Origin"] is None  # no classification metadata
    assert manifest["field_levels"]["Description"] == "CONFIDENTIAL"

    quarantined: dict[str, list[dict[str, Any]]] = {}
    curated = b""
    for part in manifest["parts"]:
        assert part["raw_key"].startswith(f"raw/case-training/{build_id}/")
        outputs = part["outputs"]
        if "curated" in outputs:
            curated += _object(stack, outputs["curated"]["key"])
        if "quarantine" in outputs:
            for line in _object(stack, outputs["quarantine"]["key"]).splitlines():
                entry = json.loads(line)
                quarantined[entry["record"]["Id"]] = entry["issues"]
    assert quarantined[seeded.privileged_id] == [
        {"field": "Description", "reason": "privileged_content", "types": ["PRIVILEGED"]}
    ]
    assert quarantined[seeded.unclassified_id] == [
        {"field": "Origin", "reason": "unclassified_field"}
    ]
    assert curated.count(b"\n") == totals["curated"] >= 60
    for value in seeded.personal:
        assert value.encode() not in curated
    head = _s3(stack).head_object(
        Bucket=f"sovgw-datasets-{JURISDICTION}", Key=manifest["parts"][0]["raw_key"]
    )
    assert head["ServerSideEncryption"] == "aws:kms"

    code, out = _sovgw(capsys, "dataset", "verify", "case-training", "--org", ORG)
    report = json.loads(out)
    assert code == 0 and report["passed"] is True, report
    assert report["records_checked"] == totals["curated"]

    export = _audit(stack, build_id, "export")
    assert export["stage"] == "dataset" and export["outcome"] == "ok"
    assert export["dataset"]["bulk_jobs"] == manifest["bulk_jobs"]
    assert export["purpose"] == "model-training"
    scan = _audit(stack, build_id, "scan")
    assert scan["dataset"]["totals"] == totals
    started = _audit(stack, build_id, "export-start")["dataset"]["detail"]
    assert started == normalise_soql(manifest["soql"]) and started.startswith("SELECT Id, Subject")
    for record in (export, scan):
        text = json.dumps(record)
        assert not any(value in text for value in seeded.personal)
    assert scan["entity_counts"]["EMAIL"] >= 60 and scan["entity_counts"]["IBAN"] >= 60

    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    code, report = _sovgw(
        capsys,
        "audit",
        "report",
        "--art30",
        "--jurisdiction",
        JURISDICTION,
        "--org",
        ORG,
        "--from",
        since,
    )
    assert "model-training" in report and "one-way pseudonymised" in report
    assert "Case: Description, Origin, Priority, Status, Subject" in report
    assert not any(value in report for value in seeded.personal)


@pytest.mark.usefixtures("operator_env")
def test_scanning_a_build_again_gives_the_same_manifest_with_two_workers(
    stack: LocalSovereignStack,
    seeded: Seeded,
    datasets: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    build_id = _built(capsys, datasets)
    first = _object(stack, manifest_key("case-training", build_id))
    code, out = _export(
        capsys, "resume", datasets, "--build", build_id, "--scan", "here", "--workers", "2"
    )
    assert code == 0, out
    assert _object(stack, manifest_key("case-training", build_id)) == first


@pytest.mark.usefixtures("operator_env")
def test_verify_fails_on_a_curated_part_changed_after_the_scan(
    stack: LocalSovereignStack,
    seeded: Seeded,
    datasets: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    build_id = _built(capsys, datasets)
    manifest = json.loads(_object(stack, manifest_key("case-training", build_id)))
    key = manifest["parts"][0]["outputs"]["curated"]["key"]
    lines = _object(stack, key).splitlines()
    record = json.loads(lines[0]) | {"Subject": "reach anna.schmidt@example.de"}
    _s3(stack).put_object(
        Bucket=f"sovgw-datasets-{JURISDICTION}",
        Key=key,
        Body=b"\n".join([json.dumps(record).encode(), *lines[1:]]) + b"\n",
    )
    code, out = _sovgw(capsys, "dataset", "verify", "case-training", "--org", ORG)
    report = json.loads(out)
    assert code == 1 and report["passed"] is False
    assert report["hash_mismatches"] == [key] and report["findings"] == {"EMAIL": 1}
    assert "anna.schmidt" not in out


@pytest.mark.usefixtures("operator_env")
def test_an_export_never_eats_the_emergency_reserve_and_resumes_later(
    stack: LocalSovereignStack,
    seeded: Seeded,
    datasets: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The org's day is 90 % used (Salesforce says so in Sforce-Limit-Info): the ROUTINE lane
    stops at 85 %, so the export pauses (exit 75) with the reason, and resume continues it
    once the day's usage has rolled off."""
    assert stack.salesforce is not None
    sim = stack.salesforce.sim
    org = sim.org(ORG)
    used, limit = sim.api_usage(org)
    busy = [sim.now()] * (int(limit * 0.9) - used)
    org.api_calls.extend(busy)
    try:
        code, _ = _export(capsys, "start", datasets, "--scan", "none")
        assert code == 75
        status = _sovgw(capsys, "export", "status", "--org", ORG, "--dataset", "case-training")
        state = json.loads(status[1])
        assert state["status"] == "paused"
        assert "ROUTINE" in state["history"][-1] or "routine" in state["history"][-1]
    finally:
        stack.advance_clock(timedelta(hours=25).total_seconds())  # the day's calls roll off
    deps = stack.deployments[JURISDICTION].deps
    assert deps.budget_store is not None
    deps.budget_store.observe(ORG, *sim.api_usage(org))  # a call on another lane would say so
    code, out = _export(capsys, "resume", datasets, "--scan", "here")
    assert code == 0, out


def test_the_scan_state_machine_passes_localstacks_parser(stack: LocalSovereignStack) -> None:
    """LocalStack's own ASL parser accepts the definition the stack deploys (and still
    refuses what it cannot run, so acceptance means something)."""
    jurisdiction = stack.config.jurisdiction(JURISDICTION)
    assert jurisdiction is not None
    client = stack.session(jurisdiction.region).client("stepfunctions")
    arn = f"arn:aws:lambda:{jurisdiction.region}:000000000000:function:sovgw-{JURISDICTION}-"
    definition = dataset_scan_definition(
        jurisdiction.datasets_bucket, arn + "dataset-scan", arn + "dataset-reconcile"
    )
    role = "arn:aws:iam::000000000000:role/sovgw-dataset-scan"
    created = client.create_state_machine(
        name=f"sovgw-{JURISDICTION}-dataset-scan-parse",
        definition=json.dumps(definition),
        roleArn=role,
    )
    described = client.describe_state_machine(stateMachineArn=created["stateMachineArn"])
    assert json.loads(described["definition"]) == definition
    batched = json.loads(json.dumps(definition))
    batched["States"]["ScanParts"]["ItemBatcher"] = {"MaxItemsPerBatch": 10}
    with pytest.raises(ClientError, match="ASLParserException"):
        client.create_state_machine(
            name=f"sovgw-{JURISDICTION}-dataset-scan-batched",
            definition=json.dumps(batched),
            roleArn=role,
        )


@pytest.mark.usefixtures("operator_env")
def test_a_planted_canary_is_quarantined_and_opens_an_incident(
    stack: LocalSovereignStack,
    seeded: Seeded,
    datasets: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The training path of the leak canaries: a canary case in the export is quarantined
    (never curated), and the scan opens an incident in the org's jurisdiction."""
    assert stack.salesforce is not None
    jurisdiction = stack.config.jurisdiction(JURISDICTION)
    assert jurisdiction is not None
    planted = new_canaries(ORG, datetime.now(UTC))
    values = {c.kind: c.value for c in planted.canaries}
    sim = stack.salesforce.sim
    record_id = sim.insert(
        sim.org(ORG),
        "Case",
        {"Subject": f"Rückfrage {values['reference']}", "Description": "Kunde bittet um Rückruf"},
    )
    store_canaries(
        stack.session(jurisdiction.region).client("secretsmanager"),
        jurisdiction,
        planted.model_copy(update={"record_id": record_id}),
    )
    build_id = _built(capsys, datasets)
    manifest = json.loads(_object(stack, manifest_key("case-training", build_id)))
    assert manifest["reasons"]["leak_canary"] == 1
    curated = b"".join(
        _object(stack, p["outputs"]["curated"]["key"])
        for p in manifest["parts"]
        if "curated" in p["outputs"]
    )
    assert values["reference"].encode() not in curated
    incidents = S3IncidentStore(_s3(stack), jurisdiction.audit_bucket)
    titles = [incidents.events(i)[0].title for i in incidents.incident_ids()]
    assert f"Leak canary of org {ORG} seen: training dataset" in titles
