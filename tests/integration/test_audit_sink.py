"""The audit sink when S3 is unreachable: a retryable error, so the runner retries and then
dead-letters the event; the record is never silently dropped."""

import boto3
import pytest
from botocore.config import Config

from sovgw.adapters.aws.audit import S3AuditSink
from sovgw.domain.audit import AuditRecord, Outcome, Stage
from sovgw.domain.errors import UpstreamUnavailable


def test_audit_store_outage_is_retryable_not_lost() -> None:
    unreachable = boto3.client(
        "s3",
        region_name="eu-central-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    record = AuditRecord(
        record_id="r1", stage=Stage.ROUTING, jurisdiction="eu-de", outcome=Outcome.OK
    )
    with pytest.raises(UpstreamUnavailable, match="audit store unreachable"):
        S3AuditSink(unreachable, "sovgw-audit-eu-de").write(record)
