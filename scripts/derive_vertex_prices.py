"""Write src/polyrelay/catalog/vertex_ai.json: Vertex AI's prices for the models vertex_ai/ serves.

Google's Vertex AI price list (https://cloud.google.com/vertex-ai/generative-ai/pricing)
charges Claude at Anthropic's list prices (global endpoint) and the Gemini 2.5
family at the Gemini API's paid-tier prices, so those entries are copied from
our anthropic.json and gemini.json (context windows and supports_* flags too)
under Vertex's model ids. Gemini 2.0 Flash and Flash-Lite cost more on Vertex
than on the Gemini API: their figures are Vertex's own, written below.
Run: python scripts/derive_vertex_prices.py (then review the diff).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CATALOG = Path(__file__).resolve().parent.parent / "src" / "polyrelay" / "catalog"
AS_OF = "2026-12-03"

# Vertex model id -> the catalogue entry with the same list price.
COPIED = {
    "claude-3-haiku@20240307": "anthropic/claude-3-haiku-20240307",
    "claude-3-5-haiku@20241022": "anthropic/claude-3-5-haiku-20241022",
    "claude-3-5-sonnet@20240620": "anthropic/claude-3-5-sonnet-20240620",
    "claude-3-5-sonnet-v2@20241022": "anthropic/claude-3-5-sonnet-20241022",
    "claude-3-7-sonnet@20250219": "anthropic/claude-3-7-sonnet-20250219",
    "claude-sonnet-4@20250514": "anthropic/claude-sonnet-4-20250514",
    "claude-opus-4@20250514": "anthropic/claude-opus-4-20250514",
    "claude-opus-4-1@20250805": "anthropic/claude-opus-4-1-20250805",
    "claude-sonnet-4-5@20250929": "anthropic/claude-sonnet-4-5-20250929",
    "claude-haiku-4-5@20251001": "anthropic/claude-haiku-4-5-20251001",
    "claude-opus-4-5@20251101": "anthropic/claude-opus-4-5-20251101",
    "claude-sonnet-4-6": "anthropic/claude-sonnet-4-6",
    "claude-opus-4-6": "anthropic/claude-opus-4-6",
    "gemini-2.5-pro": "gemini/gemini-2.5-pro",
    "gemini-2.5-flash": "gemini/gemini-2.5-flash",
    "gemini-2.5-flash-lite": "gemini/gemini-2.5-flash-lite",
    "gemini-embedding-001": "gemini/gemini-embedding-001",
}
# Undated names Vertex also accepts for the models above.
ALIASES = {
    "claude-sonnet-4": "claude-sonnet-4@20250514",
    "claude-opus-4-1": "claude-opus-4-1@20250805",
    "claude-sonnet-4-5": "claude-sonnet-4-5@20250929",
    "claude-haiku-4-5": "claude-haiku-4-5@20251001",
    "claude-opus-4-5": "claude-opus-4-5@20251101",
}
# Vertex's own per-token prices (USD per token) where they differ from the Gemini API's.
OWN = {
    "gemini-2.0-flash": {"input_cost_per_token": 1.5e-07, "output_cost_per_token": 6e-07,
                         "cache_read_input_token_cost": 3.75e-08},
    "gemini-2.0-flash-lite": {"input_cost_per_token": 7.5e-08, "output_cost_per_token": 3e-07,
                              "cache_read_input_token_cost": 1.875e-08},
}
OWN_BASE = {"gemini-2.0-flash": "gemini/gemini-2.0-flash", "gemini-2.0-flash-lite": "gemini/gemini-2.0-flash-lite"}
for _name in ("gemini-2.0-flash", "gemini-2.0-flash-lite"):
    OWN[_name + "-001"] = OWN[_name]
    OWN_BASE[_name + "-001"] = OWN_BASE[_name]
_NOT_COPIED = ("rpm", "tpm", "litellm_provider", "source")


def main() -> int:
    sources = {}
    for name in ("anthropic", "gemini"):
        sources.update(json.loads((CATALOG / f"{name}.json").read_text()))
    out: dict[str, object] = {
        "_source": "Vertex AI generative AI pricing (https://cloud.google.com/vertex-ai/generative-ai/pricing): "
                   "Claude at Anthropic's list prices (global endpoint; Google adds 10% on regional endpoints for "
                   "Sonnet 4.5 / Haiku 4.5 / Opus 4.5 and later, not modelled here), the Gemini 2.5 family at the "
                   "Gemini API's paid-tier prices, both copied from anthropic.json / gemini.json by "
                   "scripts/derive_vertex_prices.py; Gemini 2.0 Flash / Flash-Lite at Vertex's own prices.",
        "_as_of": AS_OF,
        "_capabilities_source": "context windows and supports_* flags copied with the prices from the "
                                "anthropic.json / gemini.json entry of the same model (same model, same limits).",
    }

    def entry(base_key: str, prices: dict[str, float] | None = None) -> dict[str, object]:
        base = sources[base_key]
        fields = {k: v for k, v in base.items() if k not in _NOT_COPIED}
        if prices:
            fields = {k: v for k, v in fields.items() if "cost" not in k} | prices
        return {"litellm_provider": "vertex_ai", **fields}

    for vertex_id, base_key in COPIED.items():
        out[f"vertex_ai/{vertex_id}"] = entry(base_key)
    for alias, vertex_id in ALIASES.items():
        out[f"vertex_ai/{alias}"] = out[f"vertex_ai/{vertex_id}"]
    for vertex_id, prices in OWN.items():
        out[f"vertex_ai/{vertex_id}"] = entry(OWN_BASE[vertex_id], prices)
    (CATALOG / "vertex_ai.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {sum(not k.startswith('_') for k in out)} entries to {CATALOG / 'vertex_ai.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
