"""Checkers of lesson 03 keep the contract (see checker_contract.py)."""
import re

import numpy as np
import pytest

from tnnlib.checking import ExerciseFailed
from tnnlib.checks import lesson03
from tnnlib.tt import TTTensor, inner, left_orthogonalize, tt_svd

from checker_contract import make_contract_tests, make_import_test, policy_wrong_answers

# --- 3.1: contract a train -----------------------------------------------------------------------

def _contract_keeping_boundaries(tt):              # forgets to drop r_0 = r_d = 1
    result = tt.cores[0]
    for core in tt.cores[1:]:
        result = np.tensordot(result, core, axes=(-1, 0))
    return result


def _contract_mixing_rank_and_mode(tt):            # reshapes the core (r, n, r') as (r, r' n): wrong order
    shape = tuple(c.shape[1] for c in tt.cores)
    partial = tt.cores[0].reshape(shape[0], -1)
    for core in tt.cores[1:]:
        r, n, r_next = core.shape
        partial = (partial @ core.transpose(0, 2, 1).reshape(r, n * r_next)).reshape(-1, r_next)
    return partial.reshape(shape)


def _contract_reversed(tt):                        # multiplies the cores right to left, modes come out reversed
    shape = tuple(c.shape[1] for c in tt.cores)
    result = tt.cores[-1][:, :, 0]                 # (r_(d-1), n_d)
    for core in reversed(tt.cores[:-1]):           # each new mode is appended last instead of put first
        result = np.moveaxis(np.tensordot(core, result, axes=(-1, 0)), 1, -1)
    return result.reshape(shape)


# --- 3.2: TT-SVD -------------------------------------------------------------------------------

def _tt_svd_factory(carry_s=True, order="C", extra_rank=0, s_into_core=False):
    """TT-SVD with one typical mistake; `order="F"` reshapes U into the core in Fortran order
    while the unfolding was taken in C order (a consistent Fortran-order TT-SVD would be right)."""
    def tt_svd(tensor, max_rank):
        shape, cores, r = tensor.shape, [], 1
        c = tensor
        for k in range(len(shape) - 1):
            c = c.reshape(r * shape[k], -1)
            u, s, vh = np.linalg.svd(c, full_matrices=False)
            keep = min(max_rank + extra_rank, len(s))
            u, s, vh = u[:, :keep], s[:keep], vh[:keep]
            if s_into_core:
                cores.append((u * s).reshape(r, shape[k], keep, order=order))
                c = vh
            else:
                cores.append(u.reshape(r, shape[k], keep, order=order))
                c = s[:, None] * vh if carry_s else vh
            r = keep
        cores.append(c.reshape(r, shape[-1], 1))
        return TTTensor(cores)
    return tt_svd


def _tt_svd_rescaled(tensor, max_rank):           # right tensor and error, but G_1 is not left-orthogonal
    cores = list(tt_svd(tensor, max_rank=max_rank, method="svd").cores)
    cores[0], cores[1] = 2.0 * cores[0], 0.5 * cores[1]
    return TTTensor(cores)


# --- 3.3: left-orthogonalize -----------------------------------------------------------------------

def _left_orth_factory(unfolding="right", pass_r=True, last_too=False, in_place=False, complete=False):
    def left_orthogonalize(tt):
        cores = tt.cores if in_place else list(tt.cores)
        d = len(cores)
        for k in range(d if last_too else d - 1):
            r, n, r_next = cores[k].shape
            if unfolding == "right":
                q, R = np.linalg.qr(cores[k].reshape(r * n, r_next), mode="complete" if complete else "reduced")
            else:                               # QR of the n-major unfolding (n r, r'): wrong order
                q, R = np.linalg.qr(cores[k].transpose(1, 0, 2).reshape(n * r, r_next))
            cores[k] = q.reshape(r, n, -1)
            if pass_r and k + 1 < d:
                following = cores[k + 1]
                cores[k + 1] = (R @ following.reshape(r_next, -1)).reshape(R.shape[0], *following.shape[1:])
        return TTTensor(cores)
    return left_orthogonalize


# --- 3.4: inner product ------------------------------------------------------------------------------

def _inner_product_of_cores(a, b):                  # the product of the cores' inner products: not <a, b>
    value = 1.0
    for g, h in zip(a.cores, b.cores):
        m = min(g.shape[0], h.shape[0]), g.shape[1], min(g.shape[2], h.shape[2])
        value *= float(np.sum(g[:m[0], :, :m[2]] * h[:m[0], :, :m[2]]))
    return value


def _inner_full(a, b):                              # forms the full tensors (the exercise forbids it)
    return float(np.vdot(a.to_dense(), b.to_dense()))


def _inner_one_slice(a, b):                         # forgets the sum over i_k: only i_k = 0
    m = np.ones((1, 1))
    for g, h in zip(a.cores, b.cores):
        m = g[:, 0, :].T @ m @ h[:, 0, :]
    return m[0, 0]


def _inner_as_matrix(a, b):                         # right value, but the 1 x 1 matrix M_d, not the number
    m = np.ones((1, 1))
    for g, h in zip(a.cores, b.cores):
        m = sum(g[:, i, :].T @ m @ h[:, i, :] for i in range(g.shape[1]))
    return m


# --- 3.5: QTT image ---------------------------------------------------------------------------------

