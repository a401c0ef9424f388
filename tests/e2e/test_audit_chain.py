"""Hash-chained, KMS-signed audit digests in LocalStack S3: every kind of tampering is found."""

from __future__ import annotations

import base64
import gzip
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sovgw.adapters.audit_store import S3AuditStore
from sovgw.adapters.aws.audit import S3AuditSink
from sovgw.adapters.valkey_anchors import ValkeyAuditAnchors
from sovgw.cli import main
from sovgw.domain.audit import AuditRecord, Outcome, Stage, audit_record_id
from sovgw.domain.audit_chain import Problem
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
    jurisdiction, org = stream.split("/")
    ids = []
    for i in range(n):
        record = AuditRecord(
            record_id=audit_record_id(f"{org}-{start.isoformat()}-{i}", Stage.ROUTING),
            stage=Stage.ROUTING,
            jurisdiction=jurisdiction,
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
    stream = "eu-fr/00D5F0000000002UAA"
    s3 = stack.session("eu-west-3").client("s3")
    written = _write(S3AuditSink(s3, deps.jurisdiction.audit_bucket), stream, 2, datetime.now(UTC))
    first = handle(tick, deps)
    assert first["sealed"][stream] >= len(written)
    again = handle(tick, deps)
    store = open_store(deps.jurisdiction)
    assert again["sealed"] == {}, "nothing left to seal"
    assert again["heartbeats"] == len(store.streams("eu-fr")) >= 1, "an empty digest each"
    assert again["manifest"] == first["manifest"] + 1
    assert store.verify_jurisdiction("eu-fr") == []
    assert set(store.manifests("eu-fr")[-1][1].heads) == set(store.streams("eu-fr"))
    for each in store.streams("eu-fr"):
        assert store.verify(each).problems == ()


def _hidden(problems: tuple[Problem, ...]) -> set[str]:
    return {p.subject for p in problems if p.kind == "hidden"}


def test_a_truncated_tail_is_found_in_the_history(audit: Any) -> None:
    """Delete markers on the newest digest and the records it sealed (a plain DeleteObject,
    which Object Lock allows) no longer make the chain look shorter and whole."""
    store, sink, stream, s3 = audit
    _sealed(store, sink, stream)
    tail = _write(sink, stream, 3, datetime.now(UTC))
    assert store.seal(stream) is not None
    keys = [f"digests/{stream}/00000002.json"] + [f"records/{stream}/{i}.json" for i in tail]
    for key in keys:
        s3.delete_object(Bucket=store.bucket, Key=key)
    result = store.verify(stream)
    assert not result.ok and result.digests == 2, "the hidden digest is still read"
    assert _hidden(result.problems) == set(keys)
    assert {p.subject for p in result.problems if p.kind == "deleted"} == set(tail)


def test_a_stream_hidden_whole_is_still_listed_and_found(audit: Any) -> None:
    store, sink, stream, s3 = audit
    ids = _sealed(store, sink, stream)
    keys = [f"digests/{stream}/00000001.json"] + [f"records/{stream}/{i}.json" for i in ids]
    for key in keys:
        s3.delete_object(Bucket=store.bucket, Key=key)
    assert not s3.list_objects_v2(Bucket=store.bucket, Prefix=f"records/{stream}/").get("Contents")
    assert stream in store.streams("eu-de")
    assert _hidden(store.verify(stream).problems) == set(keys)


def test_records_hidden_before_their_seal_are_found(audit: Any) -> None:
    store, sink, stream, s3 = audit
    _sealed(store, sink, stream)
    early = _write(sink, stream, 2, datetime.now(UTC))
    for record_id in early:
        s3.delete_object(Bucket=store.bucket, Key=f"records/{stream}/{record_id}.json")
    assert store.seal(stream) is None, "nothing visible to seal"
    assert _hidden(store.verify(stream).problems) == {f"records/{stream}/{i}.json" for i in early}


def test_a_hidden_middle_digest_is_named_and_recovered(audit: Any) -> None:
    store, sink, stream, s3 = audit
    _sealed(store, sink, stream)
    for second in (1, 2):
        _write(sink, stream, 1, datetime.now(UTC) + timedelta(seconds=second))
        assert store.seal(stream, now=datetime.now(UTC) + timedelta(seconds=second)) is not None
    key = f"digests/{stream}/00000002.json"
    original = s3.get_object(Bucket=store.bucket, Key=key)["Body"].read()
    s3.delete_object(Bucket=store.bucket, Key=key)
    result = store.verify(stream)
    assert [(p.kind, p.subject) for p in result.problems] == [("hidden", key)]
    assert "verify --recover" in result.problems[0].detail
    (marker,) = store.hidden(stream)
    assert store.recover(marker) == original


def test_a_stale_chain_is_a_finding_and_heartbeats_keep_it_fresh(audit: Any) -> None:
    store, sink, stream, _ = audit
    _sealed(store, sink, stream)
    later = datetime.now(UTC) + timedelta(hours=3)
    stale = store.verify(stream, max_age_s=7200, now=later).problems
    assert [p.kind for p in stale] == ["stale"] and "limit 120 min" in stale[0].detail
    beat = store.seal(stream, now=later, heartbeat=True)
    assert beat is not None and beat.entries == () and beat.sequence == 2
    fresh = store.verify(stream, max_age_s=7200, now=later + timedelta(minutes=5))
    assert fresh.ok and fresh.digests == 2 and fresh.newest_digest == later


def test_the_principal_that_hid_a_record_comes_from_cloudtrail(
    audit: Any, stack: LocalSovereignStack, capsys: pytest.CaptureFixture[str]
) -> None:
    """CloudTrail's S3 data event (documented log file format) names who set the marker; the
    CLI prints one line per finding and exits 1."""
    store, sink, stream, s3 = audit
    ids = _sealed(store, sink, stream)
    key = f"records/{stream}/{ids[0]}.json"
    s3.delete_object(Bucket=store.bucket, Key=key)
    trail_bucket = "sovgw-trail-test-deleters"
    s3.create_bucket(
        Bucket=trail_bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    intruder = "arn:aws:iam::000000000000:role/ops-admin"
    log = {
        "Records": [
            {
                "eventSource": "s3.amazonaws.com",
                "eventName": "DeleteObject",
                "eventTime": "2026-12-01T10:00:00Z",
                "awsRegion": "eu-central-1",
                "requestID": "DEL123",
                "userIdentity": {"type": "AssumedRole", "arn": intruder},
                "requestParameters": {"bucketName": store.bucket, "key": key},
            }
        ]
    }
    s3.put_object(
        Bucket=trail_bucket,
        Key="AWSLogs/000000000000/CloudTrail/eu-central-1/2026/12/01/x.json.gz",
        Body=gzip.compress(json.dumps(log).encode()),
    )
    org = stream.split("/")[1]
    args = ["audit", "verify", "--jurisdiction", "eu-de", "--org", org]
    code = main([*args, "--cloudtrail-bucket", trail_bucket, "--recover"])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[0].startswith(f"TAMPERED {stream}: 4 sealed records in 1 digests")
    (hidden,) = [line for line in out if line.startswith("  hidden: ")]
    assert key in hidden and f"by {intruder}" in hidden
    assert any(line.startswith(f"  recovered {key}") and ids[0] in line for line in out)


@pytest.fixture
def unlocked(stack: LocalSovereignStack) -> tuple[S3AuditStore, S3AuditSink, Any]:
    """A versioned bucket without Object Lock (a lapsed retention, a misconfigured copy): the
    one place where versions can really be purged, which the manifest must still catch."""
    session = stack.session("eu-central-1")
    s3 = session.client("s3")
    bucket = f"sovgw-audit-unlocked-{next(_orgs)}"
    s3.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    store = S3AuditStore(s3, session.client("kms"), bucket, "alias/sovgw-eu-de-audit-digest")
    return store, S3AuditSink(s3, bucket), s3


def _purge(s3: Any, bucket: str, prefix: str) -> None:
    listing = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
    for item in listing.get("Versions", []) + listing.get("DeleteMarkers", []):
        s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])


