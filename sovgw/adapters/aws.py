"""AWS adapters: SageMaker runtime, S3 audit store, EventBridge, SQS dead letters, Secrets Manager.

Clients are created by the caller (one per region) so the same code runs in Lambda and
against LocalStack; nothing here reads the environment.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sovgw.config import ModelEndpoint
from sovgw.domain.audit import AuditRecord
from sovgw.domain.errors import RejectedInput, UpstreamUnavailable
from sovgw.domain.rotation import SecretState
from sovgw.ports import UpstreamReply
from sovgw.sse import sse_data
from sovgw.wiring import break_glass_schedule_group, function_name, scheduler_role_name

ClientFactory = Callable[[str], Any]
_NOT_RETRYABLE_MODEL_ERRORS = {"ValidationError", "AccessDeniedException"}


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


class SageMakerModels:
    """``ChatUpstream`` over the SageMaker runtime: ``InvokeEndpoint`` and
    ``InvokeEndpointWithResponseStream`` with the OpenAI chat schema (LMI/vLLM, TGI).

    Timeouts and bounded retries with jitter come from the client's botocore config.
    """

    def __init__(self, runtime_client_for_region: ClientFactory) -> None:
        self._client_for = runtime_client_for_region

    def complete(self, endpoint: ModelEndpoint, body: Mapping[str, Any]) -> UpstreamReply:
        with _model_errors(endpoint):
            response = self._client_for(endpoint.region).invoke_endpoint(
                EndpointName=endpoint.name,
                ContentType="application/json",
                Accept="application/json",
                Body=json.dumps(body).encode(),
            )
            raw = response["Body"].read()
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            raise UpstreamUnavailable(f"model endpoint {endpoint.ref} sent invalid JSON") from None
        return UpstreamReply(
            body=parsed, aws_request_id=response["ResponseMetadata"].get("RequestId")
        )

    def open_stream(
        self, endpoint: ModelEndpoint, body: Mapping[str, Any]
    ) -> Iterator[dict[str, Any]]:
        with _model_errors(endpoint):
            response = self._client_for(endpoint.region).invoke_endpoint_with_response_stream(
                EndpointName=endpoint.name,
                ContentType="application/json",
                Body=json.dumps({**body, "stream": True}).encode(),
            )
        return sse_data(_payload_parts(endpoint, response["Body"]))


def _payload_parts(endpoint: ModelEndpoint, events: Iterable[Mapping[str, Any]]) -> Iterator[bytes]:
    """The bytes of each ``PayloadPart``; a stream error ends the stream with an error."""
    with _model_errors(endpoint):
        for event in events:
            if "PayloadPart" in event:
                yield event["PayloadPart"]["Bytes"]
            else:
                kind = next(iter(event), "unknown")
                raise UpstreamUnavailable(f"model endpoint {endpoint.ref} stream failed: {kind}")


@contextmanager
def _model_errors(endpoint: ModelEndpoint) -> Iterator[None]:
    """Map boto errors to the domain's: refused requests are final, the rest may heal."""
    try:
        yield
    except ClientError as error:
        code = _error_code(error)
        if code in _NOT_RETRYABLE_MODEL_ERRORS:
            raise RejectedInput(f"model endpoint {endpoint.ref} refused: {code}") from None
        raise UpstreamUnavailable(f"model endpoint {endpoint.ref} failed: {code}") from None
    except BotoCoreError as error:
        raise UpstreamUnavailable(
            f"model endpoint {endpoint.ref} unreachable: {type(error).__name__}"
        ) from None


def audit_record_key(jurisdiction: str, org_id: str | None, record_id: str) -> str:
    """Where an audit record lives in its jurisdiction's bucket (one stream per org)."""
    return f"records/{jurisdiction}/{org_id or '-'}/{record_id}.json"


