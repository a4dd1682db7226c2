"""Builders of sweep documents from arrays, for constructed test cases."""
from __future__ import annotations

import numpy as np

from gaugetest.io import STANDARD_FAMILIES


def sweeps_from_deltas(delta, num_layers: int, raw=0.03, families=STANDARD_FAMILIES,
                       layers=None, null_level=None, null_sd=0.001,
                       null_draws=8) -> tuple[dict, dict]:
    """(null, aligned) dicts whose delta matrix (pairs x families) is ``delta``.

    With ``null_level`` the raw file also carries a matched null as ``gaugetest measure``
    writes it (aligned_null_mean = raw + null_level, aligned_null_sd = null_sd, null_draws), and
    the aligned cosine is raw + null_level + delta: the *excess* is then ``delta``.
    """
    delta = np.asarray(delta, dtype=float)
    if delta.ndim == 1:
        delta = np.repeat(delta[:, None], len(families), axis=1)
    layers = list(range(delta.shape[0])) if layers is None else list(layers)
    raw_m = np.broadcast_to(np.asarray(raw, dtype=float), delta.shape)
    base = raw_m + (0.0 if null_level is None else null_level)

    def entry(i, j):
        e = {"cos": float(raw_m[i, j])}
        if null_level is not None:
            e.update(aligned_null_mean=float(base[i, j]), aligned_null_sd=null_sd)
        return e

    null = {"num_layers": num_layers, "pair_results": [
        {"L": L, "L_next": L + 1, "families": {f: entry(i, j) for j, f in enumerate(families)}}
        for i, L in enumerate(layers)]}
    if null_level is not None:
        null.update(null_draws=null_draws, gauge="orthogonal")
    aligned = {"num_layers": num_layers, "aligned_cos": {
        f: {str(L): float(base[i, j] + delta[i, j]) for i, L in enumerate(layers)}
        for j, f in enumerate(families)}}
    return null, aligned


def phase_vector(num_layers: int, values: dict, default: float, phases="auto"):
    """Per-pair values by phase of the auto map."""
    from gaugetest.phases import resolve_phase_map
    pm = resolve_phase_map(phases, num_layers)
    return np.array([values.get(pm.phase_of(L, num_layers), default)
                     for L in range(num_layers - 1)])


def assert_usage_error(capsys, argv, *expect, absent=()):
    """Run the CLI: exit 2, exactly one stderr line containing every ``expect``, no traceback,
    and none of the ``absent`` paths created. Returns the message."""
    from gaugetest.cli import main

    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own errors (type/choices) leave through SystemExit
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for e in expect:
        assert e in err, (e, err)
    for p in absent:
        assert not p.exists(), p
    return err
