"""Checkers of lesson 10 keep the contract (see checker_contract.py)."""
import math

import torch

from tnnlib import mps
from tnnlib.checks import lesson10

from checker_contract import make_contract_tests, make_import_test


# 10.1 ---------------------------------------------------------------------
def _features_swapped(x, dim=2):                        # [sin, cos]: white and black exchanged
    return mps.trig_features(x, dim).flip(-1)


def _features_no_half(x, dim=2):                        # cos(pi x), sin(pi x): black maps to [-1, 0]
    return mps.trig_features(2 * x, dim)


def _features_no_binomial(x, dim=2):                    # right for dim = 2, not unit norm for dim > 2
    c, s = torch.cos(math.pi * x / 2), torch.sin(math.pi * x / 2)
    return torch.stack([c ** (dim - 1 - k) * s ** k for k in range(dim)], -1)


def _features_float64(x, dim=2):                        # right values, but always float64
    return mps.trig_features(x.double(), dim)


# 10.2 ---------------------------------------------------------------------
def _contract_unnormalised(cores, features):            # the plain product: overflows float32 on long chains
    state = torch.ones(features.shape[0], 1, dtype=features.dtype)
    for k, core in enumerate(cores):
        state = mps.absorb(state, core, features[:, k])
    value = state[:, 0]
    return torch.sign(value), value.abs().log()


def _contract_forgets_norms(cores, features):           # normalises, but drops the logarithms of the norms
    state = torch.ones(features.shape[0], 1, dtype=features.dtype)
    for k, core in enumerate(cores):
        state = mps.absorb(state, core, features[:, k])
        state = state / state.norm(dim=1, keepdim=True)
    return torch.sign(state[:, 0]), torch.zeros(features.shape[0], dtype=features.dtype)


def _contract_no_sign(cores, features):                 # |value| right, sign always +1
    _, log_abs = mps.contract_product_state(cores, features)
    return torch.ones_like(log_abs), log_abs


def _contract_features_reversed(cores, features):       # pairs core k with the features of site N - 1 - k
    return mps.contract_product_state(cores, features.flip(1))


# 10.4 ---------------------------------------------------------------------
def _environment_includes_site(cores, features, site):  # left includes the site's own core
    left, right = mps.environment(cores, features, site)
    return mps.absorb(left, cores[site], features[:, site]), right


def _environment_right_untransposed(cores, features, site):   # right sweep without swapping the bonds
    left, _ = mps.environment(cores, features, site)
    right = torch.ones(features.shape[0], 1, dtype=features.dtype)
    for k in range(len(cores) - 1, site, -1):
        core = cores[k]
        right = torch.einsum("bc,csa,bs->ba", right, core.reshape(core.shape[2], core.shape[1], core.shape[0]),
                             features[:, k])
    return left, right


def _environment_normalised(cores, features, site):     # normalised boundary vectors: right direction, wrong size
    left, right = mps.environment(cores, features, site)
    return left / left.norm(dim=1, keepdim=True), right / right.norm(dim=1, keepdim=True)


# 10.5 ---------------------------------------------------------------------
def _split_forgets_s(merged, *, max_rank=None, eps=None):      # right = Vh: the product loses S
    left, right, S = mps.split_two_site(merged, max_rank=max_rank, eps=eps)
    return left, right / S[:, None, None], S


def _split_s_on_the_left(merged, *, max_rank=None, eps=None):  # U S on the left: not left-orthogonal
    left, right, S = mps.split_two_site(merged, max_rank=max_rank, eps=eps)
    return left * S, right / S[:, None, None], S


def _split_ignores_max_rank(merged, *, max_rank=None, eps=None):   # never truncates
    return mps.split_two_site(merged, eps=eps)


def _split_right_misordered(merged, *, max_rank=None, eps=None):   # diag(S) Vh reshaped as (n_2, r, r_right)
    left, right, S = mps.split_two_site(merged, max_rank=max_rank, eps=eps)
    r, n2, b = right.shape
    return left, right.reshape(-1).reshape(n2, r, b).transpose(0, 1), S


