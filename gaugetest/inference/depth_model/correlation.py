"""The correlation functions along depth the depth model averages over: AR(1), MA(1),
AR(2), ARMA(1,1) and ARFIMA(0,d,0), each as a grid of parameter values with a flat prior."""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: The families averaged over, with their labels.
FAMILIES = ("ar1", "ma1", "ar2", "arma11", "fd")
FAMILY_LABELS = {"wn": "white noise", "ar1": "AR(1)", "ma1": "MA(1)", "ar2": "AR(2)", "arma11": "ARMA(1,1)",
                 "fd": "ARFIMA(0,d,0)"}


# --------------------------------------------------------------------------- correlation grids


def _acf_wn(params: np.ndarray, maxlag: int) -> np.ndarray:
    out = np.zeros((len(params), maxlag + 1))
    out[:, 0] = 1.0
    return out


def _acf_ar1(params: np.ndarray, maxlag: int) -> np.ndarray:
    return params[:, :1] ** np.arange(maxlag + 1)[None, :]


def _acf_ma1(params: np.ndarray, maxlag: int) -> np.ndarray:
    out = np.zeros((len(params), maxlag + 1))
    out[:, 0] = 1.0
    if maxlag >= 1:
        out[:, 1] = params[:, 0]
    return out


def _acf_ar2(params: np.ndarray, maxlag: int) -> np.ndarray:
    """params: (phi1, phi2); rho_1 = phi1 / (1 - phi2), then the Yule-Walker recursion."""
    phi1, phi2 = params[:, 0], params[:, 1]
    out = np.empty((len(params), maxlag + 1))
    out[:, 0] = 1.0
    if maxlag >= 1:
        out[:, 1] = phi1 / (1 - phi2)
    for k in range(2, maxlag + 1):
        out[:, k] = phi1 * out[:, k - 1] + phi2 * out[:, k - 2]
    return out


def _acf_arma11(params: np.ndarray, maxlag: int) -> np.ndarray:
    """params: (phi, rho_1): rho_k = rho_1 phi^(k-1) for k >= 1."""
    phi, r1 = params[:, :1], params[:, 1:2]
    k = np.arange(maxlag + 1)[None, :]
    return np.where(k == 0, 1.0, r1 * phi ** np.maximum(k - 1, 0))


def _acf_fd(params: np.ndarray, maxlag: int) -> np.ndarray:
    """ARFIMA(0,d,0): rho_k = prod_{j<=k} (j - 1 + d) / (j - d)  (Hosking 1981)."""
    d = params[:, :1]
    j = np.arange(1, maxlag + 1)[None, :]
    return np.concatenate([np.ones((len(params), 1)), np.cumprod((j - 1 + d) / (j - d), axis=1)],
                          axis=1)


@lru_cache(maxsize=None)
def family_params(name: str) -> np.ndarray:
    """The grid of one family (rows of parameters), uniform in its natural parametrisation:
    the lag-1 correlation for AR(1) and MA(1), d for ARFIMA(0,d,0), the partial
    autocorrelations for AR(2), (phi, rho_1) over the valid region for ARMA(1,1)."""
    if name == "wn":
        return np.zeros((1, 0))
    if name == "ar1":
        return np.linspace(-0.5, 0.98, 60)[:, None]
    if name == "ma1":
        return np.linspace(-0.49, 0.49, 40)[:, None]
    if name == "ar2":
        # uniform in the partial autocorrelations (Barndorff-Nielsen & Schou 1973)
        p1, p2 = np.meshgrid(np.linspace(-0.6, 0.95, 16), np.linspace(-0.6, 0.9, 16),
                             indexing="ij")
        p1, p2 = p1.ravel(), p2.ravel()
        return np.column_stack([p1 * (1 - p2), p2])
    if name == "arma11":
        # rho_1 ranges over [-(1 - phi)/2, (1 + phi)/2], where the spectrum stays >= 0
        phi = np.linspace(-0.5, 0.98, 30)
        t = (np.arange(20) + 0.5) / 20
        f, tt = np.meshgrid(phi, t, indexing="ij")
        return np.column_stack([f.ravel(), (-(1 - f) / 2 + tt).ravel()])
    if name == "fd":
        return np.linspace(0.0, 0.49, 30)[:, None]
    raise ValueError(f"unknown dependence family {name!r}")


ACF = {"wn": _acf_wn, "ar1": _acf_ar1, "ma1": _acf_ma1, "ar2": _acf_ar2, "arma11": _acf_arma11, "fd": _acf_fd}
N_PARAMS = {"wn": 0, "ar1": 1, "ma1": 1, "ar2": 2, "arma11": 2, "fd": 1}


@dataclass(frozen=True)
class Grid:
    families: tuple[str, ...]
    family_of: np.ndarray      # (G,) index into families
    params: tuple[np.ndarray, ...]
    log_prior: np.ndarray      # (G,)
    acf: np.ndarray            # (G, maxlag + 1)


@lru_cache(maxsize=16)
def correlation_grid(families: tuple[str, ...], maxlag: int) -> Grid:
    acfs, fam, params, prior = [], [], [], []
    for i, name in enumerate(families):
        p = family_params(name)
        acfs.append(ACF[name](p, maxlag))
        fam.append(np.full(len(p), i))
        params.append(p)
        prior.append(np.full(len(p), -math.log(len(families) * len(p))))
    return Grid(families, np.concatenate(fam), tuple(params), np.concatenate(prior),
                 np.concatenate(acfs))
