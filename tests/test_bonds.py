"""tnnlib.bonds: spectra, entropies, gauge, canonical cores, truncation, bond states, probes, tracker."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from tnnlib import bonds
from tnnlib.nn import TTLinear
from tnnlib.nn.tt_linear import merge_cores
from tnnlib.train import fit
from tnnlib.tt import TTTensor, is_left_orthogonal, random_tt, tt_round
from tnnlib.ttm import random_ttm

from arrays import tt_loop_states


def layer64(rank=(5, 7, 4), seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    return TTLinear(120, 60, rank, in_modes=(2, 3, 4, 5), out_modes=(5, 2, 3, 2), dtype=dtype)


def dense_unfolding_spectrum(layer, k):
    """Singular values of W with rows (i_1 j_1 .. i_k j_k), from the dense weight."""
    W = layer.dense_weight().detach().double().numpy()
    d = len(layer.in_modes)
    t = W.reshape(*layer.out_modes, *layer.in_modes)
    t = t.transpose([a for m in range(d) for a in (m, d + m)])
    rows = math.prod(i * j for i, j in zip(layer.out_modes[:k], layer.in_modes[:k]))
    return np.linalg.svd(t.reshape(rows, -1), compute_uv=False)


# --------------------------------------------------------------------------
# Spectra and entropies
# --------------------------------------------------------------------------

def test_profile_of_a_layer_is_the_svd_of_its_unfoldings():
    layer = layer64()
    profile = bonds.bond_profile(layer)
    assert profile.rank == layer.rank and profile.n_bonds == 3
    assert profile.max_rank == (1, 10, 60, 10, 1)
    for k, s in enumerate(profile.spectra, start=1):
        assert s.dtype == np.float64
        expected = dense_unfolding_spectrum(layer, k)[:len(s)]
        assert np.allclose(s, expected, rtol=1e-10, atol=1e-12)
    assert math.isclose(profile.norm, layer.dense_weight().norm().item(), rel_tol=1e-10)
    assert all(p.grad is None for p in layer.parameters())


def test_profile_accepts_every_kind_of_train():
    tt = random_tt((3, 4, 5), 3, seed=0)
    ttm = random_ttm(out_modes=(2, 3), in_modes=(4, 2), rank=3, seed=1)
    for obj in (tt, ttm, list(tt.cores), [torch.as_tensor(c, dtype=torch.float32) for c in ttm.cores]):
        profile = bonds.bond_profile(obj)
        assert all(s.dtype == np.float64 for s in profile.spectra)
    assert bonds.as_tt(ttm).shape == (8, 6)

    class MPSLike(nn.Module):                                  # the protocol of lesson 10's classifier
        def __init__(self):
            super().__init__()
            self.inner = nn.ParameterList(nn.Parameter(torch.as_tensor(c)) for c in tt.cores)

        def bond_cores(self):
            return list(self.inner)

    mps = MPSLike()
    assert all(np.allclose(a, b) for a, b in zip(bonds.bond_profile(mps).spectra, bonds.bond_profile(tt).spectra))
    assert list(bonds.tt_layers(nn.Sequential(mps))) == ["0"]


@pytest.mark.parametrize("bad, error", [(3.0, TypeError), ([np.zeros((2, 2))], ValueError),
                                        ([np.zeros((1, 2, 2, 1)), np.zeros((1, 2, 1))], ValueError),
                                        (nn.Linear(3, 2), TypeError)])
def test_profile_rejects_what_is_not_a_train(bad, error):
    with pytest.raises(error):
        bonds.bond_profile(bad)


def test_renyi_entropy_values():
    assert math.isclose(bonds.renyi_entropy(np.ones(5)), math.log(5))
    for alpha in (0, 0.5, 1, 2, math.inf):
        assert math.isclose(bonds.renyi_entropy(np.ones(5), alpha), math.log(5))
        assert bonds.renyi_entropy([2.0, 0.0, 0.0], alpha) == 0.0
    s = np.array([3.0, 2.0, 1.0, 0.0])
    p = s[:3] ** 2 / 14
    assert math.isclose(bonds.renyi_entropy(s), -np.sum(p * np.log(p)))
    assert math.isclose(bonds.renyi_entropy(s, 2), -math.log(np.sum(p**2)))
    assert math.isclose(bonds.renyi_entropy(s, 0), math.log(3))
    assert math.isclose(bonds.renyi_entropy(s, math.inf), -math.log(p[0]))
    values = [bonds.renyi_entropy(s, a) for a in (0, 0.5, 1, 2, 5, math.inf)]
    assert all(a >= b for a, b in zip(values, values[1:]))              # decreasing in alpha
    assert math.isclose(bonds.renyi_entropy(s, 1 + 1e-7), bonds.renyi_entropy(s), rel_tol=1e-5)  # continuity
    assert bonds.renyi_entropy(torch.tensor([1.0, 1.0])) == pytest.approx(math.log(2))


@pytest.mark.parametrize("spectrum, alpha", [([1.0, -1.0], 1), ([0.0, 0.0], 1), ([], 1), ([[1.0]], 1),
                                             ([1.0], -1), ([1.0], True), ([1.0], "2"), ([np.nan], 1)])
def test_renyi_entropy_rejects(spectrum, alpha):
    with pytest.raises(ValueError):
        bonds.renyi_entropy(spectrum, alpha)


def test_truncation_error_is_exact_for_one_bond():
    tt = random_tt((4, 5, 6, 3), (4, 6, 3), seed=2)
    profile = bonds.bond_profile(tt)
    full = tt.to_dense()
    for k, r in ((1, 2), (2, 3), (3, 1)):
        ranks = list(tt.rank[1:-1])
        ranks[k - 1] = r
        cut = tt_round(tt, max_rank=ranks, method="svd")
        error = np.linalg.norm(cut.to_dense() - full) / np.linalg.norm(full)
        assert math.isclose(error, bonds.truncation_error(profile.spectra[k - 1], r), rel_tol=1e-8)
    assert bonds.truncation_error([3.0, 4.0], 0) == 1.0 and bonds.truncation_error([3.0, 4.0], 5) == 0.0
    assert np.allclose(profile.truncation_errors(1), [bonds.truncation_error(s, 1) for s in profile.spectra])
    with pytest.raises(ValueError):
        bonds.truncation_error([1.0], 1.5)


def test_ranks_for_error_keep_the_bound():
    layer = layer64(rank=(10, 40, 10))
    W = layer.dense_weight().detach()
    profile = bonds.bond_profile(layer)
    for eps in (0.05, 0.2, 0.5):
        ranks = profile.ranks_for_error(eps)
        assert ranks == bonds.ranks_for_error(profile.spectra, eps)
        delta = eps / math.sqrt(3)
        for s, r in zip(profile.spectra, ranks):
            assert bonds.truncation_error(s, r) <= delta + 1e-12
            assert r == 1 or bonds.truncation_error(s, r - 1) > delta     # the smallest such rank
        cut = bonds.truncate(layer, max_rank=ranks)
        assert cut.rank[1:-1] == ranks
        assert (cut.dense_weight().detach() - W).norm() <= eps * W.norm() * (1 + 1e-9)
    assert bonds.ranks_for_error([[1.0, 0.0]], 0.0) == (1,)
    with pytest.raises(TypeError):
        bonds.ranks_for_error(profile.spectra, None)
    with pytest.raises(ValueError):
        bonds.ranks_for_error([], 0.1)


def test_profile_table_and_repr():
    profile = bonds.bond_profile(layer64())
    lines = profile.table().splitlines()
    assert len(lines) == 4 and "S_1" in lines[0] and "S_2" in lines[0]
    assert "BondProfile(rank=(1, 5, 7, 4, 1)" in repr(profile)
    assert np.allclose(profile.effective_ranks(), np.exp(profile.entropies()))
    assert np.all(profile.entropies() <= np.log(profile.rank[1:-1]) + 1e-12)


# --------------------------------------------------------------------------
# Gauge
# --------------------------------------------------------------------------

def test_a_gauge_transformation_changes_the_cores_not_what_is_reported():
    layer = layer64()
    gauged = bonds.random_gauge(layer, seed=3)
    x = torch.randn(9, 120, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(layer(x), gauged(x), rtol=1e-10, atol=1e-12)       # the same layer
    for a, b in zip(layer.cores[:-1], gauged.cores[:-1]):                        # ... other cores
        raw_a = torch.linalg.svdvals(a.detach().reshape(-1, a.shape[-1]))
        raw_b = torch.linalg.svdvals(b.detach().reshape(-1, b.shape[-1]))
        assert not torch.allclose(raw_a, raw_b, rtol=1e-2)
    p, q = bonds.bond_profile(layer), bonds.bond_profile(gauged)
    for a, b in zip(p.spectra, q.spectra):
        assert np.allclose(a, b, rtol=1e-10, atol=1e-13)
    assert np.allclose(p.entropies(), q.entropies()) and np.allclose(p.entropies(2), q.entropies(2))
    assert np.allclose(p.truncation_errors(2), q.truncation_errors(2))
    for a, b in zip(bonds.canonical_cores(layer)[0], bonds.canonical_cores(gauged)[0]):
        assert np.allclose(a, b, atol=1e-10)
    canon = [bonds.layer_bond_states(m, x) for m in (layer, gauged)]
    raw = [bonds.layer_bond_states(m, x, gauge="raw") for m in (layer, gauged)]
    for k in range(3):
        assert torch.allclose(canon[0][k], canon[1][k], atol=1e-10)
        assert not torch.allclose(raw[0][k], raw[1][k], atol=1e-3)
    assert all(torch.equal(a, b) for a, b in zip(layer.cores, layer64().cores))   # the original is untouched


def test_gauge_transform_of_cores_and_trains():
    tt = random_tt((3, 4, 5), 3, seed=0)
    A = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 3.0]])
    cores = bonds.gauge_transform(tt.cores, 1, A)
    assert np.allclose(TTTensor(cores).to_dense(), tt.to_dense())
    assert not np.allclose(cores[0], tt.cores[0])
    assert isinstance(bonds.random_gauge(tt, seed=1), TTTensor)
    ttm = random_ttm(out_modes=(2, 3), in_modes=(2, 2), rank=2, seed=0)
    assert np.allclose(bonds.random_gauge(ttm, seed=1).to_dense(), ttm.to_dense())
    with pytest.raises(ValueError, match="bond must be"):
        bonds.gauge_transform(tt.cores, 3, A)
    with pytest.raises(ValueError, match=r"must be \(3, 3\)"):
        bonds.gauge_transform(tt.cores, 1, np.eye(2))


def test_left_canonicalize_keeps_the_weight():
    layer = layer64()
    cores = list(layer.cores)
    before = [c.detach().clone() for c in cores]
    left = bonds.left_canonicalize(cores)
    assert all(torch.equal(c, b) for c, b in zip(cores, before))
    assert all(not c.requires_grad for c in left)
    assert all(is_left_orthogonal(c.reshape(c.shape[0], -1, c.shape[-1]).numpy()) for c in left[:-1])
    assert torch.allclose(merge_cores(left), merge_cores(before), atol=1e-12)
    rng = np.random.default_rng(0)                              # r_1 = 5 > r_0 n_1 = 2: shrinks
    cores = [rng.standard_normal(shape) for shape in ((1, 2, 5), (5, 3, 2), (2, 2, 1))]
    left = bonds.left_canonicalize(cores)
    assert left[0].shape == (1, 2, 2) and np.allclose(TTTensor(left).to_dense(), TTTensor(cores).to_dense())


def test_canonical_cores_are_the_schmidt_gauge():
    layer = layer64()
    cores, spectra = bonds.canonical_cores(layer)
    tt = TTTensor([c.reshape(c.shape[0], -1, c.shape[-1]) for c in cores])
    assert all(is_left_orthogonal(c) for c in tt.cores[:-1])
    assert np.allclose(tt.to_dense(), bonds.as_tt(layer).to_dense(), atol=1e-12)
    for k, (core, s) in enumerate(zip(cores[:-1], spectra), start=1):
        assert np.allclose(s, dense_unfolding_spectrum(layer, k)[:len(s)])
        columns = core.reshape(-1, core.shape[-1])                              # the sign convention
        assert np.all(columns[np.argmax(np.abs(columns), axis=0), np.arange(columns.shape[1])] > 0)


# --------------------------------------------------------------------------
# Truncation
# --------------------------------------------------------------------------

def test_truncate_makes_a_smaller_layer_of_the_same_kind():
    layer = layer64(dtype=torch.float32)
    with torch.no_grad():
        layer.bias.normal_()
    full = bonds.truncate(layer)                                   # no truncation: the same layer
    x = torch.randn(4, 120)
    with torch.no_grad():
        assert torch.allclose(full(x), layer(x), atol=1e-5)
    cut = bonds.truncate(layer, max_rank=2)
    assert isinstance(cut, TTLinear) and cut.rank == (1, 2, 2, 2, 1) and cut.cores[0].dtype == torch.float32
    assert torch.equal(cut.bias, layer.bias) and cut.weight_parameters() < layer.weight_parameters()
    assert (cut.in_modes, cut.out_modes) == (layer.in_modes, layer.out_modes)
    with pytest.raises(TypeError, match="TTLinear"):
        bonds.truncate(nn.Linear(3, 3))
    with pytest.raises(ValueError):
        bonds.truncate(layer, max_rank=(2, 2))


def test_truncate_layers_cuts_every_named_layer_on_a_copy():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), TTLinear(64, 64, 6, in_modes=(4, 4, 4), out_modes=(4, 4, 4)), nn.ReLU(),
                          TTLinear(64, 64, 6, in_modes=(4, 4, 4), out_modes=(4, 4, 4)), nn.Linear(64, 3))
    x = torch.randn(5, 64)
    with torch.no_grad():
        before = model(x)
    same, report = bonds.truncate_layers(model)                               # no rank given: exact
    with torch.no_grad():
        assert torch.allclose(same(x), before, atol=1e-5)
    assert report == {"1": ((1, 6, 6, 1), (1, 6, 6, 1)), "3": ((1, 6, 6, 1), (1, 6, 6, 1))}
    cut, report = bonds.truncate_layers(model, max_rank=2)                    # one int for every TT layer
    assert [cut[i].rank for i in (1, 3)] == [(1, 2, 2, 1)] * 2 and model[1].rank == (1, 6, 6, 1)
    cut, report = bonds.truncate_layers(model, max_rank={"1": (1, 3, 2, 1), "3": (4, 1)})  # d+1 or d-1 ranks
    assert (cut[1].rank, cut[3].rank) == ((1, 3, 2, 1), (1, 4, 1, 1))
    assert report["1"] == ((1, 6, 6, 1), (1, 3, 2, 1))
    for i in (1, 3):                                       # each cut is truncate() of the layer
        expected = bonds.truncate(model[i], max_rank=cut[i].rank[1:-1])
        assert torch.allclose(cut[i].dense_weight(), expected.dense_weight())
        assert torch.equal(cut[i].bias, model[i].bias)
    assert torch.equal(cut[4].weight, model[4].weight) and cut[4] is not model[4]
    only, report = bonds.truncate_layers(model, max_rank={"3": 1})           # layers not named stay
    assert list(report) == ["3"] and only[1].rank == (1, 6, 6, 1) and only[3].rank == (1, 1, 1, 1)
    kept = model[3]
    out, _ = bonds.truncate_layers(model, eps=0.5, inplace=True)
    assert out is model and model[3] is not kept
    assert bonds.truncate_layers(kept, max_rank=1)[0].rank == (1, 1, 1, 1)   # a bare layer
    with pytest.raises(KeyError, match="no TTLinear"):
        bonds.truncate_layers(model, max_rank={"4": 2})
    with pytest.raises(ValueError, match="start and end with 1"):
        bonds.truncate_layers(model, max_rank={"1": (2, 3, 2, 1)})
    with pytest.raises(ValueError, match="no TTLinear"):
        bonds.truncate_layers(nn.Sequential(nn.Linear(2, 2)), max_rank=1)
    with pytest.raises(TypeError):
        bonds.truncate_layers("model", max_rank=1)


# --------------------------------------------------------------------------
# Bond states and features
# --------------------------------------------------------------------------



def test_bond_states_are_those_of_the_reference_forward():
    layer = layer64()
    x = torch.randn(6, 120, dtype=torch.float64)
    cores = [c.detach() for c in layer.cores]
    states = bonds.bond_states(x, cores)
    expected, output = tt_loop_states(x, cores)
    assert [tuple(z.shape) for z in states] == [(6, 5, 5, 60), (6, 7, 10, 20), (6, 4, 30, 5)]
    for z, e in zip(states, expected):
        assert torch.allclose(z, e, atol=1e-12)
    with torch.no_grad():
        assert torch.allclose(output + layer.bias, layer.reference_forward(x), atol=1e-12)
        # the rest of the layer makes the output of the last state
        last = states[-1]                                          # (B, r_3, i_1 i_2 i_3, j_4)
        y = torch.einsum("baij,aljz->bil", last, cores[-1]).reshape(6, -1)
        assert torch.allclose(y + layer.bias, layer(x), atol=1e-10)


def test_features_pool_the_open_indices():
    z = torch.arange(2 * 3 * 2 * 2, dtype=torch.float64).reshape(2, 3, 2, 2)
    rms, flat = bonds.bond_features([z]), bonds.bond_features([z], reduce="flatten")
    assert rms[0].shape == (2, 3) and flat[0].shape == (2, 12)
    assert torch.isclose(rms[0][1, 2], z[1, 2].pow(2).mean().sqrt())
    with pytest.raises(ValueError):
        bonds.bond_features([z], reduce="max")
    with pytest.raises(ValueError):
        bonds.layer_bond_states(layer64(), torch.randn(2, 120), gauge="mine")


def small_model():
    torch.manual_seed(0)
    return nn.Sequential(TTLinear(64, 32, 6, in_modes=(4, 4, 4), out_modes=(2, 4, 4)), nn.ReLU(),
                         nn.Sequential(TTLinear(32, 16, 4, in_modes=(2, 4, 4), out_modes=(2, 2, 4))), nn.ReLU(),
                         nn.Linear(16, 3))


def test_capture_records_without_changing_the_output_and_leaves_no_hook():
    model = small_model()
    x = torch.randn(10, 64)
    before = model(x)
    with bonds.capture_bonds(model) as recorder:
        during = model(x[:4])
        model(x[4:])
        assert all(len(m._forward_hooks) == 1 for m in recorder.layers.values())
    after = model(x)
    assert torch.equal(before, after) and torch.equal(during, model(x[:4]))      # bit for bit
    assert all(len(m._forward_hooks) == 0 for m in model.modules())
    assert recorder.names == ["0", "2.0"]
    features = recorder.features("2.0")
    assert [f.shape for f in features] == [(10, 4), (10, 4)] and features[0].dtype == np.float64
    direct = bonds.bond_features(bonds.layer_bond_states(model[2][0], torch.relu(model[0](x))))
    assert np.allclose(features[0], direct[0].detach().numpy())
    collected = bonds.collect_features(model, x, batch_size=3)
    assert np.allclose(collected["0"][1], recorder.features("0")[1])
    with pytest.raises(ValueError, match="name one of the layers"):
        recorder.features()
    with pytest.raises(ValueError, match="kept features"):
        recorder.states("0")


def test_capture_hooks_go_even_when_the_block_fails():
    model = small_model()
    with pytest.raises(ValueError, match="last dimension 64"):
        with bonds.capture_bonds(model, ["0"], keep="states"):
            model(torch.randn(2, 7))
    assert all(len(m._forward_hooks) == 0 for m in model.modules())


def test_capture_keeps_states_on_request_and_checks_its_arguments():
    model = small_model()
    with bonds.capture_bonds(model, ["0"], keep="states", gauge="raw") as recorder:
        model(torch.randn(5, 64))
    assert [s.shape for s in recorder.states()] == [(5, 6, 2, 16), (5, 6, 8, 4)]
    with pytest.raises(KeyError, match="no submodule"):
        bonds.capture_bonds(model, ["nope"])
    with pytest.raises(TypeError, match="not a TTLinear"):
        bonds.capture_bonds(model, ["4"])
    with pytest.raises(ValueError, match="no TT layer"):
        bonds.capture_bonds(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="gauge"):
        bonds.capture_bonds(model, gauge="left")
    assert list(bonds.tt_layers(model[0])) == ["layer"]


def test_collect_features_restores_the_mode():
    model = small_model().train()
    bonds.collect_features(model, np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32))
    assert model.training


# --------------------------------------------------------------------------
# Probes, components, class means
# --------------------------------------------------------------------------

def test_probe_on_separable_and_on_noise_features():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    f = np.eye(3)[y] * 4 + rng.standard_normal((600, 3))
    result = bonds.linear_probe(f[:300], y[:300], f[300:], y[300:])
    assert result.test_accuracy > 0.95 and result.weight.shape == (3, 3)
    assert bonds.probe_accuracy(f[:300], y[:300], f[300:], y[300:]) == result.test_accuracy   # deterministic
    noise = rng.standard_normal((600, 80))
    over = bonds.linear_probe(noise[:50], y[:50], noise[50:], y[50:])
    assert over.train_accuracy == 1.0 and over.test_accuracy < 0.45
    with pytest.raises(ValueError, match="columns"):
        bonds.linear_probe(f, y, noise, y)
    with pytest.raises(ValueError, match="class indices"):
        bonds.linear_probe(f, y - 1, f, y)


def test_principal_components_match_numpy():
    rng = np.random.default_rng(1)
    f = rng.standard_normal((200, 5)) @ np.diag([5.0, 3.0, 1.0, 0.5, 0.1])
    pca = bonds.principal_components(f, 2)
    centred = f - f.mean(0)
    _, s, vh = np.linalg.svd(centred, full_matrices=False)
    assert np.allclose(np.abs(pca.components), np.abs(vh[:2]))
    assert np.allclose(pca.explained_variance_ratio, s[:2] ** 2 / np.sum(s**2))
    assert np.allclose(pca.scores, centred @ pca.components.T)
    assert np.all(pca.components[np.arange(2), np.argmax(np.abs(pca.components), axis=1)] > 0)
    assert np.allclose(bonds.principal_components(torch.as_tensor(f), 2).scores, pca.scores)


def test_class_means_and_variance_ratio():
    f = np.array([[1.0, 5.0], [3.0, 5.0], [10.0, 1.0], [10.0, 9.0]])
    y = np.array([0, 0, 2, 2])
    means = bonds.class_means(f, y)
    assert np.allclose(means[0], [2, 5]) and np.isnan(means[1]).all() and np.allclose(means[2], [10, 5])
    ratio = bonds.class_variance_ratio(f, y)
    mu = f[:, 0].mean()
    assert math.isclose(ratio[0], 2 * ((2 - mu) ** 2 + (10 - mu) ** 2) / np.sum((f[:, 0] - mu) ** 2))
    assert ratio[1] == 0.0                                      # the same mean in both classes


# --------------------------------------------------------------------------
# The training callback
# --------------------------------------------------------------------------

def toy_data():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, 64, generator=gen)
    return x, x[:, :3].argmax(1)


def test_tracker_records_every_n_steps_and_leaves_training_unchanged():
    data = toy_data()
    plain = small_model()
    history = fit(plain, data, epochs=3, batch_size=64, progress=False)
    model = small_model()
    tracker = bonds.BondTracker(model, every_steps=5)
    tracked = fit(model, data, epochs=3, batch_size=64, progress=False, callbacks=[tracker])
    assert history.step_loss == tracked.step_loss                              # 12 steps, the same
    assert all(torch.equal(a, b) for a, b in zip(plain.parameters(), model.parameters()))
    assert tracker.steps == [0, 5, 10, 12] and tracker.epochs == [0, 2, 3, 3]
    assert tracker.entropies("0").shape == (4, 2) and tracker.spectra("2.0", bond=2).shape == (4, 4)
    final = bonds.bond_profile(model[0])
    assert np.allclose(tracker.profiles["0"][-1].spectra[0], final.spectra[0])
    assert not np.allclose(tracker.profiles["0"][0].spectra[0], final.spectra[0])
    fit(model, data, epochs=1, batch_size=64, progress=False, callbacks=[tracker])   # steps go on
    assert tracker.steps[-1] == 16 and tracker.steps.count(12) == 1


def test_tracker_records_every_epoch_by_default():
    model = small_model()
    tracker = bonds.BondTracker(model, ["0"])
    fit(model, toy_data(), epochs=2, batch_size=100, progress=False, callbacks=[tracker])
    assert tracker.steps == [0, 3, 6] and tracker.epochs == [0, 1, 2]
    assert tracker.entropies().shape == (3, 2)                   # one layer: no name needed
    with pytest.raises(KeyError):
        tracker.entropies("2.0")
    with pytest.raises(ValueError, match="bond must be"):
        tracker.spectra(bond=3)
    with pytest.raises(ValueError):
        bonds.BondTracker(model, every_steps=0)
