"""Checkers of lesson 02: the best rank-r approximation, choosing a rank, parameter counts.

The lesson computes in NumPy: matrices come back as float64 NumPy arrays, ranks and
counts as integers (the policy of :mod:`tnnlib.checking`).
"""
import numpy as np

from ..checking import (
    ATOL,
    RTOL,
    describe,
    exercise,
    expect,
    expect_array,
    expect_close,
    expect_equal,
    expect_integer,
    expect_orthonormal_columns,
    expect_shape,
)
from ..svd import low_rank_approx
from ..svd import low_rank_params as _low_rank_params
from ..svd import rank_for_energy as _rank_for_energy
from ..svd import truncated_svd as _truncated_svd

# Singular values of the test matrices: distinct (so the best rank-r approximation is unique),
# not normalised (so a relative and an absolute error differ).
_SPECTRA = {
    (6, 4): np.array([8.0, 4.0, 2.0, 1.0]),
    (4, 7): np.array([5.0, 3.0, 2.5, 0.5]),
    (5, 5): np.array([30.0, 12.0, 6.0, 0.9, 0.05]),
}


def _matrix(shape, seed=0):
    """A random matrix of the given shape with the singular values ``_SPECTRA[shape]``."""
    rng = np.random.default_rng(seed)
    m, n = shape
    s = _SPECTRA[shape]
    u, _ = np.linalg.qr(rng.standard_normal((m, len(s))))
    v, _ = np.linalg.qr(rng.standard_normal((n, len(s))))
    return (u * s) @ v.T


@exercise("2.1", "best rank-r approximation", reference=low_rank_approx)
def rank_r_approx(answer):
    for shape, s in _SPECTRA.items():
        a = _matrix(shape)
        for r in range(1, len(s) + 1):
            what = f"rank_r_approx(A, {r}) for A of shape {shape} with singular values {s.tolist()}"
            got = expect_array(answer(a, r), what, shape=shape)
            tail = float(np.sqrt((s[r:] ** 2).sum()))
            error = float(np.linalg.norm(a - got))
            expect(abs(error - tail) <= RTOL * tail + ATOL * max(1.0, float(s[0])),
                   f"{what}: ||A - A_r||_F should be sqrt(s_{r + 1}^2 + ...) = {tail:.6g} "
                   f"(Eckart-Young: keep the r LARGEST singular triplets, with their singular values), "
                   f"got {error:.6g}")
            expect_close(got, low_rank_approx(a, r), what)
    return "Matches U_r diag(S_r) Vh_r for every rank of a tall, a wide and a square matrix."


@exercise("2.2", "rank for an energy", reference=_rank_for_energy)
def rank_for_energy(answer):
    # a long spectrum, where np.cumsum(S**2)[-1] / np.sum(S**2) rounds to just below 1
    long = np.sort(np.random.default_rng(0).random(300))[::-1] * 10
    cases = [
        (np.array([4.0, 2.0, 1.0, 0.5, 0.25]), (0.5, 0.9, 0.95, 0.99, 0.999, 1.0)),
        (np.array([1.0, 1.0, 1.0, 1.0]), (0.5, 0.75, 0.8, 1.0)),        # 0.5 and 0.75: exactly on a boundary
        (np.array([3.0, 1.0, 0.0, 0.0]), (0.5, 0.95, 1.0)),               # a rank-2 matrix
        (long, (0.5, 0.9, 0.99, 1.0)),
    ]
    for s, energies in cases:
        shown = s.tolist() if len(s) < 10 else f"{len(s)} random decreasing values"
        for energy in energies:
            what = f"rank_for_energy(S, {energy}) for S = {shown}"
            got = expect_integer(answer(s.copy(), energy), f"{what}: the rank")
            expected = _rank_for_energy(s, energy)
            hint = ("the smallest r with s_1^2 + ... + s_r^2 >= energy * (s_1^2 + ... + s_k^2): "
                    "squares of the singular values, and '>=' on the boundary")
            if energy == 1.0:
                hint += ("; energy 1.0 keeps every non-zero singular value and never more than len(S) "
                         "(rounding can leave cumsum(S**2)[-1] / sum(S**2) a hair below 1)")
            expect_equal(got, expected, f"{what} ({hint})")
    return "Right on a short, a flat (ties on the boundaries), a rank-2 and a long spectrum, energy 1.0 included."


