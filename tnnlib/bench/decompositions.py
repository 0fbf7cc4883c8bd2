"""Benchmark suite ``decompositions``: Tucker, CP and tensor ring against tensorly, on the same inputs.

Workloads (float64 NumPy, fixed seeds, median of 5 calls after one warm-up,
tnnlib and tensorly calls alternating so that both see the same machine load;
"plus noise" = Gaussian noise of relative norm 1e-2 added to the normalised tensor):

* W2 - a 128^3 tensor of Tucker ranks (16, 16, 16) plus noise, at ranks 16:
  HOSVD (tensorly: ``tucker(n_iter_max=0)``, which returns its SVD start) and
  HOOI with 10 sweeps (tensorly: ``tucker(n_iter_max=10, tol=None)``).
* W3 - a 64^3 tensor of CP rank 10 plus noise, CP-ALS at rank 10, 50 sweeps:
  from the SVD start, each library computing its own (``init="svd"``), and
  from one random start given to both (tensorly: ``parafac(init=CPTensor)``),
  so that both run the same iterates.
* W4 - an (8,)^6 tensor of TR rank 6 plus noise: TR-SVD at maximum rank 6
  (tensorly: ``tensor_ring`` at the ranks tnnlib's TR-SVD chose, which must
  satisfy ``r_0 r_1 <= 8``) and TR-ALS at rank 6 with 20 sweeps, both from
  the random start that tensorly's ``tensor_ring_als(random_state=0)`` draws.

TR-SVD at these ranks is a poor fit (error ~0.87, against ~0.01 for TR-ALS):
its first split allows only ``r_0 r_1 <= n_1 = 8``, and the arbitrary basis of
the first SVD mixes the two bonds; the two libraries' errors differ a little
for the same reason (different signs of the singular vectors).

Each row: ``tnnlib_ms`` / ``tensorly_ms`` (median wall-clock time),
``tnnlib_err`` / ``tensorly_err`` (relative Frobenius error of the result) and
``ratio`` = tnnlib time / tensorly time; the target is ratio <= 0.8 at an
error no worse. Without tensorly only the tnnlib columns are filled.
"""
from __future__ import annotations

import statistics

import numpy as np

from ..cp import cp_als, random_cp
from ..tensor_ops import relative_error
from ..tr import TRTensor, random_tr, tr_als, tr_svd
from ..tucker import TuckerTensor, hooi, hosvd
from . import median_time

NOISE = 1e-2


def _plus_noise(x, seed):
    """``x`` normalised, plus Gaussian noise of relative norm NOISE."""
    noise = np.random.default_rng(seed).standard_normal(x.shape)
    return x / np.linalg.norm(x) + NOISE * noise / np.linalg.norm(noise)


def _tensorly():
    try:
        import tensorly
    except ImportError:
        return None
    tensorly.set_backend("numpy")
    return tensorly


def _row(workload, method, exact, ours, theirs, repeats, warmup):
    """Time and error of ``ours`` and ``theirs`` (pairs (call, to_dense); ``theirs`` may be None).

    The calls alternate (ours, theirs, ours, ...), so that both see the same
    machine load; each time is the median of ``repeats`` calls.
    """
    pairs = {"tnnlib": ours, "tensorly": theirs}
    calls = {name: pair[0] for name, pair in pairs.items() if pair is not None}
    for _ in range(warmup):
        for call in calls.values():
            call()
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            times[name].append(median_time(call, repeats=1, warmup=0))
    row = {"workload": workload, "method": method}
    for name, pair in pairs.items():
        row[f"{name}_ms"] = 1e3 * statistics.median(times[name]) if pair else None
        row[f"{name}_err"] = relative_error(exact, pair[1](pair[0]())) if pair else None
    row["ratio"] = row["tnnlib_ms"] / row["tensorly_ms"] if theirs is not None else None
    return row