def _qtt_plain_reshape(image):                      # no interleaving: row bits first, then column bits
    k = int(np.log2(image.shape[0]))
    return image.reshape((4,) * k)


def _qtt_column_major(image):                       # i_m = 2 c_m + b_m: the transposed image
    return lesson03.reference_image_to_qtt(image.T)


def _qtt_lsb_first(image):                          # least significant bit first
    k = int(np.log2(image.shape[0]))
    t = lesson03.reference_image_to_qtt(image)
    return t.transpose(tuple(range(k))[::-1])


def _qtt_rounded(image):                            # the right places, values changed in the last digits
    return lesson03.reference_image_to_qtt(image) * (1 + 1e-12)


def _svd(tensor, max_rank):
    return tt_svd(tensor, max_rank=max_rank, method="svd")


WRONG_ANSWERS = {
    "3.1": [_contract_keeping_boundaries, _contract_mixing_rank_and_mode, _contract_reversed,
            *policy_wrong_answers(lesson03.reference_tt_to_tensor)],
    "3.2": [_tt_svd_factory(carry_s=False), _tt_svd_factory(order="F"), _tt_svd_factory(extra_rank=1),
            _tt_svd_factory(extra_rank=-1), _tt_svd_factory(s_into_core=True),
            lambda tensor, max_rank: list(_svd(tensor, max_rank).cores),     # a list of cores, not a TTTensor
            *policy_wrong_answers(_svd)],
    "3.3": [_left_orth_factory(unfolding="wrong"), _left_orth_factory(pass_r=False),
            _left_orth_factory(last_too=True), _left_orth_factory(in_place=True),
            _left_orth_factory(complete=True), *policy_wrong_answers(left_orthogonalize)],
    "3.4": [_inner_product_of_cores, _inner_full, _inner_one_slice, _inner_as_matrix,
            *policy_wrong_answers(inner, number=True)],
    "3.5": [_qtt_plain_reshape, _qtt_column_major, _qtt_lsb_first, _qtt_rounded,
            *policy_wrong_answers(lesson03.reference_image_to_qtt)],
}

(test_reference_passes, test_stub_is_pending_and_falls_back, test_crash_is_reported_as_the_learners,
 test_at_least_two_wrong_answers, test_wrong_answer_fails) = make_contract_tests(lesson03, WRONG_ANSWERS)


def test_the_wrong_answers_fail_for_the_intended_reason():
    """The messages name the property that each typical mistake breaks."""
    expectations = [
        (lesson03.tt_to_tensor, _contract_keeping_boundaries, "drop the boundary ranks"),
        (lesson03.tt_svd, _tt_svd_factory(carry_s=False), "relative error"),
        (lesson03.tt_svd, _tt_svd_factory(extra_rank=1), "TT ranks"),
        (lesson03.tt_svd, _tt_svd_factory(s_into_core=True), "relative error"),
        (lesson03.left_orthogonalize, _left_orth_factory(pass_r=False), "must not change"),
        (lesson03.left_orthogonalize, _left_orth_factory(in_place=True), "changed the TT tensor it was given"),
        (lesson03.left_orthogonalize, _left_orth_factory(complete=True), "ranks grew"),
        (lesson03.tt_inner, _inner_full, "must not form the full tensor"),
        (lesson03.image_to_qtt, _qtt_plain_reshape, "i_m = 2 b_m + c_m"),
        (lesson03.tt_svd, _tt_svd_rescaled, "not left-orthogonal"),
        (lesson03.tt_svd, WRONG_ANSWERS["3.2"][5], "expected a TTTensor"),
        (lesson03.tt_inner, _inner_as_matrix, "expected one number, got NumPy array of shape (1, 1)"),
        (lesson03.image_to_qtt, _qtt_rounded, "at the right index"),
        (lesson03.image_to_qtt, WRONG_ANSWERS["3.5"][-2], "float32: use float64"),
        (lesson03.tt_to_tensor, WRONG_ANSWERS["3.1"][-2], "float32: use float64"),
        (lesson03.tt_inner, WRONG_ANSWERS["3.4"][-2], "float32: use float64"),
        (lesson03.tt_to_tensor, WRONG_ANSWERS["3.1"][-1], "expected a NumPy array, got torch tensor"),
        (lesson03.tt_svd, WRONG_ANSWERS["3.2"][-1], "expected a NumPy array, got torch tensor"),
    ]
    for checker, answer, message in expectations:
        with pytest.raises(ExerciseFailed, match=re.escape(message)):
            checker(answer)


def test_image_to_qtt_reference_round_trip_and_errors():
    image = np.arange(64.0).reshape(8, 8)
    t = lesson03.reference_image_to_qtt(image)
    assert t.shape == (4, 4, 4)
    assert t[0, 0, 0] == image[0, 0] and t[3, 3, 3] == image[7, 7]
    assert t[1, 0, 0] == image[0, 4] and t[2, 0, 0] == image[4, 0] and t[0, 0, 1] == image[0, 1]
    for bad in (np.zeros((6, 6)), np.zeros((4, 8)), np.zeros((1, 1))):
        with pytest.raises(ValueError, match="2\\^k x 2\\^k"):
            lesson03.reference_image_to_qtt(bad)


test_import = make_import_test(lesson03)
