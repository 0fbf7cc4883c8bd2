"""The planner prices training: forward + backward in training mode, forward alone for inference.

Gradients of every strategy against ``reference_forward`` (float64), the custom
backward of the grouped contraction (gradcheck), the plan cache keyed by
training, and no re-planning per call.
"""
import math

import pytest
import torch

import tnnlib.nn.base as base
from tnnlib.nn import CPLinear, LowRankLinear, TRLinear, TTLinear, TuckerLinear
from tnnlib.nn.planning import CPU_COST_MODEL, CostModel, make_plan, plan_tt, tt_candidate
from tnnlib.nn.tt_linear import GroupedContraction, contract_groups, merge_cores

DOUBLE = dict(dtype=torch.float64)


def tt_small(**kw):
    torch.manual_seed(0)
    return TTLinear(24, 30, 3, in_modes=(2, 3, 4), out_modes=(3, 2, 5), **DOUBLE, **kw)


def grads(layer, x, fn):
    layer.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_()
    y = fn(x)
    weights = torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=y.dtype)
    (y * weights).sum().backward()
    return [y.detach(), x.grad] + [p.grad.clone() for p in layer.parameters()]


# ---------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------

def all_layers():
    torch.manual_seed(0)
    return {
        "tt": TTLinear(64, 48, 3, in_modes=(4, 4, 4), out_modes=(3, 4, 4), **DOUBLE),
        "tt4": TTLinear(120, 72, (2, 3, 2), in_modes=(2, 3, 4, 5), out_modes=(3, 2, 4, 3), **DOUBLE),
        "tucker": TuckerLinear(64, 48, (3, 4), **DOUBLE),
        "cp": CPLinear(64, 48, 5, in_modes=(8, 8), out_modes=(6, 8), **DOUBLE),
        "tr": TRLinear(64, 48, 2, in_modes=(8, 8), out_modes=(6, 8), **DOUBLE),
        "lowrank": LowRankLinear(64, 48, 4, **DOUBLE),
    }


@pytest.mark.parametrize("name", list(all_layers()))
def test_gradients_of_every_strategy_match_reference(name):
    layer = all_layers()[name]
    x = torch.randn(11, layer.in_features, **DOUBLE)
    expected = grads(layer, x, layer.reference_forward)
    for strategy in layer.strategies:
        layer.strategy = strategy
        got = grads(layer, x, layer)
        for g, e in zip(got, expected):
            torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-12, msg=f"{name} {strategy}")
    layer.strategy = "auto"


@pytest.mark.parametrize("rows,keep", [(None, True), (4, True), (4, False), (1, False)])
def test_blocks_and_recomputation_give_reference_gradients(rows, keep):
    """Blocks of rows, states kept or recomputed: the same gradients as the reference, every grouping."""
    layer = TTLinear(120, 72, (2, 3, 2), in_modes=(2, 3, 4, 5), out_modes=(3, 2, 4, 3), **DOUBLE)
    x = torch.randn(10, 120, **DOUBLE)
    expected = grads(layer, x, layer.reference_forward)
    for groups in ((1, 1, 1, 1), (2, 2), (1, 3), (1, 2, 1), (2, 1, 1)):
        def fn(x, groups=groups):
            return GroupedContraction.apply(x, rows, keep, *layer.merged_cores(groups)) + layer.bias
        for g, e in zip(grads(layer, x, fn), expected):
            torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-12, msg=str(groups))


GRADCHECK = [((1, 1), None, True), ((1, 1), 2, False), ((1, 2), 2, True), ((1, 1, 1), None, True),
             ((1, 1, 1), 2, False), ((2, 1, 1), 2, False), ((1, 1, 1, 1), 2, True)]


@pytest.mark.parametrize("groups,rows,keep", GRADCHECK)
def test_gradcheck_grouped_contraction(groups, rows, keep):
    """float64 gradcheck of the custom backward: two groups (batch first) and three or more (batch last),
    one block or blocks of 2 rows, states kept or recomputed; all inputs, then the input alone."""
    gen = torch.Generator().manual_seed(sum(groups))
    d = sum(groups)
    out_modes, in_modes = (2, 3, 2, 2)[:d], (3, 2, 2, 2)[:d]
    rank = (1,) + (2, 3, 2)[:d - 1] + (1,)
    cores = [torch.randn(rank[k], out_modes[k], in_modes[k], rank[k + 1], generator=gen, **DOUBLE).requires_grad_()
             for k in range(d)]
    x = torch.randn(5, math.prod(in_modes), generator=gen, **DOUBLE).requires_grad_()

    def fn(x, *cores):
        merged, k = [], 0
        for g in groups:
            merged.append(merge_cores(list(cores[k:k + g])))
            k += g
        return GroupedContraction.apply(x, rows, keep, *merged)

    assert torch.autograd.gradcheck(fn, (x, *cores))
    assert torch.autograd.gradcheck(lambda x: fn(x, *[c.detach() for c in cores]), (x,))


