"""The Pulumi program under Pulumi's own mocks: the real pulumi-aws resource classes run
offline, every resource is recorded, and the sovereignty invariants are checked on them."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from infra.policy.evaluate import RecordingMocks, run_as_language_host
from infra.stack import LogArchiveSettings
from sovgw.adapters.anomaly_metrics import (
    SUSPENDED_PRINCIPALS_METRIC,
    publish_suspended_principals,
)
from sovgw.adapters.budget_metrics import publish_budget_metrics
from sovgw.adapters.incident_metrics import INCIDENT_CLOCKS_METRIC, publish_incident_clocks
from sovgw.adapters.relay_metrics import RELAY_GAP_METRIC, publish_relay_metrics
from sovgw.config import load_config
from sovgw.domain.relay_watch import RelayCheck
from sovgw.wiring import (
    DATASET_FUNCTIONS,
    FUNCTIONS,
    INVOKED_DIRECTLY,
    ROUTES,
    SCHEDULES,
    function_name,
)
from tests.conftest import ROOT

ACCOUNT = "111122223333"
GATEWAY = load_config(ROOT / "config" / "gateway.yaml")
CODE = str(ROOT / "functions")  # stands in for the package `make package` builds


ARCHIVE_ACCOUNT = "444455556666"
ARCHIVE = LogArchiveSettings(
    ARCHIVE_ACCOUNT, f"arn:aws:iam::{ARCHIVE_ACCOUNT}:role/sovgw-log-archive-deploy"
)


def _run(
    jurisdiction_id: str, code_path: str | None = CODE, archive: LogArchiveSettings | None = ARCHIVE
) -> RecordingMocks:
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="sovgw", stack=jurisdiction_id, preview=False)
    from infra.stack import StackConfig, build_stack  # noqa: PLC0415

    jurisdiction = GATEWAY.jurisdiction(jurisdiction_id)
    assert jurisdiction is not None

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> pulumi.Output[Any]:
        outputs = build_stack(
            StackConfig(jurisdiction, ACCOUNT, GATEWAY, code_path, log_archive=archive)
        )
        return pulumi.Output.all(*outputs.values())

    program()
    return mocks


def _providers(mocks: RecordingMocks, name: str) -> list[dict[str, Any]]:
    return [i for t, n, i in mocks.resources if t == "pulumi:providers:aws" and n == name]


@pytest.mark.parametrize("jurisdiction_id", ["eu-de", "eu-fr", "ch"])
def test_provider_is_pinned_to_the_region_and_account(jurisdiction_id: str) -> None:
    mocks = _run(jurisdiction_id)
    region = GATEWAY.jurisdiction(jurisdiction_id).region  # type: ignore[union-attr]
    (provider,) = _providers(mocks, f"aws-{jurisdiction_id}")
    assert provider["region"] == region
    assert json.loads(provider["allowedAccountIds"]) == [ACCOUNT]
    for subnet in mocks.of_type("ec2/subnet:Subnet"):
        assert subnet["availabilityZone"].startswith(region)
    for endpoint in mocks.of_type("ec2/vpcEndpoint:VpcEndpoint"):
        assert endpoint["serviceName"].startswith(f"com.amazonaws.{region}.")


def test_network_has_no_path_to_the_internet() -> None:
    mocks = _run("eu-de")
    types = {t for t, _, _ in mocks.resources}
    assert not {
        t
        for t in types
        if t.split("/")[-1].split(":")[-1]
        in {"InternetGateway", "NatGateway", "Eip", "EgressOnlyInternetGateway"}
    }
    assert all(s["mapPublicIpOnLaunch"] is False for s in mocks.of_type("ec2/subnet:Subnet"))
    assert all(
        "routes" not in table or not table["routes"]
        for table in mocks.of_type("ec2/routeTable:RouteTable")
    )
    endpoints = mocks.of_type("ec2/vpcEndpoint:VpcEndpoint")
    services = {
        e["serviceName"].rsplit(".", 1)[-1]
        if "sagemaker" not in e["serviceName"]
        else e["serviceName"].split("eu-central-1.")[1]
        for e in endpoints
    }
    assert {"sagemaker.runtime", "secretsmanager", "kms", "events", "sts", "logs", "s3"} <= services
    for endpoint in endpoints:
        if endpoint["serviceName"].endswith("execute-api"):
            continue  # callers of the private proxy API: see the test below
        condition = json.loads(endpoint["policy"])["Statement"][0]["Condition"]
        assert condition == {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}
    assert mocks.of_type("ec2/flowLog:FlowLog")[0]["trafficType"] == "ALL"


def test_audit_store_is_immutable_encrypted_and_tls_only() -> None:
    mocks = _run("eu-fr")
    (bucket,) = [
        i for i in mocks.of_type("s3/bucket:Bucket") if i.get("bucket") == "sovgw-audit-eu-fr"
    ]
    assert bucket["objectLockEnabled"] is True

    def of_audit_bucket(suffix: str) -> dict[str, Any]:
        (found,) = [
            i for i in mocks.of_type(suffix) if i["bucket"] == "sovgw-eu-fr-audit-bucket-id"
        ]
        return found

    lock = of_audit_bucket("s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    assert lock["rule"]["defaultRetention"]["mode"] == "COMPLIANCE"
    versioning = of_audit_bucket("s3/bucketVersioning:BucketVersioning")
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    sse = of_audit_bucket(
        "s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    assert sse["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    policy = of_audit_bucket("s3/bucketPolicy:BucketPolicy")
    statement = json.loads(policy["policy"])["Statement"][0]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    digest_keys = [k for k in mocks.of_type("kms/key:Key") if k.get("keyUsage") == "SIGN_VERIFY"]
    assert digest_keys and digest_keys[0]["customerMasterKeySpec"] == "ECC_NIST_P256"


def test_event_wiring_follows_the_single_declaration() -> None:
    mocks = _run("eu-de")
    orgs = GATEWAY.orgs_of("eu-de")
    buses = mocks.of_type("cloudwatch/eventBus:EventBus")
    assert {b.get("eventSourceName") for b in buses} - {None} == {o.event_source for o in orgs}
    all_rules = mocks.of_type("cloudwatch/eventRule:EventRule")
    scheduled = {r["name"] for r in all_rules if r.get("scheduleExpression")}
    assert scheduled == {f"sovgw-eu-de-{fn}-schedule" for fn in SCHEDULES}
    break_glass_rules = {*scheduled, "sovgw-eu-de-case-changes"}
    rules = [r for r in all_rules if r.get("name") not in break_glass_rules]
    patterns = [json.loads(r["eventPattern"]) for r in rules]
    for route in ROUTES:
        assert route.pattern in patterns
    targets = [
        t
        for t in mocks.of_type("cloudwatch/eventTarget:EventTarget")
        if t["rule"] not in break_glass_rules
    ]
    assert len(targets) == len(rules)
    for target in targets:
        assert target["retryPolicy"]["maximumRetryAttempts"] >= 1
        assert target["deadLetterConfig"]["arn"].startswith("arn:aws:mock:::")
    assert len(mocks.of_type("cloudwatch/eventArchive:EventArchive")) == len(buses)
    queues = {q["name"] for q in mocks.of_type("sqs/queue:Queue")}
    assert {
        "sovgw-eu-de-classify-dlq",
        "sovgw-eu-de-route-dlq",
        "sovgw-eu-de-unrouted-dlq",
    } <= queues


def test_without_functions_the_wiring_is_not_created() -> None:
    mocks = _run("ch", code_path=None)
    assert mocks.of_type("cloudwatch/eventRule:EventRule") == []
    assert mocks.of_type("s3/bucket:Bucket"), "the rest of the stack is still built"


def _model_settings(url: str = "s3://sovgw-models-eu-de/models/llm/abc/model.tar.gz") -> Any:
    from infra.stack import ModelSettings  # noqa: PLC0415

    return ModelSettings(preset="llama-3.1-8b", instance_type="ml.g6e.2xlarge", model_data_url=url)


def _run_with_model(model: Any) -> RecordingMocks:
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="sovgw", stack="eu-de", preview=False)
    from infra.stack import StackConfig, build_stack  # noqa: PLC0415

    jurisdiction = GATEWAY.jurisdiction("eu-de")
    assert jurisdiction is not None

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> pulumi.Output[Any]:
        outputs = build_stack(
            StackConfig(jurisdiction, ACCOUNT, GATEWAY, CODE, model, log_archive=ARCHIVE)
        )
        return pulumi.Output.all(*outputs.values())

    program()
    return mocks


def test_model_endpoint_is_isolated_in_region_and_follows_the_plan() -> None:
    mocks = _run_with_model(_model_settings())
    models = mocks.of_type("sagemaker/model:Model")
    assert len(models) == 2
    for model in models:
        assert model["enableNetworkIsolation"] is True
        assert model["vpcConfig"]["subnets"] and model["vpcConfig"]["securityGroupIds"]
        container = model["primaryContainer"]
        assert container["image"].startswith(
            "763104351884.dkr.ecr.eu-central-1.amazonaws.com/vllm:"
        )
        assert container["environment"]["HF_HUB_OFFLINE"] == "1"
        assert container["modelDataUrl"].startswith("s3://sovgw-models-eu-de/")
    for config in mocks.of_type("sagemaker/endpointConfiguration:EndpointConfiguration"):
        assert config["kmsKeyArn"]
        assert config["productionVariants"][0]["instanceType"] == "ml.g6e.2xlarge"
    endpoints = sorted(e["name"] for e in mocks.of_type("sagemaker/endpoint:Endpoint"))
    assert endpoints == ["sovgw-eu-de-llm", "sovgw-eu-de-llm-b"], (
        "both in-region endpoints (failover) are deployed, the us-east-1 one never"
    )
    for policy in mocks.of_type("iam/rolePolicy:RolePolicy"):
        for statement in json.loads(policy["policy"])["Statement"]:
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            assert "*" not in actions and not any(a.endswith(":*") for a in actions)


def test_model_weights_from_another_bucket_are_refused() -> None:
    from infra.components.model_endpoint import EndpointRefused  # noqa: PLC0415

    with pytest.raises(EndpointRefused, match="must come from s3://sovgw-models-eu-de/"):
        _run_with_model(_model_settings("s3://models-in-virginia/llm/model.tar.gz"))


STACK_FILES = sorted(ROOT.glob("Pulumi.*.yaml"))
_CONFIG_SET = re.compile(r"^pulumi config set (--path )?'?(sovgw:[^' ]+)'? +(\S+)", re.MULTILINE)


def readme_settings(jurisdiction_id: str) -> dict[str, str]:
    """The ``pulumi config set`` lines of infra/README.md's walkthrough (written for eu-de),
    for another jurisdiction: its region and bucket names in place of eu-de's."""
    jurisdiction = GATEWAY.jurisdiction(jurisdiction_id)
    assert jurisdiction is not None
    text = (ROOT / "infra" / "README.md").read_text(encoding="utf-8")
    text = text.replace("eu-central-1", jurisdiction.region).replace(
        "-eu-de", f"-{jurisdiction_id}"
    )
    flat: dict[str, str] = {}
    nested: dict[str, Any] = {}
    for path, key, value in _CONFIG_SET.findall(text):
        if not path:
            flat[key] = value
            continue
        name, _, rest = key.partition(".")
        if rest:
            nested.setdefault(name, {})[rest] = value
        else:  # name[0]: a list
            nested.setdefault(name.split("[")[0], []).append(value)
    return {**flat, **{key: json.dumps(value) for key, value in nested.items()}}


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=lambda p: p.name)
def test_the_program_runs_from_infra_as_pulumi_runs_it(stack_file: Path) -> None:
    stack = stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")
    jurisdiction = GATEWAY.jurisdiction(stack)
    assert jurisdiction is not None
    settings = readme_settings(stack)
    assert settings["sovgw:codePath"] == "build/lambda", "the README's package path"
    # `make package` output is not built by the tests: a directory that exists only relative to
    # the project (not to infra/) stands in for it, so a working-directory lookup would fail.
    settings["sovgw:codePath"] = "functions"
    assert not (ROOT / "infra" / "functions").exists()
    mocks = run_as_language_host(stack_file, settings)
    (provider,) = _providers(mocks, f"aws-{stack}")
    assert provider["region"] == jurisdiction.region
    assert json.loads(provider["allowedAccountIds"]) == [settings["sovgw:accountId"]]
    endpoints = [e["name"] for e in mocks.of_type("sagemaker/endpoint:Endpoint")]
    assert endpoints and all(name.startswith(f"sovgw-{stack}-llm") for name in endpoints)
    functions = mocks.of_type("lambda/function:Function")
    assert len(functions) == len(FUNCTIONS) + len(INVOKED_DIRECTLY) + len(DATASET_FUNCTIONS) == 12
    assert {str(f["code"].path) for f in functions} == {str(ROOT / "functions")}
    assert mocks.of_type("cloudwatch/eventRule:EventRule")


