"""The dataset bucket and key adapters (moto, fast), and the scan's handling of a raw part
that changed or vanished after the export: a part result with the reason, a manifest that
does not reconcile, a verification that fails."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sovgw.adapters.aws.datasets import S3DatasetObjects, dataset_key_reader, pseudonym_key
from sovgw.adapters.aws.errors import ResourceAbsent
from sovgw.app.datasets import reconcile, scan_item, verify
from sovgw.cli.main import main
from sovgw.contracts import DatasetBuildRef, DatasetPartItem
from sovgw.domain.canaries import CanaryWatch, Sighting, new_canaries
from sovgw.domain.datasets import DatasetDefinition
from sovgw.domain.export import BuildState, PartRecord
from sovgw.domain.levels import DataLevel
from tests.fakes import MemoryObjects

REGION = "eu-central-1"
BUCKET = "sovgw-datasets-eu-de"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    # The e2e stack (same session, may run first) points boto3 at LocalStack by environment.
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        kms = boto3.client("kms", region_name=REGION)
        key = kms.create_key()["KeyMetadata"]["Arn"]
        yield {"s3": s3, "key": key, "secrets": boto3.client("secretsmanager", region_name=REGION)}


def test_objects_are_written_with_the_jurisdiction_key_listed_and_deleted_in_batches(
    aws: dict[str, Any],
) -> None:
    objects = S3DatasetObjects(aws["s3"], BUCKET, aws["key"])
    keys = [f"raw/d/b/part-{n:05d}.csv" for n in range(1205)]
    for key in keys:
        objects.put(key, b"x")
    head = aws["s3"].head_object(Bucket=BUCKET, Key=keys[0])
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == aws["key"]
    assert objects.keys("raw/d/") == keys  # past one page of 1,000
    assert objects.get("raw/d/b/none.csv") is None
    objects.delete(keys)  # past one DeleteObjects batch of 1,000
    assert objects.keys("raw/") == []


def test_the_key_is_made_once_then_only_read(aws: dict[str, Any]) -> None:
    secret = "sovgw/eu-de/datasets/cases/pseudonym-key"
    with pytest.raises(ResourceAbsent):
        pseudonym_key(aws["secrets"], secret)  # the scan never creates one
    made = pseudonym_key(aws["secrets"], secret, create=True)
    assert len(made) == 32
    assert pseudonym_key(aws["secrets"], secret, create=True) == made  # exists: read, not remade
    stored = aws["secrets"].get_secret_value(SecretId=secret)["SecretString"]
    assert base64.b64decode(stored) == made
    assert dataset_key_reader(aws["secrets"], "eu-de")("cases", False) == made


def _build(objects: MemoryObjects, subject: str = "mail max@example.de") -> BuildState:
    raw = f'"Id","Subject"\n"5005E0000000001QAA","{subject}"\n'.encode()
    state = BuildState(
        build_id="cases-20261202T000000Z-abcdef",
        jurisdiction="eu-de",
        org_id="00D5E0000000001UAA",
        definition=DatasetDefinition(
            id="cases", version="1", purpose="model-training", object="Case", fields=("Subject",)
        ),
        field_levels={"Subject": DataLevel.INTERNAL},
        created_at="2026-12-02T00:00:00+00:00",
        status="exported",
        jobs=["7505E0000000001QAA"],
        parts=[
            PartRecord(
                number=1,
                key="raw/cases/b/attempt-1/part-00001.csv",
                sha256=hashlib.sha256(raw).hexdigest(),
                records=1,
                bytes=len(raw),
                job_id="7505E0000000001QAA",
            )
        ],
    )
    objects.put(state.parts[0].key, raw)
    objects.put(state.checkpoint_key, state.model_dump_json().encode())
    return state


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda o, k: o.put(k, o.objects[k] + b'"5005E0000000002QAA","x"\n'), "changed"),
        (lambda o, k: o.objects.pop(k), "missing"),
    ],
)
def test_a_raw_part_changed_or_gone_since_the_export_is_named_not_scanned(
    damage: Any, reason: str
) -> None:
    objects = MemoryObjects()
    state = _build(objects)
    damage(objects, state.parts[0].key)
    item = DatasetPartItem(dataset="cases", build_id=state.build_id, part=1)
    result = scan_item(objects, lambda _: b"k" * 32, item)
    assert result.error is not None and reason in result.error and result.curated == 0
    assert not objects.keys("curated/")
    document, _ = reconcile(objects, DatasetBuildRef(dataset="cases", build_id=state.build_id))
    assert document["reconciled"] is False and document["totals"]["unaccounted"] == 1
    report = verify(objects, state)
    assert not report.passed and "the manifest does not reconcile" in report.problems


def test_an_intact_build_scans_reconciles_and_verifies() -> None:
    objects = MemoryObjects()
    state = _build(objects)
    item = DatasetPartItem(dataset="cases", build_id=state.build_id, part=1)
    result = scan_item(objects, lambda _: b"k" * 32, item)
    assert result.error is None and result.curated == 1 and result.pseudonymised == {"EMAIL": 1}
    document, digest = reconcile(objects, DatasetBuildRef(dataset="cases", build_id=state.build_id))
    assert document["reconciled"] is True
    again, digest_again = reconcile(
        objects, DatasetBuildRef(dataset="cases", build_id=state.build_id)
    )
    assert (again, digest_again) == (document, digest)
    curated = json.loads(objects.objects[result.outputs["curated"].key])
    assert "max@example.de" not in json.dumps(curated)
    assert verify(objects, state).passed


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no dataset definition"),
        ("id: other\nversion: '1'\npurpose: x-y\nobject: Case\nfields: [Subject]\n", "not 'cases'"),
        (
            "id: cases\nversion: '1'\npurpose: x-y\nobject: Case\nfields: [Subject]\n"
            "allowed_level: PERSONAL\n",
            "the most a dataset may allow is CONFIDENTIAL",
        ),
    ],
)
def test_a_bad_definition_is_refused_before_anything_is_exported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    if content is not None:
        (tmp_path / "cases.yaml").write_text(content, encoding="utf-8")
    argv = ["export", "start", "--org", "00D5E0000000001UAA", "--dataset", "cases"]
    code = main([*argv, "--datasets", str(tmp_path)])
    assert code == 2
    assert message in capsys.readouterr().err


def test_a_planted_canary_never_reaches_a_curated_dataset() -> None:
    """The training path of the leak canaries: the record is quarantined (reason and kind,
    no value in the result) and each planted value found is reported once."""
    planted = new_canaries("00D5E0000000001UAA", datetime.now(UTC))
    reference = next(c.value for c in planted.canaries if c.kind == "reference")
    objects = MemoryObjects()
    state = _build(objects, subject=f"Re: {reference}")
    item = DatasetPartItem(dataset="cases", build_id=state.build_id, part=1)
    seen: list[Sighting] = []
    result = scan_item(objects, lambda _: b"k" * 32, item, CanaryWatch((planted,)), seen.append)
    assert (result.curated, result.quarantined) == (0, 1)
    assert result.reasons == {"leak_canary": 1}
    assert [(s.canary.kind, s.path) for s in seen] == [("reference", "training_dataset")]
    assert reference not in result.model_dump_json()
    assert not objects.keys("curated/")
