"""The dataset export against the Salesforce simulator over HTTPS (Bulk API 2.0 as its
guide describes it): pages become part files with their hashes, a checkpoint after each, and
``resume`` continues after a failure, a lost job or a failed one without duplicates or gaps.
The bucket is an in-memory ``DatasetObjects`` here; the e2e test runs it on LocalStack."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import timedelta

import pytest

from sovgw.adapters.salesforce.bulk import SalesforceBulkQueries
from sovgw.adapters.salesforce.records import SalesforceRecords
from sovgw.domain.budget import Lane
from sovgw.domain.datasets import DatasetDefinition
from sovgw.domain.export import MAX_ATTEMPTS, BuildState, Exporter, ExportPaused
from sovgw.domain.levels import DataLevel
from sovgw.sfsim.model import MINIMUM_ACCESS_PROFILE, Fault
from tests.conftest import ORG_A, SeededSimulator
from tests.fakes import MemoryObjects

LEVELS = {"Subject": DataLevel.INTERNAL, "Description": DataLevel.CONFIDENTIAL}


def _definition(page_records: int = 10) -> DatasetDefinition:
    return DatasetDefinition(
        id="cases",
        version="1",
        purpose="model-training",
        object="Case",
        fields=("Subject", "Description"),
        allowed_level=DataLevel.CONFIDENTIAL,
        page_records=page_records,
    )


def _seed(salesforce: SeededSimulator, count: int) -> set[str]:
    org = salesforce.orgs[ORG_A]
    ids = {salesforce.cases[ORG_A]}
    for number in range(count):
        ids.add(salesforce.sim.insert(org, "Case", {"Subject": f'Case {number}, "quoted"'}))
    return ids


def _exporter(
    salesforce: SeededSimulator, objects: MemoryObjects, on_poll: object = None
) -> Exporter:
    records = SalesforceRecords(
        salesforce.credentials(ORG_A), lane=Lane.ROUTINE, ca_bundle=str(salesforce.server.ca_bundle)
    )
    return Exporter(
        SalesforceBulkQueries(records),
        objects,
        poll=on_poll if callable(on_poll) else (lambda _: None),
    )


def _exported_ids(state: BuildState, objects: MemoryObjects) -> list[str]:
    ids: list[str] = []
    for part in state.parts:
        body = objects.objects[part.key]
        assert hashlib.sha256(body).hexdigest() == part.sha256
        rows = list(csv.DictReader(io.StringIO(body.decode(), newline="")))
        assert len(rows) == part.records
        ids += [row["Id"] for row in rows]
    return ids


def _fail_results(salesforce: SeededSimulator, passes: int) -> None:
    salesforce.sim.inject_fault(
        salesforce.orgs[ORG_A],
        Fault(
            "GET", "/results", 503, "SERVER_UNAVAILABLE", "try later", remaining=1, passes=passes
        ),
    )


def test_pages_become_hashed_parts_with_every_record_once(salesforce: SeededSimulator) -> None:
    ids = _seed(salesforce, 24)
    objects = MemoryObjects()
    exporter = _exporter(salesforce, objects)
    state = exporter.resume(exporter.begin(_definition(), ORG_A, "eu-de", LEVELS))
    assert state.status == "exported"
    assert [p.records for p in state.parts] == [10, 10, 5]
    assert sorted(_exported_ids(state, objects)) == sorted(ids)
    assert state.field_levels == LEVELS
    assert len(state.jobs) == 1 and state.jobs[0].startswith("750")
    # the checkpoint in the bucket is the state, written after the last part
    saved = BuildState.model_validate_json(objects.objects[state.checkpoint_key])
    assert saved == state
    assert objects.puts[-1] == state.checkpoint_key


def test_resume_after_a_failed_page_continues_from_the_next_locator(
    salesforce: SeededSimulator,
) -> None:
    ids = _seed(salesforce, 24)
    objects = MemoryObjects()
    exporter = _exporter(salesforce, objects)
    state = exporter.begin(_definition(), ORG_A, "eu-de", LEVELS)
    _fail_results(salesforce, passes=1)
    with pytest.raises(ExportPaused, match="503"):
        exporter.resume(state)
    paused = BuildState.model_validate_json(objects.objects[state.checkpoint_key])
    assert paused.status == "paused" and len(paused.parts) == 1 and paused.next_locator
    first_part = objects.objects[paused.parts[0].key]
    done = exporter.resume(paused)
    assert done.status == "exported" and done.attempt == 1 and len(done.jobs) == 1
    assert objects.objects[done.parts[0].key] == first_part
    assert sorted(_exported_ids(done, objects)) == sorted(ids)


def test_a_job_lost_to_expiry_starts_a_new_attempt_without_duplicates(
    salesforce: SeededSimulator,
) -> None:
    ids = _seed(salesforce, 24)
    objects = MemoryObjects()
    exporter = _exporter(salesforce, objects)
    state = exporter.begin(_definition(), ORG_A, "eu-de", LEVELS)
    _fail_results(salesforce, passes=1)
    with pytest.raises(ExportPaused):
        exporter.resume(state)
    stale = [p.key for p in exporter_state(objects, state).parts]
    salesforce.sim.advance(timedelta(days=8).total_seconds())  # Salesforce deleted the job
    done = exporter.resume(exporter_state(objects, state))
    assert done.status == "exported" and done.attempt == 2 and len(done.jobs) == 2
    assert any("lost" in line for line in done.history)
    assert not set(stale) & set(objects.objects)  # the first attempt's parts are gone
    exported = _exported_ids(done, objects)
    assert len(exported) == len(set(exported)) and set(exported) == ids


def test_a_failed_job_pauses_and_resume_starts_a_new_attempt(salesforce: SeededSimulator) -> None:
    ids = _seed(salesforce, 3)
    org, user = salesforce.orgs[ORG_A], salesforce.users[ORG_A]
    salesforce.sim.deploy_project(org)
    org.users[user].profile = MINIMUM_ACCESS_PROFILE
    assignment = salesforce.sim.assign_permission_set(org, user, "Sovgw_Integration")

    def lose_access(poll: int) -> None:  # an admin removes the integration's access
        org.records["PermissionSetAssignment"].pop(assignment, None)

    objects = MemoryObjects()
    exporter = _exporter(salesforce, objects, lose_access)
    state = exporter.begin(_definition(), ORG_A, "eu-de", LEVELS)
    with pytest.raises(ExportPaused, match="Failed"):
        exporter.resume(state)
    paused = exporter_state(objects, state)
    assert paused.status == "paused" and paused.attempt == 2 and paused.job_id is None
    assert any("Failed" in line and "Case" in line for line in paused.history)
    salesforce.sim.assign_permission_set(org, user, "Sovgw_Integration")  # access restored
    done = _exporter(salesforce, objects).resume(paused)
    assert done.status == "exported"
    assert set(_exported_ids(done, objects)) == ids


def test_attempts_are_bounded(salesforce: SeededSimulator) -> None:
    _seed(salesforce, 24)
    objects = MemoryObjects()
    exporter = _exporter(salesforce, objects)
    state = exporter.begin(_definition(), ORG_A, "eu-de", LEVELS)
    for _ in range(MAX_ATTEMPTS):
        _fail_results(salesforce, passes=1)
        with pytest.raises(ExportPaused):
            exporter.resume(state)
        state = exporter_state(objects, state)
        salesforce.sim.advance(timedelta(days=8).total_seconds())
    final = exporter.resume(state)
    assert final.status == "failed" and final.attempt == MAX_ATTEMPTS
    assert "failed after" in final.history[-1]
    assert exporter.resume(final) == final  # nothing more is tried


def exporter_state(objects: MemoryObjects, state: BuildState) -> BuildState:
    return BuildState.model_validate_json(objects.objects[state.checkpoint_key])


def test_the_days_bulk_job_allocation_spent_pauses_the_export(salesforce: SeededSimulator) -> None:
    """DailyBulkV2QueryJobs used up: the export pauses with Salesforce's reason and resumes
    once a job may be created again (nothing half-written)."""
    ids = _seed(salesforce, 3)
    org = salesforce.orgs[ORG_A]
    allowed, org.daily_bulk_query_jobs = org.daily_bulk_query_jobs, 0
    objects = MemoryObjects()
    exporter = _exporter(salesforce, objects)
    state = exporter.begin(_definition(), ORG_A, "eu-de", LEVELS)
    with pytest.raises(ExportPaused, match="EXCEEDEDQUOTA"):
        exporter.resume(state)
    paused = exporter_state(objects, state)
    assert paused.status == "paused" and not paused.jobs and not paused.parts
    org.daily_bulk_query_jobs = allowed
    done = exporter.resume(paused)
    assert done.status == "exported" and set(_exported_ids(done, objects)) == ids
