"""Checkers of lesson 05 (tensor ring, TT-matrix) keep the contract (see checker_contract.py)."""
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from tnnlib.checking import ExerciseFailed
from tnnlib.checks import lesson05
from tnnlib.tt import TTTensor
from tnnlib.ttm import TTMatrix

from checker_contract import make_contract_tests


def _chain_product(cores):
    """G_1[:, i_1, :] ... G_d[:, i_d, :] for all indices: shape (r_0, n_1, ..., n_d, r_d)."""
    out = cores[0]
    for core in cores[1:]:
        out = np.tensordot(out, core, axes=([-1], [0]))
    return out


def _tr_no_trace(cores):                   # reads the ring as a train: takes the [0, ..., 0] corner
    return _chain_product(cores)[0, ..., 0]


def _tr_sum_all(cores):                    # sums every entry of the product matrix instead of its diagonal
    return _chain_product(cores).sum(axis=(0, -1))


def _tr_modes_reversed(cores):             # right numbers, modes in reverse order (a loop run backwards)
    return np.einsum("a...a->...", _chain_product(cores)).transpose()


def _reshape_inputs_first(W, out_modes, in_modes):   # interleaves (j_1, i_1, j_2, i_2, ...)
    d = len(out_modes)
    t = W.reshape(tuple(out_modes) + tuple(in_modes))
    order = [axis for k in range(d) for axis in (d + k, k)]
    return t.transpose(order).reshape([i * j for i, j in zip(out_modes, in_modes)])


def _reshape_no_interleave(W, out_modes, in_modes):  # merges consecutive entries without permuting
    return W.reshape([i * j for i, j in zip(out_modes, in_modes)])


def _reshape_transposed(W, out_modes, in_modes):     # treats W as (in, out): W.T reshaped
    d = len(out_modes)
    t = W.T.reshape(tuple(in_modes) + tuple(out_modes))
    order = [axis for k in range(d) for axis in (k, d + k)]
    return t.transpose(order).reshape([i * j for i, j in zip(out_modes, in_modes)])


def _matvec_output_fortran_order(cores, x):     # writes y's index (i_1..i_d) with i_1 varying fastest
    outs = [c.shape[1] for c in cores]
    y = np.asarray(TTMatrix(cores).matvec(x))
    batch = y.shape[:-1]
    lead = len(batch)
    yc = y.reshape(batch + tuple(outs))
    return yc.transpose(tuple(range(lead)) + tuple(range(yc.ndim - 1, lead - 1, -1))).reshape(y.shape)


def _matvec_fortran_order(cores, x):           # reads x's index (j_1..j_d) with j_1 varying fastest
    ins = [c.shape[2] for c in cores]
    x = np.asarray(x)
    batch = x.shape[:-1]
    xf = x.reshape(batch + tuple(ins[::-1]))
    lead = len(batch)
    xf = xf.transpose(tuple(range(lead)) + tuple(range(xf.ndim - 1, lead - 1, -1))).reshape(x.shape)
    return TTMatrix(cores).matvec(xf)


def _matvec_single_only(cores, x):                   # flattens the batch: only right for one vector
    y = TTMatrix(cores).matvec(np.asarray(x).reshape(-1)[: TTMatrix(cores).shape[1]])
    return y


def _matvec_via_to_dense(cores, x):                  # right values, but builds W (what 5.3 forbids)
    return np.asarray(x) @ TTMatrix(list(cores)).to_dense().T


def _dense_by_einsum(cores):                         # W from all cores at once, by hand: (i_1..i_d, j_1..j_d)
    d = len(cores)
    letters = "abcdefghijklmnopqrstuvwxyz"
    bonds, outs, ins = letters[:d + 1], letters[d + 1:2 * d + 1], letters[2 * d + 1:3 * d + 1]
    spec = ",".join(bonds[k] + outs[k] + ins[k] + bonds[k + 1] for k in range(d))
    W = np.einsum(f"{spec}->{bonds[0]}{outs}{ins}{bonds[d]}", *cores, optimize=True)
    return W.reshape(math.prod(c.shape[1] for c in cores), -1)


def _matvec_via_einsum_dense(cores, x):              # right values, builds W without calling to_dense
    return np.asarray(x) @ _dense_by_einsum(cores).T


def _flops_no_batch(out_modes, in_modes, ranks, batch=1):
    return lesson05._ttm_matvec_flops(out_modes, in_modes, ranks, 1)


