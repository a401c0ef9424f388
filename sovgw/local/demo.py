"""``make demo``: replay events/ through the local sovereign stack and print what happened.

Every line is read back from where an auditor would look: the audit records in the
jurisdiction's S3 bucket and the dead-letter queues, not from in-memory results.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from sovgw.adapters.aws.audit import audit_record_key
from sovgw.adapters.valkey_budget import ValkeyBudgetStore
from sovgw.adapters.valkey_grants import ValkeyGrantStore
from sovgw.app.datasets import exporter_for, manifest_key, scan_input, start_build, verify_build
from sovgw.audit_tools import open_store
from sovgw.config import GatewayConfig, load_config
from sovgw.domain.audit import Stage, audit_record_id
from sovgw.domain.break_glass import Grant
from sovgw.domain.datasets import load_dataset
from sovgw.local.map_runner import run_scan_map
from sovgw.local.stack import LocalSovereignStack
from sovgw.wiring import FUNCTIONS


@dataclass
class Sent:
    name: str
    org_id: str
    event_uuid: str
    envelope: dict[str, Any]
    line: str | None = None


def _events_to_replay(root: Path) -> list[Path]:
    return sorted((root / "events" / "salesforce").glob("*.json")) + sorted(
        (root / "events" / "invalid").glob("*.json")
    )


def _audit(
    stack: LocalSovereignStack, config: GatewayConfig, sent: Sent, stage: Stage
) -> dict[str, Any] | None:
    binding = config.org(sent.org_id)
    if binding is None:
        return None
    jurisdiction = config.jurisdiction(binding.jurisdiction)
    assert jurisdiction is not None
    s3 = stack.session(jurisdiction.region).client("s3")
    key = audit_record_key(jurisdiction.id, binding.org_id, audit_record_id(sent.event_uuid, stage))
    try:
        body = s3.get_object(Bucket=jurisdiction.audit_bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def _dead_letters(stack: LocalSovereignStack) -> dict[str, tuple[str, str]]:
    """EventUuid → (function, reason) for everything in any DLQ."""
    found: dict[str, tuple[str, str]] = {}
    for deployment in stack.deployments.values():
        for fn in FUNCTIONS:
            for item in deployment.dead_letters(fn.name):
                detail = item["event"].get("detail", {})
                uuid = detail.get("id") or detail.get("request", {}).get("event_uuid")
                if uuid:
                    found[uuid] = (f"{deployment.jurisdiction.id}/{fn.name}", item["reason"] or "")
    return found


def _seal_and_verify(config: GatewayConfig) -> int:
    """Seal every stream the demo wrote, then verify each chain; returns problems found."""
    problems = records = digests = 0
    for jurisdiction in config.jurisdictions:
        store = open_store(jurisdiction)
        for stream in store.streams(jurisdiction.id):
            store.seal(stream)
            result = store.verify(stream)
            records += result.records
            digests += result.digests
            problems += len(result.problems)
            for problem in result.problems:
                print(f"  audit problem in {stream}: {problem}")
    verdict = "verified" if not problems else f"FAILED with {problems} problem(s)"
    print(f"audit chain {verdict}: {records} records sealed in {digests} signed digests")
    return problems


# The sample Break_Glass_Request__e in events/salesforce/ (approved by the sample approval).
BREAK_GLASS_ORG = "00D5E0000000001UAA"
BREAK_GLASS_REQUEST = "0b7f3c3e-8f3e-4f1a-9a55-1f0e2d3c4b06"

PROXY_CASES: tuple[tuple[str, str, str, int], ...] = (
    (
        "contoso-legal",
        "personal data, streamed",
        "Summarise the dispute with max.mueller@example.de (IBAN DE89 3704 0044 0532 0130 00).",
        200,
    ),
    (
        "northwind-faq",
        "e-mail address in a FAQ question",
        "Draft a short answer to jan.devries@example.nl about our opening hours.",
        200,
    ),
    (
        "northwind-faq",
        "privileged content",
        "Attorney-client privileged: assess our exposure in the Jansen dispute.",
        403,
    ),
    ("contoso-legal", "primary endpoint down", "Summarise our open HR cases.", 200),
)


def _proxy_demo(stack: LocalSovereignStack, root: Path) -> int:
    """Both kinds of upstream through the proxy; returns the number of unexpected outcomes."""
    _, server = stack.start_proxy(root / "config" / "proxy.yaml")
    print(f"\nOpenAI-compatible proxy on {server.url} (published demo keys sk-sovgw-demo-<app>):")
    print(_row("APP / CASE", "STATUS", "LEVEL", "ROUTE", "MODEL", "WHAT LEFT / REASON"))
    unexpected = 0
    for app, case, prompt, expected in PROXY_CASES:
        streamed = case.endswith("streamed")
        down = ("eu-central-1", "sovgw-eu-de-llm")
        if case == "primary endpoint down":
            stack.models.unavailable.add(down)
        response = requests.post(
            f"{server.url}/v1/chat/completions",
            json={"messages": [{"role": "user", "content": prompt}], "stream": streamed},
            headers={"Authorization": f"Bearer sk-sovgw-demo-{app}"},
            timeout=30,
        )
        stack.models.unavailable.discard(down)
        unexpected += response.status_code != expected
        if response.status_code != 200:
            error = response.json()["error"]
            explained = error.get("sovgw", {})
            print(
                _row(
                    f"{app}: {case}",
                    str(response.status_code),
                    explained.get("level", "-"),
                    f"DENIED: {explained.get('rule_id', error['type'])}",
                    "-",
                    error["message"],
                )
            )
            continue
        received = stack.models.received[-1][2][-1]["content"]
        if streamed:
            answer = "".join(
                json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
                for line in response.text.split("\n\n")
                if line.startswith("data: {")
            )
            summary = {
                "endpoint": response.headers["X-Sovgw-Endpoint"],
                "level": response.headers["X-Sovgw-Level"],
            }
        else:
            body = response.json()
            answer, summary = body["choices"][0]["message"]["content"], body["sovgw"]
        restored = "max.mueller@example.de" in answer or "jan.devries@example.nl" in answer
        print(
            _row(
                f"{app}: {case}",
                "200",
                str(summary.get("level", "-")),
                f"allowed: {response.headers['X-Sovgw-Rule']}",
                str(summary["endpoint"]),
                f"model received {received!r}"
                + ("; caller got the original values back" if restored else ""),
            )
        )
    return unexpected


def _grant(stack: LocalSovereignStack, org_id: str, request_id: str) -> Grant | None:
    return ValkeyGrantStore(stack.valkey_client()).get(org_id, request_id)


def _break_glass_row(stack: LocalSovereignStack, sent: Sent) -> str | None:
    """A break-glass event's outcome: the grant record it produced or moved on."""
    envelope = sent.envelope
    request_id = (
        envelope["detail"]["payload"]["Request_Id__c"]
        if envelope["detail-type"] == "Break_Glass_Approval__e"
        else envelope["detail"]["id"]
    )
    grant = _grant(stack, sent.org_id, request_id)
    wanted = "GRANTED" if envelope["detail-type"] == "Break_Glass_Approval__e" else None
    if grant is None or (wanted and grant.status != wanted):
        return None
    return _row(
        sent.name,
        "eu-de",
        "-",
        f"break-glass: {grant.status}",
        "-",
        f"case {grant.case_reference}, scope {grant.scope}, {grant.duration_s // 60} min",
    )


