"""Checkers of lesson 11 keep the contract (see checker_contract.py)."""
import math

import numpy as np
import torch
from torch.nn import functional as F

from tnnlib import distill, pretrained
from tnnlib.checks import lesson11

from checker_contract import make_contract_tests, make_import_test


# 11.1 ---------------------------------------------------------------------
def _params_square_ranks(out_modes, in_modes, rank):       # r_k^2 for every core: the ends are not 1 x r
    r = max(rank)
    return sum(r * r * i * j for i, j in zip(out_modes, in_modes))


def _params_dense(out_modes, in_modes, rank):              # the dense matrix's size
    return math.prod(out_modes) * math.prod(in_modes)


def _params_one_rank(out_modes, in_modes, rank):           # r_k i_k j_k: one bond per core
    return sum(rank[k + 1] * i * j for k, (i, j) in enumerate(zip(out_modes, in_modes)))


def _params_float(out_modes, in_modes, rank):              # right, but a float
    return float(lesson11._mpo_params(out_modes=out_modes, in_modes=in_modes, rank=rank))


# 11.2 ---------------------------------------------------------------------
def _pool_with_padding(hidden, mask):                     # the mean over every position
    return F.normalize(hidden.mean(1), dim=-1)


def _pool_not_normalised(hidden, mask):                    # the masked mean, not unit length
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(1) / weights.sum(1)


def _pool_first_token(hidden, mask):                      # the [CLS] position
    return F.normalize(hidden[:, 0], dim=-1)


def _pool_float32(hidden, mask):                          # right values, float32
    return pretrained.mean_pool(hidden.float(), mask)


# 11.3 ---------------------------------------------------------------------
def _cos_dot(reference, approx):                          # assumes unit rows
    return (reference * approx).sum(1)


def _cos_wrong_axis(reference, approx):                   # normalises the columns
    return (F.normalize(reference, dim=0) * F.normalize(approx, dim=0)).sum(1)


def _cos_matrix(reference, approx):                       # every pair: (N, N)
    return F.normalize(reference, dim=1) @ F.normalize(approx, dim=1).T


def _cos_numpy(reference, approx):                        # right values, a NumPy array
    return distill.cosine_similarities(reference, approx).numpy()


# 11.4 ---------------------------------------------------------------------
def _agree_with_self(reference, approx, k):               # the row itself counts as its nearest neighbour
    def top(e):
        u = F.normalize(e, dim=1)
        return (u @ u.T).topk(k, dim=1).indices
    a, b = top(reference), top(approx)
    return float((a[:, :, None] == b[:, None, :]).any(2).double().mean())


def _agree_in_order(reference, approx, k):                # the same neighbour at the same rank only
    a, b = distill.top_k_neighbours(reference, k), distill.top_k_neighbours(approx, k)
    return float((a == b).double().mean())


def _agree_euclidean(reference, approx, k):               # nearest by distance: rows of other lengths move
    def top(e):
        d = torch.cdist(e, e)
        d.fill_diagonal_(float("inf"))
        return d.topk(k, dim=1, largest=False).indices
    a, b = top(reference), top(approx)
    return float((a[:, :, None] == b[:, None, :]).any(2).double().mean())


def _agree_tensor(reference, approx, k):                  # the agreement of each row, not their mean
    a, b = distill.top_k_neighbours(reference, k), distill.top_k_neighbours(approx, k)
    return (a[:, :, None] == b[:, None, :]).any(2).double().mean(1)


WRONG_ANSWERS = {
    "11.1": [_params_square_ranks, _params_dense, _params_one_rank, _params_float],
    "11.2": [_pool_with_padding, _pool_not_normalised, _pool_first_token, _pool_float32],
    "11.3": [_cos_dot, _cos_wrong_axis, _cos_matrix, _cos_numpy],
    "11.4": [_agree_with_self, _agree_in_order, _agree_euclidean, _agree_tensor],
}

(test_reference, test_stub, test_crash, test_two_wrong, test_wrong) = make_contract_tests(lesson11, WRONG_ANSWERS)
test_checkers_import_on_their_own = make_import_test(lesson11)


def test_numpy_integer_counts_pass(capsys):
    def numpy_count(out_modes, in_modes, rank):
        return np.int64(sum(rank[k] * i * j * rank[k + 1] for k, (i, j) in enumerate(zip(out_modes, in_modes))))

    assert lesson11.mpo_params(numpy_count) is numpy_count
    assert "passed" in capsys.readouterr().out


def test_a_sum_instead_of_a_mean_passes(capsys):               # the same direction: normalising removes the count
    def summed(hidden, mask):
        return F.normalize((hidden * mask[..., None]).sum(1), dim=-1)

    assert lesson11.mean_pool(summed) is summed
    assert "passed" in capsys.readouterr().out


def test_a_zero_d_tensor_agreement_passes(capsys):
    def as_tensor(reference, approx, k):
        return torch.tensor(distill.neighbour_agreement(reference, approx, k), dtype=torch.float64)

    assert lesson11.neighbour_agreement(as_tensor) is as_tensor
    assert "passed" in capsys.readouterr().out
