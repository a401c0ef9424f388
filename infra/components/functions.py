"""The Lambda functions of one jurisdiction, declared in ``sovgw/wiring.py``.

python3.13 on arm64 in the private subnets, one least-privilege role per function (no
``*`` action anywhere), reserved concurrency, X-Ray tracing, and asynchronous invocation
retries with an on-failure destination: EventBridge invokes Lambda asynchronously, so a
failing function's events reach its DLQ through Lambda, not through the rule.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.components.lambdas import (
    FunctionSpec,
    LambdaPlacement,
    base_statements,
    function_role,
    invoke_endpoints_statement,
    private_function,
)
from sovgw.adapters.anomaly_metrics import ANOMALY_METRICS_SERVICE, SUSPENDED_PRINCIPALS_METRIC
from sovgw.adapters.budget_metrics import NAMESPACE as METRIC_NAMESPACE
from sovgw.adapters.incident_metrics import INCIDENT_CLOCKS_METRIC, INCIDENT_METRICS_SERVICE
from sovgw.adapters.relay_metrics import RELAY_GAP_METRIC, RELAY_METRICS_SERVICE
from sovgw.config import Jurisdiction, OrgBinding
from sovgw.wiring import (
    DEAD_LETTER_RETENTION_DAYS,
    FUNCTIONS,
    Function,
    break_glass_role_arn,
    break_glass_schedule_group,
    case_changes_rule_name,
    dead_letter_queue_name,
    function_name,
    scheduler_role_name,
)

ASYNC_RETRIES = 2
# Functions that call Salesforce (the org's credential pool), and those that reach the shared
# store: the budget, sessions, and the relay ledger every Salesforce-event handler writes.
SALESFORCE_CALLERS = {"classify", "route", "break_glass", "relay_watch"}
STORE_USERS = SALESFORCE_CALLERS | {"unrouted", "anomaly_watch"}


@dataclass(frozen=True)
class FunctionsArgs(LambdaPlacement):
    orgs: tuple[OrgBinding, ...]
    model_endpoint_names: Sequence[str] = ()
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    budget_connect_arns: pulumi.Input[Sequence[str]] | None = None
    digest_key_arn: pulumi.Input[str] = ""


def _statements(
    fn: Function, args: FunctionsArgs, resolved: Mapping[str, Any]
) -> list[dict[str, Any]]:
    j = args.jurisdiction
    statements = base_statements(
        j,
        args.account_id,
        function_name(j.id, fn.name),
        audit_arn=resolved["audit"],
        key_arn=resolved["key"],
    )
    statements += [
        {
            "Effect": "Allow",
            "Action": ["sqs:SendMessage", "sqs:GetQueueUrl"],
            "Resource": [resolved["dlq"]],
        },
    ]
    if fn.name == "break_glass":
        statements.extend(_break_glass_statements(args))
    if fn.name == "seal":
        statements.extend(_sealer_statements(resolved))
    if fn.name in STORE_USERS and resolved.get("budget"):
        statements.append(
            {
                "Effect": "Allow",
                "Action": ["elasticache:Connect"],
                "Resource": list(resolved["budget"]),
            }
        )
    if fn.name in SALESFORCE_CALLERS:
        secrets = [
            f"arn:aws:secretsmanager:{j.region}:{args.account_id}:secret:{name}-*"
            for o in args.orgs
            for name, _ in o.credential_pool_secrets
        ]
        if fn.name == "relay_watch":  # the relay's feedback, as the org's monitor user
            secrets += [
                f"arn:aws:secretsmanager:{j.region}:{args.account_id}:secret:{o.relay_monitor_secret}-*"
                for o in args.orgs
            ]
        if secrets:
            statements.append(
                {
                    "Effect": "Allow",
                    "Action": ["secretsmanager:GetSecretValue"],
                    "Resource": secrets,
                }
            )
    if fn.name == "classify":
        statements.append(
            {"Effect": "Allow", "Action": ["events:PutEvents"], "Resource": [resolved["bus"]]}
        )
    if fn.name == "route" and args.model_endpoint_names:
        statements.append(
            invoke_endpoints_statement(j.region, args.account_id, args.model_endpoint_names)
        )
    return statements


def _sealer_statements(resolved: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Read the records, write digests, sign with the digest key (nothing else)."""
    return [
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [resolved["audit"]]},
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [f"{resolved['audit']}/*"]},
        {
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": [f"{resolved['audit']}/digests/*"],
        },
        {
            "Effect": "Allow",
            "Action": ["kms:Sign", "kms:GetPublicKey"],
            "Resource": [resolved["digest_key"]],
        },
    ]


def _break_glass_statements(args: FunctionsArgs) -> list[dict[str, Any]]:
    """Open and close grants: schedules, the break-glass role's sessions, the subscription
    rule, and the rotation of the emergency credential after a grant."""
    j, account = args.jurisdiction, args.account_id
    role = break_glass_role_arn(account, j.id)
    return [
        {
            "Effect": "Allow",
            "Action": ["scheduler:CreateSchedule", "scheduler:DeleteSchedule"],
            "Resource": [
                f"arn:aws:scheduler:{j.region}:{account}:schedule/"
                f"{break_glass_schedule_group(j.id)}/*"
            ],
        },
        {
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": [f"arn:aws:iam::{account}:role/{scheduler_role_name(j.id)}"],
        },
        {
            "Effect": "Allow",
            "Action": ["iam:PutRolePolicy", "iam:DeleteRolePolicy"],
            "Resource": [role],
        },
        {"Effect": "Allow", "Action": ["sts:GetCallerIdentity"], "Resource": ["*"]},
        {
            "Effect": "Allow",
            "Action": ["events:EnableRule", "events:DisableRule"],
            "Resource": [
                f"arn:aws:events:{j.region}:{account}:rule/{j.event_bus}/"
                f"{case_changes_rule_name(j.id)}"
            ],
        },
        {
            "Effect": "Allow",
            "Action": [
                "secretsmanager:DescribeSecret",
                "secretsmanager:PutSecretValue",
                "secretsmanager:UpdateSecretVersionStage",
            ],
            "Resource": [
                f"arn:aws:secretsmanager:{j.region}:{account}:secret:{o.credentials_secret}/emergency-*"
                for o in args.orgs
            ],
        },
    ]


def _policy_document(fn: Function, args: FunctionsArgs, resolved: Mapping[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": _statements(fn, args, resolved)})


class Functions(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: FunctionsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("sovgw:functions:Functions", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        j = args.jurisdiction
        bus_arn = f"arn:aws:events:{j.region}:{args.account_id}:event-bus/{j.event_bus}"
        self.dead_letter_queues = {
            fn.name: aws.sqs.Queue(
                f"{name}-{fn.name}-dlq",
                name=dead_letter_queue_name(j.id, fn.name),
                message_retention_seconds=DEAD_LETTER_RETENTION_DAYS * 86_400,
                kms_master_key_id=args.kms_key_arn,
                opts=child,
            )
            for fn in FUNCTIONS
        }
        self.functions: dict[str, aws.lambda_.Function] = {}
        self.roles: dict[str, aws.iam.Role] = {}
        for fn in FUNCTIONS:
            policy = pulumi.Output.all(
                audit=args.audit_bucket_arn,
                dlq=self.dead_letter_queues[fn.name].arn,
                key=args.kms_key_arn,
                bus=bus_arn,
                budget=args.budget_connect_arns or [],
                digest_key=args.digest_key_arn,
            ).apply(partial(_policy_document, fn, args))
            role = function_role(f"{name}-{fn.name}", policy, child)
            function = private_function(
                f"{name}-{fn.name}",
                args,
                role,
                FunctionSpec(
                    function_name=function_name(j.id, fn.name),
                    handler=fn.handler,
                    environment={
                        "SOVGW_JURISDICTION": j.id,
                        "SOVGW_CONFIG": "config/gateway.yaml",
                        "POWERTOOLS_SERVICE_NAME": f"sovgw-{fn.name}",
                        "POWERTOOLS_LOG_LEVEL": "INFO",
                        **args.environment,
                    },
                    timeout_s=fn.timeout_seconds,
                    memory_mb=fn.memory_mb,
                    reserved_concurrency=fn.reserved_concurrency,
                ),
                child,
            )
            aws.lambda_.FunctionEventInvokeConfig(
                f"{name}-{fn.name}",
                function_name=function.name,
                maximum_retry_attempts=ASYNC_RETRIES,
                maximum_event_age_in_seconds=21_600,
                destination_config={
                    "on_failure": {"destination": self.dead_letter_queues[fn.name].arn}
                },
                opts=child,
            )
            self.functions[fn.name] = function
            self.roles[fn.name] = role
        self.register_outputs({"functions": {k: f.name for k, f in self.functions.items()}})


def schedule_functions(
    name: str,
    jurisdiction: Jurisdiction,
    functions: Functions,
    schedules: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> None:
    """A scheduled rule per function (default bus), retried, failures to the function's DLQ."""
    for scheduled, expression in schedules.items():
        rule = aws.cloudwatch.EventRule(
            f"{name}-{scheduled}-schedule",
            name=f"{function_name(jurisdiction.id, scheduled)}-schedule",
            schedule_expression=expression,
            opts=opts,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-{scheduled}-schedule",
            rule=rule.name,
            arn=functions.functions[scheduled].arn,
            retry_policy={"maximum_retry_attempts": 2, "maximum_event_age_in_seconds": 3600},
            dead_letter_config={"arn": functions.dead_letter_queues[scheduled].arn},
            opts=opts,
        )
        aws.lambda_.Permission(
            f"{name}-{scheduled}-schedule",
            action="lambda:InvokeFunction",
            function=functions.functions[scheduled].name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
            opts=opts,
        )


def _alarm_on_one(
    resource: str,
    alarm_name: str,
    description: str,
    *,
    metric: str,
    dimensions: Mapping[str, str],
    period_s: int,
    opts: pulumi.ResourceOptions,
) -> aws.cloudwatch.MetricAlarm:
    """An alarm when a check's metric reaches 1 in a period, or when the check stops
    reporting (missing data breaches: a silent check proves nothing)."""
    return aws.cloudwatch.MetricAlarm(
        resource,
        name=alarm_name,
        alarm_description=description,
        namespace=METRIC_NAMESPACE,
        metric_name=metric,
        dimensions=dict(dimensions),
        statistic="Maximum",
        period=period_s,
        evaluation_periods=1,
        threshold=1,
        comparison_operator="GreaterThanOrEqualToThreshold",
        treat_missing_data="breaching",
        opts=opts,
    )


def incident_clock_alarm(
    name: str, jurisdiction: Jurisdiction, opts: pulumi.ResourceOptions
) -> aws.cloudwatch.MetricAlarm:
    """An open incident's legal clock (GDPR Art. 33, NIS2 Art. 23, FADP Art. 24) in its last
    quarter, or past due, with no recorded action."""
    return _alarm_on_one(
        f"{name}-incident-clock",
        f"sovgw-{jurisdiction.id}-incident-clock",
        f"{jurisdiction.id}: an incident's notification deadline is near or past with no "
        f"recorded action; see sovgw incident check --jurisdiction {jurisdiction.id}",
        metric=INCIDENT_CLOCKS_METRIC,
        dimensions={"Jurisdiction": jurisdiction.id, "service": INCIDENT_METRICS_SERVICE},
        period_s=900,
        opts=opts,
    )


def anomaly_alarm(
    name: str, jurisdiction: Jurisdiction, opts: pulumi.ResourceOptions
) -> aws.cloudwatch.MetricAlarm:
    """A principal suspended by a query-log anomaly (it stays in alarm until lifted)."""
    return _alarm_on_one(
        f"{name}-anomaly",
        f"sovgw-{jurisdiction.id}-anomaly",
        f"{jurisdiction.id}: an anomaly in the integration's Salesforce use suspended a "
        f"principal's non-emergency lanes; see sovgw health --org <org>, the anomaly audit "
        f"record, then sovgw anomaly lift",
        metric=SUSPENDED_PRINCIPALS_METRIC,
        dimensions={"Jurisdiction": jurisdiction.id, "service": ANOMALY_METRICS_SERVICE},
        period_s=900,
        opts=opts,
    )


def relay_gap_alarms(
    name: str, jurisdiction: Jurisdiction, orgs: Sequence[OrgBinding], opts: pulumi.ResourceOptions
) -> list[aws.cloudwatch.MetricAlarm]:
    """One alarm per org on the relay watcher's ``RelayGap`` (each minute): heartbeat
    missing, relay in ERROR, or the watcher silent."""
    return [
        _alarm_on_one(
            f"{name}-{org.org_id[:15]}-relay-gap",
            f"sovgw-{jurisdiction.id}-{org.org_id[:15]}-relay-gap",
            f"{org.name}: Event Relay gap (heartbeat missing or relay in ERROR); "
            f"see sovgw salesforce relay status --org {org.org_id}, then relay replay",
            metric=RELAY_GAP_METRIC,
            dimensions={
                "Jurisdiction": jurisdiction.id,
                "OrgId": org.org_id[:15],
                "service": RELAY_METRICS_SERVICE,
            },
            period_s=60,
            opts=opts,
        )
        for org in orgs
    ]


def operator_alarms(
    name: str, jurisdiction: Jurisdiction, orgs: Sequence[OrgBinding], opts: pulumi.ResourceOptions
) -> list[aws.cloudwatch.MetricAlarm]:
    """What wakes an operator: each org's relay gap, the incident clocks, and a principal an
    anomaly suspended."""
    return [
        *relay_gap_alarms(name, jurisdiction, orgs, opts),
        incident_clock_alarm(name, jurisdiction, opts),
        anomaly_alarm(name, jurisdiction, opts),
    ]
