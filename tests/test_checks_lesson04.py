"""Checkers of lesson 04 (Tucker and CP) keep the contract (see checker_contract.py)."""
import math

import numpy as np

from checker_contract import make_contract_tests
from tnnlib.checks import lesson04
from tnnlib.cp import khatri_rao, mttkrp
from tnnlib.tensor_ops import multi_mode_product, unfold
from tnnlib.tucker import TuckerTensor


def _hosvd_smallest(x, ranks):                 # eigh sorts eigenvalues increasingly: took the smallest
    factors = [np.linalg.eigh(unfold(x, k) @ unfold(x, k).T)[1][:, :r] for k, r in enumerate(ranks)]
    return TuckerTensor(multi_mode_product(x, factors, transpose=True), factors)


def _hosvd_right_vectors(x, ranks):           # right singular vectors of the unfoldings
    factors = [np.linalg.svd(unfold(x, k), full_matrices=False)[2][:r].T for k, r in enumerate(ranks)]
    return TuckerTensor(np.zeros(ranks), factors)


def _leading(x, ranks):
    return [np.linalg.svd(unfold(x, k), full_matrices=False)[0][:, :r] for k, r in enumerate(ranks)]


def _hosvd_core_not_projected(x, ranks):       # right factors, but the core is a corner of X
    return TuckerTensor(x[tuple(slice(r) for r in ranks)], _leading(x, ranks))


def _hosvd_core_transposed(x, ranks):          # core with two of its modes swapped (transposed the wrong axes);
    factors = _leading(x, ranks)               # swaps two modes of equal rank, so the shapes still match
    core = multi_mode_product(x, factors, transpose=True)
    a, b = next((a, b) for a in range(len(ranks)) for b in range(a + 1, len(ranks)) if ranks[a] == ranks[b])
    return TuckerTensor(np.swapaxes(core, a, b), factors)


def _kr_reversed(matrices):                    # first matrix varying fastest (Fortran order)
    return khatri_rao(matrices[::-1])


def _kr_full_kron(matrices):                    # Kronecker product of the whole matrices
    out = matrices[0]
    for m in matrices[1:]:
        out = np.kron(out, m)
    return out


def _kr_only_two(matrices):                     # ignores matrices after the second
    return khatri_rao(matrices[:2])


def _mttkrp_reversed(tensor, factors, mode):    # Khatri-Rao of the others in reverse order
    return unfold(tensor, mode) @ khatri_rao([f for m, f in enumerate(factors) if m != mode][::-1])


def _mttkrp_kolda_unfolding(tensor, factors, mode):  # Kolda-Bader (Fortran) unfolding with the C-order KR
    x = np.reshape(np.moveaxis(tensor, mode, 0), (tensor.shape[mode], -1), order="F")
    return x @ khatri_rao([f for m, f in enumerate(factors) if m != mode])


def _update_no_gram(tensor, factors, mode):     # forgot to solve with the Gram matrices
    return mttkrp(tensor, factors, mode)


def _update_matrix_product(tensor, factors, mode):  # product of the Grams instead of the Hadamard product
    gram = np.eye(factors[0].shape[1])
    for m, f in enumerate(factors):
        if m != mode:
            gram = gram @ (f.T @ f)
    return mttkrp(tensor, factors, mode) @ np.linalg.pinv(gram)


def _update_includes_own_gram(tensor, factors, mode):  # Hadamard product over ALL factors
    gram = np.ones((factors[0].shape[1],) * 2)
    for f in factors:
        gram = gram * (f.T @ f)
    return mttkrp(tensor, factors, mode) @ np.linalg.pinv(gram)


WRONG_ANSWERS = {
    "4.1": [_hosvd_smallest, _hosvd_right_vectors, _hosvd_core_not_projected, _hosvd_core_transposed],
    "4.2": [_kr_reversed, _kr_full_kron, _kr_only_two],
    "4.3": [_mttkrp_reversed, _mttkrp_kolda_unfolding],
    "4.4": [_update_no_gram, _update_matrix_product, _update_includes_own_gram],
    "4.5": [
        lambda shape, ranks: sum(n * r for n, r in zip(shape, ranks)),           # forgot the core
        lambda shape, ranks: math.prod(ranks),                                    # forgot the factors
        lambda shape, ranks: sum(ranks) + sum(n * r for n, r in zip(shape, ranks)),  # core counted as a sum
    ],
}

(test_reference_passes, test_stub_is_pending_and_falls_back, test_crash_is_reported_as_the_learners,
 test_at_least_two_wrong_answers, test_wrong_answer_fails) = make_contract_tests(lesson04, WRONG_ANSWERS)
