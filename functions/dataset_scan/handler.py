"""dataset_scan: one item of a dataset build's distributed map (one part file): each record
curated one-way pseudonymised, quarantined with its reasons, or rejected as malformed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sovgw.app.bootstrap import Dependencies, dependencies_from_env
from sovgw.app.datasets import scan_item
from sovgw.app.invocation import logger, raise_canaries, run_handler
from sovgw.contracts import DatasetPartItem, parse_event
from sovgw.domain.canaries import Sighting

FUNCTION = "dataset_scan"


def handle(event: Mapping[str, Any], deps: Dependencies) -> dict[str, Any]:
    item = parse_event(DatasetPartItem, event)
    seen: list[Sighting] = []
    result = scan_item(
        deps.datasets,
        lambda dataset: deps.pseudonym_key(dataset, False),
        item,
        deps.canaries(),
        seen.append,
    )
    raise_canaries(FUNCTION, event, deps, seen)  # the records stay quarantined
    logger.info(
        "part scanned",
        dataset=item.dataset,
        build_id=item.build_id,
        part=item.part,
        exported=result.exported,
        curated=result.curated,
        quarantined=result.quarantined,
        rejected=result.rejected,
        error=result.error,
    )
    return {"part": result.part, "status": "failed" if result.error else "scanned"}


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_handler(FUNCTION, handle, event, dependencies_from_env(), context)