class S3AuditSink:
    """``AuditSink`` writing one JSON object per record into an Object Lock bucket.

    The key is derived from the record id and written with ``If-None-Match: *``, so a retry
    or replay never adds a second copy.
    """

    def __init__(
        self,
        s3_client: Any,
        bucket: str,
        invocation_links: Callable[[], Mapping[str, str]] = dict,
    ) -> None:
        self._s3 = s3_client
        self._bucket = bucket
        self._invocation_links = invocation_links

    def key_for(self, record: AuditRecord) -> str:
        return audit_record_key(record.jurisdiction, record.org_id, record.record_id)

    def write(self, record: AuditRecord) -> str:
        """Store once; links the record to the invocation writing it (Lambda request id, trace)."""
        missing = {
            k: v for k, v in self._invocation_links().items() if not getattr(record.links, k)
        }
        if missing:
            record = record.model_copy(update={"links": record.links.model_copy(update=missing)})
        key = self.key_for(record)
        try:
            self._s3.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=record.model_dump_json().encode(),
                ContentType="application/json",
                IfNoneMatch="*",
            )
        except ClientError as error:
            if _error_code(error) not in {"PreconditionFailed", "ConditionalRequestConflict"}:
                raise UpstreamUnavailable(f"audit store failed: {_error_code(error)}") from None
        except BotoCoreError as error:
            raise UpstreamUnavailable(f"audit store unreachable: {type(error).__name__}") from None
        return f"s3://{self._bucket}/{key}"


class EventBridgePublisher:
    """``EventPublisher`` onto one event bus."""

    def __init__(self, events_client: Any, bus_name: str) -> None:
        self._events = events_client
        self._bus = bus_name

    def publish(self, source: str, detail_type: str, detail: Mapping[str, Any]) -> str:
        entry = {
            "Source": source,
            "DetailType": detail_type,
            "Detail": json.dumps(detail, default=str),
            "EventBusName": self._bus,
        }
        try:
            result = self._events.put_events(Entries=[entry])
        except (ClientError, BotoCoreError) as error:
            raise UpstreamUnavailable(f"event bus unavailable: {type(error).__name__}") from None
        first = result["Entries"][0]
        if result.get("FailedEntryCount") or "EventId" not in first:
            raise UpstreamUnavailable(f"event bus refused the event: {first.get('ErrorCode')}")
        return str(first["EventId"])


class SqsDeadLetters:
    """``DeadLetters`` onto SQS: the original event as body, the reason as attributes. Each
    function's queue is named by ``queue_name_for`` and its URL looked up once."""

    def __init__(self, sqs_client: Any, queue_name_for: Callable[[str], str]) -> None:
        self._sqs = sqs_client
        self._queue_name_for = queue_name_for
        self._urls: dict[str, str] = {}

    def _queue_url(self, function: str) -> str:
        if function not in self._urls:
            name = self._queue_name_for(function)
            self._urls[function] = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return self._urls[function]

    def send(self, function: str, event: Mapping[str, Any], reason: str, attempts: int) -> None:
        self._sqs.send_message(
            QueueUrl=self._queue_url(function),
            MessageBody=json.dumps(event, default=str),
            MessageAttributes={
                "reason": {"DataType": "String", "StringValue": reason[:1024] or "unknown"},
                "function": {"DataType": "String", "StringValue": function},
                "attempts": {"DataType": "Number", "StringValue": str(attempts)},
            },
        )


def read_secret_version(
    secrets_client: Any, secret_id: str, stage: str = "AWSCURRENT"
) -> tuple[dict[str, Any], str] | None:
    """A JSON secret's value at ``stage`` and its version id; None when it does not exist."""
    try:
        found = secrets_client.get_secret_value(SecretId=secret_id, VersionStage=stage)
    except ClientError as error:
        code = _error_code(error)
        if code == "ResourceNotFoundException":
            return None
        raise UpstreamUnavailable(f"secrets store failed: {code}") from None
    except BotoCoreError as error:
        raise UpstreamUnavailable(f"secrets store unreachable: {type(error).__name__}") from None
    value: dict[str, Any] = json.loads(found["SecretString"])
    return value, str(found["VersionId"])


def read_json_secret(secrets_client: Any, secret_id: str) -> dict[str, Any]:
    """The AWSCURRENT version of a JSON secret."""
    try:
        value = secrets_client.get_secret_value(SecretId=secret_id)["SecretString"]
    except ClientError as error:
        code = _error_code(error)
        if code == "ResourceNotFoundException":
            raise RejectedInput(f"secret {secret_id} does not exist") from None
        raise UpstreamUnavailable(f"secrets store failed: {code}") from None
    parsed: dict[str, Any] = json.loads(value)
    return parsed


