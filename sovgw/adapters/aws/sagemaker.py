"""``ChatUpstream`` over the SageMaker runtime, in each endpoint's own region."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any

from sovgw.adapters.aws.errors import aws_errors
from sovgw.config import ModelEndpoint
from sovgw.domain.errors import UpstreamUnavailable
from sovgw.ports import UpstreamReply
from sovgw.sse import sse_data

ClientFactory = Callable[[str], Any]
REFUSED = frozenset({"ValidationError", "AccessDeniedException"})


class SageMakerModels:
    """``ChatUpstream`` over the SageMaker runtime: ``InvokeEndpoint`` and
    ``InvokeEndpointWithResponseStream`` with the OpenAI chat schema (LMI/vLLM, TGI).

    Timeouts and bounded retries with jitter come from the client's botocore config.
    """

    def __init__(self, runtime_client_for_region: ClientFactory) -> None:
        self._client_for = runtime_client_for_region

    def complete(self, endpoint: ModelEndpoint, body: Mapping[str, Any]) -> UpstreamReply:
        with _model_errors(endpoint):
            response = self._client_for(endpoint.region).invoke_endpoint(
                EndpointName=endpoint.name,
                ContentType="application/json",
                Accept="application/json",
                Body=json.dumps(body).encode(),
            )
            raw = response["Body"].read()
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            raise UpstreamUnavailable(f"model endpoint {endpoint.ref} sent invalid JSON") from None
        return UpstreamReply(
            body=parsed, aws_request_id=response["ResponseMetadata"].get("RequestId")
        )

    def open_stream(
        self, endpoint: ModelEndpoint, body: Mapping[str, Any]
    ) -> Iterator[dict[str, Any]]:
        with _model_errors(endpoint):
            response = self._client_for(endpoint.region).invoke_endpoint_with_response_stream(
                EndpointName=endpoint.name,
                ContentType="application/json",
                Body=json.dumps({**body, "stream": True}).encode(),
            )
        return sse_data(_payload_parts(endpoint, response["Body"]))


def _payload_parts(endpoint: ModelEndpoint, events: Iterable[Mapping[str, Any]]) -> Iterator[bytes]:
    """The bytes of each ``PayloadPart``; a stream error ends the stream with an error."""
    with _model_errors(endpoint):
        for event in events:
            if "PayloadPart" in event:
                yield event["PayloadPart"]["Bytes"]
            else:
                kind = next(iter(event), "unknown")
                raise UpstreamUnavailable(f"model endpoint {endpoint.ref} stream failed: {kind}")


def _model_errors(endpoint: ModelEndpoint) -> AbstractContextManager[None]:
    """Refused requests are final (a retry elsewhere would be refused too); the rest may heal."""
    return aws_errors(f"model endpoint {endpoint.ref}", refused=REFUSED, absent=frozenset())
