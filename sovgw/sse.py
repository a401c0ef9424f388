"""Server-sent events as OpenAI-compatible chat streams use them (``data: {json}`` lines)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

DONE = "[DONE]"
MAX_EVENT_BYTES = 1_048_576


class StreamProtocolError(ValueError):
    """The upstream's stream is not valid chat-completions SSE."""


def sse_data(byte_chunks: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """The JSON objects of ``data:`` lines, however the bytes were split; stops at ``[DONE]``."""
    buffer = b""
    for chunk in byte_chunks:
        buffer += chunk
        if len(buffer) > MAX_EVENT_BYTES:
            raise StreamProtocolError(f"an event is longer than {MAX_EVENT_BYTES} bytes")
        *lines, buffer = buffer.split(b"\n")
        for raw in lines:
            line = raw.rstrip(b"\r")
            if not line.startswith(b"data:"):
                continue  # comments, event names, blank separators
            data = line[5:].strip()
            if data == DONE.encode():
                return
            try:
                parsed = json.loads(data)
            except json.JSONDecodeError as error:
                raise StreamProtocolError(f"a data line is not JSON: {error.msg}") from None
            if not isinstance(parsed, dict):
                raise StreamProtocolError("a data line is not a JSON object")
            yield parsed


def sse_event(data: dict[str, Any] | str) -> bytes:
    """One ``data:`` event, serialised compactly."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {payload}\n\n".encode()
