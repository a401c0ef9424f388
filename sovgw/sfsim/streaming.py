"""The Streaming API (CometD/Bayeux over HTTP long polling, ``/cometd/<version>``), enough to
read platform events back from the org's event bus with Salesforce's replay extension:
``-1`` new events only, ``-2`` every event still retained (72 h), or a replay id to resume
after that event. A subscription needs read access on the event.

``/meta/connect`` answers at once with what is pending, or after a short wait with nothing:
the sign that a reader has caught up."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from sovgw.sfsim.model import RestError, SimOrg
from sovgw.sfsim.relay import RelayApi
from sovgw.sfsim.store import OrgStore

ALL_RETAINED = -2
NEW_ONLY = -1
LONG_POLL_S = 1.0


@dataclass
class _Client:
    org_id: str
    user_id: str
    # channel (/event/<Name>__e) → replay id delivered last (-1: from now on)
    positions: dict[str, int] = field(default_factory=dict)


class StreamingApi:
    def __init__(self, store: OrgStore, relay: RelayApi) -> None:
        self.store = store
        self.relay = relay
        self._clients: dict[str, _Client] = {}

    def handle(self, org: SimOrg, user_id: str, messages: Any) -> list[dict[str, Any]]:
        if not isinstance(messages, list):
            messages = [messages]
        answers: list[dict[str, Any]] = []
        for message in messages:
            if not isinstance(message, dict):
                raise RestError(400, "JSON_PARSER_ERROR", "Bayeux messages are JSON objects")
            answers += self._one(org, user_id, message)
        return answers

    def _one(self, org: SimOrg, user_id: str, message: dict[str, Any]) -> list[dict[str, Any]]:
        channel = str(message.get("channel", ""))
        base = {"channel": channel, "id": message.get("id")}
        if channel == "/meta/handshake":
            client_id = secrets.token_hex(12)
            self._clients[client_id] = _Client(org.org_id, user_id)
            return [
                base
                | {
                    "version": "1.0",
                    "successful": True,
                    "clientId": client_id,
                    "supportedConnectionTypes": ["long-polling"],
                    "ext": {"replay": True},
                }
            ]
        client = self._clients.get(str(message.get("clientId", "")))
        if client is None or client.org_id != org.org_id:
            return [
                base
                | {
                    "successful": False,
                    "error": "403::Unknown client",
                    "advice": {"reconnect": "handshake"},
                }
            ]
        if channel == "/meta/subscribe":
            return [base | self._subscribe(org, client, message)]
        if channel == "/meta/connect":
            return [
                *self._deliver(org, client),
                base | {"successful": True, "advice": {"reconnect": "retry", "interval": 0}},
            ]
        if channel == "/meta/disconnect":
            self._clients.pop(str(message.get("clientId")), None)
            return [base | {"successful": True}]
        return [base | {"successful": False, "error": f"400::Unknown channel {channel}"}]

    def _subscribe(self, org: SimOrg, client: _Client, message: dict[str, Any]) -> dict[str, Any]:
        subscription = str(message.get("subscription", ""))
        name = subscription.removeprefix("/event/")
        otype = self.store.types.get(name.lower())
        access = self.store.access(org, client.user_id)
        if (
            not subscription.startswith("/event/")
            or otype is None
            or otype.kind != "platform_event"
            or (access is not None and not access.may(otype, "read"))
        ):
            return {
                "successful": False,
                "subscription": subscription,
                "error": f"403:{subscription}:Unknown topic or no access",
            }
        replay = (message.get("ext") or {}).get("replay", {}).get(subscription, NEW_ONLY)
        with self.store.lock:
            if replay == ALL_RETAINED:
                position = 0
            elif replay == NEW_ONLY:
                position = org.replay_counter
            elif isinstance(replay, int) and any(e.replay_id == replay for e in org.events):
                position = replay
            else:
                return {
                    "successful": False,
                    "subscription": subscription,
                    "error": f"400::The replayId {{{replay}}} you provided was invalid.  "
                    "Please provide a valid ID, -2 to replay all events, or -1 to replay only "
                    "new events.",
                }
        client.positions[f"/event/{otype.name}"] = position
        return {"successful": True, "subscription": subscription}

    def _pending(self, org: SimOrg, client: _Client) -> list[dict[str, Any]]:
        found = []
        for channel, position in client.positions.items():
            name = channel.removeprefix("/event/")
            for event in org.events:
                if event.name == name and event.replay_id > position:
                    found.append(
                        {
                            "channel": channel,
                            "data": {
                                "schema": event.schema_id,
                                "payload": event.payload,
                                "event": {
                                    "replayId": event.replay_id,
                                    "EventUuid": event.event_uuid,
                                },
                            },
                        }
                    )
                    client.positions[channel] = max(client.positions[channel], event.replay_id)
        return found

    def _deliver(self, org: SimOrg, client: _Client) -> list[dict[str, Any]]:
        deadline = time.monotonic() + LONG_POLL_S
        with self.relay.wakeup:
            while True:
                found = self._pending(org, client)
                left = deadline - time.monotonic()
                if found or left <= 0:
                    return found
                self.relay.wakeup.wait(left)
