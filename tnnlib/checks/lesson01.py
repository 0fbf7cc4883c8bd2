"""Checkers of lesson 01: unfolding, folding, mode-n product, contraction cost."""
import numpy as np

from ..checking import exercise, expect, expect_close, expect_equal, expect_shape
from ..contraction import chain_order_flops, contraction_flops as _flops, matrix_chain_order
from ..tensor_ops import fold as _fold, mode_n_product as _mode_n_product, unfold as _unfold

_SHAPES = [(2, 3), (2, 3, 4), (3, 2, 4, 2)]


def _tensor(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@exercise("1.1", "unfold", reference=_unfold)
def unfold(answer):
    for shape in _SHAPES:
        x = _tensor(shape)
        for mode in range(len(shape)):
            what = f"unfold(X, mode={mode}) for X of shape {shape}"
            got = answer(x, mode)
            expect_shape(got, (shape[mode], x.size // shape[mode]), what)
            expect_close(got, _unfold(x, mode), what + " (row i holds the entries with index i in that mode, "
                                                       "the others in C order)")
    return "Every mode of tensors of orders 2, 3 and 4 matches the course convention."


@exercise("1.2", "fold", reference=_fold)
def fold(answer):
    for shape in _SHAPES:
        x = _tensor(shape, seed=1)
        for mode in range(len(shape)):
            what = f"fold(unfold(X, {mode}), {mode}, {shape})"
            got = answer(_unfold(x, mode), mode, shape)
            expect_shape(got, shape, what)
            expect_close(got, x, what + " must give X back")
    return "fold undoes unfold for every mode of tensors of orders 2, 3 and 4."


@exercise("1.3", "mode-n product", reference=_mode_n_product)
def mode_n_product(answer):
    for shape in _SHAPES[1:]:
        x = _tensor(shape, seed=2)
        for mode in range(len(shape)):
            u = _tensor((5, shape[mode]), seed=3 + mode)
            what = f"mode_n_product(X, U, {mode}) for X {shape}, U {u.shape}"
            got = answer(x, u, mode)
            expected_shape = shape[:mode] + (5,) + shape[mode + 1:]
            expect_shape(got, expected_shape, what)
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
    ]
    for subscripts, *shapes in cases:
        got = answer(subscripts, *shapes)
        expect(isinstance(got, (int, np.integer)), f"contraction_flops({subscripts!r}, ...) should return an "
                                                   f"integer, got {got!r}")
        expect_equal(int(got), _flops(subscripts, *shapes),
                     f"FLOPs of {subscripts!r} with shapes {shapes} (2 x the product of the sizes of all distinct "
                     f"indices)")
    return "Matrix, dot, outer, double-sum and elementwise contractions all counted right."


@exercise("1.5", "best order of a matrix chain", reference=matrix_chain_order)
def best_chain_order(answer):
    cases = [[10, 100, 5, 50], [30, 35, 15, 5, 10, 20, 25], [5, 4], [2, 50, 2, 50, 2], [40, 20, 30, 10, 30]]
    for dims in cases:
        best_flops, _ = matrix_chain_order(dims)
        got = answer(dims)
        expect(isinstance(got, tuple) and len(got) == 2,
               f"for dims {dims} return a pair (flops, order), got {got!r}")
        flops, order = got
        expect_equal(int(flops), best_flops, f"minimal FLOPs for the chain with dims {dims}")
        try:
            actual = chain_order_flops(order, dims)
        except ValueError as err:
            expect(False, f"for dims {dims} your order {order!r} is not a valid parenthesisation: {err}")
        expect_equal(actual, best_flops, f"FLOPs of your order {order!r} for dims {dims} "
                                         f"(the order must achieve the minimum you report)")
    return "Optimal cost and a parenthesisation achieving it, on five chains (incl. the textbook 6-matrix one)."
