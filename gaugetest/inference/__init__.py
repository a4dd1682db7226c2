"""Inference: every method, behind one interface (see ``base``).

The building blocks -- ``bootstrap`` (intervals), ``permutation`` (the exact/Monte Carlo test),
``equivalence`` (TOST from moments or a bootstrap), ``dependence`` (series standard errors:
neff, HAC, GLSAR, block, sieve), ``diagnostics`` (lag-1 r, Ljung-Box), ``power`` and the depth
model (``depth_model/``: correlation families, REML fit, t-mixture distributions, TOST rules,
contrasts) -- are used by the methods: ``iid`` (bootstrap, permutation, t TOST), ``moments``
(the moment-based robust methods) and ``depth`` (the robust default, reml-bma).

``get(name)`` returns a method object with ``run(data, rng, phase_names_in_map)`` returning an
:class:`~gaugetest.inference.base.InferenceResult`. Adding a method is one module here and one
line in ``_FACTORIES``.
"""
from __future__ import annotations

from .base import InferenceInput, InferenceResult  # noqa: F401

#: Robust methods a user may choose with ``--dependence``; ``robust`` means ROBUST_DEFAULT,
#: the method with the best worst case over the calibration bank (docs/calibration.md).
ROBUST_METHODS = ("reml-bma", "neff", "hac", "glsar", "block", "sieve")
ROBUST_DEFAULT = "reml-bma"


def _iid():
    from .iid import IIDMethod
    return IIDMethod()


def _moments(key):
    def make():
        from .moments import MomentsMethod
        return MomentsMethod(key)
    return make


def _depth():
    from .depth import DepthModelMethod
    return DepthModelMethod()


_FACTORIES = {"iid": _iid, "reml-bma": _depth,
              **{k: _moments(k) for k in ROBUST_METHODS if k != "reml-bma"}}


def get(name: str):
    """The inference method called ``name`` (``robust`` = the calibrated default)."""
    key = ROBUST_DEFAULT if name == "robust" else name
    try:
        return _FACTORIES[key]()
    except KeyError:
        raise ValueError(f"unknown inference method {name!r}") from None
