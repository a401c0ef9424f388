"""The simulator's schema comes from the SFDX project (``salesforce/force-app``), and it
enforces what that metadata says: unknown fields, field-level security of the integration
permission set, event field lengths, required fields, restricted picklists, custom metadata
access. The functions' Salesforce adapters, run as the minimum-access integration user, touch
no field the permission set lacks; and without any one of its grants, the call that needs it
fails (so the check can fail)."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceError

from sovgw.adapters.salesforce.break_glass import SalesforceBreakGlass
from sovgw.adapters.salesforce.oauth import SalesforceCredentials
from sovgw.adapters.salesforce.records import SalesforceRecords
from sovgw.domain.errors import RejectedInput
from sovgw.domain.minimise import PURPOSES
from sovgw.domain.write_back import AIResult, GrantRecord, GrantRecordStatus, ResultStatus
from sovgw.sfsim.http_api import SalesforceSimulatorServer
from sovgw.sfsim.metadata import NS, load_project
from sovgw.sfsim.model import MINIMUM_ACCESS_PROFILE
from sovgw.sfsim.state import ConnectedApp, Simulator
from tests.conftest import ROOT

FORCE_APP = ROOT / "salesforce" / "force-app"
PERMISSION_SET = (
    FORCE_APP / "main" / "default" / "permissionsets" / "Sovgw_Integration.permissionset-meta.xml"
)
ORG = "00D5E0000000001UAA"
SECRET = "integration-secret-0123456789"


class IntegrationOrg:
    """A simulator serving ``project``, one org it was deployed to, and the integration user
    as Salesforce recommends it: minimum-access profile plus ``Sovgw_Integration``."""

    def __init__(self, project: Path, state_dir: Path) -> None:
        self.server = SalesforceSimulatorServer(
            Simulator(project=load_project(project)), state_dir=state_dir
        ).start()
        sim = self.server.sim
        self.org = sim.add_org(ORG, "Contoso Legal")
        sim.deploy_project(self.org)
        self.user = sim.add_user(
            self.org, "int@contoso.example", "int@contoso.example", "Integration",
            profile=MINIMUM_ACCESS_PROFILE,
        )  # fmt: skip
        sim.assign_permission_set(self.org, self.user, "Sovgw_Integration")
        self.approver = sim.add_user(self.org, "gc@contoso.example", "gc@contoso.example", "GC")
        sim.add_app(self.org, ConnectedApp("integration", SECRET, run_as_user_id=self.user))
        self.case = sim.insert(
            self.org,
            "Case",
            {"Subject": "Dismissal", "Description": "x", "Status": "New", "Priority": "High"},
        )
        self.contract = sim.insert(
            self.org, "Contract", {"Description": "NDA", "SpecialTerms": "24 months"}
        )

    def records(self) -> SalesforceRecords:
        credentials = SalesforceCredentials(
            token_url=self.server.token_url, client_id="integration", client_secret=SECRET
        )
        return SalesforceRecords(credentials, ca_bundle=str(self.server.ca_bundle))

    def client(self) -> Any:
        """simple-salesforce, logged in as the integration user (client credentials)."""
        records = self.records()
        return records.call(lambda sf: sf)

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def integration_org(tmp_path: Path) -> Iterator[IntegrationOrg]:
    org = IntegrationOrg(FORCE_APP, tmp_path / "sfsim")
    try:
        yield org
    finally:
        org.stop()


def _error_code(call: Callable[[], object]) -> str:
    with pytest.raises(SalesforceError) as raised:
        call()
    content = raised.value.content
    assert isinstance(content, list)
    return str(content[0]["errorCode"])


def exercise_the_functions(org: IntegrationOrg) -> None:
    """Every Salesforce read and write the functions make, with every field they name."""
    records = org.records()
    for sobject, record_id in (("Case", org.case), ("Contract", org.contract)):
        records.field_levels(sobject)
        fields = sorted({f for spec in PURPOSES.values() for f in spec.fields.get(sobject, ())})
        assert set(records.get_record(sobject, record_id, fields)) == set(fields)
    result = AIResult(
        related_record=org.case,
        request_event_id="evt-1",
        purpose="summarise_case",
        data_level="INTERNAL",
        policy_rule="eu-de/internal",
        status=ResultStatus.COMPLETED,
        model_endpoint="sovgw-eu-de-llm",
        model_region="eu-central-1",
        result="summary",
    )
    records.upsert_result("evt-1", result)
    records.upsert_result("evt-1", result)  # the update path of the upsert
    assert records.find_result("evt-1")
    break_glass = SalesforceBreakGlass(records)
    assert break_glass.user_exists(org.approver)
    permission_set = break_glass.permission_set_id("Break_Glass_Case_Read")
    assert permission_set
    assignment = break_glass.assign(org.approver, permission_set, 4_102_444_800_000)
    assert break_glass.holds_permission_set(org.approver, "Break_Glass_Case_Read", 0)
    break_glass.unassign(assignment)
    break_glass.upsert_grant_record(
        "bg-1",
        GrantRecord(
            status=GrantRecordStatus.GRANTED,
            target_user=org.approver,
            approver=org.approver,
            case_reference="LEGAL-1",
            scope="Case:Read",
            expires_at_ms=4_102_444_800_000,
            status_reason="approved",
        ),
    )


def test_the_schema_is_the_projects_metadata(tmp_path: Path) -> None:
    """A field added to the source exists in the simulator; one removed does not."""
    project = tmp_path / "force-app"
    shutil.copytree(FORCE_APP, project)
    fields = project / "main" / "default" / "objects" / "AI_Result__c" / "fields"
    added = (fields / "Model_Region__c.field-meta.xml").read_text(encoding="utf-8")
    (fields / "Reviewer__c.field-meta.xml").write_text(
        added.replace("Model_Region__c", "Reviewer__c"), encoding="utf-8"
    )
    (fields / "Result__c.field-meta.xml").unlink()
    types = Simulator(project=load_project(project)).types
    assert "reviewer__c" in types["ai_result__c"].fields
    assert "result__c" not in types["ai_result__c"].fields
    served = Simulator().types
    for folder in (FORCE_APP / "main" / "default" / "objects").iterdir():
        declared = {p.name.removesuffix(".field-meta.xml") for p in folder.glob("fields/*.xml")}
        assert declared <= {spec.name for spec in served[folder.name.lower()].fields.values()}


def test_the_functions_touch_no_field_the_permission_set_lacks(
    integration_org: IntegrationOrg,
) -> None:
    exercise_the_functions(integration_org)


def _grants(root: ET.Element) -> list[tuple[str, str]]:
    grants = [
        ("fieldPermissions", g.findtext("md:field", namespaces=NS) or "")
        for g in root.findall("md:fieldPermissions", NS)
    ]
    grants += [
        ("customMetadataTypeAccesses", g.findtext("md:name", namespaces=NS) or "")
        for g in root.findall("md:customMetadataTypeAccesses", NS)
    ]
    return grants


GRANTS = _grants(ET.parse(PERMISSION_SET).getroot())  # noqa: S314 (the repository's own XML)


@pytest.mark.parametrize(("kind", "name"), GRANTS, ids=[name for _, name in GRANTS])
def test_without_any_one_grant_a_function_call_fails(kind: str, name: str, tmp_path: Path) -> None:
    """Each grant of the integration permission set is needed: without it, the simulator
    refuses the call that uses it. (So the least privilege is also enough privilege.)"""
    project = tmp_path / "force-app"
    shutil.copytree(FORCE_APP, project)
    target = project / PERMISSION_SET.relative_to(FORCE_APP)
    ET.register_namespace("", NS["md"])
    tree = ET.parse(target)  # noqa: S314
    root = tree.getroot()
    key = "md:field" if kind == "fieldPermissions" else "md:name"
    [grant] = [g for g in root.findall(f"md:{kind}", NS) if g.findtext(key, namespaces=NS) == name]
    root.remove(grant)
    tree.write(target, xml_declaration=True, encoding="UTF-8")
    org = IntegrationOrg(project, tmp_path / "sfsim")
    try:
        with pytest.raises(RejectedInput, match=r"INVALID_FIELD|INVALID_TYPE"):
            exercise_the_functions(org)
    finally:
        org.stop()


def test_the_metadata_is_enforced_over_http(integration_org: IntegrationOrg) -> None:
    sf = integration_org.client()
    case = integration_org.case
    assert sf.Case.get(case)["Subject"] == "Dismissal"
    assert "SuppliedEmail" not in sf.Case.get(case), "fields without FLS are not returned"
    assert _error_code(lambda: sf.query("SELECT SuppliedEmail FROM Case")) == "INVALID_FIELD"
    assert _error_code(lambda: sf.query("SELECT Id FROM Case WHERE OwnerId = null")) == (
        "INVALID_FIELD"
    )
    assert _error_code(lambda: sf.query("SELECT Nope__c FROM Case")) == "INVALID_FIELD"
    for write in (
        lambda: sf.Case.update(case, {"Subject": "x"}),
        lambda: sf.Case.create({"Subject": "x"}),
        lambda: sf.Case.delete(case),
    ):
        assert _error_code(write) == "INSUFFICIENT_ACCESS_OR_READONLY", "read-only on Case"
    assert _error_code(lambda: sf.AI_Result__c.create({"Bogus__c": "x"})) == "INVALID_FIELD"
    base = {"Related_Record__c": case, "Request_Event_Id__c": "e-9"}
    assert _error_code(lambda: sf.AI_Result__c.create({**base, "Status__c": "Maybe"})) == (
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    )
    assert _error_code(lambda: sf.AI_Result__c.create(base)) == "REQUIRED_FIELD_MISSING"
    event = {"Record_Id__c": case, "Purpose__c": "summarise_case", "Requested_By__c": case}
    assert sf.AI_Request__e.create(event)["success"]
    assert _error_code(lambda: sf.AI_Request__e.create({**event, "Record_Id__c": "5" * 19})) == (
        "STRING_TOO_LONG"
    )
    assert (
        _error_code(
            lambda: sf.AI_Request__e.create({k: v for k, v in event.items() if k != "Purpose__c"})
        )
        == "REQUIRED_FIELD_MISSING"
    )
    levels = sf.query("SELECT Field__c, Level__c FROM Data_Classification__mdt")
    assert levels["totalSize"] == 7, "the project's classification records are deployed"
    assert (
        _error_code(
            lambda: sf.Data_Classification__mdt.create({"DeveloperName": "X", "Level__c": "PUBLIC"})
        )
        == "INVALID_TYPE_FOR_OPERATION"
    )
