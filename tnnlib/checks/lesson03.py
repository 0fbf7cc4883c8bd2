"""Checkers of lesson 03: tensor train (contraction, TT-SVD, left-orthogonalization, inner product, QTT).

The lesson computes in NumPy: full tensors come back as float64 NumPy arrays,
trains as ``TTTensor``s of float64 NumPy cores, the inner product as one number
(the policy of :mod:`tnnlib.checking`).
"""
import numpy as np

from .. import tt as _tt
from ..checking import (
    ATOL,
    RTOL,
    ExerciseFailed,
    describe,
    exercise,
    expect,
    expect_array,
    expect_close,
    expect_equal,
    expect_number,
)
from ..tensor_ops import relative_error


def reference_tt_to_tensor(tt):
    """The full tensor of a TTTensor (reference of exercise 3.1: ``tt.to_dense()``)."""
    return tt.to_dense()


def reference_image_to_qtt(image):
    """A 2^k x 2^k image as a (4, ..., 4) tensor of order k, row and column bits interleaved.

    Pixel ``(row, col)`` with ``row = (b_1 ... b_k)_2`` and ``col = (c_1 ... c_k)_2``
    (most significant bit first) goes to index ``(i_1, ..., i_k)`` with
    ``i_m = 2 b_m + c_m``: ``i_1`` picks a quadrant, ``i_2`` a quadrant of it, ...
    """
    image = np.asarray(image)
    side = image.shape[0]
    k = side.bit_length() - 1
    if image.ndim != 2 or image.shape[1] != side or side != 2 ** k or k < 1:
        raise ValueError(f"expected a 2^k x 2^k image with k >= 1, got shape {image.shape}")
    bits = image.reshape((2,) * (2 * k))                      # (b_1..b_k, c_1..c_k)
    order = [axis for m in range(k) for axis in (m, k + m)]   # (b_1, c_1, b_2, c_2, ...)
    return bits.transpose(order).reshape((4,) * k)


# --------------------------------------------------------------------------
# Inputs and helpers
# --------------------------------------------------------------------------

class _NoFullTensor(_tt.TTTensor):
    """A TTTensor whose ``to_dense`` refuses: for exercises that must not form the full tensor."""

    def to_dense(self):
        raise RuntimeError("this exercise must not form the full tensor (your code called to_dense())")


def _no_full(tt):
    return _NoFullTensor(list(tt.cores))


def _cores_of(result, what):
    """The cores of a returned TTTensor: float64 NumPy arrays (the cells below use ``.rank``, ``.to_dense()``...)."""
    if not isinstance(result, _tt.TTTensor):
        hint = " of cores" if isinstance(result, (list, tuple)) else ""
        raise ExerciseFailed(f"{what}: expected a TTTensor (return TTTensor(cores): the cells below use its .rank, "
                             f".n_params and .to_dense()), got {describe(result)}{hint}")
    return [expect_array(core, f"{what}: core G_{k}") for k, core in enumerate(result.cores, start=1)]


def _ranks(cores):
    return (1,) + tuple(int(c.shape[2]) for c in cores)


def _full(cores):
    return _tt.TTTensor(list(cores)).to_dense()


def _snapshot(tt):
    return [c.copy() for c in tt.cores]


def _expect_input_unchanged(tt, before, what):
    same = len(tt.cores) == len(before) and all(
        c.shape == b.shape and np.array_equal(c, b) for c, b in zip(tt.cores, before))
    expect(same, f"{what}: your function changed the TT tensor it was given (copy the list of cores first, "
                 f"e.g. cores = list(tt.cores), and build a new TTTensor)")


def _lowrank_plus_noise(shape, ranks, noise, seed):
    """A full tensor: a random TT of the given ranks plus a little Gaussian noise."""
    x = _tt.random_tt(shape, ranks, seed=seed).to_dense()
    return x + noise * np.random.default_rng(seed + 100).standard_normal(shape)


