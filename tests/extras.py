"""Skip markers for tests that need an optional extra of pyproject.toml."""

import pytest

from nwcodec.compare import install_hint, missing_requirements

_missing = missing_requirements()

requires_eval = pytest.mark.skipif(
    bool(_missing),
    reason=f"needs the 'eval' extra (missing {', '.join(_missing)}): {install_hint()}",
)
"""Metrics (PESQ, ViSQOL, STOI), baseline codecs and plots: ``pip install -e '.[dev,eval]'``."""
