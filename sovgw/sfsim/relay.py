"""Platform events and Event Relay: publishing, the relay's states and feedback rows, and
delivery to the AWS partner event bus."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import uuid
from collections.abc import Callable
from typing import Any

from sovgw.sfsim.model import (
    EVENT_RETENTION,
    ObjectType,
    PublishedEvent,
    RelayChannel,
    SimOrg,
    UserAccess,
)
from sovgw.sfsim.store import OrgStore


class RelayApi:
    """Platform events of every org and their relay to AWS."""

    def __init__(self, store: OrgStore) -> None:
        self.store = store
        self.sender: Callable[[SimOrg, RelayChannel, PublishedEvent], None] | None = None
        self.wakeup = threading.Condition(store.lock)

    # --- Platform events and Event Relay ------------------------------------------------------

    def publish(
        self,
        org: SimOrg,
        otype: ObjectType,
        values: Any,
        user_id: str,
        access: UserAccess | None = None,
    ) -> dict[str, Any]:
        fields = self.store.validated(
            org, otype, values, creating=True, system=False, access=access
        )
        org.replay_counter += secrets.randbelow(3) + 1
        event = PublishedEvent(
            name=otype.name,
            payload={
                "CreatedDate": self.store.iso(self.store.now()),
                "CreatedById": user_id,
                **fields,
            },
            event_uuid=str(uuid.uuid4()),
            replay_id=org.replay_counter,
            schema_id=hashlib.sha256(json.dumps(sorted(otype.fields)).encode()).hexdigest()[:22],
            published_at=self.store.now(),
        )
        cutoff = self.store.now() - EVENT_RETENTION
        org.events = [e for e in org.events if e.published_at > cutoff] + [event]
        self.wakeup.notify_all()
        return {"id": org.ids.next("e00"), "success": True, "errors": []}

    def configure_relay(self, org: SimOrg, channel: RelayChannel) -> None:
        """What deploying the relay metadata does: the named credential (when the channel has
        an endpoint) and the ``EventRelayConfig``, running from the latest event on."""
        with self.store.lock:
            channel.position = org.replay_counter
            if channel.endpoint is not None:
                self.store.insert(
                    org,
                    "NamedCredential",
                    {
                        "DeveloperName": channel.named_credential,
                        "MasterLabel": channel.named_credential,
                        "Endpoint": channel.endpoint,
                        "PrincipalType": "Anonymous",
                    },
                )
            channel.config_id = self.store.insert(
                org,
                "EventRelayConfig",
                {
                    "DeveloperName": channel.developer_name,
                    "MasterLabel": channel.developer_name,
                    "EventChannel": channel.event_channel,
                    "DestinationResourceName": f"callout:{channel.named_credential}",
                    "RelayOption": '{"ReplayRecovery":"EARLIEST"}',
                    "State": "RUN",
                    "UsageType": "Normal",
                },
            )
            org.relay = channel
            self.refresh_feedback(org)

    def set_relay_state(self, org: SimOrg, state: str, recovery: str = "LATEST") -> None:
        """Admin change of relay state; leaving ERROR/STOP resumes at LATEST or EARLIEST."""
        with self.store.lock:
            relay = org.relay
            if relay is None:
                raise KeyError(f"org {org.org_id} has no relay")
            if state == "RUN" and relay.status in {"ERROR", "STOP"}:
                relay.position = (
                    org.events[0].replay_id - 1
                    if recovery == "EARLIEST" and org.events
                    else org.replay_counter
                )
                relay.error_code = relay.error_message = None
            relay.status = state
            if state in {"RUN", "PAUSE", "STOP"} and relay.config_id is not None:
                config = org.records.get("EventRelayConfig", {}).get(relay.config_id)
                if config is not None:
                    config["State"] = state
            self.refresh_feedback(org)
            self.wakeup.notify_all()

    def record_error(self, org: SimOrg, code: str, message: str) -> None:
        """The relay fails as a refused delivery makes it: ERROR, with the feedback row's
        error, until an admin stops and restarts it."""
        with self.store.lock:
            relay = org.relay
            if relay is None:
                raise KeyError(f"org {org.org_id} has no relay")
            relay.status = "ERROR"
            relay.error_code, relay.error_message = code, message
            relay.error_time = self.store.now()
            self.refresh_feedback(org)

    def refresh_feedback(self, org: SimOrg) -> None:
        relay = org.relay
        if relay is None:
            return
        table = org.records.setdefault("EventRelayFeedback", {})
        if not table:
            self.store.insert(org, "EventRelayFeedback", {"EventRelayNumber": "ERF-0001"})
        record = next(iter(table.values()))
        record.update(
            EventRelayConfigId=relay.config_id,
            RemoteResource=f"aws.partner/salesforce.com/{org.org_id}/{relay.channel_id}",
            Status=relay.status,
            ErrorCode=relay.error_code,
            ErrorMessage=relay.error_message,
            ErrorTime=self.store.iso(relay.error_time) if relay.error_time else None,
            LastRelayedEventTime=self.store.iso(relay.last_relayed) if relay.last_relayed else None,
        )

    def pending_work(self) -> list[tuple[SimOrg, RelayChannel, PublishedEvent]]:
        with self.store.lock:
            work = []
            for org in self.store.orgs.values():
                relay = org.relay
                if relay is None or relay.status != "RUN":
                    continue
                work += [(org, relay, e) for e in org.events if e.replay_id > relay.position]
            return work

    def relay_once(self) -> int:
        """Forward every pending event of every running relay; returns how many were sent."""
        sent = 0
        for org, relay, event in self.pending_work():
            if self.sender is None or relay.status != "RUN":
                break
            try:
                self.sender(org, relay, event)
            except Exception as error:
                self.record_error(org, "RELAY_DELIVERY_FAILED", type(error).__name__)
                continue
            with self.store.lock:
                relay.position = max(relay.position, event.replay_id)
                relay.last_relayed = self.store.now()
                self.refresh_feedback(org)
            sent += 1
        return sent

    def wait_for_work(self, timeout: float) -> None:
        with self.wakeup:
            if not self.pending_work():
                self.wakeup.wait(timeout)
