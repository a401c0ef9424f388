"""The anomaly watcher from the live query log to containment, on real components: the
Salesforce adapter's calls to the simulator (real HTTPS) feed a real redis-server (the
Valkey protocol); the watcher closes the hour; the budget's admission script then refuses
the suspended principal everything but the EMERGENCY lane, until it is lifted."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from sovgw.adapters.query_log import AnomalyFeed
from sovgw.adapters.salesforce.bulk import SalesforceBulkQueries
from sovgw.adapters.salesforce.records import OrgBudget, SalesforceRecords
from sovgw.adapters.valkey_anomaly import ValkeyAnomalyStore
from sovgw.adapters.valkey_budget import ValkeyBudgetStore
from sovgw.app.anomaly import lift_suspension, watch_anomalies
from sovgw.config import GatewayConfig, load_config
from sovgw.domain.anomaly import Observation
from sovgw.domain.audit import Outcome, Stage
from sovgw.domain.budget import BudgetDeferred, Lane
from sovgw.domain.datasets import load_datasets
from sovgw.domain.errors import RejectedInput
from sovgw.domain.query_log import calls_made_as
from sovgw.local.valkey import LocalValkey
from tests.conftest import ORG_A, ROOT, SeededSimulator
from tests.fakes import MemoryAudit

GRANT = "grant-of-the-general-counsel"


@pytest.fixture
def store(valkey: LocalValkey) -> ValkeyAnomalyStore:
    """An empty store (the module's redis-server, flushed)."""
    client = valkey.client()
    client.flushdb()
    return ValkeyAnomalyStore(client)


@pytest.fixture(scope="module")
def config() -> GatewayConfig:
    return load_config(ROOT / "config" / "gateway.yaml")


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def test_a_read_outside_the_purpose_suspends_the_principal_but_not_emergency_work(
    salesforce: SeededSimulator,
    store: ValkeyAnomalyStore,
    valkey: LocalValkey,
    config: GatewayConfig,
) -> None:
    budget = ValkeyBudgetStore(valkey.client())
    binding = config.org(ORG_A)
    assert binding is not None
    jurisdiction = config.jurisdiction(binding.jurisdiction)
    assert jurisdiction is not None
    read_at = Clock(datetime(2026, 11, 30, 3, 20, tzinfo=UTC))
    feed = AnomalyFeed(store, jurisdiction.id, read_at)
    org = salesforce.orgs[ORG_A]
    for n in range(3):
        salesforce.sim.insert(
            org, "Contact", {"LastName": f"Person {n}", "Email": f"p{n}@x.example"}
        )

    def records(lane: Lane, grant: str | None = None) -> SalesforceRecords:
        return SalesforceRecords(
            salesforce.credentials(ORG_A),
            budget=OrgBudget(budget, ORG_A),
            lane=lane,
            grant_id=grant,
            ca_bundle=str(salesforce.server.ca_bundle),
            query_log=feed,
        )

    interactive = records(Lane.INTERACTIVE)
    case = salesforce.cases[ORG_A]
    with calls_made_as("classify", "summarise_case"):
        interactive.get_record("Case", case, ["Subject", "Description"])  # its purpose
        contacts = interactive.query("SELECT Id, LastName, Email FROM Contact LIMIT 10")
    assert len(contacts) == 3
    with calls_made_as("route", "summarise_case"):
        interactive.get_record("Case", case, ["Subject"])

    audit = MemoryAudit()
    run = watch_anomalies(
        store, audit, config, jurisdiction, now=datetime(2026, 11, 30, 4, 5, tzinfo=UTC)
    )
    assert run.closed == (datetime(2026, 11, 30, 3, tzinfo=UTC),)
    [(flag, record_id)] = run.flags
    assert (flag.org_id, flag.principal, flag.sobject, flag.kind) == (
        ORG_A,
        "classify",
        "Contact",
        "sensitive_object",
    )
    record = audit.records[record_id]
    assert record.stage is Stage.ANOMALY and record.anomaly is not None
    assert record.outcome is Outcome.DENIED
    assert record.anomaly.containment.startswith("non-emergency lanes suspended")
    assert "@" not in record.model_dump_json()  # names and counts, never a value
    assert run.suspended[binding.org_id] == ["classify"]
    read_at.at = datetime(2026, 11, 30, 4, 30, tzinfo=UTC)

    with calls_made_as("classify", "summarise_case"), pytest.raises(BudgetDeferred) as refused:
        interactive.get_record("Case", case, ["Subject"])
    assert "principal classify is suspended" in str(refused.value)
    assert record_id in str(refused.value)
    with calls_made_as("classify", "summarise_case"), pytest.raises(BudgetDeferred):
        records(Lane.ROUTINE).get_record("Case", case, ["Subject"])
    with calls_made_as("route", "summarise_case"):  # another principal is not held
        assert interactive.get_record("Case", case, ["Subject"])["Subject"]
    budget.hold_grant(ORG_A, GRANT, int(time.time() * 1000) + 600_000)
    with calls_made_as("classify", "summarise_case"):  # emergency work stays available
        assert records(Lane.EMERGENCY, GRANT).get_record("Case", case, ["Subject"])["Subject"]
    health = budget.health(ORG_A)
    assert "anomaly sensitive_object on Contact" in health["suspended"]["classify"]

    # The refused calls never reached Salesforce; the others read what their purpose names.
    again = watch_anomalies(
        store, audit, config, jurisdiction, now=datetime(2026, 11, 30, 6, 6, tzinfo=UTC)
    )
    assert again.closed == (
        datetime(2026, 11, 30, 4, tzinfo=UTC),
        datetime(2026, 11, 30, 5, tzinfo=UTC),
    )
    assert again.flags == ()
    assert store.open_hours(jurisdiction.id) == []  # closed hours leave the feed

    with pytest.raises(RejectedInput, match="say why"):
        lift_suspension(
            store, audit, jurisdiction.id, org_id=ORG_A, principal="classify", reason=" "
        )
    lifted = lift_suspension(
        store,
        audit,
        jurisdiction.id,
        org_id=ORG_A,
        principal="classify",
        reason="reviewed: a developer's test query, credential rotated",
    )
    assert lifted.evidence == record_id
    with calls_made_as("classify", "summarise_case"):
        assert interactive.get_record("Case", case, ["Subject"])["Subject"]
    assert budget.health(ORG_A)["suspended"] == {}
    kinds = [r.anomaly.kind for r in audit.records.values() if r.anomaly is not None]
    assert kinds == ["sensitive_object", "lifted"]
    with pytest.raises(RejectedInput, match="not suspended"):
        lift_suspension(
            store, audit, jurisdiction.id, org_id=ORG_A, principal="classify", reason="x"
        )


def test_one_watcher_at_a_time_and_a_failed_run_is_redone_whole(
    store: ValkeyAnomalyStore, config: GatewayConfig
) -> None:
    jurisdiction = config.jurisdictions[0]
    hour = datetime(2026, 11, 30, 3, tzinfo=UTC)
    store.observe(jurisdiction.id, Observation(hour, ORG_A, "classify", "Contact", ("Email",), 9))
    with store.watching(jurisdiction.id, 60) as mine:
        assert mine
        busy = watch_anomalies(
            store, MemoryAudit(), config, jurisdiction, now=hour + timedelta(hours=2)
        )
        assert busy.busy and busy.closed == ()

    class BrokenAudit(MemoryAudit):
        def write(self, record: object) -> str:
            raise OSError("audit bucket unreachable")

    with pytest.raises(OSError, match="unreachable"):
        watch_anomalies(store, BrokenAudit(), config, jurisdiction, now=hour + timedelta(hours=2))
    assert store.open_hours(jurisdiction.id) == [hour]  # nothing forgotten
    assert store.suspensions(ORG_A) == {}  # nothing contained without its record
    audit = MemoryAudit()
    redone = watch_anomalies(store, audit, config, jurisdiction, now=hour + timedelta(hours=2))
    assert [f.kind for f, _ in redone.flags] == ["sensitive_object"]
    assert list(store.suspensions(ORG_A)) == ["classify"]


def test_a_read_fed_after_its_hour_was_closed_counts_in_the_next_hour_closed(
    store: ValkeyAnomalyStore, config: GatewayConfig
) -> None:
    jurisdiction = config.jurisdictions[0]
    three = datetime(2026, 11, 30, 3, tzinfo=UTC)
    case = Observation(three, ORG_A, "route", "Case", ("Subject",), 1, "summarise_case")
    store.observe(jurisdiction.id, case)
    assert (
        watch_anomalies(
            store, MemoryAudit(), config, jurisdiction, now=three + timedelta(minutes=64)
        ).closed
        == ()
    )  # within the grace after its end, an hour stays open
    first = watch_anomalies(
        store, MemoryAudit(), config, jurisdiction, now=three + timedelta(minutes=66)
    )
    assert first.closed == (three,) and first.flags == ()
    late = Observation(three, ORG_A, "route", "Contact", ("Email",), 5, "summarise_case")
    store.observe(jurisdiction.id, late)
    assert store.open_hours(jurisdiction.id) == [three]
    audit = MemoryAudit()
    second = watch_anomalies(
        store, audit, config, jurisdiction, now=three + timedelta(hours=2, minutes=6)
    )
    assert second.closed == (three + timedelta(hours=1),)
    [(flag, _)] = second.flags
    assert (flag.principal, flag.sobject, flag.hour) == (
        "route",
        "Contact",
        three + timedelta(hours=1),
    )
    assert store.open_hours(jurisdiction.id) == []


def test_a_bulk_export_is_expected_as_its_dataset_names_and_flagged_beyond_it(
    salesforce: SeededSimulator, store: ValkeyAnomalyStore, config: GatewayConfig
) -> None:
    """A Bulk API query job is observed when it is created (its SOQL travels in the body):
    the dataset's own export passes, a job reading Contacts under the same purpose is
    flagged."""
    jurisdiction = config.jurisdictions[0]
    created = datetime(2026, 11, 30, 3, 10, tzinfo=UTC)
    records = SalesforceRecords(
        salesforce.credentials(ORG_A),
        ca_bundle=str(salesforce.server.ca_bundle),
        lane=Lane.ROUTINE,
        org_id=ORG_A,
        query_log=AnomalyFeed(store, jurisdiction.id, Clock(created)),
    )
    [training] = load_datasets(ROOT / "config" / "datasets")
    with calls_made_as("sovgw export", training.purpose):
        SalesforceBulkQueries(records).create(training.soql)
    closed = datetime(2026, 11, 30, 4, 6, tzinfo=UTC)
    clean = watch_anomalies(
        store,
        MemoryAudit(),
        config,
        jurisdiction,
        now=closed,
        datasets=ROOT / "config" / "datasets",
    )
    assert clean.closed == (datetime(2026, 11, 30, 3, tzinfo=UTC),) and clean.flags == ()

    records = SalesforceRecords(
        salesforce.credentials(ORG_A),
        ca_bundle=str(salesforce.server.ca_bundle),
        lane=Lane.ROUTINE,
        org_id=ORG_A,
        query_log=AnomalyFeed(store, jurisdiction.id, Clock(created + timedelta(hours=1))),
    )
    with calls_made_as("sovgw export", training.purpose):
        SalesforceBulkQueries(records).create("SELECT Id, LastName, Email FROM Contact")
    flagged = watch_anomalies(
        store,
        MemoryAudit(),
        config,
        jurisdiction,
        now=closed + timedelta(hours=1),
        datasets=ROOT / "config" / "datasets",
    )
    [(flag, _)] = flagged.flags
    assert (flag.principal, flag.sobject, flag.kind) == (
        "sovgw export",
        "Contact",
        "sensitive_object",
    )


def test_a_flag_on_break_glass_work_is_recorded_and_alarmed_but_never_closes_its_lanes(
    store: ValkeyAnomalyStore, valkey: LocalValkey, config: GatewayConfig
) -> None:
    jurisdiction = config.jurisdictions[0]
    hour = datetime(2026, 11, 30, 3, tzinfo=UTC)
    store.observe(
        jurisdiction.id, Observation(hour, ORG_A, "break_glass", "Contact", ("Email",), 3)
    )
    audit = MemoryAudit()
    run = watch_anomalies(store, audit, config, jurisdiction, now=hour + timedelta(hours=2))
    [(flag, record_id)] = run.flags
    assert flag.principal == "break_glass"
    assert run.suspended[ORG_A] == ["break_glass"]  # counted: the alarm fires
    anomaly = audit.records[record_id].anomaly
    assert anomaly is not None and anomaly.containment.startswith("recorded and alarmed only")
    assert audit.records[record_id].outcome is Outcome.OK  # nothing was refused
    budget = ValkeyBudgetStore(valkey.client())
    assert budget.admit(ORG_A, Lane.INTERACTIVE, principal="break_glass").allowed
    assert budget.admit(ORG_A, Lane.INTERACTIVE, principal="classify").allowed
    assert budget.health(ORG_A)["suspended"]["break_glass"].startswith(
        "principal break_glass is flagged: anomaly sensitive_object on Contact"
    )
