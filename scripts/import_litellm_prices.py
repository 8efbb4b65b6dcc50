"""Refresh the shipped catalogue from LiteLLM's price map and print what changed.

    python scripts/import_litellm_prices.py model_prices_and_context_window.json "BerriAI/litellm 1.110.2"

The same as ``polyrelay catalog update --from FILE --label LABEL``. The file
is LiteLLM's ``model_prices_and_context_window.json`` (in its repository, or
bundled in its wheel as ``model_prices_and_context_window_backup.json``).
The rules are in ``polyrelay/catalog/importer.py``; review the report and the
git diff before committing.
"""

from __future__ import annotations

import sys
from pathlib import Path

from polyrelay.catalog import refresh

CATALOG_DIR = Path(__file__).resolve().parent.parent / "src" / "polyrelay" / "catalog"

if __name__ == "__main__":
    label = sys.argv[2] if len(sys.argv) > 2 else "BerriAI/litellm"
    sys.exit(refresh.command(["update", "--from", sys.argv[1], "--to", str(CATALOG_DIR),
                              "--label", f"{label}'s https://github.com/BerriAI/litellm/blob/main/"
                                         "model_prices_and_context_window.json"]))
