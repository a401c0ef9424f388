"""Seal pseudonymisation mappings with the jurisdiction's KMS key (envelope encryption).

A fresh data key per mapping (``GenerateDataKey``) encrypts it with AES-GCM; the encryption
context (event, org, jurisdiction, expiry) is bound both in KMS and as AES-GCM associated
data, so a sealed mapping cannot be opened for another request or after it expires.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sovgw.domain.errors import RejectedInput, UpstreamUnavailable

FORMAT = "sovgw-sealed-mapping/1"


class MappingExpired(RejectedInput):
    """The mapping's time to live has passed; the values can no longer be restored."""


class KmsMappingVault:
    def __init__(
        self,
        kms_client: Any,
        key_id: str,
        ttl: timedelta = timedelta(hours=1),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._kms = kms_client
        self._key_id = key_id
        self._ttl = ttl
        self._clock = clock

    def seal(self, mapping: Mapping[str, str], context: Mapping[str, str]) -> str:
        expires = (self._clock() + self._ttl).isoformat()
        full_context = {**context, "expires": expires}
        try:
            key = self._kms.generate_data_key(
                KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=full_context
            )
        except (ClientError, BotoCoreError) as error:
            raise UpstreamUnavailable(
                f"KMS unavailable for sealing: {type(error).__name__}"
            ) from None
        nonce = os.urandom(12)
        aad = json.dumps(full_context, sort_keys=True).encode()
        ciphertext = AESGCM(key["Plaintext"]).encrypt(
            nonce, json.dumps(dict(mapping)).encode(), aad
        )
        blob = {
            "format": FORMAT,
            "expires": expires,
            "key": base64.b64encode(key["CiphertextBlob"]).decode(),
            "nonce": base64.b64encode(nonce).decode(),
            "ciphertext": base64.b64encode(ciphertext).decode(),
        }
        return base64.b64encode(json.dumps(blob).encode()).decode()

    def open(self, sealed: str, context: Mapping[str, str]) -> dict[str, str]:
        try:
            blob = json.loads(base64.b64decode(sealed))
            expires = str(blob["expires"])
        except (ValueError, KeyError, TypeError):
            raise RejectedInput("sealed mapping is malformed") from None
        if blob.get("format") != FORMAT:
            raise RejectedInput("sealed mapping has an unknown format")
        if datetime.fromisoformat(expires) <= self._clock():
            raise MappingExpired(f"pseudonymisation mapping expired at {expires}")
        full_context = {**context, "expires": expires}
        try:
            key = self._kms.decrypt(
                CiphertextBlob=base64.b64decode(blob["key"]), EncryptionContext=full_context
            )["Plaintext"]
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code"))
            if code in {"InvalidCiphertextException", "AccessDeniedException"}:
                raise RejectedInput(f"mapping cannot be opened here: {code}") from None
            raise UpstreamUnavailable(f"KMS unavailable for opening: {code}") from None
        except BotoCoreError as error:
            raise UpstreamUnavailable(f"KMS unreachable: {type(error).__name__}") from None
        aad = json.dumps(full_context, sort_keys=True).encode()
        try:
            plain = AESGCM(key).decrypt(
                base64.b64decode(blob["nonce"]), base64.b64decode(blob["ciphertext"]), aad
            )
        except InvalidTag:
            raise RejectedInput("sealed mapping was altered") from None
        mapping: dict[str, str] = json.loads(plain)
        return mapping
