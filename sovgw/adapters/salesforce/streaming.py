"""Platform events read back from an org's event bus over Salesforce's Streaming API (CometD:
Bayeux over HTTP long polling, with the replay extension). Salesforce keeps high-volume
platform events for 72 hours; a subscription resumes after a stored replay id, or reads every
retained event (``-2``). The read ends when a poll comes back empty: caught up.

Salesforce's Pub/Sub API (gRPC) offers the same replay; this client needs no generated stubs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from simple_salesforce.api import Salesforce

from sovgw.adapters.salesforce.records import SalesforceRecords
from sovgw.domain.errors import RejectedInput, UpstreamUnavailable
from sovgw.domain.relay_watch import BusEvent

ALL_RETAINED = -2
MAX_EVENTS = 200_000  # a bound on one read (an org's 72 h of relayed events is far less)


class EventBusReader:
    """``EventBus`` over the Streaming API, as the org's integration user."""

    def __init__(self, records: SalesforceRecords, timeout_s: float = 130.0) -> None:
        self._records = records
        self._timeout_s = timeout_s

    def read(self, positions: Mapping[str, int]) -> list[BusEvent]:
        """Every event after ``positions`` (event API name → replay id, or ``-2``)."""
        return self._records.call(lambda sf: self._read(sf, positions))

    def _read(self, sf: Salesforce, positions: Mapping[str, int]) -> list[BusEvent]:
        url = f"https://{sf.sf_instance}/cometd/{sf.sf_version}"
        session: requests.Session = sf.session
        headers = {"Authorization": f"OAuth {sf.session_id}", "Content-Type": "application/json"}

        def post(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
            try:
                response = session.post(
                    url, json=messages, headers=headers, timeout=self._timeout_s
                )
            except requests.RequestException as error:
                raise UpstreamUnavailable(
                    f"Streaming API unreachable: {type(error).__name__}"
                ) from None
            if response.status_code != 200:
                raise UpstreamUnavailable(f"Streaming API answered HTTP {response.status_code}")
            answer: list[dict[str, Any]] = response.json()
            return answer

        [hello] = post(
            [
                {
                    "channel": "/meta/handshake",
                    "version": "1.0",
                    "supportedConnectionTypes": ["long-polling"],
                    "ext": {"replay": True},
                }
            ]
        )
        if not hello.get("successful"):
            raise UpstreamUnavailable(f"Streaming API handshake refused: {hello.get('error')}")
        client = hello["clientId"]
        subscribed = post(
            [
                {
                    "channel": "/meta/subscribe",
                    "clientId": client,
                    "subscription": f"/event/{name}",
                    "ext": {"replay": {f"/event/{name}": position}},
                }
                for name, position in positions.items()
            ]
        )
        refused = [s.get("error", "refused") for s in subscribed if not s.get("successful")]
        if refused:
            raise RejectedInput(f"Streaming API subscription refused: {refused[0]}")
        events: list[BusEvent] = []
        try:
            while len(events) < MAX_EVENTS:
                batch = post(
                    [
                        {
                            "channel": "/meta/connect",
                            "clientId": client,
                            "connectionType": "long-polling",
                        }
                    ]
                )
                found = [m for m in batch if str(m.get("channel", "")).startswith("/event/")]
                if not found:
                    return events
                events += [_stored(message) for message in found]
            raise UpstreamUnavailable(f"more than {MAX_EVENTS} events in one replay")
        finally:
            post([{"channel": "/meta/disconnect", "clientId": client}])


def _stored(message: Mapping[str, Any]) -> BusEvent:
    data = message["data"]
    return BusEvent(
        name=str(message["channel"]).removeprefix("/event/"),
        event_uuid=str(data["event"]["EventUuid"]),
        replay_id=int(data["event"]["replayId"]),
        schema_id=str(data.get("schema", "")),
        payload=dict(data["payload"]),
    )