# --------------------------------------------------------------------------
# The checkers
# --------------------------------------------------------------------------

_TRAINS = [((5,), 1), ((2, 3, 4), 2), ((3, 2, 4, 2, 3), [2, 3, 3, 2]), ((2, 2, 2, 2, 2, 2), [1, 2, 4, 2, 1])]


@exercise("3.1", "contract a tensor train", reference=reference_tt_to_tensor)
def tt_to_tensor(answer):
    for k, (shape, ranks) in enumerate(_TRAINS):
        tt = _tt.random_tt(shape, ranks, seed=10 + k)
        before = _snapshot(tt)
        what = f"tt_to_tensor(tt) for a TT of shape {shape} and ranks {tt.rank}"
        got = expect_array(answer(tt), what)
        expect_equal(got.shape, shape, what + ": the shape (drop the boundary ranks r_0 = r_d = 1)")
        expect_close(got, tt.to_dense(), what)
        _expect_input_unchanged(tt, before, what)
    return "Orders 1, 3, 5 and 6, with unequal ranks and mode sizes, give the right full tensor."


_SVD_CASES = [((4, 5, 6), [3, 4], 2), ((3, 4, 5, 3), [2, 3, 2], 3), ((2, 3, 2, 3, 2), [2, 3, 3, 2], 4),
              ((3, 4, 5, 3), [2, 3, 2], 100), ((6, 5), [3], 2)]


@exercise("3.2", "TT-SVD with a maximal rank", reference=_tt.tt_svd)
def tt_svd(answer):
    for k, (shape, true_ranks, max_rank) in enumerate(_SVD_CASES):
        x = _lowrank_plus_noise(shape, true_ranks, noise=0.05, seed=20 + k)
        ref = _tt.tt_svd(x, max_rank=max_rank, method="svd")
        what = f"tt_svd(A, max_rank={max_rank}) for A of shape {shape} (a TT of ranks {true_ranks} plus noise)"
        cores = _cores_of(answer(x.copy(), max_rank=max_rank), what)
        expect_equal(tuple(int(c.shape[1]) for c in cores), shape, what + ": mode sizes n_k of the cores")
        expect_equal(_ranks(cores), ref.rank,
                     what + ": TT ranks (r_k = min(max_rank, rank of the k-th unfolding); "
                            "r_k can exceed neither r_{k-1} n_k nor n_{k+1}...n_d)")
        err, ref_err = relative_error(x, _full(cores)), relative_error(x, ref)
        expect(abs(err - ref_err) <= RTOL * ref_err + ATOL,
               f"{what}: relative error ||A - TT|| / ||A|| is {err:.6g}, TT-SVD gives {ref_err:.6g} "
               f"(reshape C to (r_(k-1) n_k, rest) in C order, keep U as the core, carry S V^T on)")
        for m, core in enumerate(cores[:-1], start=1):
            expect(_tt.is_left_orthogonal(core, tol=1e-8),
                   f"{what}: core G_{m} is not left-orthogonal; TT-SVD keeps U (orthonormal columns) as the "
                   f"core and carries S V^T on to the next step")
    return ("Ranks, reconstruction error (equal to the reference's) and left-orthogonal cores on five tensors, "
            "with and without truncation.")


