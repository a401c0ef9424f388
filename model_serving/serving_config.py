"""SageMaker serving configuration for an open-weight LLM on the AWS vLLM container.

``plan_serving`` turns (model, instance type, region) into the container image and
environment, refusing combinations that cannot work (model does not fit, FP8 on a GPU
without FP8 support). The reasoning per instance type is in docs/model-serving.md.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

GIB = 1024**3
# Fraction of GPU memory vLLM may use, and of that the part weights may take; the rest is
# KV cache, activations and CUDA graphs.
GPU_MEMORY_UTILISATION = 0.90
MAX_WEIGHT_SHARE = 0.60
IMAGE_REPOSITORY = "vllm"
IMAGE_TAG = "server-sagemaker-cuda-v1"
# AWS Deep Learning Containers registry account per region. Opt-in regions have their own
# account; verify with `aws ecr describe-images` in the target region before deploying.
DLC_ACCOUNTS = {"eu-central-2": "380420809688", "eu-south-2": "503227376785"}
DEFAULT_DLC_ACCOUNT = "763104351884"


class SpecError(ValueError):
    """The requested model/instance combination cannot be served; the message says why."""


class InstanceProfile(BaseModel):
    model_config = ConfigDict(frozen=True)

    instance_type: str
    gpus: int
    gpu: str
    gpu_memory_gib: int
    fp8: bool


INSTANCE_PROFILES: dict[str, InstanceProfile] = {
    p.instance_type: p
    for p in (
        InstanceProfile(
            instance_type="ml.g5.12xlarge", gpus=4, gpu="A10G", gpu_memory_gib=24, fp8=False
        ),
        InstanceProfile(
            instance_type="ml.g5.48xlarge", gpus=8, gpu="A10G", gpu_memory_gib=24, fp8=False
        ),
        InstanceProfile(
            instance_type="ml.g6e.2xlarge", gpus=1, gpu="L40S", gpu_memory_gib=48, fp8=True
        ),
        InstanceProfile(
            instance_type="ml.g6e.12xlarge", gpus=4, gpu="L40S", gpu_memory_gib=48, fp8=True
        ),
        InstanceProfile(
            instance_type="ml.p5.48xlarge", gpus=8, gpu="H100", gpu_memory_gib=80, fp8=True
        ),
    )
}


class ModelSpec(BaseModel):
    """The architecture facts that decide memory: parameters and the KV-cache shape."""

    model_config = ConfigDict(frozen=True)

    name: str
    params_billion: float = Field(gt=0)
    layers: int = Field(gt=0)
    kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    context_length: int = Field(gt=0)


MODEL_PRESETS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        ModelSpec(
            name="llama-3.1-8b",
            params_billion=8.03,
            layers=32,
            kv_heads=8,
            head_dim=128,
            context_length=131_072,
        ),
        ModelSpec(
            name="mistral-small-24b",
            params_billion=23.6,
            layers=40,
            kv_heads=8,
            head_dim=128,
            context_length=32_768,
        ),
        ModelSpec(
            name="llama-3.3-70b",
            params_billion=70.6,
            layers=80,
            kv_heads=8,
            head_dim=128,
            context_length=131_072,
        ),
    )
}

Quantisation = Literal["none", "fp8"]


class ServingPlan(BaseModel):
    """Everything the SageMaker model and endpoint configuration need for one model."""

    model_config = ConfigDict(frozen=True)

    model: str
    instance_type: str
    region: str
    image: str
    tensor_parallel_degree: int
    max_model_len: int
    max_num_seqs: int
    quantisation: Quantisation
    weights_gib_per_gpu: float
    kv_cache_gib_total: float
    environment: dict[str, str]
    container_startup_health_check_timeout_seconds: int
    model_data_download_timeout_seconds: int
    health_check_path: str = "/ping"


def image_uri(region: str) -> str:
    account = DLC_ACCOUNTS.get(region, DEFAULT_DLC_ACCOUNT)
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{IMAGE_REPOSITORY}:{IMAGE_TAG}"


def plan_serving(
    model: ModelSpec,
    instance_type: str,
    region: str,
    *,
    max_model_len: int = 8192,
    quantisation: Quantisation = "none",
) -> ServingPlan:
    """Shard over all GPUs of the instance and size the batch from the KV-cache room left."""
    profile = INSTANCE_PROFILES.get(instance_type)
    if profile is None:
        raise SpecError(
            f"no profile for {instance_type}; known: {', '.join(sorted(INSTANCE_PROFILES))}"
        )
    if quantisation == "fp8" and not profile.fp8:
        raise SpecError(
            f"{profile.gpu} ({instance_type}) has no FP8 support; use 'none' or another instance"
        )
    if max_model_len > model.context_length:
        raise SpecError(
            f"max_model_len {max_model_len} exceeds {model.name}'s context {model.context_length}"
        )
    bytes_per_param = 1.0 if quantisation == "fp8" else 2.0
    weights_gib = model.params_billion * 1e9 * bytes_per_param / GIB
    usable_gib = profile.gpu_memory_gib * GPU_MEMORY_UTILISATION
    # The container runs one vLLM server per instance, so it shards over every GPU; a GPU
    # left out would be paid for and idle. Choosing the instance is the operator's lever.
    degree = profile.gpus
    if model.kv_heads % degree and degree % model.kv_heads:
        raise SpecError(f"{model.kv_heads} KV heads cannot be split over {degree} GPUs")
    if weights_gib / degree > usable_gib * MAX_WEIGHT_SHARE:
        raise SpecError(
            f"{model.name} needs {weights_gib:.0f} GiB of weights; {instance_type} offers "
            f"{profile.gpus} x {profile.gpu_memory_gib} GiB, too little with room for KV cache"
        )
    kv_cache_gib = (usable_gib - weights_gib / degree) * degree
    kv_bytes_per_token = 2 * model.layers * model.kv_heads * model.head_dim * 2  # K and V, bf16
    sequences = math.floor(kv_cache_gib * GIB / (kv_bytes_per_token * max_model_len))
    max_num_seqs = max(1, min(256, sequences))
    environment = {
        "SM_VLLM_TENSOR_PARALLEL_SIZE": str(degree),
        "SM_VLLM_MAX_MODEL_LEN": str(max_model_len),
        "SM_VLLM_MAX_NUM_SEQS": str(max_num_seqs),
        "SM_VLLM_GPU_MEMORY_UTILIZATION": str(GPU_MEMORY_UTILISATION),
        "SM_VLLM_DTYPE": "bfloat16",
        "SM_VLLM_SERVED_MODEL_NAME": model.name,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
    }
    if quantisation == "fp8":
        environment["SM_VLLM_QUANTIZATION"] = "fp8"
    return ServingPlan(
        model=model.name,
        instance_type=instance_type,
        region=region,
        image=image_uri(region),
        tensor_parallel_degree=degree,
        max_model_len=max_model_len,
        max_num_seqs=max_num_seqs,
        quantisation=quantisation,
        weights_gib_per_gpu=round(weights_gib / degree, 1),
        kv_cache_gib_total=round(kv_cache_gib, 1),
        environment=environment,
        container_startup_health_check_timeout_seconds=600 + int(weights_gib * 6),
        model_data_download_timeout_seconds=600 + int(weights_gib * 10),
    )
