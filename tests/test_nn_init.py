"""Initialisation: the rebuilt weight has nn.Linear's default std 1/sqrt(3 fan_in)."""
import math

import pytest
import torch
from torch import nn

from tnnlib.nn import CPConv2d, CPLinear, LowRankLinear, TRLinear, TTEmbedding, TTLinear, TuckerConv2d, TuckerLinear
from tnnlib.nn.init import cp_std, linear_std, tr_core_std, tt_core_std, tucker_std


def rebuilt_std(make, rebuild, repeats=4):
    """Root-mean-square of the rebuilt weight over a few independent initialisations."""
    torch.manual_seed(0)
    squares = [rebuild(make()).detach().double().pow(2).mean() for _ in range(repeats)]
    return math.sqrt(sum(squares) / repeats)


LAYERS = {
    "tt": lambda: TTLinear(256, 256, 8, in_modes=(4, 8, 8), out_modes=(8, 8, 4)),
    "tt-4cores": lambda: TTLinear(256, 256, (4, 16, 4), in_modes=(4, 4, 4, 4), out_modes=(4, 4, 4, 4)),
    "tucker": lambda: TuckerLinear(256, 256, 6, in_modes=(16, 16), out_modes=(16, 16)),
    "tucker2": lambda: TuckerLinear(256, 256, (32, 24)),
    "cp": lambda: CPLinear(256, 256, 20, in_modes=(4, 8, 8), out_modes=(8, 8, 4)),
    "tr": lambda: TRLinear(256, 256, (3, 4, 5, 6), in_modes=(16, 16), out_modes=(16, 16)),
    "lowrank": lambda: LowRankLinear(256, 256, 16),
}


@pytest.mark.parametrize("name", LAYERS)
def test_rebuilt_weight_has_linear_std(name):
    got = rebuilt_std(LAYERS[name], lambda layer: layer.dense_weight())
    assert got == pytest.approx(linear_std(256), rel=0.12)
    dense = nn.Linear(256, 256).weight.detach().std().item()
    assert got == pytest.approx(dense, rel=0.15)


def test_peer_bug_dividing_by_prod_r_is_caught():
    """Dividing by prod r_k instead of its square root shrinks W by sqrt(prod r_k): the test above fails."""
    ranks, sigma, d = (1, 8, 8, 1), linear_std(256), 3
    wrong = sigma ** (1 / d) * math.prod(ranks) ** (-1 / d)
    assert tt_core_std(sigma, ranks) == pytest.approx(sigma ** (1 / d) * 64 ** (-1 / (2 * d)))

    def wrongly_initialised():
        layer = TTLinear(256, 256, 8, in_modes=(4, 8, 8), out_modes=(8, 8, 4))
        with torch.no_grad():
            for core in layer.cores:
                core.normal_(0, wrong)
        return layer

    got = rebuilt_std(wrongly_initialised, lambda layer: layer.dense_weight())
    assert got == pytest.approx(sigma / 8, rel=0.12)                 # sqrt(prod r) = 8 times too small
    assert got != pytest.approx(sigma, rel=0.15)


def test_formulas():
    s = 0.01
    assert tt_core_std(s, (1, 4, 9, 1)) ** 3 * 6 == pytest.approx(s)
    assert tucker_std(s, (2, 8)) ** 3 * 4 == pytest.approx(s)
    assert cp_std(s, 16, 4) ** 4 * 4 == pytest.approx(s)
    assert tr_core_std(s, (4, 4, 4, 4)) ** 4 * 16 == pytest.approx(s)


def test_conv_kernels_have_conv2d_std():
    fan_in = 32 * 9
    for make in (lambda: CPConv2d(32, 64, 3, 24), lambda: TuckerConv2d(32, 64, 3, (16, 12))):
        got = rebuilt_std(make, lambda layer: layer.dense_weight())
        assert got == pytest.approx(linear_std(fan_in), rel=0.15)


def test_embedding_rows_have_unit_std_like_nn_embedding():
    got = rebuilt_std(lambda: TTEmbedding(512, 64, 8, voc_modes=(8, 8, 8), emb_modes=(4, 4, 4)),
                      lambda e: e.dense_weight())
    assert got == pytest.approx(1.0, rel=0.15)


def test_bias_like_nn_linear():
    torch.manual_seed(0)
    bias = TTLinear(256, 256, 4, in_modes=(16, 16), out_modes=(16, 16)).bias.detach()
    assert bias.abs().max() <= 1 / 16 and bias.std().item() == pytest.approx(1 / 16 / math.sqrt(3), rel=0.15)
