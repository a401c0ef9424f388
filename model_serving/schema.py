"""Request/response schema shared by the gateway, the local endpoint and the real container.

It is the OpenAI chat-completions shape, which vLLM-based LMI and TGI containers accept on
SageMaker's ``/invocations`` as well.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_MESSAGES = 64
MAX_CONTENT_CHARS = 200_000


class ContentPart(BaseModel):
    """One part of a message's content: ``text``, or another kind vLLM's OpenAI server takes
    (``image_url``, ``input_audio``, ``file``), kept as sent."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(min_length=1, max_length=40)
    text: str | None = Field(default=None, max_length=MAX_CONTENT_CHARS)


class ChatMessage(BaseModel):
    """A chat message as vLLM's OpenAI-compatible server accepts it: every role (``tool``
    and ``developer`` included), content as a string or a list of parts, tool calls and the
    id a tool result answers."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = Field(default=None, max_length=MAX_CONTENT_CHARS)
    name: str | None = Field(default=None, max_length=64)
    tool_calls: list[dict[str, Any]] | None = Field(default=None, max_length=128)
    tool_call_id: str | None = Field(default=None, max_length=200)

    @property
    def text(self) -> str:
        """The message's text: the string, or its text parts joined (for backends and usage)."""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(p.text or "" for p in self.content or () if p.type == "text")


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    max_tokens: int | None = Field(default=None, gt=0, le=32_768)
    temperature: float | None = Field(default=None, ge=0, le=2)
    stream: bool = False


class Choice(BaseModel):
    index: int = 0
    message: ChatMessage
    finish_reason: Literal["stop", "length"] = "stop"


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletionResponse(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice] = Field(min_length=1)
    usage: Usage


class DeltaMessage(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: DeltaMessage
    finish_reason: Literal["stop", "length"] | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
