"""The config's guardrails section: every entry honoured or refused by name."""

from __future__ import annotations

import pytest

from polyrelay.guardrails import CustomGuardrail, GuardrailConfigError, Guardrails, build_guardrails


def entry(name="g", **params):
    return {"guardrail_name": name, "litellm_params": params}


@pytest.mark.parametrize("bad, named", [
    (entry(guardrail="lakera_v9"), "unknown guardrail type 'lakera_v9'"),
    (entry(guardrail="pii", mode="before_call"), "unknown mode 'before_call'"),
    (entry(guardrail="pii", mode=["pre_call", "sometimes"]), "unknown mode 'sometimes'"),
    (entry(guardrail="pii", action="shred"), "unknown action 'shred'"),
    (entry(guardrail="pii", entities=["DNA"]), "unknown entities ['DNA']"),
    (entry(guardrail="keywords"), "keywords must be a non-empty list"),
    (entry(guardrail="regex", patterns=["(unclosed"]), "patterns[0] is not a valid regular expression"),
    (entry(guardrail="secrets", threshold=3), "threshold: not an option of the secrets guardrail"),
    (entry(guardrail="prompt_injection", action="mask"), "cannot be masked"),
    (entry(guardrail="pii", default_on="yes"), "default_on must be true or false"),
    (entry(guardrail="no_such_module_xyz.Guard"), "could not be loaded"),
    ({"guardrail_name": "g", "litellm_params": {"guardrail": "pii"}, "extra": 1}, "unknown key 'extra'"),
])
def test_refused_by_name(bad, named, tmp_path):
    with pytest.raises(GuardrailConfigError) as caught:
        build_guardrails([bad], str(tmp_path))
    assert named in str(caught.value) and "guardrails[0] (g)" in str(caught.value)


def test_names_must_fit_a_header(tmp_path):
    with pytest.raises(GuardrailConfigError, match="letters, digits"):
        build_guardrails([entry("pii, and more", guardrail="pii")], str(tmp_path))


def test_duplicate_names_refused(tmp_path):
    with pytest.raises(GuardrailConfigError, match="used twice"):
        build_guardrails([entry(guardrail="pii"), entry(guardrail="secrets")], str(tmp_path))


def test_custom_class_beside_the_config(tmp_path):
    (tmp_path / "my_guards_mod.py").write_text(
        "from polyrelay.integrations.custom_guardrail import CustomGuardrail\n"
        "class Mine(CustomGuardrail):\n"
        "    def __init__(self, limit=3, **kwargs):\n"
        "        super().__init__(**kwargs)\n"
        "        self.limit = limit\n")
    [guard] = build_guardrails([entry("mine", guardrail="my_guards_mod.Mine", mode="post_call", limit=7)],
                               str(tmp_path))
    assert isinstance(guard, CustomGuardrail) and guard.limit == 7 and guard.event_hook == ["post_call"]
    listing = Guardrails([guard]).listing()
    assert listing[0]["guardrail_name"] == "mine" and listing[0]["litellm_params"]["guardrail"] == "my_guards_mod.Mine"


def test_not_a_guardrail_class_refused(tmp_path):
    (tmp_path / "not_guard_mod.py").write_text("class Plain:\n    pass\n")
    with pytest.raises(GuardrailConfigError, match="not a CustomGuardrail subclass"):
        build_guardrails([entry(guardrail="not_guard_mod.Plain")], str(tmp_path))


def test_selection_adds_and_refuses_unknown_names(tmp_path):
    from polyrelay.errors import BadRequestError

    guards = Guardrails(build_guardrails([entry("a", guardrail="pii", default_on=True),
                                          entry("b", guardrail="secrets")], str(tmp_path)))
    assert guards.plan({}, None, "chat").names == ["a"]
    assert guards.plan({"guardrails": ["b"]}, None, "chat").names == ["a", "b"]
    assert guards.plan({"metadata": {"guardrails": ["b"]}}, None, "chat").names == ["a", "b"]
    with pytest.raises(BadRequestError, match="no guardrail named 'c'"):
        guards.plan({"guardrails": ["c"]}, None, "chat")
    assert Guardrails([]).plan({}, None, "chat") is None  # nothing configured: no per-request work


@pytest.mark.parametrize("style", ["text", "inputs"])
def test_apply_guardrail_classes_run_in_every_mode(tmp_path, style):
    """LiteLLM's one-method custom guardrails, in both of its signatures."""
    import asyncio

    from polyrelay.guardrails import GuardrailBlocked

    body = ("    async def apply_guardrail(self, text, language=None, entities=None, request_data=None):\n"
            "        if 'forbidden' in text:\n            raise ValueError('no forbidden things')\n"
            "        return text.replace('secret', '******')\n") if style == "text" else (
            "    async def apply_guardrail(self, inputs, request_data, input_type, logging_obj=None):\n"
            "        texts = inputs['texts']\n"
            "        if any('forbidden' in t for t in texts):\n            raise ValueError('no forbidden things')\n"
            "        return {'texts': [t.replace('secret', '******') for t in texts]}\n")
    module = f"apply_{style}_mod"
    (tmp_path / f"{module}.py").write_text("from polyrelay import CustomGuardrail\n"
                                           "class Apply(CustomGuardrail):\n" + body)
    guards = Guardrails(build_guardrails([entry("ap", guardrail=f"{module}.Apply", mode=["pre_call", "post_call"],
                                                default_on=True)], str(tmp_path)))

    async def run():
        plan = guards.plan({}, None, "chat")
        data = await plan.pre_call({"messages": [{"role": "user", "content": "my secret plan"}]})
        assert data["messages"][0]["content"] == "my ****** plan"
        answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "a secret"}}]}
        assert (await plan.around(_answer(answer), data, False))["choices"][0]["message"]["content"] == "a ******"
        with pytest.raises(GuardrailBlocked, match="'ap': no forbidden things"):
            await plan.pre_call({"messages": [{"role": "user", "content": "forbidden"}]})

    asyncio.run(run())


async def _answer(value):
    return value


def test_logging_only_masks_a_copy(tmp_path):
    from polyrelay.guardrails.runner import mask_for_logging

    guards = build_guardrails([entry("log-pii", guardrail="pii", mode="logging_only", action="mask")], str(tmp_path))
    record = {"messages": [{"role": "user", "content": "I am ann@example.com"}],
              "choices": [{"message": {"role": "assistant", "content": "hello ann@example.com"}}]}
    masked = mask_for_logging(guards, record)
    assert masked["messages"][0]["content"] == "I am [EMAIL]"
    assert masked["choices"][0]["message"]["content"] == "hello [EMAIL]"
    assert record["messages"][0]["content"] == "I am ann@example.com"  # the call's own data is untouched
