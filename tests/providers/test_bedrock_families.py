"""Every Converse model family on bedrock/: model ids, cross-region profiles and
ARNs route to the right URL, are priced from the catalogue, and each family's
limits (AWS's "Supported models and model features" table) are refused by
name before a paid round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import polyrelay
from fakeserver import Reply
from test_bedrock import assert_signed, chat, fixture_json

pytest.importorskip("botocore")

CATALOGUE = json.loads((Path(polyrelay.__file__).parent / "catalog" / "bedrock.json").read_text())
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
SYSTEM = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]

# (model as a caller writes it, model id in the URL path, catalogue entry it is priced from)
ROWS = [
    ("anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic.claude-3-5-sonnet-20240620-v1%3A0",
     "anthropic.claude-3-5-sonnet-20240620-v1:0"),
    ("us.anthropic.claude-3-5-haiku-20241022-v1:0", "us.anthropic.claude-3-5-haiku-20241022-v1%3A0",
     "us.anthropic.claude-3-5-haiku-20241022-v1:0"),
    ("eu.anthropic.claude-3-7-sonnet-20250219-v1:0", "eu.anthropic.claude-3-7-sonnet-20250219-v1%3A0",
     "eu.anthropic.claude-3-7-sonnet-20250219-v1:0"),
    ("apac.anthropic.claude-sonnet-4-20250514-v1:0", "apac.anthropic.claude-sonnet-4-20250514-v1%3A0",
     "apac.anthropic.claude-sonnet-4-20250514-v1:0"),
    ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "global.anthropic.claude-sonnet-4-5-20250929-v1%3A0",
     "global.anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ("converse/meta.llama3-3-70b-instruct-v1:0", "meta.llama3-3-70b-instruct-v1%3A0",
     "meta.llama3-3-70b-instruct-v1:0"),
    ("us.meta.llama4-maverick-17b-instruct-v1:0", "us.meta.llama4-maverick-17b-instruct-v1%3A0",
     "us.meta.llama4-maverick-17b-instruct-v1:0"),
    ("mistral.mistral-large-2407-v1:0", "mistral.mistral-large-2407-v1%3A0", "mistral.mistral-large-2407-v1:0"),
    ("us.mistral.pixtral-large-2502-v1:0", "us.mistral.pixtral-large-2502-v1%3A0",
     "us.mistral.pixtral-large-2502-v1:0"),
    ("amazon.nova-lite-v1:0", "amazon.nova-lite-v1%3A0", "amazon.nova-lite-v1:0"),
    ("eu.amazon.nova-micro-v1:0", "eu.amazon.nova-micro-v1%3A0", "eu.amazon.nova-micro-v1:0"),
    ("amazon.titan-text-premier-v1:0", "amazon.titan-text-premier-v1%3A0", "amazon.titan-text-premier-v1:0"),
    ("cohere.command-r-plus-v1:0", "cohere.command-r-plus-v1%3A0", "cohere.command-r-plus-v1:0"),
    ("ai21.jamba-1-5-large-v1:0", "ai21.jamba-1-5-large-v1%3A0", "ai21.jamba-1-5-large-v1:0"),
    ("us.deepseek.r1-v1:0", "us.deepseek.r1-v1%3A0", "us.deepseek.r1-v1:0"),
    ("qwen.qwen3-32b-v1:0", "qwen.qwen3-32b-v1%3A0", "qwen.qwen3-32b-v1:0"),
    ("openai.gpt-oss-120b-1:0", "openai.gpt-oss-120b-1%3A0", "openai.gpt-oss-120b-1:0"),
    ("us.writer.palmyra-x5-v1:0", "us.writer.palmyra-x5-v1%3A0", "us.writer.palmyra-x5-v1:0"),
    # A profile with no entry of its own is priced as its base model.
    ("apac.meta.llama3-2-3b-instruct-v1:0", "apac.meta.llama3-2-3b-instruct-v1%3A0",
     "meta.llama3-2-3b-instruct-v1:0"),
    # ARNs: percent-encoded whole ('/' too); a system profile's or foundation model's ARN names its model.
    ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0",
     "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-5-haiku-20241022"
     "-v1%3A0", "us.anthropic.claude-3-5-haiku-20241022-v1:0"),
    ("arn:aws:bedrock:us-west-2::foundation-model/meta.llama3-1-8b-instruct-v1:0",
     "arn%3Aaws%3Abedrock%3Aus-west-2%3A%3Afoundation-model%2Fmeta.llama3-1-8b-instruct-v1%3A0",
     "meta.llama3-1-8b-instruct-v1:0"),
]


@pytest.mark.parametrize(("model", "path_id", "priced_as"), ROWS, ids=[r[0][:60] for r in ROWS])
def test_family_routes_signs_and_prices(fake, model, path_id, priced_as):
    fake.reply(Reply(json=fixture_json("converse.json")))  # 125 input, 60 output tokens
    response = chat(fake, model=f"bedrock/{model}")
    sent = fake.requests[0]
    assert sent.path == f"/model/{path_id}/converse"
    assert_signed(fake, sent)
    entry = CATALOGUE[f"bedrock/{priced_as}"]
    expected = 125 * entry["input_cost_per_token"] + 60 * entry["output_cost_per_token"]
    assert expected > 0
    assert response._hidden_params["response_cost"] == pytest.approx(expected)
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (125, 60)


def test_application_inference_profile_arn_routes(fake):
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6"
    fake.reply(Reply(json=fixture_json("converse.json")))
    response = chat(fake, model=f"bedrock/{arn}", tools=[TOOL])  # names no model: no family limits apply
    assert fake.requests[0].path == ("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3A"
                                     "application-inference-profile%2Fa1b2c3d4e5f6/converse")
    assert response.choices[0].message.content.startswith("Here is a list")


@pytest.mark.parametrize("model", ["mistral.mistral-7b-instruct-v0:2", "mistral.mixtral-8x7b-instruct-v0:1",
                                   "amazon.titan-text-express-v1", "cohere.command-text-v14",
                                   "converse/cohere.command-light-text-v14"])
def test_no_system_prompt_families_refused_by_name(fake, model):
    with pytest.raises(polyrelay.BadRequestError) as caught:
        chat(fake, model=f"bedrock/{model}", messages=SYSTEM)
    assert model in caught.value.message and "system prompt" in caught.value.message
    assert fake.requests == []
    fake.reply(Reply(json=fixture_json("converse.json")))
    chat(fake, model=f"bedrock/{model}")  # without a system message it goes out
    assert "system" not in fake.requests[0].json


@pytest.mark.parametrize("model", ["meta.llama3-8b-instruct-v1:0", "us.deepseek.r1-v1:0", "anthropic.claude-v2:1",
                                   "mistral.mistral-7b-instruct-v0:2", "ai21.jamba-instruct-v1:0"])
def test_no_tool_families_refused_or_dropped(fake, model):
    with pytest.raises(polyrelay.UnsupportedParamsError) as caught:
        chat(fake, model=f"bedrock/{model}", tools=[TOOL])
    assert caught.value.param == "tools"
    assert fake.requests == []
    fake.reply(Reply(json=fixture_json("converse.json")))
    chat(fake, model=f"bedrock/{model}", tools=[TOOL], drop_params=True)
    assert "toolConfig" not in fake.requests[0].json


def test_tool_history_to_a_no_tool_family_is_refused(fake):
    history = [{"role": "user", "content": "Hi"},
               {"role": "assistant", "content": None, "tool_calls": [
                   {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
               {"role": "tool", "tool_call_id": "t1", "content": "ok"}]
    with pytest.raises(polyrelay.UnsupportedParamsError):
        chat(fake, model="bedrock/meta.llama3-70b-instruct-v1:0", messages=history)
    assert fake.requests == []


@pytest.mark.parametrize("model", ["amazon.titan-embed-text-v2:0", "cohere.embed-english-v3",
                                   "stability.sd3-large-v1:0", "amazon.nova-canvas-v1:0"])
def test_non_chat_models_refused_for_chat(fake, model):
    with pytest.raises(polyrelay.BadRequestError) as caught:
        chat(fake, model=f"bedrock/{model}")
    assert "not a chat model" in caught.value.message
    assert fake.requests == []


@pytest.mark.parametrize("model", ["meta.llama3-1-70b-instruct-v1:0", "us.meta.llama3-3-70b-instruct-v1:0",
                                   "mistral.mistral-large-2407-v1:0"])
def test_streaming_tools_refused_where_converse_stream_lacks_them(fake, model):
    with pytest.raises(polyrelay.UnsupportedParamsError) as caught:
        chat(fake, model=f"bedrock/{model}", tools=[TOOL], stream=True)
    assert "stream" in caught.value.message and model in caught.value.message
    assert fake.requests == []
    fake.reply(Reply(json=fixture_json("converse.json")))
    chat(fake, model=f"bedrock/{model}", tools=[TOOL])  # without streaming the tools go out
    assert fake.requests[0].json["toolConfig"]["tools"][0]["toolSpec"]["name"] == "f"
