"""GDPR Article 30(1) record of processing, per jurisdiction, org and period.

What happened comes from the audit records (categories and counts, never values); who answers
for it comes from configuration; how long each store keeps data and which technical and
organisational measures are in place come from the deployment, read by the caller
(``sovgw.audit_tools``) and handed in. Each figure names where it came from, and anything
that would make the record unfit to file (a missing contact, a transfer, a broken chain, a
measure not in place) is a gap listed first.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from sovgw.config import Contact, Jurisdiction, OrgBinding
from sovgw.domain.audit import AuditRecord, Outcome, Stage
from sovgw.domain.minimise import PURPOSES

DATA_SUBJECTS = {
    "Case": "customers, employees and other people named in cases",
    "Contract": "contract counterparties, signatories and employees under contract",
}
Source = Literal["live", "declared", "records", "policy pack"]


@dataclass(frozen=True)
class Controller:
    org: str
    controller: Contact | None
    dpo: Contact | None


@dataclass(frozen=True)
class Activity:
    """One purpose of processing: what it reads, about whom, and where it went."""

    purpose: str
    description: str
    requests: int
    fields: dict[str, tuple[str, ...]]
    data_subjects: tuple[str, ...]
    personal_data: dict[str, int]
    levels: dict[str, int]
    recipients: dict[str, int]
    denied: int
    evidence: str | None  # an audit record id of this purpose (for ``sovgw audit trace``)


@dataclass(frozen=True)
class Transfer:
    record_id: str
    stage: str
    region: str


@dataclass(frozen=True)
class ErasureLimit:
    store: str
    holds: str
    limit: str
    erasure: str


@dataclass(frozen=True)
class Measure:
    """A technical or organisational measure, as found in the deployment."""

    area: str
    measure: str
    evidence: str
    source: Source
    in_place: bool


@dataclass(frozen=True)
class ChainResult:
    stream: str
    ok: bool
    digests: int
    records: int
    unsealed: int
    findings: tuple[str, ...]


@dataclass(frozen=True)
class Art30Report:
    jurisdiction: str
    org: str | None
    since: datetime | None
    until: datetime | None
    generated: datetime
    policy_version: str
    controllers: tuple[Controller, ...]
    activities: tuple[Activity, ...]
    recipients: dict[str, int]
    transfers: tuple[Transfer, ...]
    safeguards: tuple[str, ...]
    erasure: tuple[ErasureLimit, ...]
    measures: tuple[Measure, ...]
    chain: tuple[ChainResult, ...]
    per_day_by_level: dict[str, dict[str, int]]
    per_day_by_destination: dict[str, dict[str, int]]
    denials_by_rule: dict[str, tuple[int, str]]  # rule → (count, an audit record id)
    findings_by_category: dict[str, tuple[int, str]]  # category → (count, an audit record id)
    records_considered: int
    gaps: tuple[str, ...] = field(default=())

    @property
    def fileable(self) -> bool:
        """No gap: every contact known, nothing left the jurisdiction, the chain verifies."""
        return not self.gaps


def _safeguards(jurisdiction: Jurisdiction) -> tuple[str, ...]:
    """How "no transfer to a third country" is enforced, from the policy and the stack."""
    policy = jurisdiction.policy
    where = {d.name: f"{d.name} ({d.tier.value}, {d.region})" for d in policy.destinations}
    lines = [
        f"Routing policy {policy.version}: every request is matched to one rule by data level "
        "and purpose; a level it cannot classify counts as PRIVILEGED, and an unknown region "
        "or a destination outside "
        f"{', '.join(jurisdiction.allowed_regions)} is refused (fail closed)."
    ]
    lines += [
        f"Rule {rule.id}: {', '.join(level.value for level in rule.levels)} → "
        f"{', '.join(where.get(d, d) for d in rule.destinations)}"
        for rule in policy.rules
    ]
    lines += [
        f"The stack's AWS provider is pinned to {jurisdiction.region} and one account; the "
        "policy pack refuses any resource in another region (region-pinned).",
        "The VPC has no internet or NAT gateway and no public address; models run with network "
        "isolation (policy pack: no-internet-path, model-network-isolation).",
    ]
    return tuple(lines)


def build_art30(
    jurisdiction: Jurisdiction,
    orgs: Sequence[OrgBinding],
    records: Iterable[AuditRecord],
    *,
    generated: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    org: str | None = None,
    erasure: Sequence[ErasureLimit] = (),
    measures: Sequence[Measure] = (),
    chain: Sequence[ChainResult] = (),
) -> Art30Report:
    """The record for ``jurisdiction`` (one org's with ``org``), from records in [since, until)."""
    chosen = [
        r
        for r in records
        if (since is None or r.time >= since)
        and (until is None or r.time < until)
        and (org is None or (r.org_id or "")[:15] == org[:15])
    ]
    chosen.sort(key=lambda r: (r.time, r.record_id))
    by_event: dict[str, str] = {}  # journey → purpose, so later stages count under it
    for record in chosen:
        journey = record.links.salesforce_event_uuid or record.record_id
        if record.purpose:
            by_event.setdefault(journey, record.purpose)

    def purpose_of(record: AuditRecord) -> str:
        journey = record.links.salesforce_event_uuid or record.record_id
        return record.purpose or by_event.get(journey, "unknown")

    requests: Counter[str] = Counter()
    denied: Counter[str] = Counter()
    evidence: dict[str, str] = {}
    personal: dict[str, Counter[str]] = defaultdict(Counter)
    levels: dict[str, Counter[str]] = defaultdict(Counter)
    recipients: dict[str, Counter[str]] = defaultdict(Counter)
    per_day_level: dict[str, Counter[str]] = defaultdict(Counter)
    per_day_destination: dict[str, Counter[str]] = defaultdict(Counter)
    denials: dict[str, tuple[int, str]] = {}
    findings: dict[str, tuple[int, str]] = {}
    transfers: list[Transfer] = []
    trained: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for record in chosen:
        purpose, day = purpose_of(record), record.time.date().isoformat()
        if record.stage is Stage.DATASET and record.dataset is not None:
            _count_dataset_step(
                record,
                purpose,
                builds=requests,
                evidence=evidence,
                personal=personal,
                trained=trained,
            )
        if record.stage is Stage.CLASSIFICATION:
            requests[purpose] += 1
            evidence.setdefault(purpose, record.record_id)
            level = record.data_level.value if record.data_level else "unknown"
            levels[purpose][level] += 1
            per_day_level[day][level] += 1
            personal[purpose].update(record.entity_counts)
            for category, count in record.entity_counts.items():
                before = findings.get(category, (0, record.record_id))
                findings[category] = (before[0] + count, before[1])
        if record.stage is Stage.MODEL_INVOCATION and record.endpoint:
            recipient = f"{record.endpoint} ({record.region})"
            recipients[purpose][recipient] += 1
            per_day_destination[day][recipient] += 1
        if record.outcome is Outcome.DENIED:
            denied[purpose] += 1
            rule = record.rule_id or "unspecified"
            before = denials.get(rule, (0, record.record_id))
            denials[rule] = (before[0] + 1, before[1])
        if record.region and record.region not in jurisdiction.allowed_regions:
            transfers.append(Transfer(record.record_id, record.stage.value, record.region))
    activities = _activities(
        requests=requests,
        denied=denied,
        evidence=evidence,
        personal=personal,
        levels=levels,
        recipients=recipients,
        trained=trained,
    )
    bound = [o for o in orgs if org is None or o.org_id[:15] == org[:15]]
    controllers = tuple(
        Controller(f"{o.name} ({o.org_id})", o.controller, o.dpo)
        for o in sorted(bound, key=lambda o: o.name)
    )
    overall: Counter[str] = Counter()
    for counts in recipients.values():
        overall.update(counts)
    report = Art30Report(
        jurisdiction=jurisdiction.id,
        org=org,
        since=since,
        until=until,
        generated=generated,
        policy_version=jurisdiction.policy.version,
        controllers=controllers,
        activities=activities,
        recipients=dict(overall),
        transfers=tuple(transfers),
        safeguards=_safeguards(jurisdiction),
        erasure=tuple(erasure),
        measures=tuple(measures),
        chain=tuple(chain),
        per_day_by_level={d: dict(c) for d, c in sorted(per_day_level.items())},
        per_day_by_destination={d: dict(c) for d, c in sorted(per_day_destination.items())},
        denials_by_rule=dict(sorted(denials.items())),
        findings_by_category=dict(sorted(findings.items())),
        records_considered=len(chosen),
    )
    return _with_gaps(report)


def _activities(
    *,
    requests: Counter[str],
    denied: Counter[str],
    evidence: dict[str, str],
    personal: dict[str, Counter[str]],
    levels: dict[str, Counter[str]],
    recipients: dict[str, Counter[str]],
    trained: dict[str, dict[str, set[str]]],
) -> tuple[Activity, ...]:
    """One activity per purpose seen; a dataset purpose reads the fields its builds named."""
    activities = []
    for purpose in sorted(set(requests) | set(denied)):
        spec = PURPOSES.get(purpose)
        objects = dict(spec.fields) if spec else {}
        description = spec.instruction if spec else "not a declared purpose"
        if purpose in trained:
            objects = {o: tuple(sorted(f)) for o, f in trained[purpose].items()}
            description = TRAINING_DESCRIPTION
        activities.append(
            Activity(
                purpose=purpose,
                description=description,
                requests=requests[purpose],
                fields={o: tuple(f) for o, f in objects.items()},
                data_subjects=tuple(sorted(DATA_SUBJECTS.get(o, o) for o in objects)),
                personal_data=dict(personal[purpose]),
                levels=dict(levels[purpose]),
                recipients=dict(recipients[purpose]),
                denied=denied[purpose],
                evidence=evidence.get(purpose),
            )
        )
    return tuple(activities)


TRAINING_DESCRIPTION = (
    "Training the jurisdiction's own model on Salesforce records exported in dataset builds: "
    "personal values one-way pseudonymised, privileged, secret or unclassified data "
    "quarantined; training runs in region, network-isolated (requests: builds exported)"
)


def _count_dataset_step(
    record: AuditRecord,
    purpose: str,
    *,
    builds: Counter[str],
    evidence: dict[str, str],
    personal: dict[str, Counter[str]],
    trained: dict[str, dict[str, set[str]]],
) -> None:
    """A dataset build is processing for its purpose: an export counts as one build, its
    scan names the categories of personal data that entered training as tokens."""
    assert record.dataset is not None
    if record.dataset.action == "export":
        builds[purpose] += 1
        evidence.setdefault(purpose, record.record_id)
        trained[purpose][record.dataset.sobject].update(record.fields_used)
    elif record.dataset.action == "scan":
        personal[purpose].update(record.entity_counts)


def _with_gaps(report: Art30Report) -> Art30Report:
    gaps = [
        f"{c.org}: no {role} contact configured (config/gateway.yaml, orgs[].{role})"
        for c in report.controllers
        for role, contact in (("controller", c.controller), ("dpo", c.dpo))
        if contact is None
    ]
    if not report.controllers:
        gaps.append(f"no org is bound to {report.jurisdiction}")
    gaps += [
        f"transfer outside the jurisdiction: {t.stage} in {t.region}" for t in report.transfers
    ]
    gaps += [f"audit chain {c.stream} does not verify" for c in report.chain if not c.ok]
    gaps += [f"measure not in place: {m.measure}" for m in report.measures if not m.in_place]
    return replace(report, gaps=tuple(gaps))
