"""from_dense (exact at full rank, truncation, dtypes) and tensorize (report, copies, errors)."""
import pytest
import torch
from torch import nn

from tnnlib.nn import (
    CPConv2d,
    CPLinear,
    LowRankLinear,
    TRLinear,
    TTEmbedding,
    TTLinear,
    TuckerConv2d,
    TuckerLinear,
    tensorize,
)


def dense(in_features=24, out_features=18, dtype=torch.float64):
    torch.manual_seed(0)
    return nn.Linear(in_features, out_features).to(dtype)


FULL_RANK = {
    "tt": lambda layer: TTLinear.from_dense(layer, in_modes=(2, 3, 4), out_modes=(3, 2, 3)),
    "tt-auto-modes": lambda layer: TTLinear.from_dense(layer),
    "tt-in-modes-only": lambda layer: TTLinear.from_dense(layer, in_modes=(2, 3, 4)),
    "tucker2": lambda layer: TuckerLinear.from_dense(layer),
    "tucker": lambda layer: TuckerLinear.from_dense(layer, in_modes=(4, 6), out_modes=(3, 6)),
    "tr": lambda layer: TRLinear.from_dense(layer, in_modes=(4, 6), out_modes=(6, 3)),
    "lowrank": lambda layer: LowRankLinear.from_dense(layer),
    "cp": lambda layer: CPLinear.from_dense(layer, in_modes=(4, 6), out_modes=(3, 6), rank=108, n_sweeps=300),
}


@pytest.mark.parametrize("name", FULL_RANK)
def test_full_rank_reproduces_the_layer(name):
    layer = dense()
    new = FULL_RANK[name](layer)
    x = torch.randn(5, 24, dtype=torch.float64)
    tol = 1e-6 if name == "cp" else 1e-10
    torch.testing.assert_close(new(x), layer(x), rtol=tol, atol=tol)
    torch.testing.assert_close(new.to_dense().weight, layer.weight, rtol=tol, atol=tol)
    torch.testing.assert_close(new.reference_forward(x), new(x))
    assert new.dense_weight().dtype == torch.float64


def test_truncation_and_eps():
    layer = dense(64, 64)
    W = layer.weight.detach()
    small = TTLinear.from_dense(layer, in_modes=(4, 4, 4), out_modes=(4, 4, 4), max_rank=3)
    assert max(small.rank) <= 3
    loose = TTLinear.from_dense(layer, in_modes=(4, 4, 4), out_modes=(4, 4, 4), eps=0.5)
    err = (loose.dense_weight() - W).norm() / W.norm()
    assert err <= 0.5 + 1e-9 and loose.weight_parameters() < 64 * 64
    lowrank = LowRankLinear.from_dense(layer, max_rank=10)
    s = torch.linalg.svdvals(W)
    assert (lowrank.dense_weight() - W).norm().item() == pytest.approx(s[10:].norm().item(), rel=1e-8)


def test_half_precision_layer_decomposed_in_float():
    layer = dense(dtype=torch.bfloat16)
    new = TTLinear.from_dense(layer, in_modes=(2, 3, 4), out_modes=(3, 2, 3))
    assert all(p.dtype == torch.bfloat16 for p in new.parameters())
    err = (new.dense_weight().float() - layer.weight.float()).norm() / layer.weight.float().norm()
    assert err < 2e-2                                                # bf16 rounding of the cores only


def test_no_bias_layer():
    layer = nn.Linear(12, 6, bias=False).double()
    new = TTLinear.from_dense(layer, in_modes=(3, 4), out_modes=(2, 3))
    assert new.bias is None
    torch.testing.assert_close(new.dense_weight(), layer.weight)


