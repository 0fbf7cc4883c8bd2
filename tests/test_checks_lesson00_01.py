"""Checkers of lessons 00 and 01 keep the contract (see checker_contract.py)."""
import numpy as np

from checker_contract import make_contract_tests
from tnnlib.checks import lesson00, lesson01

WRONG_00 = {
    "0.1": [
        lambda x: np.abs(x).sum(),               # L1 norm
        lambda x: (x ** 2).sum(),                # forgot the square root
        lambda x: np.linalg.norm(x, axis=0),     # a norm per column, not one number
    ],
}


def _unfold_no_move(x, mode):                    # reshapes without bringing the mode to the front
    return x.reshape(x.shape[mode], -1)


def _unfold_kolda(x, mode):                      # Fortran-order columns (another convention)
    return np.reshape(np.moveaxis(x, mode, 0), (x.shape[mode], -1), order="F")


def _fold_plain_reshape(m, mode, shape):         # ignores the mode
    return m.reshape(shape)


def _fold_wrong_direction(m, mode, shape):       # moves axis 0 to the end instead of to `mode`
    moved = (shape[mode],) + tuple(s for i, s in enumerate(shape) if i != mode)
    return np.moveaxis(m.reshape(moved), 0, -1) if moved[::-1] != shape else m.reshape(shape)


def _mode_product_transposed(x, u, mode):        # multiplies by U^T's contraction pattern (wrong index of U)
    return np.moveaxis(np.tensordot(x, u, axes=([mode], [1])), -1, 0)


def _mode_product_forgot_fold(x, u, mode):       # returns the unfolded result
    return u @ np.moveaxis(x, mode, 0).reshape(x.shape[mode], -1)


WRONG_01 = {
    "1.1": [_unfold_no_move, _unfold_kolda, lambda x, mode: np.moveaxis(x, mode, 0).reshape(-1, x.shape[mode])],
    "1.2": [_fold_plain_reshape, _fold_wrong_direction],
    "1.3": [_mode_product_transposed, _mode_product_forgot_fold],
    "1.4": [
        lambda s, *shapes: 2 * int(np.prod([n for shape in shapes for n in shape])),  # repeated indices counted twice
        lambda s, *shapes: lesson01._flops(s, *shapes) // 2,  # counts multiply-adds, not FLOPs
        lambda s, *shapes: max(1, int(np.prod(shapes[0]) * shapes[-1][-1])),  # m*n*k without the factor 2
    ],
    "1.5": [
        lambda dims: (sum(2 * dims[0] * dims[k] * dims[k + 1] for k in range(1, len(dims) - 1)),
                      "(" * (len(dims) - 2) + "A" + "".join(chr(66 + k) + ")" for k in range(len(dims) - 2))),
        lambda dims: (0, "A"),
    ],
}

(test_00_reference, test_00_stub, test_00_crash, test_00_two_wrong, test_00_wrong) = make_contract_tests(lesson00, WRONG_00)
(test_01_reference, test_01_stub, test_01_crash, test_01_two_wrong, test_01_wrong) = make_contract_tests(lesson01, WRONG_01)
