"""Checkers of lesson 02 keep the contract (see checker_contract.py)."""
import numpy as np

from checker_contract import make_contract_tests
from tnnlib.checks import lesson02


def _svd(a):
    return np.linalg.svd(a, full_matrices=False)


# 2.1: the best rank-r approximation
def _approx_one_term_too_many(a, r):            # off-by-one: keeps r + 1 terms
    u, s, vh = _svd(a)
    return (u[:, :r + 1] * s[:r + 1]) @ vh[:r + 1]


def _approx_without_s(a, r):                    # forgets the singular values
    u, s, vh = _svd(a)
    return u[:, :r] @ vh[:r]


def _approx_smallest_terms(a, r):               # keeps the r smallest singular triplets
    u, s, vh = _svd(a)
    return (u[:, -r:] * s[-r:]) @ vh[-r:]


def _approx_columns_of_vh(a, r):                # slices columns of vh (as if it were V) instead of rows
    u, s, vh = _svd(a)
    return (u[:, :r] * s[:r]) @ vh[:, :r].T


# 2.2: rank for an energy
def _energy_of_s(s, energy):                    # s instead of s^2
    kept = np.cumsum(s) / np.sum(s)
    return min(int(np.searchsorted(kept, energy)) + 1, len(s))


def _energy_off_by_one(s, energy):              # returns an index, not a rank
    kept = np.cumsum(s ** 2) / np.sum(s ** 2)
    return min(int(np.searchsorted(kept, energy)), len(s))


def _energy_strict(s, energy):                  # '>' instead of '>=' on the boundary
    kept = np.cumsum(s ** 2) / np.sum(s ** 2)
    return min(int(np.searchsorted(kept, energy, side="right")) + 1, len(s))


# 2.3: truncated SVD to a relative error eps
def _truncate_by(a, keep):
    u, s, vh = _svd(a)
    tails = np.sqrt(np.append(np.cumsum((s ** 2)[::-1])[::-1], 0.0))   # tails[r] = ||A - A_r||_F
    r = max(1, int(np.argmax(keep(tails, s))))
    return u[:, :r], s[:r], vh[:r]


def _truncate_one_more(a, eps):                 # keeps one term more than the smallest rank
    u, s, vh = _svd(a)
    r = len(_truncate_by(a, lambda t, s: t <= eps * t[0])[1]) + 1
    return u[:, :r], s[:r], vh[:r]


WRONG_ANSWERS = {
    "2.1": [_approx_one_term_too_many, _approx_without_s, _approx_smallest_terms, _approx_columns_of_vh],
    "2.2": [_energy_of_s, _energy_off_by_one, _energy_strict],
    "2.3": [
        lambda a, eps: _truncate_by(a, lambda t, s: t <= eps),                  # absolute, not relative
        lambda a, eps: _truncate_by(a, lambda t, s: t ** 2 <= eps * t[0] ** 2),  # eps as energy left out
        lambda a, eps: _truncate_by(a, lambda t, s: np.append(np.cumsum(s[::-1])[::-1], 0) <= eps * s.sum()),
        lambda a, eps: _svd(a),                                                 # no truncation at all
        _truncate_one_more,                                                     # off-by-one
    ],
    "2.4": [
        lambda m, n, r: m * n * r,           # a dense matrix per rank
        lambda m, n, r: r * (m + n) + r,     # keeps S apart (the lesson absorbs it)
        lambda m, n, r: r * r * (m + n),
        lambda m, n, r: float(r * (m + n)),  # not an integer
    ],
    "2.5": [
        lambda m, n: m * n // (m + n),        # r (m + n) <= m n: a tie saves nothing
        lambda m, n: min(m, n) // 2,          # right only for square matrices
        lambda m, n: m * n / (m + n),         # not an integer
    ],
}

(test_reference, test_stub, test_crash, test_two_wrong, test_wrong) = make_contract_tests(lesson02, WRONG_ANSWERS)