@exercise("2.3", "truncated SVD to a relative error", reference=_truncated_svd)
def truncated_svd(answer):
    for shape, s in _SPECTRA.items():
        a = _matrix(shape, seed=2)
        norm = float(np.linalg.norm(a))
        for eps in (0.5, 0.2, 0.1, 0.01):
            what = f"truncated_svd(A, eps={eps}) for A of shape {shape} with singular values {s.tolist()}"
            got = answer(a, eps=eps)
            expect(isinstance(got, (tuple, list)) and len(got) == 3,
                   f"{what}: return the three factors (U, S, Vh), got {describe(got)}")
            u, sv, vh = (expect_array(x, f"{what}: {name}") for x, name in zip(got, ("U", "S", "Vh")))
            _, s_ref, _ = _truncated_svd(a, eps=eps)
            r = len(s_ref)
            tails = [float(np.sqrt((s[k:] ** 2).sum())) for k in range(len(s) + 1)]
            expect(sv.ndim == 1, f"{what}: S must be the vector of kept singular values, got shape {sv.shape}")
            expect_equal(len(sv), r, f"{what}: the rank len(S) must be the smallest r with ||A - A_r||_F = "
                                     f"sqrt(s_(r+1)^2 + ...) <= eps * ||A||_F = {eps * norm:.4g} (the tails for "
                                     f"r = 0, 1, ... are {[round(t, 4) for t in tails]})")
            expect_shape(u, (shape[0], r), f"{what}: U")
            expect_shape(vh, (r, shape[1]), f"{what}: Vh")
            expect_close(sv, s_ref, f"{what}: S (the r largest singular values, in decreasing order)")
            expect_orthonormal_columns(u, f"{what}: U")
            expect_orthonormal_columns(vh.T, f"{what}: Vh (its rows)")
            expect_close((u * sv) @ vh, low_rank_approx(a, r), f"{what}: U diag(S) Vh (the best rank-{r} "
                         f"approximation of A)")
    return "Smallest rank with relative error <= eps, orthonormal factors, on three matrices and four eps each."


@exercise("2.4", "parameters of a rank-r factorisation", reference=_low_rank_params)
def low_rank_params(answer):
    for m, n, r in [(784, 256, 32), (4096, 4096, 16), (10, 3, 3), (1, 5, 1), (300, 20, 7)]:
        what = f"low_rank_params({m}, {n}, {r})"
        got = expect_integer(answer(m, n, r), f"{what}: the number of parameters")
        expect_equal(got, _low_rank_params(m, n, r),
                     f"{what} (X is m x r, Y is r x n; the singular values are absorbed in one of them)")
    return "r (m + n) for square, tall, wide and tiny matrices."


def break_even_rank_reference(m: int, n: int) -> int:
    """Largest rank ``r`` whose factorisation has fewer parameters than the dense ``m x n`` matrix.

    ``r (m + n) < m n``, i.e. ``r <= (m n - 1) // (m + n)``; 0 when no rank saves parameters.
    """
    return (m * n - 1) // (m + n)


@exercise("2.5", "break-even rank", reference=break_even_rank_reference)
def break_even_rank(answer):
    for m, n in [(4, 4), (784, 256), (4096, 4096), (3, 6), (1, 10), (1000, 10)]:
        what = f"break_even_rank({m}, {n})"
        r = expect_integer(answer(m, n), f"{what}: the rank")
        expected = break_even_rank_reference(m, n)
        expect_equal(r, expected, f"{what}: the largest r with r (m + n) < m n = {m * n} (strictly fewer "
                                  f"parameters; 0 if there is none). Your r gives r (m + n) = {r * (m + n)}")
    return "Largest rank that still saves parameters, on square, wide and tall shapes and exact ties."
