"""The deployment's wiring, declared once: the Pulumi program and the local runner both read
this, so what runs locally is what ``pulumi up`` creates.

- the functions and what invokes each: EventBridge routes (``FUNCTIONS``, ``ROUTES``,
  ``SCHEDULES``) or an AWS service directly (``INVOKED_DIRECTLY``: Secrets Manager calls
  ``rotate``, API Gateway calls ``proxy``);
- a route is an EventBridge rule (pattern) with one target function, its retry policy and its
  dead-letter queue. Salesforce events that no route claims go to ``unrouted``, which
  dead-letters them with the reason, so nothing is dropped silently;
- the names of break-glass resources and the trust policy of the role a grant opens;
- how long each store keeps what it holds (``RETENTION``; the evidence buckets: their Object
  Lock, ``AUDIT_RETENTION_DAYS``), and what no one but the
  break-glass role may do to evidence (``evidence_tamper_deny``): the stack creates them so,
  the local stack too, and the Art. 30 report states them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sovgw.contracts import CLASSIFY_SOURCE, SALESFORCE_SOURCES


@dataclass(frozen=True)
class RetryPolicy:
    """EventBridge target retries (production) and SQS receives before dead-lettering (local)."""

    maximum_retry_attempts: int = 185
    maximum_event_age_seconds: int = 86_400
    local_max_receives: int = 4


@dataclass(frozen=True)
class Function:
    """A Lambda function: its handler and the settings the stack gives it."""

    name: str
    handler: str
    timeout_seconds: int = 60
    memory_mb: int = 512
    reserved_concurrency: int = 10
    invoked_by: str = "events.amazonaws.com"


@dataclass(frozen=True)
class Route:
    rule: str
    function: str
    pattern: dict[str, Any]
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def from_salesforce(self) -> bool:
        """Carries Salesforce events: its rule goes on each org's partner event bus, and on
        the jurisdiction's own bus, where recovered events are put back (``relay replay``)."""
        return any(
            isinstance(s, dict) and str(s.get("prefix", "")).startswith(SALESFORCE_SOURCES)
            for s in self.pattern.get("source", [])
        )


# Set on every function: pydantic skips its scan of installed packages for plugins (none are
# used), which costs each cold start several milliseconds.
RUNTIME_ENVIRONMENT = {"PYDANTIC_DISABLE_PLUGINS": "__all__"}

FUNCTIONS: tuple[Function, ...] = (
    Function("classify", "functions.classify.handler.lambda_handler"),
    Function("route", "functions.route.handler.lambda_handler", timeout_seconds=120),
    Function("unrouted", "functions.unrouted.handler.lambda_handler", memory_mb=256),
    Function("break_glass", "functions.break_glass.handler.lambda_handler", timeout_seconds=300),
    Function(
        "seal", "functions.seal.handler.lambda_handler", timeout_seconds=300, reserved_concurrency=1
    ),
    Function(
        "relay_watch",
        "functions.relay_watch.handler.lambda_handler",
        memory_mb=256,
        reserved_concurrency=2,
    ),
    Function(
        "incident_clock",
        "functions.incident_clock.handler.lambda_handler",
        memory_mb=256,
        reserved_concurrency=1,
    ),
    Function(
        "anomaly_watch",
        "functions.anomaly_watch.handler.lambda_handler",
        timeout_seconds=300,
        reserved_concurrency=1,
    ),
)
# Invoked by an AWS service, not by a route.
INVOKED_DIRECTLY: tuple[Function, ...] = (
    Function(
        "rotate",
        "functions.rotate.handler.lambda_handler",
        timeout_seconds=120,
        reserved_concurrency=2,
        invoked_by="secretsmanager.amazonaws.com",
    ),
    Function(  # the proxy app under the Lambda Web Adapter; streams for up to 15 minutes
        "proxy",
        "functions/proxy/run.sh",
        timeout_seconds=900,
        memory_mb=1024,
        reserved_concurrency=50,
        invoked_by="apigateway.amazonaws.com",
    ),
)
# Functions that also run on a schedule (rule on the default bus): function → expression.
SCHEDULES = {
    "seal": "rate(1 hour)",
    "break_glass": "rate(1 minute)",
    "relay_watch": "rate(1 minute)",  # one heartbeat per org and period (HEARTBEAT_PERIOD_S)
    "incident_clock": "rate(15 minutes)",  # the shortest clock (24 h) is at risk for 6 h
    "anomaly_watch": "rate(15 minutes)",  # an hour is judged within 15 minutes of its end
}
HEARTBEAT_PERIOD_S = 60