def test_contract_groups_uses_the_custom_backward_only_with_gradients():
    layer = tt_small()
    merged = layer.merged_cores((1, 2))
    x = torch.randn(5, 24, **DOUBLE)
    y = contract_groups(x, merged, layer.bias, 2)
    assert y.grad_fn is not None                                       # the cores need gradients
    with torch.no_grad():
        torch.testing.assert_close(contract_groups(x, merged, layer.bias, 2), y.detach())


# ---------------------------------------------------------------------------
# Pricing
# ---------------------------------------------------------------------------

def test_training_price_is_forward_plus_backward():
    kw = dict(out_modes=(8, 8, 8, 8), in_modes=(8, 8, 8, 8), rank=(1, 16, 16, 16, 1), batch_size=512)
    infer, train = plan_tt(**kw), plan_tt(training=True, **kw)
    assert not infer.training and train.training
    for c in train.candidates:
        assert c.score == pytest.approx(c.forward_score + c.backward_score)
        assert c.backward_flops >= 2 * c.flops
    for c in infer.candidates:
        assert c.score == pytest.approx(c.forward_score)
    assert "training (forward + backward)" in str(train) and "inference (forward only)" in str(infer)


def test_backward_flops_by_hand():
    """Two halves, 4096 x 4096, rank 16, batch 512: each contraction step has two gradient products of its
    forward flops, merging has two; the states (r = 16 times the input) are recomputed, not kept."""
    B, r = 512, 16
    kw = dict(out_modes=(8, 8, 8, 8), in_modes=(8, 8, 8, 8), rank=(1, r, r, r, 1), batch_size=B)
    halves = tt_candidate(groups=(2, 2), **kw)
    merge = 2 * (2 * 64 * 16 * 64 * 16)
    step = 2 * 64 * (16 * 64) * 64 * B                         # each of the two steps: 2 B r N sqrt(M)
    assert halves.flops == merge + 2 * step
    assert halves.backward_flops == 2 * merge + 4 * step + step      # + the first step, recomputed
    dense_train = 3 * 2 * B * 4096 * 4096
    assert halves.train_flops / dense_train == pytest.approx(7 / 3 * r / 64, rel=0.01)   # 0.58
    assert halves.activations < 1.1 * B * 4096                 # the input and the merged halves, no states
    keep_all = CostModel(keep_elements=None)
    kept = tt_candidate(groups=(2, 2), model=keep_all, **kw)
    assert kept.backward_flops == 2 * merge + 4 * step
    assert kept.activations > 16 * B * 4096                    # the rank-inflated states
    dense = tt_candidate(groups=(4,), **kw)
    rebuild = dense.flops - 2 * B * 4096 * 4096
    assert dense.backward_flops == 4 * B * 4096 * 4096 + 2 * rebuild


def test_layer_cost_reports_training():
    layer = TTLinear(4096, 4096, 16, in_modes=(8, 8, 8, 8), out_modes=(8, 8, 8, 8))
    cost = layer.cost(512, training=True)
    assert cost.training and cost.strategy == layer.plan(512, training=True).strategy
    assert cost.dense_backward_flops == 4 * 512 * 4096 ** 2
    assert cost.train_flops == cost.flops + cost.backward_flops
    assert cost.train_flop_ratio < 0.6
    assert "fwd+bwd" in str(cost) and "train_flop_ratio" in cost.as_dict()
    with torch.no_grad():
        assert not layer.cost(512).training                    # under no_grad: what the layer would do
    layer.eval()
    assert not layer.cost(512).training


