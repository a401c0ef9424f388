"""``EventPublisher`` onto EventBridge and ``DeadLetters`` onto SQS."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sovgw.domain.errors import UpstreamUnavailable


class EventBridgePublisher:
    """``EventPublisher`` onto one event bus."""

    def __init__(self, events_client: Any, bus_name: str) -> None:
        self._events = events_client
        self._bus = bus_name

    def publish(self, source: str, detail_type: str, detail: Mapping[str, Any]) -> str:
        entry = {
            "Source": source,
            "DetailType": detail_type,
            "Detail": json.dumps(detail, default=str),
            "EventBusName": self._bus,
        }
        try:
            result = self._events.put_events(Entries=[entry])
        except (ClientError, BotoCoreError) as error:
            raise UpstreamUnavailable(f"event bus unavailable: {type(error).__name__}") from None
        first = result["Entries"][0]
        if result.get("FailedEntryCount") or "EventId" not in first:
            raise UpstreamUnavailable(f"event bus refused the event: {first.get('ErrorCode')}")
        return str(first["EventId"])


class SqsDeadLetters:
    """``DeadLetters`` onto SQS: the original event as body, the reason as attributes. Each
    function's queue is named by ``queue_name_for`` and its URL looked up once."""

    def __init__(self, sqs_client: Any, queue_name_for: Callable[[str], str]) -> None:
        self._sqs = sqs_client
        self._queue_name_for = queue_name_for
        self._urls: dict[str, str] = {}

    def _queue_url(self, function: str) -> str:
        if function not in self._urls:
            name = self._queue_name_for(function)
            self._urls[function] = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return self._urls[function]

    def send(self, function: str, event: Mapping[str, Any], reason: str, attempts: int) -> None:
        self._sqs.send_message(
            QueueUrl=self._queue_url(function),
            MessageBody=json.dumps(event, default=str),
            MessageAttributes={
                "reason": {"DataType": "String", "StringValue": reason[:1024] or "unknown"},
                "function": {"DataType": "String", "StringValue": function},
                "attempts": {"DataType": "Number", "StringValue": str(attempts)},
            },
        )
