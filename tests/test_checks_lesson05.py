"""Checkers of lesson 05 (tensor ring, TT-matrix) keep the contract (see checker_contract.py)."""
import math

import numpy as np

from checker_contract import make_contract_tests
from tnnlib.checks import lesson05
from tnnlib.ttm import TTMatrix


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
    "5.3": [_matvec_output_fortran_order, _matvec_fortran_order, _matvec_single_only],
    "5.4": [_flops_no_batch, _flops_multiply_adds, _flops_all_inputs, _flops_forgot_rank],
}

(test_reference_passes, test_stub_is_pending_and_falls_back, test_crash_is_reported_as_the_learners,
 test_at_least_two_wrong_answers, test_wrong_answer_fails) = make_contract_tests(lesson05, WRONG_ANSWERS)
