"""What anchoring costs an audit write: the same records written to an Object Lock bucket in
LocalStack S3, with and without the anchor in a real redis-server, interleaved one by one so
both see the same machine load. Reported as JSON: latency per write for each path, the
anchor's own round trip, and the added cost in ms and as a ratio.

LocalStack's S3 answers in a few ms where S3 in a region takes tens of ms, and Valkey in the
VPC takes about as long as the local redis-server over loopback plus the network hop, so the
ratio here is an upper bound of the ratio in AWS; the added ms is what to compare.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from benchmarks.report import emit
from sovgw.adapters.aws.audit import S3AuditSink
from sovgw.adapters.valkey_anchors import ValkeyAuditAnchors
from sovgw.domain.audit import AuditRecord, Outcome, Stage
from sovgw.local.localstack import DEFAULT_PORT, start_localstack
from sovgw.local.valkey import start_valkey

REGION = "eu-central-1"


def _record(org: str) -> AuditRecord:
    return AuditRecord(
        record_id=str(uuid.uuid4()),
        stage=Stage.ROUTING,
        jurisdiction="eu-de",
        org_id=org,
        outcome=Outcome.OK,
        time=datetime.now(UTC),
        rule_id="residency.sovereign-in-region",
        data_level="PERSONAL",
    )


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3),
        "mean_ms": round(statistics.fmean(ordered), 3),
    }


def _s3(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def run(records: int, localstack_venv: Path, port: int = DEFAULT_PORT) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as state:
        localstack = start_localstack(localstack_venv, Path(state) / "localstack", port)
        valkey = start_valkey(Path(state) / "valkey")
        try:
            s3 = _s3(localstack.url)
            bucket = f"sovgw-bench-audit-{uuid.uuid4().hex[:8]}"
            s3.create_bucket(
                Bucket=bucket,
                CreateBucketConfiguration={"LocationConstraint": REGION},
                ObjectLockEnabledForBucket=True,
            )
            anchors = ValkeyAuditAnchors(valkey.client(), prefix="bench")
            plain, anchored = S3AuditSink(s3, bucket), S3AuditSink(s3, bucket, anchors=anchors)
            timings: dict[str, list[float]] = {"plain": [], "anchored": [], "anchor_only": []}
            for warm in range(5):  # connections and the script's first load
                anchored.write(_record("00D000000000WARM"))
                anchors.append("eu-de/00D000000000WARM", f"w{warm}", "0" * 64)
            paths = (("plain", plain), ("anchored", anchored))
            for i in range(records):
                for name, sink in paths if i % 2 == 0 else paths[::-1]:  # neither always first
                    record = _record(f"00D0000000{i % 7:05d}")
                    began = time.perf_counter()
                    sink.write(record)
                    timings[name].append((time.perf_counter() - began) * 1000)
                began = time.perf_counter()
                anchors.append("eu-de/00D000000000ONLY", f"a{i}", "0" * 64)
                timings["anchor_only"].append((time.perf_counter() - began) * 1000)
        finally:
            valkey.stop()
            localstack.stop()
    report = {name: _summary(samples) for name, samples in timings.items()}
    added = report["anchored"]["p50_ms"] - report["plain"]["p50_ms"]
    return {
        "benchmark": "audit-write-anchor-cost",
        "records_per_path": records,
        "s3": "LocalStack 4.14 S3, Object Lock bucket, loopback",
        "anchor_store": "redis-server (Valkey protocol), loopback",
        "write": report,
        "added_p50_ms": round(added, 3),
        "ratio_p50": round(report["anchored"]["p50_ms"] / report["plain"]["p50_ms"], 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--localstack-venv", type=Path, default=Path(".localstack-venv"))
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    emit(run(args.records, args.localstack_venv, args.port), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
