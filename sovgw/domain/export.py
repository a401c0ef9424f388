"""A dataset build's export: one Bulk API 2.0 query job, its result pages written as part
files to the raw prefix, a checkpoint after every part.

``resume`` continues from the checkpoint: with the job still there, from the next locator
(a part written before a crash but not checkpointed is written again to the same key, with
the same bytes); with the job gone (expired after 7 days, deleted) or failed, a new attempt
starts from the first page and the earlier attempt's parts are deleted, so no record is
exported twice and none is left out.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sovgw.domain.datasets import DatasetDefinition
from sovgw.domain.errors import GatewayError, UpstreamUnavailable
from sovgw.domain.levels import DataLevel
from sovgw.ports import BulkQueries, DatasetObjects

BuildStatus = Literal["exporting", "paused", "exported", "failed"]
MAX_ATTEMPTS = 3  # a job lost or failed this often needs a person, not another attempt
JOB_FAILED = {"Failed", "Aborted"}


class BulkJobLost(UpstreamUnavailable):
    """Salesforce no longer has the job (deleted, or expired after 7 days): its results can
    no longer be read, so the build starts a new attempt."""


class BulkJobFailed(UpstreamUnavailable):
    """The job ended Failed or Aborted (lost access to a field, aborted by an admin): the
    export pauses for a person to look; ``resume`` starts a new attempt."""


class ExportPaused(GatewayError):
    """The export stopped before its last page; the checkpoint says why and where, and
    ``sovgw export resume`` continues it."""


class PartRecord(BaseModel):
    """One raw part file: where, its SHA-256 (lineage), and the records Salesforce said it
    holds (``Sforce-NumberOfRecords``: what the scan must account for)."""

    model_config = ConfigDict(frozen=True)

    number: int
    key: str
    sha256: str
    records: int
    bytes: int
    job_id: str


class BuildState(BaseModel):
    """The checkpoint of one build: what it applies (definition, field levels snapshot) and
    how far it got."""

    build_id: str
    jurisdiction: str
    org_id: str
    definition: DatasetDefinition
    # The org's classification when the build started; a field absent here is unclassified.
    field_levels: dict[str, DataLevel]
    created_at: str
    status: BuildStatus = "exporting"
    attempt: int = 1
    job_id: str | None = None
    jobs: list[str] = Field(default_factory=list)
    next_locator: str | None = None
    parts: list[PartRecord] = Field(default_factory=list)
    history: list[str] = Field(default_factory=list)

    @property
    def prefix(self) -> str:
        return f"{self.definition.id}/{self.build_id}"

    @property
    def checkpoint_key(self) -> str:
        return checkpoint_key(self.definition.id, self.build_id)

    @property
    def exported_records(self) -> int:
        return sum(part.records for part in self.parts)

    def part_key(self, number: int) -> str:
        return f"raw/{self.prefix}/attempt-{self.attempt}/part-{number:05d}.csv"


def checkpoint_key(dataset_id: str, build_id: str) -> str:
    return f"builds/{dataset_id}/{build_id}/checkpoint.json"


def new_build_id(dataset_id: str, now: datetime) -> str:
    """Sortable by start time; the random tail keeps two starts in one second apart."""
    return f"{dataset_id}-{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


class Exporter:
    """Runs a build's export through ``bulk`` into ``objects``, checkpointing every part."""

    def __init__(
        self,
        bulk: BulkQueries,
        objects: DatasetObjects,
        *,
        poll: Callable[[int], None],
        max_polls: int = 720,
    ) -> None:
        self._bulk = bulk
        self._objects = objects
        self._poll = poll  # waits before status poll n (a backoff in production)
        self._max_polls = max_polls

    def begin(
        self,
        definition: DatasetDefinition,
        org_id: str,
        jurisdiction: str,
        field_levels: dict[str, DataLevel],
        now: datetime | None = None,
    ) -> BuildState:
        """A new build's first checkpoint (nothing exported yet)."""
        now = now or datetime.now(UTC)
        state = BuildState(
            build_id=new_build_id(definition.id, now),
            jurisdiction=jurisdiction,
            org_id=org_id,
            definition=definition,
            field_levels={f: field_levels[f] for f in definition.fields if f in field_levels},
            created_at=now.isoformat(timespec="seconds"),
        )
        self.save(state)
        return state

    def save(self, state: BuildState) -> None:
        self._objects.put(
            state.checkpoint_key, state.model_dump_json(indent=1).encode(), "application/json"
        )

    def resume(self, state: BuildState) -> BuildState:
        if state.status in {"exported", "failed"}:
            return state
        return self.run(state)

    def run(self, state: BuildState) -> BuildState:
        """Export until the last page is written (status ``exported``), or stop: ``failed``
        after ``MAX_ATTEMPTS``, otherwise paused with the reason (retryable trouble, limits,
        a failed job) and ``ExportPaused`` raised."""
        state.status = "exporting"
        try:
            while state.status == "exporting":
                self._step(state)
        except BulkJobLost as lost:
            if self._new_attempt(state, f"job {state.job_id} lost: {lost}"):
                return self.run(state)
        except GatewayError as error:
            if isinstance(error, BulkJobFailed) and not self._new_attempt(state, str(error)):
                return state
            state.status = "paused"
            state.history.append(f"paused: {type(error).__name__}: {error}")
            self.save(state)
            raise ExportPaused(str(error)) from None
        return state

    def _step(self, state: BuildState) -> None:
        if state.job_id is None:
            job = self._bulk.create(state.definition.soql)
            state.job_id = job.job_id
            state.jobs.append(job.job_id)
            state.history.append(f"attempt {state.attempt}: job {job.job_id} created")
            self.save(state)
        if not state.parts and state.next_locator is None:
            self._wait_until_complete(state.job_id)
        page = self._bulk.page(state.job_id, state.next_locator, state.definition.page_records)
        number = len(state.parts) + 1
        key = state.part_key(number)
        self._objects.put(key, page.content, "text/csv")
        state.parts.append(
            PartRecord(
                number=number,
                key=key,
                sha256=hashlib.sha256(page.content).hexdigest(),
                records=page.records,
                bytes=len(page.content),
                job_id=state.job_id,
            )
        )
        state.next_locator = page.next_locator
        if page.next_locator is None:
            state.status = "exported"
            state.history.append(
                f"attempt {state.attempt}: exported {state.exported_records} records in "
                f"{len(state.parts)} parts"
            )
        self.save(state)

    def _wait_until_complete(self, job_id: str) -> None:
        for poll in range(self._max_polls):
            job = self._bulk.status(job_id)
            if job.state == "JobComplete":
                return
            if job.state in JOB_FAILED:
                raise BulkJobFailed(f"job {job_id} {job.state}: {job.error or 'no reason given'}")
            self._poll(poll)
        raise UpstreamUnavailable(f"job {job_id} not complete after {self._max_polls} polls")

    def _new_attempt(self, state: BuildState, why: str) -> bool:
        """Drop the attempt's parts and prepare a new job; False when the build has had its
        ``MAX_ATTEMPTS`` and failed for good."""
        superseded = [part.key for part in state.parts]
        state.history.append(why)
        if state.attempt >= MAX_ATTEMPTS:
            state.status = "failed"
            state.history.append(f"failed after {state.attempt} attempts")
            self.save(state)
            return False
        state.attempt += 1
        state.job_id = None
        state.next_locator = None
        state.parts = []
        self.save(state)
        if superseded:
            self._objects.delete(superseded)
        return True
