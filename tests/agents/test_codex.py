"""Codex CLI (``codex exec``) through the gateway's /v1/responses, with the
model group served by a fake OpenAI-compatible upstream: the task needs a
tool call round trip (run a command that reads a file, then answer)."""

from __future__ import annotations

import json

from clients import base_env, binary, run
from agent_gateway import new_key, spend_logs
from upstreams import chat_reply, last_tool_output

SECRET = "the vault combination is 31-41-59"


def codex_home(gateway, home) -> None:
    (home / "config.toml").write_text(f"""
model = "agent-model"
model_provider = "gateway"
check_for_update_on_startup = false

[model_providers.gateway]
name = "polyrelay"
base_url = "{gateway.url}/v1"
env_key = "GATEWAY_KEY"
wire_api = "responses"

[analytics]
enabled = false

[features]
plugins = false
apps = false
remote_plugin = false
""")


def test_codex_exec_runs_a_command_through_the_gateway(gateway, openai_upstream, tmp_path):
    codex = binary("codex")
    work = tmp_path / "work"
    work.mkdir()
    (work / "secret.txt").write_text(SECRET + "\n")
    home = tmp_path / "codex-home"
    home.mkdir()
    codex_home(gateway, home)

    def model(request):
        body = request.json
        output = last_tool_output(body)
        if output is not None:
            return chat_reply(body, text=f"FINAL ANSWER: {SECRET if SECRET in output else 'missing'}")
        if any((t.get("function") or {}).get("name") == "exec_command" for t in body.get("tools") or []):
            return chat_reply(body, tool_calls=[{"id": "call_exec1", "name": "exec_command",
                                                 "arguments": {"cmd": "cat secret.txt"}}])
        return chat_reply(body, text="ok")

    openai_upstream.responder = model
    key = new_key(gateway)
    env = {**base_env(tmp_path), "CODEX_HOME": str(home), "GATEWAY_KEY": key}
    result = run([codex, "exec", "--skip-git-repo-check", "--json", "--ephemeral", "--sandbox", "read-only",
                  "--color", "never", "What does secret.txt say?"], env, cwd=work)
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert result.returncode == 0, result.stdout + result.stderr
    assert events[-1]["type"] == "turn.completed", events[-3:]
    messages = [e["item"]["text"] for e in events
                if e["type"] == "item.completed" and e["item"]["type"] == "agent_message"]
    assert messages and messages[-1] == f"FINAL ANSWER: {SECRET}"
    commands = [e["item"] for e in events if e["type"] == "item.completed"
                and e["item"]["type"] == "command_execution"]
    assert commands and SECRET in commands[0]["aggregated_output"]
    records = spend_logs(gateway, key, expect=2)
    assert len(records) >= 2 and {r["call_type"] for r in records} == {"responses"}
