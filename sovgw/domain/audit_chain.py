"""Hash chain and digests over audit records, in the way CloudTrail digest files work.

Records are written once each (at least once, deduplicated by record id). A sealer appends
every record not yet sealed to the stream's chain, in a deterministic order, and writes a
digest: the entries with their chained hashes, a link to the previous digest, signed with an
asymmetric key. Verification needs only the records, the digests and the public key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

DIGEST_VERSION = "sovgw-audit-digest/2"
DIGEST_VERSION_BEFORE_ANCHORS = "sovgw-audit-digest/1"
GENESIS = "0" * 64


def canonical(value: Any) -> bytes:
    """Stable bytes for hashing and signing (sorted keys, no whitespace)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chain_hash(previous: str, record_id: str, record_sha256: str) -> str:
    return sha256_hex(f"{previous}:{record_id}:{record_sha256}".encode())


class ChainEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    record_id: str
    key: str
    version_id: str | None
    time: datetime
    sha256: str
    chain: str


class Signature(BaseModel):
    model_config = ConfigDict(frozen=True)

    key_id: str
    algorithm: str
    value: str


@dataclass(frozen=True)
class Anchor:
    """A record's hash, taken when the record was written, at a position of its stream's
    append-only anchor sequence (one counter per stream, outside the audit bucket)."""

    position: int
    record_id: str
    sha256: str


class AnchorGap(BaseModel):
    """An anchored record the sealer did not find as anchored: deleted (every version gone)
    or changed before it could be sealed."""

    model_config = ConfigDict(frozen=True)

    position: int
    record_id: str
    sha256: str
    found: Literal["gone", "differs"]

    def problem(self) -> Problem:
        what = "gone before its seal" if self.found == "gone" else "changed before its seal"
        return Problem(
            f"{'deleted' if self.found == 'gone' else 'modified'}-before-seal",
            self.record_id,
            f"anchored at #{self.position} (sha256 {self.sha256[:12]}…), {what}",
        )


class Digest(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: str = DIGEST_VERSION
    stream: str
    sequence: int
    created: datetime
    previous_digest_sha256: str | None
    previous_head: str
    head: str
    entries: tuple[ChainEntry, ...]
    anchored_through: int = 0
    anchor_gaps: tuple[AnchorGap, ...] = ()
    signature: Signature | None = None

    def signed_bytes(self) -> bytes:
        exclude = {"signature"}
        if self.version == DIGEST_VERSION_BEFORE_ANCHORS:  # signed before these fields existed
            exclude |= {"anchored_through", "anchor_gaps"}
        return canonical(self.model_dump(mode="json", exclude=exclude))


@dataclass(frozen=True)
class StoredRecord:
    """One audit record object as the store sees it now."""

    key: str
    version_id: str | None
    body: bytes | None  # None: the latest version is a delete marker
    time: datetime | None
    record_id: str


def build_digest(
    stream: str,
    previous: Digest | None,
    previous_sha256: str | None,
    unsealed: Sequence[StoredRecord],
    created: datetime,
    *,
    heartbeat: bool = False,
    anchors: Sequence[Anchor] = (),
    sealed_before: Mapping[str, str] | None = None,
) -> Digest | None:
    """The next digest for ``unsealed`` records. Without any: None, or with ``heartbeat`` an
    empty digest, so that the chain grows every period and a missing period or a truncated
    tail shows by time (as CloudTrail delivers digest files every hour, empty or not).

    ``anchors`` are the hashes taken at write time since the previous digest's
    ``anchored_through``; ``sealed_before`` maps the record ids earlier digests sealed to their
    hashes. An anchored record that is neither sealed before nor here as anchored is sealed as
    a gap, so a record deleted or changed between its write and its seal is a finding."""
    live = [r for r in unsealed if r.body is not None and r.time is not None]
    gaps = anchor_gaps(anchors, live, sealed_before or {})
    if not live and not heartbeat and not gaps:
        return None
    live.sort(key=lambda r: (r.time, r.record_id))
    head = previous.head if previous else GENESIS
    entries = []
    for record in live:
        assert record.body is not None
        assert record.time is not None
        digest = sha256_hex(record.body)
        head = chain_hash(head, record.record_id, digest)
        entries.append(
            ChainEntry(
                record_id=record.record_id,
                key=record.key,
                version_id=record.version_id,
                time=record.time,
                sha256=digest,
                chain=head,
            )
        )
    return Digest(
        stream=stream,
        sequence=(previous.sequence + 1) if previous else 1,
        created=created,
        previous_digest_sha256=previous_sha256,
        previous_head=previous.head if previous else GENESIS,
        head=head,
        entries=tuple(entries),
        anchored_through=max(
            (a.position for a in anchors), default=previous.anchored_through if previous else 0
        ),
        anchor_gaps=gaps,
    )


def anchor_gaps(
    anchors: Sequence[Anchor], live: Sequence[StoredRecord], sealed_before: Mapping[str, str]
) -> tuple[AnchorGap, ...]:
    """Anchored records neither sealed before nor stored now as they were anchored (a record
    anchored twice, by a retried write, counts once)."""
    now = {r.record_id: sha256_hex(r.body) for r in live if r.body is not None}
    gaps: dict[str, AnchorGap] = {}
    for anchor in sorted(anchors, key=lambda a: a.position):
        if anchor.sha256 in (sealed_before.get(anchor.record_id), now.get(anchor.record_id)):
            continue
        found: Literal["gone", "differs"] = "differs" if anchor.record_id in now else "gone"
        gaps.setdefault(
            anchor.record_id,
            AnchorGap(
                position=anchor.position,
                record_id=anchor.record_id,
                sha256=anchor.sha256,
                found=found,
            ),
        )
    return tuple(gaps.values())


@dataclass(frozen=True)
class Problem:
    kind: str  # modified | deleted | inserted | reordered | broken-digest | hidden | stale
    #          | deleted-before-seal | modified-before-seal | (manifests) vanished | truncated …
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.subject}: {self.detail}"