def _flops_multiply_adds(out_modes, in_modes, ranks, batch=1):
    return [f // 2 for f in lesson05._ttm_matvec_flops(out_modes, in_modes, ranks, batch)]


def _flops_all_inputs(out_modes, in_modes, ranks, batch=1):   # keeps all j's at every step
    N = math.prod(in_modes)
    return [2 * ranks[k] * out_modes[k] * N * ranks[k + 1] * batch * math.prod(out_modes[:k])
            for k in range(len(out_modes))]


def _flops_forgot_rank(out_modes, in_modes, ranks, batch=1):  # forgets r_k (the new bond)
    return [f // ranks[k + 1] for k, f in enumerate(lesson05._ttm_matvec_flops(out_modes, in_modes, ranks, batch))]


WRONG_ANSWERS = {
    "5.1": [_tr_no_trace, _tr_sum_all, _tr_modes_reversed],
    "5.2": [_reshape_inputs_first, _reshape_no_interleave, _reshape_transposed],
    "5.3": [_matvec_output_fortran_order, _matvec_fortran_order, _matvec_single_only, _matvec_via_to_dense,
            _matvec_via_einsum_dense],
    "5.4": [_flops_no_batch, _flops_multiply_adds, _flops_all_inputs, _flops_forgot_rank],
}

(test_reference_passes, test_stub_is_pending_and_falls_back, test_crash_is_reported_as_the_learners,
 test_at_least_two_wrong_answers, test_wrong_answer_fails) = make_contract_tests(lesson05, WRONG_ANSWERS)


# --------------------------------------------------------------------------
# 5.3 checks what the exercise asks for: W @ x without forming W
# --------------------------------------------------------------------------

def _matvec_tensordot(cores, x):                     # the lesson's solution: tensordot, then moveaxis
    single = x.ndim == 1
    x = np.atleast_2d(x)
    z = x.reshape((x.shape[0], 1) + tuple(core.shape[2] for core in cores))
    for core in cores:
        z = np.moveaxis(np.tensordot(z, core, axes=([1, 2], [0, 2])), -1, 1)
    y = z.reshape(x.shape[0], -1)
    return y[0] if single else y


def _matvec_einsum_per_core(cores, x):               # one einsum per core on z = (b, outputs made, inputs left, r)
    xb = np.atleast_2d(x)
    B = xb.shape[0]
    z = xb.reshape(B, 1, -1, 1)
    for core in cores:
        r, i, j, r_next = core.shape
        z = z.reshape(B, z.shape[1], j, -1, r)
        z = np.einsum("bojxr,rijs->boixs", z, core).reshape(B, z.shape[1] * i, -1, r_next)
    return z.reshape(B, -1) if x.ndim == 2 else z.reshape(-1)


def test_correct_ways_of_the_matvec_pass(capsys):
    for answer in (_matvec_tensordot, _matvec_einsum_per_core, lesson05._ttm_matvec):
        assert lesson05.ttm_matvec(answer) is answer
        assert "W never formed" in capsys.readouterr().out


def test_matvec_through_to_dense_is_named():
    with pytest.raises(ExerciseFailed, match=r"must not form the full tensor: your code called TTMatrix\.to_dense"):
        lesson05.ttm_matvec(_matvec_via_to_dense)


def test_matvec_that_builds_w_by_hand_is_caught_by_memory():
    with pytest.raises(ExerciseFailed, match=r"1024 x 2048 TT-matrix.*allocated .* MB at its peak, while W itself "
                                             r"takes 16\.8 MB.*it seems to build W"):
        lesson05.ttm_matvec(_matvec_via_einsum_dense)


def test_to_dense_is_restored_after_the_check():
    saved = TTMatrix.to_dense, TTTensor.to_dense
    with pytest.raises(ExerciseFailed):
        lesson05.ttm_matvec(_matvec_via_to_dense)
    assert (TTMatrix.to_dense, TTTensor.to_dense) == saved


def test_flops_as_floats_are_rejected():       # e.g. computed with / instead of integer arithmetic
    with pytest.raises(ExerciseFailed, match=r"entry 0 of your list \(the FLOPs of step 1\): expected an integer"):
        lesson05.ttm_matvec_flops(lambda o, i, r, batch=1: [float(f)
                                                            for f in lesson05._ttm_matvec_flops(o, i, r, batch)])


def test_flops_as_a_numpy_array_of_integers_pass(capsys):
    answer = lambda o, i, r, batch=1: np.array(lesson05._ttm_matvec_flops(o, i, r, batch))  # noqa: E731
    assert lesson05.ttm_matvec_flops(answer) is answer


# --------------------------------------------------------------------------
# The lesson itself (solutions/05): the setup guard, asserts that explain themselves, section numbers
# --------------------------------------------------------------------------

LESSON = Path(__file__).resolve().parent.parent / "solutions" / "05_tensor_ring_mpo.ipynb"


def _cells(kind):
    return [("".join(c["source"]), c.get("id")) for c in json.loads(LESSON.read_text())["cells"]
            if c["cell_type"] == kind]


def test_subsections_are_numbered_without_gaps():
    # issue 15: section 3 had 3.3 and 3.4 but no 3.1 or 3.2
    prose = "\n".join(source for source, _ in _cells("markdown"))
    sections = [int(n) for n in re.findall(r"^## (\d+)\.", prose, re.MULTILINE)]
    assert sections == list(range(1, len(sections) + 1)), sections
    for section in sections:
        subs = [int(n) for n in re.findall(rf"^### {section}\.(\d+) ", prose, re.MULTILINE)]
        assert subs == list(range(1, len(subs) + 1)), f"section {section}: subsections {subs}"
    assert re.findall(r"^### 3\.(\d+) ", prose, re.MULTILINE) == ["1", "2", "3", "4"]