def test_a_missing_code_package_is_named_with_its_resolved_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = {**readme_settings("eu-de"), "sovgw:codePath": "build/no-such-package"}
    errors: list[str] = []
    monkeypatch.setattr(pulumi.log, "error", lambda message, *a, **k: errors.append(message))
    with pytest.raises(
        FileNotFoundError, match=r"sovgw:codePath .*build/no-such-package.*make package"
    ):
        run_as_language_host(ROOT / "Pulumi.eu-de.yaml", settings)


def test_functions_are_private_bounded_and_dead_letter_on_failure() -> None:
    mocks = _run_with_model(_model_settings())
    functions = mocks.of_type("lambda/function:Function")
    assert {f["name"] for f in functions} == {
        "sovgw-eu-de-classify",
        "sovgw-eu-de-route",
        "sovgw-eu-de-unrouted",
        "sovgw-eu-de-proxy",
        "sovgw-eu-de-rotate",
        "sovgw-eu-de-break_glass",
        "sovgw-eu-de-seal",
        "sovgw-eu-de-relay_watch",
        "sovgw-eu-de-incident_clock",
        "sovgw-eu-de-anomaly_watch",
        "sovgw-eu-de-dataset_scan",
        "sovgw-eu-de-dataset_reconcile",
    }
    for function in functions:
        assert function["runtime"] == "python3.13" and function["architectures"] == ["arm64"]
        assert function["vpcConfig"]["subnetIds"] and function["reservedConcurrentExecutions"] > 0
        assert function["tracingConfig"] == {"mode": "Active"}
        assert function["environment"]["variables"]["SOVGW_JURISDICTION"] == "eu-de"
        assert function["environment"]["variables"]["PYDANTIC_DISABLE_PLUGINS"] == "__all__"
    for invoke in mocks.of_type("lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"):
        assert invoke["destinationConfig"]["onFailure"]["destination"].startswith("arn:aws:mock:::")
    route_policy = next(
        json.loads(p["policy"])
        for t, n, p in mocks.resources
        if t.endswith("iam/rolePolicy:RolePolicy") and n.endswith("-route")
    )
    invoke = next(s for s in route_policy["Statement"] if "sagemaker:InvokeEndpoint" in s["Action"])
    assert invoke["Resource"] == [
        f"arn:aws:sagemaker:eu-central-1:{ACCOUNT}:endpoint/sovgw-eu-de-llm",
        f"arn:aws:sagemaker:eu-central-1:{ACCOUNT}:endpoint/sovgw-eu-de-llm-b",
    ]


