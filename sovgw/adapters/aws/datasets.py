"""The dataset bucket (``DatasetObjects`` over S3, SSE-KMS with the jurisdiction's key) and
the per-dataset pseudonymisation key in Secrets Manager."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from sovgw.adapters.aws.errors import ResourceAbsent, aws_errors
from sovgw.domain.errors import UpstreamUnavailable

_NO_OBJECT = frozenset({"NoSuchKey", "404"})


class S3DatasetObjects:
    """``DatasetObjects``: every object written SSE-KMS with the jurisdiction's key (the
    bucket's default too; named here so a bucket without one cannot store it in the clear)."""

    def __init__(self, s3_client: Any, bucket: str, kms_key_id: str) -> None:
        self._s3 = s3_client
        self.bucket = bucket
        self._kms_key_id = kms_key_id

    def put(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        with aws_errors("S3"):
            self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                ServerSideEncryption="aws:kms",
                SSEKMSKeyId=self._kms_key_id,
            )

    def get(self, key: str) -> bytes | None:
        try:
            with aws_errors("S3", absent=_NO_OBJECT):
                body: bytes = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ResourceAbsent:
            return None
        return body

    def keys(self, prefix: str) -> list[str]:
        found: list[str] = []
        with aws_errors("S3"):
            for page in self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            ):
                found += [item["Key"] for item in page.get("Contents", [])]
        return sorted(found)

    def delete(self, keys: Sequence[str]) -> None:
        with aws_errors("S3"):
            for start in range(0, len(keys), 1000):
                self._s3.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]]},
                )


def pseudonym_key_secret(jurisdiction_id: str, dataset_id: str) -> str:
    return f"sovgw/{jurisdiction_id}/datasets/{dataset_id}/pseudonym-key"


def dataset_key_reader(secrets_client: Any, jurisdiction_id: str) -> Callable[[str, bool], bytes]:
    """(dataset, create) → the dataset's key, read once per process (keys never rotate within
    a dataset: a new key would give the same person a new token)."""

    @cache
    def read(dataset_id: str, create: bool = False) -> bytes:
        secret_id = pseudonym_key_secret(jurisdiction_id, dataset_id)
        return pseudonym_key(secrets_client, secret_id, create=create)

    return read


def pseudonym_key(secrets_client: Any, secret_id: str, *, create: bool = False) -> bytes:
    """The dataset's one-way pseudonymisation key (32 random bytes, base64 in the secret).
    ``create``: the operator's export makes it on first use; the scan only reads it."""
    try:
        with aws_errors("Secrets Manager"):
            value = secrets_client.get_secret_value(SecretId=secret_id)["SecretString"]
        return base64.b64decode(value)
    except ResourceAbsent:
        if not create:
            raise
    fresh = base64.b64encode(secrets.token_bytes(32)).decode()
    try:
        with aws_errors("Secrets Manager"):
            secrets_client.create_secret(Name=secret_id, SecretString=fresh)
    except UpstreamUnavailable as error:
        if "ResourceExistsException" not in str(error):
            raise
        return pseudonym_key(secrets_client, secret_id)  # another export created it first
    return base64.b64decode(fresh)
