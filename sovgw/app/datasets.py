"""Dataset builds across their steps: the export's checkpoint, one scan per part (a work item
of the distributed map), the reconciling manifest, and ``dataset verify``.

Keys in the dataset bucket, per build ``<d>/<b>``: ``raw/<d>/<b>/attempt-N/part-*.csv``
(Salesforce's pages as sent), ``curated/``, ``quarantine/`` and ``rejected/<d>/<b>/part-*.jsonl``
(the scan's outputs), ``builds/<d>/<b>/`` (checkpoint, items, per-part results) and
``manifests/<d>/<b>.json``. Training reads ``curated/`` only.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from sovgw.contracts import DatasetBuildRef, DatasetPartItem
from sovgw.domain import dlp
from sovgw.domain.audit import AuditRecord, DatasetFacts, Outcome, Stage, audit_record_id
from sovgw.domain.budget import Lane
from sovgw.domain.canaries import NO_CANARIES, CanaryWatch, Sighting
from sovgw.domain.datasets import DatasetDefinition
from sovgw.domain.errors import RejectedInput
from sovgw.domain.export import BuildState, Exporter, checkpoint_key
from sovgw.domain.query_log import calls_made_as, normalise_soql
from sovgw.domain.training_scan import (
    OneWayPseudonymiser,
    OutputFile,
    PartResult,
    TrainingGate,
    manifest,
    scan_part,
)
from sovgw.ports import DatasetObjects

if TYPE_CHECKING:
    from sovgw.app.bootstrap import Dependencies

OUTPUTS = ("curated", "quarantine", "rejected")


def load_build(objects: DatasetObjects, dataset: str, build_id: str) -> BuildState:
    body = objects.get(checkpoint_key(dataset, build_id))
    if body is None:
        raise RejectedInput(f"no build {build_id} of dataset {dataset}")
    return BuildState.model_validate_json(body)


def latest_build(objects: DatasetObjects, dataset: str) -> BuildState | None:
    """The dataset's newest build (build ids sort by start time)."""
    keys = [k for k in objects.keys(f"builds/{dataset}/") if k.endswith("/checkpoint.json")]
    return load_build(objects, dataset, keys[-1].split("/")[2]) if keys else None


def items_key(state: BuildState) -> str:
    return f"builds/{state.prefix}/items.json"


def result_key(state: BuildState, part: int) -> str:
    return f"builds/{state.prefix}/results/part-{part:05d}.json"


def manifest_key(dataset: str, build_id: str) -> str:
    return f"manifests/{dataset}/{build_id}.json"


def scan_input(objects: DatasetObjects, state: BuildState) -> dict[str, str]:
    """Write the distributed map's items (a JSON array its ItemReader reads, one per part)
    and return the scan's execution input: ``{"dataset", "build_id", "items_key"}``."""
    if state.status != "exported":
        raise RejectedInput(f"build {state.build_id} is {state.status}: nothing to scan yet")
    items = [
        DatasetPartItem(dataset=state.definition.id, build_id=state.build_id, part=p.number)
        for p in state.parts
    ]
    key = items_key(state)
    objects.put(key, json.dumps([i.model_dump() for i in items]).encode(), "application/json")
    return {"dataset": state.definition.id, "build_id": state.build_id, "items_key": key}


