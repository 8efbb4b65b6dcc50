"""py-spy's collapsed stacks (``py-spy record --format raw``) -> hot spots.

py-spy is not a project dependency: install it anywhere (e.g. a venv in
/tmp) and pass ``--py-spy PATH`` to bench/run.py, or have it on PATH.
A raw line is ``frame;frame;...;leaf COUNT``, root first, each frame
``function (file:line)``; bench/run.py records with ``--gil`` (only the thread
holding the GIL is sampled: an idle thread-pool worker blocked in a queue
would otherwise show up as busy), so the counts are where the Python
interpreter's time went.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>[0-9]+))?\)$")


def split_frame(frame: str) -> tuple[str, str, int | None]:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip(), "", None
    return m.group("func"), m.group("file"), int(m.group("line")) if m.group("line") else None


def short_path(path: str) -> str:
    for marker in ("/site-packages/", "/src/", "/lib/python3"):
        i = path.rfind(marker)
        if i >= 0:
            rest = path[i + len(marker):]
            return rest.split("/", 1)[1] if marker == "/lib/python3" and "/" in rest else rest
    return path


def package_of(path: str) -> str:
    """"httpcore/_async/http11.py" -> "httpcore"; our own code by module
    ("polyrelay/gateway/routes/llm.py" -> "polyrelay.gateway", "polyrelay/api.py"
    -> "polyrelay.api"); the
    standard library's modules by name ("asyncio/tasks.py" -> "asyncio")."""
    parts = path.split("/")
    if parts[0] == "polyrelay" and len(parts) > 1:
        return "polyrelay." + parts[1].removesuffix(".py")
    head = parts[0]
    return head[:-3] if head.endswith(".py") else head


def parse_collapsed(text: str) -> list[tuple[list[str], int]]:
    stacks = []
    for line in text.splitlines():
        line = line.rstrip()
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if f]
        # py-spy puts "process PID" / "thread (...)" pseudo-frames first with some flags.
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        stacks.append((frames, int(count)))
    return stacks


def hot_spots(text: str, top: int = 20, own_prefix: str = "polyrelay/") -> dict:
    """Self time per function (with its hottest line), inclusive time per
    function, and inclusive time per line of our own code (``own_prefix``:
    the call sites to look at), as fractions of all samples."""
    stacks = parse_collapsed(text)
    total = sum(c for _, c in stacks)
    self_by_func: Counter = Counter()
    self_lines: dict[str, Counter] = defaultdict(Counter)
    inclusive: Counter = Counter()
    own_lines: Counter = Counter()
    by_package: Counter = Counter()
    for frames, count in stacks:
        if not frames:
            continue
        func, file, line = split_frame(frames[-1])
        key = f"{func} ({short_path(file)})"
        self_by_func[key] += count
        by_package[package_of(short_path(file))] += count
        self_lines[key][f"{short_path(file)}:{line}" if line else short_path(file)] += count
        seen, seen_lines = set(), set()
        for frame in frames:
            f, fl, ln = split_frame(frame)
            path = short_path(fl)
            k = f"{f} ({path})"
            if k not in seen:
                seen.add(k)
                inclusive[k] += count
            if path.startswith(own_prefix) and not path.endswith("cli.py"):
                site = f"{path}:{ln} {f}"
                if site not in seen_lines:
                    seen_lines.add(site)
                    own_lines[site] += count
    def frac(c: int) -> float:
        return c / total if total else 0.0
    return {
        "samples": total,
        "self": [{"function": k, "share": frac(c), "hottest_line": self_lines[k].most_common(1)[0][0]}
                 for k, c in self_by_func.most_common(top)],
        "inclusive": [{"function": k, "share": frac(c)} for k, c in inclusive.most_common(top)],
        "own_lines": [{"site": k, "share": frac(c)} for k, c in own_lines.most_common(top)],
        "by_package": [{"package": k, "share": frac(c)} for k, c in by_package.most_common(top)],
    }


def format_hot_spots(spots: dict, top: int = 20) -> str:
    lines = [f"  {spots['samples']} samples (thread holding the GIL only)", "", "  self time by package:"]
    for item in spots.get("by_package", [])[:12]:
        lines.append(f"    {item['share']:6.1%}  {item['package']}")
    lines += ["", "  self time (where the CPU is):"]
    for item in spots["self"][:top]:
        lines.append(f"    {item['share']:6.1%}  {item['function']}  [{item['hottest_line']}]")
    lines += ["", "  inclusive time (function and what it calls):"]
    for item in spots["inclusive"][:top]:
        lines.append(f"    {item['share']:6.1%}  {item['function']}")
    lines += ["", "  our code, inclusive, by line (the call sites to look at):"]
    for item in spots.get("own_lines", [])[:top]:
        lines.append(f"    {item['share']:6.1%}  {item['site']}")
    return "\n".join(lines)