def test_the_manifest_finds_a_vanished_a_truncated_and_an_unknown_stream(unlocked: Any) -> None:
    store, sink, s3 = unlocked
    kept, gone, cut = (f"eu-de/00D5E00000{next(_orgs):05d}AAA" for _ in range(3))
    start = datetime.now(UTC) - timedelta(minutes=10)
    for stream in (kept, gone, cut):
        _write(sink, stream, 2, start)
        assert store.seal(stream, now=start + timedelta(minutes=1)) is not None
    _write(sink, cut, 1, start + timedelta(minutes=2))
    assert store.seal(cut, now=start + timedelta(minutes=3)) is not None
    manifest = store.seal_manifest("eu-de", now=start + timedelta(minutes=4))
    assert set(manifest.heads) == {kept, gone, cut} and manifest.heads[cut].sequence == 2
    assert store.verify_jurisdiction("eu-de") == []

    _purge(s3, store.bucket, f"digests/{gone}/")
    _purge(s3, store.bucket, f"records/{gone}/")
    _purge(s3, store.bucket, f"digests/{cut}/00000002.json")
    intruder = f"eu-de/00D5E00000{next(_orgs):05d}AAA"
    _write(sink, intruder, 1, start)
    assert store.seal(intruder, now=start + timedelta(minutes=2)) is not None

    found = {(p.kind, p.subject) for p in store.verify_jurisdiction("eu-de")}
    assert found == {("vanished", gone), ("truncated", cut), ("unknown-stream", intruder)}
    assert gone not in store.streams("eu-de"), "nothing of it is left in the bucket"


