"""The benchmark's instrument, checked without running a benchmark: wrk's
output parser, the ratio and added-latency arithmetic, the soak summary,
the py-spy stack summary, the upstream's fixed answers and the answer
checks. Nothing here times anything."""

from __future__ import annotations

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))

from polybench import profile, report, upstream, wrk  # noqa: E402
from polybench.targets import Target, check_answer, chat_url, parse_target_arg  # noqa: E402

# What `wrk -t1 -c16 -d3s --latency` prints (wrk 4.1.0), with errors.
WRK_REPORT = """\
Running 3s test @ http://127.0.0.1:18801/v1/chat/completions
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   146.31us  151.78us   4.46ms   98.83%
    Req/Sec   100.66k     9.12k  109.36k    90.32%
  Latency Distribution
     50%  137.00us
     75%  154.00us
     90%  183.00us
     99%    1.27ms
  309631 requests in 3.10s, 204.04MB read
  Socket errors: connect 0, read 3, write 1, timeout 7
  Non-2xx or 3xx responses: 12
Requests/sec:  99911.59
Transfer/sec:     65.84MB
"""

HOOK_LINE = ('POLYBENCH {"requests":51251,"duration_us":2000000,"bytes":35414441,'
             '"errors":{"connect":1,"read":0,"write":0,"status":4,"timeout":2},'
             '"latency_us":{"min":14,"mean":67.06,"max":2940,"stdev":105.62,"p50":60,"p75":72,'
             '"p90":86,"p99":1500,"p999":2185}}')


def test_report_parser_reads_counts_units_and_errors():
    r = wrk.parse(WRK_REPORT)
    assert r.source == "report"
    assert r.requests == 309631
    assert r.duration_s == pytest.approx(3.10)
    assert r.rps == pytest.approx(99911.59)
    assert r.latency_ms["p50"] == pytest.approx(0.137)
    assert r.latency_ms["p99"] == pytest.approx(1.27)
    assert r.latency_ms["max"] == pytest.approx(4.46)
    assert r.errors == {"connect": 0, "read": 3, "write": 1, "timeout": 7, "status": 12}
    assert (r.socket_errors, r.non2xx, r.error_count) == (11, 12, 23)


def test_report_parser_without_error_lines_counts_zero():
    clean = "\n".join(line for line in WRK_REPORT.splitlines() if "errors" not in line and "Non-2xx" not in line)
    assert wrk.parse(clean).error_count == 0


@pytest.mark.parametrize("text, ms", [("39.82us", 0.03982), ("1.03ms", 1.03), ("2.00s", 2000.0), ("1.50m", 90000.0)])
def test_wrk_durations(text, ms):
    assert wrk.duration_ms(text) == pytest.approx(ms)


def test_hook_line_wins_over_the_report_and_gives_exact_numbers():
    r = wrk.parse(WRK_REPORT + HOOK_LINE + "\n")
    assert r.source == "done-hook"
    assert r.requests == 51251
    assert r.rps == pytest.approx(51251 / 2.0)
    assert r.latency_ms["p50"] == pytest.approx(0.060)
    assert r.latency_ms["p99"] == pytest.approx(1.5)
    assert (r.socket_errors, r.non2xx) == (3, 4)


def test_a_script_that_did_not_run_is_not_a_result():
    # wrk goes on with plain GETs when its Lua script fails to load.
    with pytest.raises(wrk.WrkParseError):
        wrk.parse(WRK_REPORT, require_hook=True)
    with pytest.raises(wrk.WrkParseError):
        wrk.parse("wrk: script error\n")


def test_post_script_embeds_body_and_headers_safely():
    body = wrk.request_body("bench-stream", stream=True)
    script = wrk.post_script(body, {"Authorization": "Bearer a]]b"})
    assert 'wrk.method = "POST"' in script
    assert json.dumps(body, separators=(",", ":")) in script
    assert "[=[Bearer a]]b]=]" in script  # a long-bracket level that the value cannot close
    assert "wrk.headers[ [[Authorization]] ]" in script  # not "[[[": Lua would not parse that
    assert body["stream_options"] == {"include_usage": True}
    assert "stream" not in wrk.request_body("bench-json", stream=False)


