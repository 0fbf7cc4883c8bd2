"""Benchmark suite ``tt``: TT-SVD and TT-matrix SVD against tensorly, on the same inputs.

Workloads (fixed seeds, float64 NumPy, median of 5 calls after one warm-up):

* W1a - a 1024 x 1024 matrix as a TT-matrix with modes (4,4,4,4,4) x (4,4,4,4,4):
  a random TT-matrix of rank 8 plus Gaussian noise of relative norm 1e-3,
  compressed at max rank 8 and 16 (tensorly: ``tensor_train_matrix`` of the
  matrix reshaped to (i_1..i_5, j_1..j_5), whose factors have the same
  (r, i_k, j_k, r) layout);
* W1b - an (8,)^8 tensor: a random TT of rank 10 plus relative noise 1e-3,
  TT-SVD at max rank 10 (tensorly: ``tensor_train``).

Each row: the method, its time and the relative Frobenius error of its
result; tnnlib rows also give ``time_vs_tensorly`` and ``error_vs_tensorly``,
the ratios to tensorly's (target: time <= 0.8 at an error ratio <= 1).
Timings depend on the BLAS threads; on a shared machine compare runs with
``OMP_NUM_THREADS=1``. Rows ``tnnlib (svd)`` force the LAPACK
route for every truncated SVD, to show what the Gram route buys.
"""
from __future__ import annotations

import numpy as np

from ..tensor_ops import relative_error
from ..tt import random_tt, tt_svd
from ..ttm import random_ttm, ttm_svd
from . import median_time


def _with_noise(x, level, seed):
    noise = np.random.default_rng(seed).standard_normal(x.shape)
    return x + level * np.linalg.norm(x) / np.linalg.norm(noise) * noise


def _tensorly():
    try:
        import tensorly
        from tensorly.decomposition import tensor_train, tensor_train_matrix
    except ImportError:
        return None
    return tensorly, tensor_train, tensor_train_matrix


def _measure(rows, workload, method, max_rank, fn, to_dense, exact, repeats, warmup):
    seconds = median_time(fn, repeats=repeats, warmup=warmup)
    result = fn()
    rows.append({"workload": workload, "method": method, "max_rank": max_rank,
                 "time_ms": 1e3 * seconds, "rel_error": relative_error(exact, to_dense(result)),
                 "ranks": str(tuple(result.rank)),
                 "time_vs_tensorly": None, "error_vs_tensorly": None})


def _compare(rows, start):
    """Time and error ratios to tensorly for the tnnlib rows added since ``start``."""
    new = rows[start:]
    reference = next((r for r in new if r["method"].startswith("tensorly")), None)
    if reference:
        for row in new:
            if row["method"].startswith("tnnlib"):
                row["time_vs_tensorly"] = row["time_ms"] / reference["time_ms"]
                row["error_vs_tensorly"] = row["rel_error"] / reference["rel_error"]


def run(args) -> list:
    repeats, warmup = (1, 0) if getattr(args, "quick", False) else (5, 1)
    tl = _tensorly()
    if tl is not None:
        tl[0].set_backend("numpy")
    rows = []

    # W1a: 1024 x 1024 TT-matrix, modes (4,)*5 x (4,)*5
    modes = (4, 4, 4, 4, 4)
    W = _with_noise(random_ttm(out_modes=modes, in_modes=modes, rank=8, seed=0).to_dense(), 1e-3, seed=1)
    for max_rank in (8, 16):
        start = len(rows)
        workload = f"W1a TT-matrix 1024x1024, r={max_rank}"
        for method, svd_method in (("tnnlib ttm_svd", "auto"), ("tnnlib ttm_svd (svd)", "svd")):
            _measure(rows, workload, method, max_rank,
                     lambda m=svd_method, r=max_rank: ttm_svd(W, out_modes=modes, in_modes=modes, max_rank=r, method=m),
                     lambda t: t.to_dense(), W, repeats, warmup)
        if tl is not None:
            _measure(rows, workload, "tensorly tensor_train_matrix", max_rank,
                     lambda r=max_rank: tl[2](W.reshape(modes + modes), r),
                     lambda t: t.to_matrix(), W, repeats, warmup)
        _compare(rows, start)

    # W1b: (8,)^8 tensor of TT rank 10 plus noise
    shape = (8,) * 8
    X = _with_noise(random_tt(shape, 10, seed=2).to_dense(), 1e-3, seed=3)
    start = len(rows)
    workload = "W1b TT-SVD (8,)^8, r=10"
    for method, svd_method in (("tnnlib tt_svd", "auto"), ("tnnlib tt_svd (svd)", "svd")):
        _measure(rows, workload, method, 10, lambda m=svd_method: tt_svd(X, max_rank=10, method=m),
                 lambda t: t.to_dense(), X, repeats, warmup)
    if tl is not None:
        _measure(rows, workload, "tensorly tensor_train", 10, lambda: tl[1](X, 10),
                 lambda t: t.to_tensor(), X, repeats, warmup)
    _compare(rows, start)
    return rows
