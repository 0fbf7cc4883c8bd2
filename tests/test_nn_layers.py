"""tnnlib.nn linear layers: every strategy = reference_forward = the dense layer, gradients, dtypes, state_dict."""
import inspect
import math

import pytest
import torch
from torch import nn
from torch.func import functional_call

from tnnlib.nn import CPLinear, LowRankLinear, TRLinear, TTEmbedding, TTLinear, TuckerLinear, tt_linear
from tnnlib.nn.base import apply_to_middle
from tnnlib.nn.tt_linear import contract_groups
from tnnlib.ttm import TTMatrix


def small_layers():
    """One small float64 layer of each kind, 12 -> 12 (modes (2, 2, 3) / (2, 3, 2))."""
    torch.manual_seed(0)
    layers = {
        "tt": TTLinear(12, 12, (2, 3), in_modes=(2, 2, 3), out_modes=(2, 3, 2)),
        "tt4": TTLinear(16, 16, 3, in_modes=(2, 2, 2, 2), out_modes=(2, 2, 2, 2)),
        "tucker": TuckerLinear(12, 12, 2, in_modes=(2, 2, 3), out_modes=(3, 4)),
        "tucker2": TuckerLinear(12, 10, (3, 4)),
        "cp": CPLinear(12, 12, 3, in_modes=(2, 2, 3), out_modes=(2, 3, 2)),
        "tr": TRLinear(12, 12, (2, 3, 2, 2, 3), in_modes=(3, 4), out_modes=(2, 3, 2)),
        "lowrank": LowRankLinear(12, 7, 3),
    }
    return {name: layer.double() for name, layer in layers.items()}


CASES = [(name, strategy) for name, layer in small_layers().items() for strategy in layer.strategies]


@pytest.mark.parametrize("name,strategy", CASES)
def test_every_strategy_matches_the_reference_forward_and_the_dense_layer(name, strategy):
    layer = small_layers()[name]
    x = torch.randn(2, 5, layer.in_features, dtype=torch.float64)           # leading batch dims too
    reference = layer.reference_forward(x)
    assert reference.shape == (2, 5, layer.out_features)
    torch.testing.assert_close(reference, layer.to_dense()(x), rtol=1e-12, atol=1e-12)
    layer.strategy = strategy
    y = layer(x)
    assert y.shape == (2, 5, layer.out_features)
    torch.testing.assert_close(y, reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["tt", "tt4", "tucker", "cp", "tr", "lowrank"])
def test_planned_forward_matches_the_reference_at_many_batch_sizes(name):
    layer = small_layers()[name]
    for batch in (1, 3, 17, 300):
        x = torch.randn(batch, layer.in_features, dtype=torch.float64)
        torch.testing.assert_close(layer(x), layer.reference_forward(x), rtol=1e-12, atol=1e-12)


def test_reference_forward_is_documented_first():
    """The teaching path: each class docstring points to reference_forward, defined before the fast path."""
    for cls in (TTLinear, TuckerLinear, CPLinear, TRLinear, LowRankLinear, TTEmbedding):
        assert "reference_forward" in cls.__doc__, cls.__name__
        methods = list(vars(cls))
        assert methods.index("reference_forward") < methods.index("from_dense"), cls.__name__
        assert len(inspect.getsource(cls.reference_forward).splitlines()) < 25, cls.__name__
    source = inspect.getsource(tt_linear)
    assert "reference_forward" in tt_linear.__doc__
    assert source.index("def reference_forward") < source.index("def candidates") < source.index("def contract_chunk")


@pytest.mark.parametrize("name,strategy", CASES)
def test_gradcheck(name, strategy):
    layer = small_layers()[name]
    layer.strategy = strategy
    names = [n for n, _ in layer.named_parameters()]
    params = [p.detach().clone().requires_grad_() for _, p in layer.named_parameters()]
    x = torch.randn(3, layer.in_features, dtype=torch.float64, requires_grad=True)

    def f(x, *values):
        return functional_call(layer, dict(zip(names, values)), (x,))

    assert torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-7)


def test_tt_every_grouping_is_a_strategy():
    layer = TTLinear(16, 16, 3, in_modes=(2, 2, 2, 2), out_modes=(2, 2, 2, 2))
    assert len(layer.strategies) == 2 ** 3
    assert {"dense", "sequential", "merge(2+2)", "merge(1+2+1)"} <= set(layer.strategies)
    layer.strategy = (2, 2)
    assert layer.strategy == "merge(2+2)"
    layer.strategy = "1+3"
    assert layer.strategy == "merge(1+3)"
    with pytest.raises(ValueError, match="add up"):
        layer.strategy = (2, 1)
    with pytest.raises(ValueError, match="unknown strategy"):
        layer.strategy = "fastest"
    with pytest.raises(ValueError, match="strategies"):
        LowRankLinear(4, 4, 2).strategy = "sequential"


def test_tt_layout_matches_ttmatrix():
    """The layer's weight is the TT-matrix of its cores (tnnlib.ttm convention)."""
    layer = small_layers()["tt"]
    ttm = TTMatrix([c.detach() for c in layer.cores])
    torch.testing.assert_close(layer.dense_weight().detach(), ttm.to_dense())
    assert ttm.rank == layer.rank
    x = torch.randn(4, 12, dtype=torch.float64)
    torch.testing.assert_close(layer(x) - layer.bias, ttm.matvec(x))