BREAK_GLASS_EVENTS = ("Break_Glass_Request__e", "Break_Glass_Approval__e")
HEARTBEAT_EVENT = "Sovgw_Heartbeat__e"
ROUTED_SALESFORCE_EVENTS = ("AI_Request__e", *BREAK_GLASS_EVENTS, HEARTBEAT_EVENT)
# What a Salesforce route's rule matches as source: Event Relay's partner source, or the same
# source put back on the jurisdiction's bus by ``relay replay``.
FROM_SALESFORCE = [{"prefix": prefix} for prefix in SALESFORCE_SOURCES]

ROUTES: tuple[Route, ...] = (
    Route(
        "salesforce-ai-request",
        "classify",
        {"source": FROM_SALESFORCE, "detail-type": ["AI_Request__e"]},
    ),
    Route(
        "request-classified",
        "route",
        {"source": [CLASSIFY_SOURCE], "detail-type": ["RequestClassified"]},
    ),
    Route(
        "salesforce-break-glass",
        "break_glass",
        {
            "source": FROM_SALESFORCE,
            "detail-type": list(BREAK_GLASS_EVENTS),
        },
        # A decision is not worth retrying for long: refused input is dead-lettered at once,
        # a store or Salesforce outage is retried a few times.
        RetryPolicy(maximum_retry_attempts=10, maximum_event_age_seconds=900),
    ),
    Route(
        "salesforce-heartbeat",
        "relay_watch",
        {"source": FROM_SALESFORCE, "detail-type": [HEARTBEAT_EVENT]},
        # A late heartbeat is worth nothing: the next one comes within a minute.
        RetryPolicy(maximum_retry_attempts=2, maximum_event_age_seconds=120),
    ),
    Route(
        "salesforce-unrouted",
        "unrouted",
        {
            "source": FROM_SALESFORCE,
            "detail-type": [{"anything-but": list(ROUTED_SALESFORCE_EVENTS)}],
        },
        RetryPolicy(local_max_receives=1),
    ),
)


def function(name: str) -> Function:
    return next(f for f in (*FUNCTIONS, *INVOKED_DIRECTLY, *DATASET_FUNCTIONS) if f.name == name)


def function_name(jurisdiction_id: str, name: str) -> str:
    """The Lambda function's name in the jurisdiction's account."""
    return f"sovgw-{jurisdiction_id}-{name}"


def rule_name(jurisdiction_id: str, route: Route) -> str:
    return f"sovgw-{jurisdiction_id}-{route.rule}"


def queue_name(jurisdiction_id: str, function_name: str) -> str:
    """The local runner's delivery queue for a function (EventBridge → SQS → in-process)."""
    return f"sovgw-{jurisdiction_id}-{function_name}"


def dead_letter_queue_name(jurisdiction_id: str, function_name: str) -> str:
    """Where a function's failed or rejected events land, with the reason (both environments)."""
    return f"sovgw-{jurisdiction_id}-{function_name}-dlq"


# --- retention: how long each store keeps what it holds --------------------------------------

AUDIT_RETENTION_DAYS = 3650  # Object Lock COMPLIANCE default retention of evidence
LOG_RETENTION_DAYS = 400  # function logs (redacted: no personal values)
FLOW_LOG_RETENTION_DAYS = 365
EVENT_ARCHIVE_RETENTION_DAYS = 4  # covers relay replay (72 h) plus a day of EventBridge retries
DEAD_LETTER_RETENTION_DAYS = 14  # SQS's maximum: an operator has two weeks to redrive
PSEUDONYM_MAPPING_TTL_HOURS = 1  # placeholder → value mappings, KMS-sealed
SALESFORCE_SESSION_TTL_HOURS = 24  # shared Salesforce sessions, KMS-sealed


