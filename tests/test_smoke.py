"""End-to-end smoke tests of the command line on the demo and the shared toy example."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT

#: the readable example pair of shared/examples (copied into tests/data, unchanged)
TOY8 = ROOT / "tests" / "data"


def run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "gaugetest", *args], capture_output=True,
                          text=True, **kw)


def test_demo_runs_and_labels_synthetic():
    r = run("demo", "--n-boot", "500", "--n-perm", "2000", "--brief")
    assert r.returncode == 0, r.stderr
    assert "SYNTHETIC DATA" in r.stdout
    # --brief: the family's headline, then a headline per model (each with its verdict) and
    # one table; the demo is a family of three models
    assert r.stdout.count("  verdict   ") == 4
    assert r.stdout.startswith("gaugetest") and "family of 3 models" in r.stdout.splitlines()[0]
    assert "Summary: one verdict per model" in r.stdout


def test_help_and_version():
    r = run("--help")
    assert r.returncode == 0 and "demo" in r.stdout and "test" in r.stdout
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("gaugetest ")


def test_toy8_json_output(tmp_path):
    out = tmp_path / "r.json"
    r = run("test", str(TOY8 / "toy8-null.json"), str(TOY8 / "toy8-aligned.json"),
            "--json", str(out), "--n-boot", "500")
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    for key in ("version", "inputs", "settings", "pairs", "phase_summary", "permutation",
                "equivalence", "verdict"):
        assert key in doc
    assert doc["data"]["n_pairs"] == 7
