"""simple-salesforce and raw OAuth calls against the simulator over real HTTPS."""

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from sovgw.contracts import AIRequestEvent
from sovgw.sfsim.http_api import relay_envelope
from sovgw.sfsim.ids import make_id
from sovgw.sfsim.state import ConnectedApp, RelayChannel
from tests.conftest import ORG_A, ORG_B, SECRET, SeededSimulator


def _content(error: Exception) -> Any:
    return getattr(error, "content", None)


def _code(error: Exception) -> str:
    return str(_content(error)[0]["errorCode"])


def _token(sf: SeededSimulator, **form: str) -> Any:
    return sf.http().post(sf.server.token_url, data=form, timeout=5)


def _client(sf: SeededSimulator, org_id: str = ORG_A) -> Any:
    body = _token(
        sf,
        grant_type="client_credentials",
        client_id=sf.credentials(org_id).client_id,
        client_secret=SECRET,
    ).json()
    return Salesforce(
        instance_url=body["instance_url"],
        session_id=body["access_token"],
        session=sf.http(),
        version="62.0",
    )


def test_crud_query_and_limit_header(salesforce: SeededSimulator) -> None:
    client = _client(salesforce)
    case_id = salesforce.cases[ORG_A]
    assert client.Case.get(case_id, params={"fields": "Subject"})["Subject"] == "Case of Org A"
    created = client.Case.create({"Subject": "New", "Priority": "Low"})
    assert created["success"] and created["id"].startswith("500")
    assert client.Case.update(created["id"], {"Status": "Closed"}) == 204
    rows = client.query("SELECT Id, Status FROM Case WHERE Status = 'Closed'")["records"]
    assert [r["Id"] for r in rows] == [created["id"]]
    limits = client.restful("limits/")
    assert limits["DailyApiRequests"]["Max"] == 1000
    response = salesforce.http().get(
        f"{salesforce.server.url}/services/data/v62.0/limits/",
        headers={"Authorization": f"Bearer {client.session_id}"},
        timeout=5,
    )
    used = int(response.headers["Sforce-Limit-Info"].removeprefix("api-usage=").split("/")[0])
    assert response.json()["DailyApiRequests"]["Remaining"] == 1000 - used
    assert client.Case.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        client.Case.get(created["id"])


def test_schema_errors_use_salesforce_codes(salesforce: SeededSimulator) -> None:
    client = _client(salesforce)
    with pytest.raises(SalesforceMalformedRequest) as raised:
        client.Case.create({"Nope__c": 1})
    assert _code(raised.value) == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as raised:
        client.query("SELECT Id FROM Case WHERE")
    assert _code(raised.value) == "MALFORMED_QUERY"
    with pytest.raises(SalesforceMalformedRequest) as raised:
        client.PermissionSetAssignment.create(
            {
                "AssigneeId": salesforce.users[ORG_A],
                "PermissionSetId": make_id("0PS", "5E", 1),
                "ExpirationDate": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
            }
        )
    assert _code(raised.value) == "FIELD_INTEGRITY_EXCEPTION"


def test_daily_limit_returns_403_request_limit_exceeded(salesforce: SeededSimulator) -> None:
    salesforce.orgs[ORG_A].daily_api_limit = 3
    client = _client(salesforce)
    for _ in range(3):
        client.query("SELECT Id FROM Case")
    with pytest.raises(SalesforceRefusedRequest) as raised:
        client.query("SELECT Id FROM Case")
    assert _content(raised.value) == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    salesforce.sim.advance(24 * 3600 + 1)
    with pytest.raises(SalesforceExpiredSession):
        client.query("SELECT Id FROM Case")
    assert _client(salesforce).query("SELECT Id FROM Case")["totalSize"] == 1


