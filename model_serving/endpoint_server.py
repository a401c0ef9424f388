"""Local model endpoint speaking the SageMaker runtime and OpenAI chat-completions protocols.

An endpoint exists in one region only, as on AWS: a SageMaker call signed for another region
gets ``ValidationError: Endpoint ... not found``. That makes cross-region routing mistakes
visible locally instead of silently working.
"""

from __future__ import annotations

import re
import struct
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from pydantic import ValidationError

from model_serving.backends import Backend, DeterministicBackend
from model_serving.schema import (
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChatMessage,
    Choice,
    ChunkChoice,
    DeltaMessage,
    Usage,
)
from sovgw.httpd import BackgroundServer, QuietHandler

_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")
_INVOCATIONS = re.compile(r"^/endpoints/([A-Za-z0-9-]{1,63})/invocations(-response-stream)?$")
DEFAULT_MAX_TOKENS = 256
LOCAL_ACCOUNT = "000000000000"


@dataclass
class ServedEndpoints:
    """Which (region, endpoint name) pairs exist, and the backend that answers for them."""

    endpoints: set[tuple[str, str]]
    backend: Backend = field(default_factory=DeterministicBackend)
    invocations: list[tuple[str, str]] = field(default_factory=list)
    # Endpoints answering 503 ServiceUnavailable (failover drills and tests).
    unavailable: set[tuple[str, str]] = field(default_factory=set)
    # What reached each endpoint, for tests and local auditing (never in production serving).
    received: list[tuple[str, str, list[dict[str, str]]]] = field(default_factory=list)

    def record(self, region: str, name: str, messages: list[ChatMessage]) -> None:
        self.invocations.append((region, name))
        self.received.append((region, name, [m.model_dump(exclude_none=True) for m in messages]))

    def resolve_openai_model(self, model: str | None) -> tuple[str, str] | None:
        """``name@region`` or a name that exists in exactly one region."""
        if not model:
            return None
        if "@" in model:
            name, region = model.split("@", 1)
            return (region, name) if (region, name) in self.endpoints else None
        matches = [pair for pair in self.endpoints if pair[1] == model]
        return matches[0] if len(matches) == 1 else None


def _complete(
    backend: Backend, endpoint: str, region: str, messages: list[ChatMessage], max_tokens: int
) -> ChatCompletionResponse:
    """Run the backend; usage counts streamed pieces (one per token for token-streaming
    backends) and prompt words, since the local endpoint has no tokenizer of its own."""
    pieces = list(backend.stream(endpoint, region, messages, max_tokens))
    text = "".join(pieces)
    prompt_tokens = sum(len(m.text.split()) for m in messages)
    completion_tokens = len(pieces)
    return ChatCompletionResponse(
        id=f"chatcmpl-{uuid.uuid4().hex}",
        created=int(time.time()),
        model=endpoint,
        choices=[Choice(message=ChatMessage(role="assistant", content=text))],
        usage=Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        ),
    )


def _sse_chunks(name: str, pieces: Iterable[str]) -> Iterator[bytes]:
    """A chat-completions SSE stream: role, one chunk per piece, finish, ``[DONE]``."""
    stream_id = f"chatcmpl-{uuid.uuid4().hex}"

    def event(delta: DeltaMessage, finish: Literal["stop"] | None = None) -> bytes:
        chunk = ChatCompletionChunk(
            id=stream_id,
            created=int(time.time()),
            model=name,
            choices=[ChunkChoice(delta=delta, finish_reason=finish)],
        )
        return f"data: {chunk.model_dump_json(exclude_none=True)}\n\n".encode()

    yield event(DeltaMessage(role="assistant"))
    for piece in pieces:
        yield event(DeltaMessage(content=piece))
    yield event(DeltaMessage(), finish="stop")
    yield b"data: [DONE]\n\n"


