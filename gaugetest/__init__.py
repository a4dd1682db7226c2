"""gaugetest: hypothesis tests for Procrustes-aligned layer-weight sweeps.

The Python API mirrors the command line::

    import gaugetest
    res = gaugetest.analyze("qwen3-32b-null.json", "qwen3-32b-aligned.json", seed=1)
    res.verdict.label, res.to_dict()["permutation"]

Submodules follow the data flow: ``io`` -> ``phases`` -> ``deltas`` -> ``bootstrap`` /
``permutation`` / ``equivalence`` -> ``verdict`` -> ``render``.
"""
from ._version import __version__

__all__ = ["__version__", "analyze", "AnalysisResult", "InputError", "UsageError"]


def __getattr__(name: str):
    # lazy: `gaugetest --help` must not pay for numpy/scipy imports
    if name in ("analyze", "AnalysisResult"):
        from . import analysis

        return getattr(analysis, name)
    if name in ("InputError", "UsageError"):
        from . import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'gaugetest' has no attribute {name!r}")
