"""Checkers of lesson 05: tensor ring (trace of products) and TT-matrix (reshape, matvec, cost)."""
import math

import numpy as np

from ..checking import ExerciseFailed, describe, exercise, expect_close, expect_equal, expect_shape
from ..contraction import contraction_flops
from ..tr import TRTensor, random_tr
from ..ttm import TTMatrix, random_ttm


def _tr_to_tensor(cores):
    """The full tensor of a tensor ring (reference of exercise 5.1): ``TRTensor(cores).to_tensor()``."""
    return TRTensor(list(cores)).to_tensor()


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


def _ttm_matvec_flops(out_modes, in_modes, ranks, batch=1):
    """FLOPs of each core's step of the core-by-core matvec (reference of exercise 5.4).

    Step k (cores in order 1..d) contracts core ``G_k`` (r_{k-1}, i_k, j_k, r_k) with the
    intermediate (r_{k-1}, j_k, X), X = j_{k+1}..j_d * batch * i_1..i_{k-1}, over
    (r_{k-1}, j_k): ``2 r_{k-1} i_k j_k r_k X`` FLOPs.
    """
    d = len(out_modes)
    flops = []
    for k in range(d):
        rest = math.prod(in_modes[k + 1:]) * batch * math.prod(out_modes[:k])
        core = (ranks[k], out_modes[k], in_modes[k], ranks[k + 1])
        flops.append(contraction_flops("aijc,ajx->icx", core, (ranks[k], in_modes[k], rest)))
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
        expect_shape(got, shape, what)
        expect_close(got, tr.to_tensor(), what + " (entry = TRACE of G_1[:, i_1, :] G_2[:, i_2, :] ... "
                                                 "G_d[:, i_d, :], cores in order)", rtol=1e-8, atol=1e-10)
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
        expect_shape(got, [i * j for i, j in zip(out_modes, in_modes)], what)
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

@exercise("5.3", "TT-matrix times vector, core by core", reference=_ttm_matvec)
def ttm_matvec(answer):
    cases = [((3, 4), (2, 5), (1, 3, 1), 0), ((2, 3, 2), (3, 2, 2), (1, 2, 3, 1), 1),
             ((4, 4, 4), (4, 4, 4), (1, 3, 3, 1), 2), ((5,), (3,), (1, 1), 3)]
    for out_modes, in_modes, ranks, seed in cases:
        ttm = random_ttm(out_modes, in_modes, ranks, seed=seed)
        W = ttm.to_matrix()
        M, N = W.shape
        rng = np.random.default_rng(seed + 100)
        x = rng.standard_normal(N)
        what = f"ttm_matvec(cores, x) for a {M} x {N} TT-matrix (out_modes {out_modes}, in_modes {in_modes})"
        got = answer([c.copy() for c in ttm.cores], x.copy())
        expect_shape(got, (M,), what + " with x of shape (N,)")
        expect_close(got, W @ x, what + " must equal W @ x", rtol=1e-8, atol=1e-10)
        xb = rng.standard_normal((3, N))
        got = answer([c.copy() for c in ttm.cores], xb.copy())
        expect_shape(got, (3, M), what + " with a batch x of shape (3, N)")
        expect_close(got, xb @ W.T, what + " for a batch of 3 rows must equal x @ W.T", rtol=1e-8, atol=1e-10)
    return "Single vectors and batches, against the dense W, for 1 to 3 cores, square and rectangular modes."


# --------------------------------------------------------------------------
# Exercise 5.4: FLOPs of the core-by-core matvec
# --------------------------------------------------------------------------

@exercise("5.4", "FLOPs of the core-by-core matvec", reference=_ttm_matvec_flops)
def ttm_matvec_flops(answer):
    cases = [((4, 8, 8, 4), (4, 8, 8, 4), (1, 8, 8, 8, 1), 1), ((4, 8, 8, 4), (4, 8, 8, 4), (1, 8, 8, 8, 1), 32),
             ((2, 3), (5, 7), (1, 4, 1), 3), ((4, 4, 4), (2, 7, 8), (1, 2, 5, 1), 10), ((6,), (9,), (1, 1), 2)]
    for out_modes, in_modes, ranks, batch in cases:
        what = f"ttm_matvec_flops({out_modes}, {in_modes}, {ranks}, batch={batch})"
        got = answer(out_modes, in_modes, ranks, batch)
        try:
            got = [int(f) for f in got]
        except (TypeError, ValueError):
            raise ExerciseFailed(f"{what}: return a list of d integers (one per core), got {describe(got)}") \
                from None
        expected = _ttm_matvec_flops(out_modes, in_modes, ranks, batch)
        expect_equal(len(got), len(expected), f"{what}: number of steps (one per core)")
        for k, (g, e) in enumerate(zip(got, expected)):
            expect_equal(g, e, f"{what}: FLOPs of step {k + 1} (2 x r_{k} i_{k + 1} j_{k + 1} r_{k + 1} x the "
                               f"sizes of the indices carried along: inputs not yet used, batch, outputs made)")
    return "Per-step FLOPs of the Novikov et al. layer at batch 1 and 32, and of rectangular and one-core cases."
