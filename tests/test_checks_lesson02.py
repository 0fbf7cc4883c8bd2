"""Checkers of lesson 02 keep the contract (see checker_contract.py)."""
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from tnnlib.checking import REGISTRY, ExerciseFailed
from tnnlib.checks import lesson02, load_all

from checker_contract import make_contract_tests, make_import_test, policy_wrong_answers


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


def _approx_in_torch(a, r):                     # right values, but a torch tensor: the lesson goes on in NumPy
    u, s, vh = torch.linalg.svd(torch.from_numpy(a), full_matrices=False)
    return (u[:, :r] * s[:r]) @ vh[:r]


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
    "2.1": [_approx_one_term_too_many, _approx_without_s, _approx_smallest_terms, _approx_columns_of_vh,
            _approx_in_torch, *policy_wrong_answers(lesson02.low_rank_approx)],
    "2.2": [_energy_of_s, _energy_off_by_one, _energy_strict,
            lambda s, energy: float(lesson02._rank_for_energy(s, energy))],           # right, but a float
    "2.3": [
        lambda a, eps: _truncate_by(a, lambda t, s: t <= eps),                  # absolute, not relative
        lambda a, eps: _truncate_by(a, lambda t, s: t ** 2 <= eps * t[0] ** 2),  # eps as energy left out
        lambda a, eps: _truncate_by(a, lambda t, s: np.append(np.cumsum(s[::-1])[::-1], 0) <= eps * s.sum()),
        lambda a, eps: _svd(a),                                                 # no truncation at all
        _truncate_one_more,                                                     # off-by-one
        *policy_wrong_answers(lambda a, eps: lesson02._truncated_svd(a, eps=eps)),  # float32, torch
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

test_import = make_import_test(lesson02)


@pytest.mark.parametrize("checker, answer, message", [
    (lesson02.rank_r_approx, _approx_in_torch, "expected a NumPy array, got torch tensor"),
    (lesson02.rank_r_approx, WRONG_ANSWERS["2.1"][-2], "float32: use float64"),
    (lesson02.truncated_svd, WRONG_ANSWERS["2.3"][-2], "float32: use float64"),
    (lesson02.break_even_rank, WRONG_ANSWERS["2.5"][-1], "a float"),
])
def test_typical_mistakes_are_named(checker, answer, message):
    with pytest.raises(ExerciseFailed, match=re.escape(message)):
        checker(answer)


def test_a_tiny_difference_names_the_tolerance_and_shows_it():
    with pytest.raises(ExerciseFailed, match=r"tolerance rtol=1e-08.*the difference is tiny") as info:
        lesson02.rank_r_approx(lambda a, r: lesson02.low_rank_approx(a, r) * (1 + 1e-7))
    expected, got = re.search(r"expected (\S+), got (\S+);", str(info.value)).groups()
    assert expected != got                 # enough digits to see the difference


@pytest.mark.parametrize("notebook", ["00_orientation", "01_tensors", "02_svd", "03_tensor_train"])
def test_exercise_texts_do_not_name_the_reference(notebook):
    """A lesson's text never points at a checker's reference implementation (the answer)."""
    load_all()
    path = Path(__file__).resolve().parent.parent / "solutions" / f"{notebook}.ipynb"
    text = "".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown")
    lesson = int(notebook[:2])
    for number, ex in REGISTRY.items():
        if int(number.split(".")[0]) != lesson:
            continue
        named = [ex.reference_name] + ([ex.reference.__name__] if ex.reference.__module__.startswith("tnnlib.checks")
                                       else [])
        for name in named:
            assert name not in text, f"{notebook}: the text names the reference of exercise {number}, {name}"


def test_the_widget_cell_uses_interactive_figure():
    """ipywidgets' interact stalls headless runs now and then (tnnlib.widgets): lesson 02 uses interactive_figure."""
    path = Path(__file__).resolve().parent.parent / "solutions" / "02_svd.ipynb"
    code = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
    assert "interactive_figure(" in code and "interact(" not in code.replace("interactive_figure(", "")