@dataclass(frozen=True)
class Retention:
    """One store of the deployment: what it holds and when that is erased."""

    store: str
    holds: str
    days: float
    erasure: str


RETENTION = (
    Retention(
        "Event archive (EventBridge, per org bus)",
        "Salesforce platform events as relayed: record ids, purpose, requester id",
        EVENT_ARCHIVE_RETENTION_DAYS,
        "expires with the archive's retention",
    ),
    Retention(
        "Dead-letter queues (SQS, KMS)",
        "events that failed or were refused, with the reason",
        DEAD_LETTER_RETENTION_DAYS,
        "SQS deletes messages at the end of their retention",
    ),
    Retention(
        "Pseudonymisation mappings (shared store, KMS-sealed)",
        "placeholder to personal value, to restore a model answer",
        PSEUDONYM_MAPPING_TTL_HOURS / 24,
        "expire; sealed with the jurisdiction key, useless after",
    ),
    Retention(
        "Salesforce sessions (shared store, KMS-sealed)",
        "access tokens, no personal data",
        SALESFORCE_SESSION_TTL_HOURS / 24,
        "expire; revoked at the end of a break-glass grant",
    ),
    Retention(
        "Function logs (CloudWatch Logs, KMS)",
        "operational events, personal values redacted",
        LOG_RETENTION_DAYS,
        "deleted by the log group's retention",
    ),
    Retention(
        "VPC flow logs (CloudWatch Logs, KMS)",
        "network metadata of the private subnets",
        FLOW_LOG_RETENTION_DAYS,
        "deleted by the log group's retention",
    ),
)

# Hiding evidence (a delete marker), or loosening what protects it. Object Lock already refuses
# to delete a locked version; this also refuses the marker, at the source.
TAMPER_ACTIONS = (
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketVersioning",
    "s3:PutObjectLegalHold",
    "s3:PutBucketObjectLockConfiguration",
)
TAMPER_DENY_SID = "DenyTamperingExceptBreakGlass"


def evidence_tamper_deny(bucket_arn: str, exempt_role_arn: str) -> dict[str, Any]:
    """Deny ``TAMPER_ACTIONS`` on an evidence bucket to every principal but the one named role."""
    return {
        "Sid": TAMPER_DENY_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": list(TAMPER_ACTIONS),
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"ArnNotEquals": {"aws:PrincipalArn": exempt_role_arn}},
    }


# --- break-glass: what a grant opens in AWS ------------------------------------------------

# Case change events a grant may switch on for an investigation (a disabled rule until then).
CASE_CHANGES_PATTERN: dict[str, Any] = {"detail-type": [{"suffix": "ChangeEvent"}]}


def break_glass_role_name(jurisdiction_id: str) -> str:
    """The role a grant opens (no permissions of its own)."""
    return f"sovgw-{jurisdiction_id}-break-glass"


def break_glass_role_arn(account_id: str, jurisdiction_id: str) -> str:
    """The break-glass role's ARN: also the only principal an evidence bucket lets delete."""
    return f"arn:aws:iam::{account_id}:role/{break_glass_role_name(jurisdiction_id)}"


def break_glass_schedule_group(jurisdiction_id: str) -> str:
    """Where each grant's one-time expiry schedule lives."""
    return f"sovgw-{jurisdiction_id}-break-glass"


def scheduler_role_name(jurisdiction_id: str) -> str:
    """The role EventBridge Scheduler uses to invoke the expiry."""
    return f"sovgw-{jurisdiction_id}-scheduler"


def case_changes_rule_name(jurisdiction_id: str) -> str:
    return f"sovgw-{jurisdiction_id}-case-changes"


