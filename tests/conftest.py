"""Shared fixtures: paths to the reference material and small input builders."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# shared/ sits beside the repository (../shared from the project root) on developer
# machines and in CI; GAUGETEST_SHARED overrides it.
SHARED = Path(os.environ.get("GAUGETEST_SHARED", ROOT.parent / "shared"))
ORIGINAL = SHARED / "original" / "analyze_aligned.py"
EXAMPLES = SHARED / "examples"


def write_json(path: Path, doc) -> Path:
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def sweep_files(tmp_path):
    """Write a (null, aligned) pair of dicts to files; returns their paths."""
    def make(null, aligned, name="s"):
        return (write_json(tmp_path / f"{name}-null.json", null),
                write_json(tmp_path / f"{name}-aligned.json", aligned))
    return make
