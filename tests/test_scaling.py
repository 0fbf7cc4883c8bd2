"""tnnlib.scaling: the cost formulas against the layers' own reports, the MLP builders, matched widths, sweeps,
pixel orders."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from tnnlib.data import load_fashion_mnist
from tnnlib.nn import TTLinear
from tnnlib.scaling import (
    count_parameters,
    dense_mlp,
    forward_flops_per_example,
    mode_order,
    permute_pixels,
    sweep,
    train_flops_per_example,
    tt_linear_flops,
    tt_linear_params,
    tt_mlp,
    width_for,
)

SHAPES = [((4, 4, 4, 4), (4, 7, 7, 4), 8), ((4, 8, 8, 4), (4, 8, 8, 4), (1, 3, 5, 2, 1)), ((2, 3), (5, 7), 4),
          ((2, 4, 4, 2), (4, 7, 7, 4), (1, 6, 20, 6, 1)), ((8,), (3,), (1, 1))]


@pytest.mark.parametrize("out_modes,in_modes,rank", SHAPES)
def test_params_formula_matches_the_layer(out_modes, in_modes, rank):
    layer = TTLinear(math.prod(in_modes), math.prod(out_modes), rank, in_modes=in_modes, out_modes=out_modes)
    assert tt_linear_params(out_modes=out_modes, in_modes=in_modes, rank=layer.rank) == layer.weight_parameters()


@pytest.mark.parametrize("out_modes,in_modes,rank", SHAPES)
@pytest.mark.parametrize("batch", [1, 64, 300])
def test_flops_formula_matches_the_layers_cost_report(out_modes, in_modes, rank, batch):
    layer = TTLinear(math.prod(in_modes), math.prod(out_modes), rank, in_modes=in_modes, out_modes=out_modes)
    cost = layer.cost(batch, strategy="sequential", training=False)
    assert tt_linear_flops(out_modes=out_modes, in_modes=in_modes, rank=layer.rank, batch_size=batch) == cost.flops


def test_flops_formula_matches_torchs_count():
    from torch.utils.flop_counter import FlopCounterMode
    layer = TTLinear(784, 256, 8, in_modes=(4, 7, 7, 4), out_modes=(4, 4, 4, 4), bias=False)
    x = torch.randn(32, 784)
    with FlopCounterMode(display=False) as counter:
        layer.reference_forward(x)
    # reference_forward contracts the first core first: the same products as the sequential order, mirrored
    assert counter.get_total_flops() == tt_linear_flops(out_modes=(4, 4, 4, 4), in_modes=(4, 7, 7, 4), rank=8,
                                                        batch_size=32)


def test_formulas_refuse_bad_input():
    with pytest.raises(ValueError, match="same length"):
        tt_linear_params(out_modes=(4, 4), in_modes=(4, 4, 4), rank=2)
    with pytest.raises(ValueError, match="d\\+1"):
        tt_linear_params(out_modes=(4, 4), in_modes=(4, 4), rank=(2, 2))
    with pytest.raises(TypeError):
        tt_linear_flops(out_modes=(4, 4), in_modes=(4, 4), rank=2.0, batch_size=3)
    with pytest.raises(ValueError):
        tt_linear_flops(out_modes=(4, 4), in_modes=(4, 4), rank=2, batch_size=0)


def test_the_mlps_and_their_costs():
    dense = dense_mlp(100)
    assert count_parameters(dense) == 100 * 100 + 796 * 100 + 10
    assert forward_flops_per_example(dense) == 2 * (784 * 100 + 100 * 100 + 100 * 10)
    assert train_flops_per_example(dense) == 3 * forward_flops_per_example(dense)
    tt = tt_mlp((4, 4, 4, 4), 8)
    assert [type(m) for m in tt] == [nn.Flatten, TTLinear, nn.ReLU, TTLinear, nn.ReLU, nn.Linear]
    expected = tt[1].cost(128, training=False).flops + tt[3].cost(128, training=False).flops + 2 * 128 * 2560
    assert forward_flops_per_example(tt) == expected / 128
    both = tt_mlp((4, 4, 4, 4), [(1, 2, 3, 4, 1), (1, 5, 6, 7, 1)])
    assert both[1].rank == (1, 2, 3, 4, 1) and both[3].rank == (1, 5, 6, 7, 1)
    assert tt_mlp((4, 4, 4, 4), (1, 2, 3, 4, 1))[3].rank == (1, 2, 3, 4, 1)
    assert tt(torch.rand(5, 28, 28)).shape == (5, 10)
    with pytest.raises(TypeError):
        forward_flops_per_example("model")
    trains = tt[1].cost(64, training=True).flops + tt[3].cost(64, training=True).flops + 2 * 64 * 2560
    assert forward_flops_per_example(tt, 64, training=True) == trains / 64     # the plans it trains with
    assert forward_flops_per_example(dense, training=True) == forward_flops_per_example(dense)
    with pytest.raises(TypeError):
        forward_flops_per_example(tt, training="yes")


def test_width_for():
    def params(h):
        return count_parameters(dense_mlp(h))

    for target in (1000, 9226, 123_456):
        h = width_for(target, lambda h: h * h + 796 * h + 10, max_width=4096)
        assert all(abs(params(h) - target) <= abs(params(g) - target) for g in (h - 1, h + 1) if g >= 1)
    with pytest.raises(ValueError, match="max_width"):
        width_for(1e12, lambda h: h, max_width=100)


def test_sweep_is_seeded_and_reports_costs():
    data = load_fashion_mnist("train", n=256)
    builders = {"dense": lambda: dense_mlp(16), "tt": lambda: tt_mlp((2, 2, 2, 2), 2)}
    runs = sweep(builders, data, data, epochs=1, batch_size=64, seeds=(0, 1), progress=False)
    assert [(r.name, r.seed) for r in runs] == [("dense", 0), ("tt", 0), ("dense", 1), ("tt", 1)]
    again = sweep(builders, data, data, epochs=1, batch_size=64, seeds=(0,), progress=False)
    assert again[0].accuracy == runs[0].accuracy and again[1].accuracy == runs[1].accuracy
    assert runs[0].train_flops == train_flops_per_example(dense_mlp(16), 64) * 256
    assert runs[1].params == count_parameters(tt_mlp((2, 2, 2, 2), 2))
    with pytest.raises(TypeError):
        sweep({}, data, data, epochs=1)


def test_permute_pixels_numpy_and_torch():
    images = np.random.default_rng(0).random((3, 4, 5))
    perm = np.random.default_rng(1).permutation(20)
    out = permute_pixels(images, perm)
    assert out.shape == images.shape and isinstance(out, np.ndarray)
    assert np.array_equal(out.reshape(3, -1), images.reshape(3, -1)[:, perm])
    t = permute_pixels(torch.from_numpy(images), torch.from_numpy(perm))
    assert isinstance(t, torch.Tensor) and np.array_equal(t.numpy(), out)
    # the inverse permutation undoes it
    assert np.array_equal(permute_pixels(out, np.argsort(perm)), images)
    with pytest.raises(ValueError, match="each of 0..19"):
        permute_pixels(images, np.zeros(20, dtype=int))
    with pytest.raises(ValueError):
        permute_pixels(images, perm[:10])


def test_mode_order_is_a_permutation_of_the_axes():
    x = torch.rand(2, 784)
    for order in [(0, 1, 2, 3), (0, 2, 1, 3), (1, 3, 0, 2), (3, 2, 1, 0)]:
        perm = mode_order((4, 7, 7, 4), order)
        expected = x.reshape(2, 4, 7, 7, 4).permute(0, *(1 + o for o in order)).reshape(2, -1)
        assert torch.equal(permute_pixels(x, perm), expected)
    assert np.array_equal(mode_order((4, 7, 7, 4), (0, 1, 2, 3)), np.arange(784))
    with pytest.raises(ValueError, match="permutation of 0..3"):
        mode_order((4, 7, 7, 4), (0, 1, 2, 2))
