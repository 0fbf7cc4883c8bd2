"""Checkers of lesson 12 keep the contract (see checker_contract.py)."""
import math

import numpy as np
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


# 12.3 ---------------------------------------------------------------------
def _reorder_reshape_only(x, modes, order):                  # reshapes to the new shape: moves no pixel
    return x.reshape(x.shape[0], *[modes[o] for o in order]).reshape(x.shape[0], -1)


def _reorder_inverse(x, modes, order):                       # permutes by the inverse order
    return lesson12._reorder_modes(x, modes, tuple(int(i) for i in np.argsort(order)))


def _reorder_keeps_the_modes(x, modes, order):               # returns (N, *new modes), not flattened
    return x.reshape(x.shape[0], *modes).permute(0, *(1 + o for o in order))


def _reorder_float32(x, modes, order):
    return lesson12._reorder_modes(x, modes, order).float()


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


def _uniform_ranks(spectra, sizes, budget):                  # the largest uniform rank that fits
    r = 1
    while True:
        ranks = (1,) + tuple(min(r + 1, len(s)) for s in spectra) + (1,)
        if sum(ranks[k] * n * ranks[k + 1] for k, n in enumerate(sizes)) > budget or r > 64:
            return (1,) + tuple(min(r, len(s)) for s in spectra) + (1,)
        r += 1


WRONG_ANSWERS = {
    "12.1": [_params_d_n2_r2, _params_tt_tensor, _params_float, _params_dense],
    "12.2": [_width_floor, _width_no_biases, _width_no_hidden_layer, _width_float],
    "12.3": [_reorder_reshape_only, _reorder_inverse, _reorder_keeps_the_modes, _reorder_float32],
    "12.4": [_greedy_largest_value, _greedy_stops_early, _greedy_inner_ranks, _uniform_ranks],
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
