"""Pulumi program: one stack per jurisdiction (``pulumi up -s <jurisdiction>``).

Not complete yet (issue #8): the Lambda functions, SageMaker endpoints, CloudTrail and the
secrets are still to come; the network, keys, audit store and event wiring are here.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi

from infra.stack import StackConfig, build_stack
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
        function_arns=settings.get_object("functionArns") or {},
    )
)
for key, value in outputs.items():
    pulumi.export(key, value)