@exercise("3.3", "left-orthogonalize by QR", reference=_tt.left_orthogonalize)
def left_orthogonalize(answer):
    cases = [((3, 4, 5), [2, 3]), ((2, 3, 4, 3, 2), [2, 5, 5, 2]), ((4, 4, 4, 4), [1, 8, 3]), ((7,), 1)]
    for k, (shape, ranks) in enumerate(cases):
        tt = _tt.random_tt(shape, ranks, seed=30 + k) * 3.0
        full, before = tt.to_dense(), _snapshot(tt)
        what = f"left_orthogonalize(tt) for a TT of shape {shape} and ranks {tt.rank}"
        cores = _cores_of(answer(tt), what)
        _expect_input_unchanged(tt, before, what)
        expect_equal(tuple(int(c.shape[1]) for c in cores), shape, what + ": mode sizes")
        ranks_got = _ranks(cores)
        expect(all(a <= b for a, b in zip(ranks_got, tt.rank)),
               f"{what}: ranks grew from {tt.rank} to {ranks_got} (use the reduced QR: Q of shape "
               f"(r_(k-1) n_k, min(r_(k-1) n_k, r_k)))")
        expect_close(_full(cores), full, what + ": the tensor must not change (QR of the (r_(k-1) n_k) x r_k "
                                     "unfolding in C order; R multiplied into the next core)")
        for m, core in enumerate(cores[:-1], start=1):
            expect(_tt.is_left_orthogonal(core, tol=1e-8),
                   f"{what}: core G_{m} is not left-orthogonal (QR of its (r_(k-1) n_k) x r_k unfolding, "
                   f"keep Q as the core)")
    return "Every core but the last is left-orthogonal, the tensor is unchanged and no rank grows (orders 1-5)."


@exercise("3.4", "inner product of two trains", reference=_tt.inner)
def tt_inner(answer):
    cases = [((3, 4, 5), 2, 3), ((2, 3, 2, 3), [2, 3, 2], [1, 2, 3]), ((6,), 1, 1), ((2,) * 12, 3, 4)]
    for k, (shape, ranks_a, ranks_b) in enumerate(cases):
        a, b = _tt.random_tt(shape, ranks_a, seed=40 + k), _tt.random_tt(shape, ranks_b, seed=50 + k)
        expected = float(np.vdot(a.to_dense(), b.to_dense()))
        what = f"tt_inner(a, b) for TTs of shape {shape} and ranks {a.rank}, {b.rank}"
        value = expect_number(answer(_no_full(a), _no_full(b)), what)
        expect_close(value, expected, what)
        self_what = f"tt_inner(a, a) = ||a||^2 for a TT of shape {shape}"
        self_product = expect_number(answer(_no_full(a), _no_full(a)), self_what)
        expect_close(self_product, float(np.vdot(a.to_dense(), a.to_dense())), self_what)
    return "Four pairs of trains (different ranks, orders 1 to 12) and <a, a> = ||a||^2, without full tensors."


@exercise("3.5", "an image as a QTT tensor", reference=reference_image_to_qtt)
def image_to_qtt(answer):
    for k in (1, 2, 3, 4):
        side = 2 ** k
        image = np.random.default_rng(60 + k).random((side, side))
        what = f"image_to_qtt(image) for a {side} x {side} image"
        got = expect_array(answer(image.copy()), what, shape=(4,) * k)
        for row, col in [(0, side - 1), (side - 1, 0), (1, 0), (0, 1), (side - 1, side - 2), (side // 2, 1)]:
            bits_r = [(row >> (k - m)) & 1 for m in range(1, k + 1)]
            bits_c = [(col >> (k - m)) & 1 for m in range(1, k + 1)]
            index = tuple(2 * b + c for b, c in zip(bits_r, bits_c))
            if got[index] != image[row, col] and np.isclose(got[index], image[row, col], rtol=1e-6, atol=0):
                raise ExerciseFailed(
                    f"{what}: pixel (row {row}, col {col}) is at the right index {index}, but its value changed "
                    f"in the last digits: {got[index]!r} instead of {image[row, col]!r}. Moving pixels "
                    f"(reshape, transpose) copies them exactly; do not compute with them or convert their dtype")
            expect(got[index] == image[row, col],
                   f"{what}: pixel (row {row}, col {col}) has row bits {bits_r} and column bits {bits_c} "
                   f"(most significant first), so it belongs at index i_m = 2 b_m + c_m = {index}; "
                   f"there you have {got[index]:.6g}, the pixel is {image[row, col]:.6g}")
        expect_close(got, reference_image_to_qtt(image), what)
    return "Shapes and the position of every pixel (i_m = 2 b_m + c_m, most significant bit first) for k = 1..4."
