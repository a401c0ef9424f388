"""Backends that turn chat messages into a reply.

``DeterministicBackend`` replies with a report of exactly what reached the model, which is
what a sovereignty auditor wants to see and what tests assert on. ``TransformersBackend``
runs any local model directory (no hub access).
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
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
        received = [m.model_dump(exclude_none=True) for m in messages]
        digest = hashlib.sha256(json.dumps(received, sort_keys=True).encode()).hexdigest()
        return json.dumps(
            {
                "backend": "deterministic",
                "endpoint": endpoint,
                "region": region,
                "received_sha256": digest,
                "received_chars": sum(len(m.text) for m in messages),
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
    """A local ``transformers`` causal LM from ``model_dir``; loaded on first use, offline.

    Runs on the GPU when one is present and streams one chunk per generated token.
    """

    def __init__(self, model_dir: Path, *, fixed_length: bool = False) -> None:
        self._model_dir = model_dir
        self._fixed_length = fixed_length  # benchmarks: always generate max_tokens tokens
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, str] | None = None

    def _load(self) -> tuple[Any, Any, str]:
        with self._lock:
            if self._loaded is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                import torch  # noqa: PLC0415
                from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415

                device = "cuda" if torch.cuda.is_available() else "cpu"
                dtype = torch.bfloat16 if device == "cuda" else torch.float32
                tokenizer = AutoTokenizer.from_pretrained(self._model_dir, local_files_only=True)
                model = AutoModelForCausalLM.from_pretrained(
                    self._model_dir, local_files_only=True, dtype=dtype
                ).to(device)
                model.eval()
                self._loaded = (tokenizer, model, device)
            return self._loaded

    def _inputs(self, messages: list[ChatMessage]) -> tuple[Any, Any, Any]:
        tokenizer, model, device = self._load()
        chat = [{"role": m.role, "content": m.text} for m in messages]
        if getattr(tokenizer, "chat_template", None):
            prompt = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        else:
            prompt = "\n".join(f"{m['role']}: {m['content']}" for m in chat) + "\nassistant:"
        encoded = tokenizer(prompt, return_tensors="pt")
        encoded.pop("token_type_ids", None)  # causal LMs reject it in generate()
        return tokenizer, model, encoded.to(device)

    def generate(
        self, endpoint: str, region: str, messages: list[ChatMessage], max_tokens: int
    ) -> str:
        return "".join(self.stream(endpoint, region, messages, max_tokens))

    def stream(
        self, endpoint: str, region: str, messages: list[ChatMessage], max_tokens: int
    ) -> Iterator[str]:
        import torch  # noqa: PLC0415
        from transformers.generation.streamers import BaseStreamer  # noqa: PLC0415

        tokenizer, model, inputs = self._inputs(messages)
        pieces: queue.Queue[str | None] = queue.Queue()

        class TokenStreamer(BaseStreamer):  # type: ignore[misc]
            """One decoded piece per generated token (the first put is the prompt)."""

            prompt_seen = False

            def put(self, value: Any) -> None:
                if not self.prompt_seen:
                    self.prompt_seen = True
                    return
                for token_id in value.reshape(-1).tolist():
                    pieces.put(tokenizer.decode([token_id], skip_special_tokens=True))

            def end(self) -> None:
                pieces.put(None)

        def run() -> None:
            try:
                with torch.inference_mode():
                    model.generate(
                        **inputs,
                        max_new_tokens=max_tokens,
                        min_new_tokens=max_tokens if self._fixed_length else None,
                        do_sample=False,
                        streamer=TokenStreamer(),
                        pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
                    )
            finally:
                pieces.put(None)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        while (piece := pieces.get()) is not None:
            yield piece
        worker.join()
