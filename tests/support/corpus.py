"""Where the shared test corpus lives: `../shared/corpus` beside the checkout, or $WIREWATCH_CORPUS.

Tests that need it skip with a clear message when it is absent (a fresh clone elsewhere), unless
$WIREWATCH_REQUIRE_CORPUS is set, as CI sets it: there a missing corpus is a failure, not a skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CORPUS_ROOT = Path(
    os.environ.get("WIREWATCH_CORPUS") or Path(__file__).resolve().parents[3] / "shared" / "corpus"
)


def require_corpus(*parts: str) -> Path:
    path = CORPUS_ROOT.joinpath(*parts)
    if path.exists():
        return path
    message = f"the shared corpus is not at {path}; set WIREWATCH_CORPUS to its folder"
    if os.environ.get("WIREWATCH_REQUIRE_CORPUS"):
        pytest.fail(message)
    pytest.skip(message)
