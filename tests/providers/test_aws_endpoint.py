"""The AWS adapters (Bedrock chat, Bedrock media, SageMaker) share one rule for where a
signed request goes: a region that is not a region name is refused before anything is
signed or sent (it becomes part of the host name), and no region and no api_base is a
clear 400 naming the settings."""

from __future__ import annotations

import pytest

import polyrelay

CREDS = {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
CALLS = {
    "bedrock chat": lambda **kw: polyrelay.completion(model="bedrock/anthropic.claude-3-haiku-20240307-v1:0",
                                                      messages=[{"role": "user", "content": "hi"}], **kw),
    "sagemaker": lambda **kw: polyrelay.completion(model="sagemaker/my-endpoint",
                                                   messages=[{"role": "user", "content": "hi"}], **kw),
    "bedrock images": lambda **kw: polyrelay.image_generation(prompt="a cat",
                                                              model="bedrock/amazon.titan-image-generator-v2:0", **kw),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_region_that_is_not_a_region_name_is_refused(name):
    with pytest.raises(polyrelay.BadRequestError, match="is not a region name"):
        CALLS[name](aws_region_name="x@evil.example:80/", **CREDS)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_no_region_and_no_api_base_names_the_settings(name, monkeypatch):
    for variable in ("AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(polyrelay.BadRequestError, match="needs a region: pass aws_region_name="):
        CALLS[name](**CREDS)
