"""The dataset scan's distributed map, played locally (LocalStack cannot run Lambda, and its
distributed map is not to be trusted to run items).

Same contract as the state machine (``sovgw.wiring.dataset_scan_definition``): the items
are read from the items file in the dataset bucket, each one runs the real ``dataset_scan``
handler (through ``run_handler``, as Lambda would), at most ``workers`` at once in separate
processes, each with its own dependencies, then ``dataset_reconcile`` runs, even when items
failed.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sovgw.app.bootstrap import Dependencies, Settings, build_dependencies
from sovgw.app.invocation import run_handler
from sovgw.config import load_config
from sovgw.domain.errors import GatewayError, RejectedInput
from sovgw.local.runner import logic_for
from sovgw.wiring import DATASET_RECONCILE, DATASET_SCAN


@dataclass(frozen=True)
class MapRun:
    items: int
    reconcile: dict[str, Any]
    # Per item: its outcome with the wall and CPU seconds it took and its process's peak
    # memory so far (what a Lambda sandbox of that size would need).
    outcomes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The items whose scan did not finish (their parts are ``not scanned`` in the
        manifest)."""
        return [o for o in self.outcomes if o.get("status") != "scanned"]


_worker: Dependencies | None = None


def _start_worker(config_path: str, jurisdiction_id: str, settings: Mapping[str, Any]) -> None:
    global _worker  # noqa: PLW0603 - one per worker process, as Lambda keeps one per sandbox
    _worker = build_dependencies(
        load_config(Path(config_path)), jurisdiction_id, Settings.model_validate(settings)
    )


def _scan_in_worker(item: dict[str, Any]) -> dict[str, Any]:
    assert _worker is not None
    return _scan(item, _worker)


def peak_memory_mb() -> float:
    """This process's own peak resident memory. Linux's ``ru_maxrss`` is not it: a child keeps
    the high-water mark of the parent it was forked from, even across exec; ``VmHWM`` is the
    peak of the process's own address space."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def _scan(item: dict[str, Any], deps: Dependencies) -> dict[str, Any]:
    started, wall, cpu = time.time(), time.perf_counter(), time.process_time()
    try:
        outcome = {"item": item, **run_handler(DATASET_SCAN, logic_for(DATASET_SCAN), item, deps)}
    except GatewayError as error:  # retryable: the state machine's retries ran out
        outcome = {"item": item, "status": "failed", "reason": f"{type(error).__name__}: {error}"}
    return outcome | {
        "started": started,
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "max_rss_mb": peak_memory_mb(),
        "pid": os.getpid(),
    }


def run_scan_map(
    deps: Dependencies,
    execution_input: Mapping[str, Any],
    *,
    workers: int = 1,
    config_path: str | None = None,
    settings: Settings | None = None,
    processes: bool = False,
) -> MapRun:
    """Run the map over the items file named in ``execution_input``, then reconcile. Items
    run in this process when ``workers`` is 1, unless ``processes`` (as the benchmark wants:
    each worker's memory its own)."""
    body = deps.datasets.get(str(execution_input["items_key"]))
    if body is None:
        raise RejectedInput(f"no items file {execution_input['items_key']}")
    items: list[dict[str, Any]] = json.loads(body)
    if workers <= 1 and not processes:
        outcomes = [_scan(item, deps) for item in items]
    else:
        if config_path is None or settings is None:
            raise ValueError("worker processes need the config path and settings")
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(config_path, deps.jurisdiction.id, settings.model_dump(mode="json")),
        ) as pool:
            outcomes = list(pool.map(_scan_in_worker, items))
    reference = {k: execution_input[k] for k in ("dataset", "build_id")}
    reconciled = run_handler(DATASET_RECONCILE, logic_for(DATASET_RECONCILE), reference, deps)
    return MapRun(items=len(items), reconcile=reconciled, outcomes=outcomes)
