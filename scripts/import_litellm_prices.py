"""Refresh the shipped catalogue from LiteLLM's price map and print what changed.

    python scripts/import_litellm_prices.py model_prices_and_context_window.json "BerriAI/litellm 1.110.2"

The file is LiteLLM's ``model_prices_and_context_window.json`` (in its
repository, or bundled in its wheel as ``model_prices_and_context_window_backup.json``).
The rules are in ``polyrelay/catalog/importer.py``; review the report and the
git diff before committing.
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

from polyrelay.catalog import importer

CATALOG_DIR = Path(__file__).resolve().parent.parent / "src" / "polyrelay" / "catalog"


def main(path: str, label: str) -> None:
    litellm = json.loads(Path(path).read_text(encoding="utf-8"))
    files = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(CATALOG_DIR.glob("*.json"))}
    note = (f"Models and fields not listed by the sources above, and prices that differed from them, from {label}'s "
            f"model_prices_and_context_window.json (each entry's own 'source' names its vendor page), imported "
            f"{datetime.date.today().isoformat()} by scripts/import_litellm_prices.py")
    report = importer.merge(litellm, files, note)
    for name, data in files.items():
        data.setdefault("_source", f"{label}'s https://github.com/BerriAI/litellm/blob/main/"
                                   "model_prices_and_context_window.json, which records each vendor's published "
                                   "prices; an entry's own 'source' names its vendor page where LiteLLM gives one")
        data.setdefault("_as_of", datetime.date.today().isoformat())
        data.setdefault("_capabilities_source", f"context windows and supports_* flags from {label}'s price map")
        ordered = {k: data[k] for k in data if k.startswith("_")} | {k: v for k, v in data.items()
                                                                      if not k.startswith("_")}
        (CATALOG_DIR / f"{name}.json").write_text(json.dumps(ordered, indent=2) + "\n", encoding="utf-8")
    print("\n".join(report))
    print(f"{sum(line.startswith('added') for line in report)} added, "
          f"{sum(line.startswith('changed') for line in report)} changed, "
          f"{sum(line.startswith('left out') for line in report)} left out", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "BerriAI/litellm")
