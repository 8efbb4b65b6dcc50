"""Every ```python block in docs/*.md runs, each in a fresh namespace.

Documentation examples are promises: if one stops working, a test says so.
A block must therefore be self-contained and run offline (the examples use
the mock/ provider or ``mock_response``). None is skipped.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from polyrelay.catalog import CATALOG

DOCS = Path(__file__).resolve().parent.parent / "docs"
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def _blocks():
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 2  # first line of code, 1-based
            yield pytest.param(page, line, match.group(1), id=f"{page.name}:{line}")


@pytest.fixture
def restored_state(tmp_path, monkeypatch):
    """Examples may change process-wide state (prices, environment); undo it for the next test.
    They run in a scratch directory: a gateway they start keeps its SQLite file there."""
    monkeypatch.chdir(tmp_path)
    environ = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(environ)
    CATALOG.reload()


def test_docs_have_examples():
    assert list(_blocks()), f"no ```python blocks found under {DOCS}"


@pytest.mark.parametrize("page,line,code", list(_blocks()))
def test_doc_example_runs(page, line, code, restored_state):
    # Pad with blank lines so a traceback's line numbers are the page's own.
    source = "\n" * (line - 1) + code
    exec(compile(source, str(page), "exec"), {"__name__": f"docs_{page.stem}"})
