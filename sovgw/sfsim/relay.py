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
        with self.store.lock:
            channel.position = org.replay_counter
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
            self.refresh_feedback(org)
            self.wakeup.notify_all()

    def refresh_feedback(self, org: SimOrg) -> None:
        relay = org.relay
        if relay is None:
            return
        table = org.records.setdefault("EventRelayFeedback", {})
        if not table:
            self.store.insert(org, "EventRelayFeedback", {"EventRelayNumber": "ERF-0001"})
        record = next(iter(table.values()))
        record.update(
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
                with self.store.lock:
                    relay.status = "ERROR"
                    relay.error_code = "RELAY_DELIVERY_FAILED"
                    relay.error_message = type(error).__name__
                    relay.error_time = self.store.now()
                    self.refresh_feedback(org)
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