def _break_glass_demo(stack: LocalSovereignStack, org_id: str, request_id: str) -> int:
    """The grant the relayed events opened runs out: advance the clock past its expiry and
    let the sweeper end it (EventBridge Scheduler never fires locally)."""
    grant = _grant(stack, org_id, request_id)
    if grant is None or grant.status != "GRANTED":
        print(f"\nbreak-glass: the sample grant is {grant and grant.status}, not GRANTED")
        return 1
    minutes = grant.duration_s // 60
    print(
        f"\nbreak-glass {request_id[:8]}: GRANTED to {grant.target_user} "
        f"(approved by {grant.approver}) for {minutes} min; advancing the clock {minutes} min…"
    )
    print("  opened: " + ", ".join(grant.opened))
    stack.advance_clock(grant.duration_s + 1)
    started = time.monotonic()
    while time.monotonic() - started < 30:
        grant = _grant(stack, org_id, request_id)
        if grant and grant.status == "EXPIRED":
            break
        time.sleep(0.5)
    assert grant is not None
    print(
        f"  {grant.status} {time.monotonic() - started:.1f} s later (sweeper); closed: "
        + ", ".join(grant.closed)
    )
    return 0 if grant.status == "EXPIRED" else 1


def _budget_lines(stack: LocalSovereignStack, config: GatewayConfig) -> None:
    """What ``sovgw health`` shows per org, read from the shared budget store."""
    store = ValkeyBudgetStore(stack.valkey_client())
    print("\nSalesforce API budget per org (shared store; `sovgw health --org ...`):")
    for org in config.orgs:
        health = store.health(org.org_id)
        print(
            f"  {org.org_id[:15]} {org.jurisdiction:<6} used {health['used']}/{health['limit']}, "
            f"emergency reserve left {health['emergency_reserve_left']}, "
            f"breaker {health['breaker']}, "
            f"retired or refused credentials {len(health['refused_credentials'])}"
        )


