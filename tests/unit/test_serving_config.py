import pytest

from model_serving.serving_config import MODEL_PRESETS, SpecError, image_uri, plan_serving

LLAMA_8B = MODEL_PRESETS["llama-3.1-8b"]


@pytest.mark.parametrize(
    ("instance_type", "degree"),
    [("ml.g6e.2xlarge", 1), ("ml.g5.12xlarge", 4), ("ml.p5.48xlarge", 8)],
)
def test_plans_shard_over_every_gpu_and_stay_offline(instance_type: str, degree: int) -> None:
    plan = plan_serving(LLAMA_8B, instance_type, "eu-central-1")
    assert plan.tensor_parallel_degree == degree
    assert plan.environment["SM_VLLM_TENSOR_PARALLEL_SIZE"] == str(degree)
    assert plan.environment["HF_HUB_OFFLINE"] == "1"
    assert plan.image.startswith("763104351884.dkr.ecr.eu-central-1.amazonaws.com/vllm:")
    assert 1 <= plan.max_num_seqs <= 256
    assert plan.health_check_path == "/ping"


def test_larger_instance_leaves_more_kv_cache_and_more_sequences() -> None:
    small = plan_serving(LLAMA_8B, "ml.g6e.2xlarge", "eu-central-1")
    large = plan_serving(LLAMA_8B, "ml.g6e.12xlarge", "eu-central-1")
    assert large.kv_cache_gib_total > small.kv_cache_gib_total
    assert large.max_num_seqs > small.max_num_seqs


def test_fp8_halves_weights_where_supported_and_is_refused_elsewhere() -> None:
    model = MODEL_PRESETS["llama-3.3-70b"]
    bf16 = plan_serving(model, "ml.p5.48xlarge", "eu-central-1")
    fp8 = plan_serving(model, "ml.p5.48xlarge", "eu-central-1", quantisation="fp8")
    assert fp8.weights_gib_per_gpu == pytest.approx(bf16.weights_gib_per_gpu / 2, abs=0.1)
    assert fp8.environment["SM_VLLM_QUANTIZATION"] == "fp8"
    with pytest.raises(SpecError, match="no FP8 support"):
        plan_serving(LLAMA_8B, "ml.g5.12xlarge", "eu-central-1", quantisation="fp8")


@pytest.mark.parametrize(
    ("model", "instance_type", "kwargs", "message"),
    [
        ("llama-3.3-70b", "ml.g5.12xlarge", {}, "too little"),
        ("llama-3.1-8b", "ml.x1.large", {}, "no profile"),
        ("mistral-small-24b", "ml.g6e.2xlarge", {"max_model_len": 65_536}, "exceeds"),
    ],
)
def test_impossible_plans_are_refused_with_the_reason(
    model: str, instance_type: str, kwargs: dict[str, int], message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        plan_serving(MODEL_PRESETS[model], instance_type, "eu-central-1", **kwargs)  # type: ignore[arg-type]


def test_images_come_from_the_endpoint_region() -> None:
    assert ".eu-west-3." in image_uri("eu-west-3")
    assert image_uri("eu-central-2").startswith("380420809688.dkr.ecr.eu-central-2.")
