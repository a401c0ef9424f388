"""``sovgw access review``: read what the review needs (Secrets Manager, one login per
credential, Salesforce as the monitor user, the audit trail), judge it, and keep the result
signed in the jurisdiction's audit bucket."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from sovgw import audit_tools
from sovgw.adapters.aws.audit import audit_stream
from sovgw.adapters.aws.errors import error_code
from sovgw.adapters.aws.secrets import read_secret_version
from sovgw.adapters.salesforce.oauth import (
    CredentialRefused,
    SalesforceCredentials,
    http_session,
    request_token,
    revoke_token,
)
from sovgw.adapters.salesforce.service_accounts import ServiceAccounts
from sovgw.app.bootstrap import Settings, relay_monitor_records
from sovgw.config import GatewayConfig, Jurisdiction, OrgBinding
from sovgw.domain.access_review import (
    UNUSED_AFTER,
    AccessReview,
    Credential,
    GrantSeen,
    Quarter,
    Role,
    review,
    review_digest,
)
from sovgw.domain.audit import Stage
from sovgw.domain.errors import RejectedInput
from sovgw.reports.access_review import render_csv, render_markdown


@dataclass(frozen=True)
class StoredReview:
    review: AccessReview
    files: dict[str, bytes]
    location: str | None  # the audit bucket prefix; None when not stored


def _credentials_of(binding: OrgBinding) -> list[tuple[str, Role]]:
    pool: list[tuple[str, Role]] = [
        (name, "emergency" if emergency else "integration")
        for name, emergency in binding.credential_pool_secrets
    ]
    return [*pool, (binding.relay_monitor_secret, "monitor")]


def _probe(
    secrets: Any, name: str, role: Role, login: Callable[[SalesforceCredentials], Any]
) -> Credential:
    """What the secret store says of one credential, read *before* its value (reading it
    moves LastAccessedDate), then one login with it: the user it acts as and its scopes."""
    try:
        described = secrets.describe_secret(SecretId=name)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return Credential(name, role, None)
        raise
    accessed = described.get("LastAccessedDate")
    rotated = described.get("LastRotatedDate")
    found = read_secret_version(secrets, name)
    if found is None:
        return Credential(name, role, None)
    credentials = SalesforceCredentials.model_validate(found[0])
    common: dict[str, Any] = {
        "last_accessed": accessed.date() if isinstance(accessed, datetime) else None,
        "last_rotated": rotated if isinstance(rotated, datetime) else None,
    }
    try:
        session = login(credentials)
    except CredentialRefused as refused:
        return Credential(name, role, credentials.client_id, refused=str(refused), **common)
    return Credential(
        name,
        role,
        credentials.client_id,
        user_id=session.user_id,
        scope=session.scope,
        **common,
    )


def run_access_review(
    config: GatewayConfig,
    binding: OrgBinding,
    quarter: Quarter,
    settings: Settings,
    *,
    store: bool = True,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> StoredReview:
    jurisdiction: Jurisdiction | None = config.jurisdiction(binding.jurisdiction)
    if jurisdiction is None:
        raise RejectedInput(f"org {binding.org_id} names unknown jurisdiction")
    session = boto3.session.Session(region_name=jurisdiction.region)
    secrets = session.client("secretsmanager")
    http = http_session(settings.salesforce_ca_bundle)
    started = now()

    def login(credentials: SalesforceCredentials) -> Any:
        issued = request_token(credentials, http)
        revoke_token(http, issued.instance_url, issued.access_token.get_secret_value())
        return issued

    credentials = [_probe(secrets, name, role, login) for name, role in _credentials_of(binding)]
    accounts = ServiceAccounts(
        relay_monitor_records(secrets, settings.salesforce_ca_bundle, binding)
    )
    user_ids = {c.user_id for c in credentials if c.user_id}
    audit = audit_tools.open_store(jurisdiction)
    earlier = audit.reviews(binding.org_id)
    others = {
        client_id: other.org_id
        for other in config.orgs_of(jurisdiction.id)
        if other.org_id != binding.org_id
        for newest in audit.reviews(other.org_id)[-1:]
        for client_id in newest.client_ids
    }
    result = review(
        binding.org_id,
        quarter,
        generated=started,
        credentials=credentials,
        logins=accounts.logins(user_ids, quarter.start - UNUSED_AFTER, min(started, quarter.end)),
        users=accounts.users(user_ids),
        assignments=accounts.assignments(user_ids),
        grants=_grants(audit, jurisdiction, binding.org_id, quarter),
        other_orgs_client_ids=others,
        review_days=frozenset(_day(d.generated) for d in earlier),
    )
    files = {
        "review.md": render_markdown(result).encode(),
        "review.csv": render_csv(result).encode(),
    }
    location = audit.put_review(files, review_digest(result, files)) if store else None
    return StoredReview(result, files, location)


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _grants(
    audit: Any, jurisdiction: Jurisdiction, org_id: str, quarter: Quarter
) -> list[GrantSeen]:
    """The quarter's break-glass steps of the org, from its audit stream."""
    stream = audit_stream(jurisdiction.id, org_id)
    return [
        GrantSeen(
            record.time,
            (record.purpose or "").removeprefix("break-glass:"),
            record.principal or "-",
            record.record_id,
        )
        for record in audit_tools.all_records(audit, jurisdiction, [stream])
        if record.stage is Stage.BREAK_GLASS and quarter.start <= record.time < quarter.end
    ]