def test_cloudtrail_stays_in_region_validates_and_records_data_events() -> None:
    mocks = _run("eu-de")
    (trail,) = mocks.of_type("cloudtrail/trail:Trail")
    assert trail["isMultiRegionTrail"] is False and trail["enableLogFileValidation"] is True
    assert trail["kmsKeyId"]
    resource_types = {
        value
        for selector in trail["advancedEventSelectors"]
        for field in selector["fieldSelectors"]
        if field["field"] == "resources.type"
        for value in field["equals"]
    }
    assert resource_types == {"AWS::Lambda::Function", "AWS::S3::Object"}
    prefixes = [
        value
        for selector in trail["advancedEventSelectors"]
        for field in selector["fieldSelectors"]
        if field["field"] == "resources.ARN"
        for value in field["startsWiths"]
    ]
    assert prefixes == ["arn:aws:mock:::sovgw-eu-de-audit-bucket/"]
    buckets = [
        b for b in mocks.of_type("s3/bucket:Bucket") if b["bucket"].startswith("sovgw-trail-eu-de-")
    ]
    assert buckets and buckets[0]["objectLockEnabled"] is True


def test_proxy_is_a_streaming_lambda_behind_a_private_api() -> None:
    mocks = _run_with_model(_model_settings())
    (function,) = [
        f for f in mocks.of_type("lambda/function:Function") if f["name"].endswith("-proxy")
    ]
    env = function["environment"]["variables"]
    assert env["AWS_LWA_INVOKE_MODE"] == "response_stream" and env["SOVGW_JURISDICTION"] == "eu-de"
    assert function["handler"] == "functions/proxy/run.sh"
    assert (ROOT / function["handler"]).stat().st_mode & 0o111, "run.sh is executable"
    assert function["layers"][0].startswith("arn:aws:lambda:eu-central-1:")
    assert function["vpcConfig"]["subnetIds"] and function["reservedConcurrentExecutions"] > 0
    (api,) = mocks.of_type("apigateway/restApi:RestApi")
    assert api["endpointConfiguration"]["types"] == "PRIVATE"
    policy = json.loads(api["policy"])
    deny = next(s for s in policy["Statement"] if s["Effect"] == "Deny")
    assert (
        deny["Condition"]["StringNotEquals"]["aws:SourceVpce"]
        == api["endpointConfiguration"]["vpcEndpointIds"][0]
    )
    (integration,) = mocks.of_type("apigateway/integration:Integration")
    assert integration["responseTransferMode"] == "STREAM" and integration["type"] == "AWS_PROXY"
    assert integration["uri"].endswith("/response-streaming-invocations")
    assert ":eu-central-1:" in integration["uri"]
    proxy_policy = next(
        json.loads(p["policy"])
        for t, n, p in mocks.resources
        if t.endswith("iam/rolePolicy:RolePolicy") and n.endswith("-proxy-role")
    )
    for statement in proxy_policy["Statement"]:
        assert all(a != "*" and not a.endswith(":*") for a in statement["Action"])
    invoke = next(s for s in proxy_policy["Statement"] if "sagemaker:InvokeEndpoint" in s["Action"])
    assert invoke["Resource"] == [
        f"arn:aws:sagemaker:eu-central-1:{ACCOUNT}:endpoint/sovgw-eu-de-llm",
        f"arn:aws:sagemaker:eu-central-1:{ACCOUNT}:endpoint/sovgw-eu-de-llm-b",
    ]
    readable = {
        r for s in proxy_policy["Statement"] if "secretsmanager:GetSecretValue" in s["Action"]
        for r in s["Resource"]
    }  # fmt: skip
    assert readable == {
        f"arn:aws:secretsmanager:eu-central-1:{ACCOUNT}:secret:sovgw/eu-de/upstream/*",
        f"arn:aws:secretsmanager:eu-central-1:{ACCOUNT}:secret:sovgw/eu-de/canaries/*",
    }


