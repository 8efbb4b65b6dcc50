"""image_generation and rerank against fake providers speaking each documented wire format."""

from __future__ import annotations

import base64

import openai
import pytest

import polyrelay
from fakeserver import FakeServer, Reply

FOX = "a red fox in the snow"
DOCS = ["Carson City is the capital of Nevada.", "Washington, D.C. is the capital of the United States.",
        {"text": "Capital punishment has existed in the United States since colonial times."}]


@pytest.fixture
def fake():
    server = FakeServer().start()
    yield server
    server.stop()


def test_openai_images_wire_format_and_price_by_quality_and_size(fake):
    fake.reply(Reply(json={"created": 1700000000, "data": [{"url": "https://img.example/1.png",
                                                             "revised_prompt": "a fox"}]}))
    response = polyrelay.image_generation(prompt=FOX, model="openai/dall-e-3", size="1024x1792", quality="hd",
                                          api_key="sk-test", api_base=fake.url + "/v1")
    sent = fake.requests[0]
    assert (sent.method, sent.path) == ("POST", "/v1/images/generations")
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.json == {"model": "dall-e-3", "prompt": FOX, "size": "1024x1792", "quality": "hd"}
    assert response.data[0].url == "https://img.example/1.png" == response["data"][0]["url"]
    assert response._hidden_params["response_cost"] == pytest.approx(0.12)  # DALL-E 3 HD, 1024x1792
    assert polyrelay.completion_cost(response) == pytest.approx(0.12)


def test_openai_images_default_price_counts_every_image(fake):
    fake.reply(Reply(json={"created": 1, "data": [{"b64_json": "AAAA"}, {"b64_json": "BBBB"}]}))
    response = polyrelay.image_generation(prompt=FOX, model="openai/dall-e-2", n=2, api_key="k",
                                          api_base=fake.url)
    assert len(response.data) == 2
    assert response._hidden_params["response_cost"] == pytest.approx(0.04)  # 2 x $0.020 at 1024x1024


def test_openai_images_content_policy_refusal_is_mapped(fake):
    fake.reply(Reply(400, json={"error": {"message": "Your request was rejected by our safety system",
                                          "type": "invalid_request_error", "code": "content_policy_violation"}}))
    with pytest.raises(polyrelay.ContentPolicyViolationError) as caught:
        polyrelay.image_generation(prompt=FOX, model="openai/dall-e-3", api_key="k", api_base=fake.url)
    assert isinstance(caught.value, openai.BadRequestError)


def test_azure_images_path_auth_and_price_as_the_openai_model(fake):
    fake.reply(Reply(json={"created": 1, "data": [{"url": "https://img.example/a.png"}]}))
    response = polyrelay.image_generation(prompt=FOX, model="azure/dall-e-3", api_key="az-key",
                                          api_base=fake.url, api_version="2024-02-01")
    sent = fake.requests[0]
    assert sent.path == "/openai/deployments/dall-e-3/images/generations"
    assert sent.query == {"api-version": ["2024-02-01"]}
    assert sent.headers["api-key"] == "az-key" and "authorization" not in sent.headers
    assert sent.json == {"prompt": FOX}
    assert response._hidden_params["response_cost"] == pytest.approx(0.04)


def test_azure_deployment_priced_by_base_model(fake):
    fake.reply(Reply(json={"created": 1, "data": [{"url": "u"}]}))
    response = polyrelay.image_generation(prompt=FOX, model="azure/my-painter", api_key="k", api_base=fake.url,
                                          base_model="dall-e-3", quality="hd")
    assert response._hidden_params["response_cost"] == pytest.approx(0.08)


def test_gemini_imagen_predict_wire_format(fake):
    png = base64.b64encode(b"\x89PNG fake").decode()
    fake.reply(Reply(json={"predictions": [{"bytesBase64Encoded": png, "mimeType": "image/png"},
                                           {"bytesBase64Encoded": png, "mimeType": "image/png"}]}))
    response = polyrelay.image_generation(prompt=FOX, model="gemini/imagen-3.0-generate-002", n=2,
                                          size="1792x1024", api_key="g-key", api_base=fake.url + "/v1beta")
    sent = fake.requests[0]
    assert sent.path == "/v1beta/models/imagen-3.0-generate-002:predict"
    assert sent.headers["x-goog-api-key"] == "g-key"
    assert sent.json == {"instances": [{"prompt": FOX}], "parameters": {"sampleCount": 2, "aspectRatio": "16:9"}}
    assert [d.b64_json for d in response.data] == [png, png]
    assert response._hidden_params["response_cost"] == pytest.approx(0.06)


def test_gemini_imagen_refuses_what_it_cannot_do(fake):
    with pytest.raises(polyrelay.BadRequestError) as caught:
        polyrelay.image_generation(prompt=FOX, model="gemini/imagen-3.0-generate-002", quality="hd",
                                   api_key="k", api_base=fake.url)
    assert caught.value.param == "quality"
    assert fake.requests == []


