"""Tests of tnnlib.mps: feature maps, pixel orders, the stable contraction, the classifier, the two-site sweep."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from tnnlib import mps
from tnnlib.mps import MPSClassifier
from tnnlib.train import evaluate, fit
from tnnlib.tt import TTTensor, bond_spectra, is_left_orthogonal


def _brute_force(cores, features):
    """<W, Phi(x_b)> from the full tensor and the full product states (tiny chains)."""
    W = TTTensor([c.detach() for c in cores]).to_dense().reshape(-1)
    values = []
    for phi in features:
        product = torch.ones(1, dtype=features.dtype)
        for v in phi:
            product = torch.outer(product, v).reshape(-1)
        values.append(W @ product)
    return torch.stack(values)


def _model_scores(model, images):
    """f(x) of the model from its dense weight tensor: f_c = sum_s W[s_1..s_p, c, s_(p+1)..s_N] prod_j phi_sj."""
    phi = model.features(images).double()
    p, n, c = model.label_site, model.n_sites, model.n_classes
    W = model.to_tt(merge_label=False).to_dense().reshape(2 ** p, c, 2 ** (n - p))
    left = torch.ones(len(images), 1, dtype=torch.float64)
    for k in range(p):
        left = (left[:, :, None] * phi[:, k, None, :]).reshape(len(images), -1)
    right = torch.ones(len(images), 1, dtype=torch.float64)
    for k in range(p, n):
        right = (right[:, :, None] * phi[:, k, None, :]).reshape(len(images), -1)
    return torch.einsum("acb,na,nb->nc", W, left, right)


# --------------------------------------------------------------------------
# Feature maps, images, orders
# --------------------------------------------------------------------------

def test_trig_features_values_and_unit_norm():
    phi = mps.trig_features(torch.tensor([0.0, 1 / 3, 1.0], dtype=torch.float64))
    expected = torch.tensor([[1.0, 0.0], [math.cos(math.pi / 6), 0.5], [0.0, 1.0]], dtype=torch.float64)
    assert torch.allclose(phi, expected, atol=1e-15)
    x = torch.rand(4, 9, dtype=torch.float64)
    for dim in (2, 3, 5):
        phi = mps.trig_features(x, dim)
        assert phi.shape == (4, 9, dim)
        assert torch.allclose(phi.norm(dim=-1), torch.ones(4, 9, dtype=torch.float64))
    assert torch.allclose(mps.trig_features(torch.tensor(0.5), 3), torch.tensor([0.5, math.sqrt(0.5), 0.5]))
    assert mps.trig_features(torch.rand(3)).dtype == torch.float32
    with pytest.raises(ValueError, match="at least 2"):
        mps.trig_features(x, 1)


def test_polynomial_and_learned_features():
    assert mps.polynomial_features(torch.tensor([2.0]), degree=3).tolist() == [[1.0, 2.0, 4.0, 8.0]]
    learned = mps.LearnedFeatures(dim=3, hidden=4)
    phi = learned(torch.rand(2, 5))
    assert phi.shape == (2, 5, 3) and torch.allclose(phi.norm(dim=-1), torch.ones(2, 5))
    model = MPSClassifier(6, 2, 3, feature_map="learned", local_dim=3)
    assert any(name.startswith("feature_map.") for name, _ in model.named_parameters())
    assert model(torch.rand(4, 6)).shape == (4, 2)
    poly = MPSClassifier(6, 2, 3, feature_map="poly", local_dim=3)
    assert poly.features(torch.full((1, 6), 0.5))[0, 0].tolist() == [1.0, 0.5, 0.25]
    with pytest.raises(ValueError, match="local_dim"):
        MPSClassifier(6, 2, 3, feature_map=lambda x: x[..., None])


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (3, 4), (14, 14)])
@pytest.mark.parametrize("kind", mps.PIXEL_ORDERS)
def test_pixel_orders_are_permutations(shape, kind):
    order = mps.pixel_order(shape, kind, seed=3)
    assert order.dtype == torch.long and torch.equal(order.sort().values, torch.arange(shape[0] * shape[1]))


def test_snake_visits_neighbours_and_random_is_seeded():
    h, w = 5, 6
    order = mps.pixel_order((h, w), "snake")
    rows, cols = order // w, order % w
    steps = (rows.diff().abs() + cols.diff().abs())
    assert steps.eq(1).all()                                        # every step goes to a neighbouring pixel
    row_major = mps.pixel_order((h, w), "row")
    assert ((row_major // w).diff().abs() + (row_major % w).diff().abs()).max() == w    # end of a row -> next start
    assert torch.equal(mps.pixel_order((h, w), "random", seed=1), mps.pixel_order((h, w), "random", seed=1))
    assert not torch.equal(mps.pixel_order((h, w), "random", seed=1), mps.pixel_order((h, w), "random", seed=2))
    with pytest.raises(ValueError, match="kind"):
        mps.pixel_order((2, 2), "spiral")


def test_downsample_and_random_shift():
    x = np.arange(32.0).reshape(2, 4, 4)
    assert mps.downsample(x).shape == (2, 2, 2) and mps.downsample(x)[0, 0, 0] == 2.5
    assert torch.equal(mps.downsample(torch.from_numpy(x)), torch.from_numpy(mps.downsample(x)))
    with pytest.raises(ValueError, match="multiple"):
        mps.downsample(np.zeros((3, 3)))
    shift = mps.RandomShift(1)
    images = torch.zeros(64, 6, 6)
    images[:, 2:4, 2:4] = 1.0                                        # a block away from the border
    torch.manual_seed(0)
    moved = shift(images)
    assert torch.equal(moved.sum(dim=(1, 2)), images.sum(dim=(1, 2)))   # nothing falls off: only shifted
    assert (moved != images).any(dim=(1, 2)).float().mean() > 0.5
    assert torch.equal(shift.eval()(images), images)


# --------------------------------------------------------------------------
# The contraction
# --------------------------------------------------------------------------

def test_contract_product_state_and_environment_against_brute_force():
    gen = torch.Generator().manual_seed(0)
    ranks = (1, 2, 3, 3, 2, 1)
    cores = [torch.randn(ranks[k], 2, ranks[k + 1], generator=gen, dtype=torch.float64) for k in range(5)]
    features = mps.trig_features(torch.rand(6, 5, generator=gen, dtype=torch.float64))
    expected = _brute_force(cores, features)
    sign, log_abs = mps.contract_product_state(cores, features)
    assert torch.allclose(sign * log_abs.exp(), expected)
    for site in range(5):
        left, right = mps.environment(cores, features, site)
        assert left.shape == (6, ranks[site]) and right.shape == (6, ranks[site + 1])
        core = cores[site].clone().requires_grad_(True)
        value = torch.einsum("ba,asc,bs,bc->b", left, core, features[:, site], right)
        assert torch.allclose(value, expected)
        (grad,) = torch.autograd.grad(value[0], core)                  # d f / d core = left (x) phi (x) right
        assert torch.allclose(grad, torch.einsum("a,s,c->asc", left[0], features[0, site], right[0]))


@pytest.mark.parametrize("label_site", [0, 1, 3, 5, 6])
def test_the_classifier_contracts_like_its_dense_weight_tensor(label_site):
    torch.manual_seed(label_site)
    model = MPSClassifier((2, 3), 3, 3, init_std=0.5, label_std=0.5, label_site=label_site, order="snake",
                          dtype=torch.float64)
    images = torch.rand(4, 2, 3, dtype=torch.float64)
    scores, log_norm = model.amplitudes(images)
    assert torch.allclose(scores * log_norm.exp()[:, None], _model_scores(model, images))
    f = _model_scores(model, images)
    tau = model.log_temperature.exp()
    assert torch.allclose(model(images), tau * f / f.norm(dim=1, keepdim=True))
    merged = model.to_tt()
    assert merged.order == 6 and merged.rank == model.rank
    assert torch.allclose(merged.to_dense().reshape(-1), model.to_tt(merge_label=False).to_dense().reshape(-1)) \
        or label_site == 0


def test_the_contraction_is_stable_over_hundreds_of_sites():
    torch.manual_seed(0)
    model = MPSClassifier((20, 20), 10, 8, init_std=0.3)             # float32, 400 sites, cores far from identity
    images = torch.rand(5, 20, 20)
    scores, log_norm = model.amplitudes(images)
    assert torch.isfinite(scores).all() and torch.isfinite(log_norm).all()
    assert log_norm.min() > 100                                        # |f| > e^100: beyond float32's 3.4e38
    assert torch.isfinite(model(images)).all()
    reference = MPSClassifier((20, 20), 10, 8, dtype=torch.float64)
    reference.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in model.state_dict().items()})
    scores64, log64 = reference.amplitudes(images.double())
    assert torch.allclose(log_norm.double(), log64, rtol=1e-4)
    assert torch.allclose(scores.double(), scores64, atol=1e-3)
    phi = model.features(images).detach()
    plain = torch.zeros(5, 8)
    plain[:, 0] = 1
    for k in range(model.n_sites):                                     # the pixel chain without normalisation ...
        plain = mps.absorb(plain, model.cores[k].detach(), phi[:, k])
    assert not torch.isfinite(plain).all()                             # ... overflows float32


def test_gradients_are_finite_and_the_model_exposes_its_tt():
    torch.manual_seed(1)
    model = MPSClassifier((14, 14), 10, 4)
    loss = nn.functional.cross_entropy(model(torch.rand(8, 14, 14)), torch.randint(0, 10, (8,)))
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    cores = model.tt_cores()
    assert len(cores) == 197 and cores[0].shape == (1, 2, 4) and cores[-1].shape == (4, 2, 1)
    assert cores[98].shape == (4, 10, 4) and cores[5].requires_grad
    assert model.n_params == sum(c.numel() for c in cores)
    spectra = bond_spectra(model.to_tt())
    assert len(spectra) == 195
    assert len(model.bond_cores()) == 196
    assert model.bond_states(torch.rand(3, 14, 14), 30).shape == (3, 4)
    assert model.bond_states(torch.rand(3, 14, 14), 150).shape == (3, 4)


def test_bond_states_are_the_halves_of_the_contraction():
    torch.manual_seed(2)
    model = MPSClassifier(10, 3, 4, init_std=0.3, dtype=torch.float64)
    images = torch.rand(5, 10, dtype=torch.float64)
    left, right, _ = model.halves(model.features(images))
    assert torch.allclose(model.bond_states(images, 5), left)
    assert torch.allclose(model.bond_states(images, 6), model.bond_states(images, 6))
    with pytest.raises(ValueError, match="bond"):
        model.bond_states(images, 0)


def test_bond_tools_read_the_model():
    bonds = pytest.importorskip("tnnlib.bonds")
    model = MPSClassifier((4, 4), 3, 4, init_std=0.3, dtype=torch.float64)
    profile = bonds.bond_profile(model)
    assert len(profile.spectra) == 15
    expected = bond_spectra(model.to_tt(rescale=True))
    assert all(np.allclose(np.asarray(s), e.numpy()) for s, e in zip(profile.spectra, expected))


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------

def _bars(n, seed):
    """4 x 4 images of a horizontal (class 0) or a vertical (class 1) bar at a random position, plus noise."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=gen)
    where = torch.randint(0, 4, (n,), generator=gen)
    images = 0.2 * torch.rand(n, 4, 4, generator=gen)
    for i in range(n):
        if labels[i] == 0:
            images[i, where[i], :] = 1.0
        else:
            images[i, :, where[i]] = 1.0
    return images, labels