class SecretsManagerVersions:
    """``SecretVersions`` over Secrets Manager (version stages, pending values, promotion)."""

    def __init__(self, secrets_client: Any) -> None:
        self._secrets = secrets_client

    def describe(self, secret_id: str) -> SecretState:
        with _secret_errors():
            found = self._secrets.describe_secret(SecretId=secret_id)
        return SecretState(
            name=found["Name"],
            rotation_enabled=bool(found.get("RotationEnabled")),
            versions={k: tuple(v) for k, v in found.get("VersionIdsToStages", {}).items()},
        )

    def value(self, secret_id: str, version_id: str) -> dict[str, Any] | None:
        try:
            found = self._secrets.get_secret_value(SecretId=secret_id, VersionId=version_id)
        except ClientError as error:
            if _error_code(error) == "ResourceNotFoundException":
                return None
            raise UpstreamUnavailable(f"secrets store failed: {_error_code(error)}") from None
        parsed: dict[str, Any] = json.loads(found["SecretString"])
        return parsed

    def put_pending(self, secret_id: str, token: str, value: Mapping[str, Any]) -> None:
        with _secret_errors():
            self._secrets.put_secret_value(
                SecretId=secret_id,
                ClientRequestToken=token,
                SecretString=json.dumps(value),
                VersionStages=["AWSPENDING"],
            )

    def promote(self, secret_id: str, token: str, from_version: str) -> None:
        with _secret_errors():
            self._secrets.update_secret_version_stage(
                SecretId=secret_id,
                VersionStage="AWSCURRENT",
                MoveToVersionId=token,
                RemoveFromVersionId=from_version,
            )


@contextmanager
def _secret_errors() -> Iterator[None]:
    try:
        yield
    except ClientError as error:
        code = _error_code(error)
        if code in {"ResourceNotFoundException", "InvalidRequestException"}:
            raise RejectedInput(f"secrets store refused: {code}") from None
        raise UpstreamUnavailable(f"secrets store failed: {code}") from None
    except BotoCoreError as error:
        raise UpstreamUnavailable(f"secrets store unreachable: {type(error).__name__}") from None


