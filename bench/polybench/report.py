"""Rows, ratios and the printed table.

A row is one wrk run: target x scenario x kind x connections, as a plain
dict (it goes into the JSON results unchanged). The arithmetic here is pure
and tested (tests/bench/test_bench_parsing.py); nothing in it times anything.
"""

from __future__ import annotations

from typing import Iterable

REFERENCES = ("direct", "nginx-hop")
SUBJECT = "polyrelay"

# Issue 8's targets, checked where this run measured what they need.
GOAL_RPS_VS_LITELLM = 25.0
GOAL_RPS_VS_PORTKEY = 3.0
GOAL_ADDED_P50_MS = 0.3
GOAL_ADDED_P99_MS = 2.0
GOAL_RSS_MB = 150.0
GOAL_KEYS_FRACTION = 0.8


def make_row(target: str, scenario: str, kind: str, connections: int, result=None, cpu_percent=None,
             rss_mb=None, note: str | None = None) -> dict:
    row = {"target": target, "scenario": scenario, "kind": kind, "connections": connections,
           "rps": None, "p50_ms": None, "p99_ms": None, "errors": None, "non2xx": None, "socket_errors": None,
           "requests": None, "cpu_percent": cpu_percent, "rss_mb": rss_mb, "note": note}
    if result is not None:
        row.update(rps=result.rps, p50_ms=result.latency_ms.get("p50"), p99_ms=result.latency_ms.get("p99"),
                   errors=result.error_count, non2xx=result.non2xx, socket_errors=result.socket_errors,
                   requests=result.requests, wrk=result.to_dict())
    return row


