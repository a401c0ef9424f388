"""Anchors sealed into digests: a record anchored at write time and not found as anchored
when sealed is a gap, which verification reports; a retried write never is."""

from __future__ import annotations

from datetime import UTC, datetime

from sovgw.domain.audit_chain import (
    DIGEST_VERSION_BEFORE_ANCHORS,
    Anchor,
    Digest,
    Signature,
    StoredRecord,
    build_digest,
    sha256_hex,
    verify_chain,
)

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _record(record_id: str, body: bytes | None) -> StoredRecord:
    return StoredRecord(f"records/eu-de/o/{record_id}.json", "v1", body, NOW, record_id)


def _digest(
    records: list[StoredRecord], anchors: list[Anchor], sealed: dict[str, str] | None = None
) -> Digest:
    digest = build_digest(
        "eu-de/o", None, None, records, NOW, anchors=anchors, sealed_before=sealed or {}
    )
    assert digest is not None
    return digest


def test_an_anchored_record_that_is_gone_or_changed_is_a_gap() -> None:
    kept, changed = _record("a", b"A"), _record("b", b"B2")
    anchors = [
        Anchor(1, "a", sha256_hex(b"A")),
        Anchor(2, "b", sha256_hex(b"B1")),
        Anchor(3, "c", sha256_hex(b"C")),
    ]
    digest = _digest([kept, changed], anchors).model_copy(
        update={"signature": Signature(key_id="k", algorithm="ECDSA_SHA_256", value="")}
    )
    assert [(g.record_id, g.found, g.position) for g in digest.anchor_gaps] == [
        ("b", "differs", 2),
        ("c", "gone", 3),
    ]
    assert digest.anchored_through == 3
    problems = verify_chain(
        [(digest.model_dump_json().encode(), digest)],
        {"a": kept, "b": changed},
        lambda _: True,
        lambda key, version: b"A" if key.endswith("a.json") else b"B2",
    ).problems
    assert [(p.kind, p.subject) for p in problems] == [
        ("modified-before-seal", "b"),
        ("deleted-before-seal", "c"),
    ]


def test_a_retried_write_and_a_record_sealed_before_are_not_gaps() -> None:
    anchors = [Anchor(7, "a", sha256_hex(b"A")), Anchor(8, "a", sha256_hex(b"A"))]
    assert _digest([_record("a", b"A")], anchors).anchor_gaps == ()
    replayed = [Anchor(9, "z", sha256_hex(b"Z"))]
    digest = build_digest(
        "eu-de/o", None, None, [], NOW, anchors=replayed, sealed_before={"z": sha256_hex(b"Z")}
    )
    assert digest is None, "nothing new: no digest outside the heartbeat"


def test_gaps_alone_make_a_digest_and_a_heartbeat_keeps_the_anchor_position() -> None:
    gone = build_digest("eu-de/o", None, None, [], NOW, anchors=[Anchor(4, "x", "0" * 64)])
    assert gone is not None and gone.entries == () and gone.anchored_through == 4
    beat = build_digest("eu-de/o", gone, "f" * 64, [], NOW, heartbeat=True)
    assert beat is not None and beat.anchored_through == 4 and beat.anchor_gaps == ()


def test_digests_signed_before_anchors_existed_keep_their_signed_bytes() -> None:
    old = _digest([_record("a", b"A")], []).model_copy(
        update={"version": DIGEST_VERSION_BEFORE_ANCHORS}
    )
    assert b"anchored_through" not in old.signed_bytes()
    assert b"anchored_through" in _digest([_record("a", b"A")], []).signed_bytes()