class AwsBreakGlass:
    """``AwsAccess`` for break-glass grants in one jurisdiction's account and region."""

    def __init__(
        self,
        session: Any,
        jurisdiction: str,
        event_bus: str,
        *,
        account_id: str | None = None,
    ) -> None:
        self._sts = session.client("sts")
        self._iam = session.client("iam")
        self._events = session.client("events")
        self._scheduler = session.client("scheduler")
        self._region = session.region_name
        self._jurisdiction = jurisdiction
        self._bus = event_bus
        self._account = account_id

    @property
    def account(self) -> str:
        if self._account is None:
            self._account = str(self._sts.get_caller_identity()["Account"])
        return self._account

    @property
    def schedule_group(self) -> str:
        return break_glass_schedule_group(self._jurisdiction)

    def _schedule_name(self, org_id: str, request_id: str) -> str:
        return f"bg-{org_id[:15]}-{request_id}"[:64]

    def open_role(self, role: str, grant_id: str, expires_at_ms: int) -> str:
        """Attach the grant's permissions to the break-glass role: only sessions tagged with
        this grant (``aws sts assume-role --tags Key=sovgw-grant,Value=<id>``, with MFA, as
        the role's trust policy demands) get them, and only until the expiry."""
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires_at_ms / 1000))
        document = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "GrantScopedInvestigation",
                    "Effect": "Allow",
                    "Action": [
                        "s3:GetObject",
                        "s3:ListBucket",
                        "logs:FilterLogEvents",
                        "logs:GetLogEvents",
                        "cloudtrail:LookupEvents",
                    ],
                    "Resource": [
                        f"arn:aws:s3:::sovgw-audit-{self._jurisdiction}",
                        f"arn:aws:s3:::sovgw-audit-{self._jurisdiction}/*",
                        f"arn:aws:logs:{self._region}:{self.account}:log-group:"
                        f"/aws/lambda/sovgw-{self._jurisdiction}-*",
                        "*",
                    ],
                    "Condition": {
                        "StringEquals": {"aws:PrincipalTag/sovgw-grant": grant_id},
                        "DateLessThan": {"aws:CurrentTime": expires},
                    },
                },
                {
                    "Sid": "ReadTheEncryptedAuditRecords",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt"],
                    "Resource": ["*"],
                    "Condition": {
                        "StringEquals": {
                            "aws:PrincipalTag/sovgw-grant": grant_id,
                            "kms:ViaService": f"s3.{self._region}.amazonaws.com",
                        },
                        "DateLessThan": {"aws:CurrentTime": expires},
                    },
                },
            ],
        }
        name = f"sovgw-grant-{grant_id}"[:128]
        with _aws_errors("iam"):
            self._iam.put_role_policy(
                RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document)
            )
        return f"arn:aws:iam::{self.account}:role/{role} ({name})"

    def close_role(self, role: str, grant_id: str, issued_before_ms: int) -> None:
        """Detach the grant's permissions and end older sessions (AWS's documented way:
        deny every token issued before now). A role that does not exist has nothing open;
        any other refusal (access denied) fails the step, so it is retried, never skipped."""
        with _unless_absent("iam"):  # detached already by an earlier run of this step
            self._iam.delete_role_policy(RoleName=role, PolicyName=f"sovgw-grant-{grant_id}"[:128])
        issued_before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(issued_before_ms / 1000))
        document = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Action": ["*"],
                    "Resource": ["*"],
                    "Condition": {"DateLessThan": {"aws:TokenIssueTime": issued_before}},
                }
            ],
        }
        with _unless_absent("iam"):
            self._iam.put_role_policy(
                RoleName=role,
                PolicyName="sovgw-revoke-older-sessions",
                PolicyDocument=json.dumps(document),
            )

    def enable_subscription(self, rule: str) -> None:
        with _aws_errors("events"):
            self._events.enable_rule(Name=rule, EventBusName=self._bus)

    def disable_subscription(self, rule: str) -> None:
        with _aws_errors("events"):
            self._events.disable_rule(Name=rule, EventBusName=self._bus)

    def schedule_expiry(self, org_id: str, request_id: str, at_ms: int) -> None:
        """A one-time schedule that invokes the break-glass function at expiry."""
        at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at_ms / 1000))
        with _aws_errors("scheduler"):
            self._scheduler.create_schedule(
                Name=self._schedule_name(org_id, request_id),
                GroupName=self.schedule_group,
                ScheduleExpression=f"at({at})",
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Target={
                    "Arn": f"arn:aws:lambda:{self._region}:{self.account}:function:"
                    + function_name(self._jurisdiction, "break_glass"),
                    "RoleArn": f"arn:aws:iam::{self.account}:role/"
                    + scheduler_role_name(self._jurisdiction),
                    "Input": json.dumps(
                        {"action": "expire", "org_id": org_id, "request_id": request_id}
                    ),
                },
            )

    def cancel_schedule(self, org_id: str, request_id: str) -> None:
        try:
            self._scheduler.delete_schedule(
                Name=self._schedule_name(org_id, request_id), GroupName=self.schedule_group
            )
        except ClientError as error:
            if _error_code(error) != "ResourceNotFoundException":
                raise UpstreamUnavailable(f"scheduler failed: {_error_code(error)}") from None


class ResourceAbsent(RejectedInput):
    """The role, policy or resource named does not exist."""


@contextmanager
def _unless_absent(service: str) -> Iterator[None]:
    """Like ``_aws_errors``, but a role, policy or resource that does not exist is no error."""
    with contextlib.suppress(ResourceAbsent), _aws_errors(service):
        yield


@contextmanager
def _aws_errors(service: str) -> Iterator[None]:
    try:
        yield
    except ClientError as error:
        code = _error_code(error)
        if code in {"ResourceNotFoundException", "NoSuchEntity"}:
            raise ResourceAbsent(f"{service} refused: {code}") from None
        if code in {"ValidationException", "AccessDenied"}:
            raise RejectedInput(f"{service} refused: {code}") from None
        raise UpstreamUnavailable(f"{service} failed: {code}") from None
    except BotoCoreError as error:
        raise UpstreamUnavailable(f"{service} unreachable: {type(error).__name__}") from None