def test_expired_and_revoked_sessions_get_invalid_session_id(salesforce: SeededSimulator) -> None:
    client = _client(salesforce)
    salesforce.sim.expire_sessions(salesforce.orgs[ORG_A])
    with pytest.raises(SalesforceExpiredSession):
        client.query("SELECT Id FROM Case")
    fresh = _client(salesforce)
    assert (
        salesforce.http()
        .post(
            f"{salesforce.server.url}/services/oauth2/revoke",
            data={"token": fresh.session_id},
            timeout=5,
        )
        .status_code
        == 200
    )
    with pytest.raises(SalesforceExpiredSession):
        fresh.query("SELECT Id FROM Case")
    again = salesforce.http().post(
        f"{salesforce.server.url}/services/oauth2/revoke",
        data={"token": fresh.session_id},
        timeout=5,
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_token"


def test_tenants_are_isolated(salesforce: SeededSimulator) -> None:
    client_a = _client(salesforce, ORG_A)
    with pytest.raises(SalesforceResourceNotFound):
        client_a.Case.get(salesforce.cases[ORG_B])
    ids = {r["Id"] for r in client_a.query("SELECT Id FROM Case")["records"]}
    assert ids == {salesforce.cases[ORG_A]}


def test_failed_logins_lock_the_user_even_for_the_right_password(
    salesforce: SeededSimulator,
) -> None:
    form = {
        "grant_type": "password",
        "client_id": "client-A",
        "client_secret": SECRET,
        "username": "int@A.example",
    }
    for _ in range(3):
        bad = _token(salesforce, **form, password="wrong")
        assert bad.json() == {
            "error": "invalid_grant",
            "error_description": "authentication failure",
        }
    assert _token(salesforce, **form, password="correct horse").status_code == 400
    history = salesforce.sim.rest.query(
        salesforce.orgs[ORG_A], "SELECT Status FROM LoginHistory", "62.0"
    )
    assert [r["Status"] for r in history["records"]] == ["Invalid Password"] * 3 + [
        "Password Lockout"
    ]
    salesforce.sim.advance(15 * 60 + 1)
    assert _token(salesforce, **form, password="correct horse").status_code == 200


def test_bad_client_and_grant_errors(salesforce: SeededSimulator) -> None:
    assert (
        _token(
            salesforce, grant_type="client_credentials", client_id="client-A", client_secret="nope"
        ).json()["error"]
        == "invalid_client"
    )
    assert _token(salesforce, grant_type="magic").json()["error"] == "unsupported_grant_type"


def test_login_rate_limit(salesforce: SeededSimulator) -> None:
    salesforce.orgs[ORG_A].logins_per_user_per_hour = 2
    form = {"grant_type": "client_credentials", "client_id": "client-A", "client_secret": SECRET}
    assert [_token(salesforce, **form).status_code for _ in range(3)] == [200, 200, 400]
    assert "LOGIN_RATE_EXCEEDED" in _token(salesforce, **form).json()["error_description"]


def test_refresh_token_rotation_and_revocation_cascade(salesforce: SeededSimulator) -> None:
    org = salesforce.orgs[ORG_A]
    salesforce.sim.add_app(org, ConnectedApp("web-app", SECRET, rotate_refresh_tokens=True))
    first = salesforce.sim.oauth.issue_refresh_token(org, salesforce.users[ORG_A], "web-app")
    form = {"grant_type": "refresh_token", "client_id": "web-app", "client_secret": SECRET}
    body = _token(salesforce, **form, refresh_token=first).json()
    second = body["refresh_token"]
    assert second != first
    stale = _token(salesforce, **form, refresh_token=first).json()
    assert stale == {"error": "invalid_grant", "error_description": "expired access/refresh token"}
    salesforce.http().post(
        f"{salesforce.server.url}/services/oauth2/revoke", data={"token": second}, timeout=5
    )
    client = Salesforce(
        instance_url=body["instance_url"],
        session_id=body["access_token"],
        session=salesforce.http(),
        version="62.0",
    )
    with pytest.raises(SalesforceExpiredSession):
        client.query("SELECT Id FROM Case")


def test_jwt_bearer_flow(salesforce: SeededSimulator) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    salesforce.sim.add_app(
        salesforce.orgs[ORG_A], ConnectedApp("jwt-app", "unused", jwt_public_key_pem=public)
    )
    now = datetime.now(UTC)

    def assertion(audience: str, expires: datetime) -> str:
        return jwt.encode(
            {"iss": "jwt-app", "sub": "int@A.example", "aud": audience, "exp": expires},
            key,
            algorithm="RS256",
        )

    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    ok = _token(
        salesforce,
        grant_type=grant,
        assertion=assertion("https://login.salesforce.com", now + timedelta(minutes=2)),
    )
    assert ok.status_code == 200 and "refresh_token" not in ok.json()
    wrong_audience = _token(
        salesforce,
        grant_type=grant,
        assertion=assertion("https://evil.example", now + timedelta(minutes=2)),
    )
    assert wrong_audience.json()["error_description"] == "audience is invalid"
    expired = _token(
        salesforce,
        grant_type=grant,
        assertion=assertion("https://login.salesforce.com", now - timedelta(minutes=1)),
    )
    assert expired.json()["error"] == "invalid_grant"


def test_platform_event_is_relayed_in_the_event_relay_envelope(salesforce: SeededSimulator) -> None:
    sent: list[dict[str, Any]] = []
    sim = salesforce.sim
    org = salesforce.orgs[ORG_A]
    sim.relay.sender = lambda o, relay, event: sent.append(relay_envelope(o, relay, event))
    sim.relay.configure_relay(
        org, RelayChannel("0YL5E0000000001WAA", "sovgw-eu-de", "eu-central-1")
    )
    client = _client(salesforce)
    client.AI_Request__e.create(
        {
            "Record_Id__c": salesforce.cases[ORG_A],
            "Purpose__c": "summarise_case",
            "Requested_By__c": salesforce.users[ORG_A],
        }
    )
    sim.relay.relay_once()
    (entry,) = sent
    assert entry["Source"] == f"aws.partner/salesforce.com/{ORG_A}/0YL5E0000000001WAA"
    assert entry["DetailType"] == "AI_Request__e"
    envelope = {
        "version": "0",
        "id": "x",
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": "111122223333",
        "time": entry["Time"].isoformat(),
        "region": "eu-central-1",
        "resources": [],
        "detail": __import__("json").loads(entry["Detail"]),
    }
    parsed = AIRequestEvent.model_validate(envelope)
    assert parsed.detail.payload.CreatedById == salesforce.users[ORG_A]
    feedback = sim.rest.query(
        org, "SELECT Status, LastRelayedEventTime FROM EventRelayFeedback", "62.0"
    )
    assert feedback["records"][0]["Status"] == "RUN"


def test_relay_failure_goes_to_error_and_recovers(salesforce: SeededSimulator) -> None:
    sim, org = salesforce.sim, salesforce.orgs[ORG_A]
    delivered: list[str] = []

    def flaky(o: Any, relay: Any, event: Any) -> None:
        if not delivered and relay.status == "RUN" and len(sim.relay.pending_work()) == 1:
            delivered.append("failed-once")
            raise ConnectionError("bus unreachable")
        delivered.append(event.event_uuid)

    sim.relay.sender = flaky
    sim.relay.configure_relay(org, RelayChannel("0YL5E0000000001WAA", "bus", "eu-central-1"))
    client = _client(salesforce)
    fields = {
        "Record_Id__c": salesforce.cases[ORG_A],
        "Purpose__c": "p",
        "Requested_By__c": salesforce.users[ORG_A],
    }
    client.AI_Request__e.create(fields)
    sim.relay.relay_once()
    assert org.relay is not None and org.relay.status == "ERROR"
    client.AI_Request__e.create(fields)
    assert sim.relay.relay_once() == 0, "nothing relays while in ERROR"
    sim.relay.set_relay_state(org, "RUN", recovery="EARLIEST")
    assert sim.relay.relay_once() == 2
    assert len(set(delivered[1:])) == 2


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("PUT", "/services/data/v62.0/limits/", 405, "METHOD_NOT_ALLOWED"),
        ("DELETE", "/services/data/v62.0/sobjects/Case/", 405, "METHOD_NOT_ALLOWED"),
        ("GET", "/services/data/v62.0/nowhere", 404, "NOT_FOUND"),
        ("GET", "/services/data/v66.0/limits/", 404, "NOT_FOUND"),
        ("POST", "/services/data/v64.0/apps/oauth/credentials/x/staged", 404, "NOT_FOUND"),
    ],
)
def test_routes_answer_405_for_a_known_path_and_404_otherwise(
    salesforce: SeededSimulator, method: str, path: str, status: int, code: str
) -> None:
    """Staged credentials exist from v65.0 only; an unknown version is not found either."""
    client = _client(salesforce)
    response = salesforce.http().request(
        method,
        f"{salesforce.server.url}{path}",
        headers={"Authorization": f"Bearer {client.session_id}"},
        timeout=5,
    )
    assert (response.status_code, response.json()[0]["errorCode"]) == (status, code)