def test_embedding_lookup_equals_table_rows():
    torch.manual_seed(0)
    table = nn.Embedding(1000, 24).double()
    tt = TTEmbedding.from_dense(table, in_modes=(10, 10, 10), out_modes=(2, 3, 4))   # voc, emb modes
    assert tt.voc_modes == (10, 10, 10) and tt.emb_modes == (2, 3, 4)
    idx = torch.tensor([[0, 1, 999], [512, 37, 37]])
    torch.testing.assert_close(tt(idx), table(idx))
    torch.testing.assert_close(tt.reference_forward(idx), table(idx))
    padded = TTEmbedding.from_dense(nn.Embedding(997, 24).double())  # prime vocabulary: padded rows
    assert padded.num_embeddings == 997 and padded.dense_weight().shape == (997, 24)
    small = TTEmbedding(997, 24, 4, voc_modes=(10, 10, 10), emb_modes=(2, 3, 4)).double()
    with pytest.raises(IndexError, match="997"):
        small(idx)
    idx = idx % 997
    torch.testing.assert_close(small(idx), small.dense_weight()[idx])
    torch.testing.assert_close(small.to_dense()(idx), small(idx))


def test_embedding_gradcheck():
    tt = TTEmbedding(30, 6, 3, voc_modes=(5, 6), emb_modes=(2, 3)).double()
    idx = torch.tensor([3, 29, 3, 0])
    cores = [c.detach().clone().requires_grad_() for c in tt.cores]

    def f(*values):
        return torch.func.functional_call(tt, {f"cores.{k}": v for k, v in enumerate(values)}, (idx,))

    assert torch.autograd.gradcheck(f, tuple(cores))
    with pytest.raises(TypeError, match="integer"):
        tt(torch.zeros(2))


GEOMETRIES = [dict(), dict(stride=2, padding=1), dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2))]


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_conv_full_rank_and_gradcheck(geometry):
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, (3, 2), **geometry).double()
    x = torch.randn(2, 3, 9, 8, dtype=torch.float64)
    tucker = TuckerConv2d.from_dense(conv)
    torch.testing.assert_close(tucker(x), conv(x))
    cp = CPConv2d.from_dense(conv, rank=24, n_sweeps=400)
    torch.testing.assert_close(cp(x), conv(x), rtol=1e-5, atol=1e-5)
    for layer in (tucker, cp):
        torch.testing.assert_close(layer.to_dense()(x), layer(x))
        torch.testing.assert_close(layer.reference_forward(x), layer(x))
        names = [n for n, _ in layer.named_parameters()]
        values = [p.detach().clone().requires_grad_() for p in layer.parameters()]
        xs = x[:1, :, :6, :5].clone().requires_grad_()
        def f(xs, *v, layer=layer, names=names):
            return torch.func.functional_call(layer, dict(zip(names, v)), (xs,))

        assert torch.autograd.gradcheck(f, (xs, *values))


def test_conv_cost_and_errors():
    layer = TuckerConv2d(64, 128, 3, (32, 16), padding=1)
    cost = layer.cost(8, (32, 32))
    assert cost.dense_flops == 2 * 8 * 128 * 32 * 32 * 64 * 9 and cost.flops < cost.dense_flops / 4
    with pytest.raises(ValueError, match="groups=1"):
        TuckerConv2d.from_dense(nn.Conv2d(4, 4, 3, groups=2))
    with pytest.raises(TypeError, match="rank= is required"):
        CPConv2d.from_dense(nn.Conv2d(4, 4, 3))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.body = nn.Sequential(nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 10))
        self.embed = nn.Embedding(100, 16)


def test_tensorize_report_and_copy():
    torch.manual_seed(0)
    net = Net()
    new, report = tensorize(net, ["body.0"], method="tt", max_rank=4)
    assert isinstance(net.body[0], nn.Linear)                         # the original is untouched (default)
    assert isinstance(new.body[0], TTLinear) and new is not net
    (row,) = report
    assert row["layer"] == "body.0" and row["shape"] == "48x64"
    assert row["params_before"] == 64 * 48 and row["params_after"] == new.body[0].weight_parameters()
    assert 0 < row["rel_error"] < 1
    assert "| body.0 |" in str(report)


