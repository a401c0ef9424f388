"""The OpenAI-compatible proxy of one jurisdiction: a Lambda behind a private REST API.

The function runs ``sovgw proxy`` under the Lambda Web Adapter (``functions/proxy/run.sh``)
in response-streaming mode; API Gateway invokes it through ``InvokeWithResponseStream``
(integration ``responseTransferMode: STREAM``), so SSE reaches callers as it is produced.
The API is ``PRIVATE``: reachable only through this stack's ``execute-api`` VPC endpoint, which
the resource policy enforces. Apps authenticate with their API keys inside the proxy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
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
from sovgw.wiring import function, function_name

PROXY = function("proxy")  # its handler and settings: sovgw/wiring.py

# Lambda Web Adapter, published by AWS in every commercial region (arm64 build). Pin the
# version here; override with the stack setting ``sovgw:proxyAdapterLayerArn``.
ADAPTER_LAYER = "arn:aws:lambda:{region}:753240598075:layer:LambdaAdapterLayerArm64:25"
STAGE = "v1"


@dataclass(frozen=True)
class ProxyArgs(LambdaPlacement):
    execute_api_endpoint_id: pulumi.Input[str]
    sagemaker_endpoints: Sequence[str] = ()
    adapter_layer_arn: str | None = None
    reserved_concurrency: int = PROXY.reserved_concurrency


def proxy_policy(args: ProxyArgs, audit_arn: str, key_arn: str) -> dict[str, Any]:
    """Least privilege: its audit prefix, its in-region endpoints, its upstream key secrets."""
    j = args.jurisdiction
    statements = base_statements(
        j, args.account_id, function_name(j.id, PROXY.name), audit_arn=audit_arn, key_arn=key_arn
    )
    statements += [
        {
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [
                f"arn:aws:secretsmanager:{j.region}:{args.account_id}:secret:sovgw/{j.id}/upstream/*"
            ],
        },
    ]
    if args.sagemaker_endpoints:
        statements.append(
            invoke_endpoints_statement(j.region, args.account_id, args.sagemaker_endpoints)
        )
    return {"Version": "2012-10-17", "Statement": statements}


def private_api_policy(vpc_endpoint_id: str) -> dict[str, Any]:
    """Invoke only through this stack's VPC endpoint; everything else is denied."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "execute-api:Invoke",
                "Resource": "execute-api:/*",
            },
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "execute-api:Invoke",
                "Resource": "execute-api:/*",
                "Condition": {"StringNotEquals": {"aws:SourceVpce": vpc_endpoint_id}},
            },
        ],
    }


class SovereignProxyApi(pulumi.ComponentResource):
    def __init__(self, name: str, args: ProxyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sovgw:proxy:SovereignProxyApi", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        j = args.jurisdiction
        self.role = function_role(
            f"{name}-role",
            pulumi.Output.all(args.audit_bucket_arn, args.kms_key_arn).apply(
                lambda arns: json.dumps(proxy_policy(args, arns[0], arns[1]))
            ),
            child,
        )
        self.function = private_function(
            f"{name}-function",
            args,
            self.role,
            FunctionSpec(
                function_name=function_name(j.id, PROXY.name),
                handler=PROXY.handler,
                environment={
                    "AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
                    "AWS_LWA_INVOKE_MODE": "response_stream",
                    "AWS_LWA_READINESS_CHECK_PATH": "/health",
                    "PORT": "8080",
                    "SOVGW_JURISDICTION": j.id,
                    "POWERTOOLS_SERVICE_NAME": "sovgw-proxy",
                    "POWERTOOLS_LOG_LEVEL": "INFO",
                },
                timeout_s=PROXY.timeout_seconds,
                memory_mb=PROXY.memory_mb,
                reserved_concurrency=args.reserved_concurrency,
                layers=[args.adapter_layer_arn or ADAPTER_LAYER.format(region=j.region)],
            ),
            child,
        )
        self.api = aws.apigateway.RestApi(
            f"{name}-api",
            name=f"sovgw-{j.id}-proxy",
            endpoint_configuration={
                "types": "PRIVATE",
                "vpc_endpoint_ids": [args.execute_api_endpoint_id],
            },
            policy=pulumi.Output.from_input(args.execute_api_endpoint_id).apply(
                lambda vpce: json.dumps(private_api_policy(vpce))
            ),
            opts=child,
        )
        resource = aws.apigateway.Resource(
            f"{name}-any-path",
            rest_api=self.api.id,
            parent_id=self.api.root_resource_id,
            path_part="{proxy+}",
            opts=child,
        )
        method = aws.apigateway.Method(
            f"{name}-any",
            rest_api=self.api.id,
            resource_id=resource.id,
            http_method="ANY",
            authorization="NONE",  # each app's API key is checked by the proxy itself
            opts=child,
        )
        integration = aws.apigateway.Integration(
            f"{name}-streaming",
            rest_api=self.api.id,
            resource_id=resource.id,
            http_method=method.http_method,
            type="AWS_PROXY",
            integration_http_method="POST",
            uri=self.function.arn.apply(
                lambda arn: (
                    f"arn:aws:apigateway:{j.region}:lambda:path/2021-11-15/functions/"
                    f"{arn}/response-streaming-invocations"
                )
            ),
            response_transfer_mode="STREAM",
            timeout_milliseconds=300_000,
            opts=child,
        )
        aws.lambda_.Permission(
            f"{name}-invoke",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal=PROXY.invoked_by,
            source_arn=self.api.execution_arn.apply(lambda arn: f"{arn}/*/*/*"),
            opts=child,
        )
        deployment = aws.apigateway.Deployment(
            f"{name}-deployment",
            rest_api=self.api.id,
            triggers={"integration": integration.id},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[integration, method]),
        )
        self.stage = aws.apigateway.Stage(
            f"{name}-stage",
            rest_api=self.api.id,
            deployment=deployment.id,
            stage_name=STAGE,
            xray_tracing_enabled=True,
            opts=child,
        )
        self.url = pulumi.Output.all(self.api.id, args.execute_api_endpoint_id).apply(
            lambda ids: f"https://{ids[0]}-{ids[1]}.execute-api.{j.region}.amazonaws.com/{STAGE}/v1"
        )
        self.register_outputs({"url": self.url, "function": self.function.name})
