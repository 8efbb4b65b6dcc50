"""docs/compatibility.md is a promise: every LiteLLM name it marks as
present (yes, or partly) must exist on polyrelay.

NOTE: some names on the page are added by parallel work on issue 13
(batch_completion, batch_completion_models,
batch_completion_models_all_responses, completion_with_retries,
acompletion_with_retries, CustomLLM, custom_provider_map,
router.RetryPolicy). Until that work is merged this test fails and names
exactly those; that is intended, and it is what keeps the page honest
afterwards.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import polyrelay

PAGE = Path(__file__).resolve().parents[2] / "docs" / "compatibility.md"
ROW = re.compile(r"^\|\s*`([A-Za-z_][\w.]*)`\s*\|\s*(yes|partly|no)\s*\|", re.MULTILINE)


def rows() -> list[tuple[str, str]]:
    return ROW.findall(PAGE.read_text(encoding="utf-8"))


def resolve(name: str) -> object:
    """``completion`` -> polyrelay.completion; ``types.utils.Usage`` -> polyrelay.types.utils.Usage."""
    module, _, attribute = name.rpartition(".")
    target = importlib.import_module(f"polyrelay.{module}") if module else polyrelay
    return getattr(target, attribute)


def test_the_page_lists_the_names_users_touch():
    listed = dict(rows())
    assert len(listed) > 100, "the page's tables did not parse"
    for name in ("completion", "model_cost", "get_model_info", "RateLimitError", "Router", "types.utils.ModelResponse"):
        assert listed.get(name) == "yes", name


def test_every_name_marked_present_exists():
    missing = []
    for name, status in rows():
        if status == "no":
            continue
        try:
            resolve(name)
        except (AttributeError, ImportError):
            missing.append(name)
    assert not missing, f"docs/compatibility.md marks these present but polyrelay has none: {missing}"