def test_training_plan_differs_from_inference_plan():
    """Where the model says so: 4096 x 4096, rank 32, batch 512. Measured on the course's 2-core CPU (one
    thread, CPU time): forward, merged halves 236 ms against 294 ms rebuilding W; training step, rebuilding
    W 796 ms against 847 ms for the halves. The halves' backward costs twice their forward again, plus
    recomputing their rank-inflated states; rebuilding W adds ``4 B M N`` plus twice the rebuild."""
    kw = dict(out_modes=(8, 8, 8, 8), in_modes=(8, 8, 8, 8), rank=(1, 32, 32, 32, 1), batch_size=512)
    assert plan_tt(**kw).strategy == "merge(2+2)"
    assert plan_tt(training=True, **kw).strategy == "dense"
    layer = TTLinear(4096, 4096, 32, in_modes=(8, 8, 8, 8), out_modes=(8, 8, 8, 8))
    assert layer.plan(512).strategy == "dense"                  # training mode, gradients enabled
    with torch.no_grad():
        assert layer.plan(512).strategy == "merge(2+2)"
    layer.eval()
    assert layer.plan(512).strategy == "merge(2+2)"


def test_formats_without_a_backward_price_pay_twice_their_forward():
    candidates = LowRankLinear(256, 256, 8).candidates(64)
    plan = make_plan(64, candidates, CPU_COST_MODEL, training=True)
    for c in plan.candidates:
        assert c.backward_flops == 2 * c.flops


# ---------------------------------------------------------------------------
# The cache
# ---------------------------------------------------------------------------

def test_plan_cache_is_keyed_by_training():
    layer = tt_small()
    x = torch.randn(6, 24, **DOUBLE)
    layer(x)                                                   # training mode, gradients: training plan
    with torch.no_grad():
        layer(x)                                               # inference plan
    layer.eval()
    layer(x)                                                   # eval: inference plan (cached)
    assert list(layer._plans) == [(8, "cpu", torch.float64)]   # the bucket of 6 ...
    assert set(layer._plans[8, "cpu", torch.float64]) == {True, False}    # ... for training and inference
    assert layer.plan(6, training=True).training and not layer.plan(6, training=False).training
    assert layer.plan(5, training=False) is layer.plan(8, training=False)


def test_no_replanning_per_call(monkeypatch):
    layer = TTLinear(1024, 1024, 8, in_modes=(4, 8, 8, 4), out_modes=(4, 8, 8, 4))
    calls = []
    real = base.make_plan

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(base, "make_plan", counting)
    x = torch.randn(20, 1024)
    for _ in range(5):
        layer(x).sum().backward()
        with torch.no_grad():
            layer(x)
        layer(x[:17]).sum().backward()                        # same bucket (32)
    assert len(calls) == 2                                     # one plan for training, one for inference
    layer.eval()
    layer(x)
    assert len(calls) == 2


def test_graph_strategy_uses_the_module_mode_only():
    """A recorded graph takes the plan of the module's mode, whether or not gradients are enabled
    (torch.jit.trace reruns the forward pass without them to check the trace)."""
    layer = TTLinear(4096, 4096, 32, in_modes=(8, 8, 8, 8), out_modes=(8, 8, 8, 8))
    layer.graph_batch_size = 512
    with torch.no_grad():
        assert layer.graph_strategy() == layer.graph_strategy(training=True) == "dense"
    layer.eval()
    assert layer.graph_strategy() == "merge(2+2)"
    assert layer._plans == {}


# ---------------------------------------------------------------------------
# CUDA
# ---------------------------------------------------------------------------

@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_training_plan_and_gradients():
    torch.manual_seed(0)
    layer = TTLinear(1024, 1024, 16, in_modes=(4, 8, 8, 4), out_modes=(4, 8, 8, 4), device="cuda",
                     dtype=torch.float64)
    x = torch.randn(64, 1024, device="cuda", dtype=torch.float64)
    expected = grads(layer, x, layer.reference_forward)
    for strategy in ("auto", "merge(2+2)", "sequential", "dense"):
        layer.strategy = strategy
        for g, e in zip(grads(layer, x, layer), expected):
            torch.testing.assert_close(g, e, rtol=1e-9, atol=1e-11)
    layer.strategy = "auto"
    assert ("cuda" in {k[1] for k in layer._plans}) and layer.plan(64, training=True).training
    half = TTLinear(1024, 1024, 16, device="cuda", dtype=torch.bfloat16)
    y = half(torch.randn(64, 1024, device="cuda", dtype=torch.bfloat16))
    y.float().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad.float()).all() for p in half.parameters())