def find(rows: Iterable[dict], target: str, kind: str, connections: int, scenario: str = "plain") -> dict | None:
    for row in rows:
        if (row["target"], row["kind"], row["connections"], row["scenario"]) == (target, kind, connections, scenario):
            return row
    return None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def difference(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    return a - b


def _usable(row: dict | None) -> bool:
    """A row counts for ratios only if it measured something and most of it
    was answered: a target failing every request is not "fast"."""
    if row is None or row.get("rps") is None or not row.get("requests"):
        return False
    return (row.get("errors") or 0) <= 0.01 * row["requests"]


def _cpu_per_request(row: dict | None) -> float | None:
    """Seconds of CPU (the target's process tree) per answered request."""
    if not _usable(row) or not row.get("cpu_percent") or not row.get("rps"):
        return None
    return row["cpu_percent"] / 100 / row["rps"]


def ratios(rows: list[dict], subjects: list[str], others: list[str], scenario: str = "plain") -> list[dict]:
    """For each subject (a gateway) and each kind x connections: its req/s
    divided by each reference's (direct, nginx-hop: always the plain runs)
    and, for polyrelay, by each other target's ("polyrelay is N x LiteLLM");
    for a scenario other than plain, also by the subject's own plain figure."""
    out = []
    combos = sorted({(r["kind"], r["connections"]) for r in rows if r["scenario"] == scenario},
                    key=lambda kc: (kc[0] != "chat", kc[1]))
    for subject in subjects:
        for kind, conns in combos:
            row = find(rows, subject, kind, conns, scenario)
            if row is None:
                continue
            vs = {}
            compared = [(ref, ref, "plain") for ref in list(REFERENCES) + (others if subject == SUBJECT else [])]
            if scenario != "plain":
                compared.append((f"{subject} plain", subject, "plain"))
            for label, ref, ref_scenario in compared:
                if ref == subject and ref_scenario == scenario:
                    continue
                other = find(rows, ref, kind, conns, ref_scenario)
                ok = _usable(row) and _usable(other)
                vs[label] = ratio(row["rps"], other["rps"]) if ok else None
            if scenario != "plain":
                # CPU per request, plain's ÷ this one's: the ratio the scenario would show if the
                # target's own CPU were the only limit. On a shared machine, where the req/s of
                # both runs moves with other work, this one moves far less.
                plain = find(rows, subject, kind, conns, "plain")
                mine, theirs = _cpu_per_request(row), _cpu_per_request(plain)
                vs[f"{subject} plain, CPU/req"] = ratio(theirs, mine) if mine and theirs else None
            out.append({"target": subject, "scenario": scenario, "kind": kind, "connections": conns,
                        "rps": row["rps"], "vs": vs})
    return out


def paired_ratios(rows: list[dict], subject: str = SUBJECT) -> list[dict]:
    """For runs measured in rounds (``--rounds``: the subject's plain run and each scenario's
    run of one kind x connections, one right after the other): each round's scenario ÷ plain,
    and their median and lowest. A ratio of two runs taken seconds apart moves far less with
    the machine's speed than one of runs taken minutes apart."""
    out = []
    cells = dict.fromkeys((r["scenario"], r["kind"], r["connections"]) for r in rows
                          if r["target"] == subject and r["scenario"] != "plain" and r.get("round"))
    for scenario, kind, conns in cells:
        per_round = []
        for row in rows:
            if (row["target"], row["scenario"], row["kind"], row["connections"]) != (subject, scenario, kind, conns):
                continue
            plain = next((p for p in rows if (p["target"], p["scenario"], p["kind"], p["connections"], p.get("round"))
                          == (subject, "plain", kind, conns, row.get("round"))), None)
            ok = _usable(row) and _usable(plain)
            per_round.append(ratio(row["rps"], plain["rps"]) if ok else None)
        measured = sorted(v for v in per_round if v is not None)
        out.append({"target": subject, "scenario": scenario, "kind": kind, "connections": conns,
                    "rounds": per_round, "median": _median(measured), "lowest": measured[0] if measured else None})
    return out


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def added_latency(rows: list[dict], subject: str, baseline: str = "direct", connections: int = 1,
                  scenario: str = "plain") -> dict[str, dict[str, float | None]]:
    """Latency the subject adds over the baseline, per kind, at ``connections``."""
    out = {}
    for kind in ("chat", "stream"):
        row, base = find(rows, subject, kind, connections, scenario), find(rows, baseline, kind, connections, scenario)
        if row is None or base is None:
            continue
        out[kind] = {"p50_ms": difference(row["p50_ms"], base["p50_ms"]),
                     "p99_ms": difference(row["p99_ms"], base["p99_ms"])}
    return out


def goal_checks(rows: list[dict], others: list[str]) -> list[dict]:
    """Issue 8's targets that this run can judge: each as {goal, value, ok}."""
    checks = []

    def check(goal: str, value: float | None, ok: bool | None, unit: str = "") -> None:
        checks.append({"goal": goal, "value": value, "unit": unit, "ok": ok})

    for other, factor in [(o, GOAL_RPS_VS_LITELLM) for o in others if "litellm" in o.lower()] + \
                         [(o, GOAL_RPS_VS_PORTKEY) for o in others if "portkey" in o.lower()]:
        wanted = [("chat", 16), ("chat", 64)] + ([("stream", 64)] if factor == GOAL_RPS_VS_LITELLM else [])
        for kind, conns in wanted:
            mine, theirs = find(rows, SUBJECT, kind, conns), find(rows, other, kind, conns)
            value = ratio(mine["rps"], theirs["rps"]) if _usable(mine) and _usable(theirs) else None
            check(f"{kind} req/s @{conns}: polyrelay >= {factor:g}x {other}", value,
                  None if value is None else value >= factor, "x")
    added = added_latency(rows, SUBJECT).get("chat", {})
    for key, limit in (("p50_ms", GOAL_ADDED_P50_MS), ("p99_ms", GOAL_ADDED_P99_MS)):
        value = added.get(key)
        check(f"added latency {key[:3]} @1 (chat, polyrelay - direct) <= {limit:g} ms", value,
              None if value is None else value <= limit, "ms")
    rss = [r["rss_mb"] for r in rows
           if r["target"] == SUBJECT and r["scenario"] == "plain" and r.get("rss_mb") is not None]
    if rss:
        check(f"polyrelay RSS after the runs <= {GOAL_RSS_MB:g} MB", rss[-1], rss[-1] <= GOAL_RSS_MB, "MB")
    key_scenarios = list(dict.fromkeys(r["scenario"] for r in rows if r["scenario"].startswith("keys")))
    for scenario in key_scenarios:
        for kind, conns in (("chat", 16), ("chat", 64)):
            plain, keys = find(rows, SUBJECT, kind, conns, "plain"), find(rows, SUBJECT, kind, conns, scenario)
            if plain is not None and keys is not None:
                value = ratio(keys["rps"], plain["rps"]) if _usable(plain) and _usable(keys) else None
                check(f"{kind} req/s @{conns} {scenario} >= {GOAL_KEYS_FRACTION:.0%} of plain", value,
                      None if value is None else value >= GOAL_KEYS_FRACTION, "x")
    return checks


def soak_summary(samples_mb: list[float]) -> dict:
    """min / max / first / last of RSS samples, drift = (last - first) / first,
    spread = (max - min) / min; ``flat`` is issue 8's ±10%."""
    if not samples_mb:
        return {"samples": 0}
    first, last, low, high = samples_mb[0], samples_mb[-1], min(samples_mb), max(samples_mb)
    drift = (last - first) / first if first else None
    spread = (high - low) / low if low else None
    return {"samples": len(samples_mb), "first_mb": first, "last_mb": last, "min_mb": low, "max_mb": high,
            "drift": drift, "spread": spread,
            "flat": None if drift is None or spread is None else abs(drift) <= 0.10 and spread <= 0.10}


# --- formatting ------------------------------------------------------------


def fmt_rps(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def fmt_ms(v: float | None, signed: bool = False) -> str:
    if v is None:
        return "-"
    sign = "+" if signed else ""
    return f"{v:{sign}.3f}" if abs(v) < 10 else f"{v:{sign}.1f}"


def fmt_ratio(v: float | None) -> str:
    if v is None:
        return "-"
    if v >= 10:
        return f"{v:.1f}x"
    return f"{v:.2f}x" if v >= 0.1 else f"{v:.2g}x"


def fmt_opt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def table(headers: list[str], body: list[list[str]], right: set[int] | None = None) -> str:
    right = right if right is not None else set(range(1, len(headers)))
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *body)] if body else [len(h) for h in headers]
    def line(cells):
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in body])