def _row(target, kind, conns, rps, p50, p99, errors=0, scenario="plain", rss=None):
    r = wrk.WrkResult(requests=int(rps * 10), duration_s=10.0, rps=rps, latency_ms={"p50": p50, "p99": p99},
                      errors={"status": errors})
    return report.make_row(target, scenario, kind, conns, r, rss_mb=rss)


ROWS = [
    _row("direct", "chat", 1, 20000, 0.05, 0.10), _row("direct", "chat", 16, 100000, 0.14, 0.33),
    _row("nginx-hop", "chat", 1, 10000, 0.09, 0.20), _row("nginx-hop", "chat", 16, 25000, 0.60, 1.00),
    _row("polyrelay", "chat", 1, 2000, 0.35, 1.10), _row("polyrelay", "chat", 16, 3000, 5.00, 9.00, rss=120.0),
    _row("litellm", "chat", 1, 100, 8.30, 20.0), _row("litellm", "chat", 16, 120, 130.0, 300.0),
    _row("polyrelay", "chat", 16, 2700, 5.50, 10.0, scenario="keys-sqlite"),
]


def test_ratios_divide_req_per_second_per_kind_and_connections():
    items = report.ratios(ROWS, ["polyrelay", "litellm"], ["litellm"])
    mine = {(i["target"], i["connections"]): i["vs"] for i in items}
    assert mine[("polyrelay", 16)]["direct"] == pytest.approx(0.03)
    assert mine[("polyrelay", 16)]["nginx-hop"] == pytest.approx(0.12)
    assert mine[("polyrelay", 16)]["litellm"] == pytest.approx(25.0)
    assert mine[("polyrelay", 1)]["litellm"] == pytest.approx(20.0)
    assert "litellm" not in mine[("litellm", 16)]  # others are compared to polyrelay, not to themselves
    assert mine[("litellm", 16)]["direct"] == pytest.approx(0.0012)


def test_keys_scenario_is_compared_with_the_plain_runs():
    items = report.ratios(ROWS, ["polyrelay"], [], scenario="keys-sqlite")
    assert len(items) == 1
    vs = items[0]["vs"]
    assert vs["polyrelay plain"] == pytest.approx(0.9)
    assert vs["direct"] == pytest.approx(0.027)  # the references only run plain


def test_ratio_is_none_when_a_side_is_missing_zero_or_mostly_errors():
    assert report.ratio(10, 0) is None
    assert report.ratio(None, 5) is None
    rows = [_row("polyrelay", "chat", 16, 3000, 1, 2), _row("direct", "chat", 16, 9000, 1, 2, errors=50000)]
    assert report.ratios(rows, ["polyrelay"], [])[0]["vs"]["direct"] is None
    assert report.ratios(rows, ["polyrelay"], [])[0]["vs"]["nginx-hop"] is None


def test_added_latency_is_gateway_minus_direct_at_one_connection():
    added = report.added_latency(ROWS, "polyrelay")
    assert added["chat"]["p50_ms"] == pytest.approx(0.30)
    assert added["chat"]["p99_ms"] == pytest.approx(1.00)
    assert "stream" not in added


def test_goal_checks_use_the_issue_targets():
    goals = {g["goal"]: g for g in report.goal_checks(ROWS, ["litellm"])}
    vs16 = goals["chat req/s @16: polyrelay >= 25x litellm"]
    assert vs16["value"] == pytest.approx(25.0) and vs16["ok"] is True
    assert goals["chat req/s @64: polyrelay >= 25x litellm"]["ok"] is None  # not measured
    p50 = next(g for name, g in goals.items() if name.startswith("added latency p50"))
    assert p50["ok"] is True  # 0.30 <= 0.3
    rss = next(g for name, g in goals.items() if "RSS" in name)
    assert rss["value"] == 120.0 and rss["ok"] is True
    keys = goals["chat req/s @16 keys-sqlite >= 80% of plain"]
    assert keys["value"] == pytest.approx(0.9) and keys["ok"] is True


