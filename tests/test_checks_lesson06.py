"""Checkers of lesson 06 keep the contract (see checker_contract.py)."""
import math

import torch

from checker_contract import make_contract_tests
from tnnlib.checks import lesson06


# 6.1 ----------------------------------------------------------------------
def _params_square_ranks(in_modes, out_modes, ranks):          # r_k^2 for every core, boundary ranks ignored
    return sum(ranks[1] ** 2 * i * j for i, j in zip(out_modes, in_modes))


def _params_dense(in_modes, out_modes, ranks):                  # the dense count M N
    return math.prod(in_modes) * math.prod(out_modes)


def _params_forgot_one_side(in_modes, out_modes, ranks):        # a TT vector of the input modes only
    return sum(ranks[k] * j * ranks[k + 1] for k, j in enumerate(in_modes))


# 6.2 ----------------------------------------------------------------------
def _forward_dense(x, cores):                                   # correct numbers, but W x instead of x W^T
    W = lesson06._weight(cores)
    return x @ W                                                 # (shapes fail unless M == N; values always)


def _forward_fortran_outputs(x, cores):                          # output modes in reversed (Fortran) order
    y = lesson06._contract_groups(x, cores)
    out_modes = [c.shape[1] for c in cores]
    return y.reshape(x.shape[0], *out_modes).permute(0, *range(len(cores), 0, -1)).reshape(x.shape[0], -1)


def _forward_fortran_inputs(x, cores):                           # input modes read in reversed (Fortran) order
    in_modes = [c.shape[2] for c in cores]
    x = x.reshape(x.shape[0], *in_modes[::-1]).permute(0, *range(len(cores), 0, -1)).reshape(x.shape[0], -1)
    return lesson06._contract_groups(x, cores)


# 6.3 ----------------------------------------------------------------------
def _std_peer_bug(sigma, ranks):                                 # divides by prod r_k instead of its square root
    d = len(ranks) - 1
    return (sigma / math.prod(ranks)) ** (1 / d)


def _std_no_ranks(sigma, ranks):                                 # ignores the sum over the bonds
    return sigma ** (1 / (len(ranks) - 1))


def _std_no_root(sigma, ranks):                                  # forgets that W is a product of d cores
    return sigma / math.sqrt(math.prod(ranks))


# 6.4 ----------------------------------------------------------------------
def _flops_first_core_first(in_modes, out_modes, ranks, batch):  # the other sweep direction
    d = len(in_modes)
    return sum(2 * batch * ranks[k] * ranks[k + 1] * math.prod(out_modes[:k + 1]) * math.prod(in_modes[k:])
               for k in range(d))


def _flops_multiply_adds(in_modes, out_modes, ranks, batch):     # counts multiply-adds, not FLOPs
    return lesson06._sequential_flops(in_modes, out_modes, ranks, batch) // 2


def _flops_dense(in_modes, out_modes, ranks, batch):             # the dense layer's count
    return 2 * batch * math.prod(in_modes) * math.prod(out_modes)


WRONG_ANSWERS = {
    "6.1": [_params_square_ranks, _params_dense, _params_forgot_one_side],
    "6.2": [_forward_dense, _forward_fortran_outputs, _forward_fortran_inputs,
            lambda x, cores: x @ lesson06._weight(cores).T[:, :1]],       # wrong shape
    "6.3": [_std_peer_bug, _std_no_ranks, _std_no_root],
    "6.4": [_flops_first_core_first, _flops_multiply_adds, _flops_dense],
}

(test_reference, test_stub, test_crash, test_two_wrong, test_wrong) = make_contract_tests(lesson06, WRONG_ANSWERS)


def test_sequential_flops_is_the_layer_plan():
    from tnnlib.nn.tt_linear import TTLinear

    layer = TTLinear((4, 7, 7, 4), (4, 4, 4, 4), ranks=4)
    assert lesson06._sequential_flops(layer.in_modes, layer.out_modes, layer.ranks, 32) == \
        layer.cost(32, strategy="sequential").flops


def test_params_match_the_layer():
    from tnnlib.nn.tt_linear import TTLinear

    layer = TTLinear((2, 7, 8, 8, 7, 4), (4, 4, 4, 4, 4, 4), ranks=4)
    assert lesson06._tt_layer_params(layer.in_modes, layer.out_modes, layer.ranks) == layer.weight_parameters()
    x = torch.randn(3, layer.in_features)
    cores = [c.detach() for c in layer.cores]
    assert torch.allclose(lesson06._contract_groups(x, cores) + layer.bias.detach(), layer(x).detach(), atol=1e-5)