def test_cohere_rerank_v2_wire_format_and_search_unit_price(fake):
    fake.reply(Reply(json={"id": "r-1", "results": [{"index": 0, "relevance_score": 0.9},
                                                    {"index": 1, "relevance_score": 0.2}],
                           "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}}}))
    response = polyrelay.rerank(model="cohere/rerank-v3.5", query="capital of Nevada", documents=DOCS, top_n=2,
                                api_key="co-key", api_base=fake.url)
    sent = fake.requests[0]
    assert sent.path == "/v2/rerank" and sent.headers["authorization"] == "Bearer co-key"
    assert sent.json == {"model": "rerank-v3.5", "query": "capital of Nevada", "top_n": 2,
                         "documents": [DOCS[0], DOCS[1], DOCS[2]["text"]]}
    assert [r.index for r in response.results] == [0, 1]
    assert response.results[0].document == {"text": DOCS[0]}  # LiteLLM's default return_documents=True
    assert response.meta["billed_units"]["search_units"] == 1
    assert response._hidden_params["response_cost"] == pytest.approx(0.002)


def test_cohere_rerank_rate_limit_is_mapped(fake):
    fake.reply(Reply(429, json={"message": "too many requests"}, headers={"retry-after": "0"}))
    with pytest.raises(polyrelay.RateLimitError):
        polyrelay.rerank(model="cohere/rerank-v3.5", query="q", documents=["a"], api_key="k", api_base=fake.url)


def test_jina_rerank_wire_format_and_token_price(fake):
    fake.reply(Reply(json={"model": "jina-reranker-v2-base-multilingual", "usage": {"total_tokens": 1000},
                           "results": [{"index": 1, "relevance_score": 0.7,
                                        "document": {"text": DOCS[1]}}]}))
    response = polyrelay.rerank(model="jina_ai/jina-reranker-v2-base-multilingual", query="capital",
                                documents=DOCS[:2], top_n=1, api_key="j-key", api_base=fake.url + "/v1")
    sent = fake.requests[0]
    assert sent.path == "/v1/rerank" and sent.headers["authorization"] == "Bearer j-key"
    assert sent.json["top_n"] == 1 and sent.json["return_documents"] is True
    assert response.results[0].index == 1 and response.results[0].document == {"text": DOCS[1]}
    assert response._hidden_params["response_cost"] == pytest.approx(1000 * 1.8e-08)


def test_voyage_rerank_wire_format(fake):
    fake.reply(Reply(json={"object": "list", "model": "rerank-2", "usage": {"total_tokens": 200},
                           "data": [{"index": 2, "relevance_score": 0.5}]}))
    response = polyrelay.rerank(model="voyage/rerank-2", query="q", documents=["a", "b", "c"], top_n=1,
                                return_documents=False, api_key="v-key", api_base=fake.url + "/v1")
    sent = fake.requests[0]
    assert sent.path == "/v1/rerank"
    assert sent.json == {"model": "rerank-2", "query": "q", "documents": ["a", "b", "c"], "top_k": 1,
                         "return_documents": False}
    assert response.results[0].index == 2 and response.results[0].document is None
    assert response._hidden_params["response_cost"] == pytest.approx(200 * 5e-08)


def test_mock_rerank_orders_by_query_words():
    response = polyrelay.rerank(model="mock/rerank", query="capital of Nevada", documents=DOCS)
    assert response.results[0].index == 0
    assert [r.relevance_score for r in response.results] == sorted(
        (r.relevance_score for r in response.results), reverse=True)


def test_mock_image_is_a_real_png():
    response = polyrelay.image_generation(prompt=FOX, model="mock/painter", n=3)
    assert len(response.data) == 3
    assert base64.b64decode(response.data[0].b64_json).startswith(b"\x89PNG\r\n\x1a\n")


def test_rerank_on_a_provider_without_rerank_is_refused():
    with pytest.raises(polyrelay.BadRequestError, match="does not serve rerank"):
        polyrelay.rerank(model="anthropic/claude-3-5-sonnet-20240620", query="q", documents=["a"])


def test_router_routes_images_and_rerank(fake):
    fake.reply(Reply(500, json={"error": {"message": "boom"}}),
               Reply(json={"created": 1, "data": [{"url": "u"}]}))
    router = polyrelay.Router(model_list=[
        {"model_name": "painter", "litellm_params": {"model": "openai/dall-e-3", "api_base": fake.url,
                                                     "api_key": "k"}},
        {"model_name": "ranker", "litellm_params": {"model": "mock/rr"}},
    ], num_retries=1, retry_after=0)
    image = router.image_generation(prompt=FOX, model="painter")
    assert image.data[0].url == "u" and len(fake.requests) == 2  # retried after the 500
    assert image._hidden_params["model_id"]
    ranked = router.rerank(model="ranker", query="fox", documents=["fox", "whale"])
    assert ranked.results[0].index == 0