def scan_item(
    objects: DatasetObjects,
    key_of: Callable[[str], bytes],
    item: DatasetPartItem,
    canaries: CanaryWatch = NO_CANARIES,
    on_sighting: Callable[[Sighting], None] | None = None,
) -> PartResult:
    """Scan one part file of a build and write its outputs and result (idempotent: the same
    item gives the same objects). A part that cannot be scanned gets a result with ``error``."""
    state = load_build(objects, item.dataset, item.build_id)
    record = next((p for p in state.parts if p.number == item.part), None)
    if record is None:
        raise RejectedInput(f"build {item.build_id} has no part {item.part}")
    base = {
        "part": record.number,
        "raw_key": record.key,
        "raw_sha256": record.sha256,
        "exported": record.records,
    }
    raw = objects.get(record.key)
    if raw is None or hashlib.sha256(raw).hexdigest() != record.sha256:
        why = "raw part missing" if raw is None else "raw part changed since export (SHA-256)"
        result = PartResult(**base, error=why)
    else:
        gate = TrainingGate(
            state.definition,
            state.field_levels,
            OneWayPseudonymiser(key_of(item.dataset)),
            canaries,
        )
        scanned = scan_part(raw, gate, f"part-{record.number:05d}")
        if on_sighting is not None:  # one alarm per planted value found in the part
            for sighting in {s.canary: s for s in gate.sightings}.values():
                on_sighting(sighting)
        outputs: dict[str, OutputFile] = {}
        for name, lines in zip(
            OUTPUTS, (scanned.curated, scanned.quarantined, scanned.rejected), strict=True
        ):
            if lines:
                body = b"".join(lines)
                key = f"{name}/{state.prefix}/part-{record.number:05d}.jsonl"
                objects.put(key, body, "application/x-ndjson")
                outputs[name] = OutputFile(
                    key=key, sha256=hashlib.sha256(body).hexdigest(), records=len(lines)
                )
        result = PartResult(
            **base,
            **scanned.counts,
            reasons=dict(sorted(scanned.reasons.items())),
            reason_fields=dict(sorted(scanned.reason_fields.items())),
            pseudonymised=dict(sorted(scanned.pseudonymised.items())),
            outputs=outputs,
        )
    objects.put(
        result_key(state, record.number), result.model_dump_json().encode(), "application/json"
    )
    return result


def reconcile(objects: DatasetObjects, ref: DatasetBuildRef) -> tuple[dict[str, Any], str]:
    """Write the build's manifest from its checkpoint and part results; returns it and its
    SHA-256 (the same build gives the same bytes)."""
    state = load_build(objects, ref.dataset, ref.build_id)
    results: dict[int, PartResult] = {}
    for part in state.parts:
        body = objects.get(result_key(state, part.number))
        if body is not None:
            results[part.number] = PartResult.model_validate_json(body)
    document = manifest(state, results)
    body = json.dumps(document, indent=1, sort_keys=True).encode()
    objects.put(manifest_key(ref.dataset, ref.build_id), body, "application/json")
    return document, hashlib.sha256(body).hexdigest()


class VerifyReport(BaseModel):
    """``sovgw dataset verify``: hashes re-computed, curated records re-scanned (counts of
    finding types only, never values)."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    build_id: str
    records_checked: int = 0
    findings: dict[str, int] = Field(default_factory=dict)
    hash_mismatches: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not (self.findings or self.hash_mismatches or self.problems)


def verify(objects: DatasetObjects, state: BuildState) -> VerifyReport:
    """Check a build without trusting its scan: every hash the manifest names is recomputed
    from the objects, every curated value is scanned again, and any finding above the
    dataset's allowed level (a personal value, a privilege marker, a secret) fails it."""
    dataset, build_id = state.definition.id, state.build_id
    body = objects.get(manifest_key(dataset, build_id))
    if body is None:
        raise RejectedInput(f"build {build_id} of {dataset} has no manifest: scan it first")
    document = json.loads(body)
    allowed = state.definition.allowed_level
    columns = {"Id", *state.definition.fields}
    problems = list(document.get("problems", []))
    if not document.get("reconciled"):
        problems.append("the manifest does not reconcile")
    mismatches: list[str] = []
    findings: Counter[str] = Counter()
    checked = 0
    for part in document["parts"]:
        named = [(part["raw_key"], part["raw_sha256"])] + [
            (out["key"], out["sha256"]) for out in part.get("outputs", {}).values()
        ]
        for key, expected in named:
            found = objects.get(key)
            if found is None or hashlib.sha256(found).hexdigest() != expected:
                mismatches.append(key)
        curated = part.get("outputs", {}).get("curated")
        content = objects.get(curated["key"]) if curated else None
        for line in (content or b"").splitlines():
            checked += 1
            record = json.loads(line)
            if set(record) != columns:
                problems.append(f"{curated['key']}: a record's columns are not the dataset's")
                continue
            for value in record.values():
                for finding in dlp.detect(value):
                    if dlp.ENTITY_LEVELS[finding.entity].rank > allowed.rank:
                        findings[finding.entity.value] += 1
    return VerifyReport(
        dataset=dataset,
        build_id=build_id,
        records_checked=checked,
        findings=dict(sorted(findings.items())),
        hash_mismatches=mismatches,
        problems=problems,
    )


