import io
import json
from typing import Any

from sovgw.domain.levels import DataLevel
from sovgw.scan import scan_stream

FULLWIDTH_JANE = "".join(chr(ord(c) + 0xFEE0) for c in "jane")


def _scan(data: bytes, **kwargs: object) -> list[dict[str, Any]]:
    out = io.StringIO()
    scan_stream(io.BytesIO(data), out, **kwargs)  # type: ignore[arg-type]
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_text_and_salesforce_records_in_order_with_offsets_into_the_original() -> None:
    text = f"Kontakt: {FULLWIDTH_JANE}@corp.example"  # full-width letters in the local part
    lines = [
        {"id": "t1", "text": text},
        {
            "attributes": {"type": "Case"},
            "Id": "500A",
            "Subject": "Lease",
            "Description": "call +49 151 2345 6789",
        },
        {"id": "t2", "text": "nothing to see"},
    ]
    results = _scan(
        b"\n".join(json.dumps(line).encode() for line in lines),
        metadata={"Case": {"Subject": DataLevel.INTERNAL, "Description": DataLevel.CONFIDENTIAL}},
    )
    assert [r["id"] for r in results] == ["t1", "500A", "t2"]
    (email,) = results[0]["findings"]
    assert text[email["start"] : email["end"]] == f"{FULLWIDTH_JANE}@corp.example"
    assert results[1]["classification"] == "PERSONAL"
    assert results[1]["findings"][0]["field"] == "Description"
    assert results[2] == {"id": "t2", "classification": "INTERNAL", "findings": []}


def test_unclassified_salesforce_fields_fail_closed() -> None:
    (result,) = _scan(b'{"attributes": {"type": "Case"}, "Id": "500B", "Subject": "hello"}')
    assert result["classification"] == "PRIVILEGED"


def test_every_bad_line_gets_an_error_and_scanning_continues() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    data = b"\n".join(
        [
            b'{"id": "ok1", "text": "a"}',
            b"\xff\xfe not utf-8",
            b"{broken",
            deep,
            b"[" * 70 + b"]" * 70,
            b'"just a string"',
            b"{}",
            b'{"id": "x", "text": 42}',
            b"\x00\x01\x02\x03" * 100,
            b'{"id": "big", "text": "' + b"a" * 5000 + b'"}',
            b'{"id": "ok2", "text": "b"}',
        ]
    )
    results = _scan(data, max_line_bytes=4096)
    assert len(results) == 11
    assert results[0]["id"] == "ok1" and results[-1]["id"] == "ok2"
    errors = [str(r.get("error", "")) for r in results[1:-1]]
    assert errors[0].startswith("invalid UTF-8 at byte 0")
    assert errors[1].startswith("not JSON")
    assert "nested deeper" in errors[2] or "longer than" in errors[2]
    assert "nested deeper than 64" in errors[3]
    assert errors[4] == "expected a JSON object"
    assert "neither 'text'" in errors[5]
    assert errors[6] == "'text' must be a string" and results[7]["id"] == "x"
    assert errors[7].startswith(("invalid UTF-8", "not JSON"))
    assert "longer than 4096 bytes" in errors[8]


def test_depth_is_refused_from_one_level_over_the_limit() -> None:
    """The bracket count only skips the walk where a line cannot be too deep."""
    results = _scan(b"\n".join([b"[" * 65 + b"]" * 65, b"[" * 64 + b"]" * 64]))
    assert results[0]["error"] == "JSON nested deeper than 64 levels"
    assert results[1]["error"] == "expected a JSON object"
