"""Checkers of lessons 00 and 01 keep the contract (see checker_contract.py)."""
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from tnnlib.checking import ExerciseFailed
from tnnlib.checks import lesson00, lesson01

from checker_contract import make_contract_tests, make_import_test, policy_wrong_answers

WRONG_00 = {
    "0.1": [
        lambda x: np.abs(x).sum(),               # L1 norm
        lambda x: (x ** 2).sum(),                # forgot the square root
        lambda x: np.linalg.norm(x, axis=0),     # a norm per column, not one number
        lambda x: np.sqrt(np.sum(x ** 2, keepdims=True)),  # the right value, in an array of shape (1, ..., 1)
        *policy_wrong_answers(lesson00.frobenius_norm.exercise.reference, number=True),  # float32, torch
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


def _flops_shared_or_open_only(subscripts, *shapes):  # forgets an index summed within one operand
    inputs, output = subscripts.split("->")
    terms = inputs.split(",")
    sizes = {i: n for term, shape in zip(terms, shapes) for i, n in zip(term, shape)}
    counted = [i for i in sizes if i in output or sum(i in term for term in terms) > 1]
    return 2 * int(np.prod([sizes[i] for i in counted]))


WRONG_01 = {
    "1.1": [_unfold_no_move, _unfold_kolda, lambda x, mode: np.moveaxis(x, mode, 0).reshape(-1, x.shape[mode]),
            *policy_wrong_answers(lesson01._unfold)],
    "1.2": [_fold_plain_reshape, _fold_wrong_direction, *policy_wrong_answers(lesson01._fold)],
    "1.3": [_mode_product_transposed, _mode_product_forgot_fold, *policy_wrong_answers(lesson01._mode_n_product)],
    "1.4": [
        lambda s, *shapes: 2 * int(np.prod([n for shape in shapes for n in shape])),  # repeated indices counted twice
        lambda s, *shapes: lesson01._flops(s, *shapes) // 2,  # counts multiply-adds, not FLOPs
        lambda s, *shapes: max(1, int(np.prod(shapes[0]) * shapes[-1][-1])),  # m*n*k without the factor 2
        _flops_shared_or_open_only,                            # "ij,jk->i": 12 instead of 48
        lambda s, *shapes: float(lesson01._flops(s, *shapes)),  # right, but a float
    ],
    "1.5": [
        lambda dims: (sum(2 * dims[0] * dims[k] * dims[k + 1] for k in range(1, len(dims) - 1)),
                      "(" * (len(dims) - 2) + "A" + "".join(chr(66 + k) + ")" for k in range(len(dims) - 2))),
        lambda dims: (0, "A"),
        lambda dims: tuple(reversed(lesson01.matrix_chain_order(dims))),  # (order, flops): the pair swapped
        lambda dims: (float(lesson01.matrix_chain_order(dims)[0]), lesson01.matrix_chain_order(dims)[1]),  # a float
        lambda dims: (lesson01.matrix_chain_order(dims)[0], "(" + lesson01.matrix_chain_order(dims)[1]),  # unbalanced
    ],
}

(test_00_reference, test_00_stub, test_00_crash, test_00_two_wrong,
 test_00_wrong) = make_contract_tests(lesson00, WRONG_00)
(test_01_reference, test_01_stub, test_01_crash, test_01_two_wrong,
 test_01_wrong) = make_contract_tests(lesson01, WRONG_01)


@pytest.mark.parametrize("checker, answer, message", [
    (lesson01.best_chain_order, WRONG_01["1.5"][2], "you returned (order, flops)"),
    (lesson01.contraction_flops, _flops_shared_or_open_only, "in one operand or in both): expected 48, got 12"),
    (lesson01.contraction_flops, WRONG_01["1.4"][-1], "a float"),
    (lesson00.frobenius_norm, WRONG_00["0.1"][3], "expected one number, got NumPy array of shape (1,)"),
    (lesson00.frobenius_norm, lambda x: np.float32(np.sqrt((x ** 2).sum())), "float32: use float64"),
    (lesson01.unfold, lambda x, mode: lesson01._unfold(x, mode).astype(np.float32), "float32: use float64"),
    (lesson01.unfold, lambda x, mode: torch.from_numpy(lesson01._unfold(x, mode)), "expected a NumPy array, got torch"),
])
def test_typical_mistakes_are_named(checker, answer, message):
    with pytest.raises(ExerciseFailed, match=re.escape(message)):
        checker(answer)


def test_the_missing_contraction_of_the_issue():
    """On "ij,jk->i" the index k is summed inside B alone: still a loop over it (48 FLOPs, not 12)."""
    shapes = (2, 3), (3, 4)
    assert lesson01._flops("ij,jk->i", *shapes) == 48 and _flops_shared_or_open_only("ij,jk->i", *shapes) == 12


test_00_import = make_import_test(lesson00)
test_01_import = make_import_test(lesson01)


@pytest.mark.parametrize("notebook", ["00_orientation", "01_tensors", "02_svd", "03_tensor_train"])
def test_the_first_lines_say_to_run_the_setup_cell_which_guards_the_import(notebook):
    path = Path(__file__).resolve().parent.parent / "solutions" / f"{notebook}.ipynb"
    cells = json.loads(path.read_text())["cells"]
    first_lines = "".join(cells[0]["source"]).splitlines()[:6]
    assert any("Run the setup cell first" in line for line in first_lines), notebook
    setup = "".join(next(c for c in cells if c["cell_type"] == "code")["source"])
    assert setup.startswith("try:\n    import tnnlib  # noqa: F401\nexcept ImportError as error:"), notebook
    assert "python start.py" in setup.split("\n\n")[0], notebook
