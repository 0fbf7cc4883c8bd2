"""Checkers of lesson 12 keep the contract (see checker_contract.py)."""
import math

import numpy as np
import pytest
import torch

from tnnlib import bonds, scaling
from tnnlib.checks import lesson12

from checker_contract import make_contract_tests, make_import_test


# 12.1 ---------------------------------------------------------------------
def _params_d_n2_r2(*, out_modes, in_modes, rank):          # the estimate d n^2 r^2: boundary ranks taken as r
    r = max(rank)
    return sum(i * j * r * r for i, j in zip(out_modes, in_modes))


def _params_tt_tensor(*, out_modes, in_modes, rank):         # the count of a TT *tensor* over the output modes only
    return sum(rank[k] * i * rank[k + 1] for k, i in enumerate(out_modes))


def _params_float(*, out_modes, in_modes, rank):             # right value, as a float
    return float(scaling.tt_linear_params(out_modes=out_modes, in_modes=in_modes, rank=rank))


def _params_dense(*, out_modes, in_modes, rank):             # the dense layer's M N
    return math.prod(out_modes) * math.prod(in_modes)


def _params_torch(*, out_modes, in_modes, rank):             # right value, as a 0-d torch tensor
    r = torch.tensor(rank)
    return (r[:-1] * torch.tensor(out_modes) * torch.tensor(in_modes) * r[1:]).sum()


# 12.2 ---------------------------------------------------------------------
def _count(h, in_features, n_classes):
    return h * h + (in_features + n_classes + 2) * h + n_classes


def _width_floor(n_params, *, in_features=784, n_classes=10):    # the floor of the root, not the closest width
    b = in_features + n_classes + 2
    return int((-b + math.sqrt(b * b + 4 * (n_params - n_classes))) / 2)


def _width_no_biases(n_params, *, in_features=784, n_classes=10):   # counts the weights only
    return scaling.width_for(n_params, lambda h: h * h + (in_features + n_classes) * h)


def _width_no_hidden_layer(n_params, *, in_features=784, n_classes=10):   # forgets the h x h layer
    return round(n_params / (in_features + n_classes))


def _width_float(n_params, *, in_features=784, n_classes=10):      # the right width, as a float
    return float(lesson12._dense_width(n_params, in_features=in_features, n_classes=n_classes))


def _width_round_root(n_params, *, in_features=784, n_classes=10):  # rounds the root: the larger h on a tie
    b = in_features + n_classes + 2
    return max(1, round((-b + math.sqrt(b * b + 4 * (n_params - n_classes))) / 2))


def _width_ties_to_larger(n_params, *, in_features=784, n_classes=10):
    return min(range(1, 5000), key=lambda h: (abs(_count(h, in_features, n_classes) - n_params), -h))


# 12.3 ---------------------------------------------------------------------
def _reorder_reshape_only(x, modes, order):                  # reshapes to the new shape: moves no pixel
    return x.reshape(x.shape[0], *[modes[o] for o in order]).reshape(x.shape[0], -1)


def _reorder_inverse(x, modes, order):                       # permutes by the inverse order
    return lesson12._reorder_modes(x, modes, tuple(int(i) for i in np.argsort(order)))


def _reorder_keeps_the_modes(x, modes, order):               # returns (N, *new modes), not flattened
    return x.reshape(x.shape[0], *modes).permute(0, *(1 + o for o in order))


def _reorder_float32(x, modes, order):
    return lesson12._reorder_modes(x, modes, order).float()


def _reorder_in_place(x, modes, order):                      # right values, written into x (the lesson's images)
    x[:] = lesson12._reorder_modes(x, modes, order)
    return x


def _reorder_first_row_only(x, modes, order):                # every row gets the first row's pixels
    return lesson12._reorder_modes(x[:1], modes, order).expand(x.shape[0], -1)


# 12.4 ---------------------------------------------------------------------
def _greedy(spectra, sizes, budget, *, per_parameter=True, skip=True, relative=True):
    ranks = [1] * (len(sizes) + 1)
    left = budget - sum(n for n in sizes)
    while True:
        best, best_value = None, 0.0
        for k, s in enumerate(spectra):
            if ranks[k + 1] >= len(s):
                continue
            cost = sizes[k] * ranks[k] + sizes[k + 1] * ranks[k + 2]
            value = s[ranks[k + 1]] ** 2 / (float(np.sum(s ** 2)) if relative else 1.0)
            value = value / cost if per_parameter else value
            if (cost <= left or not skip) and value > best_value:
                best, best_value = (k, cost), value
        if best is None or best[1] > left:
            return tuple(ranks)
        ranks[best[0] + 1] += 1
        left -= best[1]