def dataset_audit_record(
    state: BuildState,
    action: str,
    outcome: Outcome,
    facts: dict[str, Any],
    entity_counts: dict[str, int] | None = None,
) -> AuditRecord:
    """The audit record of one step of a build (same build and step: same record id)."""
    definition = state.definition
    return AuditRecord(
        record_id=audit_record_id(f"{state.build_id}/{action}", Stage.DATASET),
        stage=Stage.DATASET,
        jurisdiction=state.jurisdiction,
        org_id=state.org_id,
        principal=f"dataset:{definition.id}",
        purpose=definition.purpose,
        data_level=definition.allowed_level,
        fields_used=definition.fields,
        entity_counts=entity_counts or {},
        policy_version=definition.version,
        outcome=outcome,
        dataset=DatasetFacts(
            dataset=definition.id,
            sobject=definition.object,
            version=definition.version,
            definition_sha256=definition.sha256,
            build_id=state.build_id,
            action=action,
            bulk_jobs=tuple(state.jobs),
            **facts,
        ),
    )


def exporter_for(deps: Dependencies, org_id: str, poll: Callable[[int], None]) -> Exporter:
    """The org's exporter: Bulk API 2.0 on the ROUTINE lane (admitted by the org's shared
    budget like every routine call: an export stops before the emergency reserve)."""
    from sovgw.adapters.salesforce.bulk import SalesforceBulkQueries  # noqa: PLC0415

    return Exporter(
        SalesforceBulkQueries(deps.salesforce(org_id, Lane.ROUTINE, None)), deps.datasets, poll=poll
    )


def start_build(
    deps: Dependencies, exporter: Exporter, definition: DatasetDefinition, org_id: str
) -> BuildState:
    """Snapshot the org's classification of the object, make sure the dataset has its key,
    and export. The build's steps are audit records whatever their end."""
    deps.pseudonym_key(definition.id, True)
    with calls_made_as("sovgw export", definition.purpose, None):
        levels = deps.crm_for(org_id, Lane.ROUTINE).field_levels(definition.object)
        state = exporter.begin(definition, org_id, deps.jurisdiction.id, dict(levels))
        deps.audit.write(
            dataset_audit_record(
                state,
                "export-start",
                Outcome.OK,
                {"detail": normalise_soql(definition.soql)},  # the filter's literals removed
            )
        )
        return continue_build(deps, exporter, state)


def continue_build(deps: Dependencies, exporter: Exporter, state: BuildState) -> BuildState:
    """Run or resume the export; its end (exported or failed) is audited, a pause is not an
    end (``ExportPaused`` propagates, the checkpoint says why)."""
    with calls_made_as("sovgw export", state.definition.purpose, None):
        state = exporter.resume(state)
    deps.audit.write(
        dataset_audit_record(
            state,
            "export",
            Outcome.OK if state.status == "exported" else Outcome.FAILED,
            {
                "totals": {"exported": state.exported_records, "parts": len(state.parts)},
                "detail": state.history[-1][:500] if state.history else None,
            },
        )
    )
    return state


def verify_build(deps: Dependencies, dataset: str, build_id: str) -> VerifyReport:
    """``verify`` and its audit record."""
    state = load_build(deps.datasets, dataset, build_id)
    report = verify(deps.datasets, state)
    record = dataset_audit_record(
        state,
        "verify",
        Outcome.OK if report.passed else Outcome.FAILED,
        {
            "totals": {"records_checked": report.records_checked, **report.findings},
            "detail": "; ".join(report.problems + report.hash_mismatches)[:500] or None,
        },
    )
    deps.audit.write(record.model_copy(update={"record_id": str(uuid.uuid4())}))
    return report
