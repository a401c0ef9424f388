"""dataset_reconcile: after the distributed map, write the build's manifest (exported =
curated + quarantined + rejected, per part and reason, with lineage) and its audit record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sovgw.app.bootstrap import Dependencies, dependencies_from_env
from sovgw.app.datasets import dataset_audit_record, load_build, reconcile
from sovgw.app.invocation import logger, run_handler
from sovgw.contracts import DatasetBuildRef, parse_event
from sovgw.domain.audit import Outcome

FUNCTION = "dataset_reconcile"


def handle(event: Mapping[str, Any], deps: Dependencies) -> dict[str, Any]:
    ref = parse_event(DatasetBuildRef, event)
    document, digest = reconcile(deps.datasets, ref)
    state = load_build(deps.datasets, ref.dataset, ref.build_id)
    deps.audit.write(
        dataset_audit_record(
            state,
            "scan",
            Outcome.OK if document["reconciled"] else Outcome.FAILED,
            {
                "totals": document["totals"],
                "reasons": document["reasons"],
                "manifest_sha256": digest,
                "detail": "; ".join(document["problems"])[:500] or None,
            },
            entity_counts=document["pseudonymised"],
        )
    )
    logger.info(
        "build reconciled",
        build_id=ref.build_id,
        reconciled=document["reconciled"],
        **document["totals"],
    )
    return {
        "reconciled": document["reconciled"],
        "totals": document["totals"],
        "manifest_sha256": digest,
    }


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_handler(FUNCTION, handle, event, dependencies_from_env(), context)