def payload_part(data: bytes) -> bytes:
    """One ``PayloadPart`` message of the AWS event-stream encoding (what botocore decodes):
    prelude (total and header lengths, CRC32), string headers, payload, message CRC32."""
    headers = b"".join(
        bytes([len(key)]) + key + b"\x07" + struct.pack(">H", len(value)) + value
        for key, value in (
            (b":event-type", b"PayloadPart"),
            (b":content-type", b"application/octet-stream"),
            (b":message-type", b"event"),
        )
    )
    prelude = struct.pack(">II", 16 + len(headers) + len(data), len(headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + data
    return message + struct.pack(">I", zlib.crc32(message))


class ModelHandler(QuietHandler):
    """SageMaker's runtime API (``/endpoints/<name>/invocations[-response-stream]``, ``/ping``)
    and OpenAI's (``/v1/models``, ``/v1/chat/completions``) over ``served``."""

    served: ClassVar[ServedEndpoints]

    def do_GET(self) -> None:
        answer = {"/ping": self._ping, "/v1/models": self._models}.get(self.path)
        if answer is None:
            self.send_json(404, {"message": f"no route {self.path}"})
        else:
            answer()

    def do_POST(self) -> None:
        body = self.read_body()
        if body is None:
            return
        match = _INVOCATIONS.match(self.path)
        if match:
            self._sagemaker_invoke(match.group(1), body, streaming=bool(match.group(2)))
        elif self.path == "/v1/chat/completions":
            self._openai_chat(body)
        else:
            self.send_json(404, {"message": f"no route {self.path}"})

    def _ping(self) -> None:
        self.send_json(200, {"status": "healthy"})

    def _models(self) -> None:
        data = [
            {"id": f"{name}@{region}", "object": "model", "owned_by": region}
            for region, name in sorted(self.served.endpoints)
        ]
        self.send_json(200, {"object": "list", "data": data})

    def _sagemaker_error(self, status: int, code: str, message: str) -> None:
        self.send_json(
            status,
            {"__type": code, "message": message},
            {"x-amzn-ErrorType": code, "x-amzn-RequestId": str(uuid.uuid4())},
        )

    def _sagemaker_invoke(self, name: str, body: bytes, *, streaming: bool) -> None:
        scope = _CREDENTIAL_SCOPE.search(self.headers.get("Authorization", ""))
        region = scope.group(1) if scope else ""
        if (region, name) not in self.served.endpoints:
            self._sagemaker_error(
                400,
                "ValidationError",
                f"Endpoint {name} of account {LOCAL_ACCOUNT} not found.",
            )
            return
        if (region, name) in self.served.unavailable:
            self._sagemaker_error(503, "ServiceUnavailable", f"Endpoint {name} is unavailable.")
            return
        try:
            request = ChatCompletionRequest.model_validate_json(body)
        except ValidationError as error:
            self._sagemaker_error(
                400, "ValidationError", f"invalid request body: {error.error_count()} error(s)"
            )
            return
        self.served.record(region, name, request.messages)
        if streaming:
            self._sagemaker_stream(name, region, request)
            return
        completion = _complete(
            self.served.backend,
            name,
            region,
            request.messages,
            request.max_tokens or DEFAULT_MAX_TOKENS,
        )
        self.send_json(
            200,
            completion.model_dump(),
            {
                "x-Amzn-Invoked-Production-Variant": "AllTraffic",
                "x-amzn-RequestId": str(uuid.uuid4()),
            },
        )

    def _sagemaker_stream(self, name: str, region: str, request: ChatCompletionRequest) -> None:
        """``InvokeEndpointWithResponseStream``: the OpenAI SSE stream of an LMI/vLLM
        container, carried in ``PayloadPart`` events of the AWS event-stream encoding."""
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("X-Amzn-Invoked-Production-Variant", "AllTraffic")
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        pieces = self.served.backend.stream(
            name, region, request.messages, request.max_tokens or DEFAULT_MAX_TOKENS
        )
        for sse in _sse_chunks(name, pieces):
            self.wfile.write(payload_part(sse))
            self.wfile.flush()

    def _openai_chat(self, body: bytes) -> None:
        try:
            request = ChatCompletionRequest.model_validate_json(body)
        except ValidationError as error:
            self.send_json(
                400,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "message": f"{error.error_count()} invalid field(s)",
                    }
                },
            )
            return
        target = self.served.resolve_openai_model(request.model)
        if target is None:
            self.send_json(
                404,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "message": f"model {request.model!r} not found",
                    }
                },
            )
            return
        region, name = target
        self.served.record(target[0], target[1], request.messages)
        max_tokens = request.max_tokens or DEFAULT_MAX_TOKENS
        if not request.stream:
            completion = _complete(self.served.backend, name, region, request.messages, max_tokens)
            self.send_json(200, completion.model_dump())
            return
        self._stream(name, self.served.backend.stream(name, region, request.messages, max_tokens))

    def _stream(self, name: str, pieces: Iterable[str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for sse in _sse_chunks(name, pieces):
            self.wfile.write(sse)
            self.wfile.flush()


def make_handler(served: ServedEndpoints) -> type[QuietHandler]:
    """The handler class bound to ``served`` (http.server makes one instance per request)."""
    return type("BoundModelHandler", (ModelHandler,), {"served": served})


def serve_in_background(
    served: ServedEndpoints, host: str = "127.0.0.1", port: int = 0
) -> BackgroundServer:
    """Start the endpoint on loopback; the caller stops it."""
    return BackgroundServer(make_handler(served), host, port).start()
