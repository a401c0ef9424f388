"""Audit records and digests in S3 (Object Lock, versioned), digests signed with KMS.

Verification uses the public key (KMS ``GetPublicKey``) and local signature checks, so an
auditor needs read access only. It reads the bucket's history, not only its latest view:
Object Lock lets anyone with ``s3:DeleteObject`` hide an object behind a delete marker but
keeps every version, so a hidden record, digest or whole stream is a finding, and what it hid
can be recovered.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sovgw.domain.access_review import ReviewDigest
from sovgw.domain.audit_chain import (
    GENESIS,
    Anchor,
    DeleteMarker,
    Digest,
    Manifest,
    Problem,
    Signature,
    StoredRecord,
    VerifyResult,
    build_digest,
    next_manifest,
    sha256_hex,
    staleness,
    verify_chain,
    verify_manifests,
)
from sovgw.ports import AuditAnchors

SIGNING_ALGORITHM = "ECDSA_SHA_256"


def review_prefix(digest: ReviewDigest) -> str:
    """Where an access review's files and digest live in the audit bucket."""
    generated = digest.generated.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"reviews/{digest.org_id}/{digest.quarter}/{generated}/"


class S3AuditStore:
    """One jurisdiction's audit bucket and digest-signing key."""

    def __init__(
        self,
        s3_client: Any,
        kms_client: Any,
        bucket: str,
        signing_key: str,
        anchors: AuditAnchors | None = None,
    ) -> None:
        self._s3 = s3_client
        self._kms = kms_client
        self._anchors = anchors
        self.bucket = bucket
        self._signing_key = signing_key
        self._public_key: ec.EllipticCurvePublicKey | None = None

    @property
    def s3(self) -> Any:
        """The S3 client, for read-only look-ups beside the store (retention, CloudTrail)."""
        return self._s3

    def streams(self, jurisdiction: str) -> list[str]:
        """``<jurisdiction>/<org>`` for every org with records or digests, hidden ones too: the
        listing is of versions, so a stream behind delete markers still appears; with anchors,
        also every stream that anchored a record."""
        found: set[str] = set()
        paginator = self._s3.get_paginator("list_object_versions")
        for kind in ("records", "digests"):
            for page in paginator.paginate(
                Bucket=self.bucket, Prefix=f"{kind}/{jurisdiction}/", Delimiter="/"
            ):
                found |= {
                    p["Prefix"].removeprefix(f"{kind}/").rstrip("/")
                    for p in page.get("CommonPrefixes", [])
                }
        if self._anchors is not None:  # a stream whose every version is gone still anchored
            found |= self._anchors.streams(jurisdiction)
        return sorted(found)

    def _history(self, prefix: str) -> History:
        """Every stored version under ``prefix`` by key (newest first) and every delete marker."""
        versions: dict[str, list[dict[str, Any]]] = {}
        markers: list[dict[str, Any]] = []
        paginator = self._s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for version in page.get("Versions", []):
                versions.setdefault(version["Key"], []).append(version)
            markers += page.get("DeleteMarkers", [])
        for kept in versions.values():
            kept.sort(key=lambda v: (v["LastModified"], v.get("IsLatest", False)), reverse=True)
        return versions, markers

    def _newest(self, prefix: str) -> list[bytes]:
        """The newest stored version of every key under ``prefix``, hidden or not."""
        return self._newest_of(self._history(prefix)[0])

    def _newest_of(self, versions: Mapping[str, list[dict[str, Any]]]) -> list[bytes]:
        found = (
            self.fetch_version(key, kept[0].get("VersionId")) for key, kept in versions.items()
        )
        return [raw for raw in found if raw is not None]

    def hidden(self, stream: str) -> list[DeleteMarker]:
        """Every delete marker on a record or digest of ``stream``, with the version it hid
        (the newest one stored before it)."""
        return _markers(self._history(f"records/{stream}/"), self._history(f"digests/{stream}/"))

    def recover(self, marker: DeleteMarker) -> bytes | None:
        """What a delete marker hides (the version Object Lock kept)."""
        return self.fetch_version(marker.key, marker.hides) if marker.hides else None

    def current_records(self, stream: str) -> dict[str, StoredRecord]:
        """What each record key of ``stream`` holds now (``body`` None: a delete marker)."""
        return self._current(self._history(f"records/{stream}/"))

    def _current(self, history: History) -> dict[str, StoredRecord]:
        versions, markers = history
        latest: dict[str, StoredRecord] = {}
        for marker in markers:
            if marker["IsLatest"]:
                rid = marker["Key"].rsplit("/", 1)[1].removesuffix(".json")
                latest[rid] = StoredRecord(marker["Key"], marker.get("VersionId"), None, None, rid)
        for key, kept in versions.items():
            version = next((v for v in kept if v["IsLatest"]), None)
            if version is None:
                continue
            body = self.fetch_version(key, version.get("VersionId"))
            rid = key.rsplit("/", 1)[1].removesuffix(".json")
            latest[rid] = StoredRecord(key, version.get("VersionId"), body, _record_time(body), rid)
        return latest

    def fetch_version(self, key: str, version_id: str | None) -> bytes | None:
        params = {"Bucket": self.bucket, "Key": key}
        if version_id and version_id != "null":
            params["VersionId"] = version_id
        try:
            return bytes(self._s3.get_object(**params)["Body"].read())
        except ClientError:
            return None

    def digests(self, stream: str) -> list[tuple[bytes, Digest]]:
        """Every digest of the chain, each as its newest stored version: one hidden behind a
        delete marker is still read (and reported by ``verify``), so the chain stays whole."""
        return _in_order(Digest, self._newest(f"digests/{stream}/"))

    def seal(
        self, stream: str, now: datetime | None = None, *, heartbeat: bool = False
    ) -> Digest | None:
        """Append every unsealed record of ``stream`` to its chain in a new signed digest
        (with ``heartbeat``, an empty one too: the periodic sealer's proof of life)."""
        existing = self.digests(stream)
        previous_raw, previous = existing[-1] if existing else (None, None)
        # Anchors first: each was taken after its record was stored, so the listing below
        # holds every record they name (S3 lists are strongly consistent).
        anchors: list[Anchor] = (
            self._anchors.after(stream, previous.anchored_through if previous else 0)
            if self._anchors is not None
            else []
        )
        sealed = {e.record_id: e.sha256 for _, d in existing for e in d.entries}
        unsealed = [r for rid, r in self.current_records(stream).items() if rid not in sealed]
        digest = build_digest(
            stream,
            previous,
            sha256_hex(previous_raw) if previous_raw else None,
            unsealed,
            now or datetime.now(UTC),
            heartbeat=heartbeat,
            anchors=anchors,
            sealed_before=sealed,
        )
        if digest is None:
            return None
        signed = self._put_signed(f"digests/{stream}/{digest.sequence:08d}.json", digest)
        if self._anchors is not None and anchors:
            self._anchors.release(stream, signed.anchored_through)
        return signed

    def put_review(self, files: dict[str, bytes], unsigned: ReviewDigest) -> str:
        """An access review's files and its signed digest under
        ``reviews/<org>/<quarter>/<generated>/``, each written once; returns the prefix."""
        prefix = review_prefix(unsigned)
        for name, body in files.items():
            self._s3.put_object(Bucket=self.bucket, Key=prefix + name, Body=body, IfNoneMatch="*")
        self._put_signed(prefix + "digest.json", unsigned)
        return prefix

    def reviews(self, org_id: str) -> list[ReviewDigest]:
        """The org's stored reviews, oldest first (their digests, signature unchecked)."""
        paginator = self._s3.get_paginator("list_objects_v2")
        keys = sorted(
            item["Key"]
            for page in paginator.paginate(Bucket=self.bucket, Prefix=f"reviews/{org_id}/")
            for item in page.get("Contents", [])
            if item["Key"].endswith("/digest.json")
        )
        return [
            ReviewDigest.model_validate_json(
                self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            )
            for key in keys
        ]

    def verify_review(self, prefix: str) -> list[str]:
        """Problems with a stored review: a bad signature, a file missing or changed."""
        raw = self._s3.get_object(Bucket=self.bucket, Key=prefix + "digest.json")["Body"].read()
        digest = ReviewDigest.model_validate_json(raw)
        problems = [] if self._signature_valid(digest) else ["the digest's signature is not valid"]
        for name, expected in digest.files.items():
            try:
                body = self._s3.get_object(Bucket=self.bucket, Key=prefix + name)["Body"].read()
            except ClientError:
                problems.append(f"{name} is missing")
                continue
            if sha256_hex(body) != expected:
                problems.append(f"{name} does not match its digest")
        return problems

    def _put_signed[T: (Digest, Manifest, ReviewDigest)](self, key: str, unsigned: T) -> T:
        """Sign with the KMS key and write once (``IfNoneMatch``: never over another)."""
        signed = unsigned.model_copy(update={"signature": self._sign(unsigned.signed_bytes())})
        self._s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=signed.model_dump_json(indent=2).encode(),
            ContentType="application/json",
            IfNoneMatch="*",
        )
        return signed

    def _sign(self, message: bytes) -> Signature:
        signed = self._kms.sign(
            KeyId=self._signing_key,
            Message=message,
            MessageType="RAW",
            SigningAlgorithm=SIGNING_ALGORITHM,
        )
        return Signature(
            key_id=signed["KeyId"],
            algorithm=SIGNING_ALGORITHM,
            value=base64.b64encode(signed["Signature"]).decode(),
        )

    def seal_jurisdiction(
        self, jurisdiction: str, now: datetime | None = None, *, heartbeat: bool = False
    ) -> tuple[dict[str, Digest | None], Manifest]:
        """A sealing run: every stream of the jurisdiction (see ``seal``), then the manifest
        naming every stream's head. The scheduled sealer and ``sovgw audit seal`` both run it."""
        sealed = {
            stream: self.seal(stream, now, heartbeat=heartbeat)
            for stream in self.streams(jurisdiction)
        }
        return sealed, self.seal_manifest(jurisdiction, now)

    def seal_manifest(self, jurisdiction: str, now: datetime | None = None) -> Manifest:
        """Append the head of every stream of the jurisdiction to its signed manifest chain
        (after each sealing run), so ``verify_jurisdiction`` knows which streams must exist."""
        digests = {stream: self.digests(stream) for stream in self.streams(jurisdiction)}
        manifest = next_manifest(
            jurisdiction, self.newest_manifest(jurisdiction), digests, now or datetime.now(UTC)
        )
        return self._put_signed(f"manifests/{jurisdiction}/{manifest.sequence:08d}.json", manifest)

    def newest_manifest(self, jurisdiction: str) -> tuple[bytes, Manifest] | None:
        """The manifest with the highest sequence (keys sort by it), read alone: the chain
        grows every hour, and only verification needs all of it."""
        versions, _ = self._history(f"manifests/{jurisdiction}/")
        if not versions:
            return None
        newest = max(versions)
        raw = self.fetch_version(newest, versions[newest][0].get("VersionId"))
        return (raw, Manifest.model_validate_json(raw)) if raw is not None else None

    def manifests(self, jurisdiction: str) -> list[tuple[bytes, Manifest]]:
        """The jurisdiction's manifests, each as its newest stored version (hidden ones too)."""
        return _in_order(Manifest, self._newest(f"manifests/{jurisdiction}/"))

    def verify_jurisdiction(self, jurisdiction: str) -> list[Problem]:
        """The manifest chain against the streams: vanished, truncated or unknown streams, and
        delete markers on manifests."""
        versions, markers = self._history(f"manifests/{jurisdiction}/")
        manifests = _in_order(Manifest, self._newest_of(versions))
        streams = set(self.streams(jurisdiction))
        if manifests:
            streams |= set(manifests[-1][1].heads)
        problems = verify_manifests(
            manifests, {s: self.digests(s) for s in sorted(streams)}, self._signature_valid
        )
        problems += [
            DeleteMarker(key=m["Key"], created=m["LastModified"], hides=None).problem()
            for m in markers
        ]
        return problems

    def _signature_valid(self, signed: Digest | Manifest | ReviewDigest) -> bool:
        """A digest's or manifest's signature, checked with the public key only."""
        if signed.signature is None or signed.signature.algorithm != SIGNING_ALGORITHM:
            return False
        if self._public_key is None:
            der = self._kms.get_public_key(KeyId=self._signing_key)["PublicKey"]
            loaded = serialization.load_der_public_key(der)
            if not isinstance(loaded, ec.EllipticCurvePublicKey):
                return False
            self._public_key = loaded
        try:
            self._public_key.verify(
                base64.b64decode(signed.signature.value),
                signed.signed_bytes(),
                ec.ECDSA(hashes.SHA256()),
            )
        except (InvalidSignature, ValueError):
            return False
        return True

    def verify(
        self,
        stream: str,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        max_age_s: float | None = None,
        now: datetime | None = None,
        principals: Mapping[str, str] | None = None,
    ) -> VerifyResult:
        """Verify the whole chain, or the digests created in [since, until] anchored on the
        digest before them (whose own signature is checked too). Every delete marker in the
        stream's history is a finding (with who set it, from ``principals``: key → CloudTrail
        principal), and so is a chain whose newest digest is older than ``max_age_s``."""
        record_history = self._history(f"records/{stream}/")
        digest_history = self._history(f"digests/{stream}/")
        records = self._current(record_history)
        result = self._verify_chain(
            _in_order(Digest, self._newest_of(digest_history[0])), records, since, until
        )
        hidden = tuple(
            replace(marker, principal=(principals or {}).get(marker.key))
            for marker in _markers(record_history, digest_history)
        )
        problems = [marker.problem() for marker in hidden]
        if max_age_s is not None and since is None and until is None:
            oldest = None
            if result.newest_digest is None:  # never sealed: judged by its oldest record
                oldest = min((r.time for r in records.values() if r.time), default=None)
            stale = staleness(result.newest_digest, oldest, now or datetime.now(UTC), max_age_s)
            problems += [stale] if stale else []
        return replace(result, problems=result.problems + tuple(problems), hidden=hidden)

    def _verify_chain(
        self,
        everything: list[tuple[bytes, Digest]],
        records: Mapping[str, StoredRecord],
        since: datetime | None,
        until: datetime | None,
    ) -> VerifyResult:
        chosen = [
            (raw, d)
            for raw, d in everything
            if (since is None or d.created >= since) and (until is None or d.created <= until)
        ]
        anchor: tuple[str | None, str] = (None, GENESIS)
        if chosen and chosen[0][1].sequence > 1:
            before_raw, before = everything[chosen[0][1].sequence - 2]
            if not self._signature_valid(before):
                chosen.insert(0, (before_raw, before))
            else:
                anchor = (sha256_hex(before_raw), before.head)
        return verify_chain(
            chosen,
            records,
            self._signature_valid,
            self.fetch_version,
            anchor=anchor,
            check_unsealed=since is None and until is None,
        )


type History = tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]


def _in_order[T: (Digest, Manifest)](model: type[T], raws: list[bytes]) -> list[tuple[bytes, T]]:
    """Digests or manifests parsed, in chain order (by sequence)."""
    found = [(raw, model.model_validate_json(raw)) for raw in raws]
    return sorted(found, key=lambda pair: pair[1].sequence)


def _markers(*histories: History) -> list[DeleteMarker]:
    """The delete markers of ``histories``, each with the version it hid (the newest one
    stored before it)."""
    found: list[DeleteMarker] = []
    for versions, markers in histories:
        for marker in markers:
            hid = next(
                (
                    v
                    for v in versions.get(marker["Key"], [])
                    if v["LastModified"] <= marker["LastModified"]
                ),
                None,
            )
            found.append(
                DeleteMarker(
                    key=marker["Key"],
                    created=marker["LastModified"],
                    hides=hid.get("VersionId") if hid else None,
                )
            )
    return sorted(found, key=lambda m: (m.created, m.key))


def _record_time(body: bytes | None) -> datetime | None:
    if body is None:
        return None
    try:
        return datetime.fromisoformat(json.loads(body)["time"])
    except (ValueError, KeyError, TypeError):
        return None
