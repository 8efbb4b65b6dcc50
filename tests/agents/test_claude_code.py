"""Claude Code (``claude -p``) through the gateway's /v1/messages, with the
model group served by a fake OpenAI-compatible upstream: the task needs a
tool call round trip (read a file, then answer with what it holds)."""

from __future__ import annotations

import json

from clients import base_env, binary, run
from agent_gateway import new_key, spend_logs
from upstreams import anthropic_reply, chat_reply, last_tool_output, last_tool_result

SECRET = "the launch code is 7-alpha-9"


def claude_env(gateway, home, key: str, group: str = "agent-model") -> dict[str, str]:
    return {**base_env(home), "ANTHROPIC_BASE_URL": gateway.url, "ANTHROPIC_API_KEY": key,
            "ANTHROPIC_MODEL": group, "ANTHROPIC_SMALL_FAST_MODEL": group,
            "ANTHROPIC_DEFAULT_HAIKU_MODEL": group, "ANTHROPIC_DEFAULT_SONNET_MODEL": group,
            "ANTHROPIC_DEFAULT_OPUS_MODEL": group, "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1",
            "DISABLE_ERROR_REPORTING": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "CLAUDE_CODE_MAX_RETRIES": "1"}


def test_claude_code_reads_a_file_through_the_gateway(gateway, openai_upstream, tmp_path):
    claude = binary("claude")
    work = tmp_path / "work"
    work.mkdir()
    secret = work / "secret.txt"
    secret.write_text(SECRET + "\n")

    def model(request):
        body = request.json
        output = last_tool_output(body)
        if output is not None:
            return chat_reply(body, text=f"FINAL ANSWER: {output.strip()}")
        if any((t.get("function") or {}).get("name") == "Read" for t in body.get("tools") or []):
            return chat_reply(body, tool_calls=[{"id": "call_read1", "name": "Read",
                                                 "arguments": {"file_path": str(secret)}}])
        return chat_reply(body, text="ok")

    openai_upstream.responder = model
    key = new_key(gateway)
    result = run([claude, "-p", "What does secret.txt say?", "--output-format", "json", "--model", "agent-model",
                  "--allowedTools", "Read"], claude_env(gateway, tmp_path, key), cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    final = json.loads(result.stdout.strip().splitlines()[-1])
    assert final["type"] == "result" and final["is_error"] is False
    assert SECRET in final["result"]
    # The round trip went through the upstream: a tool call, then the tool's output sent back.
    outputs = [last_tool_output(r.json) for r in openai_upstream.requests if r.path.endswith("/chat/completions")]
    assert any(o and SECRET in o for o in outputs)
    records = spend_logs(gateway, key, expect=2)
    assert len(records) >= 2 and {r["call_type"] for r in records} == {"anthropic_messages"}


def test_claude_code_against_an_anthropic_group(gateway, anthropic_upstream, tmp_path):
    """The same task with the group served by a fake Anthropic upstream: Claude Code's own
    fields (thinking, cache_control, betas) reach it, and the tool round trip completes."""
    claude = binary("claude")
    work = tmp_path / "work"
    work.mkdir()
    secret = work / "secret.txt"
    secret.write_text(SECRET + "\n")

    def model(request):
        body = request.json
        output = last_tool_result(body)
        if output is not None:
            return anthropic_reply(body, text=f"FINAL ANSWER: {output.strip()}")
        if any(t.get("name") == "Read" for t in body.get("tools") or []):
            return anthropic_reply(body, tool_use={"id": "toolu_read1", "name": "Read",
                                                   "input": {"file_path": str(secret)}})
        return anthropic_reply(body, text="ok")

    anthropic_upstream.responder = model
    key = new_key(gateway)
    result = run([claude, "-p", "What does secret.txt say?", "--output-format", "json", "--model", "claude-group",
                  "--allowedTools", "Read"], claude_env(gateway, tmp_path, key, "claude-group"), cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    final = json.loads(result.stdout.strip().splitlines()[-1])
    assert final["is_error"] is False and SECRET in final["result"]
    first = next(r for r in anthropic_upstream.requests if any(t.get("name") == "Read" for t in r.json.get("tools") or []))
    assert first.headers.get("anthropic-beta")  # Claude Code's betas are forwarded to Anthropic
    assert "thinking" in first.json
    assert any("cache_control" in block for block in first.json["system"])
    assert any(last_tool_result(r.json) and SECRET in last_tool_result(r.json) for r in anthropic_upstream.requests)