def test_soak_summary_drift_and_spread():
    s = report.soak_summary([100.0, 104.0, 102.0, 108.0])
    assert (s["min_mb"], s["max_mb"], s["first_mb"], s["last_mb"]) == (100.0, 108.0, 100.0, 108.0)
    assert s["drift"] == pytest.approx(0.08)
    assert s["spread"] == pytest.approx(0.08)
    assert s["flat"] is True
    assert report.soak_summary([100.0, 130.0])["flat"] is False
    assert report.soak_summary([]) == {"samples": 0}


def test_formatting():
    assert report.fmt_rps(3123.4) == "3,123"
    assert report.fmt_ms(0.1234) == "0.123" and report.fmt_ms(12.34) == "12.3"
    assert report.fmt_ms(0.25, signed=True) == "+0.250"
    assert report.fmt_ratio(25.04) == "25.0x" and report.fmt_ratio(0.5) == "0.50x"
    assert report.fmt_ratio(0.0044) == "0.0044x" and report.fmt_ratio(None) == "-"
    table = report.results_table(ROWS[:2])
    assert "100,000" in table and table.splitlines()[0].startswith("target")


def test_py_spy_collapsed_stacks_to_hot_spots():
    raw = "\n".join([
        "main (polyrelay/gateway/cli.py:10);handle (/x/site-packages/polyrelay/api.py:91);"
        "send (/x/site-packages/httpx/_client.py:5) 6",
        "main (polyrelay/gateway/cli.py:10);handle (/x/site-packages/polyrelay/api.py:92) 3",
        "main (polyrelay/gateway/cli.py:10);dumps (/x/site-packages/orjson/__init__.py) 1",
    ])
    spots = profile.hot_spots(raw)
    assert spots["samples"] == 10
    assert spots["self"][0] == {"function": "send (httpx/_client.py)", "share": 0.6,
                                "hottest_line": "httpx/_client.py:5"}
    inclusive = {i["function"]: i["share"] for i in spots["inclusive"]}
    assert inclusive["handle (polyrelay/api.py)"] == pytest.approx(0.9)
    own = {i["site"]: i["share"] for i in spots["own_lines"]}
    assert own["polyrelay/api.py:91 handle"] == pytest.approx(0.6)
    assert own["polyrelay/api.py:92 handle"] == pytest.approx(0.3)
    packages = {i["package"]: i["share"] for i in spots["by_package"]}
    assert packages == {"httpx": 0.6, "polyrelay.api": 0.3, "orjson": 0.1}