def test_execute_api_endpoint_admits_only_this_accounts_apis() -> None:
    mocks = _run("eu-fr")
    (endpoint,) = [
        e
        for e in mocks.of_type("ec2/vpcEndpoint:VpcEndpoint")
        if e["serviceName"].endswith("execute-api")
    ]
    (statement,) = json.loads(endpoint["policy"])["Statement"]
    assert statement["Action"] == "execute-api:Invoke"
    assert statement["Resource"] == f"arn:aws:execute-api:eu-west-3:{ACCOUNT}:*"


def test_credential_pools_rotate_daily_with_the_jurisdiction_key() -> None:
    mocks = _run("eu-de")
    secrets = mocks.of_type("secretsmanager/secret:Secret")
    assert sorted(s["name"] for s in secrets) == [
        "sovgw/eu-de/salesforce/00D5E0000000001UAA",
        "sovgw/eu-de/salesforce/00D5E0000000001UAA/b",
        "sovgw/eu-de/salesforce/00D5E0000000001UAA/emergency",
        "sovgw/eu-de/salesforce/00D5E0000000001UAA/relay-monitor",  # not rotated: see below
    ]
    assert all(s["kmsKeyId"] == "arn:aws:mock:::sovgw-eu-de" for s in secrets)
    assert all("secretString" not in s for s in secrets), "no secret value in Pulumi state"
    rotations = mocks.of_type("secretsmanager/secretRotation:SecretRotation")
    assert len(rotations) == 3
    for rotation in rotations:
        assert rotation["rotationRules"]["automaticallyAfterDays"] == 1
        assert rotation["rotationLambdaArn"].endswith("sovgw-eu-de-credentials-rotate")
    policy = next(
        json.loads(p["policy"])
        for t, n, p in mocks.resources
        if t.endswith("iam/rolePolicy:RolePolicy") and n == "sovgw-eu-de-credentials-rotate"
    )
    secret_statement = next(
        s for s in policy["Statement"] if "secretsmanager:PutSecretValue" in s["Action"]
    )
    assert all(
        r.startswith("arn:aws:secretsmanager:eu-central-1:111122223333:secret:sovgw/eu-de/")
        for r in secret_statement["Resource"]
    )


