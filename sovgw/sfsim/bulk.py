"""Bulk API 2.0 query jobs (``/services/data/vXX.X/jobs/query``), as Salesforce's Bulk API 2.0
Developer Guide describes them: create, poll, read results as CSV pages by locator, abort,
delete, list; the org's DailyBulkV2QueryJobs allocation.

A job moves one state per status poll (UploadComplete, InProgress, JobComplete), so clients
see it progress. Its rows are read when it completes, as the caller may read them.
Where the guide names a status but no error code (wrong state, version mismatch, quota), the
code is the guide's error name in capitals.
"""

from __future__ import annotations

import base64
import csv
import io
from datetime import timedelta
from typing import Any

from sovgw.sfsim.model import BulkQueryJob, RestError, SimOrg
from sovgw.sfsim.rest import RestApi
from sovgw.sfsim.store import OrgStore

JOB_LIFETIME = timedelta(days=7)  # Salesforce deletes jobs (and their results) after 7 days
DAY = timedelta(hours=24)
DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "SEMICOLON": ";",
    "PIPE": "|",
    "CARET": "^",
    "BACKQUOTE": "`",
}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
TERMINAL = {"JobComplete", "Aborted", "Failed"}
MAX_PAGE = 100_000


class CsvPage:
    """One page of results: CSV bytes and Salesforce's headers for it."""

    def __init__(self, content: bytes, locator: str | None, count: int) -> None:
        self.content = content
        self.headers = {
            "Content-Type": "text/csv",
            "Sforce-Locator": locator or "null",
            "Sforce-NumberOfRecords": str(count),
        }


