"""An org's leak canaries in Secrets Manager, sealed with the jurisdiction's KMS key: the
values are as secret as the records they guard (whoever reads them can avoid them)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from sovgw.adapters.aws.errors import error_code
from sovgw.adapters.aws.secrets import put_secret
from sovgw.config import Jurisdiction
from sovgw.domain.canaries import CanarySet


def canary_secret(jurisdiction: Jurisdiction, org_id: str) -> str:
    return f"sovgw/{jurisdiction.id}/canaries/{org_id}"


def store_canaries(secrets: Any, jurisdiction: Jurisdiction, planted: CanarySet) -> None:
    """Keep the org's set; a new planting replaces the old one (its record stays planted)."""
    put_secret(
        secrets,
        canary_secret(jurisdiction, planted.org_id),
        planted.model_dump_json(),
        kms_key_id=jurisdiction.kms_alias,
    )


def load_canaries(
    secrets: Any, jurisdiction: Jurisdiction, org_ids: list[str]
) -> tuple[CanarySet, ...]:
    """The planted sets of these orgs (an org with none planted has none)."""
    found = []
    for org_id in org_ids:
        try:
            value = secrets.get_secret_value(SecretId=canary_secret(jurisdiction, org_id))
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                continue
            raise
        found.append(CanarySet.model_validate_json(value["SecretString"]))
    return tuple(found)