def _split_smallest(merged, *, max_rank=None, eps=None):        # keeps the smallest singular values
    a, n1, n2, b = merged.shape
    U, S, Vh = torch.linalg.svd(merged.reshape(a * n1, n2 * b), full_matrices=False)
    keep = len(S) if max_rank is None else min(max_rank, len(S))
    U, S, Vh = U[:, -keep:], S[-keep:], Vh[-keep:]
    return U.reshape(a, n1, keep), (S[:, None] * Vh).reshape(keep, n2, b), S


# 10.3 ---------------------------------------------------------------------
def _snake_row_major(shape):                            # no snake at all
    return mps.pixel_order(shape, "row")


def _snake_starts_reversed(shape):                      # even rows right to left
    h, w = shape
    grid = torch.arange(h * w).reshape(h, w)
    grid[0::2] = grid[0::2].flip(1)
    return grid.reshape(-1)


def _snake_columns(shape):                              # snakes down the columns
    h, w = shape
    grid = torch.arange(h * w).reshape(h, w).T.clone()
    grid[1::2] = grid[1::2].flip(1)
    return grid.reshape(-1)


def _snake_float(shape):                                # right order, float indices (cannot index a tensor)
    return mps.pixel_order(shape, "snake").double()


WRONG_ANSWERS = {
    "10.1": [_features_swapped, _features_no_half, _features_no_binomial, _features_float64],
    "10.2": [_contract_unnormalised, _contract_forgets_norms, _contract_no_sign, _contract_features_reversed],
    "10.3": [_snake_row_major, _snake_starts_reversed, _snake_columns, _snake_float],
    "10.4": [_environment_includes_site, _environment_right_untransposed, _environment_normalised],
    "10.5": [_split_forgets_s, _split_s_on_the_left, _split_ignores_max_rank, _split_right_misordered,
             _split_smallest],
}

(test_reference, test_stub, test_crash, test_two_wrong, test_wrong) = make_contract_tests(lesson10, WRONG_ANSWERS)
test_checkers_import_on_their_own = make_import_test(lesson10)


def test_a_correct_but_different_contraction_passes(capsys):
    def einsum_sweep(cores, features):                  # right to left, with einsum, normalising every step
        state = torch.ones(features.shape[0], 1, dtype=features.dtype)
        log_abs = torch.zeros(features.shape[0], dtype=features.dtype)
        for k in range(len(cores) - 1, -1, -1):
            state = torch.einsum("asc,bs,bc->ba", cores[k], features[:, k], state)
            norm = state.norm(dim=1)
            log_abs = log_abs + norm.log()
            state = state / norm[:, None]
        return torch.sign(state[:, 0]), log_abs

    assert lesson10.contract_product_state(einsum_sweep) is einsum_sweep
    assert "passed" in capsys.readouterr().out


def test_integer_signs_pass(capsys):
    def integer_signs(cores, features):
        sign, log_abs = mps.contract_product_state(cores, features)
        return sign.long(), log_abs

    assert lesson10.contract_product_state(integer_signs) is integer_signs
    assert "passed" in capsys.readouterr().out


def test_a_split_with_other_singular_vector_signs_passes(capsys):
    def flipped(merged, *, max_rank=None, eps=None):
        left, right, S = mps.split_two_site(merged, max_rank=max_rank, eps=eps)
        signs = torch.where(torch.arange(len(S)) % 2 == 0, 1.0, -1.0).to(merged.dtype)
        return left * signs, right * signs[:, None, None], S

    assert lesson10.split_two_site(flipped) is flipped
    assert "passed" in capsys.readouterr().out


def test_the_snake_message_shows_the_grids():
    try:
        lesson10.snake_order(_snake_row_major)
    except AssertionError as failure:
        message = str(failure)
    assert "site 3 of the chain visits pixel 3 (row 1, column 0)" in message and "expected:" in message
