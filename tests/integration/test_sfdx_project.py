"""The Salesforce half as an SFDX project (``salesforce/``): Salesforce's own converter
(npm ``@salesforce/source-deploy-retrieve``) turns it into a Metadata API package holding every
type; what the functions read and write exists there; the integration permission set is least
privilege, read from its XML."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from sovgw.adapters.salesforce import schema
from sovgw.cli import main
from sovgw.config import load_config
from sovgw.contracts import (
    AIRequestPayload,
    BreakGlassApprovalPayload,
    BreakGlassRequestPayload,
    HeartbeatPayload,
)
from sovgw.domain.break_glass import APPROVER_PERMISSION_SET
from sovgw.domain.datasets import load_dataset
from sovgw.domain.minimise import PURPOSES
from tests.conftest import ROOT

PROJECT = ROOT / "salesforce"
GATEWAY = load_config(ROOT / "config" / "gateway.yaml")
SOURCE = PROJECT / "force-app" / "main" / "default"
NS = {"md": "http://soap.sforce.com/2006/04/metadata"}
# Permissions that would let the integration user see or change more than its purposes.
FORBIDDEN_USER_PERMISSIONS = {
    "ViewAllData",
    "ModifyAllData",
    "CustomizeApplication",
    "ManageUsers",
    "AuthorApex",
    "ViewSetup",
}
# Salesforce allows no field-level security on required fields and auto-numbers: they are always
# readable, so the permission set cannot (and need not) name them.
ALWAYS_READABLE = {
    "Contract.ContractNumber",
    "AI_Result__c.Request_Event_Id__c",
    "AI_Result__c.Related_Record__c",
    "AI_Result__c.Status__c",
    "Break_Glass_Grant__c.Request_Id__c",
    "Break_Glass_Grant__c.Status__c",
}
ASKED_ABOUT = ("Case", "Contract")
EVENTS = {
    "AI_Request__e": AIRequestPayload,
    "Break_Glass_Request__e": BreakGlassRequestPayload,
    "Break_Glass_Approval__e": BreakGlassApprovalPayload,
    "Sovgw_Heartbeat__e": HeartbeatPayload,
}


def converted(tmp: Path, project: Path = PROJECT) -> dict[str, set[str]]:
    """The package.xml Salesforce's converter writes for ``project``: type → members."""
    node = shutil.which("node")
    assert node, "Node.js is needed (Debian's nodejs)"
    done = subprocess.run(
        [node, str(PROJECT / "tools" / "convert.js"), str(project), str(tmp)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    package = ET.fromstring(done.stdout)  # noqa: S314 (the converter's output, not input)
    return {
        t.findtext("md:name", namespaces=NS) or "": {
            m.text or "" for m in t.findall("md:members", NS)
        }
        for t in package.findall("md:types", NS)
    }


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    return converted(tmp_path_factory.mktemp("mdapi"))


def _xml(path: Path) -> ET.Element:
    """A file of the repository's own SFDX project (trusted, not outside input)."""
    return ET.parse(path).getroot()  # noqa: S314


def _fields(sobject: str) -> dict[str, ET.Element]:
    folder = SOURCE / "objects" / sobject / "fields"
    return {
        path.name.removesuffix(".field-meta.xml"): _xml(path)
        for path in folder.glob("*.field-meta.xml")
    }


def _permission_set(name: str) -> ET.Element:
    return _xml(SOURCE / "permissionsets" / f"{name}.permissionset-meta.xml")


def least_privilege_problems(permission_set: ET.Element) -> list[str]:
    """What makes a permission set more than the integration needs."""
    problems = [
        f"user permission {name}"
        for p in permission_set.findall("md:userPermissions", NS)
        if (name := p.findtext("md:name", namespaces=NS)) in FORBIDDEN_USER_PERMISSIONS
        and p.findtext("md:enabled", namespaces=NS) == "true"
    ]
    for grant in permission_set.findall("md:objectPermissions", NS):
        for wide in ("modifyAllRecords", "viewAllRecords", "allowDelete"):
            if grant.findtext(f"md:{wide}", namespaces=NS) == "true":
                problems.append(f"{wide} on {grant.findtext('md:object', namespaces=NS)}")
    return problems


def test_salesforce_converts_the_project_with_every_type(package: dict[str, set[str]]) -> None:
    assert package["CustomObject"] == {
        *EVENTS,
        schema.AI_RESULT,
        schema.BREAK_GLASS_GRANT,
        schema.DATA_CLASSIFICATION,
    }
    assert package["CustomMetadata"] == {
        path.name.removesuffix(".md-meta.xml")
        for path in (SOURCE / "customMetadata").glob("*.md-meta.xml")
    }
    assert len(package["CustomMetadata"]) == 7
    objects = sorted({o for spec in PURPOSES.values() for o in spec.fields})
    assert package["PermissionSet"] == {
        "Sovgw_Integration",
        "Sovgw_AI_Requester",
        "Sovgw_Relay_Monitor",
        "Sovgw_Dataset_Export",
        APPROVER_PERMISSION_SET,
        *(f"Break_Glass_{o}_{a}" for o in objects for a in ("Read", "Edit")),
    }
    assert package["ConnectedApp"] == {"Sovgw_Gateway"}
    assert package["ApexClass"] == {ROW_LIMIT_CLASS, f"{ROW_LIMIT_CLASS}Test"}
    assert package["TransactionSecurityPolicy"] == {"Sovgw_Integration_Row_Limit"}
    assert package["Flow"] == {f"Sovgw_Ask_AI_{o}" for o in ASKED_ABOUT}
    assert package["QuickAction"] == {f"{o}.Sovgw_Ask_AI" for o in ASKED_ABOUT}


@pytest.mark.parametrize("sobject", ASKED_ABOUT)
def test_the_quick_action_flow_publishes_a_request_the_gateway_accepts(sobject: str) -> None:
    """Case and Contract each get a quick action running a screen flow that offers exactly the
    purposes that read that object and publishes AI_Request__e with every field its contract
    reads (the record, the purpose picked, the running user)."""
    action = _xml(SOURCE / "quickActions" / f"{sobject}.Sovgw_Ask_AI.quickAction-meta.xml")
    assert action.findtext("md:type", namespaces=NS) == "Flow"
    flow_name = action.findtext("md:flowDefinition", namespaces=NS)
    flow = _xml(SOURCE / "flows" / f"{flow_name}.flow-meta.xml")
    assert flow.findtext("md:processType", namespaces=NS) == "Flow", "a screen flow"
    assert flow.findtext("md:status", namespaces=NS) == "Active"
    offered = {
        c.findtext("md:value/md:stringValue", namespaces=NS) for c in flow.findall("md:choices", NS)
    }
    assert offered == {name for name, spec in PURPOSES.items() if sobject in spec.fields}
    [create] = flow.findall("md:recordCreates", NS)
    assert create.findtext("md:object", namespaces=NS) == "AI_Request__e"
    assigned = {
        a.findtext("md:field", namespaces=NS): a.findtext(
            "md:value/md:elementReference", namespaces=NS
        )
        for a in create.findall("md:inputAssignments", NS)
    }
    assert assigned == {
        "Record_Id__c": "recordId",
        "Purpose__c": "Purpose",
        "Requested_By__c": "$User.Id",
    }
    assert set(assigned) == {n for n in AIRequestPayload.model_fields if n.endswith("__c")}
    record_id = next(
        v
        for v in flow.findall("md:variables", NS)
        if v.findtext("md:name", namespaces=NS) == "recordId"
    )
    assert record_id.findtext("md:isInput", namespaces=NS) == "true", "the quick action passes it"
    requester = _permission_set("Sovgw_AI_Requester")
    assert flow_name in {
        f.findtext("md:flow", namespaces=NS) for f in requester.findall("md:flowAccesses", NS)
    }
    assert least_privilege_problems(requester) == []


@pytest.mark.parametrize("event", sorted(EVENTS))
def test_each_platform_event_has_exactly_the_fields_its_contract_reads(event: str) -> None:
    model: Any = EVENTS[event]
    declared = _fields(event)
    read = {name for name in model.model_fields if name.endswith("__c")}
    assert set(declared) == read
    for name, xml in declared.items():
        assert xml.findtext("md:required", namespaces=NS) == "true", f"{event}.{name}"
        limit = next(
            (m.max_length for m in model.model_fields[name].metadata if hasattr(m, "max_length")),
            None,
        )
        if limit is not None:
            assert int(xml.findtext("md:length", namespaces=NS) or 0) >= limit, f"{event}.{name}"


def test_the_objects_hold_every_field_the_functions_write() -> None:
    assert set(schema.AI_RESULT_FIELDS.values()) == set(_fields(schema.AI_RESULT))
    grant = {schema.BREAK_GLASS_GRANT_EXTERNAL_ID, *schema.BREAK_GLASS_GRANT_FIELDS.values()}
    assert grant == set(_fields(schema.BREAK_GLASS_GRANT))
    assert set(schema.DATA_CLASSIFICATION_FIELDS.values()) == set(
        _fields(schema.DATA_CLASSIFICATION)
    )
    for upsert_key, sobject in (
        (schema.AI_RESULT_EXTERNAL_ID, schema.AI_RESULT),
        (schema.BREAK_GLASS_GRANT_EXTERNAL_ID, schema.BREAK_GLASS_GRANT),
    ):
        key = _fields(sobject)[upsert_key]
        assert key.findtext("md:externalId", namespaces=NS) == "true"
        assert key.findtext("md:unique", namespaces=NS) == "true", "an upsert key is unique"


def test_every_field_a_purpose_reads_is_classified() -> None:
    """A field without a record would be PRIVILEGED (fail closed): classify each on purpose."""
    records = {
        (values["Object__c"], values["Field__c"])
        for path in (SOURCE / "customMetadata").glob("Data_Classification.*.md-meta.xml")
        for values in [
            {
                v.findtext("md:field", namespaces=NS): v.findtext("md:value", namespaces=NS)
                for v in _xml(path).findall("md:values", NS)
            }
        ]
    }
    read = {
        (o, f) for spec in PURPOSES.values() for o, fields in spec.fields.items() for f in fields
    }
    assert read <= records


def test_the_integration_permission_set_is_least_privilege() -> None:
    integration = _permission_set("Sovgw_Integration")
    assert least_privilege_problems(integration) == []
    enabled = {
        p.findtext("md:name", namespaces=NS)
        for p in integration.findall("md:userPermissions", NS)
        if p.findtext("md:enabled", namespaces=NS) == "true"
    }
    assert enabled == {"ApiEnabled"}
    readable = {
        f.findtext("md:field", namespaces=NS)
        for f in integration.findall("md:fieldPermissions", NS)
        if f.findtext("md:editable", namespaces=NS) == "false"
    }
    allow_listed = {
        f"{o}.{f}"
        for spec in PURPOSES.values()
        for o, fields in spec.fields.items()
        for f in fields
    }
    assert readable == allow_listed - ALWAYS_READABLE, "read on exactly the allow-listed fields"
    objects = {
        o.findtext("md:object", namespaces=NS): o
        for o in integration.findall("md:objectPermissions", NS)
    }
    for event in EVENTS:
        assert objects[event].findtext("md:allowCreate", namespaces=NS) == "true", "publish"
    assert objects[schema.AI_RESULT].findtext("md:allowCreate", namespaces=NS) == "true"
    for record in ("Case", "Contract"):
        assert objects[record].findtext("md:allowEdit", namespaces=NS) == "false"


def test_the_dataset_export_reads_exactly_the_datasets_fields() -> None:
    """Training exports get their own permission set (assigned only where an org exports):
    read on exactly the fields some dataset definition names, nothing editable, no user
    permission, so the integration set stays least privilege for its purposes."""
    export = _permission_set("Sovgw_Dataset_Export")
    assert least_privilege_problems(export) == []
    assert not export.findall("md:userPermissions", NS)
    permissions = export.findall("md:fieldPermissions", NS)
    assert all(f.findtext("md:editable", namespaces=NS) == "false" for f in permissions)
    readable = {f.findtext("md:field", namespaces=NS) for f in permissions}
    definitions = [
        load_dataset(ROOT / "config/datasets", path.stem)
        for path in (ROOT / "config/datasets").glob("*.yaml")
    ]
    assert definitions
    assert readable == {f"{d.object}.{f}" for d in definitions for f in d.fields}
    for permission in export.findall("md:objectPermissions", NS):
        assert permission.findtext("md:allowEdit", namespaces=NS) == "false"


ROW_LIMIT_CLASS = "SovgwIntegrationRowLimit"
# Salesforce's REST query returns up to 2,000 rows per page: a limit below that trips on the
# first page of any sweep.
REST_QUERY_PAGE_ROWS = 2000


def test_a_stolen_integration_credential_is_stopped_in_salesforce_too() -> None:
    """The Enhanced Transaction Security policy blocks (and notifies on) an API query by the
    integration user above the row limit, outside an approved export; its limit sits above
    every query the gateway itself makes and below one REST page, and the admin who is
    notified is substituted at deploy (``SOVGW_SECURITY_ADMIN_USERNAME``)."""
    policy = _xml(
        SOURCE
        / "transactionSecurityPolicies"
        / "Sovgw_Integration_Row_Limit.transactionSecurityPolicy-meta.xml"
    )
    text = {e.tag.split("}")[1]: (e.text or "") for e in policy}
    assert text["active"] == "true" and text["eventName"] == "ApiEvent"
    assert text["type"] == "CustomApexPolicy" and text["apexClass"] == ROW_LIMIT_CLASS
    action = policy.find("md:action", NS)
    assert action is not None and action.findtext("md:block", namespaces=NS) == "true"
    notified = action.findtext("md:notifications/md:user", namespaces=NS)
    settings = json.loads((PROJECT / "sfdx-project.json").read_text(encoding="utf-8"))
    (replacement,) = settings["replacements"]
    assert replacement["replaceWithEnv"] == "SOVGW_SECURITY_ADMIN_USERNAME"
    assert notified == text["executionUser"] == replacement["stringToReplace"]
    assert (PROJECT / replacement["filename"]).is_file()

    apex = (SOURCE / "classes" / f"{ROW_LIMIT_CLASS}.cls").read_text(encoding="utf-8")
    limit_match = re.search(r"MAX_ROWS = (\d+);", apex)
    assert limit_match is not None
    max_rows = int(limit_match.group(1))
    limits = [
        int(n)
        for name in dir(schema)
        if name.endswith("_SOQL")
        for n in re.findall(r"LIMIT (\d+)", getattr(schema, name))
    ]
    classified = Counter(
        _xml(path).findtext("md:values[md:field='Object__c']/md:value", namespaces=NS)
        for path in (SOURCE / "customMetadata").glob("Data_Classification.*.md-meta.xml")
    )
    assert limits and max(limits) < max_rows < REST_QUERY_PAGE_ROWS
    assert max(classified.values()) < max_rows  # one object's classification, read whole
    for permission_set in re.findall(r"'(Sovgw_[A-Za-z_]+)'", apex):
        assert (SOURCE / "permissionsets" / f"{permission_set}.permissionset-meta.xml").is_file()


def test_the_relay_monitor_sees_set_up_and_nothing_else() -> None:
    """View Setup (to read the relay's configuration and feedback) lives in its own permission
    set for a separate monitor user, so the integration user never gets it."""
    monitor = _permission_set("Sovgw_Relay_Monitor")
    enabled = {
        p.findtext("md:name", namespaces=NS)
        for p in monitor.findall("md:userPermissions", NS)
        if p.findtext("md:enabled", namespaces=NS) == "true"
    }
    assert enabled == {"ApiEnabled", "ViewSetup"}
    for grant in ("objectPermissions", "fieldPermissions", "customMetadataTypeAccesses"):
        assert monitor.findall(f"md:{grant}", NS) == [], grant


def test_the_least_privilege_check_fails_on_each_wide_permission() -> None:
    for name in sorted(FORBIDDEN_USER_PERMISSIONS):
        widened = _permission_set("Sovgw_Integration")
        extra = ET.SubElement(widened, f"{{{NS['md']}}}userPermissions")
        ET.SubElement(extra, f"{{{NS['md']}}}enabled").text = "true"
        ET.SubElement(extra, f"{{{NS['md']}}}name").text = name
        assert least_privilege_problems(widened) == [f"user permission {name}"]
    widened = _permission_set("Sovgw_Integration")
    case = next(
        o
        for o in widened.findall("md:objectPermissions", NS)
        if o.findtext("md:object", namespaces=NS) == "Case"
    )
    view_all = case.find("md:viewAllRecords", NS)
    assert view_all is not None
    view_all.text = "true"
    assert least_privilege_problems(widened) == ["viewAllRecords on Case"]


def test_the_connected_app_grants_the_api_scope_only() -> None:
    app = _xml(SOURCE / "connectedApps" / "Sovgw_Gateway.connectedApp-meta.xml")
    oauth = app.find("md:oauthConfig", NS)
    assert oauth is not None
    assert [s.text for s in oauth.findall("md:scopes", NS)] == ["Api"]
    assert oauth.findtext("md:isClientCredentialEnabled", namespaces=NS) == "true"


@pytest.mark.parametrize("jurisdiction_id", ["eu-de", "eu-fr", "ch"])
def test_each_jurisdictions_relay_converts_and_joins_up(
    jurisdiction_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``sovgw salesforce relay metadata`` output, deployed beside force-app: Salesforce's
    converter takes it, and the relay names the channel, the channel carries every routed
    event, and the named credential holds the account and region as Event Relay needs them."""
    project = tmp_path / "project"
    shutil.copytree(PROJECT / "force-app", project / "force-app")
    relay = project / "relays" / jurisdiction_id
    code = main(
        [
            *("salesforce", "relay", "metadata", "--jurisdiction", jurisdiction_id),
            *("--account", "123456789012", "--out", str(relay)),
            *("--config", str(ROOT / "config" / "gateway.yaml")),
        ]
    )
    assert code == 0 and "sf project deploy start" in capsys.readouterr().out
    (project / "sfdx-project.json").write_text(
        json.dumps(
            {
                "packageDirectories": [
                    {"path": "force-app", "default": True},
                    {"path": f"relays/{jurisdiction_id}"},
                ],
                "sourceApiVersion": "62.0",
            }
        ),
        encoding="utf-8",
    )
    package = converted(tmp_path / "out", project)
    name = "Sovgw_" + jurisdiction_id.replace("-", "_")
    assert package["PlatformEventChannel"] == {f"{name}__chn"}
    assert package["EventRelayConfig"] == {name}
    assert package["NamedCredential"] == {f"{name}_AWS"}
    members = [
        _xml(path)
        for path in (relay / "main" / "default" / "platformEventChannelMembers").glob("*.xml")
    ]
    assert len(package["PlatformEventChannelMember"]) == len(members) == len(EVENTS) == 4
    assert {m.findtext("md:selectedEntity", namespaces=NS) for m in members} == set(EVENTS)
    assert {m.findtext("md:eventChannel", namespaces=NS) for m in members} == {f"{name}__chn"}
    base = relay / "main" / "default"
    config = _xml(base / "eventRelays" / f"{name}.eventRelay-meta.xml")
    assert config.findtext("md:eventChannel", namespaces=NS) == f"{name}__chn"
    assert config.findtext("md:destinationResourceName", namespaces=NS) == f"callout:{name}_AWS"
    assert config.findtext("md:relayOption", namespaces=NS) == '{"ReplayRecovery":"EARLIEST"}'
    credential = _xml(base / "namedCredentials" / f"{name}_AWS.namedCredential-meta.xml")
    region = GATEWAY.jurisdiction(jurisdiction_id).region  # type: ignore[union-attr]
    assert credential.findtext("md:endpoint", namespaces=NS) == (
        f"arn:aws:{region.upper()}:123456789012"
    )


def test_relay_metadata_needs_an_account(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    arguments = ["salesforce", "relay", "metadata", "--jurisdiction", "eu-de"]
    assert main([*arguments, "--out", str(tmp_path)]) == 2
    assert "pass --account or set aws_account_id" in capsys.readouterr().err
    assert main([*arguments, "--account", "12345", "--out", str(tmp_path)]) == 2
    assert "not a 12-digit AWS account id" in capsys.readouterr().err
    assert not any(tmp_path.iterdir()), "nothing written"


def test_the_account_comes_from_the_gateway_configuration(tmp_path: Path) -> None:
    """One jurisdiction file: its aws_account_id is the relay's account unless --account."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    gateway = tmp_path / "config" / "gateway.yaml"
    raw = yaml.safe_load(gateway.read_text(encoding="utf-8"))
    raw["jurisdictions"][0]["aws_account_id"] = "210987654321"
    gateway.write_text(yaml.safe_dump(raw), encoding="utf-8")
    jurisdiction = raw["jurisdictions"][0]["id"]
    out = tmp_path / "relay"
    arguments = ["salesforce", "relay", "metadata", "--jurisdiction", jurisdiction]
    assert main([*arguments, "--out", str(out), "--config", str(gateway)]) == 0
    (credential,) = (out / "main" / "default" / "namedCredentials").glob("*.xml")
    assert (
        _xml(credential)
        .findtext("md:endpoint", namespaces=NS, default="")
        .endswith(":210987654321")
    )
