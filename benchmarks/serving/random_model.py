"""Write a randomly initialised model of a real architecture, for GPU serving benchmarks.

TinyLlama-1.1B's shape (Llama: 22 layers, hidden 2048, 32 heads, 4 KV heads, vocab 32,000)
with random bf16 weights and a word-level tokenizer built offline, so no hub is touched.
Needs torch, transformers and tokenizers (present on the GPU machine, not in the project venv).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

VOCAB_SIZE = 32_000
SPECIAL = ["<unk>", "<s>", "</s>"]


def build_tokenizer(out: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers  # noqa: PLC0415
    from transformers import PreTrainedTokenizerFast  # noqa: PLC0415

    vocab = {token: index for index, token in enumerate(SPECIAL)}
    vocab |= {f"w{i}": len(SPECIAL) + i for i in range(VOCAB_SIZE - len(SPECIAL))}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )
    fast.save_pretrained(out)


def build_model(out: Path, seed: int) -> int:
    import torch  # noqa: PLC0415
    from transformers import LlamaConfig, LlamaForCausalLM  # noqa: PLC0415

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=2048,
        intermediate_size=5632,
        num_hidden_layers=22,
        num_attention_heads=32,
        num_key_value_heads=4,
        max_position_embeddings=2048,
        rms_norm_eps=1e-5,
        bos_token_id=1,
        eos_token_id=2,
        torch_dtype="bfloat16",
    )
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(out, safe_serialization=True)
    return sum(p.numel() for p in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    build_tokenizer(out)
    parameters = build_model(out, args.seed)
    print(
        json.dumps(
            {"model_dir": str(out), "architecture": "LlamaForCausalLM", "parameters": parameters}
        )
    )


if __name__ == "__main__":
    main()