def test_budget_store_is_private_encrypted_iam_authenticated_and_alarmed() -> None:
    mocks = _run("eu-fr")
    (cache,) = mocks.of_type("elasticache/serverlessCache:ServerlessCache")
    assert cache["engine"] == "valkey" and cache["kmsKeyId"] and cache["subnetIds"]
    users = {u["userName"]: u for u in mocks.of_type("elasticache/user:User")}
    assert users["sovgw-eu-fr-functions"]["authenticationMode"] == {"type": "iam"}
    assert users["default"]["accessString"].startswith("off")
    (group,) = [
        g for g in mocks.of_type("ec2/securityGroup:SecurityGroup") if "Valkey" in g["description"]
    ]
    assert group["ingress"][0]["cidrBlocks"] == ["10.40.0.0/16"] and group["egress"] == []
    alarms = {a["metricName"]: a for a in mocks.of_type("cloudwatch/metricAlarm:MetricAlarm")}
    assert alarms["ApiUsedPercent"]["threshold"] == 80
    health = {
        "org_id": "00D5F0000000002UAA", "used": 1, "limit": 10, "used_fraction": 0.1,
        "emergency_reserve_left": 1, "in_flight": 0, "breaker": "closed",
        "refused_credentials": [],
    }  # fmt: skip
    emitted = _emitted(lambda: publish_budget_metrics(health, "eu-fr"))
    for metric in ("ApiUsedPercent", "BreakerOpen"):
        assert _alarm_sees(alarms[metric], emitted), f"{metric}: alarm and EMF dimensions differ"
    functions = {f["name"]: f for f in mocks.of_type("lambda/function:Function")}
    env = functions["sovgw-eu-fr-classify"]["environment"]["variables"]
    assert env["SOVGW_BUDGET_STORE_IAM_USER"] == "sovgw-eu-fr-functions"
    classify_policy = next(
        json.loads(p["policy"])
        for t, n, p in mocks.resources
        if t.endswith("iam/rolePolicy:RolePolicy") and n.endswith("-classify")
    )
    assert any("elasticache:Connect" in s["Action"] for s in classify_policy["Statement"])


def test_salesforce_private_connect_endpoints_come_from_stack_config() -> None:
    from infra.components.network import NetworkArgs, SovereignNetwork  # noqa: PLC0415

    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="sovgw", stack="eu-de", preview=False)
    service = "com.amazonaws.vpce.eu-central-1.vpce-svc-0123456789abcdef0"

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> pulumi.Output[Any]:
        network = SovereignNetwork(
            "n", NetworkArgs("eu-central-1", ACCOUNT, salesforce_endpoint_services=(service,))
        )
        return network.vpc.id

    program()
    (endpoint,) = [
        e for e in mocks.of_type("ec2/vpcEndpoint:VpcEndpoint") if e["serviceName"] == service
    ]
    assert endpoint["vpcEndpointType"] == "Interface" and endpoint["subnetIds"]


def test_break_glass_role_schedules_and_sweeper() -> None:
    mocks = _run("eu-de")
    roles = {r["name"]: r for r in mocks.of_type("iam/role:Role") if "name" in r}
    role = roles["sovgw-eu-de-break-glass"]
    (statement,) = json.loads(role["assumeRolePolicy"])["Statement"]
    assert statement["Condition"]["Bool"] == {"aws:MultiFactorAuthPresent": "true"}
    assert statement["Condition"]["NumericLessThan"] == {"aws:MultiFactorAuthAge": "900"}
    assert statement["Condition"]["Null"] == {"aws:RequestTag/sovgw-grant": "false"}
    assert role["maxSessionDuration"] == 3600
    assert not [
        p
        for t, n, p in mocks.resources
        if t.endswith("iam/rolePolicy:RolePolicy") and "break-glass-role" in n
    ], "the role has no permissions of its own; grants attach them"
    (group,) = mocks.of_type("scheduler/scheduleGroup:ScheduleGroup")
    assert group["name"] == "sovgw-eu-de-break-glass"
    rules = {r["name"]: r for r in mocks.of_type("cloudwatch/eventRule:EventRule") if "name" in r}
    assert rules["sovgw-eu-de-break_glass-schedule"]["scheduleExpression"] == "rate(1 minute)"
    assert rules["sovgw-eu-de-seal-schedule"]["scheduleExpression"] == "rate(1 hour)"
    assert rules["sovgw-eu-de-case-changes"]["state"] == "DISABLED"
    policy = next(
        json.loads(p["policy"])
        for t, n, p in mocks.resources
        if t.endswith("iam/rolePolicy:RolePolicy") and n.endswith("-break_glass")
    )
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert {"scheduler:CreateSchedule", "iam:PutRolePolicy", "events:EnableRule"} <= actions
    for s in policy["Statement"]:
        if "iam:PutRolePolicy" in s["Action"]:
            assert s["Resource"] == [f"arn:aws:iam::{ACCOUNT}:role/sovgw-eu-de-break-glass"]


