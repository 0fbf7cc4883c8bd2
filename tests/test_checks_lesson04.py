"""Checkers of lesson 04 (Tucker and CP) keep the contract (see checker_contract.py); the lesson keeps its promises."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from tnnlib.checking import ExerciseFailed
from tnnlib.checks import lesson04
from tnnlib.cp import khatri_rao, mttkrp, random_cp
from tnnlib.tensor_ops import multi_mode_product, unfold
from tnnlib.tucker import TuckerTensor

from checker_contract import make_contract_tests


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


# --------------------------------------------------------------------------
# Correct answers written differently pass; messages say what they check
# --------------------------------------------------------------------------

def _hosvd_by_svd(x, max_rank):                 # the SVD of the unfoldings instead of the Gram matrices
    factors = _leading(x, max_rank)
    return TuckerTensor(multi_mode_product(x, factors, transpose=True), factors)


def _hosvd_flipped_signs(x, max_rank):          # eigh, largest by argsort, one factor's columns negated
    factors = []
    for k, r in enumerate(max_rank):
        values, vectors = np.linalg.eigh(unfold(x, k) @ unfold(x, k).T)
        factors.append(vectors[:, np.argsort(values)[::-1][:r]] * (-1) ** k)
    return TuckerTensor(multi_mode_product(x, factors, transpose=True), factors)


def _mttkrp_einsum(tensor, factors, mode):      # order 3 and 4 by einsum, no Khatri-Rao product formed
    letters = "abcd"[:tensor.ndim]
    others = [m for m in range(tensor.ndim) if m != mode]
    spec = letters + "," + ",".join(letters[m] + "r" for m in others) + "->" + letters[mode] + "r"
    return np.einsum(spec, tensor, *[factors[m] for m in others])


def _update_by_solve(tensor, factors, mode):    # solve the normal equations instead of the pseudo-inverse
    gram = np.ones((factors[0].shape[1],) * 2)
    for m, f in enumerate(factors):
        if m != mode:
            gram = gram * (f.T @ f)
    return np.linalg.solve(gram, mttkrp(tensor, factors, mode).T).T


@pytest.mark.parametrize("number,answer", [("4.1", _hosvd_by_svd), ("4.1", _hosvd_flipped_signs),
                                           ("4.3", _mttkrp_einsum), ("4.4", _update_by_solve),
                                           ("4.5", lambda shape, rank: int(np.prod(rank)) + int(np.dot(shape, rank)))])
def test_correct_answers_written_differently_pass(number, answer, capsys):
    checker = {"4.1": lesson04.hosvd, "4.3": lesson04.mttkrp, "4.4": lesson04.cp_als_update,
               "4.5": lesson04.tucker_params}[number]
    assert checker(answer) is answer
    assert "passed" in capsys.readouterr().out


def test_hosvd_message_names_the_subspace_not_matrix_positions():
    # issue 15: the message said "36 of 36 positions" (the entries of U U^T) for a 6 x 3 factor
    with pytest.raises(ExerciseFailed) as info:
        lesson04.hosvd(_hosvd_smallest)
    message = str(info.value)
    assert "positions" not in message
    assert "U_0 (6 x 3) must span the 3 leading left singular vectors of the mode-0 unfolding" in message
    assert "3 of those 3 vectors stick out of your subspace" in message and "LARGEST eigenvalues" in message


def test_tucker_params_rejects_a_whole_float():
    with pytest.raises(ExerciseFailed, match=r"expected an integer, got 224\.0, a float"):
        lesson04.tucker_params(lambda shape, rank: float(lesson04._tucker_params(shape, rank)))


# --------------------------------------------------------------------------
# The lesson itself (solutions/04): the setup guard, asserts that explain themselves, the CP count
# --------------------------------------------------------------------------

LESSON = Path(__file__).resolve().parent.parent / "solutions" / "04_tucker_cp.ipynb"


def _cells(kind):
    return [("".join(c["source"]), c.get("id")) for c in json.loads(LESSON.read_text())["cells"]
            if c["cell_type"] == kind]


def test_cp_parameter_convention_is_stated():
    # issue 15: R (1 + sum n_k) here, R sum n_k in lesson 06's table; lesson 04 says which and why
    prose = "\n".join(source for source, _ in _cells("markdown"))
    assert "*Which count?*" in prose and "`CPTensor.n_params`" in prose and "R \\sum_k n_k" in prose
    assert random_cp((4, 5, 6), 3, seed=0).n_params == 3 * (1 + 4 + 5 + 6)


def test_slider_uses_interactive_figure():
    code = "\n".join(source for source, _ in _cells("code"))
    assert "interactive_figure(draw_rank_step" in code and "interact(" not in code.replace("interactive_figure(", "")
