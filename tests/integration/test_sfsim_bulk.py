"""Bulk API 2.0 query jobs in the simulator, driven by simple-salesforce's bulk2 client
unchanged and by raw HTTPS, against the behaviour the Bulk API 2.0 Developer Guide gives."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from simple_salesforce.bulk2 import ColumnDelimiter, LineEnding
from simple_salesforce.exceptions import SalesforceOperationError

from sovgw.sfsim.model import MINIMUM_ACCESS_PROFILE
from tests.conftest import ORG_A, ORG_B, SeededSimulator
from tests.integration.test_salesforce_simulator import _client

VERSION = "62.0"


def _rows(page: str, delimiter: str = ",", line_ending: str = "\n") -> list[dict[str, str]]:
    assert page.endswith(line_ending)
    return list(csv.DictReader(io.StringIO(page, newline=""), delimiter=delimiter))


def _seed_cases(salesforce: SeededSimulator, count: int) -> set[str]:
    org = salesforce.orgs[ORG_A]
    ids = {salesforce.cases[ORG_A]}
    for number in range(count):
        ids.add(salesforce.sim.insert(org, "Case", {"Subject": f'Bulk case {number}, "quoted"'}))
    return ids


class Api:
    """Raw calls under /services/data/v62.0 with one session."""

    def __init__(self, salesforce: SeededSimulator, client: Any) -> None:
        self.http = salesforce.http()
        self.base = f"{salesforce.server.url}/services/data/v{VERSION}"
        self.headers = {"Authorization": f"Bearer {client.session_id}"}

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.http.request(
            method, f"{self.base}{path}", headers=self.headers, timeout=5, **kwargs
        )


def test_simple_salesforce_reads_every_page_of_a_query_job(salesforce: SeededSimulator) -> None:
    ids = _seed_cases(salesforce, 24)
    client = _client(salesforce)
    pages = list(client.bulk2.Case.query("SELECT Id, Subject FROM Case", max_records=10, wait=0.01))
    rows = [row for page in pages for row in _rows(page)]
    assert [len(_rows(page)) for page in pages] == [10, 10, 5]
    assert {row["Id"] for row in rows} == ids
    assert {row["Id"] for row in client.query_all("SELECT Id FROM Case")["records"]} == ids
    assert 'Bulk case 3, "quoted"' in {row["Subject"] for row in rows}  # CSV quoting holds


def test_delimiter_and_line_ending_are_the_jobs(salesforce: SeededSimulator) -> None:
    _seed_cases(salesforce, 3)
    client = _client(salesforce)
    (page,) = client.bulk2.Case.query(
        "SELECT Id, Subject FROM Case",
        column_delimiter=ColumnDelimiter.SEMICOLON,
        line_ending=LineEnding.CRLF,
        wait=0.01,
    )
    assert page.startswith('"Id";"Subject"\r\n')
    assert len(_rows(page, ";", "\r\n")) == 4


def test_a_job_progresses_pages_by_locator_and_is_gone_when_deleted(
    salesforce: SeededSimulator,
) -> None:
    _seed_cases(salesforce, 4)
    api = Api(salesforce, _client(salesforce))
    created = api.call(
        "POST", "/jobs/query", json={"operation": "query", "query": "SELECT Id FROM Case"}
    )
    assert created.status_code == 200
    job = created.json()
    assert job["id"].startswith("750") and job["state"] == "UploadComplete"
    assert job["object"] == "Case" and job["apiVersion"] == 62.0
    early = api.call("GET", f"/jobs/query/{job['id']}/results")
    assert early.status_code == 400 and early.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    states = [api.call("GET", f"/jobs/query/{job['id']}").json()["state"] for _ in range(3)]
    assert states == ["InProgress", "JobComplete", "JobComplete"]

    first = api.call("GET", f"/jobs/query/{job['id']}/results", params={"maxRecords": 3})
    assert first.headers["Sforce-NumberOfRecords"] == "3"
    locator = first.headers["Sforce-Locator"]
    second = api.call(
        "GET", f"/jobs/query/{job['id']}/results", params={"maxRecords": 3, "locator": locator}
    )
    assert second.headers["Sforce-Locator"] == "null"
    assert second.headers["Sforce-NumberOfRecords"] == "2"
    again = api.call(
        "GET", f"/jobs/query/{job['id']}/results", params={"maxRecords": 3, "locator": locator}
    )
    assert again.content == second.content  # a locator reads the same set again

    other_version = salesforce.http().get(
        f"{salesforce.server.url}/services/data/v61.0/jobs/query/{job['id']}/results",
        headers=api.headers,
        timeout=5,
    )
    assert other_version.status_code == 409  # "Use the same API version" (the guide)

    assert api.call("DELETE", f"/jobs/query/{job['id']}").status_code == 204
    assert api.call("GET", f"/jobs/query/{job['id']}").status_code == 404
    gone = api.call("GET", f"/jobs/query/{job['id']}/results", params={"locator": locator})
    assert gone.status_code == 404


def test_abort_list_and_the_seven_day_lifetime(salesforce: SeededSimulator) -> None:
    api = Api(salesforce, _client(salesforce))
    body = {"operation": "queryAll", "query": "SELECT Id FROM Case"}
    job = api.call("POST", "/jobs/query", json=body).json()
    aborted = api.call("PATCH", f"/jobs/query/{job['id']}", json={"state": "Aborted"})
    assert aborted.status_code == 200 and aborted.json()["state"] == "Aborted"
    twice = api.call("PATCH", f"/jobs/query/{job['id']}", json={"state": "Aborted"})
    assert twice.status_code == 400 and twice.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    running = api.call("POST", "/jobs/query", json=body).json()
    undeletable = api.call("DELETE", f"/jobs/query/{running['id']}")
    assert undeletable.status_code == 400
    listed = api.call("GET", "/jobs/query").json()
    assert {j["id"] for j in listed["records"]} == {job["id"], running["id"]}
    salesforce.sim.advance(7 * 24 * 3600 + 1)
    api = Api(salesforce, _client(salesforce))  # the old session expired meanwhile
    assert api.call("GET", f"/jobs/query/{running['id']}").status_code == 404
    assert api.call("GET", "/jobs/query").json()["records"] == []


def test_bad_jobs_are_refused_with_salesforce_codes(salesforce: SeededSimulator) -> None:
    api = Api(salesforce, _client(salesforce))
    cases = {
        "MALFORMED_QUERY": {"operation": "query", "query": "SELEC Id FROM Case"},
        "INVALID_FIELD": {"operation": "query", "query": "SELECT Nope__c FROM Case"},
        "INVALID_TYPE": {"operation": "query", "query": "SELECT Id FROM Nope__c"},
        "INVALIDJOB": {"operation": "upsert", "query": "SELECT Id FROM Case"},
    }
    for code, body in cases.items():
        refused = api.call("POST", "/jobs/query", json=body)
        assert refused.status_code == 400, code
        assert refused.json()[0]["errorCode"] == code, refused.json()


def test_the_daily_job_allocation_is_counted_in_limits_and_enforced(
    salesforce: SeededSimulator,
) -> None:
    salesforce.orgs[ORG_A].daily_bulk_query_jobs = 2
    api = Api(salesforce, _client(salesforce))
    body = {"operation": "query", "query": "SELECT Id FROM Case"}

    def remaining() -> int:
        return int(api.call("GET", "/limits").json()["DailyBulkV2QueryJobs"]["Remaining"])

    assert remaining() == 2
    assert api.call("POST", "/jobs/query", json=body).status_code == 200
    assert remaining() == 1
    assert api.call("POST", "/jobs/query", json=body).status_code == 200
    refused = api.call("POST", "/jobs/query", json=body)
    assert refused.status_code == 400 and refused.json()[0]["errorCode"] == "EXCEEDEDQUOTA"
    assert remaining() == 0
    other = Api(salesforce, _client(salesforce, ORG_B))  # another org's allocation is its own
    assert other.call("POST", "/jobs/query", json=body).status_code == 200


@pytest.mark.parametrize("max_records", ["0", "-1", "many"])
def test_a_bad_page_size_is_refused(salesforce: SeededSimulator, max_records: str) -> None:
    api = Api(salesforce, _client(salesforce))
    job = api.call(
        "POST", "/jobs/query", json={"operation": "query", "query": "SELECT Id FROM Case"}
    ).json()
    for _ in range(2):
        api.call("GET", f"/jobs/query/{job['id']}")
    page = api.call("GET", f"/jobs/query/{job['id']}/results", params={"maxRecords": max_records})
    assert page.status_code == 400


def test_a_job_whose_creator_loses_access_before_it_runs_fails(
    salesforce: SeededSimulator,
) -> None:
    """The job runs as its creator when it is processed: access removed in between (the
    permission set assignment deleted) makes it Failed with a reason, and simple-salesforce
    raises instead of returning nothing."""
    org, user = salesforce.orgs[ORG_A], salesforce.users[ORG_A]
    salesforce.sim.deploy_project(org)
    org.users[user].profile = MINIMUM_ACCESS_PROFILE
    assignment = salesforce.sim.assign_permission_set(org, user, "Sovgw_Integration")
    client = _client(salesforce)
    api = Api(salesforce, client)
    body = {"operation": "query", "query": "SELECT Id, Subject FROM Case"}
    job = api.call("POST", "/jobs/query", json=body).json()
    del org.records["PermissionSetAssignment"][assignment]
    states = [api.call("GET", f"/jobs/query/{job['id']}").json() for _ in range(2)]
    assert [s["state"] for s in states] == ["InProgress", "Failed"]
    assert "Case" in states[-1]["errorMessage"]
    assignment = salesforce.sim.assign_permission_set(org, user, "Sovgw_Integration")
    bulk = client.bulk2.Case._client  # create and wait apart, to act in between
    job = bulk.create_job("query", "SELECT Id, Subject FROM Case")
    del org.records["PermissionSetAssignment"][assignment]
    with pytest.raises(SalesforceOperationError, match="Job failure"):
        bulk.wait_for_job(job["id"], True, 0.01)