def test_the_sealer_signs_with_the_digest_key_and_writes_digests_only() -> None:
    mocks = _run("eu-de")
    policy = next(
        json.loads(p["policy"])
        for t, n, p in mocks.resources
        if t.endswith("iam/rolePolicy:RolePolicy") and n.endswith("-functions-seal")
    )
    sign = next(s for s in policy["Statement"] if "kms:Sign" in s["Action"])
    assert sign["Resource"] == ["arn:aws:mock:::sovgw-eu-de-audit-digest-key"]
    writes = [s for s in policy["Statement"] if s["Action"] == ["s3:PutObject"]]
    assert sorted(r for s in writes for r in s["Resource"]) == [
        "arn:aws:mock:::sovgw-eu-de-audit-bucket/digests/*",
        "arn:aws:mock:::sovgw-eu-de-audit-bucket/records/eu-de/*",
    ]


def test_the_jurisdiction_key_is_used_only_by_the_stacks_roles() -> None:
    mocks = _run_with_model(_model_settings())
    (key_policy,) = mocks.of_type("kms/keyPolicy:KeyPolicy")
    statements = {s["Sid"]: s for s in json.loads(key_policy["policy"])["Statement"]}
    admin = statements["AccountAdministersButDoesNotUse"]
    assert not {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"} & set(admin["Action"])
    users = statements["StackRolesUseTheKey"]["Principal"]["AWS"]
    role_names = {n for t, n, _ in mocks.resources if t.endswith("iam/role:Role")}
    assert users and all(u.removeprefix("arn:aws:mock:::") in role_names for u in users)
    assert any(u.endswith("-functions-route") for u in users)
    assert any(u.endswith("-role") and "llm" in u for u in users), "the model endpoints' role"
    assert not any("break-glass" in u or "flow-logs" in u for u in users)
    via = statements["ServicesCreateGrantsForTheirResources"]["Condition"]["StringEquals"]
    assert via["kms:CallerAccount"] == ACCOUNT
    for statement in statements.values():
        principal = statement["Principal"]
        assert principal != "*" and principal.get("AWS") != "*"


def test_every_function_logs_to_its_own_encrypted_log_group_with_retention() -> None:
    mocks = _run("eu-fr")
    groups = {g["name"]: g for g in mocks.of_type("cloudwatch/logGroup:LogGroup") if "name" in g}
    for function in mocks.of_type("lambda/function:Function"):
        group = groups[f"/aws/lambda/{function['name']}"]
        assert group["kmsKeyId"] == "arn:aws:mock:::sovgw-eu-fr" and group["retentionInDays"] >= 365
        assert function["loggingConfig"]["logGroup"] == group["name"]


def test_external_destinations_get_a_key_secret_for_the_proxy() -> None:
    from sovgw.policy import ModelEndpoint, RoutingPolicy  # noqa: PLC0415

    eu_de = GATEWAY.jurisdiction("eu-de")
    assert eu_de is not None
    vendor = ModelEndpoint(
        name="vendor", region="eu-central-1", tier="external", base_url="https://v.example/v1"
    )
    abroad = ModelEndpoint(
        name="abroad", region="us-east-1", tier="external", base_url="https://a.example/v1"
    )
    policy = RoutingPolicy(
        version="t", jurisdiction="eu-de", destinations=(*eu_de.endpoints, vendor, abroad)
    )
    gateway = GATEWAY.model_copy(
        update={
            "jurisdictions": tuple(
                j.model_copy(update={"policy": policy}) if j.id == "eu-de" else j
                for j in GATEWAY.jurisdictions
            )
        }
    )
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="sovgw", stack="eu-de", preview=False)
    from infra.stack import StackConfig, build_stack  # noqa: PLC0415

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> pulumi.Output[Any]:
        jurisdiction = next(j for j in gateway.jurisdictions if j.id == "eu-de")
        return pulumi.Output.all(
            *build_stack(StackConfig(jurisdiction, ACCOUNT, gateway, CODE)).values()
        )

    program()
    names = {s["name"] for s in mocks.of_type("secretsmanager/secret:Secret")}
    assert "sovgw/eu-de/upstream/vendor" in names
    assert "sovgw/eu-de/upstream/abroad" not in names, "never for a destination abroad"


