"""Bedrock's InvokeModel API (bedrock/invoke/<model id>): each family's native
body, answer and stream chunks, against the fake Bedrock server of
test_bedrock (SigV4 checked, event-stream framing, AWS's error bodies).
Bodies are from the Bedrock user guide's model parameter pages (see
fixtures/bedrock/README.md)."""

from __future__ import annotations

import base64
import json

import pytest

import polyrelay
from fakeserver import Reply
from test_bedrock import EVENTSTREAM, assert_signed, chat, frame

pytest.importorskip("botocore")

CLAUDE = "bedrock/invoke/anthropic.claude-3-5-sonnet-20240620-v1:0"
CLAUDE_PATH = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0"
LLAMA = "bedrock/invoke/meta.llama3-1-70b-instruct-v1:0"
NOVA = "bedrock/invoke/us.amazon.nova-pro-v1:0"
CONVERSATION = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hello"},
                {"role": "assistant", "content": "Hi."}, {"role": "user", "content": "Name a colour."}]


def chunk(payload: dict) -> bytes:
    """One InvokeModelWithResponseStream event: a PayloadPart whose bytes are the vendor's JSON chunk."""
    data = json.dumps({"bytes": base64.b64encode(json.dumps(payload).encode()).decode()}).encode()
    return frame({":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}, data)


def metrics(prompt: int, completion: int) -> dict:
    return {"amazon-bedrock-invocationMetrics": {"inputTokenCount": prompt, "outputTokenCount": completion,
                                                 "invocationLatency": 500, "firstByteLatency": 100}}


def test_claude_invoke_body_answer_usage_and_cost(fake):
    fake.reply(Reply(json={"id": "msg_bdrk_01", "type": "message", "role": "assistant",
                           "model": "claude-3-5-sonnet-20240620",
                           "content": [{"type": "text", "text": "Blue."}], "stop_reason": "end_turn",
                           "stop_sequence": None, "usage": {"input_tokens": 21, "output_tokens": 3}},
                     headers={"x-amzn-bedrock-input-token-count": "21", "x-amzn-bedrock-output-token-count": "3"}))
    response = chat(fake, model=CLAUDE, messages=CONVERSATION, max_tokens=50, temperature=0.2, user="u-42")
    sent = fake.requests[0]
    assert (sent.method, sent.path) == ("POST", CLAUDE_PATH + "/invoke")
    assert_signed(fake, sent)
    assert sent.json == {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "temperature": 0.2,
                         "system": "You are terse.",
                         "messages": [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi."},
                                      {"role": "user", "content": "Name a colour."}]}
    assert response.choices[0].message.content == "Blue."
    assert response.choices[0].finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (21, 3)
    assert response._hidden_params["response_cost"] == pytest.approx(21 * 3e-06 + 3 * 1.5e-05)


def test_claude_invoke_stream(fake):
    events = [
        {"type": "message_start", "message": {"id": "msg_bdrk_02", "type": "message", "role": "assistant",
                                              "model": "claude-3-5-sonnet-20240620", "content": [],
                                              "usage": {"input_tokens": 14, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Bl"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ue."}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 4}},
        {"type": "message_stop", **metrics(14, 4)},
    ]
    whole = b"".join(chunk(e) for e in events)
    fake.reply(Reply(stream=[whole[i:i + 37] for i in range(0, len(whole), 37)], headers=EVENTSTREAM))
    chunks = list(chat(fake, model=CLAUDE, stream=True, stream_options={"include_usage": True}))
    sent = fake.requests[0]
    assert sent.path == CLAUDE_PATH + "/invoke-with-response-stream"
    assert sent.headers["accept"] == "application/vnd.amazon.eventstream"
    assert "stream" not in sent.json and sent.json["anthropic_version"] == "bedrock-2023-05-31"
    assert_signed(fake, sent)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Blue."
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (14, 4)


def test_llama_invoke_prompt_template_and_usage(fake):
    fake.reply(Reply(json={"generation": "Green.", "prompt_token_count": 40, "generation_token_count": 3,
                           "stop_reason": "stop"}))
    response = chat(fake, model=LLAMA, messages=CONVERSATION, max_tokens=64, top_p=0.9)
    sent = fake.requests[0]
    assert sent.path == "/model/meta.llama3-1-70b-instruct-v1%3A0/invoke"
    assert_signed(fake, sent)
    assert sent.json == {
        "prompt": "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
                  "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\nHi.<|eot_id|>"
                  "<|start_header_id|>user<|end_header_id|>\n\nName a colour.<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n",
        "max_gen_len": 64, "top_p": 0.9}
    assert response.choices[0].message.content == "Green."
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (40, 3)
    assert response._hidden_params["response_cost"] == pytest.approx(43 * 7.2e-07)


def test_llama_invoke_stream_usage_from_invocation_metrics(fake):
    pieces = [{"generation": "Gre", "prompt_token_count": 40, "generation_token_count": 1, "stop_reason": None},
              {"generation": "en.", "prompt_token_count": None, "generation_token_count": 2, "stop_reason": None},
              {"generation": "", "prompt_token_count": None, "generation_token_count": 3, "stop_reason": "length",
               **metrics(40, 3)}]
    fake.reply(Reply(stream=[chunk(p) for p in pieces], headers=EVENTSTREAM))
    chunks = list(chat(fake, model=LLAMA, stream=True, stream_options={"include_usage": True}))
    assert fake.requests[0].path.endswith("/invoke-with-response-stream")
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Green."
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["length"]
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (40, 3)


def test_nova_invoke_body_and_answer(fake):
    fake.reply(Reply(json={"output": {"message": {"role": "assistant", "content": [{"text": "Red."}]}},
                           "stopReason": "max_tokens",
                           "usage": {"inputTokens": 30, "outputTokens": 2, "totalTokens": 32}}))
    response = chat(fake, model=NOVA, messages=CONVERSATION, max_tokens=2, stop=["\n"])
    sent = fake.requests[0]
    assert sent.path == "/model/us.amazon.nova-pro-v1%3A0/invoke"
    assert_signed(fake, sent)
    assert sent.json == {"schemaVersion": "messages-v1", "system": [{"text": "You are terse."}],
                         "messages": [{"role": "user", "content": [{"text": "Hello"}]},
                                      {"role": "assistant", "content": [{"text": "Hi."}]},
                                      {"role": "user", "content": [{"text": "Name a colour."}]}],
                         "inferenceConfig": {"max_new_tokens": 2, "stopSequences": ["\n"]}}
    assert response.choices[0].message.content == "Red."
    assert response.choices[0].finish_reason == "length"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (30, 2)
    # us. is a cross-region profile: priced as amazon.nova-pro-v1:0
    assert response._hidden_params["response_cost"] == pytest.approx(30 * 8e-07 + 2 * 3.2e-06)


def test_nova_invoke_stream(fake):
    pieces = [{"messageStart": {"role": "assistant"}},
              {"contentBlockDelta": {"delta": {"text": "Re"}, "contentBlockIndex": 0}},
              {"contentBlockDelta": {"delta": {"text": "d."}, "contentBlockIndex": 0}},
              {"contentBlockStop": {"contentBlockIndex": 0}},
              {"messageStop": {"stopReason": "end_turn"}},
              {"metadata": {"usage": {"inputTokens": 30, "outputTokens": 2}}, **metrics(30, 2)}]
    fake.reply(Reply(stream=[chunk(p) for p in pieces], headers=EVENTSTREAM))
    chunks = list(chat(fake, model=NOVA, stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Red."
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (30, 2)


def test_mistral_invoke_usage_from_headers(fake):
    fake.reply(Reply(json={"outputs": [{"text": " Yellow.", "stop_reason": "stop"}]},
                     headers={"X-Amzn-Bedrock-Input-Token-Count": "25", "X-Amzn-Bedrock-Output-Token-Count": "4"}))
    response = chat(fake, model="bedrock/invoke/mistral.mistral-large-2402-v1:0", messages=CONVERSATION,
                    max_tokens=20, stop=["</s>"])
    sent = fake.requests[0]
    assert sent.path == "/model/mistral.mistral-large-2402-v1%3A0/invoke"
    assert sent.json == {"prompt": "<s>[INST] You are terse.\nHello [/INST]Hi.</s>[INST] Name a colour. [/INST]",
                         "max_tokens": 20, "stop": ["</s>"]}
    assert response.choices[0].message.content == " Yellow."
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (25, 4)
    assert not response._hidden_params.get("usage_estimated")
    assert response._hidden_params["response_cost"] == pytest.approx(25 * 4e-06 + 4 * 1.2e-05)


def test_titan_text_invoke(fake):
    fake.reply(Reply(json={"inputTextTokenCount": 18, "results": [
        {"tokenCount": 2, "outputText": " Purple.", "completionReason": "FINISH"}]}))
    response = chat(fake, model="bedrock/invoke/amazon.titan-text-express-v1", messages=CONVERSATION,
                    max_tokens=10, temperature=0)
    assert fake.requests[0].json == {
        "inputText": "You are terse.\nUser: Hello\nBot: Hi.\nUser: Name a colour.\nBot:",
        "textGenerationConfig": {"temperature": 0, "maxTokenCount": 10}}
    assert response.choices[0].message.content == " Purple."
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (18, 2)


def test_cohere_command_r_invoke(fake):
    fake.reply(Reply(json={"response_id": "r1", "text": "Orange.", "generation_id": "g1",
                           "finish_reason": "MAX_TOKENS", "chat_history": []},
                     headers={"x-amzn-bedrock-input-token-count": "33", "x-amzn-bedrock-output-token-count": "2"}))
    response = chat(fake, model="bedrock/invoke/cohere.command-r-v1:0", messages=CONVERSATION, max_tokens=2,
                    top_p=0.5)
    assert fake.requests[0].json == {"message": "Name a colour.", "preamble": "You are terse.", "max_tokens": 2,
                                     "p": 0.5, "chat_history": [{"role": "USER", "message": "Hello"},
                                                                {"role": "CHATBOT", "message": "Hi."}]}
    assert response.choices[0].finish_reason == "length"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (33, 2)


def test_unknown_invoke_family_and_tools_on_prompt_models_are_refused(fake):
    with pytest.raises(polyrelay.BadRequestError) as caught:
        chat(fake, model="bedrock/invoke/qwen.qwen3-32b-v1:0")
    assert "qwen.qwen3-32b-v1:0" in caught.value.message and "bedrock/qwen.qwen3-32b-v1:0" in caught.value.message
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    with pytest.raises(polyrelay.UnsupportedParamsError) as caught:
        chat(fake, model=LLAMA, tools=[tool])
    assert caught.value.param == "tools"
    assert fake.requests == []


def test_invoke_error_mapped(fake):
    fake.reply(Reply(400, json={"message": "Input is too long for requested model."},
                     headers={"x-amzn-ErrorType": "ValidationException:http://internal.amazon.com/coral/"}))
    with pytest.raises(polyrelay.ContextWindowExceededError):
        chat(fake, model=CLAUDE)
    fake.reply(Reply(429, json={"message": "Too many requests"}, headers={"x-amzn-ErrorType": "ThrottlingException"}))
    with pytest.raises(polyrelay.RateLimitError):
        chat(fake, model=LLAMA, num_retries=0)


def test_guardrail_on_invoke_travels_as_signed_headers(fake):
    fake.reply(Reply(json={"id": "msg_bdrk_03", "type": "message", "role": "assistant",
                           "content": [{"type": "text", "text": "Sorry, the model cannot answer this question."}],
                           "stop_reason": "end_turn", "usage": {"input_tokens": 12, "output_tokens": 9},
                           "amazon-bedrock-guardrailAction": "INTERVENED",
                           "amazon-bedrock-trace": {"guardrail": {"input": {"ff6ujrregl1q": {}}}}}))
    response = chat(fake, model=CLAUDE, guardrailConfig={"guardrailIdentifier": "ff6ujrregl1q",
                                                         "guardrailVersion": "1", "trace": "enabled"})
    sent = fake.requests[0]
    assert "guardrailConfig" not in sent.json
    assert (sent.headers["x-amzn-bedrock-guardrailidentifier"], sent.headers["x-amzn-bedrock-guardrailversion"],
            sent.headers["x-amzn-bedrock-trace"]) == ("ff6ujrregl1q", "1", "ENABLED")
    assert_signed(fake, sent)
    signed = sent.headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert "x-amzn-bedrock-guardrailidentifier" in signed
    assert response.choices[0].finish_reason == "content_filter"
    assert response.trace == {"guardrail": {"input": {"ff6ujrregl1q": {}}}}
    with pytest.raises(polyrelay.BadRequestError, match="streamProcessingMode"):
        chat(fake, model=CLAUDE, stream=True, guardrailConfig={
            "guardrailIdentifier": "ff6ujrregl1q", "guardrailVersion": "1", "streamProcessingMode": "async"})


def test_cohere_and_titan_invoke_streams(fake):
    cohere = [{"is_finished": False, "event_type": "stream-start", "generation_id": "g1"},
              {"is_finished": False, "event_type": "text-generation", "text": "Or"},
              {"is_finished": False, "event_type": "text-generation", "text": "ange."},
              {"is_finished": True, "event_type": "stream-end", "finish_reason": "COMPLETE",
               "response": {"text": "Orange."}, **metrics(33, 2)}]
    fake.reply(Reply(stream=[chunk(p) for p in cohere], headers=EVENTSTREAM))
    chunks = list(chat(fake, model="bedrock/invoke/cohere.command-r-plus-v1:0", stream=True,
                       stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Orange."
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (33, 2)

    titan = [{"outputText": " Pur", "index": 0, "totalOutputTextTokenCount": 1, "completionReason": None,
              "inputTextTokenCount": 18},
             {"outputText": "ple.", "index": 0, "totalOutputTextTokenCount": 2, "completionReason": "LENGTH",
              "inputTextTokenCount": None, **metrics(18, 2)}]
    fake.reply(Reply(stream=[chunk(p) for p in titan], headers=EVENTSTREAM))
    chunks = list(chat(fake, model="bedrock/invoke/amazon.titan-text-express-v1", stream=True,
                       stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == " Purple."
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["length"]
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (18, 2)


def test_invoke_stream_cut_before_the_end_raises(fake):
    pieces = [{"generation": "Gre", "prompt_token_count": 40, "generation_token_count": 1, "stop_reason": None}]
    fake.reply(Reply(stream=[chunk(p) for p in pieces], headers=EVENTSTREAM))
    with pytest.raises(polyrelay.APIConnectionError):
        list(chat(fake, model=LLAMA, stream=True))


def test_claude_invoke_tools(fake):
    schema = {"type": "object", "properties": {"sign": {"type": "string"}}}
    tool = {"type": "function", "function": {"name": "top_song", "description": "The top song", "parameters": schema}}
    fake.reply(Reply(json={"id": "msg_bdrk_04", "type": "message", "role": "assistant",
                           "content": [{"type": "tool_use", "id": "toolu_bdrk_01", "name": "top_song",
                                        "input": {"sign": "WZPZ"}}],
                           "stop_reason": "tool_use", "usage": {"input_tokens": 300, "output_tokens": 20}}))
    response = chat(fake, model=CLAUDE, tools=[tool], tool_choice="required")
    sent = fake.requests[0].json
    assert sent["tools"] == [{"name": "top_song", "description": "The top song",
                              "input_schema": tool["function"]["parameters"]}]
    assert sent["tool_choice"] == {"type": "any"}
    call = response.choices[0].message.tool_calls[0]
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == ("toolu_bdrk_01", "top_song",
                                                                                   {"sign": "WZPZ"})
    assert response.choices[0].finish_reason == "tool_calls"


def test_gpt_oss_invoke_takes_openai_body(fake):
    fake.reply(Reply(json={"id": "chatcmpl-bdrk", "object": "chat.completion", "created": 1754400000,
                           "model": "openai.gpt-oss-120b-1:0",
                           "choices": [{"index": 0, "message": {"role": "assistant", "content": "Teal."},
                                        "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 70, "completion_tokens": 5, "total_tokens": 75}}))
    response = chat(fake, model="bedrock/invoke/openai.gpt-oss-120b-1:0", messages=CONVERSATION,
                    max_completion_tokens=100, reasoning_effort="low")
    sent = fake.requests[0]
    assert sent.path == "/model/openai.gpt-oss-120b-1%3A0/invoke"
    assert_signed(fake, sent)
    assert sent.json == {"messages": CONVERSATION, "max_completion_tokens": 100, "reasoning_effort": "low"}
    assert response.choices[0].message.content == "Teal."
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (70, 5)
    assert response._hidden_params["response_cost"] == pytest.approx(70 * 1.5e-07 + 5 * 6e-07)

    pieces = [{"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "openai.gpt-oss-120b-1:0",
               "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Te"}, "finish_reason": None}]},
              {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "openai.gpt-oss-120b-1:0",
               "choices": [{"index": 0, "delta": {"content": "al."}, "finish_reason": "stop"}], **metrics(70, 5)}]
    fake.reply(Reply(stream=[chunk(p) for p in pieces], headers=EVENTSTREAM))
    chunks = list(chat(fake, model="bedrock/invoke/openai.gpt-oss-120b-1:0", stream=True,
                       stream_options={"include_usage": True}))
    assert "stream" not in fake.requests[1].json and "stream_options" not in fake.requests[1].json
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Teal."
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (70, 5)


@pytest.mark.parametrize(("original", "cls"), [(400, polyrelay.BadRequestError), (429, polyrelay.RateLimitError),
                                               (500, polyrelay.InternalServerError)])
def test_model_error_424_mapped_by_the_models_own_status(fake, original, cls):
    fake.reply(Reply(424, json={"message": "Received client error from model", "originalStatusCode": original,
                                "resourceName": "arn:aws:bedrock:us-west-2::foundation-model/meta.llama3"},
                     headers={"x-amzn-ErrorType": "ModelErrorException"}))
    with pytest.raises(cls) as caught:
        chat(fake, model=LLAMA, num_retries=0)
    assert type(caught.value) is cls and caught.value.status_code == original
    assert caught.value.code == "ModelErrorException"


def test_nova_invoke_tools_and_tool_choice(fake):
    tool = {"type": "function", "function": {"name": "f", "description": "F",
                                             "parameters": {"type": "object", "properties": {}}}}
    fake.reply(Reply(json={"output": {"message": {"role": "assistant", "content": [
        {"toolUse": {"toolUseId": "tooluse_n1", "name": "f", "input": {}}}]}}, "stopReason": "tool_use",
        "usage": {"inputTokens": 50, "outputTokens": 10}}))
    response = chat(fake, model=NOVA, tools=[tool], tool_choice={"type": "function", "function": {"name": "f"}})
    assert fake.requests[0].json["toolConfig"] == {
        "tools": [{"toolSpec": {"name": "f", "description": "F",
                                "inputSchema": {"json": {"type": "object", "properties": {}}}}}],
        "toolChoice": {"tool": {"name": "f"}}}
    assert response.choices[0].finish_reason == "tool_calls"
    assert response.choices[0].message.tool_calls[0].id == "tooluse_n1"