def _greedy_largest_value(spectra, sizes, budget):          # ignores what a step costs
    return _greedy(spectra, sizes, budget, per_parameter=False)


def _greedy_stops_early(spectra, sizes, budget):             # stops when the best step does not fit
    return _greedy(spectra, sizes, budget, skip=False)


def _greedy_inner_ranks(spectra, sizes, budget):             # leaves out the boundary ranks 1
    return lesson12._greedy_ranks(spectra, sizes, budget)[1:-1]


def _greedy_ties_to_last(spectra, sizes, budget):          # >= instead of >: a tie goes to the last bond
    ranks = [1] * (len(sizes) + 1)
    left = budget - sum(sizes)
    while True:
        best, best_value = None, 0.0
        for k, s in enumerate(spectra):
            cost = sizes[k] * ranks[k] + sizes[k + 1] * ranks[k + 2]
            if ranks[k + 1] < len(s) and cost <= left:
                value = s[ranks[k + 1]] ** 2 / np.sum(s ** 2) / cost
                if value >= best_value:
                    best, best_value = (k, cost), value
        if best is None:
            return tuple(ranks)
        ranks[best[0] + 1] += 1
        left -= best[1]


def _greedy_squares_in_place(spectra, sizes, budget):      # right ranks, but squares the caller's spectra
    for s in spectra:
        s **= 2
    return lesson12._greedy_ranks([np.sqrt(s) for s in spectra], sizes, budget)


def _greedy_numpy_array(spectra, sizes, budget):            # right ranks, as a NumPy array
    return np.array(lesson12._greedy_ranks(spectra, sizes, budget))


def _uniform_ranks(spectra, sizes, budget):                  # the largest uniform rank that fits
    r = 1
    while True:
        ranks = (1,) + tuple(min(r + 1, len(s)) for s in spectra) + (1,)
        if sum(ranks[k] * n * ranks[k + 1] for k, n in enumerate(sizes)) > budget or r > 64:
            return (1,) + tuple(min(r, len(s)) for s in spectra) + (1,)
        r += 1


WRONG_ANSWERS = {
    "12.1": [_params_d_n2_r2, _params_tt_tensor, _params_float, _params_dense, _params_torch],
    "12.2": [_width_floor, _width_no_biases, _width_no_hidden_layer, _width_float, _width_round_root,
             _width_ties_to_larger],
    "12.3": [_reorder_reshape_only, _reorder_inverse, _reorder_keeps_the_modes, _reorder_float32, _reorder_in_place,
             _reorder_first_row_only],
    "12.4": [_greedy_largest_value, _greedy_stops_early, _greedy_inner_ranks, _uniform_ranks, _greedy_ties_to_last,
             _greedy_squares_in_place, _greedy_numpy_array],
}

(test_reference_passes, test_stub_is_pending_and_falls_back, test_crash_is_reported_as_the_learners,
 test_at_least_two_wrong_answers, test_wrong_answer_fails) = make_contract_tests(lesson12, WRONG_ANSWERS)
test_checkers_import_on_their_own = make_import_test(lesson12)


# correct variants pass ----------------------------------------------------
def test_a_loop_over_core_shapes_passes(capsys):
    def from_layer(*, out_modes, in_modes, rank):
        from tnnlib.nn import TTLinear
        return TTLinear(math.prod(in_modes), math.prod(out_modes), rank, in_modes=in_modes,
                        out_modes=out_modes).weight_parameters()

    assert lesson12.tt_params(from_layer) is from_layer
    assert "passed" in capsys.readouterr().out


def test_a_closed_form_width_passes(capsys):
    def closed_form(n_params, *, in_features=784, n_classes=10):
        b = in_features + n_classes + 2
        root = (-b + math.sqrt(b * b + 4 * (n_params - n_classes))) / 2
        candidates = [h for h in (math.floor(root), math.ceil(root)) if h >= 1] or [1]
        return min(candidates, key=lambda h: (abs(_count(h, in_features, n_classes) - n_params), h))

    assert lesson12.dense_width(closed_form) is closed_form
    assert "passed" in capsys.readouterr().out


def test_an_index_gather_reorder_passes(capsys):
    def gather(x, modes, order):
        index = torch.arange(math.prod(modes)).reshape(modes).permute(*order).reshape(-1)
        return x[:, index]

    assert lesson12.reorder_modes(gather) is gather
    assert "passed" in capsys.readouterr().out