def test_every_function_is_deployed_as_sovgw_wiring_declares_it() -> None:
    """Handler, timeout, memory, concurrency and who may invoke it come from one declaration
    (``sovgw/wiring.py``), for the routed functions and those AWS services call directly."""
    mocks = _run("eu-de")
    deployed = {f["name"]: f for f in mocks.of_type("lambda/function:Function")}
    principals = {p["principal"] for p in mocks.of_type("lambda/permission:Permission")}
    for declared in (*FUNCTIONS, *INVOKED_DIRECTLY, *DATASET_FUNCTIONS):
        function = deployed[function_name("eu-de", declared.name)]
        assert function["handler"] == declared.handler
        assert function["timeout"] == declared.timeout_seconds
        assert function["memorySize"] == declared.memory_mb
        # Step Functions invokes with its role (test_datasets_infra), not a resource policy.
        assert declared.invoked_by in principals or declared in DATASET_FUNCTIONS
        if declared.handler.endswith(".lambda_handler"):
            module = importlib.import_module(declared.handler.rsplit(".", 1)[0])
            assert callable(module.lambda_handler)


def test_evidence_buckets_let_only_the_break_glass_role_delete_or_loosen() -> None:
    """A plain DeleteObject sets a delete marker even under Object Lock: the bucket policy
    refuses it, and any change to the bucket's protection, to all but the break-glass role."""
    mocks = _run("eu-de")
    policies = [
        json.loads(p["policy"])
        for p in mocks.of_type("s3/bucketPolicy:BucketPolicy")
        if "sovgw-datasets-" not in p["policy"]  # not evidence: test_datasets_infra
    ]
    assert len(policies) == 3, "the audit, CloudTrail and log-archive buckets"
    exempt = set()
    for policy in policies:
        (deny,) = [s for s in policy["Statement"] if s["Sid"] == "DenyTamperingExceptBreakGlass"]
        assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
        assert {"s3:DeleteObject", "s3:PutBucketPolicy", "s3:PutBucketVersioning"} <= set(
            deny["Action"]
        )
        assert set(deny["Condition"]) == {"ArnNotEquals"}
        exempt.add(deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"])
    assert exempt == {
        f"arn:aws:iam::{ACCOUNT}:role/sovgw-eu-de-break-glass",
        f"arn:aws:iam::{ARCHIVE_ACCOUNT}:role/sovgw-eu-de-log-archive-break-glass",
    }, "each account's own break-glass role, one per bucket"


def test_evidence_is_replicated_to_a_locked_bucket_of_the_log_archive_account() -> None:
    mocks = _run("eu-de")
    (archive_provider,) = _providers(mocks, "aws-eu-de-log-archive")
    assert archive_provider["region"] == "eu-central-1", "same region: no transfer"
    assert json.loads(archive_provider["allowedAccountIds"]) == [ARCHIVE_ACCOUNT]
    assert json.loads(archive_provider["assumeRoles"])[0]["roleArn"] == ARCHIVE.deploy_role_arn
    archive_name = f"sovgw-log-archive-eu-de-{ARCHIVE_ACCOUNT}"
    (bucket,) = [b for b in mocks.of_type("s3/bucket:Bucket") if b["bucket"] == archive_name]
    assert bucket["objectLockEnabled"] is True
    configs = mocks.of_type("s3/bucketReplicationConfig:BucketReplicationConfig")
    assert {c["bucket"] for c in configs} == {
        "sovgw-eu-de-audit-bucket-id",
        "sovgw-eu-de-trail-bucket-id",
    }
    rules = [rule for c in configs for rule in c["rules"]]
    assert {r["filter"]["prefix"] for r in rules} == {
        "digests/",
        "manifests/",
        "records/",
        "AWSLogs/",
    }
    for rule in rules:
        assert rule["deleteMarkerReplication"] == {"status": "Disabled"}
        destination = rule["destination"]
        assert destination["bucket"] == f"arn:aws:s3:::{archive_name}"
        assert destination["account"] == ARCHIVE_ACCOUNT
        assert destination["accessControlTranslation"] == {"owner": "Destination"}
        assert destination["encryptionConfiguration"]["replicaKmsKeyId"]
    role = f"arn:aws:iam::{ACCOUNT}:role/sovgw-eu-de-evidence-replication"
    assert {c["role"] for c in configs} == {role}
    (archive_policy,) = [
        json.loads(p["policy"])
        for p in mocks.of_type("s3/bucketPolicy:BucketPolicy")
        if "GatewayReplicatesObjects" in p["policy"]
    ]
    allowed = [s for s in archive_policy["Statement"] if s["Effect"] == "Allow"]
    assert {s["Principal"]["AWS"] for s in allowed} == {role}
    granted = {a for s in allowed for a in s["Action"]}
    assert not any("Delete" in a or "Put" in a for a in granted), granted
    (key_policy,) = [
        json.loads(k["policy"]) for k in mocks.of_type("kms/key:Key") if "log archive" in str(k)
    ]
    principals = {json.dumps(s["Principal"]) for s in key_policy["Statement"]}
    assert json.dumps({"AWS": role}) in principals


def test_without_a_log_archive_the_stack_warns_and_the_same_account_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **k: warnings.append(message))
    mocks = _run("eu-de", archive=None)
    assert not mocks.of_type("s3/bucketReplicationConfig:BucketReplicationConfig")
    assert any("sovgw:logArchive is not set" in w for w in warnings)
    with pytest.raises(Exception, match="another account"):
        _run("eu-de", archive=LogArchiveSettings(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:role/x"))


def test_the_account_may_come_from_the_gateway_configuration_but_never_twice(
    tmp_path: Path,
) -> None:
    """One jurisdiction file can drive both the stack and the Salesforce relay metadata."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    gateway = tmp_path / "config" / "gateway.yaml"
    raw = yaml.safe_load(gateway.read_text(encoding="utf-8"))
    for entry in raw["jurisdictions"]:
        if entry["id"] == "eu-de":
            entry["aws_account_id"] = "210987654321"
    gateway.write_text(yaml.safe_dump(raw), encoding="utf-8")
    settings = {"sovgw:gatewayConfig": str(gateway), "sovgw:codePath": "functions"}
    mocks = run_as_language_host(ROOT / "Pulumi.eu-de.yaml", settings)
    (provider,) = _providers(mocks, "aws-eu-de")
    assert json.loads(provider["allowedAccountIds"]) == ["210987654321"]
    with pytest.raises(ValueError, match="set one of them"):
        run_as_language_host(
            ROOT / "Pulumi.eu-de.yaml", {**settings, "sovgw:accountId": "111122223333"}
        )
    with pytest.raises(ValueError, match="no AWS account"):
        run_as_language_host(ROOT / "Pulumi.eu-de.yaml", {"sovgw:codePath": "functions"})


def test_each_org_has_a_relay_gap_alarm_on_what_the_watcher_emits() -> None:
    """Dimensions exactly as the watcher's EMF documents carry them (Powertools adds
    ``service``), and missing data alarms: a silent watcher proves nothing."""
    mocks = _run("eu-de")
    alarms = [
        a for a in mocks.of_type("cloudwatch/metricAlarm:MetricAlarm")
        if a.get("metricName") == RELAY_GAP_METRIC
    ]  # fmt: skip
    orgs = GATEWAY.orgs_of("eu-de")
    assert len(alarms) == len(orgs) >= 1
    check = RelayCheck(orgs[0].org_id, 120.0, ("heartbeat_missing",), True, False)
    alarm = alarms[0]
    assert _alarm_sees(alarm, _emitted(lambda: publish_relay_metrics([check], "eu-de")))
    assert alarm["treatMissingData"] == "breaching" and alarm["period"] == 60
    policy = next(
        json.loads(p["policy"])
        for t, n, p in mocks.resources
        if t.endswith("iam/rolePolicy:RolePolicy") and "relay_watch" in n
    )
    resources = {r for st in policy["Statement"] for r in st.get("Resource", [])}
    assert any(orgs[0].relay_monitor_secret in r for r in resources), "reads the monitor secret"


def test_incident_clocks_alarm_on_what_the_check_emits_and_the_check_only_reads() -> None:
    mocks = _run("eu-de")
    [alarm] = [
        a for a in mocks.of_type("cloudwatch/metricAlarm:MetricAlarm")
        if a.get("metricName") == INCIDENT_CLOCKS_METRIC
    ]  # fmt: skip
    assert _alarm_sees(alarm, _emitted(lambda: publish_incident_clocks(1, "eu-de")))
    assert alarm["treatMissingData"] == "breaching" and alarm["threshold"] == 1
    policy = next(
        json.loads(p["policy"])
        for t, n, p in mocks.resources
        if t.endswith("iam/rolePolicy:RolePolicy") and n.endswith("-functions-incident_clock")
    )
    reads = next(s for s in policy["Statement"] if "s3:GetObject" in s["Action"])
    assert reads["Resource"] == ["arn:aws:mock:::sovgw-eu-de-audit-bucket/incidents/*"]


def test_a_suspended_principal_alarms_on_what_the_watcher_emits_and_the_watcher_reaches_the_store() -> (
    None
):
    mocks = _run("eu-de")
    [alarm] = [
        a for a in mocks.of_type("cloudwatch/metricAlarm:MetricAlarm")
        if a.get("metricName") == SUSPENDED_PRINCIPALS_METRIC
    ]  # fmt: skip
    assert _alarm_sees(alarm, _emitted(lambda: publish_suspended_principals(1, "eu-de")))
    assert not _alarm_sees(alarm, _emitted(lambda: publish_suspended_principals(1, "eu-fr")))
    assert alarm["treatMissingData"] == "breaching" and alarm["threshold"] == 1
    policy = next(
        json.loads(p["policy"])
        for t, n, p in mocks.resources
        if t.endswith("iam/rolePolicy:RolePolicy") and n.endswith("-functions-anomaly_watch")
    )
    assert any("elasticache:Connect" in s["Action"] for s in policy["Statement"])
    [rule] = [
        r for r in mocks.of_type("cloudwatch/eventRule:EventRule")
        if r.get("name", "").endswith("anomaly_watch-schedule")
    ]  # fmt: skip
    assert rule["scheduleExpression"] == "rate(15 minutes)"


def _emitted(publish: Any) -> dict[str, Any]:
    """The EMF document ``publish`` writes (what CloudWatch turns into metrics)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        publish()
    document: dict[str, Any] = json.loads(out.getvalue().splitlines()[-1])
    return document


def _alarm_sees(alarm: dict[str, Any], document: dict[str, Any]) -> bool:
    """CloudWatch matches a metric by its exact dimension set: the alarm must name every
    dimension the document declares, with the document's values."""
    [dimensions] = document["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    names = {m["Name"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    return (
        alarm["metricName"] in names
        and set(alarm["dimensions"]) == set(dimensions)
        and all(document[k] == v for k, v in alarm["dimensions"].items())
    )
