"""``IncidentStore`` in the jurisdiction's audit bucket: one object per incident event under
``incidents/<incident id>/<sequence>.json``, written with ``If-None-Match: *`` into the Object
Lock bucket, so an event is never overwritten and two operators cannot both take a number."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from sovgw.adapters.aws.errors import error_code
from sovgw.domain.incidents import IncidentEvent
from sovgw.ports import IncidentEventExists

PREFIX = "incidents/"


class S3IncidentStore:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def write(self, event: IncidentEvent) -> None:
        key = f"{PREFIX}{event.incident_id}/{event.sequence:06d}.json"
        try:
            self._s3.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=event.model_dump_json().encode(),
                ContentType="application/json",
                IfNoneMatch="*",
            )
        except ClientError as error:
            if error_code(error) in {"PreconditionFailed", "ConditionalRequestConflict"}:
                raise IncidentEventExists(key) from None
            raise

    def events(self, incident_id: str) -> list[IncidentEvent]:
        events = []
        for key in self._keys(f"{PREFIX}{incident_id}/"):
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
            events.append(IncidentEvent.model_validate_json(body))
        return events

    def incident_ids(self) -> list[str]:
        paginator = self._s3.get_paginator("list_objects_v2")
        ids = []
        for page in paginator.paginate(Bucket=self._bucket, Prefix=PREFIX, Delimiter="/"):
            ids += [p["Prefix"][len(PREFIX) : -1] for p in page.get("CommonPrefixes", [])]
        return sorted(ids)

    def _keys(self, prefix: str) -> list[str]:
        paginator = self._s3.get_paginator("list_objects_v2")
        return sorted(
            item["Key"]
            for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        )
