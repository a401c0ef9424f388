"""Is an org's Event Relay delivering, and if not, which documented set-up step is missing?

Salesforce's Event Relay set-up has five steps, each visible from one side: the named
credential holding the AWS account and region, the relay configuration, the partner event
source accepted in AWS, the partner event bus associated with it (with the gateway's rules on
it), and the relay running. The relay's feedback row adds what went wrong last. This module
judges what the adapters observed; it reads nothing itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class StepState(StrEnum):
    OK = "ok"
    MISSING = "missing"
    UNCHECKED = "unchecked"  # the endpoint cannot say (LocalStack has no DescribeEventSource)


@dataclass(frozen=True)
class RelayObservations:
    """What Salesforce and AWS say about one org's relay (None: not found)."""

    org_id: str
    jurisdiction: str
    expected_credential: str
    expected_endpoint: str
    expected_channel: str
    event_source: str
    named_credential_endpoint: str | None
    relay_state: str | None  # EventRelayConfig.State: RUN, PAUSE, STOP
    relay_name: str | None
    feedback_status: str | None  # EventRelayFeedback.Status: RUN, PAUSE, STOP, ERROR
    feedback_error: str | None  # "CODE: message at time", codes only from Salesforce
    last_relayed: str | None
    event_source_state: str | None  # PENDING, ACTIVE, DELETED; None: not found
    event_source_checkable: bool
    bus_exists: bool
    bus_rules: int


@dataclass(frozen=True)
class Step:
    name: str
    state: StepState
    detail: str
    next_command: str | None = None


@dataclass(frozen=True)
class RelayHealth:
    org_id: str
    steps: tuple[Step, ...]
    feedback_error: str | None
    last_relayed: str | None
    problems: tuple[str, ...] = field(default=())

    @property
    def delivering(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, object]:
        return {
            "org": self.org_id,
            "delivering": self.delivering,
            "problems": list(self.problems),
            "last_relayed_event": self.last_relayed,
            "last_error": self.feedback_error,
            "steps": [
                {"step": s.name, "state": s.state.value, "detail": s.detail}
                | ({"next": s.next_command} if s.next_command else {})
                for s in self.steps
            ],
        }


def judge(seen: RelayObservations) -> RelayHealth:
    """Each step in set-up order, with the exact command that completes a missing one."""
    deploy = (
        f"sovgw salesforce relay metadata --jurisdiction {seen.jurisdiction} "
        f"--out salesforce/relays/{seen.jurisdiction} && sf project deploy start "
        f"--source-dir salesforce/relays/{seen.jurisdiction} --target-org <alias>"
    )
    stack = f"pulumi up --stack {seen.jurisdiction} (creates the partner event bus and its rules)"
    steps = [
        _named_credential(seen, deploy),
        Step("relay config", StepState.OK, f"{seen.relay_name} on {seen.expected_channel}")
        if seen.relay_state is not None
        else Step(
            "relay config",
            StepState.MISSING,
            f"no EventRelayConfig for channel {seen.expected_channel}",
            deploy,
        ),
        _partner_source(seen, stack),
        Step("bus associated", StepState.OK, f"{seen.event_source} with {seen.bus_rules} rules")
        if seen.bus_exists and seen.bus_rules > 0
        else Step(
            "bus associated",
            StepState.MISSING,
            f"no partner event bus {seen.event_source}"
            if not seen.bus_exists
            else "the partner event bus has no rules",
            stack,
        ),
        _running(seen),
    ]
    problems = [f"{s.name}: {s.detail}" for s in steps if s.state is StepState.MISSING]
    return RelayHealth(
        seen.org_id, tuple(steps), seen.feedback_error, seen.last_relayed, tuple(problems)
    )


def _named_credential(seen: RelayObservations, deploy: str) -> Step:
    name = "named credential"
    if seen.named_credential_endpoint is None:
        return Step(
            name, StepState.MISSING, f"no named credential {seen.expected_credential}", deploy
        )
    if seen.named_credential_endpoint != seen.expected_endpoint:
        return Step(
            name,
            StepState.MISSING,
            f"{seen.expected_credential} points at {seen.named_credential_endpoint}, "
            f"not this stack ({seen.expected_endpoint})",
            deploy,
        )
    return Step(name, StepState.OK, f"{seen.expected_credential} → {seen.expected_endpoint}")


def _partner_source(seen: RelayObservations, stack: str) -> Step:
    name = "partner source accepted"
    if not seen.event_source_checkable:
        return Step(
            name, StepState.UNCHECKED, "this endpoint does not implement DescribeEventSource"
        )
    if seen.event_source_state == "ACTIVE":
        return Step(name, StepState.OK, f"{seen.event_source} ACTIVE")
    if seen.event_source_state is None:
        return Step(
            name,
            StepState.MISSING,
            "no partner event source in this account and region: the relay is not created yet, "
            "or its named credential names another account",
            None,
        )
    return Step(name, StepState.MISSING, f"{seen.event_source} is {seen.event_source_state}", stack)


def _running(seen: RelayObservations) -> Step:
    name = "relay running"
    if seen.relay_state is None:
        return Step(name, StepState.MISSING, "no relay", None)
    if seen.relay_state != "RUN":
        return Step(
            name,
            StepState.MISSING,
            f"state {seen.relay_state}",
            f"set <state>RUN</state> in salesforce/relays/{seen.jurisdiction}/main/default/"
            f"eventRelays/*.eventRelay-meta.xml, then sf project deploy start --source-dir "
            f"salesforce/relays/{seen.jurisdiction} --target-org <alias>",
        )
    if seen.feedback_status == "ERROR":
        return Step(
            name,
            StepState.MISSING,
            f"RUN but the relay reports ERROR ({seen.feedback_error or 'no error recorded'})",
            "fix the cause, then set the relay to STOP and back to RUN (it resumes with its "
            "relayOption: EARLIEST re-sends what the bus still holds)",
        )
    return Step(name, StepState.OK, f"RUN, feedback {seen.feedback_status or 'none yet'}")