def test_a_tiny_model_learns_a_toy_problem():
    torch.manual_seed(0)
    model = MPSClassifier((4, 4), 2, 4)
    train, test = _bars(256, 0), _bars(200, 1)
    history = fit(model, train, epochs=8, lr=1e-2, batch_size=32, progress=False)
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert evaluate(model, test)["accuracy"] > 0.95


# --------------------------------------------------------------------------
# The two-site update and the sweep
# --------------------------------------------------------------------------

def test_split_two_site_full_rank_and_truncated():
    merged = torch.randn(3, 2, 5, 4, dtype=torch.float64)
    left, right, S = mps.split_two_site(merged)
    assert left.shape == (3, 2, 6) and right.shape == (6, 5, 4)
    assert torch.allclose(torch.einsum("asx,xtb->astb", left, right), merged)
    assert is_left_orthogonal(left)
    left, right, S = mps.split_two_site(merged, max_rank=2)
    assert left.shape[2] == right.shape[0] == len(S) == 2
    all_s = torch.linalg.svdvals(merged.reshape(6, 20))
    error = (torch.einsum("asx,xtb->astb", left, right) - merged).norm()
    assert torch.allclose(error, all_s[2:].norm())                  # Eckart-Young
    with pytest.raises(ValueError, match="shape"):
        mps.split_two_site(torch.zeros(3, 3))