def test_tensorize_by_type_in_place_and_exact():
    torch.manual_seed(0)
    net = Net()
    x = torch.randn(3, 64)
    before = net.body(x)
    same, report = tensorize(net, nn.Linear, method="tucker", inplace=True)
    assert [r["layer"] for r in report] == ["body.0", "body.2"] and same is net
    assert isinstance(net.body[2], TuckerLinear)
    torch.testing.assert_close(net.body(x), before, rtol=1e-5, atol=1e-5)
    assert all(r["rel_error"] < 1e-6 for r in report)
    _, conv = tensorize(net, "conv", method="cp", rank=6, inplace=True)
    assert isinstance(net.conv, CPConv2d) and conv[0]["rank"] == "6"
    _, emb = tensorize(net, ["embed"], method="tt", in_modes=(10, 10), out_modes=(4, 4), max_rank=3, inplace=True)
    assert isinstance(net.embed, TTEmbedding) and emb[0]["modes"] == "(10, 10) x (4, 4)"


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(targets=["body.7"]), ValueError, "no layer named 'body.7'.*body.0"),
    (dict(targets=["body.1"]), TypeError, "layer 'body.1'.*ReLU cannot be tensorized"),
    (dict(targets=["body.0"], in_modes=(4, 4, 4), out_modes=(4, 4, 4)), ValueError, "layer 'body.0'.*out_modes.*48"),
    (dict(targets=["body.0"], max_rank=0), ValueError, "layer 'body.0'.*max_rank must be a positive integer"),
    (dict(targets=["body.0"], max_rank=2.5), TypeError, "layer 'body.0'.*max_rank must be a positive integer"),
    (dict(targets=["body.0"], eps=1.5), ValueError, "eps must be"),
    (dict(targets=["body.0"], method="cp"), TypeError, "rank= is required"),
    (dict(targets=["body.0"], method="cp", max_rank=3), ValueError, "CP takes rank="),
    (dict(targets=["body.0"], method="tt", rank=3), ValueError, "takes max_rank/eps, not rank"),
    (dict(targets=["body.0"], method="svd"), ValueError, "unknown method"),
    (dict(targets=["body.0"], method="lowrank", in_modes=(8, 8)), ValueError, "no modes"),
    (dict(targets=["conv"], method="tt"), ValueError, "layer 'conv'.*Conv2d cannot be tensorized with method 'tt'"),
    (dict(targets=["conv"], method="tucker", in_modes=(1,)), ValueError, "layer 'conv'.*does not take in_modes"),
    (dict(targets=["embed"], method="cp", rank=2), ValueError,
     "layer 'embed'.*Embedding cannot be tensorized with method 'cp'"),
    (dict(targets=["body.0", "body.2"], in_modes={"body.2": (8, 8)}, out_modes={"body.2": (2, 5)}), ValueError,
     "layer 'body.2'.*in_modes"),
    (dict(targets=[nn.LSTM]), ValueError, "no layer of type LSTM"),
])
def test_tensorize_errors(kwargs, error, match):
    net = Net()
    with pytest.raises(error, match=match):
        tensorize(net, **kwargs, inplace=True)
    assert isinstance(net.body[0], nn.Linear)                         # nothing replaced


def test_conv_and_embedding_state_dict_autocast_and_dtype():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 10, 10)
    for make in (lambda: CPConv2d(3, 5, 3, 4, padding=1), lambda: TuckerConv2d(3, 5, 3, (4, 2), stride=2)):
        layer, twin = make(), make()
        twin.load_state_dict(layer.state_dict())
        torch.testing.assert_close(twin(x), layer(x))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert layer(x).dtype == torch.bfloat16
        assert layer.double()(x.double()).dtype == torch.float64
    emb, twin = (TTEmbedding(60, 8, 3, voc_modes=(6, 10), emb_modes=(2, 4)) for _ in range(2))
    twin.load_state_dict(emb.state_dict())
    idx = torch.tensor([[1, 59], [7, 7]])
    torch.testing.assert_close(twin(idx), emb(idx))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert emb(idx).dtype == torch.bfloat16
