"""Pulumi program: one stack per jurisdiction (``pulumi up -s <jurisdiction>``); see
``infra/README.md`` for the walkthrough and what each output is for."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi

from infra.stack import ModelSettings, StackConfig, build_stack
from sovgw.config import load_config

settings = pulumi.Config("sovgw")
gateway = load_config(Path(settings.get("gatewayConfig") or "config/gateway.yaml"))
jurisdiction = gateway.jurisdiction(settings.require("jurisdiction"))
if jurisdiction is None:
    raise ValueError(f"unknown jurisdiction {settings.require('jurisdiction')!r}")
outputs = build_stack(
    StackConfig(
        jurisdiction=jurisdiction,
        account_id=settings.require("accountId"),
        gateway=gateway,
        code_path=settings.get("codePath"),
        model=ModelSettings(**model) if (model := settings.get_object("model")) else None,
        proxy_adapter_layer_arn=settings.get("proxyAdapterLayerArn"),
        salesforce_endpoint_services=tuple(settings.get_object("salesforcePrivateConnect") or ()),
    )
)
for key, value in outputs.items():
    pulumi.export(key, value)
