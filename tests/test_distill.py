"""tnnlib.distill: cosine evaluation, neighbour agreement, recording inputs, layer-wise distillation."""
import pytest
import torch
from torch import nn

from tnnlib.distill import (
    cosine_distance,
    cosine_similarities,
    distill_layer,
    neighbour_agreement,
    record_inputs,
    top_k_neighbours,
    trainable_only,
)
from tnnlib.nn import TTLinear


def test_cosines_ignore_lengths_and_match_torch():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(9, 5, generator=gen, dtype=torch.float64), torch.randn(9, 5, generator=gen, dtype=torch.float64)
    assert torch.allclose(cosine_similarities(a, b), torch.nn.functional.cosine_similarity(a, b, dim=1))
    assert torch.allclose(cosine_similarities(a, 4 * a), torch.ones(9, dtype=torch.float64))
    assert abs(cosine_distance(a, a).item()) < 1e-12
    with pytest.raises(ValueError, match="same shape"):
        cosine_similarities(a, b[:3])
    with pytest.raises(ValueError, match="2-D"):
        cosine_similarities(a[0], b[0])


def test_neighbours_exclude_self_and_agreement_ignores_order():
    gen = torch.Generator().manual_seed(1)
    e = torch.randn(20, 4, generator=gen, dtype=torch.float64)
    top = top_k_neighbours(e, 3)
    assert top.shape == (20, 3) and not (top == torch.arange(20)[:, None]).any()
    assert neighbour_agreement(e, 2 * e, 3) == 1.0
    assert 0.0 <= neighbour_agreement(e, torch.randn(20, 4, generator=gen, dtype=torch.float64), 3) < 0.6
    with pytest.raises(ValueError, match="smaller than the number of rows"):
        top_k_neighbours(e, 20)


def test_record_inputs_sees_every_call():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.randn(5, 6, 3)
    seen = record_inputs(model, ["0", "2"], lambda m: m(x))
    assert seen["0"].shape == (30, 3) and torch.equal(seen["0"], x.reshape(-1, 3))
    assert seen["2"].shape == (30, 4)
    half = record_inputs(model, ["0"], lambda m: m(x), keep=lambda t: t.reshape(-1, 3)[::2])
    assert half["0"].shape == (15, 3)
    with pytest.raises(ValueError, match="no layer named"):
        record_inputs(model, ["5"], lambda m: m(x))
    with pytest.raises(ValueError, match="never called"):
        record_inputs(model, ["2"], lambda m: None)
    assert not model[0]._forward_hooks


def test_distill_layer_reduces_the_error_and_trainable_only_freezes():
    torch.manual_seed(0)
    teacher = nn.Linear(16, 16)
    student = TTLinear.from_dense(teacher, in_modes=(4, 4), out_modes=(4, 4), max_rank=2)
    x = torch.randn(512, 16) * torch.logspace(0, -2, 16)     # inputs far from isotropic: SVD is not optimal
    before = nn.functional.mse_loss(student(x), teacher(x)).item()
    history = distill_layer(student, teacher, x, steps=60, batch_size=128, lr=1e-2)
    assert len(history.step_loss) == 60
    assert nn.functional.mse_loss(student(x), teacher(x)).item() < 0.9 * before
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    assert trainable_only(model, ["1"]) == 12
    assert not model[0].weight.requires_grad and model[1].bias.requires_grad
