"""The Salesforce access layer against the simulator (real HTTPS) and a real shared store
(redis-server, the Valkey protocol): lanes, the emergency reserve, the limit breaker and
credential pools."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sovgw.adapters.salesforce import oauth as adapter
from sovgw.adapters.salesforce.credentials import CredentialPool, PooledCredential
from sovgw.adapters.salesforce.oauth import SalesforceCredentials
from sovgw.adapters.salesforce.records import OrgBudget, SalesforceRecords
from sovgw.adapters.valkey_budget import ValkeyBudgetStore
from sovgw.domain.budget import BudgetDeferred, BudgetPolicy, Lane
from sovgw.domain.errors import UpstreamUnavailable
from sovgw.local.valkey import LocalValkey
from sovgw.sfsim.state import ConnectedApp
from tests.conftest import ORG_A, SECRET, SeededSimulator


@pytest.fixture
def store(valkey: LocalValkey) -> ValkeyBudgetStore:
    client = valkey.client()
    client.flushdb()
    return ValkeyBudgetStore(client, BudgetPolicy(max_concurrent=4, reserved_concurrent=1))


GRANT = "grant-under-test"


def _records(
    salesforce: SeededSimulator,
    store: ValkeyBudgetStore,
    lane: Lane,
    pool: CredentialPool | None = None,
) -> SalesforceRecords:
    if lane is Lane.EMERGENCY:  # the lane an active break-glass grant unlocks
        store.hold_grant(ORG_A, GRANT, int(time.time() * 1000) + 600_000)
    return SalesforceRecords(
        pool or salesforce.credentials(ORG_A),
        budget=OrgBudget(store, ORG_A),
        lane=lane,
        grant_id=GRANT if lane is Lane.EMERGENCY else None,
        ca_bundle=str(salesforce.server.ca_bundle),
    )


def _use(salesforce: SeededSimulator, calls: int) -> None:
    """Other integrations of the org used ``calls`` API requests today."""
    org = salesforce.sim.org(ORG_A)
    org.api_calls.extend([datetime.now(UTC)] * calls)


def _until_deferred(records: SalesforceRecords, case_id: str, limit: int = 200) -> int:
    for done in range(limit):
        try:
            records.get_record("Case", case_id, ["Subject"])
        except BudgetDeferred:
            return done
    raise AssertionError("never deferred")


def test_lanes_stop_at_their_ceilings_and_the_reserve_is_emergency_only(
    salesforce: SeededSimulator, store: ValkeyBudgetStore
) -> None:
    case = salesforce.cases[ORG_A]
    _use(salesforce, 840)  # of 1,000: routine may reach 850, interactive 900
    _until_deferred(_records(salesforce, store, Lane.ROUTINE), case)
    assert salesforce.sim.api_usage(salesforce.sim.org(ORG_A))[0] == 850
    _until_deferred(_records(salesforce, store, Lane.INTERACTIVE), case)
    assert salesforce.sim.api_usage(salesforce.sim.org(ORG_A))[0] == 900
    emergency = _records(salesforce, store, Lane.EMERGENCY)
    for _ in range(100):
        emergency.get_record("Case", case, ["Subject"])
    assert salesforce.sim.api_usage(salesforce.sim.org(ORG_A))[0] == 1000
    with pytest.raises(BudgetDeferred, match="EMERGENCY share"):
        emergency.get_record("Case", case, ["Subject"])
    health = store.health(ORG_A)
    assert health["used"] == 1000 and health["alert"] and health["emergency_reserve_left"] == 0


def test_usage_is_shared_by_every_instance(
    salesforce: SeededSimulator, store: ValkeyBudgetStore
) -> None:
    first = _records(salesforce, store, Lane.ROUTINE)
    second = _records(salesforce, store, Lane.ROUTINE)
    _use(salesforce, 845)
    done = 0
    for records in [first, second] * 10:
        try:
            records.get_record("Case", salesforce.cases[ORG_A], ["Subject"])
            done += 1
        except BudgetDeferred:
            break
    assert salesforce.sim.api_usage(salesforce.sim.org(ORG_A))[0] == 850
    assert done == 4, "845 + one /limits read on first contact + 4 calls = routine's 850"


def test_concurrent_slots_keep_one_for_emergencies(store: ValkeyBudgetStore) -> None:
    held = [store.admit(ORG_A, Lane.ROUTINE) for _ in range(3)]
    assert all(a.allowed for a in held)
    refused = store.admit(ORG_A, Lane.INTERACTIVE)
    assert not refused.allowed and "slots" in refused.reason
    store.hold_grant(ORG_A, GRANT, int(time.time() * 1000) + 600_000)
    emergency = store.admit(ORG_A, Lane.EMERGENCY, GRANT)
    assert emergency.allowed
    store.release(ORG_A, held[0])
    assert not store.admit(ORG_A, Lane.ROUTINE).allowed, "3 in flight: the emergency one counts"
    store.release(ORG_A, emergency)
    assert store.admit(ORG_A, Lane.ROUTINE).allowed


def test_limit_exceeded_opens_the_breaker_for_non_emergency_lanes_then_probes(
    salesforce: SeededSimulator, valkey: LocalValkey
) -> None:
    now = [1_000_000]
    client = valkey.client()
    client.flushdb()
    store = ValkeyBudgetStore(client, BudgetPolicy(breaker_cooldown_s=60), clock_ms=lambda: now[0])
    _use(salesforce, 1000)  # Salesforce is at its limit; the store does not know yet
    routine = _records(salesforce, store, Lane.ROUTINE)
    with pytest.raises(BudgetDeferred, match="wait 60 s"):
        routine.get_record("Case", salesforce.cases[ORG_A], ["Subject"])
    requests_before = len(salesforce.sim.org(ORG_A).api_calls)
    with pytest.raises(BudgetDeferred, match="breaker open"):
        routine.get_record("Case", salesforce.cases[ORG_A], ["Subject"])
    assert len(salesforce.sim.org(ORG_A).api_calls) == requests_before, "not even sent"
    assert store.admit(ORG_A, Lane.EMERGENCY, GRANT).allowed is False  # the day is spent
    now[0] += 60_000
    probe = store.admit(ORG_A, Lane.INTERACTIVE)
    assert probe.allowed is False and "share" in probe.reason  # usage was observed: 1000
    store.observe(ORG_A, 10, 1000)  # a new day: Salesforce's count rolled over
    probe = store.admit(ORG_A, Lane.ROUTINE)
    blocked = store.admit(ORG_A, Lane.ROUTINE)
    assert probe.allowed and not blocked.allowed and "probe" in blocked.reason
    store.release(ORG_A, probe, succeeded=True)
    assert store.admit(ORG_A, Lane.ROUTINE).allowed, "a successful probe closes the breaker"


def _spy_token_requests(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    seen: Counter[str] = Counter()
    real = adapter.request_token

    def spy(credentials: SalesforceCredentials, *args: Any, **kwargs: Any) -> Any:
        seen[credentials.client_id] += 1
        return real(credentials, *args, **kwargs)

    monkeypatch.setattr(adapter, "request_token", spy)
    return seen


def _pool(salesforce: SeededSimulator, revoked: bool = False) -> CredentialPool:
    org = salesforce.orgs[ORG_A]
    user = salesforce.users[ORG_A]
    salesforce.sim.add_app(org, ConnectedApp("client-A2", SECRET + "2", run_as_user_id=user))
    salesforce.sim.add_app(org, ConnectedApp("client-AE", SECRET + "E", run_as_user_id=user))
    url = salesforce.server.token_url

    def credential(client_id: str, secret: str, emergency: bool = False) -> PooledCredential:
        return PooledCredential(
            f"{client_id}@v1",
            SalesforceCredentials(token_url=url, client_id=client_id, client_secret=secret),
            emergency,
        )

    return CredentialPool(
        lambda: (
            credential("client-A", "revoked" if revoked else SECRET),
            credential("client-A2", SECRET + "2"),
            credential("client-AE", SECRET + "E", emergency=True),
        )
    )


def test_a_refused_credential_is_presented_once_across_instances(
    salesforce: SeededSimulator, store: ValkeyBudgetStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _spy_token_requests(monkeypatch)
    pool = _pool(salesforce, revoked=True)
    for _ in range(4):  # four cold starts sharing the store
        records = _records(salesforce, store, Lane.INTERACTIVE, pool)
        records.get_record("Case", salesforce.cases[ORG_A], ["Subject"])
    assert seen["client-A"] == 1, "never retried: each failed login nears a lockout"
    assert seen["client-A2"] == 4 and seen["client-AE"] == 0
    assert store.health(ORG_A)["refused_credentials"] == ["client-A@v1"]
    user = salesforce.users[ORG_A]
    assert not salesforce.sim.is_locked(salesforce.orgs[ORG_A], user)


def test_the_emergency_credential_serves_only_the_emergency_lane(
    salesforce: SeededSimulator, store: ValkeyBudgetStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _spy_token_requests(monkeypatch)
    pool = _pool(salesforce)
    for lane in (Lane.ROUTINE, Lane.INTERACTIVE, Lane.ROUTINE, Lane.INTERACTIVE):
        _records(salesforce, store, lane, pool).get_record(
            "Case", salesforce.cases[ORG_A], ["Subject"]
        )
    assert seen["client-AE"] == 0 and seen["client-A"] == 2 and seen["client-A2"] == 2
    _records(salesforce, store, Lane.EMERGENCY, pool).get_record(
        "Case", salesforce.cases[ORG_A], ["Subject"]
    )
    assert seen["client-AE"] == 1


def test_when_every_credential_is_refused_the_error_names_them_not_the_secrets(
    salesforce: SeededSimulator, store: ValkeyBudgetStore, tmp_path: Path
) -> None:
    bad = SalesforceCredentials(
        token_url=salesforce.server.token_url, client_id="client-A", client_secret="wrong"
    )
    pool = CredentialPool(lambda: (PooledCredential("client-A@v9", bad),))
    records = _records(salesforce, store, Lane.INTERACTIVE, pool)
    for _ in range(2):
        with pytest.raises(UpstreamUnavailable, match="client-A@v9") as raised:
            records.get_record("Case", salesforce.cases[ORG_A], ["Subject"])
        assert "wrong" not in str(raised.value)


def test_health_reports_and_alerts_before_the_limit(
    valkey: LocalValkey, store: ValkeyBudgetStore, capsys: pytest.CaptureFixture[str]
) -> None:
    from sovgw.cli import main  # noqa: PLC0415

    store.observe(ORG_A, 700, 1000)
    assert main(["health", "--org", ORG_A, "--store-url", valkey.url]) == 0
    calm = json.loads(capsys.readouterr().out)
    assert (calm["used"], calm["breaker"], calm["alert"]) == (700, "closed", False)
    assert calm["ceilings"] == {"EMERGENCY": 1000, "INTERACTIVE": 900, "ROUTINE": 850}
    store.observe(ORG_A, 850, 1000)
    assert main(["health", "--org", ORG_A, "--store-url", valkey.url]) == 1, "80 % alerts"
    capsys.readouterr()
    assert main(["health", "--org", ORG_A, "--store-url", valkey.url, "--emf"]) == 0
    emf = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (directive,) = emf["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "sovgw"
    values = {k: v[0] if isinstance(v, list) else v for k, v in emf.items()}
    assert values["ApiUsedPercent"] == 85.0 and values["BreakerOpen"] == 0
    assert values["OrgId"] == ORG_A[:15] and values["Jurisdiction"] == "eu-de"


def test_first_contact_reads_limits_so_the_reserve_holds_from_the_first_call(
    salesforce: SeededSimulator, store: ValkeyBudgetStore
) -> None:
    _use(salesforce, 860)  # already past routine's ceiling before we ever called
    routine = _records(salesforce, store, Lane.ROUTINE)
    with pytest.raises(BudgetDeferred, match="ROUTINE share"):
        routine.get_record("Case", salesforce.cases[ORG_A], ["Subject"])
    assert store.health(ORG_A)["used"] == 861, "/limits itself counted as a call"


def test_the_emergency_lane_opens_only_for_an_active_grant(store: ValkeyBudgetStore) -> None:
    now = int(time.time() * 1000)
    no_grant = store.admit(ORG_A, Lane.EMERGENCY)
    assert not no_grant.allowed and "needs an active break-glass grant" in no_grant.reason
    assert not store.admit(ORG_A, Lane.EMERGENCY, "unknown-grant").allowed
    store.hold_grant(ORG_A, "ended-long-ago", now - 2 * 3600 * 1000)
    ended = store.admit(ORG_A, Lane.EMERGENCY, "ended-long-ago")
    assert not ended.allowed and "ended" in ended.reason
    store.hold_grant(ORG_A, "just-ended", now - 60_000)
    assert store.admit(ORG_A, Lane.EMERGENCY, "just-ended").allowed, "its expiry steps still run"
    store.hold_grant(ORG_A, "active", now + 60_000)
    assert store.admit(ORG_A, Lane.EMERGENCY, "active").allowed
    assert store.admit("00D5F0000000002UAA", Lane.EMERGENCY, "active").allowed is False, (
        "a grant unlocks its own org only"
    )