def _isometry_up_to_padding(matrix):
    """Rows orthonormal where they are not zero: ``Q Q^T`` is diagonal with entries 0 or 1."""
    gram = matrix @ matrix.T
    diagonal = gram.diagonal()
    return torch.allclose(gram, torch.diag(diagonal), atol=1e-9) and \
        bool(((diagonal - 1).abs() < 1e-9).logical_or(diagonal.abs() < 1e-9).all())


def _exact_model():
    """A chain small enough that bond_dim 4 holds its tensor exactly wherever the label is
    (3 pixels and 2 classes: 16 entries, so no cut needs more than 4)."""
    torch.manual_seed(3)
    return MPSClassifier((1, 3), 2, 4, init_std=0.5, label_std=0.5, label_site=1, dtype=torch.float64)


def test_a_sweep_without_learning_moves_the_label_exactly():
    model = _exact_model()
    images, labels = torch.rand(6, 1, 3, dtype=torch.float64), torch.randint(0, 2, (6,))
    before = model(images).detach()
    result = mps.sweep(model, (images, labels), direction="right", lr=0.0)
    assert model.label_site == 3 and len(result.loss) == 2
    assert torch.allclose(model(images), before)
    assert max(result.discarded) < 1e-12
    mps.sweep(model, (images, labels), direction="left", lr=0.0)
    assert model.label_site == 0 and torch.allclose(model(images), before)
    for core in model.tt_cores()[1:]:                                    # right of the label: right-orthogonal
        assert _isometry_up_to_padding(core.detach().reshape(core.shape[0], -1))