def _tucker_rows(tl, repeats, warmup):
    rng = np.random.default_rng(0)
    core = rng.standard_normal((16, 16, 16))
    factors = [np.linalg.qr(rng.standard_normal((128, 16)))[0] for _ in range(3)]
    X = _plus_noise(TuckerTensor(core, factors).to_dense(), seed=1)
    workload = "W2 Tucker 128^3, ranks 16"
    theirs_hosvd = theirs_hooi = None
    if tl is not None:
        from tensorly.decomposition import tucker

        theirs_hosvd = (lambda: tucker(X, [16] * 3, n_iter_max=0), tl.tucker_to_tensor)
        theirs_hooi = (lambda: tucker(X, [16] * 3, n_iter_max=10, tol=None), tl.tucker_to_tensor)
    to_dense = TuckerTensor.to_dense
    return [
        _row(workload, "HOSVD", X, (lambda: hosvd(X, max_rank=16), to_dense), theirs_hosvd, repeats, warmup),
        _row(workload, "HOOI, 10 sweeps", X, (lambda: hooi(X, 16, n_sweeps=10), to_dense), theirs_hooi,
             repeats, warmup),
    ]


def _cp_rows(tl, repeats, warmup):
    X = _plus_noise(random_cp((64, 64, 64), 10, seed=2).to_dense(), seed=3)
    start = random_cp(X.shape, 10, seed=4)
    workload = "W3 CP 64^3, rank 10"
    theirs_svd = theirs_random = None
    if tl is not None:
        from tensorly.cp_tensor import CPTensor as TensorlyCP
        from tensorly.decomposition import parafac

        theirs_svd = (lambda: parafac(X, 10, n_iter_max=50, init="svd", tol=0), tl.cp_to_tensor)
        theirs_random = (lambda: parafac(X, 10, n_iter_max=50, tol=0,
                                         init=TensorlyCP((start.weights.copy(), [f.copy() for f in start.factors]))),
                         tl.cp_to_tensor)
    to_dense = type(start).to_dense
    return [
        _row(workload, "CP-ALS, 50 sweeps, SVD start", X,
             (lambda: cp_als(X, 10, n_sweeps=50, init="svd"), to_dense), theirs_svd, repeats, warmup),
        _row(workload, "CP-ALS, 50 sweeps, same random start", X,
             (lambda: cp_als(X, 10, n_sweeps=50, init=start), to_dense), theirs_random, repeats, warmup),
    ]


def _tr_rows(tl, repeats, warmup):
    X = _plus_noise(random_tr((8,) * 6, 6, seed=5).to_dense(), seed=6)
    workload = "W4 tensor ring (8,)^6, rank 6"
    ranks = tr_svd(X, max_rank=6).rank
    if tl is not None:
        start = TRTensor(tl.random.random_tr(X.shape, 6, random_state=0).factors)  # tensorly's own start
    else:
        start = random_tr(X.shape, 6, seed=0)
    theirs_svd = theirs_als = None
    if tl is not None:
        from tensorly.decomposition import tensor_ring, tensor_ring_als
        from tensorly.tr_tensor import tr_to_tensor

        theirs_svd = (lambda: tensor_ring(X, list(ranks)), tr_to_tensor)
        theirs_als = (lambda: tensor_ring_als(X, 6, n_iter_max=20, tol=0, random_state=0), tr_to_tensor)
    to_dense = TRTensor.to_dense
    return [
        _row(workload, f"TR-SVD, max rank 6 -> ranks {ranks}", X, (lambda: tr_svd(X, max_rank=6), to_dense), theirs_svd,
             repeats, warmup),
        _row(workload, "TR-ALS, 20 sweeps, same random start", X,
             (lambda: tr_als(X, 6, n_sweeps=20, init=start), to_dense), theirs_als, repeats, warmup),
    ]


def run(args) -> list:
    repeats, warmup = (1, 0) if getattr(args, "quick", False) else (5, 1)
    tl = _tensorly()
    return _tucker_rows(tl, repeats, warmup) + _cp_rows(tl, repeats, warmup) + _tr_rows(tl, repeats, warmup)