def _relay_lines(stack: LocalSovereignStack, config: GatewayConfig) -> None:
    """What ``sovgw salesforce relay status`` says per org, after one watcher period whose
    heartbeats went through each org's relay and back."""
    from sovgw.app.bootstrap import Settings  # noqa: PLC0415
    from sovgw.app.relay import relay_health  # noqa: PLC0415

    assert stack.salesforce is not None
    print("\nEvent Relay per org (`sovgw salesforce relay status --org ...`):")
    sent = stack.now_ms() // 1000 * 1000
    with contextlib.redirect_stdout(io.StringIO()):  # its metrics (EMF) are for CloudWatch
        for deployment in stack.deployments.values():
            deployment.tick("relay_watch")
    settings = Settings(salesforce_ca_bundle=str(stack.salesforce.ca_bundle))
    for org in config.orgs:
        ledger = stack.deployments[org.jurisdiction].deps.relay_ledger
        deadline = time.monotonic() + 10
        while ledger and (ledger.last_heartbeat(org.org_id) or 0) < sent:
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        beat = ledger.last_heartbeat(org.org_id) if ledger else None
        health = relay_health(config, org, settings)
        state = (
            "delivering" if health.delivering else "NOT delivering: " + "; ".join(health.problems)
        )
        steps = ", ".join(f"{s.name} {s.state.value}" for s in health.steps)
        arrived = "heartbeat back" if beat and beat >= sent else "no heartbeat yet"
        print(f"  {org.org_id[:15]} {org.jurisdiction:<6} {state} ({arrived}; {steps})")


DATASET_ORG = "00D5E0000000001UAA"  # Contoso (eu-de): its seed case is marked privileged


def _dataset_demo(stack: LocalSovereignStack, root: Path) -> int:
    """A training dataset build, as ``sovgw export start ... --scan here`` then ``sovgw
    dataset verify`` run it: Bulk API export, scan through the handlers, manifest, verify."""
    deps = stack.deployments["eu-de"].deps
    definition = load_dataset(root / "config" / "datasets", "case-training")
    exporter = exporter_for(deps, DATASET_ORG, lambda poll: time.sleep(0.1))
    state = start_build(deps, exporter, definition, DATASET_ORG)
    execution = scan_input(deps.datasets, state)
    run = run_scan_map(deps, execution)
    body = deps.datasets.get(manifest_key(definition.id, state.build_id))
    manifest = json.loads(body or b"{}")
    report = verify_build(deps, definition.id, state.build_id)
    reconciled = bool(run.reconcile.get("reconciled"))
    totals = manifest.get("totals", {})
    reasons = ", ".join(f"{k} {v}" for k, v in manifest.get("reasons", {}).items()) or "none"
    print(
        f"\ntraining dataset {definition.id} of {DATASET_ORG[:15]} (`sovgw export start`, "
        f"`sovgw dataset verify`): {totals.get('exported', 0)} records exported in "
        f"{len(state.parts)} part(s) on the ROUTINE lane; curated {totals.get('curated', 0)}, "
        f"quarantined {totals.get('quarantined', 0)} ({reasons}), rejected "
        f"{totals.get('rejected', 0)}; manifest "
        f"{'reconciled' if reconciled else 'NOT reconciled'}, "
        f"verify {'passed' if report.passed else 'FAILED'}"
    )
    privileged_quarantined = manifest.get("reasons", {}).get("privileged_content", 0) >= 1
    return 0 if reconciled and report.passed and privileged_quarantined else 1


