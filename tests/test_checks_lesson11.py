"""Checkers of lesson 11 keep the contract (see checker_contract.py)."""
import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from tnnlib import distill, pretrained
from tnnlib.checking import ExerciseFailed
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


def _params_torch(out_modes, in_modes, rank):              # right, but a 0-d torch tensor
    r = torch.tensor(rank)
    return (r[:-1] * torch.tensor(out_modes) * torch.tensor(in_modes) * r[1:]).sum()


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


def _pool_float64_always(hidden, mask):                    # .double(): float32 hidden states give float64
    weights = mask.double().unsqueeze(-1)
    return F.normalize((hidden * weights).sum(1) / weights.sum(1), dim=-1)


def _pool_numpy_round_trip(hidden, mask):                  # NumPy: float32 times an int64 mask is float64
    h, m = hidden.numpy(), mask.numpy()[..., None]
    v = (h * m).sum(1) / m.sum(1)
    return torch.from_numpy(v / np.linalg.norm(v, axis=1, keepdims=True))


def _pool_in_place(hidden, mask):                         # right values, zeroes the padding of the caller's hidden
    hidden *= mask[..., None]
    return F.normalize(hidden.sum(1), dim=-1)


def _pool_changes_mask(hidden, mask):                      # right values, then clears the caller's mask
    embeddings = pretrained.mean_pool(hidden, mask)
    mask.zero_()
    return embeddings


# 11.3 ---------------------------------------------------------------------
def _cos_dot(reference, approx):                          # assumes unit rows
    return (reference * approx).sum(1)


def _cos_wrong_axis(reference, approx):                   # normalises the columns
    return (F.normalize(reference, dim=0) * F.normalize(approx, dim=0)).sum(1)


def _cos_matrix(reference, approx):                       # every pair: (N, N)
    return F.normalize(reference, dim=1) @ F.normalize(approx, dim=1).T


def _cos_numpy(reference, approx):                        # right values, a NumPy array
    return distill.cosine_similarities(reference, approx).numpy()


def _cos_in_place(reference, approx):                     # right values, normalises the caller's rows
    reference /= reference.norm(dim=1, keepdim=True)
    approx /= approx.norm(dim=1, keepdim=True)
    return (reference * approx).sum(1)


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


def _agree_numpy_rows(reference, approx, k):              # the agreement of each row, as a NumPy array
    return _agree_tensor(reference, approx, k).numpy()


def _agree_float32(reference, approx, k):                 # .float().mean(): a float32 0-d tensor
    a, b = distill.top_k_neighbours(reference, k), distill.top_k_neighbours(approx, k)
    return (a[:, :, None] == b[:, None, :]).any(2).float().mean()


def _agree_in_place(reference, approx, k):                # right value, normalises the caller's rows
    reference /= reference.norm(dim=1, keepdim=True)
    return distill.neighbour_agreement(reference, approx, k)


WRONG_ANSWERS = {
    "11.1": [_params_square_ranks, _params_dense, _params_one_rank, _params_float, _params_torch],
    "11.2": [_pool_with_padding, _pool_not_normalised, _pool_first_token, _pool_float32, _pool_float64_always,
             _pool_numpy_round_trip, _pool_in_place, _pool_changes_mask],
    "11.3": [_cos_dot, _cos_wrong_axis, _cos_matrix, _cos_numpy, _cos_in_place],
    "11.4": [_agree_with_self, _agree_in_order, _agree_euclidean, _agree_tensor, _agree_numpy_rows, _agree_float32,
             _agree_in_place],
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


# what each fix's message says ------------------------------------------------
@pytest.mark.parametrize("checker,answer,says", [
    (lesson11.mpo_params, _params_torch, r"not a tensor; return int\(\.\.\.\) or tensor\.item\(\)"),
    (lesson11.mean_pool, _pool_float64_always, r"float32, as the model gives it.*float64\): keep hidden's dtype"),
    (lesson11.mean_pool, _pool_numpy_round_trip, r"NumPy turns float32 times an int64 mask into float64"),
    (lesson11.mean_pool, _pool_in_place, r"changed its input hidden in place"),
    (lesson11.mean_pool, _pool_changes_mask, r"changed its input mask in place.*mask_eval\[:4\]"),
    (lesson11.cosine_similarities, _cos_in_place, r"changed its input reference in place.*teacher_eval"),
    (lesson11.neighbour_agreement, _agree_numpy_rows, r"array of shape \(5,\).*one agreement per row\? Average"),
    (lesson11.neighbour_agreement, _agree_float32, r"your result is float32: use float64"),
    (lesson11.neighbour_agreement, _agree_in_place, r"changed its input reference in place"),
], ids=lambda v: getattr(v, "__name__", "message"))
def test_the_fixed_checks_say_why(checker, answer, says):
    with pytest.raises(ExerciseFailed, match=says):
        checker(answer)


def test_a_mask_converted_with_float_passes(capsys):          # float32 mask: promotion keeps hidden's dtype
    def float_mask(hidden, mask):
        weights = mask.float().unsqueeze(-1)
        return F.normalize((hidden * weights).sum(1) / weights.sum(1), dim=-1)

    assert lesson11.mean_pool(float_mask) is float_mask
    assert "passed" in capsys.readouterr().out


def test_torch_cosine_similarity_passes(capsys):
    def builtin(reference, approx):
        return F.cosine_similarity(reference, approx, dim=1)

    assert lesson11.cosine_similarities(builtin) is builtin
    assert "passed" in capsys.readouterr().out


def test_top_k_plus_one_without_the_first_passes(capsys):     # the row itself is always its own nearest: drop it
    def drop_self(reference, approx, k):
        def top(e):
            unit = F.normalize(e, dim=1)
            return (unit @ unit.T).topk(k + 1, dim=1).indices[:, 1:]
        a, b = top(reference), top(approx)
        return sum(len(set(x.tolist()) & set(y.tolist())) for x, y in zip(a, b)) / (k * len(a))

    assert lesson11.neighbour_agreement(drop_self) is drop_self
    assert "passed" in capsys.readouterr().out
