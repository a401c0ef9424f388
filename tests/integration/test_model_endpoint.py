"""boto3's sagemaker-runtime client and raw HTTP against the local model endpoint."""

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from model_serving.backends import DeterministicBackend
from model_serving.endpoint_server import ServedEndpoints, serve_in_background
from sovgw.adapters.aws.sagemaker import SageMakerModels
from sovgw.adapters.upstreams import ModelRouter
from sovgw.config import ModelEndpoint, TrustTier
from sovgw.domain.errors import RejectedInput, UpstreamUnavailable
from sovgw.httpd import BackgroundServer

MESSAGES = [{"role": "user", "content": "Summarise [EMAIL_1]'s case."}]


@pytest.fixture
def endpoint() -> Iterator[tuple[BackgroundServer, ServedEndpoints]]:
    served = ServedEndpoints({("eu-central-1", "llm-de"), ("eu-west-3", "llm-fr")})
    server = serve_in_background(served)
    yield server, served
    server.stop()


def _runtime(url: str, region: str) -> Any:
    return boto3.client(
        "sagemaker-runtime",
        region_name=region,
        endpoint_url=url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def test_invoke_endpoint_reports_exactly_what_reached_the_model(endpoint: Any) -> None:
    server, served = endpoint
    response = _runtime(server.url, "eu-central-1").invoke_endpoint(
        EndpointName="llm-de",
        ContentType="application/json",
        Body=json.dumps({"messages": MESSAGES}),
    )
    assert response["ResponseMetadata"]["RequestId"]
    body = json.loads(response["Body"].read())
    text = body["choices"][0]["message"]["content"]
    report = json.loads(text)
    assert report["region"] == "eu-central-1" and report["received"] == MESSAGES
    streamed = list(DeterministicBackend().stream("llm-de", "eu-central-1", [], 0))
    assert len(streamed) > 1, "the backend streams in pieces"
    assert body["usage"]["completion_tokens"] == -(-len(text) // 32), "usage counts streamed pieces"
    assert served.invocations == [("eu-central-1", "llm-de")]


def test_an_endpoint_exists_in_its_own_region_only(endpoint: Any) -> None:
    server, served = endpoint
    with pytest.raises(ClientError) as raised:
        _runtime(server.url, "us-east-1").invoke_endpoint(
            EndpointName="llm-de",
            ContentType="application/json",
            Body=json.dumps({"messages": MESSAGES}),
        )
    assert raised.value.response["Error"]["Code"] == "ValidationError"
    assert served.invocations == []


def test_adapter_maps_errors(endpoint: Any) -> None:
    server, _ = endpoint
    models = ModelRouter(SageMakerModels(lambda region: _runtime(server.url, region)))
    reply = models.invoke(
        ModelEndpoint(name="llm-fr", region="eu-west-3", tier=TrustTier.SOVEREIGN), MESSAGES
    )
    assert reply.region == "eu-west-3" and reply.aws_request_id
    with pytest.raises(RejectedInput, match="ValidationError"):
        models.invoke(
            ModelEndpoint(name="llm-fr", region="eu-central-1", tier=TrustTier.SOVEREIGN), MESSAGES
        )
    server.stop()
    down = ModelRouter(SageMakerModels(lambda region: _runtime(server.url, region)))
    with pytest.raises(UpstreamUnavailable):
        down.invoke(
            ModelEndpoint(name="llm-fr", region="eu-west-3", tier=TrustTier.SOVEREIGN), MESSAGES
        )


def test_openai_chat_completions_plain_and_streaming(endpoint: Any) -> None:
    server, _ = endpoint
    plain = requests.post(
        f"{server.url}/v1/chat/completions",
        json={"model": "llm-fr", "messages": MESSAGES},
        timeout=5,
    ).json()
    text = plain["choices"][0]["message"]["content"]
    with requests.post(
        f"{server.url}/v1/chat/completions",
        timeout=5,
        stream=True,
        json={"model": "llm-fr@eu-west-3", "messages": MESSAGES, "stream": True},
    ) as streamed:
        assert streamed.headers["Content-Type"] == "text/event-stream"
        lines = [line for line in streamed.iter_lines(decode_unicode=True) if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == text
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    models = requests.get(f"{server.url}/v1/models", timeout=5).json()
    assert {m["id"] for m in models["data"]} == {"llm-de@eu-central-1", "llm-fr@eu-west-3"}


def test_bad_requests_are_refused_with_a_reason(endpoint: Any) -> None:
    server, _ = endpoint
    unknown = requests.post(
        f"{server.url}/v1/chat/completions",
        json={"model": "gpt-x", "messages": MESSAGES},
        timeout=5,
    )
    assert unknown.status_code == 404 and "not found" in unknown.json()["error"]["message"]
    empty = requests.post(
        f"{server.url}/v1/chat/completions", json={"model": "llm-fr", "messages": []}, timeout=5
    )
    assert empty.status_code == 400
    huge = requests.post(f"{server.url}/v1/chat/completions", data=b"x" * 1_100_000, timeout=5)
    assert huge.status_code == 413


def test_the_endpoint_takes_the_schema_vllm_takes(endpoint: Any) -> None:
    """``tool`` and ``developer`` roles, content as parts, tool calls: what a tool-call round
    trip sends (vLLM's OpenAI server accepts all of it; the local endpoint refused it)."""
    server, _ = endpoint
    messages: list[dict[str, Any]] = [
        {"role": "developer", "content": "Use the lookup tool."},
        {"role": "user", "content": [{"type": "text", "text": "Find [EMAIL_1]."}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"email": "[EMAIL_1]"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "account 42"},
    ]
    response = _runtime(server.url, "eu-central-1").invoke_endpoint(
        EndpointName="llm-de",
        ContentType="application/json",
        Body=json.dumps({"messages": messages}),
    )
    report = json.loads(json.loads(response["Body"].read())["choices"][0]["message"]["content"])
    assert report["received"] == [{k: v for k, v in m.items() if v is not None} for m in messages]
    with pytest.raises(ClientError, match="ValidationError"):
        _runtime(server.url, "eu-central-1").invoke_endpoint(
            EndpointName="llm-de",
            ContentType="application/json",
            Body=json.dumps({"messages": [{"role": "hacker", "content": "x"}]}),
        )
