"""OpenAI-compatible upstreams over HTTPS, and the router that picks the adapter per endpoint.

Only the body the caller built leaves: no caller headers, cookies or URL parts are forwarded,
and the upstream's API key comes from the key function (Secrets Manager in production).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import urllib3
from urllib3.exceptions import HTTPError

from model_serving.schema import ChatCompletionRequest, ChatCompletionResponse, ChatMessage
from sovgw.config import ModelEndpoint
from sovgw.domain.errors import UpstreamRefused, UpstreamThrottled, UpstreamUnavailable
from sovgw.ports import ChatUpstream, ModelReply, UpstreamReply
from sovgw.sse import MAX_EVENT_BYTES, StreamProtocolError, sse_data

# Retried once on the same endpoint, at once, then failed over. A 429 is not retried there
# (another endpoint may take the request now, and the caller is told the upstream's wait if
# none can), and no Retry-After holds a proxy thread.
_RETRIED_AT_ONCE = frozenset({500, 502, 503, 504})


MAX_RETRY_AFTER_S = 3600.0


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header (RFC 9110: delay-seconds or an HTTP-date) as seconds from now,
    between 1 s and an hour; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            return None
        seconds = (moment - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 1.0), MAX_RETRY_AFTER_S)


class OpenAICompatible:
    """``ChatUpstream`` for ``openai:<base_url>`` endpoints (``POST {base_url}/chat/completions``).

    One bounded retry with jittered backoff on connect errors and 429/5xx; the read timeout
    bounds every socket read, so a hanging upstream fails over instead of holding the caller.
    """

    def __init__(
        self,
        *,
        api_key_for: Callable[[ModelEndpoint], str | None] = lambda endpoint: None,
        base_url_for: Callable[[ModelEndpoint], str] | None = None,
        connect_timeout_s: float = 2.0,
        read_timeout_s: float = 60.0,
        ca_bundle: str | None = None,
    ) -> None:
        self._api_key_for = api_key_for
        self._base_url_for = base_url_for or (lambda endpoint: endpoint.base_url or "")
        self._pool = urllib3.PoolManager(
            maxsize=64,
            block=False,
            timeout=urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s),
            retries=urllib3.Retry(
                total=1,
                backoff_factor=0.1,
                backoff_jitter=0.1,
                status_forcelist=_RETRIED_AT_ONCE,
                allowed_methods=None,
                raise_on_status=False,
                respect_retry_after_header=False,
            ),
            ca_certs=ca_bundle,
        )

    def _post(
        self, endpoint: ModelEndpoint, body: Mapping[str, Any], *, stream: bool
    ) -> urllib3.BaseHTTPResponse:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if stream:
            headers["Accept"] = "text/event-stream"
        key = self._api_key_for(endpoint)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        url = self._base_url_for(endpoint).rstrip("/") + "/chat/completions"
        try:
            response = self._pool.request(
                "POST",
                url,
                body=json.dumps({**body, "stream": stream}).encode(),
                headers=headers,
                preload_content=not stream,
            )
        except HTTPError as error:
            raise UpstreamUnavailable(
                f"upstream {endpoint.ref} unreachable: {type(error).__name__}"
            ) from None
        if response.status == 429:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            response.drain_conn()
            raise UpstreamThrottled(f"upstream {endpoint.ref} is throttling: HTTP 429", wait)
        if response.status in _RETRIED_AT_ONCE:
            response.drain_conn()
            raise UpstreamUnavailable(f"upstream {endpoint.ref} failed: HTTP {response.status}")
        if response.status != 200:
            code, param = _error_fields(response, stream=stream)
            raise UpstreamRefused(
                f"upstream {endpoint.ref} refused the request: HTTP {response.status}"
                + (f" ({code})" if code else ""),
                response.status,
                code,
                param,
            )
        return response

    def complete(self, endpoint: ModelEndpoint, body: Mapping[str, Any]) -> UpstreamReply:
        response = self._post(endpoint, body, stream=False)
        try:
            parsed = json.loads(response.data)
        except json.JSONDecodeError:
            raise UpstreamUnavailable(f"upstream {endpoint.ref} sent invalid JSON") from None
        return UpstreamReply(body=parsed)

    def open_stream(
        self, endpoint: ModelEndpoint, body: Mapping[str, Any]
    ) -> Iterator[dict[str, Any]]:
        response = self._post(endpoint, body, stream=True)

        def chunks() -> Iterator[dict[str, Any]]:
            complete = False
            try:
                body = response.stream(8192)
                yield from sse_data(body)
                # What follows [DONE] (the chunked terminator) is read through the same
                # generator: closing it early would make urllib3 drop the connection.
                trailing = 0
                for rest in body:
                    trailing += len(rest)
                    if trailing > MAX_EVENT_BYTES:
                        raise StreamProtocolError(f"over {MAX_EVENT_BYTES} bytes after [DONE]")
                complete = True
            except (HTTPError, StreamProtocolError) as error:
                raise UpstreamUnavailable(
                    f"upstream {endpoint.ref} stream broke: {type(error).__name__}"
                ) from None
            finally:
                if not complete:
                    response.close()  # a half-read stream must never serve another request
                response.release_conn()

        return chunks()


class ModelRouter:
    """``ModelInvoker`` and ``ChatUpstream`` for every endpoint kind: SageMaker endpoints by
    name and region, OpenAI-compatible ones by base URL."""

    def __init__(
        self, sagemaker: ChatUpstream, openai: ChatUpstream | None = None, max_tokens: int = 512
    ) -> None:
        self._sagemaker = sagemaker
        self._openai = openai or OpenAICompatible()
        self._max_tokens = max_tokens

    def _for(self, endpoint: ModelEndpoint) -> ChatUpstream:
        return self._openai if endpoint.base_url else self._sagemaker

    def complete(self, endpoint: ModelEndpoint, body: Mapping[str, Any]) -> UpstreamReply:
        return self._for(endpoint).complete(endpoint, body)

    def open_stream(
        self, endpoint: ModelEndpoint, body: Mapping[str, Any]
    ) -> Iterator[dict[str, Any]]:
        return self._for(endpoint).open_stream(endpoint, body)

    def invoke(self, endpoint: ModelEndpoint, messages: Sequence[Mapping[str, str]]) -> ModelReply:
        request = ChatCompletionRequest(
            model=endpoint.name,
            messages=[ChatMessage.model_validate(m) for m in messages],
            max_tokens=self._max_tokens,
        )
        reply = self.complete(endpoint, request.model_dump(exclude_none=True))
        try:
            completion = ChatCompletionResponse.model_validate(reply.body)
        except ValueError:
            raise UpstreamUnavailable(f"{endpoint.ref} answered outside the chat schema") from None
        return ModelReply(
            text=completion.choices[0].message.text,
            endpoint=endpoint.name,
            region=endpoint.region,
            aws_request_id=reply.aws_request_id,
        )


def _error_fields(
    response: urllib3.BaseHTTPResponse, *, stream: bool
) -> tuple[str | None, str | None]:
    """The OpenAI error ``code`` and ``param`` of a refusal (a bounded read; anything else in
    the body, the message above all, is dropped)."""
    try:
        raw = response.read(65_536) if stream else response.data
        error = json.loads(raw).get("error")
    except (HTTPError, ValueError, AttributeError):
        error = None
    finally:
        response.drain_conn()
    if not isinstance(error, dict):
        return None, None
    code, param = error.get("code"), error.get("param")
    return (
        str(code)[:80] if isinstance(code, str | int) else None,
        str(param)[:80] if isinstance(param, str) else None,
    )
