"""The stack of one jurisdiction, composed from components (``__main__`` is the only caller
besides the tests)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components.audit import AuditStore, AuditStoreArgs
from infra.components.break_glass import BreakGlassArgs, BreakGlassResources
from infra.components.budget_store import BudgetStore, BudgetStoreArgs
from infra.components.credentials import CredentialsArgs, SalesforceCredentialPools
from infra.components.datasets import DatasetPipeline, DatasetsArgs
from infra.components.event_wiring import EventWiring, EventWiringArgs
from infra.components.functions import (
    Functions,
    FunctionsArgs,
    operator_alarms,
    schedule_functions,
)
from infra.components.key_policy import jurisdiction_key_policy
from infra.components.lambdas import LambdaPlacement
from infra.components.log_archive import AUDIT_PREFIXES, TRAIL_PREFIXES, LogArchive, LogArchiveArgs
from infra.components.model_endpoint import ModelEndpointArgs, SovereignModelEndpoint
from infra.components.network import NetworkArgs, SovereignNetwork
from infra.components.proxy import ProxyArgs, SovereignProxyApi
from infra.components.trail import CloudTrailLog, TrailArgs
from model_serving.serving_config import MODEL_PRESETS, plan_serving
from sovgw.config import GatewayConfig, Jurisdiction, TrustTier
from sovgw.wiring import SCHEDULES

OUTPUT_VPC_ID = "vpcId"
OUTPUT_AUDIT_BUCKET = "auditBucket"
OUTPUT_KMS_KEY_ARN = "kmsKeyArn"
OUTPUT_EVENT_BUSES = "eventBuses"
OUTPUT_MODEL_ENDPOINTS = "modelEndpoints"
OUTPUT_TRAIL_BUCKET = "cloudTrailBucket"
OUTPUT_PROXY_URL = "proxyUrl"
OUTPUT_BUDGET_STORE = "budgetStoreUrl"
OUTPUT_CREDENTIAL_SECRETS = "credentialSecrets"
OUTPUT_BREAK_GLASS_ROLE = "breakGlassRoleArn"
OUTPUT_LOG_ARCHIVE_BUCKET = "logArchiveBucket"


@dataclass(frozen=True)
class ModelSettings:
    """The sovereign model of the stack (``sovgw:model`` in the stack file)."""

    preset: str
    instance_type: str
    model_data_url: str
    max_model_len: int = 8192
    quantisation: str = "none"


@dataclass(frozen=True)
class LogArchiveSettings:
    """Where the evidence is copied (``sovgw:logArchive``): another account, same region."""

    account_id: str
    deploy_role_arn: str  # assumed to create the archive account's bucket and key


@dataclass(frozen=True)
class StackConfig:
    """What ``Pulumi.<jurisdiction>.yaml`` provides."""

    jurisdiction: Jurisdiction
    account_id: str
    gateway: GatewayConfig
    code_path: str | None = None
    model: ModelSettings | None = None
    proxy_adapter_layer_arn: str | None = None
    salesforce_endpoint_services: tuple[str, ...] = ()
    log_archive: LogArchiveSettings | None = None


def _log_archive(
    config: StackConfig,
    audit: AuditStore,
    trail: CloudTrailLog,
    key_arn: pulumi.Output[str],
    opts: pulumi.ResourceOptions,
) -> LogArchive | None:
    """The copy of the audit bucket and the CloudTrail log in the log-archive account."""
    jurisdiction = config.jurisdiction
    if config.log_archive is None:
        pulumi.log.warn(
            "sovgw:logArchive is not set: the evidence has no copy in a log-archive account "
            "(the policy pack's evidence-replicated check fails this stack)"
        )
        return None
    if config.log_archive.account_id == config.account_id:
        raise ValueError("sovgw:logArchive.account_id must be another account than the stack's")
    archive = LogArchive(
        f"sovgw-{jurisdiction.id}-log-archive",
        LogArchiveArgs(
            jurisdiction,
            config.account_id,
            config.log_archive.account_id,
            config.log_archive.deploy_role_arn,
            key_arn,
        ),
        opts,
    )
    archive.replicate(f"sovgw-{jurisdiction.id}-audit", audit.evidence, AUDIT_PREFIXES)
    archive.replicate(f"sovgw-{jurisdiction.id}-trail", trail.evidence, TRAIL_PREFIXES)
    return archive


def _datasets(
    placement: LambdaPlacement,
    environment: dict[str, pulumi.Output[str]],
    budget_connect_arns: pulumi.Output[list[str]],
    opts: pulumi.ResourceOptions,
) -> DatasetPipeline:
    """The training datasets: bucket, scan state machine, governed training."""
    return DatasetPipeline(
        f"sovgw-{placement.jurisdiction.id}-datasets",
        DatasetsArgs(
            **placement.shared(),
            environment=environment,
            budget_connect_arns=budget_connect_arns,
        ),
        opts,
    )


def build_stack(config: StackConfig) -> dict[str, pulumi.Output[object]]:
    """Create the jurisdiction's resources with a provider pinned to its region and account."""
    jurisdiction = config.jurisdiction
    provider = aws.Provider(
        f"aws-{jurisdiction.id}",
        region=jurisdiction.region,
        allowed_account_ids=[config.account_id],
    )
    opts = pulumi.ResourceOptions(provider=provider)
    key = aws.kms.Key(
        f"sovgw-{jurisdiction.id}",
        description=f"sovgw {jurisdiction.id}: data, secrets and pseudonymisation mappings",
        enable_key_rotation=True,
        deletion_window_in_days=30,
        opts=opts,
    )
    aws.kms.Alias(
        f"sovgw-{jurisdiction.id}", name=jurisdiction.kms_alias, target_key_id=key.key_id, opts=opts
    )
    network = SovereignNetwork(
        f"sovgw-{jurisdiction.id}",
        NetworkArgs(
            region=jurisdiction.region,
            account_id=config.account_id,
            flow_log_key_arn=key.arn,
            salesforce_endpoint_services=config.salesforce_endpoint_services,
        ),
        opts,
    )
    audit = AuditStore(
        f"sovgw-{jurisdiction.id}-audit",
        AuditStoreArgs(jurisdiction, config.account_id, key.arn),
        opts,
    )
    trail = CloudTrailLog(
        f"sovgw-{jurisdiction.id}-trail",
        TrailArgs(jurisdiction, config.account_id, key.arn, audit.bucket.arn),
        opts,
    )
    outputs: dict[str, pulumi.Output[object]] = {
        OUTPUT_VPC_ID: network.vpc.id,
        OUTPUT_AUDIT_BUCKET: audit.bucket.bucket,
        OUTPUT_KMS_KEY_ARN: key.arn,
        OUTPUT_TRAIL_BUCKET: trail.bucket.bucket,
    }
    endpoint_names: list[str] = []
    deployed_names: list[pulumi.Output[str]] = []
    key_users: list[pulumi.Output[str]] = []
    archive = _log_archive(config, audit, trail, key.arn, opts)
    if archive is not None:
        key_users.append(archive.role.arn)
        outputs[OUTPUT_LOG_ARCHIVE_BUCKET] = archive.evidence.bucket.bucket
    if config.model is not None:
        plan = plan_serving(
            MODEL_PRESETS[config.model.preset],
            config.model.instance_type,
            jurisdiction.region,
            max_model_len=config.model.max_model_len,
            quantisation="fp8" if config.model.quantisation == "fp8" else "none",
        )
        for endpoint in jurisdiction.endpoints:
            if endpoint.tier is not TrustTier.SOVEREIGN or endpoint.region != jurisdiction.region:
                pulumi.log.warn(
                    f"not deploying {endpoint.ref}: "
                    f"not a sovereign endpoint in {jurisdiction.region}"
                )
                continue
            deployed = SovereignModelEndpoint(
                f"sovgw-{endpoint.name}",
                ModelEndpointArgs(
                    jurisdiction=jurisdiction,
                    endpoint=endpoint,
                    plan=plan,
                    model_data_url=config.model.model_data_url,
                    subnet_ids=[s.id for s in network.subnets],
                    security_group_id=network.endpoint_security_group.id,
                    kms_key_arn=key.arn,
                ),
                opts,
            )
            endpoint_names.append(endpoint.name)
            deployed_names.append(deployed.endpoint.name)
            key_users.append(deployed.role.arn)
        outputs[OUTPUT_MODEL_ENDPOINTS] = pulumi.Output.all(*deployed_names)
    if config.code_path:
        orgs = config.gateway.orgs_of(jurisdiction.id)
        budget = BudgetStore(
            f"sovgw-{jurisdiction.id}-budget",
            BudgetStoreArgs(
                jurisdiction,
                network.vpc.id,
                network.cidr,
                [s.id for s in network.subnets],
                key.arn,
                orgs,
            ),
            opts,
        )
        budget_environment = {
            "SOVGW_BUDGET_STORE_URL": budget.url,
            "SOVGW_BUDGET_STORE_IAM_USER": budget.user.user_id,
            "SOVGW_BUDGET_STORE_NAME": budget.cache.name,
        }
        outputs[OUTPUT_BUDGET_STORE] = budget.url
        placement = LambdaPlacement(
            jurisdiction=jurisdiction,
            account_id=config.account_id,
            code_path=config.code_path,
            subnet_ids=[s.id for s in network.subnets],
            security_group_id=network.endpoint_security_group.id,
            kms_key_arn=key.arn,
            audit_bucket_arn=audit.bucket.arn,
        )
        pools = SalesforceCredentialPools(
            f"sovgw-{jurisdiction.id}-credentials",
            CredentialsArgs(
                **placement.shared(),
                orgs=orgs,
                environment=budget_environment,
                budget_connect_arns=budget.connect_arns,
            ),
            opts,
        )
        outputs[OUTPUT_CREDENTIAL_SECRETS] = pulumi.Output.from_input(
            {k: v.arn for k, v in pools.secrets.items()}
        )
        functions = Functions(
            f"sovgw-{jurisdiction.id}-functions",
            FunctionsArgs(
                **placement.shared(),
                orgs=orgs,
                model_endpoint_names=endpoint_names,
                environment=budget_environment,
                budget_connect_arns=budget.connect_arns,
                digest_key_arn=audit.digest_key.arn,
            ),
            opts,
        )
        schedule_functions(
            f"sovgw-{jurisdiction.id}",
            jurisdiction,
            functions,
            SCHEDULES,
            opts,
        )
        operator_alarms(f"sovgw-{jurisdiction.id}", jurisdiction, orgs, opts)
        wiring = EventWiring(
            f"sovgw-{jurisdiction.id}-events",
            EventWiringArgs(
                jurisdiction,
                config.gateway.orgs_of(jurisdiction.id),
                {k: f.arn for k, f in functions.functions.items()},
                {k: q.arn for k, q in functions.dead_letter_queues.items()},
            ),
            opts,
        )
        outputs[OUTPUT_EVENT_BUSES] = pulumi.Output.from_input(
            {k: b.name for k, b in wiring.buses.items()}
        )
        break_glass = BreakGlassResources(
            f"sovgw-{jurisdiction.id}-break-glass",
            BreakGlassArgs(
                jurisdiction,
                config.account_id,
                wiring.buses["internal"].name,
                functions.functions["break_glass"].arn,
            ),
            opts,
        )
        outputs[OUTPUT_BREAK_GLASS_ROLE] = break_glass.role.arn
        proxy = SovereignProxyApi(
            f"sovgw-{jurisdiction.id}-proxy",
            ProxyArgs(
                **placement.shared(),
                execute_api_endpoint_id=network.interface_endpoints["execute-api"].id,
                sagemaker_endpoints=endpoint_names,
                adapter_layer_arn=config.proxy_adapter_layer_arn,
            ),
            opts,
        )
        outputs[OUTPUT_PROXY_URL] = proxy.url
        datasets = _datasets(placement, budget_environment, budget.connect_arns, opts)
        outputs.update(datasets.outputs)
        key_users += [r.arn for r in functions.roles.values()]
        key_users += [r.arn for r in datasets.roles.values()]
        key_users += [proxy.role.arn, pools.role.arn]
    aws.kms.KeyPolicy(
        f"sovgw-{jurisdiction.id}-key-policy",
        key_id=key.id,
        policy=pulumi.Output.all(trail.trail.arn, *key_users).apply(
            lambda arns: json.dumps(
                jurisdiction_key_policy(
                    config.account_id, jurisdiction.region, list(arns[1:]), arns[0]
                )
            )
        ),
        opts=opts,
    )
    return outputs
