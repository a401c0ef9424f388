"""The policies of the ``sovgw-sovereignty`` pack (built here so tests can run them; the pack's
``__main__`` serves them to the Pulumi CLI)."""

from __future__ import annotations

from pulumi_policy import (
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra.policy.rules import CHECKS, STACK_CHECKS, Check, StackCheck


def _policy(name: str, description: str, check: Check) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        region = str((args.get_config() or {}).get("region", ""))
        for violation in check(args.resource_type, args.props, region):
            report_violation(violation, None)

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        config_schema=PolicyConfigSchema(
            properties={"region": {"type": "string"}}, required=["region"]
        )
        if name == "region-pinned"
        else None,
    )


def _stack_policy(name: str, description: str, check: StackCheck) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [(r.resource_type, r.props) for r in args.resources]
        for violation in check(resources, ""):
            report_violation(violation, None)

    return StackValidationPolicy(name=name, description=description, validate=validate)


def policies() -> list[Policy]:
    return [
        *(_policy(name, description, check) for name, (description, check) in CHECKS.items()),
        *(_stack_policy(name, text, check) for name, (text, check) in STACK_CHECKS.items()),
    ]