def test_repr_and_counts():
    layer = TTLinear(1024, 1024, 8, in_modes=(4, 8, 8, 4), out_modes=(4, 8, 8, 4))   # Novikov et al.'s layer
    assert layer.weight_parameters() == 8448
    assert round(layer.compression, 1) == 124.1
    text = repr(layer)
    for piece in ("in_modes=(4, 8, 8, 4)", "rank=(1, 8, 8, 8, 1)", "params=8,448", "compression 124.1x"):
        assert piece in text
    assert not hasattr(layer, "ranks")


def test_state_dict_round_trip():
    for layer in small_layers().values():
        twin = _same_config(layer)
        twin.load_state_dict(layer.state_dict())
        x = torch.randn(3, layer.in_features, dtype=torch.float64)
        torch.testing.assert_close(twin(x), layer(x))


def _same_config(layer):
    if isinstance(layer, LowRankLinear):
        return LowRankLinear(layer.in_features, layer.out_features, layer.rank).double()
    return type(layer)(layer.in_features, layer.out_features, layer.rank, in_modes=layer.in_modes,
                       out_modes=layer.out_modes).double()


def test_to_dtype_and_plan_cache():
    layer = TTLinear(12, 12, 2, in_modes=(2, 2, 3), out_modes=(2, 3, 2))
    x = torch.randn(5, 12)
    assert layer(x).dtype == torch.float32
    layer.to(torch.float64)
    y = layer(x.double())
    assert y.dtype == torch.float64
    keys = set(layer._plans)
    assert {(8, "cpu", torch.float32), (8, "cpu", torch.float64)} <= keys
    layer.plan(6)
    assert set(layer._plans) == keys                             # 6 and 5 share the bucket 8


@pytest.mark.parametrize("name", ["tt", "tucker", "cp", "tr", "lowrank"])
def test_autocast_bfloat16_on_cpu(name):
    layer = small_layers()[name].float()
    x = torch.randn(4, layer.in_features)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), layer(x), rtol=0.05, atol=0.05)
    y.float().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in layer.parameters())


def test_no_bias():
    layer = TTLinear(6, 6, 2, in_modes=(2, 3), out_modes=(3, 2), bias=False).double()
    assert layer.bias is None and layer.to_dense().bias is None
    x = torch.randn(2, 6, dtype=torch.float64)
    torch.testing.assert_close(layer(x), x @ layer.dense_weight().t())
    torch.testing.assert_close(layer.reference_forward(x), layer(x))


def test_wrong_input_size():
    with pytest.raises(ValueError, match="last dimension 12"):
        small_layers()["tt"](torch.randn(2, 13, dtype=torch.float64))


def test_factors_are_plain_parameters():
    layer = TTLinear(16, 16, 3, in_modes=(4, 4), out_modes=(4, 4))
    assert all(isinstance(p, nn.Parameter) for p in layer.parameters())
    assert sorted(layer.state_dict()) == ["bias", "cores.0", "cores.1"]
    assert math.isclose(layer.compression, 256 / (48 + 48))


def test_dense_weight_is_differentiable():
    for layer in small_layers().values():
        layer.dense_weight().sum().backward()
        assert all(p.grad is not None for n, p in layer.named_parameters() if n != "bias")


def test_chunked_contraction_matches_and_has_gradients():
    layer = small_layers()["tt"]
    x = torch.randn(7, 12, dtype=torch.float64, requires_grad=True)
    for groups in [(1, 1, 1), (1, 2), (3,)]:
        merged = [m.detach().requires_grad_() for m in layer.merged_cores(groups)]
        whole = contract_groups(x, merged, layer.bias)
        torch.testing.assert_close(contract_groups(x, merged, layer.bias, chunk_rows=3), whole)
        assert torch.autograd.gradcheck(lambda x, *m: contract_groups(x, m, None, 2), (x, *merged))


def test_cpu_chunks_keep_intermediates_in_cache():
    layer = TTLinear(4096, 4096, 16, in_modes=(8, 8, 8, 8), out_modes=(8, 8, 8, 8))
    assert layer.chunk_rows((2, 2)) == 2 ** 19 // (64 * 16 * 64)       # 8 rows: 2 MB intermediates
    assert layer.chunk_rows((4,)) is None and layer.chunk_rows((2, 2), "cuda") is None


@pytest.mark.parametrize("P,Q", [(1, 5), (4, 1), (3, 20), (6, 3)])          # mm, mm, bmm, permute
def test_apply_to_middle_every_kind(P, Q):
    matrix = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    state = torch.randn(P, 5, Q, dtype=torch.float64, requires_grad=True)
    expected = torch.einsum("rk,pkq->prq", matrix, state)
    torch.testing.assert_close(apply_to_middle(matrix, state), expected)
    with torch.no_grad():
        torch.testing.assert_close(apply_to_middle(matrix, state), expected)
    assert torch.autograd.gradcheck(apply_to_middle, (matrix, state))
    assert torch.autograd.gradcheck(lambda s: apply_to_middle(matrix.detach(), s), (state,))


def test_empty_batch():
    for layer in small_layers().values():
        assert layer(torch.randn(0, layer.in_features, dtype=torch.float64)).shape == (0, layer.out_features)
