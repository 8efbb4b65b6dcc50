"""Fresh prices from a LiteLLM-format price map: a command and a start-up option.

- ``polyrelay catalog update --from FILE_OR_URL [--to DIR]`` merges the map
  into the catalogue files (by default the shipped ones) with
  ``importer.merge``'s rules and prints what changed: for a deployment that
  pins its prices in files it reviews.
- ``POLYRELAY_MODEL_COST_MAP_URL`` (LiteLLM's ``LITELLM_MODEL_COST_MAP_URL``)
  is fetched once when the catalogue is first read and merged over the
  shipped figures, field by field. Unset (the default) nothing is fetched and
  the shipped snapshot is used; a fetch that fails or answers garbage is
  logged and the shipped snapshot stays, so a price server being down never
  stops calls.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import sys
import urllib.request
from pathlib import Path
from typing import Any

from . import importer

URL_ENV_VAR = "POLYRELAY_MODEL_COST_MAP_URL"
FETCH_TIMEOUT_S = 10.0
MAX_MAP_BYTES = 64 * 1024 * 1024  # LiteLLM's map is ~1.5 MB; anything this big is not a price map
CATALOG_DIR = Path(__file__).resolve().parent
logger = logging.getLogger("polyrelay")


def read_map(source: str, timeout: float = FETCH_TIMEOUT_S) -> dict[str, Any]:
    """A price map from a file path or an http(s) URL."""
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=timeout) as reply:  # noqa: S310 (an operator-given URL)
            raw = reply.read(MAX_MAP_BYTES + 1)
        if len(raw) > MAX_MAP_BYTES:
            raise ValueError(f"{source}: more than {MAX_MAP_BYTES} bytes; not a price map")
    else:
        raw = Path(source).read_bytes()
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError(f"{source}: a price map is a JSON object of model name -> fields")
    return data


def checked(data: dict[str, Any]) -> dict[str, Any]:
    """The map without the fields ``importer.problems`` refuses (a negative or
    non-numeric price, a cache read above input, ...): bad data never prices a call."""
    out: dict[str, Any] = {}
    for key, fields in data.items():
        if isinstance(fields, dict):
            bad = {name for name, _ in importer.problems(key, fields)}
            fields = {k: v for k, v in fields.items() if k not in bad} if bad else fields
        out[key] = fields
    return out


def update(source: str, directory: Path = CATALOG_DIR, label: str | None = None) -> list[str]:
    """Merge the map at ``source`` into the catalogue files in ``directory``; the report lines."""
    label = label or source
    litellm = read_map(source)
    files = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.json"))}
    today = datetime.date.today().isoformat()
    note = (f"Models and fields not listed by the sources above, and prices that differed from them, from {label} "
            f"(LiteLLM's model_prices_and_context_window.json format; an entry's own 'source' names its vendor "
            f"page), imported {today} by polyrelay catalog update")
    report = importer.merge(litellm, files, note)
    for name, data in files.items():
        data.setdefault("_source", f"{label}, which records each vendor's published prices; an entry's own "
                                   "'source' names its vendor page where it gives one")
        data.setdefault("_as_of", today)
        data.setdefault("_capabilities_source", f"context windows and supports_* flags from {label}")
        ordered = {k: data[k] for k in data if k.startswith("_")} | {k: v for k, v in data.items()
                                                                      if not k.startswith("_")}
        (directory / f"{name}.json").write_text(json.dumps(ordered, indent=2) + "\n", encoding="utf-8")
    return report


def command(argv: list[str]) -> int:
    """``polyrelay catalog update --from FILE_OR_URL [--to DIR] [--label TEXT]``."""
    parser = argparse.ArgumentParser(prog="polyrelay catalog", description="Refresh the model catalogue.")
    sub = parser.add_subparsers(dest="action", required=True)
    up = sub.add_parser("update", help="merge a LiteLLM-format price map into the catalogue files")
    up.add_argument("--from", dest="source", required=True, help="a price map file or http(s) URL")
    up.add_argument("--to", dest="directory", default=str(CATALOG_DIR),
                    help="the folder of catalogue files to update (default: the shipped ones)")
    up.add_argument("--label", default=None, help="how the files' _source names the map (default: its path)")
    args = parser.parse_args(argv)
    try:
        report = update(args.source, Path(args.directory), args.label)
    except (OSError, ValueError) as exc:
        print(f"polyrelay catalog update: {exc}", file=sys.stderr)
        return 1
    print("\n".join(report))
    counts = {word: sum(line.startswith(word) for line in report) for word in ("added", "changed", "left out")}
    print(", ".join(f"{n} {word}" for word, n in counts.items()), file=sys.stderr)
    return 0
