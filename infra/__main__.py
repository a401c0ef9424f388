"""Pulumi program: one stack per jurisdiction (``pulumi up -s <jurisdiction>``); see
``infra/README.md`` for the walkthrough and what each output is for.

Pulumi's language host runs this with ``infra/`` (the project's ``main``) as the working
directory, so every path in the stack configuration is resolved against the project (the
directory of ``Pulumi.yaml``), never the working directory.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi

from infra.stack import LogArchiveSettings, ModelSettings, StackConfig, build_stack
from sovgw.config import load_config

PROJECT = Path(__file__).resolve().parent.parent  # the directory of Pulumi.yaml


def project_path(value: str, setting: str) -> Path:
    """``value`` relative to the project; a clear error names the setting when it is missing."""
    path = Path(value) if Path(value).is_absolute() else PROJECT / value
    if not path.exists():
        raise FileNotFoundError(
            f"sovgw:{setting} is {value!r}, resolved against the project as {path}: not found"
            + (" (run `make package` first)" if setting == "codePath" else "")
        )
    return path


settings = pulumi.Config("sovgw")
gateway = load_config(
    project_path(settings.get("gatewayConfig") or "config/gateway.yaml", "gatewayConfig")
)
jurisdiction = gateway.jurisdiction(settings.require("jurisdiction"))
if jurisdiction is None:
    raise ValueError(f"unknown jurisdiction {settings.require('jurisdiction')!r}")
code_path = settings.get("codePath")


def account_of(jurisdiction_id: str, configured: str | None, declared: str | None) -> str:
    """The stack's account: ``sovgw:accountId``, or the jurisdiction's ``aws_account_id`` in the
    gateway configuration (which the Salesforce relay metadata also reads); never two."""
    if configured and declared and configured != declared:
        raise ValueError(
            f"sovgw:accountId is {configured} but the gateway configuration gives "
            f"{jurisdiction_id} the account {declared}: set one of them"
        )
    account = configured or declared
    if not account:
        raise ValueError(
            "no AWS account: pulumi config set sovgw:accountId <id>, or aws_account_id in the "
            "jurisdiction's entry of the gateway configuration"
        )
    return account


outputs = build_stack(
    StackConfig(
        jurisdiction=jurisdiction,
        account_id=account_of(
            jurisdiction.id, settings.get("accountId"), jurisdiction.aws_account_id
        ),
        gateway=gateway,
        code_path=str(project_path(code_path, "codePath")) if code_path else None,
        model=ModelSettings(**model) if (model := settings.get_object("model")) else None,
        proxy_adapter_layer_arn=settings.get("proxyAdapterLayerArn"),
        salesforce_endpoint_services=tuple(settings.get_object("salesforcePrivateConnect") or ()),
        log_archive=LogArchiveSettings(**archive)
        if (archive := settings.get_object("logArchive"))
        else None,
    )
)
for key, value in outputs.items():
    pulumi.export(key, value)