def results_table(rows: list[dict]) -> str:
    headers = ["target", "scenario", "kind", "conns", "req/s", "p50 ms", "p99 ms", "errors", "CPU %", "RSS MB", "note"]
    body = [[r["target"], r["scenario"], r["kind"], str(r["connections"]), fmt_rps(r["rps"]), fmt_ms(r["p50_ms"]),
             fmt_ms(r["p99_ms"]), "-" if r["errors"] is None else f"{r['errors']:,}",
             fmt_opt(r.get("cpu_percent"), ".0f"), fmt_opt(r.get("rss_mb"), ".1f"), r.get("note") or ""]
            for r in rows]
    return table(headers, body, right={3, 4, 5, 6, 7, 8, 9})


def ratios_table(items: list[dict]) -> str:
    refs: list[str] = []
    for item in items:
        refs += [k for k in item["vs"] if k not in refs]
    headers = ["target", "scenario", "kind", "conns", "req/s"] + [f"÷ {r}" for r in refs]
    body = [[i["target"], i["scenario"], i["kind"], str(i["connections"]), fmt_rps(i["rps"])] +
            [fmt_ratio(i["vs"].get(r)) if r in i["vs"] else "" for r in refs] for i in items]
    return table(headers, body, right=set(range(3, len(headers))))


def paired_table(items: list[dict]) -> str:
    headers = ["target", "scenario", "kind", "conns", "÷ plain, each round", "median", "lowest"]
    body = [[i["target"], i["scenario"], i["kind"], str(i["connections"]),
             " ".join(fmt_ratio(v) for v in i["rounds"]), fmt_ratio(i["median"]), fmt_ratio(i["lowest"])]
            for i in items]
    return table(headers, body, right={3, 5, 6})
