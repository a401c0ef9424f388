"""Secrets Manager: JSON secrets by stage, and ``SecretVersions`` for rotation."""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sovgw.adapters.aws.errors import aws_errors, error_code
from sovgw.domain.errors import RejectedInput, UpstreamUnavailable
from sovgw.domain.rotation import SecretState


def read_secret_version(
    secrets_client: Any, secret_id: str, stage: str = "AWSCURRENT"
) -> tuple[dict[str, Any], str] | None:
    """A JSON secret's value at ``stage`` and its version id; None when it does not exist."""
    try:
        found = secrets_client.get_secret_value(SecretId=secret_id, VersionStage=stage)
    except ClientError as error:
        code = error_code(error)
        if code == "ResourceNotFoundException":
            return None
        raise UpstreamUnavailable(f"secrets store failed: {code}") from None
    except BotoCoreError as error:
        raise UpstreamUnavailable(f"secrets store unreachable: {type(error).__name__}") from None
    value: dict[str, Any] = json.loads(found["SecretString"])
    return value, str(found["VersionId"])


def put_secret(client: Any, name: str, value: str, kms_key_id: str | None = None) -> None:
    """Create the secret, or give an existing one this value as its new current version."""
    extra = {"KmsKeyId": kms_key_id} if kms_key_id else {}
    try:
        client.create_secret(Name=name, SecretString=value, **extra)
    except ClientError as error:
        if error_code(error) != "ResourceExistsException":
            raise
        client.put_secret_value(SecretId=name, SecretString=value)


def read_json_secret(secrets_client: Any, secret_id: str) -> dict[str, Any]:
    """The AWSCURRENT version of a JSON secret."""
    try:
        value = secrets_client.get_secret_value(SecretId=secret_id)["SecretString"]
    except ClientError as error:
        code = error_code(error)
        if code == "ResourceNotFoundException":
            raise RejectedInput(f"secret {secret_id} does not exist") from None
        raise UpstreamUnavailable(f"secrets store failed: {code}") from None
    parsed: dict[str, Any] = json.loads(value)
    return parsed


class SecretsManagerVersions:
    """``SecretVersions`` over Secrets Manager (version stages, pending values, promotion)."""

    def __init__(self, secrets_client: Any) -> None:
        self._secrets = secrets_client

    def describe(self, secret_id: str) -> SecretState:
        with _secret_errors():
            found = self._secrets.describe_secret(SecretId=secret_id)
        return SecretState(
            name=found["Name"],
            rotation_enabled=bool(found.get("RotationEnabled")),
            versions={k: tuple(v) for k, v in found.get("VersionIdsToStages", {}).items()},
        )

    def value(self, secret_id: str, version_id: str) -> dict[str, Any] | None:
        try:
            found = self._secrets.get_secret_value(SecretId=secret_id, VersionId=version_id)
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return None
            raise UpstreamUnavailable(f"secrets store failed: {error_code(error)}") from None
        parsed: dict[str, Any] = json.loads(found["SecretString"])
        return parsed

    def put_pending(self, secret_id: str, token: str, value: Mapping[str, Any]) -> None:
        with _secret_errors():
            self._secrets.put_secret_value(
                SecretId=secret_id,
                ClientRequestToken=token,
                SecretString=json.dumps(value),
                VersionStages=["AWSPENDING"],
            )

    def promote(self, secret_id: str, token: str, from_version: str) -> None:
        with _secret_errors():
            self._secrets.update_secret_version_stage(
                SecretId=secret_id,
                VersionStage="AWSCURRENT",
                MoveToVersionId=token,
                RemoveFromVersionId=from_version,
            )


def _secret_errors() -> AbstractContextManager[None]:
    return aws_errors(
        "secrets store",
        refused=frozenset({"ResourceNotFoundException", "InvalidRequestException"}),
        absent=frozenset(),
    )
