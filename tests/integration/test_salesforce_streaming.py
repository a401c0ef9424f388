"""Reading platform events back from the simulated org's event bus over the Streaming API
(CometD with the replay extension), as ``relay replay`` does. No maintained CometD client runs
on Python 3.13 to check the simulator against (aiosfstream 0.5.0 needs aiocometd 0.4.5, which
passes asyncio's removed ``loop`` argument); the message shapes follow Salesforce's Streaming
API Developer Guide."""

from __future__ import annotations

from itertools import pairwise

import pytest

from sovgw.adapters.salesforce.oauth import SalesforceCredentials
from sovgw.adapters.salesforce.records import SalesforceRecords
from sovgw.adapters.salesforce.streaming import ALL_RETAINED, EventBusReader
from sovgw.domain.errors import RejectedInput
from sovgw.sfsim.model import MINIMUM_ACCESS_PROFILE
from sovgw.sfsim.state import ConnectedApp
from tests.conftest import ORG_A, SeededSimulator

REQUEST = {
    "Record_Id__c": "5005E000000001dQAA",
    "Purpose__c": "summarise_case",
    "Requested_By__c": "0055E000000000CQAQ",
}


def _reader(salesforce: SeededSimulator) -> EventBusReader:
    records = SalesforceRecords(
        salesforce.credentials(ORG_A), ca_bundle=str(salesforce.server.ca_bundle)
    )
    return EventBusReader(records)


def test_every_retained_event_or_those_after_a_replay_id(salesforce: SeededSimulator) -> None:
    sim, org, user = salesforce.sim, salesforce.orgs[ORG_A], salesforce.users[ORG_A]
    published = [sim.rest.create(org, "AI_Request__e", REQUEST, user) for _ in range(5)]
    assert all(p["success"] for p in published)
    everything = _reader(salesforce).read({"AI_Request__e": ALL_RETAINED})
    assert [e.event_uuid for e in everything] == [e.event_uuid for e in org.events]
    assert everything[0].payload["Purpose__c"] == "summarise_case"
    assert all(a.replay_id < b.replay_id for a, b in pairwise(everything))
    after = _reader(salesforce).read({"AI_Request__e": everything[1].replay_id})
    assert [e.event_uuid for e in after] == [e.event_uuid for e in everything[2:]]
    assert _reader(salesforce).read({"AI_Request__e": -1}) == [], "new events only: none yet"


def test_an_unknown_replay_id_or_a_topic_without_read_access_is_refused(
    salesforce: SeededSimulator,
) -> None:
    sim, org = salesforce.sim, salesforce.orgs[ORG_A]
    sim.rest.create(org, "AI_Request__e", REQUEST, salesforce.users[ORG_A])
    with pytest.raises(RejectedInput, match="replayId"):
        _reader(salesforce).read({"AI_Request__e": 999_999})
    sim.deploy_project(org)
    reader = sim.add_user(
        org, "nobody@a.example", "nobody@a.example", "Nobody", profile=MINIMUM_ACCESS_PROFILE
    )
    sim.add_app(org, ConnectedApp("client-nobody", "s3cret-nobody", run_as_user_id=reader))
    records = SalesforceRecords(
        SalesforceCredentials(
            token_url=salesforce.server.token_url,
            client_id="client-nobody",
            client_secret="s3cret-nobody",
        ),
        ca_bundle=str(salesforce.server.ca_bundle),
    )
    with pytest.raises(RejectedInput, match="no access"):
        EventBusReader(records).read({"AI_Request__e": ALL_RETAINED})
