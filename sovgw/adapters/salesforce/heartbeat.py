"""``HeartbeatSender`` over the Salesforce REST API: the watcher's heartbeat is a platform event
published by the integration user on the ROUTINE lane (it never touches the emergency
reserve); the relay carries it to AWS like any other event on the channel."""

from __future__ import annotations

from collections.abc import Callable

from sovgw.adapters.salesforce import schema
from sovgw.adapters.salesforce.records import SalesforceRecords, sobject_api
from sovgw.domain.budget import Lane


class SalesforceHeartbeats:
    def __init__(self, salesforce: Callable[[str, Lane, str | None], SalesforceRecords]) -> None:
        self._salesforce = salesforce

    def publish_heartbeat(self, org_id: str, beat_id: str, sent_ms: int) -> None:
        body = {
            schema.HEARTBEAT_FIELDS["beat_id"]: beat_id,
            schema.HEARTBEAT_FIELDS["sent_at"]: schema.salesforce_datetime(sent_ms),
        }
        records = self._salesforce(org_id, Lane.ROUTINE, None)
        records.call(lambda sf: sobject_api(sf, schema.HEARTBEAT).create(body))