@dataclass(frozen=True)
class VerifyResult:
    digests: int
    records: int
    unsealed: int
    problems: tuple[Problem, ...]
    newest_digest: datetime | None = None
    hidden: tuple[DeleteMarker, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(
    digests: Sequence[tuple[bytes, Digest]],
    records: Mapping[str, StoredRecord],
    signature_valid: Any,
    fetch_version: Any,
    *,
    anchor: tuple[str | None, str] = (None, GENESIS),
    check_unsealed: bool = True,
) -> VerifyResult:
    """Check digests (signature, links) and every sealed record; name what is wrong, in order.

    ``records`` maps record id to what the store holds now; ``signature_valid(digest)`` checks
    a signature with the public key; ``fetch_version(key, version_id)`` returns sealed bytes.
    ``anchor`` is the (sha256, head) of the digest before the first one given, when verifying
    a time window; then unsealed records outside it are not judged (``check_unsealed``).
    """
    problems: list[Problem] = []
    previous_sha, head = anchor
    sealed: set[str] = set()
    last_created: datetime | None = None
    for raw, digest in digests:
        name = f"{digest.stream}#{digest.sequence}"
        if digest.signature is None or not signature_valid(digest):
            problems.append(Problem("broken-digest", name, "signature does not verify"))
        if digest.previous_digest_sha256 != previous_sha or digest.previous_head != head:
            problems.append(Problem("broken-digest", name, "does not link to the previous digest"))
        running = digest.previous_head
        for entry in digest.entries:
            running = chain_hash(running, entry.record_id, entry.sha256)
            if running != entry.chain:
                problems.append(Problem("reordered", entry.record_id, "chain hash does not follow"))
                break
            sealed.add(entry.record_id)
            now = records.get(entry.record_id)
            if now is None or now.body is None:
                problems.append(Problem("deleted", entry.record_id, f"{entry.key} is gone"))
                continue
            if now.version_id != entry.version_id or sha256_hex(now.body) != entry.sha256:
                problems.append(
                    Problem(
                        "modified", entry.record_id, f"{entry.key} differs from the sealed version"
                    )
                )
                continue
            original = fetch_version(entry.key, entry.version_id)
            if original is None or sha256_hex(original) != entry.sha256:
                problems.append(Problem("modified", entry.record_id, "sealed version altered"))
        if running != digest.head:
            problems.append(Problem("broken-digest", name, "head does not match its entries"))
        problems += [gap.problem() for gap in digest.anchor_gaps]
        previous_sha, head, last_created = sha256_hex(raw), digest.head, digest.created
    unsealed = [r for rid, r in records.items() if rid not in sealed and r.body is not None]
    for record in sorted(unsealed, key=lambda r: r.record_id) if check_unsealed else ():
        if last_created is not None and record.time is not None and record.time < last_created:
            problems.append(
                Problem(
                    "inserted", record.record_id, "written before the last seal but never sealed"
                )
            )
    return VerifyResult(len(digests), len(sealed), len(unsealed), tuple(problems), last_created)


@dataclass(frozen=True)
class DeleteMarker:
    """A delete marker in the audit bucket: Object Lock keeps the versions it hides."""

    key: str
    created: datetime
    hides: str | None  # the version id it hides (None: nothing was ever stored there)
    principal: str | None = None  # from CloudTrail's data event, when its logs are given

    def problem(self) -> Problem:
        by = f" by {self.principal}" if self.principal else ""
        kept = f"; version {self.hides} keeps it (verify --recover)" if self.hides else ""
        return Problem("hidden", self.key, f"delete marker at {self.created.isoformat()}{by}{kept}")


def staleness(
    newest_digest: datetime | None, oldest_record: datetime | None, now: datetime, max_age: float
) -> Problem | None:
    """A chain whose newest digest is older than ``max_age`` seconds (the sealer writes one
    every period, empty or not): its tail may have been cut, or the sealer stopped."""
    since = newest_digest or oldest_record
    if since is None or (now - since).total_seconds() <= max_age:
        return None
    what = "newest digest" if newest_digest else "first unsealed record (no digest yet)"
    age = int((now - since).total_seconds() // 60)
    return Problem("stale", "chain", f"{what} is {age} min old (limit {int(max_age // 60)} min)")


MANIFEST_VERSION = "sovgw-audit-manifest/1"


class StreamHead(BaseModel):
    """Where one stream's chain stood when a manifest was written."""

    model_config = ConfigDict(frozen=True)

    sequence: int
    digest_sha256: str


class Manifest(BaseModel):
    """The jurisdiction's own signed chain: at every seal, the head of every stream. A stream
    that vanishes, or loses its newest digests, no longer matches the newest manifest; one the
    manifest never named is unknown."""

    model_config = ConfigDict(frozen=True)

    version: str = MANIFEST_VERSION
    jurisdiction: str
    sequence: int
    created: datetime
    previous_manifest_sha256: str | None
    heads: dict[str, StreamHead]
    signature: Signature | None = None

    def signed_bytes(self) -> bytes:
        return canonical(self.model_dump(mode="json", exclude={"signature"}))


def next_manifest(
    jurisdiction: str,
    previous: tuple[bytes, Manifest] | None,
    digests: Mapping[str, Sequence[tuple[bytes, Digest]]],
    created: datetime,
) -> Manifest:
    """The manifest after ``previous`` naming the newest digest of every stream."""
    heads = {
        stream: StreamHead(sequence=chain[-1][1].sequence, digest_sha256=sha256_hex(chain[-1][0]))
        for stream, chain in digests.items()
        if chain
    }
    return Manifest(
        jurisdiction=jurisdiction,
        sequence=previous[1].sequence + 1 if previous else 1,
        created=created,
        previous_manifest_sha256=sha256_hex(previous[0]) if previous else None,
        heads=heads,
    )


def verify_manifests(
    manifests: Sequence[tuple[bytes, Manifest]],
    digests: Mapping[str, Sequence[tuple[bytes, Digest]]],
    signature_valid: Any,
) -> list[Problem]:
    """The manifest chain is signed and linked; every stream its newest manifest names still
    has that digest; no stream sealed before it is missing from it."""
    problems: list[Problem] = []
    previous_sha: str | None = None
    for expected, (raw, manifest) in enumerate(manifests, start=1):
        name = f"manifest {manifest.jurisdiction}#{manifest.sequence}"
        if manifest.signature is None or not signature_valid(manifest):
            problems.append(Problem("broken-manifest", name, "signature does not verify"))
        if manifest.sequence != expected or manifest.previous_manifest_sha256 != previous_sha:
            problems.append(Problem("broken-manifest", name, "does not link to the one before"))
        previous_sha = sha256_hex(raw)
    if not manifests:
        return problems
    newest = manifests[-1][1]
    for stream, head in sorted(newest.heads.items()):
        found = {d.sequence: sha256_hex(raw) for raw, d in digests.get(stream, ())}
        if not found:
            problems.append(
                Problem("vanished", stream, f"named by manifest #{newest.sequence}, no digest left")
            )
        elif found.get(head.sequence) != head.digest_sha256:
            problems.append(
                Problem(
                    "truncated",
                    stream,
                    f"digest #{head.sequence} named by manifest #{newest.sequence} is missing "
                    "or differs",
                )
            )
    for stream, chain in sorted(digests.items()):
        if stream not in newest.heads and any(d.created < newest.created for _, d in chain):
            problems.append(
                Problem("unknown-stream", stream, f"sealed before manifest #{newest.sequence}")
            )
    return problems
