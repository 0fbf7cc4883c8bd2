"""Contraction planning and the cost report."""
import math

import torch

from tnnlib.nn import LowRankLinear, TTLinear, TuckerLinear
from tnnlib.nn.planning import batch_bucket, compositions, parse_strategy, plan_tt, strategy_name, tt_candidate


def test_compositions():
    assert compositions(3) == [(3,), (1, 2), (2, 1), (1, 1, 1)]
    assert len(compositions(6)) == 32
    assert all(sum(c) == 5 for c in compositions(5))


def test_names_round_trip():
    for groups in compositions(4):
        assert parse_strategy(strategy_name(groups), 4) == groups


def test_bucket():
    assert [batch_bucket(b) for b in (0, 1, 2, 3, 512, 513)] == [1, 1, 2, 4, 512, 1024]


def test_flop_counts_by_hand():
    modes, ranks, B = (8, 8, 8, 8), (1, 16, 16, 16, 1), 512
    dense = tt_candidate(modes, modes, ranks, (4,), B)
    # rebuilding: cores 1-2, then 1-3, then 1-4; then one 4096 x 4096 x 512 product
    merge = 2 * (64 * 16 * 64 * 16) + 2 * (64 * 64 * 16 * 64 * 16) + 2 * (512 * 512 * 16 * 64)
    assert dense.flops == merge + 2 * 4096 * 4096 * B
    halves = tt_candidate(modes, modes, ranks, (2, 2), B)
    merge = 2 * (2 * 64 * 16 * 64 * 16)
    assert halves.flops == merge + 2 * 64 * (16 * 64) * 64 * B + 2 * (64 * 64 * 16) * 64 * B
    seq = tt_candidate(modes, modes, ranks, (1, 1, 1, 1), B)
    assert seq.flops == 2 * B * (512 * 128 * 8 + 64 * 128 * 128 * 8 + 8 * 128 * 128 * 64 + 8 * 128 * 512)


def test_plan_choices():
    modes = (8, 8, 8, 8)
    big = plan_tt(modes, modes, (1, 16, 16, 16, 1), 512)
    assert big.strategy == "merge(2+2)"
    assert big.chosen.flops < 0.55 * 2 * 4096 * 4096 * 512         # about half the dense product
    assert [c.score for c in big.candidates] == sorted(c.score for c in big.candidates)
    assert len(big.candidates) == 8
    assert plan_tt(modes, modes, (1, 4, 4, 4, 1), 1).strategy != "dense"
    huge_batch = plan_tt((4, 4), (4, 4), (1, 16, 1), 4096)            # full rank 16x16: rebuild W
    assert huge_batch.strategy == "dense"
    assert "merge(2+2)" in str(big) and len(big.rows()) == 8


def test_layer_plan_is_cached_and_used():
    layer = TTLinear((8, 8, 8, 8), (8, 8, 8, 8), ranks=16)
    plan = layer.plan(500)
    assert plan is layer.plan(512) and plan.batch_size == 512
    assert layer.cost(512).strategy == plan.strategy == "merge(2+2)"
    layer.strategy = "sequential"
    assert layer.cost(512).strategy == "sequential"


def test_cost_report():
    layer = TTLinear((4, 8, 8, 4), (4, 8, 8, 4), ranks=8)
    cost = layer.cost(64)
    assert cost.params == 8448 and cost.dense_params == 1024 ** 2
    assert cost.dense_flops == 2 * 64 * 1024 ** 2 and cost.dense_activations == 64 * 1024
    assert cost.flops < cost.dense_flops and cost.activations >= cost.dense_activations
    assert cost.element_bytes == 4 and cost.activation_bytes == 4 * cost.activations
    assert math.isclose(cost.compression, 1024 ** 2 / 8448)
    text = str(cost)
    assert "8,448" in text and "compression 124.1x" in text
    assert set(cost.as_dict()) >= {"params", "flops", "activations", "compression", "flop_ratio"}


def test_sequential_keeps_rank_inflated_intermediates():
    layer = TTLinear((8, 8, 8, 8), (8, 8, 8, 8), ranks=16)
    seq, halves = layer.cost(512, "sequential"), layer.cost(512, "merge(2+2)")
    assert seq.activations > 10 * seq.dense_activations
    assert halves.activations < seq.activations


def test_factorised_layers_plan_factored():
    assert LowRankLinear(1024, 1024, 16).plan(64).strategy == "factored"
    assert TuckerLinear(1024, 1024, (16, 16)).plan(64).strategy == "factored"
    full = LowRankLinear(64, 64, 64)                        # no saving: rebuilding W is cheaper at large batch
    assert full.plan(4096).strategy == "dense"
    with torch.no_grad():
        x = torch.randn(3, 64)
        torch.testing.assert_close(full(x), full.to_dense()(x), rtol=1e-5, atol=1e-5)


def test_flops_alone_are_not_time():
    """Rank 4, 4096 x 4096, batch 512: flops alone pick core by core; measured, two halves are ~2x faster."""
    from tnnlib.nn.planning import CostModel

    modes, ranks = (8, 8, 8, 8), (1, 4, 4, 4, 1)
    flops_only = CostModel(element_flops=0, kernel_flops=0, narrow=1)
    assert plan_tt(modes, modes, ranks, 512, flops_only).strategy == "sequential"
    assert plan_tt(modes, modes, ranks, 512).strategy == "merge(2+2)"
    assert CostModel().product_flops(1000, 8, 512) == 8000 and CostModel().product_flops(1000, 64, 64) == 1000
