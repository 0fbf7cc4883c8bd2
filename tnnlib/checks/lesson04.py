"""Checkers of lesson 04: Tucker (HOSVD) and CP (Khatri-Rao, MTTKRP, the ALS update, parameter counts)."""
import functools
import math

import numpy as np

from .. import cp as _cp
from .. import tucker as _tucker
from ..checking import (
    ExerciseFailed,
    describe,
    exercise,
    expect,
    expect_array,
    expect_close,
    expect_equal,
    expect_integer,
    expect_orthonormal_columns,
)
from ..tensor_ops import multi_mode_product, relative_error


def _hosvd(tensor, max_rank):
    """Truncated HOSVD to the multilinear ranks ``max_rank`` (reference of exercise 4.1).

    The exercise's signature, ``hosvd(tensor, max_rank)`` with ``max_rank`` a tuple of d ranks, called
    positionally; it is :func:`tnnlib.tucker.hosvd` ``(tensor, max_rank=max_rank)``.
    """
    return _tucker.hosvd(tensor, max_rank=max_rank)


def _cp_als_update(tensor, factors, mode):
    """One ALS update of factor ``mode`` (reference of exercise 4.4), before normalisation.

    ``A_k = X_(k) K (K^T K)^+`` with ``K`` the Khatri-Rao product of the other
    factors, and ``K^T K`` the Hadamard product of their Gram matrices.
    """
    gram = np.ones((factors[0].shape[1],) * 2)
    for m, factor in enumerate(factors):
        if m != mode:
            gram = gram * (factor.T @ factor)
    return _cp.mttkrp(tensor, factors, mode) @ np.linalg.pinv(gram)


def _tucker_params(shape, rank):
    """Numbers stored by a Tucker tensor (reference of exercise 4.5): ``prod r_k + sum n_k r_k``.

    ``rank`` is the core's shape ``(r_1, ..., r_d)``, as ``TuckerTensor.rank``.
    """
    return math.prod(rank) + sum(n * r for n, r in zip(shape, rank))


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------

def _tensor(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def _low_multilinear_rank(shape, ranks, noise, seed):
    """A Tucker tensor of the given ranks (decaying core) plus a little noise."""
    rng = np.random.default_rng(seed)
    core = rng.standard_normal(ranks) * np.exp(-0.4 * np.add.outer(np.arange(ranks[0]), np.arange(ranks[1]))
                                               ).reshape(ranks[:2] + (1,) * (len(ranks) - 2))
    factors = [np.linalg.qr(rng.standard_normal((n, r)))[0] for n, r in zip(shape, ranks)]
    return multi_mode_product(core, factors) + noise * rng.standard_normal(shape)


def _matrices(rows, rank, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, rank)) for n in rows]


# --------------------------------------------------------------------------
# Exercise 4.1: HOSVD
# --------------------------------------------------------------------------

def _parts_of(result, what):
    if isinstance(result, _tucker.TuckerTensor):
        return result.core, list(result.factors)
    raise ExerciseFailed(f"{what}: expected a TuckerTensor (return TuckerTensor(core, factors)), "
                         f"got {describe(result)}")


def _expect_leading_subspace(u, u_ref, mode, what, tol=1e-6):
    """Fail unless the columns of ``u`` span the subspace of the orthonormal columns of ``u_ref``.

    Signs, order and rotations of the basis are free: only the subspace is compared. For each
    leading singular vector ``u_ref[:, j]`` the part outside ``span(u)``,
    ``||u_ref[:, j] - u u^T u_ref[:, j]||``, is 0 if it lies in the subspace and 1 if it is orthogonal to it.
    """
    u = np.asarray(u)
    outside = np.linalg.norm(u_ref - u @ (u.T @ u_ref), axis=0)
    missing = [j for j, part in enumerate(outside) if part > tol]
    if missing:
        n, r = u_ref.shape
        listed = ", ".join(f"vector {j + 1}: {outside[j]:.2f}" for j in missing[:6])
        raise ExerciseFailed(
            f"{what}: the columns of U_{mode} ({n} x {r}) must span the {r} leading left singular vectors of the "
            f"mode-{mode} unfolding (any orthonormal basis of that subspace passes; signs and order are free), "
            f"but {len(missing)} of those {r} vectors stick out of your subspace (part outside it, 0 if inside, "
            f"1 if orthogonal: {listed}). Take the eigenvectors of the {r} LARGEST eigenvalues of "
            f"X_({mode}) X_({mode})^T: np.linalg.eigh returns them in increasing order.")


@exercise("4.1", "HOSVD", reference=_hosvd)
def hosvd(answer):
    cases = [((6, 5, 4), (3, 2, 2), 0), ((7, 4, 5), (2, 3, 4), 1), ((4, 5, 3, 6), (2, 3, 2, 3), 2),
             ((5, 5, 5), (5, 5, 5), 3)]
    for shape, ranks, seed in cases:
        x = _low_multilinear_rank(shape, ranks, noise=0.3, seed=seed)
        what = f"hosvd(X, max_rank={ranks}) for X of shape {shape}"
        core, factors = _parts_of(answer(x, ranks), what)
        expect_array(core, what + ": the core", shape=ranks)
        expect_equal(len(factors), len(shape), what + ": number of factor matrices")
        expected = _hosvd(x, ranks)
        for k, (u, u_ref) in enumerate(zip(factors, expected.factors)):
            expect_array(u, f"{what}: factor U_{k} (n_{k} x r_{k})", shape=(shape[k], ranks[k]))
            expect_orthonormal_columns(u, f"{what}: factor U_{k}")
            _expect_leading_subspace(u, u_ref, k, what)
        expect_close(core, multi_mode_product(x, factors, transpose=True),
                     f"{what}: the core must be the projection X x_1 U_1^T x_2 U_2^T ... of X on your factors")
        error = np.linalg.norm(x - multi_mode_product(core, factors)) / np.linalg.norm(x)
        expect_close(error, relative_error(x, expected), f"{what}: relative error of the reconstruction")
    return ("Factor subspaces, orthonormality, the projected core and the error match on orders 3 and 4 "
            "(including full ranks).")


