"""Checkers of lesson 05: tensor ring (trace of products) and TT-matrix (reshape, matvec, cost)."""
import contextlib
import math
import tracemalloc

import numpy as np

from ..checking import (
    ExerciseFailed,
    describe,
    exercise,
    expect,
    expect_array,
    expect_close,
    expect_equal,
    expect_integer,
)
from ..contraction import contraction_flops
from ..tr import TRTensor, random_tr
from ..tt import TTTensor
from ..ttm import TTMatrix, random_ttm


def _tr_to_tensor(cores):
    """The full tensor of a tensor ring (reference of exercise 5.1): ``TRTensor(cores).to_dense()``."""
    return TRTensor(list(cores)).to_dense()


def _ttm_reshape(W, out_modes, in_modes):
    """W (M, N) as the interleaved tensor of shape (i_1 j_1, ..., i_d j_d) (reference of exercise 5.2).

    The steps of :func:`tnnlib.ttm.ttm_svd` before its TT-SVD: reshape to
    ``(i_1..i_d, j_1..j_d)``, permute to ``(i_1, j_1, ..., i_d, j_d)``, merge each pair.
    """
    d = len(out_modes)
    tensor = np.asarray(W).reshape(tuple(out_modes) + tuple(in_modes))
    order = [axis for k in range(d) for axis in (k, d + k)]
    return tensor.transpose(order).reshape([i * j for i, j in zip(out_modes, in_modes)])


def _ttm_matvec(cores, x):
    """``W @ x`` for x of shape (N,) or (B, N), core by core (reference of exercise 5.3)."""
    return TTMatrix(list(cores)).matvec(x)


def _ttm_matvec_flops(out_modes, in_modes, rank, batch=1):
    """FLOPs of each core's step of the core-by-core matvec (reference of exercise 5.4).

    Step k (cores in order 1..d) contracts core ``G_k`` (r_{k-1}, i_k, j_k, r_k) with the
    intermediate (r_{k-1}, j_k, X), X = j_{k+1}..j_d * batch * i_1..i_{k-1}, over
    (r_{k-1}, j_k): ``2 r_{k-1} i_k j_k r_k X`` FLOPs. ``rank`` is the full tuple
    ``(r_0, ..., r_d)``, as ``TTMatrix.rank``.
    """
    d = len(out_modes)
    flops = []
    for k in range(d):
        rest = math.prod(in_modes[k + 1:]) * batch * math.prod(out_modes[:k])
        core = (rank[k], out_modes[k], in_modes[k], rank[k + 1])
        flops.append(contraction_flops("aijc,ajx->icx", core, (rank[k], in_modes[k], rest)))
    return flops


# --------------------------------------------------------------------------
# Exercise 5.1: tensor ring to full tensor
# --------------------------------------------------------------------------

@exercise("5.1", "tensor ring to full tensor", reference=_tr_to_tensor)
def tr_to_tensor(answer):
    cases = [((3, 3, 3), (2, 3, 4, 2), 0), ((2, 5, 3, 4), (3, 2, 2, 4, 3), 1), ((4, 4), (2, 3, 2), 2),
             ((3, 2, 4), (1, 2, 3, 1), 3)]
    for shape, ranks, seed in cases:
        tr = random_tr(shape, ranks, seed=seed)
        what = f"tr_to_tensor(cores) for a ring of shape {shape} and ranks {ranks}"
        got = answer([c.copy() for c in tr.cores])
        expect_array(got, what, shape=shape)
        expect_close(got, tr.to_dense(), what + " (entry = TRACE of G_1[:, i_1, :] G_2[:, i_2, :] ... "
                                                "G_d[:, i_d, :], cores in order)")
    return "Rings of orders 2 to 4, closing ranks 1 (a tensor train) to 3, against the trace formula."


# --------------------------------------------------------------------------
# Exercise 5.2: reshape and interleave a matrix
# --------------------------------------------------------------------------

@exercise("5.2", "weight matrix to interleaved tensor", reference=_ttm_reshape)
def ttm_reshape(answer):
    cases = [((3, 4), (5, 2), 0), ((2, 3, 2), (2, 2, 3), 1), ((4, 4), (4, 4), 2), ((6,), (5,), 3)]
    for out_modes, in_modes, seed in cases:
        M, N = math.prod(out_modes), math.prod(in_modes)
        W = np.random.default_rng(seed).standard_normal((M, N))
        what = f"ttm_reshape(W of shape {(M, N)}, out_modes={out_modes}, in_modes={in_modes})"
        got = answer(W.copy(), out_modes, in_modes)
        expect_array(got, what, shape=[i * j for i, j in zip(out_modes, in_modes)])
        expected = _ttm_reshape(W, out_modes, in_modes)
        k = len(out_modes) - 1
        index = (0,) * k + (in_modes[k],)   # i_d = 1, j_d = 0 in the last pair
        expect_close(np.asarray(got)[index], expected[index],
                     f"{what}: entry {index} (in each pair the OUTPUT index i_k comes first: "
                     f"pair index = i_k * n_k + j_k)")
        expect_close(got, expected, what + " (reshape to (i_1..i_d, j_1..j_d), interleave to (i_1, j_1, ..., "
                                           "i_d, j_d), merge each pair)")
    return "Shapes and entries for 1 to 3 pairs of modes, square and rectangular."


# --------------------------------------------------------------------------
# Exercise 5.3: matvec core by core
# --------------------------------------------------------------------------

#: the guard's words, which tests/checker_contract.py recognises as a check (not a crash of the learner's code)
_NO_FULL = "this exercise must not form the full tensor"


