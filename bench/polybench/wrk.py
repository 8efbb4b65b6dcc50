"""wrk: the Lua scripts that make it POST chat requests, and the parser for
what it prints.

The scripts end with a ``done()`` hook that prints one machine-readable line
(``POLYBENCH {...}``: exact request count, duration, error counts and the
latency percentiles in microseconds). The parser prefers that line and
falls back to wrk's human-readable report (for output saved from a plain
``wrk --latency`` run), so both are covered by tests.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

MARKER = "POLYBENCH "

# What the benchmark asks: short prompt, short answer, as a chat client would.
MESSAGES = [{"role": "user", "content": "Say hello in one short sentence."}]


def request_body(model: str, stream: bool) -> dict:
    body: dict = {"model": model, "messages": MESSAGES, "max_tokens": 32}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _lua_long_string(text: str) -> str:
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


_DONE_HOOK = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.2f,"max":%d,"stdev":%.2f,"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p999":%d}}\\n',
    MARKER, summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max, latency.stdev,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
"""


def _headers_lua(headers: dict[str, str]) -> str:
    lines = ['wrk.headers["Content-Type"] = "application/json"']
    for name, value in headers.items():
        lines.append(f"wrk.headers[ {_lua_long_string(name)} ] = {_lua_long_string(value)}")
    return "\n".join(lines)


def post_script(body: dict, headers: dict[str, str] | None = None) -> str:
    """Every request the same POST: wrk's fast path (no per-request Lua)."""
    return "\n".join([
        f"MARKER = {_lua_long_string(MARKER)}",
        'wrk.method = "POST"',
        f"wrk.body = {_lua_long_string(json.dumps(body, separators=(',', ':')))}",
        _headers_lua(headers or {}),
        _DONE_HOOK,
    ])


def mixed_script(bodies: list[dict], headers: dict[str, str] | None = None) -> str:
    """Cycle through several bodies on one URL (the soak: chat and stream
    alternately to the same gateway). Costs wrk a Lua call per request."""
    items = ",\n  ".join(_lua_long_string(json.dumps(b, separators=(",", ":"))) for b in bodies)
    return "\n".join([
        f"MARKER = {_lua_long_string(MARKER)}",
        'wrk.method = "POST"',
        _headers_lua(headers or {}),
        f"local bodies = {{\n  {items}\n}}",
        "local i = 0",
        "function request()",
        "  i = i % #bodies + 1",
        "  return wrk.format(nil, nil, nil, bodies[i])",
        "end",
        _DONE_HOOK,
    ])


def half_new_script(body: dict, headers: dict[str, str] | None = None) -> str:
    """Every other request the same body, the others a prompt never asked
    before (a per-run random id and a counter): a cache sees 50% hits."""
    text = json.dumps(body, separators=(",", ":"))
    marker = MESSAGES[0]["content"]
    head, tail = text.split(marker, 1)
    return "\n".join([
        f"MARKER = {_lua_long_string(MARKER)}",
        'wrk.method = "POST"',
        _headers_lua(headers or {}),
        f"local same = {_lua_long_string(text)}",
        f"local head = {_lua_long_string(head + marker)}",
        f"local tail = {_lua_long_string(tail)}",
        "math.randomseed(os.time() + os.clock() * 1000000)",
        "local run = tostring(math.random(1, 2000000000))",
        "local i = 0",
        "function request()",
        "  i = i + 1",
        "  if i % 2 == 0 then return wrk.format(nil, nil, nil, same) end",
        '  return wrk.format(nil, nil, nil, head .. " #" .. run .. "-" .. i .. tail)',
        "end",
        _DONE_HOOK,
    ])


@dataclass
class WrkResult:
    requests: int = 0
    duration_s: float = 0.0
    rps: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)  # p50, p75, p90, p99 (+ mean, max)
    errors: dict[str, int] = field(default_factory=dict)  # connect, read, write, timeout, status (non-2xx/3xx)
    source: str = "done-hook"

    @property
    def socket_errors(self) -> int:
        return sum(self.errors.get(k, 0) for k in ("connect", "read", "write", "timeout"))

    @property
    def non2xx(self) -> int:
        return self.errors.get("status", 0)

    @property
    def error_count(self) -> int:
        return self.socket_errors + self.non2xx

    def to_dict(self) -> dict:
        d = asdict(self)
        d["error_count"] = self.error_count
        return d


class WrkParseError(ValueError):
    pass


def parse(output: str, require_hook: bool = False) -> WrkResult:
    """wrk's stdout -> WrkResult. Raises WrkParseError if neither the
    done-hook line nor a wrk report is there. ``require_hook``: wrk runs on
    (as plain GETs!) when its Lua script fails to load, so a run driven by
    our script must have the hook's line to count."""
    for line in output.splitlines():
        if line.startswith(MARKER):
            return _from_hook(json.loads(line[len(MARKER):]))
    if require_hook:
        raise WrkParseError("wrk printed no POLYBENCH line: its Lua script did not run (see its stderr)")
    return _from_report(output)


def _from_hook(data: dict) -> WrkResult:
    duration_s = data["duration_us"] / 1e6
    lat = data["latency_us"]
    latency_ms = {k: lat[k] / 1000.0 for k in ("p50", "p75", "p90", "p99", "p999", "mean", "max") if k in lat}
    return WrkResult(requests=data["requests"], duration_s=duration_s,
                     rps=data["requests"] / duration_s if duration_s > 0 else 0.0,
                     latency_ms=latency_ms, errors=dict(data["errors"]), source="done-hook")


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_NUM_UNIT = r"([0-9]+(?:\.[0-9]+)?)(us|ms|s|m|h)"


def duration_ms(text: str) -> float:
    """wrk's time format ("39.82us", "1.03ms", "2.00s", "1.50m") -> milliseconds."""
    m = re.fullmatch(_NUM_UNIT, text.strip())
    if not m:
        raise WrkParseError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * _UNIT_MS[m.group(2)]


def _from_report(output: str) -> WrkResult:
    m = re.search(r"^\s*([0-9]+) requests in " + _NUM_UNIT, output, re.M)
    rps = re.search(r"^Requests/sec:\s*([0-9]+(?:\.[0-9]+)?)", output, re.M)
    if not m or not rps:
        raise WrkParseError("no wrk summary in the output:\n" + output[-2000:])
    requests = int(m.group(1))
    duration_s = duration_ms(m.group(2) + m.group(3)) / 1000.0
    latency_ms: dict[str, float] = {}
    for pct, value in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", output, re.M):
        latency_ms[f"p{pct}"] = duration_ms(value)
    stats = re.search(r"^\s+Latency\s+(\S+)\s+(\S+)\s+(\S+)", output, re.M)
    if stats:
        latency_ms["mean"] = duration_ms(stats.group(1))
        latency_ms["max"] = duration_ms(stats.group(3))
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0}
    sock = re.search(r"Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)", output)
    if sock:
        errors.update(zip(("connect", "read", "write", "timeout"), map(int, sock.groups())))
    non2xx = re.search(r"Non-2xx or 3xx responses: ([0-9]+)", output)
    if non2xx:
        errors["status"] = int(non2xx.group(1))
    return WrkResult(requests=requests, duration_s=duration_s, rps=float(rps.group(1)), latency_ms=latency_ms,
                     errors=errors, source="report")