def break_glass_trust_policy(account_id: str) -> dict[str, Any]:
    """Who may assume the break-glass role: people of the account tagged as break-glass
    operators, with an MFA sign-in under 15 minutes old, naming a grant in a session tag."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OperatorsWithFreshMfaNamingAGrant",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Condition": {
                    "Bool": {"aws:MultiFactorAuthPresent": "true"},
                    "NumericLessThan": {"aws:MultiFactorAuthAge": "900"},
                    "StringEquals": {"aws:PrincipalTag/sovgw-break-glass": "operator"},
                    "Null": {"aws:RequestTag/sovgw-grant": "false"},
                },
            }
        ],
    }


# --- Training datasets: the scan's distributed map --------------------------------------------

DATASET_SCAN = "dataset_scan"
DATASET_RECONCILE = "dataset_reconcile"
DATASET_FUNCTIONS: tuple[Function, ...] = (
    # A part is one Bulk API results page (≤ 100,000 records): scanned well within 15 minutes.
    Function(
        DATASET_SCAN,
        "functions.dataset_scan.handler.lambda_handler",
        timeout_seconds=900,
        memory_mb=2048,
        reserved_concurrency=40,
        invoked_by="states.amazonaws.com",
    ),
    Function(
        DATASET_RECONCILE,
        "functions.dataset_reconcile.handler.lambda_handler",
        timeout_seconds=300,
        reserved_concurrency=2,
        invoked_by="states.amazonaws.com",
    ),
)
# At most this many parts scanned at once (the scan function's reserved concurrency), and no
# failed item tolerated: a part that still fails after its retries fails the map, and the
# reconcile step that runs anyway names it in the manifest (``not scanned``).
DATASET_SCAN_MAX_CONCURRENCY = 40
# A float: LocalStack 4.14's ASL parser refuses an integer here (AWS takes either).
DATASET_SCAN_TOLERATED_FAILURE_PERCENTAGE = 0.0
_LAMBDA_TRANSIENT = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]


def dataset_state_machine_name(jurisdiction_id: str) -> str:
    return f"sovgw-{jurisdiction_id}-dataset-scan"


def dataset_scan_definition(
    bucket: str, scan_function_arn: str, reconcile_function_arn: str
) -> dict[str, Any]:
    """The scan of one build: a Distributed Map over the build's items file (a JSON array in
    the dataset bucket, read by the map's ItemReader; no ItemBatcher, no JSONL reader, which
    LocalStack 4.14 cannot parse), then the reconcile step, which runs even when the map
    failed. Input: ``{"dataset", "build_id", "items_key"}``."""

    def invoke(function_arn: str, payload: dict[str, Any] | str) -> dict[str, Any]:
        parameters: dict[str, Any] = {"FunctionName": function_arn}
        if isinstance(payload, str):
            parameters["Payload.$"] = payload
        else:
            parameters["Payload"] = payload
        return {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": parameters,
            "OutputPath": "$.Payload",
            "Retry": [
                {
                    "ErrorEquals": _LAMBDA_TRANSIENT,
                    "IntervalSeconds": 2,
                    "MaxAttempts": 6,
                    "BackoffRate": 2.0,
                },
                {
                    "ErrorEquals": ["States.TaskFailed"],
                    "IntervalSeconds": 30,
                    "MaxAttempts": 3,
                    "BackoffRate": 2.0,
                },
            ],
            "End": True,
        }

    return {
        "Comment": "Scan a dataset build's part files, then reconcile its manifest",
        "StartAt": "ScanParts",
        "States": {
            "ScanParts": {
                "Type": "Map",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:getObject",
                    "ReaderConfig": {"InputType": "JSON"},
                    "Parameters": {"Bucket": bucket, "Key.$": "$.items_key"},
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "ScanPart",
                    "States": {"ScanPart": invoke(scan_function_arn, "$")},
                },
                "MaxConcurrency": DATASET_SCAN_MAX_CONCURRENCY,
                "ToleratedFailurePercentage": DATASET_SCAN_TOLERATED_FAILURE_PERCENTAGE,
                "ResultPath": None,  # each part's result is in the bucket, not in the state
                "Catch": [
                    {
                        "ErrorEquals": ["States.ALL"],
                        "ResultPath": "$.scan_error",
                        "Next": "Reconcile",
                    }
                ],
                "Next": "Reconcile",
            },
            "Reconcile": invoke(
                reconcile_function_arn, {"dataset.$": "$.dataset", "build_id.$": "$.build_id"}
            ),
        },
    }
