"""Audit records and digests in S3 (Object Lock, versioned), digests signed with KMS.

Verification uses the public key (KMS ``GetPublicKey``) and local signature checks, so an
auditor needs read access only.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sovgw.domain.audit_chain import (
    GENESIS,
    Digest,
    Signature,
    StoredRecord,
    VerifyResult,
    build_digest,
    sha256_hex,
    verify_chain,
)

SIGNING_ALGORITHM = "ECDSA_SHA_256"


class S3AuditStore:
    """One jurisdiction's audit bucket and digest-signing key."""

    def __init__(self, s3_client: Any, kms_client: Any, bucket: str, signing_key: str) -> None:
        self._s3 = s3_client
        self._kms = kms_client
        self.bucket = bucket
        self._signing_key = signing_key
        self._public_key: ec.EllipticCurvePublicKey | None = None

    @property
    def s3(self) -> Any:
        """The S3 client, for read-only look-ups beside the store (retention, CloudTrail)."""
        return self._s3

    def streams(self, jurisdiction: str) -> list[str]:
        """``<jurisdiction>/<org>`` for every org with records."""
        found: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(
            Bucket=self.bucket, Prefix=f"records/{jurisdiction}/", Delimiter="/"
        ):
            found += [
                p["Prefix"].removeprefix("records/").rstrip("/")
                for p in page.get("CommonPrefixes", [])
            ]
        return found

    def current_records(self, stream: str) -> dict[str, StoredRecord]:
        latest: dict[str, StoredRecord] = {}
        paginator = self._s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"records/{stream}/"):
            for marker in page.get("DeleteMarkers", []):
                if marker["IsLatest"]:
                    rid = marker["Key"].rsplit("/", 1)[1].removesuffix(".json")
                    latest[rid] = StoredRecord(
                        marker["Key"], marker.get("VersionId"), None, None, rid
                    )
            for version in page.get("Versions", []):
                if not version["IsLatest"]:
                    continue
                body = self.fetch_version(version["Key"], version.get("VersionId"))
                rid = version["Key"].rsplit("/", 1)[1].removesuffix(".json")
                time = _record_time(body)
                latest[rid] = StoredRecord(
                    version["Key"], version.get("VersionId"), body, time, rid
                )
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
        found = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"digests/{stream}/"):
            for item in page.get("Contents", []):
                raw = bytes(self._s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read())
                found.append((raw, Digest.model_validate_json(raw)))
        return sorted(found, key=lambda pair: pair[1].sequence)

    def seal(self, stream: str, now: datetime | None = None) -> Digest | None:
        """Append every unsealed record of ``stream`` to its chain in a new signed digest."""
        existing = self.digests(stream)
        sealed = {e.record_id for _, d in existing for e in d.entries}
        unsealed = [r for rid, r in self.current_records(stream).items() if rid not in sealed]
        previous_raw, previous = existing[-1] if existing else (None, None)
        digest = build_digest(
            stream,
            previous,
            sha256_hex(previous_raw) if previous_raw else None,
            unsealed,
            now or datetime.now(UTC),
        )
        if digest is None:
            return None
        signed = self._kms.sign(
            KeyId=self._signing_key,
            Message=digest.signed_bytes(),
            MessageType="RAW",
            SigningAlgorithm=SIGNING_ALGORITHM,
        )
        digest = digest.model_copy(
            update={
                "signature": Signature(
                    key_id=signed["KeyId"],
                    algorithm=SIGNING_ALGORITHM,
                    value=base64.b64encode(signed["Signature"]).decode(),
                )
            }
        )
        self._s3.put_object(
            Bucket=self.bucket,
            Key=f"digests/{stream}/{digest.sequence:08d}.json",
            Body=digest.model_dump_json(indent=2).encode(),
            ContentType="application/json",
            IfNoneMatch="*",
        )
        return digest

    def _signature_valid(self, digest: Digest) -> bool:
        if digest.signature is None or digest.signature.algorithm != SIGNING_ALGORITHM:
            return False
        if self._public_key is None:
            der = self._kms.get_public_key(KeyId=self._signing_key)["PublicKey"]
            loaded = serialization.load_der_public_key(der)
            if not isinstance(loaded, ec.EllipticCurvePublicKey):
                return False
            self._public_key = loaded
        try:
            self._public_key.verify(
                base64.b64decode(digest.signature.value),
                digest.signed_bytes(),
                ec.ECDSA(hashes.SHA256()),
            )
        except (InvalidSignature, ValueError):
            return False
        return True

    def verify(
        self, stream: str, since: datetime | None = None, until: datetime | None = None
    ) -> VerifyResult:
        """Verify the whole chain, or the digests created in [since, until] anchored on the
        digest before them (whose own signature is checked too)."""
        everything = self.digests(stream)
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
            self.current_records(stream),
            self._signature_valid,
            self.fetch_version,
            anchor=anchor,
            check_unsealed=since is None and until is None,
        )


def _record_time(body: bytes | None) -> datetime | None:
    if body is None:
        return None
    try:
        return datetime.fromisoformat(json.loads(body)["time"])
    except (ValueError, KeyError, TypeError):
        return None
