"""Tests of tnnlib.compress: rank choice, freezing, healing, the experiment helpers of lesson 07."""
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from tnnlib import compress as cx
from tnnlib.data import load_mnist
from tnnlib.models import ReferenceCNN, accuracy, load_reference_cnn
from tnnlib.nn import CPConv2d, LowRankLinear, TTLinear, TuckerConv2d


def _data(n=400, features=16, classes=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(classes, features, generator=gen)
    x = torch.randn(n, features, generator=gen)
    return x, (x @ w.T).argmax(1)


def _mixed_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 16), nn.ReLU(), TTLinear(16, 4, 2, in_modes=(4, 4), out_modes=(2, 2)),
                         nn.ReLU(), LowRankLinear(4, 4, 2))


# --------------------------------------------------------------------------
# Ranks
# --------------------------------------------------------------------------

def test_energy_rank_matches_the_cumulative_energy():
    gen = torch.Generator().manual_seed(0)
    u, _ = torch.linalg.qr(torch.randn(6, 4, generator=gen, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(5, 4, generator=gen, dtype=torch.float64))
    s = torch.tensor([4.0, 2.0, 1.0, 0.5], dtype=torch.float64)
    w = (u * s) @ v.T                                    # energies 16, 4, 1, 0.25 of 21.25
    assert [cx.energy_rank(w, e) for e in (0.5, 0.8, 0.95, 0.99)] == [1, 2, 3, 4]
    assert cx.energy_rank(w.numpy(), 0.8) == 2          # NumPy input too


def test_energy_rank_reads_a_kernel_as_a_matrix_and_weight_matrix():
    conv = nn.Conv2d(3, 8, 3)
    assert cx.weight_matrix(conv).shape == (8, 27)
    assert cx.energy_rank(conv.weight, 1.0 - 1e-12) == min(8, 27)
    with pytest.raises(TypeError):
        cx.weight_matrix(nn.ReLU())


def test_truncate_layer_is_the_truncated_svd():
    torch.manual_seed(0)
    lin, conv = nn.Linear(12, 9), nn.Conv2d(3, 8, 3)
    low = cx.truncate_layer(lin, 3)
    u, s, vh = torch.linalg.svd(lin.weight.detach().double())
    best = (u[:, :3] * s[:3]) @ vh[:3]
    assert torch.allclose(low.dense_weight().double(), best, atol=1e-5)
    tk = cx.truncate_layer(conv, 4)
    assert isinstance(tk, TuckerConv2d) and tk.rank == (4, 3)
    w = conv.weight.detach().double().reshape(8, -1)
    u, s, vh = torch.linalg.svd(w)
    err = (tk.dense_weight().detach().double().reshape(8, -1) - w).norm()
    assert err == pytest.approx(s[4:].norm().item(), rel=1e-4)     # Eckart-Young: exactly the tail
    assert cx.truncate_layer(lin, 100).rank == 9                   # capped at min(12, 9)
    one_by_one = nn.Conv2d(16, 4, 1)                              # r_in capped at C_out k_h k_w = 4
    assert cx.truncate_layer(one_by_one, 2).rank == (2, 4)
    with pytest.raises(TypeError):
        cx.truncate_layer(nn.ReLU(), 2)


# --------------------------------------------------------------------------
# Freezing and healing
# --------------------------------------------------------------------------

def test_factor_parameters_and_freezing():
    model = _mixed_model()
    names = cx.freeze_all_but_factors(model)
    assert names == ["2.cores.0", "2.cores.1", "4.u", "4.v"]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == set(names)
    assert cx.count_parameters(model, trainable_only=True) == sum(
        p.numel() for n, p in model.named_parameters() if n in names)
    assert cx.count_parameters(model) == sum(p.numel() for p in model.parameters())
    conv_model = nn.Sequential(CPConv2d(2, 3, 3, 2), nn.Conv2d(3, 3, 1))
    assert cx.freeze_all_but_factors(conv_model) == ["0.first", "0.horizontal", "0.last", "0.vertical"]


def test_heal_trains_only_the_factors_and_lowers_the_loss():
    x, y = _data()
    model = _mixed_model()
    cx.freeze_all_but_factors(model)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    with torch.no_grad():
        before = F.cross_entropy(model(x), y).item()
    model.eval()
    losses = cx.heal(model, x, y, steps=100, batch_size=32, lr=3e-2, seed=0)
    assert len(losses) == 100 and all(isinstance(v, float) for v in losses)
    assert not model.training                              # back to the mode it was in
    for n, p in model.named_parameters():
        if n in frozen:
            assert torch.equal(p.detach(), frozen[n])
    with torch.no_grad():
        assert F.cross_entropy(model(x), y).item() < before - 0.15


def test_heal_is_deterministic_and_checks_its_input():
    x, y = _data()
    runs = []
    for _ in range(2):
        model = _mixed_model()
        cx.freeze_all_but_factors(model)
        runs.append(cx.heal(model, x, y, steps=20, batch_size=16, lr=1e-2, seed=3))
    assert runs[0] == runs[1]
    model = _mixed_model()
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameter"):
        cx.heal(model, x, y, steps=1)
    cx.freeze_all_but_factors(model)
    with pytest.raises(ValueError, match="schedule"):
        cx.heal(model, x, y, steps=1, schedule="linear")
    with pytest.raises(ValueError, match="teacher_logits"):
        cx.heal(model, x, y, steps=1, teacher_logits=torch.zeros(3, 4))


def test_heal_with_a_teacher_uses_the_distillation_loss():
    x, y = _data()
    teacher = _mixed_model()
    student = _mixed_model()
    cx.freeze_all_but_factors(student)
    with torch.no_grad():
        t_logits = teacher(x) * 3
    losses = cx.heal(student, x, y, steps=5, batch_size=400, lr=0.0, seed=0, teacher_logits=t_logits,
                     alpha=0.5, temperature=3.0)
    with torch.no_grad():
        expected = cx.distillation_loss(student(x), t_logits, y, alpha=0.5, temperature=3.0).item()
    assert losses[0] == pytest.approx(expected, rel=1e-5)


def test_distillation_loss_limits():
    gen = torch.Generator().manual_seed(0)
    s, t = torch.randn(8, 5, generator=gen), torch.randn(8, 5, generator=gen)
    y = torch.randint(0, 5, (8,), generator=gen)
    assert cx.distillation_loss(s, t, y, alpha=0.0).item() == pytest.approx(F.cross_entropy(s, y).item())
    assert cx.distillation_loss(s, s, y, alpha=1.0).item() == pytest.approx(0.0, abs=1e-6)
    # alpha = 1, T = 1: the KL divergence itself
    p, log_q = F.softmax(t, 1), F.log_softmax(s, 1)
    kl = (p * (p.log() - log_q)).sum(1).mean()
    assert cx.distillation_loss(s, t, y, alpha=1.0, temperature=1.0).item() == pytest.approx(kl.item(), rel=1e-5)


# --------------------------------------------------------------------------
# The reference CNN's head, and the experiments
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cnn_setup():
    model = load_reference_cnn()
    (x_tr, y_tr), (x_te, y_te) = load_mnist("train", n=600), load_mnist("test", n=500)
    return model, (x_tr, torch.from_numpy(y_tr)), (x_te, torch.from_numpy(y_te))


def test_head_on_cached_features_agrees_with_the_model(cnn_setup):
    model, _, (x, y) = cnn_setup
    head = cx.ClassifierHead(model)
    assert head.fc1 is model.fc1 and head.fc2 is model.fc2
    feats = cx.cached_features(model, x, batch_size=128)
    assert feats.shape == (len(x), 800)
    with torch.no_grad():
        assert torch.allclose(head(feats), model(torch.as_tensor(x)), atol=1e-5)
    assert accuracy(head, feats, y) == accuracy(model, x, y)
    assert torch.allclose(cx.logits_of(head, feats, batch_size=77), head(feats).detach(), atol=1e-6)
    other = ReferenceCNN()
    assert head.attach(other).fc1 is model.fc1


def test_compress_and_heal_reports_and_leaves_the_model_alone(cnn_setup):
    model, train, test = cnn_setup
    head = cx.ClassifierHead(model)
    train_f = (cx.cached_features(model, train[0]), train[1])
    test_f = (cx.cached_features(model, test[0]), test[1])
    before = model.fc1.weight.detach().clone()
    new, row = cx.compress_and_heal(head, "fc1", "tt", train_f, test_f, max_rank=4,
                                    in_modes=(5, 10, 4, 4), out_modes=(5, 5, 4, 5), steps=30)
    assert isinstance(new.fc1, TTLinear) and isinstance(head.fc1, nn.Linear)
    assert torch.equal(model.fc1.weight, before)
    assert row["params_before"] == 400_000 and row["params_after"] == new.fc1.weight_parameters()
    assert row["compression"] == pytest.approx(400_000 / row["params_after"])
    assert 0 < row["rel_error"] < 1.5 and row["seconds"] > 0 and row["rank"] == str(new.fc1.rank)
    assert row["acc_healed"] > row["acc_truncated"]            # 30 steps already help a lot at rank 4
    _, same = cx.compress_and_heal(head, "fc1", "tt", train_f, test_f, max_rank=4,
                                   in_modes=(5, 10, 4, 4), out_modes=(5, 5, 4, 5), steps=0)
    assert same["acc_healed"] == same["acc_truncated"] == row["acc_truncated"] and same["seconds"] == 0
    rows = cx.compression_sweep(head, "fc1", [dict(method="tucker", max_rank=2), dict(method="lowrank", max_rank=2),
                                              dict(method="cp", rank=3)],
                                train_f, test_f, steps=5, log=lambda line: None)
    assert [r["method"] for r in rows] == ["tucker", "lowrank", "cp"] and rows[2]["cp_rank"] == 3


def test_layer_sensitivity_table(cnn_setup):
    model, _, test = cnn_setup
    table, rows = cx.layer_sensitivity(model, ["conv1", "fc2"], [0.9, 0.3], test)
    assert set(table) == {"conv1", "fc2"} and set(table["fc2"]) == {0.9, 0.3}
    assert len(rows) == 4 and rows[0]["layer"] == "conv1" and rows[0]["energy"] == 0.9
    base = accuracy(model, *test)
    for r in rows:
        assert table[r["layer"]][r["energy"]] == pytest.approx(100 * (base - r["accuracy"]))
        assert r["rank"] == cx.energy_rank(model.get_submodule(r["layer"]).weight, r["energy"])
    assert table["fc2"][0.3] > table["fc2"][0.9]              # less energy, more damage
    assert isinstance(model.conv1, nn.Conv2d) and isinstance(model.fc2, nn.Linear)   # untouched
    assert math.isfinite(np.sum([r["compression"] for r in rows]))
