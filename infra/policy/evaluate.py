"""Run the policy pack's checks over a stack's program, offline, and write the results as JSON
for the Art. 30 report (``sovgw audit report --policy-results``).

The program runs as ``pulumi up`` runs it (``infra/`` as working directory, configuration from
``Pulumi.<stack>.yaml`` plus the settings given), under Pulumi's own mocks, which run the real
pulumi-aws resource classes; every resource is recorded and checked by the same functions the
pack serves to the Pulumi CLI. The tests use the same recorder.

    python -m infra.policy.evaluate --stack eu-de --set sovgw:accountId=123456789012 \
        --set sovgw:codePath=functions --out build/policy-eu-de.json
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pulumi
import yaml

from infra.policy.rules import CHECKS, STACK_CHECKS

ROOT = Path(__file__).resolve().parents[2]


class RecordingMocks(pulumi.runtime.Mocks):
    """Pulumi mocks that record every resource's type, name and inputs."""

    def __init__(self) -> None:
        self.resources: list[tuple[str, str, dict[str, Any]]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append((args.typ, args.name, dict(args.inputs)))
        outputs = {**args.inputs, "arn": f"arn:aws:mock:::{args.name}", "keyId": f"{args.name}-key"}
        outputs.setdefault("bucket", args.name)
        outputs.setdefault("name", args.name)
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None

    def of_type(self, suffix: str) -> list[dict[str, Any]]:
        return [inputs for typ, _, inputs in self.resources if typ.endswith(suffix)]


@contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def run_as_language_host(stack_file: Path, settings: Mapping[str, str]) -> RecordingMocks:
    """What ``pulumi up`` does with ``main: infra/``: the working directory is ``infra/``, the
    program is ``.`` (run as ``__main__``), configuration from the stack file plus ``settings``."""
    stack = stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")
    config = yaml.safe_load(stack_file.read_text(encoding="utf-8"))["config"]
    main = yaml.safe_load((stack_file.parent / "Pulumi.yaml").read_text(encoding="utf-8"))["main"]
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="sovgw", stack=stack, preview=False)
    pulumi.runtime.set_all_config({**{k: str(v) for k, v in config.items()}, **settings})

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> None:
        runpy.run_path(".", run_name="__main__")

    try:
        with _working_directory(stack_file.parent / main):
            program()
    finally:
        pulumi.runtime.set_all_config({})
    return mocks


def evaluate(mocks: RecordingMocks, region: str) -> list[dict[str, Any]]:
    """Every check of the pack over the recorded resources: its violations (empty: passed)."""
    resources = [(resource_type, props) for resource_type, _, props in mocks.resources]
    results = [
        {
            "name": name,
            "description": description,
            "violations": [v for t, p in resources for v in check(t, p, region)],
        }
        for name, (description, check) in CHECKS.items()
    ]
    results += [
        {"name": name, "description": description, "violations": check(resources, region)}
        for name, (description, check) in STACK_CHECKS.items()
    ]
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="the stack (jurisdiction) to evaluate")
    parser.add_argument("--set", action="append", default=[], help="sovgw:key=value (JSON ok)")
    parser.add_argument("--out", help="write the JSON here (else stdout)")
    args = parser.parse_args(argv)
    settings = dict(item.split("=", 1) for item in args.set)
    stack_file = ROOT / f"Pulumi.{args.stack}.yaml"
    mocks = run_as_language_host(stack_file, settings)
    regions = {
        str(props.get("region"))
        for typ, name, props in mocks.resources
        if typ == "pulumi:providers:aws" and name == f"aws-{args.stack}"
    }
    results = {
        "stack": args.stack,
        "region": ",".join(sorted(regions)),
        "evaluated_at": datetime.now(UTC).isoformat(),
        "how": "infra/policy/evaluate.py: the program under Pulumi mocks, the pack's checks",
        "resources": len(mocks.resources),
        "checks": evaluate(mocks, ",".join(sorted(regions))),
    }
    text = json.dumps(results, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    failed = [c["name"] for c in results["checks"] if c["violations"]]
    if failed:
        print(f"policy checks failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