def test_manifests_are_signed_linked_and_never_hidden(unlocked: Any) -> None:
    store, sink, s3 = unlocked
    stream = f"eu-de/00D5E00000{next(_orgs):05d}AAA"
    _write(sink, stream, 1, datetime.now(UTC))
    store.seal(stream)
    first = store.seal_manifest("eu-de")
    second = store.seal_manifest("eu-de")
    assert (first.sequence, second.sequence) == (1, 2) and store.verify_jurisdiction("eu-de") == []
    key = "manifests/eu-de/00000001.json"
    body = json.loads(s3.get_object(Bucket=store.bucket, Key=key)["Body"].read())
    body["heads"] = {}
    s3.put_object(Bucket=store.bucket, Key=key, Body=json.dumps(body).encode())
    s3.delete_object(Bucket=store.bucket, Key="manifests/eu-de/00000002.json")
    found = [(p.kind, p.subject.split("/")[-1]) for p in store.verify_jurisdiction("eu-de")]
    assert ("broken-manifest", "manifest eu-de#1") in found
    assert ("broken-manifest", "manifest eu-de#2") in found, "#2 no longer links to #1"
    assert ("hidden", "00000002.json") in found


@pytest.fixture
def anchored(
    unlocked: Any, stack: LocalSovereignStack
) -> tuple[S3AuditStore, S3AuditSink, S3AuditSink, Any]:
    """The unlocked bucket with anchors in the stack's redis-server (own key prefix): a sink
    that anchors, and one that does not (the same attack without anchors, for contrast)."""
    store, plain, s3 = unlocked
    anchors = ValkeyAuditAnchors(stack.valkey_client(), prefix=f"test{next(_orgs)}")
    kms = stack.session("eu-central-1").client("kms")
    anchored_store = S3AuditStore(s3, kms, store.bucket, "alias/sovgw-eu-de-audit-digest", anchors)
    return anchored_store, S3AuditSink(s3, store.bucket, anchors=anchors), plain, s3


def test_records_purged_before_their_seal_are_found_by_their_anchors(anchored: Any) -> None:
    store, sink, plain, s3 = anchored
    start = datetime.now(UTC) - timedelta(minutes=10)
    watched, unwatched = (f"eu-de/00D5E00000{next(_orgs):05d}AAA" for _ in range(2))
    _write(sink, watched, 3, start)
    _write(plain, unwatched, 3, start)
    assert store.seal(watched) is not None and store.seal(unwatched) is not None
    purged = _write(sink, watched, 2, start + timedelta(minutes=1))
    _write(plain, unwatched, 2, start + timedelta(minutes=1))
    for stream in (watched, unwatched):
        _purge(s3, store.bucket, f"records/{stream}/")
        listing = s3.list_object_versions(Bucket=store.bucket, Prefix=f"records/{stream}/")
        assert "Versions" not in listing, "every version is gone: nothing to see in S3"

    assert store.verify(unwatched).ok is False, "sealed records purged: named as deleted"
    kinds_before = {p.kind for p in store.verify(unwatched).problems}
    second = store.seal(watched)
    assert second is not None and len(second.anchor_gaps) == 2
    found = [(p.kind, p.subject) for p in store.verify(watched).problems]
    assert set(found) >= {("deleted-before-seal", rid) for rid in purged}
    assert "deleted-before-seal" not in kinds_before, "without anchors the unsealed two vanish"


def test_a_stream_purged_whole_before_any_seal_is_still_sealed_and_found(anchored: Any) -> None:
    store, sink, _, s3 = anchored
    stream = f"eu-de/00D5E00000{next(_orgs):05d}AAA"
    ids = _write(sink, stream, 2, datetime.now(UTC))
    _purge(s3, store.bucket, f"records/{stream}/")
    assert stream in store.streams("eu-de"), "known from its anchors, not from the bucket"
    digests, _ = store.seal_jurisdiction("eu-de")
    sealed = digests[stream]
    assert sealed is not None and {g.record_id for g in sealed.anchor_gaps} == set(ids)
    assert {p.kind for p in store.verify(stream).problems} == {"deleted-before-seal"}


def test_a_record_changed_before_its_seal_and_a_retried_write(anchored: Any) -> None:
    store, sink, _, s3 = anchored
    stream = f"eu-de/00D5E00000{next(_orgs):05d}AAA"
    start = datetime.now(UTC)
    ids = _write(sink, stream, 2, start)
    retry = S3AuditSink(
        s3, store.bucket, lambda: {"lambda_request_id": "retry-1"}, anchors=sink.anchors
    )
    assert _write(retry, stream, 2, start) == ids, "a retry (other links): stored once"
    key = f"records/{stream}/{ids[0]}.json"
    body = json.loads(s3.get_object(Bucket=store.bucket, Key=key)["Body"].read())
    body["outcome"] = "denied"
    s3.put_object(Bucket=store.bucket, Key=key, Body=json.dumps(body).encode())
    digest = store.seal(stream)
    assert digest is not None and len(digest.entries) == 2
    assert [(g.record_id, g.found) for g in digest.anchor_gaps] == [(ids[0], "differs")]
    found = [(p.kind, p.subject) for p in store.verify(stream).problems]
    assert found == [("modified-before-seal", ids[0])]