def test_a_sweep_truncates_and_learns():
    torch.manual_seed(0)
    images, labels = _bars(200, 2)
    model = MPSClassifier((4, 4), 2, 6, dtype=torch.float64)
    start = evaluate(model, (images, labels))["loss"]
    mps.sweep(model, (images, labels), direction="right", max_rank=3, lr=0.5)
    assert all(_isometry_up_to_padding(c.detach().reshape(-1, c.shape[2]).T) for c in model.tt_cores()[:-1])
    result = mps.sweep(model, (images, labels), direction="left", max_rank=3, lr=0.5)
    assert max(result.rank) <= 3 and result.seconds > 0 and model.label_site == 0
    assert evaluate(model, (images, labels))["loss"] < 0.7 * start
    assert all(_isometry_up_to_padding(c.detach().reshape(c.shape[0], -1)) for c in model.tt_cores()[1:])
    with pytest.raises(ValueError, match="bond_dim"):
        mps.sweep(model, (images, labels), max_rank=7)


def test_mirror_and_set_tt_cores_keep_the_model():
    torch.manual_seed(4)
    model = MPSClassifier((3, 3), 4, 3, init_std=0.3, dtype=torch.float64, label_site=2)
    images = torch.rand(5, 3, 3, dtype=torch.float64)
    before = model(images).detach()
    assert torch.allclose(model.mirror_()(images), before) and model.label_site == 7
    model.mirror_()
    model.set_tt_cores([c.detach().clone() for c in model.tt_cores()], label_site=2)
    assert torch.allclose(model(images), before)
    with pytest.raises(ValueError, match="cores"):
        model.set_tt_cores(model.tt_cores()[:-1], label_site=2)