def test_a_list_of_numpy_integer_ranks_passes(capsys):
    def as_list(spectra, sizes, budget):
        return [np.int64(r) for r in bonds.allocate_ranks([spectra], [sizes], budget, method="greedy")[0]]

    assert lesson12.greedy_ranks(as_list) is as_list
    assert "passed" in capsys.readouterr().out


def test_the_greedy_message_names_the_rule():
    try:
        lesson12.greedy_ranks(_greedy_largest_value)
    except AssertionError as failure:
        message = str(failure)
    assert "per added parameter" in message and "expected ranks" in message


def _message(checker, answer):
    with pytest.raises(AssertionError) as info:
        checker(answer)
    return str(info.value)


# what the messages say (regressions: each of these answers once passed or was reported unhelpfully) ----------
def test_a_torch_count_is_told_to_return_an_integer():
    assert ".item()" in _message(lesson12.tt_params, _params_torch)


def test_rounding_the_root_fails_on_a_tie_and_says_so():
    message = _message(lesson12.dense_width, _width_round_root)
    assert "expected width 10" in message and "got 11" in message and "tie" in message
    assert "tie" in _message(lesson12.dense_width, _width_ties_to_larger)


def test_reordering_in_place_is_refused():
    message = _message(lesson12.reorder_modes, _reorder_in_place)
    assert "changed its input x" in message


def test_the_reorder_hint_shows_the_row_that_differs():
    message = _message(lesson12.reorder_modes, _reorder_first_row_only)
    assert "row 1 of yours starts [0, 3, 1, 4, 2, 5], expected [6, 9, 7, 10, 8, 11]" in message


def test_the_greedy_breaks_ties_towards_the_first_bond():
    message = _message(lesson12.greedy_ranks, _greedy_ties_to_last)
    assert "expected ranks (1, 2, 1, 1)" in message and "got (1, 1, 2, 1)" in message and "tie" in message


def test_the_greedy_must_not_change_the_spectra():
    assert "changed the spectra" in _message(lesson12.greedy_ranks, _greedy_squares_in_place)


def test_a_numpy_array_of_ranks_is_told_how_to_convert():
    assert "tuple(int(r) for r in ranks)" in _message(lesson12.greedy_ranks, _greedy_numpy_array)


# more correct variants pass -------------------------------------------------
def test_numpy_integer_counts_and_widths_pass(capsys):
    def count(*, out_modes, in_modes, rank):
        r = np.asarray(rank)
        return np.sum(r[:-1] * np.asarray(out_modes) * np.asarray(in_modes) * r[1:])

    def scan(n_params, *, in_features=784, n_classes=10):
        h = np.arange(1, 100_000)
        return np.argmin(np.abs(_count(h, in_features, n_classes) - n_params)) + 1   # first minimum: smaller h

    assert lesson12.tt_params(count) is count
    assert lesson12.dense_width(scan) is scan
    assert capsys.readouterr().out.count("passed") == 2


def test_a_numpy_round_trip_and_a_loop_over_rows_pass(capsys):
    def via_numpy(x, modes, order):
        n = x.shape[0]
        moved = np.transpose(x.numpy().reshape(n, *modes), (0, *(1 + o for o in order)))
        return torch.from_numpy(np.ascontiguousarray(moved).reshape(n, -1))

    def per_row(x, modes, order):
        return torch.stack([row.reshape(modes).permute(order).flatten() for row in x])

    assert lesson12.reorder_modes(via_numpy) is via_numpy
    assert lesson12.reorder_modes(per_row) is per_row
    assert capsys.readouterr().out.count("passed") == 2


def test_a_torch_greedy_that_recounts_the_parameters_passes(capsys):
    def recount(spectra, sizes, budget):
        spectra = [torch.as_tensor(s) for s in spectra]
        ranks = [1] * (len(sizes) + 1)

        def params(r):
            return sum(r[k] * n * r[k + 1] for k, n in enumerate(sizes))

        while True:
            steps = []
            for k, s in enumerate(spectra):
                grown = ranks[:k + 1] + [ranks[k + 1] + 1] + ranks[k + 2:]
                if ranks[k + 1] < len(s) and params(grown) <= budget:
                    gain = float(s[ranks[k + 1]] ** 2 / s.pow(2).sum()) / (params(grown) - params(ranks))
                    steps.append((gain, -k))
            if not steps:
                return tuple(ranks)
            ranks[-max(steps)[1] + 1] += 1

    assert lesson12.greedy_ranks(recount) is recount
    assert "passed" in capsys.readouterr().out
