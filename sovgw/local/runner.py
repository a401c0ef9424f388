"""Local runner: one jurisdiction's wiring in LocalStack, handlers invoked in-process.

Production wiring is EventBridge → Lambda. LocalStack cannot run Lambda here, so each rule
targets an SQS queue per function and this runner plays Lambda's part: it receives a batch,
invokes the real handler with the exact EventBridge event, deletes what succeeded (partial
batch failure), backs off what failed, and after ``local_max_receives`` moves the message to
the function's dead-letter queue with the reason.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from botocore.exceptions import ClientError

from sovgw.app.bootstrap import Dependencies
from sovgw.app.invocation import EventLogic, logger, run_handler
from sovgw.config import Jurisdiction
from sovgw.wiring import (
    CASE_CHANGES_PATTERN,
    FUNCTIONS,
    ROUTES,
    RetryPolicy,
    Route,
    break_glass_role_arn,
    break_glass_role_name,
    break_glass_schedule_group,
    break_glass_trust_policy,
    case_changes_rule_name,
    dead_letter_queue_name,
    evidence_tamper_deny,
    function,
    queue_name,
    rule_name,
)

# A day, not the stack's ten years: LocalStack keeps locked versions as S3 does, and tests
# may purge only an unlocked bucket.
LOCAL_AUDIT_RETENTION_DAYS = 1


@dataclass(frozen=True)
class Delivery:
    """What happened to one delivered event (for the demo's table and for tests)."""

    function: str
    event_id: str
    status: str
    result: Mapping[str, Any]


def _max_receives(function_name: str) -> int:
    """Deliveries before dead-lettering: the strictest route's (a scheduled-only function
    has no route and gets the default)."""
    return max(
        (r.retry.local_max_receives for r in ROUTES if r.function == function_name),
        default=RetryPolicy().local_max_receives,
    )


def logic_for(function_name: str) -> EventLogic:
    """The handler logic (``handle``) of a declared function, imported by its name."""
    module_path = function(function_name).handler.rsplit(".", 1)[0]
    logic: EventLogic = import_module(module_path).handle
    return logic


class LocalDeployment:
    """Provisions and runs one jurisdiction's functions against LocalStack."""

    def __init__(
        self,
        jurisdiction: Jurisdiction,
        deps: Dependencies,
        session: Any,
        backoff_seconds: float = 1.0,
    ) -> None:
        self.jurisdiction = jurisdiction
        self.deps = deps
        self._session = session
        self._sqs = session.client("sqs")
        self._events = session.client("events")
        self._s3 = session.client("s3")
        self._backoff = backoff_seconds
        self.queue_urls: dict[str, str] = {}
        self.dlq_urls: dict[str, str] = {}
        self.deliveries: list[Delivery] = []
        self._deliveries_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- provisioning -----------------------------------------------------------------------

    def provision(self) -> None:
        """Create the buckets, the bus, one queue + DLQ per function and the rules."""
        self._create_audit_bucket()
        self._create_data_buckets()
        self._create_digest_signing_key()
        for bus in self.buses():
            try:
                self._events.create_event_bus(Name=bus)
            except ClientError as error:
                if error.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                    raise
        for fn in FUNCTIONS:
            self._create_queues(fn.name)
        for fn in FUNCTIONS:
            self._create_rules(fn.name)
        self._create_break_glass_resources()

    def buses(self) -> dict[str, str]:
        """Bus name → rule-name suffix, as the stack makes them: the jurisdiction's own bus,
        and one partner event bus per org, named after the org's Event Relay source."""
        orgs = [o for o in self.deps.config.orgs if o.jurisdiction == self.jurisdiction.id]
        return {
            self.jurisdiction.event_bus: "",
            **{org.event_source: f"-{org.org_id[:15]}" for org in orgs},
        }

    def _create_break_glass_resources(self) -> None:
        """What the stack gives break-glass: the schedule group, the AWS role a grant may
        open, and a subscription (disabled) a grant may switch on."""
        j = self.jurisdiction
        scheduler = self._session.client("scheduler")
        with contextlib.suppress(ClientError):
            scheduler.create_schedule_group(Name=break_glass_schedule_group(j.id))
        iam = self._session.client("iam")
        account = self._session.client("sts").get_caller_identity()["Account"]
        with contextlib.suppress(ClientError):
            iam.create_role(
                RoleName=break_glass_role_name(j.id),
                AssumeRolePolicyDocument=json.dumps(break_glass_trust_policy(account)),
            )
        self._events.put_rule(
            Name=case_changes_rule_name(j.id),
            EventBusName=j.event_bus,
            EventPattern=json.dumps(CASE_CHANGES_PATTERN),
            State="DISABLED",
        )

    def _ensure_bucket(self, bucket: str, **settings: Any) -> None:
        """Create ``bucket`` in the jurisdiction's region unless it already exists."""
        if self.jurisdiction.region != "us-east-1":
            settings["CreateBucketConfiguration"] = {"LocationConstraint": self.jurisdiction.region}
        try:
            self._s3.create_bucket(Bucket=bucket, **settings)
        except ClientError as error:
            if error.response["Error"]["Code"] not in {
                "BucketAlreadyOwnedByYou",
                "BucketAlreadyExists",
            }:
                raise

    def _create_audit_bucket(self) -> None:
        """As the stack's: Object Lock (COMPLIANCE), SSE-KMS with the jurisdiction key, and
        the tamper deny in its policy (which LocalStack stores but does not enforce)."""
        bucket = self.jurisdiction.audit_bucket
        self._ensure_bucket(bucket, ObjectLockEnabledForBucket=True)
        self._s3.put_object_lock_configuration(
            Bucket=bucket,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {
                    "DefaultRetention": {"Mode": "COMPLIANCE", "Days": LOCAL_AUDIT_RETENTION_DAYS}
                },
            },
        )
        self._encrypt_with_jurisdiction_key(bucket)
        account = self._session.client("sts").get_caller_identity()["Account"]
        arn = f"arn:aws:s3:::{bucket}"
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                evidence_tamper_deny(arn, break_glass_role_arn(account, self.jurisdiction.id))
            ],
        }
        self._s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))

    def _encrypt_with_jurisdiction_key(self, bucket: str) -> None:
        """SSE-KMS with the jurisdiction's key by default, as the stack's buckets."""
        self._s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": self._jurisdiction_key(),
                        },
                        "BucketKeyEnabled": True,
                    }
                ]
            },
        )

    def _jurisdiction_key(self) -> str:
        """The jurisdiction's customer-managed KMS key (created once, found by alias)."""
        kms = self._session.client("kms")
        alias = self.jurisdiction.kms_alias
        try:
            return str(kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"])
        except ClientError as error:
            if error.response["Error"]["Code"] != "NotFoundException":
                raise
        arn = str(kms.create_key(Description=f"sovgw {self.jurisdiction.id}")["KeyMetadata"]["Arn"])
        kms.create_alias(AliasName=alias, TargetKeyId=arn)
        kms.enable_key_rotation(KeyId=arn)
        return arn

    def _create_digest_signing_key(self) -> None:
        """Asymmetric key that signs audit digests (verification needs only its public key)."""
        kms = self._session.client("kms")
        alias = self.jurisdiction.digest_signing_key_alias
        try:
            kms.describe_key(KeyId=alias)
            return
        except ClientError as error:
            if error.response["Error"]["Code"] != "NotFoundException":
                raise
        key = kms.create_key(
            Description=f"sovgw {self.jurisdiction.id} audit digests",
            KeySpec="ECC_NIST_P256",
            KeyUsage="SIGN_VERIFY",
        )
        kms.create_alias(AliasName=alias, TargetKeyId=key["KeyMetadata"]["KeyId"])

    def _create_data_buckets(self) -> None:
        """The models and datasets buckets, SSE-KMS with the jurisdiction key."""
        for bucket in (self.jurisdiction.models_bucket, self.jurisdiction.datasets_bucket):
            self._ensure_bucket(bucket)
            self._encrypt_with_jurisdiction_key(bucket)

    def _create_queues(self, function_name: str) -> None:
        dlq_url = self._sqs.create_queue(
            QueueName=dead_letter_queue_name(self.jurisdiction.id, function_name),
            Attributes={"MessageRetentionPeriod": "1209600"},
        )["QueueUrl"]
        dlq_arn = self._sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        max_receives = _max_receives(function_name)
        url = self._sqs.create_queue(
            QueueName=queue_name(self.jurisdiction.id, function_name),
            Attributes={
                "VisibilityTimeout": str(function(function_name).timeout_seconds),
                # Backstop only: the runner dead-letters first, with the reason attached.
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives + 2}
                ),
            },
        )["QueueUrl"]
        self.queue_urls[function_name] = url
        self.dlq_urls[function_name] = dlq_url

    def _create_rules(self, function_name: str) -> None:
        """Every rule that targets ``function_name``, on every bus that carries its route;
        the queue lets exactly those rules send to it."""
        queue_url = self.queue_urls[function_name]
        queue_arn = self._sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        rules: list[tuple[str, str, Route]] = [
            (bus, f"{rule_name(self.jurisdiction.id, route)}{suffix}", route)
            for route in ROUTES
            if route.function == function_name
            for bus, suffix in self.buses().items()
            if suffix == "" or route.from_salesforce
        ]
        if not rules:
            return
        rule_arns = [
            self._events.put_rule(
                Name=name, EventBusName=bus, EventPattern=json.dumps(route.pattern)
            )["RuleArn"]
            for bus, name, route in rules
        ]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": rule_arns}},
                }
            ],
        }
        self._sqs.set_queue_attributes(
            QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)}
        )
        for bus, name, _ in rules:
            self._events.put_targets(
                Rule=name, EventBusName=bus, Targets=[{"Id": function_name, "Arn": queue_arn}]
            )

    def _record(self, delivery: Delivery) -> None:
        with self._deliveries_lock:
            self.deliveries.append(delivery)

    def poll_once(self, function_name: str, wait_seconds: int = 1) -> int:
        """Receive one batch for ``function_name`` and process it; returns messages handled."""
        url = self.queue_urls[function_name]
        max_receives = _max_receives(function_name)
        messages = self._sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        ).get("Messages", [])
        logic = logic_for(function_name)
        done: list[dict[str, str]] = []
        for message in messages:
            receives = int(message["Attributes"]["ApproximateReceiveCount"])
            handled = self._invoke(function_name, logic, message["Body"], receives, max_receives)
            if handled:
                done.append({"Id": message["MessageId"], "ReceiptHandle": message["ReceiptHandle"]})
            else:
                delay = min(int(self._backoff * 2 ** (receives - 1)), 300)
                self._sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=delay
                )
        if done:
            self._sqs.delete_message_batch(QueueUrl=url, Entries=done)
        return len(messages)

    def _invoke(
        self, function_name: str, logic: EventLogic, body: str, receives: int, max_receives: int
    ) -> bool:
        """True when the message is finished with (success or dead-lettered)."""
        try:
            event: dict[str, Any] = json.loads(body)
        except json.JSONDecodeError:
            self.deps.dead_letters.send(
                function_name,
                {"unparsable_body": body[:4096]},
                "message body is not JSON",
                receives,
            )
            self._record(Delivery(function_name, "?", "dead-lettered", {"reason": "not JSON"}))
            return True
        event_id = str(event.get("id", "?"))
        try:
            result = run_handler(function_name, logic, event, self.deps)
        except Exception as error:
            reason = f"{type(error).__name__}: {error}"
            if receives < max_receives:
                self._record(Delivery(function_name, event_id, "retrying", {"reason": reason}))
                return False
            self.deps.dead_letters.send(
                function_name, event, f"gave up after {receives} attempts: {reason}", receives
            )
            self._record(Delivery(function_name, event_id, "dead-lettered", {"reason": reason}))
            return True
        self._record(Delivery(function_name, event_id, str(result.get("status")), result))
        return True

    def start(self, sweep_interval_s: float = 2.0) -> None:
        """Poll every function's queue in a background thread each, and run the break-glass
        sweeper on a clock (EventBridge Scheduler never fires in LocalStack)."""
        for fn in FUNCTIONS:
            thread = threading.Thread(target=self._loop, args=(fn.name,), daemon=True)
            thread.start()
            self._threads.append(thread)
        sweeper = threading.Thread(target=self._sweep_loop, args=(sweep_interval_s,), daemon=True)
        sweeper.start()
        self._threads.append(sweeper)

    def sweep_once(self) -> dict[str, Any]:
        """One break-glass sweeper tick, as the stack's schedule sends it."""
        return self.tick("break_glass")

    def tick(self, function_name: str) -> dict[str, Any]:
        """One tick of a scheduled function (``sovgw.wiring.SCHEDULES``), run in-process."""
        logic = logic_for(function_name)
        tick = {
            "version": "0",
            "id": f"tick-{uuid.uuid4()}",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "000000000000",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": self.jurisdiction.region,
            "resources": [],
            "detail": {},
        }
        return run_handler(function_name, logic, tick, self.deps)

    def _sweep_loop(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                self.sweep_once()
            except Exception as error:
                logger.warning("sweep failed", error=type(error).__name__)

    def _loop(self, function_name: str) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(function_name)
            except Exception as error:
                logger.warning("poll failed", function=function_name, error=type(error).__name__)
                time.sleep(1)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def dead_letters(self, function_name: str) -> list[dict[str, Any]]:
        """Messages now in a function's DLQ, with their reason (they stay in the queue)."""
        found: list[dict[str, Any]] = []
        response = self._sqs.receive_message(
            QueueUrl=self.dlq_urls[function_name],
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=0,
            WaitTimeSeconds=0,
        )
        for message in response.get("Messages", []):
            attributes = message.get("MessageAttributes", {})
            found.append(
                {
                    "event": json.loads(message["Body"]),
                    "reason": attributes.get("reason", {}).get("StringValue"),
                    "attempts": attributes.get("attempts", {}).get("StringValue"),
                }
            )
        return found
