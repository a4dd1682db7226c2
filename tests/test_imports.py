"""Import only what a command needs: --help must not load numpy; `test` loads the reference
libraries it calls (numpy, scipy, statsmodels -- which brings pandas) but not the optional stacks
(matplotlib, safetensors, gguf, torch) nor rich (the text is laid out by gaugetest.render.layout;
rich is for progress bars)."""
from __future__ import annotations

import json
import subprocess
import sys

from gaugetest.studies.synthetic import synthetic_sweeps

PROBE = """
import sys, io, contextlib
from gaugetest.cli import main
argv = sys.argv[1:]
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main(argv)
    except SystemExit:
        pass
heavy = ["numpy", "scipy", "rich", "statsmodels", "pandas", "matplotlib", "safetensors", "gguf",
         "torch"]
print(",".join(m for m in heavy if m in sys.modules))
"""


def loaded(*argv):
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True,
                         check=True).stdout.strip()
    return set(filter(None, out.split(",")))


def test_help_imports_nothing_heavy():
    assert loaded("--help") == set()
    assert loaded("test", "--help") == set()


def test_test_command_skips_optional_stacks(tmp_path):
    null, aligned = synthetic_sweeps(64, seed=1)
    n, a = tmp_path / "n.json", tmp_path / "a.json"
    n.write_text(json.dumps(null))
    a.write_text(json.dumps(aligned))
    mods = loaded("test", str(n), str(a), "--n-boot", "200", "--n-perm", "500")
    assert {"numpy", "scipy", "statsmodels"} <= mods
    # the text report is laid out by gaugetest.render.layout: rich is only for progress bars
    assert not mods & {"rich", "matplotlib", "safetensors", "gguf", "torch"}