@contextlib.contextmanager
def _dense_forbidden():
    """``TTMatrix.to_dense`` and ``TTTensor.to_dense`` raise while the learner's matvec runs."""
    def refuse(self):
        raise RuntimeError(f"{_NO_FULL}: your code called {type(self).__name__}.to_dense(), which builds the "
                           f"whole matrix W; contract x with one core at a time instead")

    saved = TTMatrix.to_dense, TTTensor.to_dense
    TTMatrix.to_dense = TTTensor.to_dense = refuse
    try:
        yield
    finally:
        TTMatrix.to_dense, TTTensor.to_dense = saved


def _peak_bytes(call):
    """``(call(), peak bytes NumPy and Python allocated during the call)``, measured with tracemalloc."""
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = call()
        return result, tracemalloc.get_traced_memory()[1] - before
    finally:
        if not tracing:
            tracemalloc.stop()


def _mb(n_bytes):
    return f"{n_bytes / 1e6:.1f} MB"


@exercise("5.3", "TT-matrix times vector, core by core", reference=_ttm_matvec)
def ttm_matvec(answer):
    cases = [((3, 4), (2, 5), (1, 3, 1), 0), ((2, 3, 2), (3, 2, 2), (1, 2, 3, 1), 1),
             ((4, 4, 4), (4, 4, 4), (1, 3, 3, 1), 2), ((5,), (3,), (1, 1), 3)]
    for out_modes, in_modes, rank, seed in cases:
        ttm = random_ttm(out_modes=out_modes, in_modes=in_modes, rank=rank, seed=seed)
        W = ttm.to_dense()
        M, N = W.shape
        rng = np.random.default_rng(seed + 100)
        x = rng.standard_normal(N)
        what = f"ttm_matvec(cores, x) for a {M} x {N} TT-matrix (out_modes {out_modes}, in_modes {in_modes})"
        with _dense_forbidden():
            got = answer([c.copy() for c in ttm.cores], x.copy())
        expect_array(got, what + " with x of shape (N,)", shape=(M,))
        expect_close(got, W @ x, what + " must equal W @ x")
        xb = rng.standard_normal((3, N))
        with _dense_forbidden():
            got = answer([c.copy() for c in ttm.cores], xb.copy())
        expect_array(got, what + " with a batch x of shape (3, N)", shape=(3, M))
        expect_close(got, xb @ W.T, what + " for a batch of 3 rows must equal x @ W.T")

    # Without forming W: on a 1024 x 2048 layer W takes 16.8 MB, the core-by-core intermediates about 0.1 MB.
    out_modes, in_modes, rank = (4, 8, 8, 4), (4, 8, 8, 8), (1, 4, 4, 4, 1)
    ttm = random_ttm(out_modes=out_modes, in_modes=in_modes, rank=rank, seed=4)
    (M, N), cores = ttm.shape, [c.copy() for c in ttm.cores]
    x = np.random.default_rng(5).standard_normal((2, N))
    w_bytes = M * N * x.itemsize
    with _dense_forbidden():
        got, peak = _peak_bytes(lambda: answer(cores, x))
    what = (f"ttm_matvec(cores, x) for a {M} x {N} TT-matrix (out_modes {out_modes}, in_modes {in_modes}, "
            f"ranks {rank})")
    expect_array(got, what + " with a batch x of shape (2, N)", shape=(2, M))
    expect_close(got, ttm.matvec(x), what + " for a batch of 2 rows must equal x @ W.T")
    expect(peak < w_bytes / 4,
           f"{what}: your function allocated {_mb(peak)} at its peak, while W itself takes {_mb(w_bytes)} and the "
           f"core-by-core product needs well under 1 MB here: it seems to build W (all cores contracted together, "
           f"e.g. one np.einsum over every core before x comes in). Contract x with one core at a time.")
    return ("Single vectors and batches against the dense W, for 1 to 3 cores, square and rectangular modes; "
            f"and W never formed (peak memory {_mb(peak)} on a layer whose W takes {_mb(w_bytes)}).")


# --------------------------------------------------------------------------
# Exercise 5.4: FLOPs of the core-by-core matvec
# --------------------------------------------------------------------------

@exercise("5.4", "FLOPs of the core-by-core matvec", reference=_ttm_matvec_flops)
def ttm_matvec_flops(answer):
    cases = [((4, 8, 8, 4), (4, 8, 8, 4), (1, 8, 8, 8, 1), 1), ((4, 8, 8, 4), (4, 8, 8, 4), (1, 8, 8, 8, 1), 32),
             ((2, 3), (5, 7), (1, 4, 1), 3), ((4, 4, 4), (2, 7, 8), (1, 2, 5, 1), 10), ((6,), (9,), (1, 1), 2)]
    for out_modes, in_modes, rank, batch in cases:
        what = f"ttm_matvec_flops({out_modes}, {in_modes}, {rank}, batch={batch})"
        got = answer(out_modes, in_modes, rank, batch)
        if not isinstance(got, (list, tuple)) and not (isinstance(got, np.ndarray) and got.ndim == 1):
            raise ExerciseFailed(f"{what}: return a list of d integers (one per core), got {describe(got)}")
        got = [expect_integer(f, f"{what}: entry {k} of your list (the FLOPs of step {k + 1})")
               for k, f in enumerate(got)]
        expected = _ttm_matvec_flops(out_modes, in_modes, rank, batch)
        expect_equal(len(got), len(expected), f"{what}: number of steps (one per core)")
        for k, (g, e) in enumerate(zip(got, expected)):
            expect_equal(g, e, f"{what}: FLOPs of step {k + 1} (2 x r_{k} i_{k + 1} j_{k + 1} r_{k + 1} x the "
                               f"sizes of the indices carried along: inputs not yet used, batch, outputs made)")
    return "Per-step FLOPs of the Novikov et al. layer at batch 1 and 32, and of rectangular and one-core cases."
