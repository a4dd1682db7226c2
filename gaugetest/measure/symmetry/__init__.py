"""Alignment of adjacent layers under the transformer block's real symmetry group.

A Llama/Qwen3-style block computes the same function after any element of this group
(HF (out, in) layout; ``G`` query heads per key/value group):

* **MLP**: one permutation of the intermediate neurons, applied to the rows of gate_proj and
  up_proj and to the columns of down_proj.
* **Attention**:

  - a permutation of the key/value groups (k and v rows of a group, and the q rows and
    o columns of its ``G`` query heads, move together);
  - a permutation of the query heads inside each group (q rows and o columns);
  - per group an orthogonal ``M`` (head_dim x head_dim) on the group's v rows,
    ``v -> M v``, undone on the o columns of each of its query heads, ``o_h -> o_h M^T``;
  - per group a 2 x 2 rotation (``SO(2)``: RoPE's own rotations commute with it, a reflection
    does not) of every RoPE pair of rows, on the q rows of the group's heads and on its k
    rows. With q/k RMSNorm (Qwen3) only pairs whose ``q_norm`` weights and whose ``k_norm``
    weights are equal on both rows stay free; models without these norms free every pair.

The residual stream basis is *not* in the group: it is one rotation shared by every layer,
so it cannot differ between adjacent layers.

Alignment of layer A to layer B maximises, over the group, the sum of the family cosines of
each block (the attention block q, k, v, o; the MLP block gate, up, down), then reports each
family's cosine after the element found:

* MLP: one ``scipy.optimize.linear_sum_assignment`` on the summed cosine similarity of the
  neurons (exact maximum).
* Attention: for every (group a of A, group b of B), the head matching, ``M`` and the RoPE
  angles by alternation (given the matching, ``M`` is an orthogonal Procrustes solution and
  each angle has a closed form; given those, the matching is an assignment), started from a
  matching on similarities that the group cannot change (``||A_o,h^T B_o,h'||_F^2`` and the
  per-pair q blocks' Frobenius norms); then one assignment over the groups. On a planted
  transform this is exact (the invariant matching is the true one by Cauchy-Schwarz, and the
  alternation then returns the true element); on unrelated layers it is a local maximum,
  i.e. a lower bound of the group maximum, and the null below uses the same algorithm.

The **null** rotates layer B's residual side by one Haar rotation ``H`` shared by all its
families (inputs of q, k, v, gate, up: ``W H``; outputs of o, down: ``H^T W``), which keeps
everything inside B (spectra, head structure) but removes whatever B shares with A through
the residual basis, then runs the same alignment.

Heavy steps are separate functions (``mlp_similarity``, ``attention_cross_terms``) so that
another backend can replace them; everything is float64. float32 is safe for those two
products, which only *choose* the element (the cosines are recomputed in float64 from it):
pass ``dtype=np.float32``.

Examples
--------
>>> import numpy as np
>>> from gaugetest.measure.symmetry import (Architecture, random_layer, random_group_element,
...                                         apply_group_element, align_pair)
>>> arch = Architecture(n_heads=4, n_kv_heads=2, head_dim=8)
>>> rng = np.random.default_rng(0)
>>> A = random_layer(arch, hidden=16, n_neurons=24, rng=rng)
>>> B = apply_group_element(A, random_group_element(arch, rng, n_neurons=24), arch)
>>> res = align_pair(A, B, arch)
>>> all(c > 0.999999 for c in res.cosines.values())
True

Layout (imports only downwards): ``group`` (elements, residual basis change) and ``numerics``
(float64 reductions, assignment, polar factor) at the bottom; ``mlp`` and ``attention`` (the
two blocks); ``ops`` (where the heavy products run); ``align`` (:func:`align_pair`); ``null``
(:func:`null_draw`, :func:`symmetry_null`). This module re-exports the public API.
"""
from __future__ import annotations

from ..architecture import Architecture
from .align import MLP_SOLVERS, SymmetryAlignment, align_pair  # noqa: F401
from .attention import (AttentionCross, attention_cross_terms,  # noqa: F401
                        refine_attention, solve_attention)
from .group import (ATTENTION_FAMILIES,  # noqa: F401
                    FAMILIES, MLP_FAMILIES, RESIDUAL_INPUT, RESIDUAL_OUTPUT,
                    GroupElement, apply_group_element, free_rope_pairs, random_group_element,
                    random_layer, residual_size, rotate_residual)
from .mlp import mlp_objective, mlp_similarity, solve_mlp, solve_mlp_sparse
from .null import null_draw, symmetry_null
from .ops import NumpyOps

# private helpers that tests and benchmarks reach through this module (kept where they were)
from .group import _haar_orthogonal  # noqa: E402,F401
from .mlp import _mlp_features  # noqa: E402,F401
from .numerics import _lsa_max, _norm64  # noqa: E402,F401

__all__ = ["Architecture", "GroupElement", "SymmetryAlignment", "align_pair",
           "apply_group_element", "random_group_element", "symmetry_null", "null_draw",
           "free_rope_pairs", "mlp_similarity", "solve_mlp", "solve_mlp_sparse", "mlp_objective",
           "attention_cross_terms", "solve_attention", "refine_attention", "NumpyOps",
           "rotate_residual", "residual_size", "random_layer", "FAMILIES"]