def _row(*cells: str) -> str:
    widths = (34, 7, 12, 36, 28)
    return "  ".join(c[:w].ljust(w) for c, w in zip(cells, widths, strict=False)) + "  " + cells[-1]


def run_demo(root: Path, timeout: float = 120.0) -> int:
    config = load_config(root / "config" / "gateway.yaml")
    started = time.monotonic()
    print("starting the local sovereign stack (LocalStack, Salesforce simulator, model endpoints)…")
    with LocalSovereignStack(
        config, root / "config" / "sfsim-seed.yaml", root / ".run", root / ".localstack-venv"
    ) as stack:
        print(f"stack up in {time.monotonic() - started:.1f}s; replaying events/ …\n")
        sent: list[Sent] = []
        for path in _events_to_replay(root):
            envelope = json.loads(path.read_text(encoding="utf-8"))
            org_id = str(envelope.get("source", "")).split("/")[2]
            name = f"{path.parent.name}/{path.stem}"
            if path.parent.name == "salesforce" and envelope["detail-type"] == "AI_Request__e":
                fields = {
                    k: v for k, v in envelope["detail"]["payload"].items() if k.endswith("__c")
                }
                uuid = stack.publish_platform_event(org_id, "AI_Request__e", fields)
            else:
                stack.put_envelope(envelope)
                uuid = envelope["detail"]["id"]
            sent.append(Sent(name, org_id, uuid, envelope))

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(s.line is None for s in sent):
            dead = _dead_letters(stack)
            for item in sent:
                if item.line is not None:
                    continue
                binding = config.org(item.org_id)
                where = binding.jurisdiction if binding else "?"
                if item.event_uuid in dead:
                    function, reason = dead[item.event_uuid]
                    item.line = _row(
                        item.name, where, "-", f"dead-lettered ({function})", "-", reason
                    )
                    continue
                if "break_glass" in item.name:
                    item.line = _break_glass_row(stack, item)
                    continue
                written = _audit(stack, config, item, Stage.WRITE_BACK)
                if written:
                    routing = _audit(stack, config, item, Stage.ROUTING) or {}
                    decision = "allowed" if written["outcome"] == "ok" else "DENIED"
                    model = (
                        f"{written['endpoint']}@{written['region']}" if written["endpoint"] else "-"
                    )
                    item.line = _row(
                        item.name,
                        where,
                        str(written["data_level"]),
                        f"{decision}: {written['rule_id']}",
                        model,
                        f"audit {written['record_id']} ({routing.get('reason', '')})",
                    )
            time.sleep(0.5)

        print(_row("EVENT", "JURIS.", "LEVEL", "ROUTE DECISION", "MODEL", "AUDIT RECORD / REASON"))
        for item in sent:
            print(item.line or _row(item.name, "?", "?", "NO OUTCOME (timed out)", "-", "-"))
        invocations = sorted(set(stack.models.invocations))
        print(
            "\nmodel invocations by endpoint: "
            + (", ".join(f"{name}@{region}" for region, name in invocations) or "none")
        )
        unfinished = [s.name for s in sent if s.line is None]
        print(
            f"{len(sent)} events, {len(sent) - len(unfinished)} with an outcome, "
            f"in {time.monotonic() - started:.1f}s."
        )
        unexpected = _proxy_demo(stack, root)
        unexpected += _break_glass_demo(stack, BREAK_GLASS_ORG, BREAK_GLASS_REQUEST)
        unexpected += _dataset_demo(stack, root)
        _budget_lines(stack, config)
        _relay_lines(stack, config)
        tampered = _seal_and_verify(config)
        print("stopping the stack.")
        return 1 if unfinished or tampered or unexpected else 0
