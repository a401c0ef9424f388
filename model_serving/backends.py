"""Backends that turn chat messages into a reply.

``DeterministicBackend`` replies with a report of exactly what reached the model, which is
what a sovereignty auditor wants to see and what tests assert on. ``TransformersBackend``
runs any local model directory (no hub access).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from model_serving.schema import ChatMessage


class Backend(Protocol):
    def generate(
        self, endpoint: str, region: str, messages: list[ChatMessage], max_tokens: int
    ) -> str:
        """The complete reply."""
        ...

    def stream(
        self, endpoint: str, region: str, messages: list[ChatMessage], max_tokens: int
    ) -> Iterator[str]:
        """The reply in pieces, as they are produced."""
        ...


class DeterministicBackend:
    """Echoes a JSON report of the received messages: same input, same output, no model."""

    def generate(
        self, endpoint: str, region: str, messages: list[ChatMessage], max_tokens: int
    ) -> str:
        received = [m.model_dump() for m in messages]
        digest = hashlib.sha256(json.dumps(received, sort_keys=True).encode()).hexdigest()
        return json.dumps(
            {
                "backend": "deterministic",
                "endpoint": endpoint,
                "region": region,
                "received_sha256": digest,
                "received_chars": sum(len(m.content) for m in messages),
                "received": received,
            },
            sort_keys=True,
        )

    def stream(
        self, endpoint: str, region: str, messages: list[ChatMessage], max_tokens: int
    ) -> Iterator[str]:
        text = self.generate(endpoint, region, messages, max_tokens)
        for start in range(0, len(text), 32):
            yield text[start : start + 32]


class TransformersBackend:
    """A local ``transformers`` causal LM from ``model_dir``; loaded on first use, offline."""

    def __init__(self, model_dir: Path) -> None:
        self._model_dir = model_dir
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._loaded is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415

                tokenizer = AutoTokenizer.from_pretrained(self._model_dir, local_files_only=True)
                model = AutoModelForCausalLM.from_pretrained(self._model_dir, local_files_only=True)
                self._loaded = (tokenizer, model)
            return self._loaded

    def generate(
        self, endpoint: str, region: str, messages: list[ChatMessage], max_tokens: int
    ) -> str:
        tokenizer, model = self._load()
        chat = [m.model_dump() for m in messages]
        if getattr(tokenizer, "chat_template", None):
            prompt = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        else:
            prompt = "\n".join(f"{m['role']}: {m['content']}" for m in chat) + "\nassistant:"
        inputs = tokenizer(prompt, return_tensors="pt")
        output = model.generate(**inputs, max_new_tokens=max_tokens, do_sample=False)
        new_tokens = output[0][inputs["input_ids"].shape[1] :]
        return str(tokenizer.decode(new_tokens, skip_special_tokens=True))

    def stream(
        self, endpoint: str, region: str, messages: list[ChatMessage], max_tokens: int
    ) -> Iterator[str]:
        yield self.generate(endpoint, region, messages, max_tokens)
