"""Hash-chained, KMS-signed audit digests in LocalStack S3: every kind of tampering is found."""

from __future__ import annotations

import base64
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sovgw.adapters.audit_store import S3AuditStore
from sovgw.adapters.aws.audit import S3AuditSink
from sovgw.domain.audit import AuditRecord, Outcome, Stage, audit_record_id
from sovgw.local.stack import LocalSovereignStack

_orgs = itertools.count(1)


@pytest.fixture
def audit(stack: LocalSovereignStack) -> tuple[S3AuditStore, S3AuditSink, str, Any]:
    session = stack.session("eu-central-1")
    s3 = session.client("s3")
    store = S3AuditStore(
        s3, session.client("kms"), "sovgw-audit-eu-de", "alias/sovgw-eu-de-audit-digest"
    )
    org = f"00D5E00000{next(_orgs):05d}AAA"
    return store, S3AuditSink(s3, "sovgw-audit-eu-de"), f"eu-de/{org}", s3


def _write(sink: S3AuditSink, stream: str, n: int, start: datetime) -> list[str]:
    org = stream.split("/")[1]
    ids = []
    for i in range(n):
        record = AuditRecord(
            record_id=audit_record_id(f"{org}-{start.isoformat()}-{i}", Stage.ROUTING),
            stage=Stage.ROUTING,
            jurisdiction="eu-de",
            org_id=org,
            outcome=Outcome.OK,
            time=start + timedelta(seconds=i),
            rule_id="residency.sovereign-in-region",
        )
        sink.write(record)
        ids.append(record.record_id)
    return ids


def _sealed(store: S3AuditStore, sink: S3AuditSink, stream: str) -> list[str]:
    ids = _write(sink, stream, 4, datetime.now(UTC) - timedelta(minutes=10))
    assert store.seal(stream) is not None
    assert store.verify(stream).ok
    return ids


def test_seal_and_verify_then_extend_the_chain(audit: Any) -> None:
    store, sink, stream, _ = audit
    ids = _sealed(store, sink, stream)
    assert store.seal(stream) is None, "nothing new to seal"
    _write(sink, stream, 2, datetime.now(UTC))
    second = store.seal(stream)
    assert second is not None and second.sequence == 2 and len(second.entries) == 2
    result = store.verify(stream)
    assert result.ok and result.digests == 2 and result.records == len(ids) + 2


def test_edited_record_is_named(audit: Any) -> None:
    store, sink, stream, s3 = audit
    ids = _sealed(store, sink, stream)
    key = f"records/{stream}/{ids[1]}.json"
    body = json.loads(s3.get_object(Bucket=store.bucket, Key=key)["Body"].read())
    body["region"] = "us-east-1"
    s3.put_object(Bucket=store.bucket, Key=key, Body=json.dumps(body).encode())
    problems = store.verify(stream).problems
    assert (problems[0].kind, problems[0].subject) == ("modified", ids[1])


def test_deleted_record_is_named(audit: Any) -> None:
    store, sink, stream, s3 = audit
    ids = _sealed(store, sink, stream)
    s3.delete_object(Bucket=store.bucket, Key=f"records/{stream}/{ids[2]}.json")
    problems = store.verify(stream).problems
    assert (problems[0].kind, problems[0].subject) == ("deleted", ids[2])


def test_backdated_insertion_is_named(audit: Any) -> None:
    store, sink, stream, _ = audit
    _sealed(store, sink, stream)
    (inserted,) = _write(sink, stream, 1, datetime.now(UTC) - timedelta(hours=2))
    problems = store.verify(stream).problems
    assert (problems[0].kind, problems[0].subject) == ("inserted", inserted)


def test_reordered_entries_are_detected(audit: Any) -> None:
    store, sink, stream, s3 = audit
    _sealed(store, sink, stream)
    key = f"digests/{stream}/00000001.json"
    digest = json.loads(s3.get_object(Bucket=store.bucket, Key=key)["Body"].read())
    digest["entries"][0], digest["entries"][1] = digest["entries"][1], digest["entries"][0]
    s3.put_object(Bucket=store.bucket, Key=key, Body=json.dumps(digest).encode())
    kinds = {p.kind for p in store.verify(stream).problems}
    assert {"reordered", "broken-digest"} <= kinds


def test_digest_forged_with_another_key_is_detected(audit: Any, stack: LocalSovereignStack) -> None:
    store, sink, stream, s3 = audit
    ids = _sealed(store, sink, stream)
    kms = stack.session("eu-central-1").client("kms")
    forger = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    key = f"digests/{stream}/00000001.json"
    digest = json.loads(s3.get_object(Bucket=store.bucket, Key=key)["Body"].read())
    digest["entries"] = digest["entries"][:-1]
    digest["head"] = digest["entries"][-1]["chain"]
    unsigned = {k: v for k, v in digest.items() if k != "signature"}
    signed = kms.sign(
        KeyId=forger,
        Message=json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode(),
        MessageType="RAW",
        SigningAlgorithm="ECDSA_SHA_256",
    )
    digest["signature"] = {
        "key_id": forger,
        "algorithm": "ECDSA_SHA_256",
        "value": base64.b64encode(signed["Signature"]).decode(),
    }
    s3.put_object(Bucket=store.bucket, Key=key, Body=json.dumps(digest).encode())
    problems = store.verify(stream).problems
    assert problems[0].kind == "broken-digest" and "signature" in problems[0].detail
    assert any(p.kind == "inserted" and p.subject == ids[-1] for p in problems)


def test_time_window_verifies_only_its_digests_anchored_on_the_one_before(audit: Any) -> None:
    store, sink, stream, s3 = audit
    ids = _sealed(store, sink, stream)
    _write(sink, stream, 2, datetime.now(UTC))
    second = store.seal(stream, now=datetime.now(UTC) + timedelta(seconds=5))
    assert second is not None
    key = f"records/{stream}/{ids[0]}.json"
    s3.put_object(Bucket=store.bucket, Key=key, Body=b'{"tampered": true}')
    window = store.verify(stream, since=second.created - timedelta(seconds=1))
    assert window.ok and window.digests == 1 and window.records == 2
    full = store.verify(stream)
    assert (full.problems[0].kind, full.problems[0].subject) == ("modified", ids[0])


def test_the_scheduled_sealer_seals_what_is_unsealed(stack: LocalSovereignStack) -> None:
    from functions.seal.handler import handle  # noqa: PLC0415
    from sovgw.audit_tools import open_store  # noqa: PLC0415

    deps = stack.deployments["eu-fr"].deps
    tick = {
        "version": "0",
        "id": "seal-tick-1",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": "2026-11-22T10:00:00Z",
        "region": "eu-west-3",
        "resources": [],
        "detail": {},
    }
    handle(tick, deps)
    again = handle(tick, deps)
    assert again["sealed"] == {}, "nothing left to seal"
    store = open_store(deps.jurisdiction)
    for stream in store.streams("eu-fr"):
        assert store.verify(stream).problems == ()