class BulkQueryApi:
    """``/jobs/query``: the Bulk API 2.0 query jobs of the caller's org."""

    def __init__(self, store: OrgStore, rest: RestApi) -> None:
        self.store = store
        self.rest = rest

    def create(self, org: SimOrg, user_id: str, version: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise RestError(400, "INVALIDJOB", "The request body must be a JSON object")
        operation = body.get("operation")
        if operation not in {"query", "queryAll"}:
            raise RestError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        delimiter = body.get("columnDelimiter", "COMMA")
        line_ending = body.get("lineEnding", "LF")
        if delimiter not in DELIMITERS or line_ending not in LINE_ENDINGS:
            raise RestError(
                400, "INVALIDJOB", "InvalidJob : columnDelimiter or lineEnding is not supported"
            )
        text = body.get("query")
        if not isinstance(text, str) or not text.strip():
            raise RestError(400, "INVALIDJOB", "InvalidJob : a query job needs a query")
        with self.store.lock:
            self._prune(org)
            if self._created_today(org) >= org.daily_bulk_query_jobs:
                raise RestError(
                    400,
                    "EXCEEDEDQUOTA",
                    "ExceededQuota : the org has created its DailyBulkV2QueryJobs",
                )
            parsed, *_ = self.rest.select(org, text, user_id)  # refuses what the caller can't read
            now = self.store.now()
            job = BulkQueryJob(
                id=org.ids.next("750"),
                operation=operation,
                sobject=parsed.sobject,
                query=text,
                created_by=user_id,
                created=now,
                api_version=version,
                column_delimiter=delimiter,
                line_ending=line_ending,
                modified=now,
            )
            org.bulk_query_jobs[job.id] = job
            return self._info(job)

    def get(self, org: SimOrg, job_id: str, user_id: str) -> dict[str, Any]:
        """A status poll: a job that is not finished moves one state on."""
        with self.store.lock:
            job = self._job(org, job_id)
            if job.state == "UploadComplete":
                job.state = "InProgress"
            elif job.state == "InProgress":
                self._complete(org, job)
            job.modified = self.store.now()
            return self._info(job)

    def results(
        self, org: SimOrg, job_id: str, version: str, locator: str | None, max_records: str | None
    ) -> CsvPage:
        with self.store.lock:
            job = self._job(org, job_id)
            if version != job.api_version:
                raise RestError(
                    409,
                    "INVALIDJOB",
                    f"Results must be read with the API version that created the job "
                    f"(v{job.api_version})",
                )
            if job.state != "JobComplete":
                raise RestError(400, "INVALIDJOBSTATE", f"InvalidJobState : the job is {job.state}")
            start = self._offset(locator, len(job.rows))
            size = self._page_size(max_records)
            page = job.rows[start : start + size]
            end = start + len(page)
            following = _locator(end) if end < len(job.rows) else None
            return CsvPage(self._csv(job, page), following, len(page))

    def abort(self, org: SimOrg, job_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or body.get("state") != "Aborted":
            raise RestError(400, "INVALIDJOB", "InvalidJob : a query job can only be Aborted")
        with self.store.lock:
            job = self._job(org, job_id)
            if job.state in TERMINAL:
                raise RestError(
                    400, "INVALIDJOBSTATE", f"InvalidJobState : the job is already {job.state}"
                )
            job.state = "Aborted"
            job.modified = self.store.now()
            return self._info(job)

    def delete(self, org: SimOrg, job_id: str) -> None:
        with self.store.lock:
            job = self._job(org, job_id)
            if job.state in {"UploadComplete", "InProgress"}:
                raise RestError(
                    400, "INVALIDJOBSTATE", "InvalidJobState : abort the job before deleting it"
                )
            del org.bulk_query_jobs[job.id]

    def jobs(self, org: SimOrg) -> dict[str, Any]:
        with self.store.lock:
            self._prune(org)
            return {
                "done": True,
                "records": [self._info(job) for job in org.bulk_query_jobs.values()],
                "nextRecordsUrl": None,
            }

    def limits(self, org: SimOrg) -> dict[str, Any]:
        with self.store.lock:
            self._prune(org)
            today = self._created_today(org)
            return {
                "DailyBulkV2QueryJobs": {
                    "Max": org.daily_bulk_query_jobs,
                    "Remaining": max(org.daily_bulk_query_jobs - today, 0),
                }
            }

    # --- internals ---------------------------------------------------------------------------

    def _job(self, org: SimOrg, job_id: str) -> BulkQueryJob:
        self._prune(org)
        job = org.bulk_query_jobs.get(job_id)
        if job is None:
            raise RestError(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def _prune(self, org: SimOrg) -> None:
        """Jobs older than seven days are gone, and with them their locators."""
        cutoff = self.store.now() - JOB_LIFETIME
        for job_id in [j.id for j in org.bulk_query_jobs.values() if j.created <= cutoff]:
            del org.bulk_query_jobs[job_id]

    def _created_today(self, org: SimOrg) -> int:
        cutoff = self.store.now() - DAY
        return sum(job.created > cutoff for job in org.bulk_query_jobs.values())

    def _complete(self, org: SimOrg, job: BulkQueryJob) -> None:
        """Run the query as the job's creator may read, now (rows changed since creation
        are read as they are now, as Salesforce processes the job when it runs)."""
        try:
            parsed, _, rows, _ = self.rest.select(org, job.query, job.created_by)
        except RestError as error:  # the creator lost access since: the job fails
            job.state = "Failed"
            job.header, job.rows = [], []
            job.error = error.body[0]["message"]
            return
        job.header = list(parsed.fields)
        job.rows = [[_cell(row.get(name)) for name in parsed.fields] for row in rows]
        job.state = "JobComplete"

    @staticmethod
    def _offset(locator: str | None, total: int) -> int:
        if not locator:
            return 0
        try:
            offset = int(base64.b64decode(locator + "=" * (-len(locator) % 4)).decode())
        except ValueError:
            raise RestError(400, "INVALIDLOCATOR", f"Invalid locator: {locator}") from None
        if not 0 <= offset <= total:
            raise RestError(400, "INVALIDLOCATOR", f"Invalid locator: {locator}")
        return offset

    @staticmethod
    def _page_size(max_records: str | None) -> int:
        if max_records is None:
            return MAX_PAGE
        if not max_records.isdigit() or int(max_records) < 1:
            raise RestError(400, "INVALID_PARAMETER", f"Invalid maxRecords: {max_records}")
        return min(int(max_records), MAX_PAGE)

    @staticmethod
    def _csv(job: BulkQueryJob, rows: list[list[str]]) -> bytes:
        buffer = io.StringIO()
        writer = csv.writer(
            buffer,
            delimiter=DELIMITERS[job.column_delimiter],
            lineterminator=LINE_ENDINGS[job.line_ending],
            quoting=csv.QUOTE_ALL,
        )
        writer.writerow(job.header)
        writer.writerows(rows)
        return buffer.getvalue().encode()

    def _info(self, job: BulkQueryJob) -> dict[str, Any]:
        info: dict[str, Any] = {
            "id": job.id,
            "operation": job.operation,
            "object": job.sobject,
            "createdById": job.created_by,
            "createdDate": self.store.iso(job.created),
            "systemModstamp": self.store.iso(job.modified or job.created),
            "state": job.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(job.api_version),
            "lineEnding": job.line_ending,
            "columnDelimiter": job.column_delimiter,
            "numberRecordsProcessed": len(job.rows),
            "retries": 0,
            "totalProcessingTime": 0,
        }
        if job.error:
            info["errorMessage"] = job.error
        return info


def _locator(offset: int) -> str:
    """Salesforce's locators are opaque; these encode the next row, as theirs look."""
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
