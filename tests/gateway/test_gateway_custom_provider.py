"""A LiteLLM proxy config with a custom provider: ``litellm_settings.
custom_provider_map`` names a handler in a module next to config.yaml."""

from __future__ import annotations

import openai
import pytest

from gateway_process import GatewayProcess, run_cli

HANDLER = '''
import polyrelay as litellm
from polyrelay import CustomLLM


class MyCustomLLM(CustomLLM):
    async def acompletion(self, *args, **kwargs):
        return litellm.completion(model="gpt-3.5-turbo", messages=[{"role": "user", "content": "Hello world"}],
                                  mock_response="Hi from my handler!")

    async def astreaming(self, *args, **kwargs):
        for word in ("Hi ", "there"):
            yield {"text": word, "is_finished": word == "there", "finish_reason": "stop" if word == "there" else None,
                   "index": 0, "tool_use": None, "usage": None}


my_custom_llm = MyCustomLLM()
'''
CONFIG = """
model_list:
  - model_name: my-custom-model
    litellm_params:
      model: my-custom-llm/my-model
litellm_settings:
  custom_provider_map:
  - {"provider": "my-custom-llm", "custom_handler": custom_handler.my_custom_llm}
"""


@pytest.fixture(scope="module")
def gateway():
    process = GatewayProcess(CONFIG)
    (process.config_path.parent / "custom_handler.py").write_text(HANDLER)
    process.start()
    yield process
    process.stop()


def test_custom_provider_answers_through_the_gateway(gateway):
    with openai.OpenAI(api_key="anything", base_url=gateway.url, max_retries=0) as client:
        response = client.chat.completions.create(model="my-custom-model",
                                                  messages=[{"role": "user", "content": "Hello!"}])
        assert response.choices[0].message.content == "Hi from my handler!"
        stream = client.chat.completions.create(model="my-custom-model", stream=True,
                                                messages=[{"role": "user", "content": "Hello!"}])
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hi there"
    assert "custom_provider_map" not in gateway.log  # taken, not warned about as unknown


def test_a_handler_that_cannot_be_imported_stops_start_up(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)  # no custom_handler.py beside it
    result = run_cli("--config", str(path), "--port", "1")
    assert result.returncode == 2
    assert "custom_provider_map[0].custom_handler" in result.stderr and "Traceback" not in result.stderr
