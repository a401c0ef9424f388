"""Salesforce credential pools of one jurisdiction: per org two integration secrets and one
emergency secret in Secrets Manager (the jurisdiction's KMS key), the rotation function and a
rotation schedule (every 24 hours by default).

Pulumi never holds the secret values (they would land in its state): an operator puts each
connected app's first value once (``aws secretsmanager put-secret-value``); rotation takes
over from there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.components.lambdas import (
    FunctionSpec,
    LambdaPlacement,
    base_statements,
    function_role,
    private_function,
)
from sovgw.config import OrgBinding
from sovgw.wiring import function, function_name

ROTATE = function("rotate")  # its handler and settings: sovgw/wiring.py


@dataclass(frozen=True)
class CredentialsArgs(LambdaPlacement):
    orgs: tuple[OrgBinding, ...]
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    budget_connect_arns: pulumi.Input[Sequence[str]] | None = None
    rotation_days: int = 1


def rotation_policy(
    args: CredentialsArgs, audit_arn: str, key_arn: str, connect_arns: Sequence[str]
) -> dict[str, Any]:
    """The rotation function may touch its jurisdiction's pool secrets and nothing else."""
    j = args.jurisdiction
    secrets = [
        f"arn:aws:secretsmanager:{j.region}:{args.account_id}:secret:{name}-*"
        for org in args.orgs
        for name, _ in org.credential_pool_secrets
    ]
    statements = base_statements(
        j, args.account_id, function_name(j.id, ROTATE.name), audit_arn=audit_arn, key_arn=key_arn
    )
    statements += [
        {
            "Effect": "Allow",
            "Action": [
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetSecretValue",
                "secretsmanager:PutSecretValue",
                "secretsmanager:UpdateSecretVersionStage",
            ],
            "Resource": secrets,
        },
    ]
    if connect_arns:
        statements.append(
            {"Effect": "Allow", "Action": ["elasticache:Connect"], "Resource": list(connect_arns)}
        )
    return {"Version": "2012-10-17", "Statement": statements}


class SalesforceCredentialPools(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: CredentialsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("sovgw:credentials:SalesforceCredentialPools", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        j = args.jurisdiction
        self.role = function_role(
            f"{name}-rotate",
            pulumi.Output.all(
                args.audit_bucket_arn, args.kms_key_arn, args.budget_connect_arns or []
            ).apply(lambda r: json.dumps(rotation_policy(args, r[0], r[1], r[2]))),
            child,
        )
        self.function = private_function(
            f"{name}-rotate",
            args,
            self.role,
            FunctionSpec(
                function_name=function_name(j.id, ROTATE.name),
                handler=ROTATE.handler,
                environment={
                    "SOVGW_JURISDICTION": j.id,
                    "SOVGW_CONFIG": "config/gateway.yaml",
                    "POWERTOOLS_SERVICE_NAME": "sovgw-rotate",
                    **args.environment,
                },
                timeout_s=ROTATE.timeout_seconds,
                memory_mb=ROTATE.memory_mb,
                reserved_concurrency=ROTATE.reserved_concurrency,
            ),
            child,
        )
        permission = aws.lambda_.Permission(
            f"{name}-rotate-by-secretsmanager",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal=ROTATE.invoked_by,
            source_account=args.account_id,
            opts=child,
        )
        self.secrets: dict[str, aws.secretsmanager.Secret] = {}
        for org in args.orgs:
            for secret_name, emergency in org.credential_pool_secrets:
                key = secret_name.replace("/", "-")
                secret = aws.secretsmanager.Secret(
                    f"{name}-{key}",
                    name=secret_name,
                    description=(
                        f"{org.name}: Salesforce {'emergency' if emergency else 'integration'} "
                        "credential (client credentials flow)"
                    ),
                    kms_key_id=args.kms_key_arn,
                    recovery_window_in_days=7,
                    opts=child,
                )
                aws.secretsmanager.SecretRotation(
                    f"{name}-{key}",
                    secret_id=secret.id,
                    rotation_lambda_arn=self.function.arn,
                    rotation_rules={"automatically_after_days": args.rotation_days},
                    rotate_immediately=False,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[permission]),
                )
                self.secrets[secret_name] = secret
            # The relay monitor's credential (a separate user with View Setup only; not
            # rotated by the pool's function, which rotates integration credentials).
            self.secrets[org.relay_monitor_secret] = aws.secretsmanager.Secret(
                f"{name}-{org.relay_monitor_secret.replace('/', '-')}",
                name=org.relay_monitor_secret,
                description=f"{org.name}: Salesforce relay monitor (Sovgw_Relay_Monitor)",
                kms_key_id=args.kms_key_arn,
                recovery_window_in_days=7,
                opts=child,
            )
        # API keys of the external (openai:) destinations the policy names, for the proxy.
        for endpoint in j.endpoints:
            if endpoint.base_url and endpoint.region in j.allowed_regions:
                secret_name = f"sovgw/{j.id}/upstream/{endpoint.name}"
                self.secrets[secret_name] = aws.secretsmanager.Secret(
                    f"{name}-upstream-{endpoint.name}",
                    name=secret_name,
                    description=f"API key the proxy presents to {endpoint.upstream}",
                    kms_key_id=args.kms_key_arn,
                    recovery_window_in_days=7,
                    opts=child,
                )
        self.register_outputs({"secrets": {k: s.arn for k, s in self.secrets.items()}})
