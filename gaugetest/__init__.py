"""gaugetest: hypothesis tests for alignment sweeps of transformer layer weights.

The Python API mirrors the command line::

    import gaugetest
    res = gaugetest.analyze("qwen3-32b-null.json", "qwen3-32b-aligned.json", seed=1)
    res                      # a one-line summary: quantity, E-C difference, verdict
    res.verdict.label, res.to_dict()["permutation"]

Submodules follow the data flow (docs/architecture.md): ``io`` -> ``phases`` -> ``deltas`` ->
``quantity`` / ``description`` -> ``inference`` (every method: bootstrap, permutation, TOST,
dependence, power, the depth model; iid and robust are two uses of one interface) ->
``verdict`` -> ``analysis`` -> ``render``; ``measure`` produces the input files from a
checkpoint; ``studies`` (scenario bank, calibration, verdict study, synthetic data) call the
pipeline; ``cli`` is the thin layer on top.
"""
from ._version import __version__

__all__ = ["__version__", "analyze", "analyze_many", "analyze_models", "AnalysisResult",
           "MultiResult", "LABELS", "InputError", "UsageError"]

_LAZY = {"analyze": "analysis", "AnalysisResult": "analysis", "analyze_many": "multi",
         "analyze_models": "multi",
         "MultiResult": "multi", "LABELS": "verdict", "InputError": "errors",
         "UsageError": "errors"}


def __getattr__(name: str):
    # lazy: `gaugetest --help` must not pay for numpy/scipy imports
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'gaugetest' has no attribute {name!r}")


def __dir__():
    return sorted(set(__all__) | {"analysis", "cli", "io", "measure", "render", "inference",
                                  "studies"})
