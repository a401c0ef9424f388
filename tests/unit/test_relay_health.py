"""Judging an org's Event Relay from what both ends report (no I/O)."""

from __future__ import annotations

from dataclasses import replace

from sovgw.domain.relay_health import RelayObservations, StepState, judge

HEALTHY = RelayObservations(
    org_id="00D5E0000000001UAA",
    jurisdiction="eu-de",
    expected_credential="Sovgw_eu_de_AWS",
    expected_endpoint="arn:aws:EU-CENTRAL-1:123456789012",
    expected_channel="Sovgw_eu_de__chn",
    event_source="aws.partner/salesforce.com/00D5E0000000001UAA/0YL5E0000000001AAA",
    named_credential_endpoint="arn:aws:EU-CENTRAL-1:123456789012",
    relay_state="RUN",
    relay_name="Sovgw_eu_de",
    feedback_status="RUN",
    feedback_error=None,
    last_relayed="2026-12-01T10:00:00.000+0000",
    event_source_state="ACTIVE",
    event_source_checkable=True,
    bus_exists=True,
    bus_rules=3,
)


def _states(seen: RelayObservations) -> dict[str, StepState]:
    return {step.name: step.state for step in judge(seen).steps}


def test_every_step_done_is_delivering() -> None:
    health = judge(HEALTHY)
    assert health.delivering and health.problems == ()
    assert set(_states(HEALTHY).values()) == {StepState.OK}


def test_each_missing_step_stops_delivery_with_its_next_command() -> None:
    cases = {
        "named credential": replace(HEALTHY, named_credential_endpoint=None),
        "relay config": replace(HEALTHY, relay_state=None, relay_name=None, feedback_status=None),
        "partner source accepted": replace(HEALTHY, event_source_state="PENDING"),
        "bus associated": replace(HEALTHY, bus_exists=False, bus_rules=0),
        "relay running": replace(HEALTHY, relay_state="PAUSE"),
    }
    for step, seen in cases.items():
        health = judge(seen)
        assert not health.delivering, step
        missing = next(s for s in health.steps if s.name == step)
        assert missing.state is StepState.MISSING, step
        assert missing.next_command, step


def test_an_error_feedback_stops_delivery_though_the_admin_state_is_run() -> None:
    seen = replace(HEALTHY, feedback_status="ERROR", feedback_error="RELAY_X at t")
    health = judge(seen)
    assert not health.delivering
    assert any("RELAY_X" in p for p in health.problems)


def test_an_endpoint_that_cannot_describe_sources_is_unchecked_not_failed() -> None:
    seen = replace(HEALTHY, event_source_checkable=False, event_source_state=None)
    assert _states(seen)["partner source accepted"] is StepState.UNCHECKED
    assert judge(seen).delivering


def test_a_source_not_found_means_the_relay_names_another_account() -> None:
    health = judge(replace(HEALTHY, event_source_state=None))
    assert any("another account" in p for p in health.problems)