def test_upstream_answers_are_valid_openai_answers():
    assert check_answer("chat", 200, upstream.json_body().encode()) is None
    assert check_answer("stream", 200, upstream.sse_body().encode()) is None
    events = [e for e in upstream.sse_body().split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    assert json.loads(events[-2][len("data: "):])["choices"] == []


def test_answer_checks_catch_what_wrk_cannot_see():
    assert check_answer("chat", 500, b'{"error": {}}').startswith("HTTP 500")
    assert check_answer("chat", 200, b"{}").startswith("not a chat.completion")
    no_usage = upstream.sse_body().replace('"choices":[],', '"choices":[{"index":0,"delta":{}}],')
    assert "include_usage" in check_answer("stream", 200, no_usage.encode())
    assert "[DONE]" in check_answer("stream", 200, b'data: {"choices": []}\n\n')
    # LiteLLM puts the usage on a chunk with an empty delta: wrong for us, fine for a compared target.
    litellm_style = upstream.sse_body().replace('"choices":[],', '"choices":[{"index":0,"delta":{}}],')
    assert check_answer("stream", 200, litellm_style.encode(), strict=False) is None


def test_nginx_config_strings_are_escaped():
    conf = upstream.upstream_conf("/w", upstream.Ports(18800))
    assert "listen 127.0.0.1:18801" in conf and "listen 127.0.0.1:18802" in conf
    assert "\\n\\ndata: [DONE]\\n\\n'" in conf  # SSE framing survives nginx's unescaping


def test_targets_are_loopback_only_and_urls_normalised():
    assert parse_target_arg("litellm=http://127.0.0.1:4000") == ("litellm", "http://127.0.0.1:4000")
    for bad in ("litellm", "x=https://127.0.0.1:1", "x=http://10.0.0.5:4000", "x=http://example.com"):
        with pytest.raises(ValueError):
            parse_target_arg(bad)
    assert chat_url("http://127.0.0.1:4000") == "http://127.0.0.1:4000/v1/chat/completions"
    assert chat_url("http://127.0.0.1:4000/v1/") == "http://127.0.0.1:4000/v1/chat/completions"
    assert chat_url("http://h:1/chat/completions") == "http://h:1/chat/completions"


def test_header_values_can_name_the_bench_upstream_per_kind():
    t = Target("portkey", "gateway", {}, headers={"x-portkey-custom-host": "{upstream}", "x-portkey-provider": "openai"},
               upstreams={"chat": "http://127.0.0.1:18801/v1", "stream": "http://127.0.0.1:18802/v1"})
    assert t.headers_for("chat")["x-portkey-custom-host"] == "http://127.0.0.1:18801/v1"
    assert t.headers_for("stream") == {"x-portkey-custom-host": "http://127.0.0.1:18802/v1",
                                       "x-portkey-provider": "openai"}


def test_half_new_script_repeats_every_other_body_and_varies_the_rest():
    from polybench import wrk as bench_wrk

    body = bench_wrk.request_body("bench-json", stream=False)
    script = bench_wrk.half_new_script(body)
    same = json.dumps(body, separators=(",", ":"))
    assert same in script  # the repeated request, byte for byte
    assert "i % 2 == 0" in script and 'head .. " #" .. run .. "-" .. i .. tail' in script
    head, tail = same.split(bench_wrk.MESSAGES[0]["content"], 1)
    assert head + bench_wrk.MESSAGES[0]["content"] in script and tail in script


def test_help_prints_every_option():
    """argparse formats help strings with %: a bare "100%" once made --help crash."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[2] / "bench" / "run.py"
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--scenario" in done.stdout and "100% hits" in done.stdout


def test_a_scenario_is_also_compared_by_cpu_per_request():
    plain = _row("polyrelay", "chat", 16, 3000, 5.0, 9.0)
    plain["cpu_percent"] = 90.0  # 300 µs a request
    callbacks = _row("polyrelay", "chat", 16, 1500, 9.0, 20.0, scenario="callbacks")
    callbacks["cpu_percent"] = 60.0  # 400 µs a request: 0.75 of plain's rate if CPU were the limit
    (item,) = report.ratios([plain, callbacks], ["polyrelay"], [], scenario="callbacks")
    assert item["vs"]["polyrelay plain"] == pytest.approx(0.5)
    assert item["vs"]["polyrelay plain, CPU/req"] == pytest.approx(0.75)
    plain["cpu_percent"] = None  # not measured (a target whose process was not found): no ratio
    (item,) = report.ratios([plain, callbacks], ["polyrelay"], [], scenario="callbacks")
    assert item["vs"]["polyrelay plain, CPU/req"] is None


def test_rounds_pair_each_scenario_run_with_the_plain_run_of_its_round():
    def measured(scenario, rps, number, errors=0):
        row = _row("polyrelay", "chat", 16, rps, 5.0, 9.0, scenario=scenario, errors=errors)
        row["round"] = number
        return row

    rows = [measured("plain", 4000, 1), measured("callbacks", 3400, 1),
            measured("callbacks", 2000, 2), measured("plain", 2500, 2),  # the machine slowed: both did
            measured("plain", 4000, 3), measured("callbacks", 3000, 3),
            measured("plain", 4000, 4), measured("callbacks", 3900, 4, errors=100_000)]  # failed: no ratio
    (item,) = report.paired_ratios(rows)
    assert item["scenario"] == "callbacks" and item["connections"] == 16
    assert item["rounds"] == [pytest.approx(0.85), pytest.approx(0.8), pytest.approx(0.75), None]
    assert item["median"] == pytest.approx(0.8) and item["lowest"] == pytest.approx(0.75)
    assert report.paired_ratios(rows[:2] + [measured("plain", 4000, 2)])[0]["median"] == pytest.approx(0.85)
    assert report.paired_ratios([r for r in rows if r["scenario"] == "plain"]) == []
    table = report.paired_table([item])
    assert "0.85x 0.80x 0.75x -" in table and "0.80x" in table.splitlines()[-1]
    unpaired = [dict(r, round=None) for r in rows]  # one run each, no --rounds: nothing to pair
    assert report.paired_ratios(unpaired) == []
