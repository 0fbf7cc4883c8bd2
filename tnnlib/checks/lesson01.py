"""Checkers of lesson 01: unfolding, folding, mode-n product, contraction cost.

The lesson computes in NumPy: arrays come back as float64 NumPy arrays, counts as
integers (the policy of :mod:`tnnlib.checking`).
"""
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
from ..contraction import chain_order_flops, matrix_chain_order
from ..contraction import contraction_flops as _flops
from ..tensor_ops import fold as _fold
from ..tensor_ops import mode_n_product as _mode_n_product
from ..tensor_ops import unfold as _unfold

_SHAPES = [(2, 3), (2, 3, 4), (3, 2, 4, 2)]


def _tensor(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@exercise("1.1", "unfold", reference=_unfold)
def unfold(answer):
    for shape in _SHAPES:
        x = _tensor(shape)
        for mode in range(len(shape)):
            what = f"unfold(X, mode={mode}) for X of shape {shape}"
            got = expect_array(answer(x, mode), what, shape=(shape[mode], x.size // shape[mode]))
            expect_close(got, _unfold(x, mode), what + " (row i holds the entries with index i in that mode, "
                                                       "the others in C order)")
    return "Every mode of tensors of orders 2, 3 and 4 matches the course convention."


@exercise("1.2", "fold", reference=_fold)
def fold(answer):
    for shape in _SHAPES:
        x = _tensor(shape, seed=1)
        for mode in range(len(shape)):
            what = f"fold(unfold(X, {mode}), {mode}, {shape})"
            got = expect_array(answer(_unfold(x, mode), mode, shape), what, shape=shape)
            expect_close(got, x, what + " must give X back")
    return "fold undoes unfold for every mode of tensors of orders 2, 3 and 4."


@exercise("1.3", "mode-n product", reference=_mode_n_product)
def mode_n_product(answer):
    for shape in _SHAPES[1:]:
        x = _tensor(shape, seed=2)
        for mode in range(len(shape)):
            u = _tensor((5, shape[mode]), seed=3 + mode)
            what = f"mode_n_product(X, U, {mode}) for X {shape}, U {u.shape}"
            expected_shape = shape[:mode] + (5,) + shape[mode + 1:]
            got = expect_array(answer(x, u, mode), what, shape=expected_shape)
            expect_close(got, _mode_n_product(x, u, mode), what)
    return "Shapes and values match for every mode of order-3 and order-4 tensors."


@exercise("1.4", "FLOPs of a pairwise contraction", reference=_flops)
def contraction_flops(answer):
    cases = [
        ("ij,jk->ik", (2, 3), (3, 4)),        # matrix product: 2*2*3*4
        ("i,i->", (7,), (7,)),                # dot product
        ("ij,k->ijk", (2, 3), (5,)),          # outer product, nothing summed
        ("abc,cbd->ad", (4, 5, 6), (6, 5, 3)),  # two indices summed at once
        ("ab,ab->ab", (3, 4), (3, 4)),         # elementwise (Hadamard) product
        ("ij,jk->i", (2, 3), (3, 4)),         # k appears in one operand only, and is summed: 2*2*3*4 = 48
    ]
    for subscripts, *shapes in cases:
        got = expect_integer(answer(subscripts, *shapes), f"contraction_flops({subscripts!r}, ...)")
        expect_equal(got, _flops(subscripts, *shapes),
                     f"FLOPs of {subscripts!r} with shapes {shapes} (2 x the product of the sizes of all distinct "
                     f"indices: summed or open, in one operand or in both)")
    return ("Matrix, dot, outer, double-sum and elementwise contractions, and an index summed in one operand only, "
            "all counted right.")


@exercise("1.5", "best order of a matrix chain", reference=matrix_chain_order)
def best_chain_order(answer):
    cases = [[10, 100, 5, 50], [30, 35, 15, 5, 10, 20, 25], [5, 4], [2, 50, 2, 50, 2], [40, 20, 30, 10, 30]]
    for dims in cases:
        best_flops, _ = matrix_chain_order(dims)
        got = answer(dims)
        expect(isinstance(got, (tuple, list)) and len(got) == 2,
               f"for dims {dims} return a pair (flops, order), got {describe(got)}")
        flops, order = got
        if isinstance(flops, str) and not isinstance(order, str):
            raise ExerciseFailed(f"for dims {dims} return the pair (flops, order), FLOPs first; you returned "
                                 f"(order, flops) = {got!r}")
        flops = expect_integer(flops, f"for dims {dims}, the minimal FLOPs (the first entry of the pair)")
        expect(isinstance(order, str), f"for dims {dims}, the order (the second entry of the pair) must be a string "
                                       f"such as '((AB)C)', got {describe(order)}")
        expect_equal(flops, best_flops, f"minimal FLOPs for the chain with dims {dims}")
        try:
            actual = chain_order_flops(order, dims)
        except (ValueError, TypeError, IndexError, KeyError) as err:
            raise ExerciseFailed(f"for dims {dims} your order {order!r} is not a valid parenthesisation: {err}") \
                from None
        expect_equal(actual, best_flops, f"FLOPs of your order {order!r} for dims {dims} "
                                         f"(the order must achieve the minimum you report)")
    return "Optimal cost and a parenthesisation achieving it, on five chains (incl. the textbook 6-matrix one)."
