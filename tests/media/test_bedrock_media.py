"""Bedrock images (InvokeModel) and rerank (agent runtime) against a fake server, signed with SigV4."""

from __future__ import annotations

import pytest

import polyrelay
from fakeserver import FakeServer, Reply

AWS = {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "secret", "aws_region_name": "us-west-2"}


@pytest.fixture
def fake():
    server = FakeServer().start()
    yield server
    server.stop()


def test_titan_image_invoke_body_signature_and_price(fake):
    fake.reply(Reply(json={"images": ["AAAA", "BBBB"], "error": None}))
    response = polyrelay.image_generation(prompt="a fox", model="bedrock/amazon.titan-image-generator-v2:0", n=2,
                                          size="1024x1024", quality="hd", api_base=fake.url, **AWS)
    sent = fake.requests[0]
    assert sent.path == "/model/amazon.titan-image-generator-v2%3A0/invoke"
    assert sent.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/us-west-2/bedrock/aws4_request" in sent.headers["authorization"]
    assert sent.json == {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "a fox"},
                         "imageGenerationConfig": {"numberOfImages": 2, "width": 1024, "height": 1024,
                                                   "quality": "premium"}}
    assert [d.b64_json for d in response.data] == ["AAAA", "BBBB"]
    assert response._hidden_params["response_cost"] == pytest.approx(2 * 0.012)


def test_stability_image_on_bedrock(fake):
    fake.reply(Reply(json={"images": ["CCCC"], "finish_reasons": [None]}))
    response = polyrelay.image_generation(prompt="a fox", model="bedrock/stability.sd3-5-large-v1:0",
                                          size="1792x1024", api_base=fake.url, **AWS)
    assert fake.requests[0].json == {"prompt": "a fox", "aspect_ratio": "16:9"}
    assert response._hidden_params["response_cost"] == pytest.approx(0.08)


def test_bedrock_rerank_agent_runtime_body(fake):
    fake.reply(Reply(json={"results": [{"index": 1, "relevanceScore": 0.9}, {"index": 0, "relevanceScore": 0.1}]}))
    response = polyrelay.rerank(model="bedrock/amazon.rerank-v1:0", query="capital", documents=["a", "b"],
                                top_n=2, api_base=fake.url, **AWS)
    sent = fake.requests[0]
    assert sent.path == "/rerank"
    config = sent.json["rerankingConfiguration"]["bedrockRerankingConfiguration"]
    assert config == {"numberOfResults": 2, "modelConfiguration": {
        "modelArn": "arn:aws:bedrock:us-west-2::foundation-model/amazon.rerank-v1:0"}}
    assert sent.json["queries"] == [{"type": "TEXT", "textQuery": {"text": "capital"}}]
    assert sent.json["sources"][1]["inlineDocumentSource"]["textDocument"] == {"text": "b"}
    assert [r.index for r in response.results] == [1, 0] and response.results[0].document == {"text": "b"}
    assert response._hidden_params["response_cost"] == pytest.approx(0.001)


def test_bedrock_throttling_is_a_rate_limit(fake):
    fake.reply(Reply(429, json={"message": "Too many requests"}, headers={"x-amzn-ErrorType": "ThrottlingException"}))
    with pytest.raises(polyrelay.RateLimitError):
        polyrelay.image_generation(prompt="x", model="bedrock/amazon.nova-canvas-v1:0", api_base=fake.url, **AWS)
