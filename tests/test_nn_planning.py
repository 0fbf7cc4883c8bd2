"""Contraction planning and the cost report."""
import math

import pytest
import torch

from tnnlib.nn import LowRankLinear, TTLinear, TuckerLinear
from tnnlib.nn.planning import (
    CostModel,
    batch_bucket,
    compositions,
    parse_strategy,
    plan_tt,
    strategy_name,
    tt_candidate,
)


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
    kw = dict(out_modes=modes, in_modes=modes, rank=ranks, batch_size=B)
    dense = tt_candidate(groups=(4,), **kw)
    # rebuilding as dense_weight does: cores 1-2 and 3-4, then the two halves; then one 4096 x 4096 x 512 product
    merge = 2 * (2 * 64 * 16 * 64 * 16) + 2 * (4096 * 16 * 4096)
    assert dense.flops == merge + 2 * 4096 * 4096 * B
    halves = tt_candidate(groups=(2, 2), **kw)
    merge = 2 * (2 * 64 * 16 * 64 * 16)
    assert halves.flops == merge + 2 * 64 * (16 * 64) * 64 * B + 2 * (64 * 64 * 16) * 64 * B
    seq = tt_candidate(groups=(1, 1, 1, 1), **kw)
    assert seq.flops == 2 * B * (512 * 128 * 8 + 64 * 128 * 128 * 8 + 8 * 128 * 128 * 64 + 8 * 128 * 512)


def test_plan_choices():
    modes = (8, 8, 8, 8)
    big = plan_tt(out_modes=modes, in_modes=modes, rank=(1, 16, 16, 16, 1), batch_size=512)
    assert big.strategy == "merge(2+2)"
    assert big.chosen.flops < 0.55 * 2 * 4096 * 4096 * 512         # about half the dense product
    assert [c.score for c in big.candidates] == sorted(c.score for c in big.candidates)
    assert len(big.candidates) == 8
    assert plan_tt(out_modes=modes, in_modes=modes, rank=(1, 4, 4, 4, 1), batch_size=1).strategy != "dense"
    huge_batch = plan_tt(out_modes=(4, 4), in_modes=(4, 4), rank=(1, 16, 1), batch_size=4096)   # rebuild W
    assert huge_batch.strategy == "dense"
    assert "merge(2+2)" in str(big) and len(big.rows()) == 8


def test_layer_plan_is_cached_and_used():
    layer = TTLinear(4096, 4096, 16, in_modes=(8, 8, 8, 8), out_modes=(8, 8, 8, 8))
    plan = layer.plan(500)
    assert plan is layer.plan(512) and plan.batch_size == 512
    assert layer.cost(512).strategy == plan.strategy == "merge(2+2)"
    layer.strategy = "sequential"
    assert layer.cost(512).strategy == "sequential"


def test_cost_report():
    layer = TTLinear(1024, 1024, 8, in_modes=(4, 8, 8, 4), out_modes=(4, 8, 8, 4))
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
    """Kept for the backward pass, the sequential sweep's states are many times the input; the layer
    recomputes them block by block instead once they pass the cost model's ``keep_elements``."""
    modes = (8, 8, 8, 8)
    kw = dict(out_modes=modes, in_modes=modes, rank=(1, 16, 16, 16, 1), batch_size=512)
    keep_all = CostModel(keep_elements=None)
    seq, halves = tt_candidate(groups=(1,) * 4, model=keep_all, **kw), tt_candidate(groups=(2, 2), model=keep_all, **kw)
    dense_kept = 512 * 4096
    assert seq.activations > 10 * dense_kept
    assert halves.activations < seq.activations
    layer = TTLinear(4096, 4096, 16, in_modes=modes, out_modes=modes)
    recomputed = layer.cost(512, "sequential", training=True)
    assert recomputed.activations == recomputed.dense_activations == dense_kept    # the input only
    assert recomputed.backward_flops > tt_candidate(groups=(1,) * 4, model=keep_all, **kw).backward_flops


def test_factorised_layers_plan_factored():
    assert LowRankLinear(1024, 1024, 16).plan(64).strategy == "factored"
    assert TuckerLinear(1024, 1024, (16, 16)).plan(64).strategy == "factored"
    full = LowRankLinear(64, 64, 64)                        # no saving: rebuilding W is cheaper at large batch
    assert full.plan(4096).strategy == "dense"
    with torch.no_grad():
        x = torch.randn(3, 64)
        torch.testing.assert_close(full(x), full.to_dense()(x), rtol=1e-5, atol=1e-5)


def test_modes_are_keyword_only():
    """Output before input, by keyword: a swap is an error, not a silent transpose."""
    with pytest.raises(TypeError):
        plan_tt((4, 4), (4, 4), (1, 4, 1), 8)
    with pytest.raises(TypeError):
        tt_candidate((4, 4), (4, 4), (1, 4, 1), (2,), 8)


def test_compiled_and_traced_graphs_use_one_plan():
    """graph_strategy does not depend on the batch size and leaves the plan cache alone."""
    layer = TTLinear(4096, 4096, 16, in_modes=(8, 8, 8, 8), out_modes=(8, 8, 8, 8))
    assert layer.graph_strategy() == layer.plan(layer.graph_batch_size).strategy
    fresh = TTLinear(4096, 4096, 16, in_modes=(8, 8, 8, 8), out_modes=(8, 8, 8, 8))
    fresh.graph_strategy()
    assert fresh._plans == {}


def test_flops_alone_are_not_time():
    """Rank 4, 4096 x 4096, batch 512: flops alone pick core by core; measured, two halves are ~2x faster."""
    modes, ranks = (8, 8, 8, 8), (1, 4, 4, 4, 1)
    flops_only = CostModel(element_flops=0, kernel_flops=0, narrow=1)
    kw = dict(out_modes=modes, in_modes=modes, rank=ranks, batch_size=512)
    assert plan_tt(model=flops_only, **kw).strategy == "sequential"
    assert plan_tt(**kw).strategy == "merge(2+2)"
    assert CostModel(narrow=64).product_flops(1000, 8, 512) == 8000
    assert CostModel().product_flops(1000, 64, 64) == 1000 and CostModel().product_flops(1000, 8, 512) == 5000
