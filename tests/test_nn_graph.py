"""Recorded graphs: torch.compile and torch.jit.trace treat tensorized layers like nn.Linear.

A planned layer picks its contraction from the batch size; recorded naively,
every new batch size would be a new graph (Dynamo recompiled TTLinear for each
of 8 sizes, then fell back to eager), and a trace would bake in one size's
Python decisions. While a graph is recorded the layers run one plan for every
batch size (``TensorizedLinear.graph_strategy``).
"""
import warnings

import pytest
import torch
from torch import nn

from tnnlib.nn import CPLinear, LowRankLinear, TRLinear, TTLinear, TuckerLinear

BATCHES = (3, 5, 7, 9, 17, 33, 100, 300, 513)            # 9 sizes; the plans differ across them


def layers():
    torch.manual_seed(0)
    return {
        "tt": TTLinear(64, 64, 4, in_modes=(4, 4, 4), out_modes=(4, 4, 4)),
        "tucker": TuckerLinear(64, 64, 4, in_modes=(8, 8), out_modes=(8, 8)),
        "cp": CPLinear(64, 64, 4),
        "tr": TRLinear(64, 64, 2),
        "lowrank": LowRankLinear(64, 64, 4),
    }


def graphs_compiled(module, batches, grad: bool) -> int:
    """How many graphs Dynamo hands to the backend while ``module`` runs the batches.

    The backend just counts and runs the graph as recorded (inductor would take
    ~10 s per graph on a CPU to generate C++; how often Dynamo recompiles is
    decided before any backend is called, so the count is the same).
    """
    torch._dynamo.reset()
    graphs = []

    def counting_backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    compiled = torch.compile(module, backend=counting_backend)
    for batch in batches:
        x = torch.randn(batch, 64)
        with torch.set_grad_enabled(grad):
            y = compiled(x)
            torch.testing.assert_close(y, module(x), rtol=1e-4, atol=1e-4)
        if grad:
            y.sum().backward()
    return len(graphs)


@pytest.mark.skipif(not hasattr(torch, "compile"), reason="no torch.compile")
def test_compiled_layers_recompile_like_nn_linear():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        linear = graphs_compiled(nn.Linear(64, 64), BATCHES, grad=False)
        assert linear <= 2                                  # one static graph, then one dynamic
        assert graphs_compiled(layers()["tt"], BATCHES, grad=True) == linear
        for name, layer in layers().items():
            assert graphs_compiled(layer, BATCHES, grad=False) == linear, name


TRACED = [(name, strategy) for name in layers() for strategy in ("auto", "forced")]


@pytest.mark.parametrize("name,strategy", TRACED)
def test_jit_trace_records_one_graph_for_every_batch_size(name, strategy):
    layer = layers()[name]
    if strategy == "forced":
        layer.strategy = layer.strategies[-1]             # e.g. TT "sequential": three groups, batch last
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                   # torch.jit.trace is deprecated in torch 2.13
        traced = torch.jit.trace(layer, torch.randn(8, 64))   # its check reruns it without grad: must agree
    for batch in (1, 3, 50, 700):
        x = torch.randn(batch, 64)
        torch.testing.assert_close(traced(x), layer.reference_forward(x), rtol=1e-4, atol=1e-4)
    x = torch.randn(5, 64, requires_grad=True)
    traced(x).sum().backward()
    assert x.grad is not None and all(p.grad is not None for p in layer.parameters())
