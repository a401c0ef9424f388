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
from sovgw.adapters.aio_http import AsyncHttp, HttpFailure
from sovgw.config import ModelEndpoint
from sovgw.domain.errors import (
    GatewayError,
    UpstreamRefused,
    UpstreamThrottled,
    UpstreamUnavailable,
)
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

    One retry at once on connect and read errors and on 5xx; the read timeout bounds every
    socket read, so a hanging upstream fails over instead of holding the caller. Whole answers
    can also be awaited on the caller's event loop (``complete_async``), with the same rules.
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
        self._aio = AsyncHttp(
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
            ca_bundle=ca_bundle,
        )

    def _request(
        self, endpoint: ModelEndpoint, body: Mapping[str, Any], *, stream: bool
    ) -> tuple[str, dict[str, str], bytes]:
        """URL, headers and body of the POST to ``endpoint``."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if stream:
            headers["Accept"] = "text/event-stream"
        key = self._api_key_for(endpoint)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        url = self._base_url_for(endpoint).rstrip("/") + "/chat/completions"
        return url, headers, json.dumps({**body, "stream": stream}).encode()

    def _post(
        self, endpoint: ModelEndpoint, body: Mapping[str, Any], *, stream: bool
    ) -> urllib3.BaseHTTPResponse:
        url, headers, payload = self._request(endpoint, body, stream=stream)
        try:
            response = self._pool.request(
                "POST", url, body=payload, headers=headers, preload_content=not stream
            )
        except HTTPError as error:
            raise UpstreamUnavailable(
                f"upstream {endpoint.ref} unreachable: {type(error).__name__}"
            ) from None
        if response.status != 200:
            refused = response.status != 429 and response.status not in _RETRIED_AT_ONCE
            try:  # only a refusal's body is read (bounded): it may name the code and param
                raw = (response.read(65_536) if stream else response.data) if refused else b""
            except HTTPError:
                raw = b""
            finally:
                response.drain_conn()
            raise _refusal(endpoint, response.status, response.headers.get("Retry-After"), raw)
        return response

    def complete(self, endpoint: ModelEndpoint, body: Mapping[str, Any]) -> UpstreamReply:
        return _reply(endpoint, self._post(endpoint, body, stream=False).data)

    async def complete_async(
        self, endpoint: ModelEndpoint, body: Mapping[str, Any]
    ) -> UpstreamReply:
        """``complete`` awaited on the running event loop: no thread waits on the upstream."""
        url, headers, payload = self._request(endpoint, body, stream=False)
        failure = ""
        for _ in range(2):  # the retry at once, as the blocking client's
            try:
                answer = await self._aio.post(url, payload, headers)
            except HttpFailure as error:
                failure = f"upstream {endpoint.ref} unreachable: {error}"
                continue
            if answer.status in _RETRIED_AT_ONCE:
                failure = f"upstream {endpoint.ref} failed: HTTP {answer.status}"
                continue
            if answer.status != 200:
                raise _refusal(
                    endpoint, answer.status, answer.headers.get("retry-after"), answer.body
                )
            return _reply(endpoint, answer.body)
        raise UpstreamUnavailable(failure)

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
        self,
        sagemaker: ChatUpstream,
        openai: OpenAICompatible | None = None,
        max_tokens: int = 512,
    ) -> None:
        self._sagemaker = sagemaker
        self._openai = openai or OpenAICompatible()
        self._max_tokens = max_tokens

    def _for(self, endpoint: ModelEndpoint) -> ChatUpstream:
        return self._openai if endpoint.base_url else self._sagemaker

    def complete(self, endpoint: ModelEndpoint, body: Mapping[str, Any]) -> UpstreamReply:
        return self._for(endpoint).complete(endpoint, body)

    def can_await(self, endpoint: ModelEndpoint) -> bool:
        """OpenAI-compatible endpoints can be awaited; SageMaker's client blocks."""
        return bool(endpoint.base_url)

    async def complete_async(
        self, endpoint: ModelEndpoint, body: Mapping[str, Any]
    ) -> UpstreamReply:
        if not self.can_await(endpoint):
            raise TypeError(f"{endpoint.ref} cannot be awaited")
        return await self._openai.complete_async(endpoint, body)

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


def _reply(endpoint: ModelEndpoint, raw: bytes) -> UpstreamReply:
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        raise UpstreamUnavailable(f"upstream {endpoint.ref} sent invalid JSON") from None
    return UpstreamReply(body=parsed)


def _refusal(
    endpoint: ModelEndpoint, status: int, retry_after: str | None, raw: bytes
) -> GatewayError:
    """What an answer other than 200 means: throttled (429, with its wait), failed (5xx: try
    elsewhere) or refused (the caller's own request, with the upstream's code and param)."""
    if status == 429:
        return UpstreamThrottled(
            f"upstream {endpoint.ref} is throttling: HTTP 429", retry_after_seconds(retry_after)
        )
    if status in _RETRIED_AT_ONCE:
        return UpstreamUnavailable(f"upstream {endpoint.ref} failed: HTTP {status}")
    code, param = _error_fields(raw)
    return UpstreamRefused(
        f"upstream {endpoint.ref} refused the request: HTTP {status}"
        + (f" ({code})" if code else ""),
        status,
        code,
        param,
    )


def _error_fields(raw: bytes) -> tuple[str | None, str | None]:
    """The OpenAI error ``code`` and ``param`` of a refusal (anything else in the body, the
    message above all, is dropped)."""
    try:
        error = json.loads(raw[:65_536]).get("error")
    except (ValueError, AttributeError):
        error = None
    if not isinstance(error, dict):
        return None, None
    code, param = error.get("code"), error.get("param")
    return (
        str(code)[:80] if isinstance(code, str | int) else None,
        str(param)[:80] if isinstance(param, str) else None,
    )
