"""``BulkQueries`` over Salesforce's Bulk API 2.0 (``/jobs/query``), every call through the
org's ``SalesforceRecords`` (admitted for its lane, logged, errors mapped in one place).

Result pages are read as bytes, exactly as Salesforce sent them: the raw part's SHA-256 is
then the lineage of what Salesforce delivered (simple-salesforce's own reader decodes and
strips NUL bytes, which would change both).
"""

from __future__ import annotations

from typing import Any

from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceResourceNotFound
from simple_salesforce.util import call_salesforce

from sovgw.adapters.salesforce.records import SalesforceRecords
from sovgw.domain.export import BulkJobLost
from sovgw.ports import BulkJob, BulkPage

_CSV = "text/csv"


class SalesforceBulkQueries:
    """``BulkQueries`` for one org, in the lane of ``records`` (ROUTINE for exports)."""

    def __init__(self, records: SalesforceRecords) -> None:
        self._records = records

    def create(self, soql: str) -> BulkJob:
        def create(sf: Salesforce) -> Any:
            body = {
                "operation": "query",
                "query": soql,
                "columnDelimiter": "COMMA",
                "lineEnding": "LF",
            }
            return _request(sf, "POST", "jobs/query", json=body).json()

        return _job(self._records.call(create))

    def status(self, job_id: str) -> BulkJob:
        return _job(
            self._records.call(lambda sf: _request(sf, "GET", f"jobs/query/{job_id}").json())
        )

    def page(self, job_id: str, locator: str | None, max_records: int) -> BulkPage:
        def read(sf: Salesforce) -> BulkPage:
            params: dict[str, Any] = {"maxRecords": max_records}
            if locator:
                params["locator"] = locator
            response = _request(
                sf, "GET", f"jobs/query/{job_id}/results", params=params, accept=_CSV
            )
            following = response.headers.get("Sforce-Locator")
            return BulkPage(
                content=response.content,
                records=int(response.headers.get("Sforce-NumberOfRecords", "0")),
                next_locator=None if following in {None, "", "null"} else following,
            )

        return self._records.call(read)

    def abort(self, job_id: str) -> None:
        self._records.call(
            lambda sf: _request(sf, "PATCH", f"jobs/query/{job_id}", json={"state": "Aborted"})
        )


def _request(
    sf: Salesforce, method: str, path: str, *, accept: str = "application/json", **kwargs: Any
) -> Any:
    """One Bulk API call; a job Salesforce no longer has is ``BulkJobLost``."""
    headers = dict(sf.headers) | {"Accept": accept}
    try:
        return call_salesforce(f"{sf.base_url}{path}", method, sf.session, headers, **kwargs)
    except SalesforceResourceNotFound:
        raise BulkJobLost("Salesforce no longer has it (deleted or expired)") from None


def _job(info: Any) -> BulkJob:
    return BulkJob(
        job_id=str(info["id"]),
        state=str(info["state"]),
        records=info.get("numberRecordsProcessed"),
        error=info.get("errorMessage"),
    )