# --------------------------------------------------------------------------
# Exercise 4.2: Khatri-Rao product
# --------------------------------------------------------------------------

@exercise("4.2", "Khatri-Rao product", reference=_cp.khatri_rao)
def khatri_rao(answer):
    cases = [((3, 4), 2, 0), ((2, 3, 4), 3, 1), ((5,), 3, 2), ((2, 2, 3, 2), 2, 3)]
    for rows, rank, seed in cases:
        mats = _matrices(rows, rank, seed)
        what = f"khatri_rao of {len(rows)} matrice(s) of shapes {[m.shape for m in mats]}"
        got = answer(mats)
        expect_array(got, what, shape=(math.prod(rows), rank))
        if len(rows) >= 2:
            expect_close(np.asarray(got)[:, 0], functools.reduce(np.kron, [m[:, 0] for m in mats]),
                         what + ": column 0 must be kron(A_1[:, 0], A_2[:, 0], ...), the LAST index varying "
                                "fastest (C order)")
        expect_close(got, _cp.khatri_rao(mats), what)
    return "Shapes and values (C order, last matrix fastest) for 1, 2, 3 and 4 matrices."


# --------------------------------------------------------------------------
# Exercise 4.3: MTTKRP
# --------------------------------------------------------------------------

@exercise("4.3", "MTTKRP", reference=_cp.mttkrp)
def mttkrp(answer):
    cases = [((4, 5, 3), 2, 0), ((3, 4, 2, 5), 3, 1)]
    for shape, rank, seed in cases:
        x = _tensor(shape, seed)
        factors = _matrices(shape, rank, seed + 10)
        for mode in range(len(shape)):
            what = f"mttkrp(X, factors, mode={mode}) for X of shape {shape}, rank {rank}"
            got = answer(x, factors, mode)
            expect_array(got, what, shape=(shape[mode], rank))
            expect_close(got, _cp.mttkrp(x, factors, mode), what + " (X_(k) times the Khatri-Rao product of "
                                                                  "the OTHER factors, in mode order)")
    # exactness on a CP tensor: X_(k) K = A_k diag(lambda) K^T K
    cp = _cp.random_cp((4, 3, 5), 2, seed=4)
    x = cp.to_dense()
    got = answer(x, cp.factors, 1)
    others = [cp.factors[0], cp.factors[2]]
    gram = (others[0].T @ others[0]) * (others[1].T @ others[1])
    expect_close(got, cp.factors[1] @ gram, "mttkrp of a rank-2 CP tensor in mode 1 must equal "
                                            "A_1 (A_0^T A_0 * A_2^T A_2)")
    return "Every mode of an order-3 and an order-4 tensor, and the identity X_(k) K = A_k V on a CP tensor."


# --------------------------------------------------------------------------
# Exercise 4.4: one ALS update
# --------------------------------------------------------------------------

@exercise("4.4", "CP-ALS update of one factor", reference=_cp_als_update)
def cp_als_update(answer):
    for shape, rank, seed in [((5, 4, 6), 3, 0), ((3, 4, 3, 2), 2, 1)]:
        x = _tensor(shape, seed)
        factors = _matrices(shape, rank, seed + 20)
        for mode in range(len(shape)):
            what = f"cp_als_update(X, factors, mode={mode}) for X of shape {shape}, rank {rank}"
            before = [f.copy() for f in factors]
            got = answer(x, factors, mode)
            expect(all(np.array_equal(f, b) for f, b in zip(factors, before)),
                   f"{what}: your function changed the factor matrices it was given (return a new matrix)")
            expect_array(got, what, shape=(shape[mode], rank))
            expect_close(got, _cp_als_update(x, factors, mode), what + " (A_k = MTTKRP times the inverse of "
                         "the Hadamard product of the other factors' Gram matrices)")
    # the update is the least-squares optimum: it recovers an exact CP factor from the true others
    cp = _cp.random_cp((5, 4, 3), 3, seed=7)
    got = answer(cp.to_dense(), [np.zeros((5, 3))] + cp.factors[1:], 0)
    expect_close(got, cp.factors[0], "on an exact rank-3 CP tensor, with the true factors 1 and 2 and "
                                     "zeros as factor 0, the update must recover factor 0")
    return "Matches the normal-equation solution in every mode, and recovers an exact factor."


# --------------------------------------------------------------------------
# Exercise 4.5: Tucker parameter count
# --------------------------------------------------------------------------

@exercise("4.5", "parameters of a Tucker tensor", reference=_tucker_params)
def tucker_params(answer):
    cases = [((10, 20, 30), (2, 3, 4)), ((28, 28), (5, 5)), ((1000, 28, 28), (40, 11, 11)),
             ((4,) * 6, (2,) * 6), ((7,), (3,))]
    for shape, rank in cases:
        got = answer(shape, rank)
        got = expect_integer(got, f"tucker_params({shape}, {rank})")
        expect_equal(got, _tucker_params(shape, rank),
                     f"tucker_params({shape}, {rank}) (core r_1...r_d plus the factors n_k x r_k)")
    return "Orders 1 to 6, checked against prod(r_k) + sum(n_k r_k)."
