"""tnnlib.bonds.allocate_ranks: TT ranks under a parameter budget, from bond spectra (joint and greedy)."""
import itertools

import numpy as np
import pytest

from tnnlib.bonds import _viterbi, allocate_layer_ranks, allocate_ranks, as_tt, bond_profile
from tnnlib.nn import TTLinear
from tnnlib.scaling import tt_linear_params


def _params(ranks, sizes):
    return sum(r[k] * n * r[k + 1] for r, size in zip(ranks, sizes) for k, n in enumerate(size))


def _error(ranks, spectra):
    """Sum over layers of the squared relative truncation errors of the bonds."""
    return sum(float(np.sum(s[r[k + 1]:] ** 2) / np.sum(s ** 2)) for r, layer in zip(ranks, spectra)
               for k, s in enumerate(layer))


METHODS = ("lagrangian", "greedy")


def _decaying(rng, n):
    """A random decreasing spectrum, from almost flat to steep."""
    return np.sort(rng.random(n) ** rng.uniform(1, 6))[::-1] * rng.uniform(0.5, 2)


@pytest.mark.parametrize("method", METHODS)
def test_respects_the_budget_and_spends_it(method):
    rng = np.random.default_rng(0)
    spectra = [[np.sort(rng.random(8))[::-1] for _ in range(3)], [np.sort(rng.random(6))[::-1] for _ in range(2)]]
    sizes = [(4, 6, 6, 4), (5, 5, 5)]
    for budget in (40, 200, 600, 2000):
        ranks = allocate_ranks(spectra, sizes, budget, method=method)
        assert [len(r) for r in ranks] == [5, 4] and all(r[0] == r[-1] == 1 for r in ranks)
        assert _params(ranks, sizes) <= budget
        # no single step that still fits is left undone
        for layer, k in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]:
            if ranks[layer][k + 1] < len(spectra[layer][k]):
                bigger = [list(r) for r in ranks]
                bigger[layer][k + 1] += 1
                assert _params(bigger, sizes) > budget


@pytest.mark.parametrize("method", METHODS)
def test_finds_the_best_allocation_on_a_small_case(method):
    spectra = [[np.array([5.0, 3.0, 1.0, 0.5]), np.array([4.0, 0.2, 0.1])]]
    sizes = [(2, 2, 2)]
    budget = 20
    ranks = allocate_ranks(spectra, sizes, budget, method=method)
    feasible = [(1, a, b, 1) for a, b in itertools.product(range(1, 5), range(1, 4))
                if _params([(1, a, b, 1)], sizes) <= budget]
    best = min(_error([r], spectra) for r in feasible)
    assert _error(ranks, spectra) == pytest.approx(best)


@pytest.mark.parametrize("method", METHODS)
def test_a_bond_never_exceeds_its_spectrum(method):
    ranks = allocate_ranks([[np.array([1.0, 0.5]), np.array([1.0])]], [(2, 2, 2)], budget=10_000, method=method)
    assert ranks == [(1, 2, 1, 1)]


@pytest.mark.parametrize("method", METHODS)
def test_min_rank(method):
    spectra = [[np.array([5.0, 1e-3, 1e-3]), np.array([5.0, 1e-3, 1e-3]), np.array([2.0])]]
    ranks = allocate_ranks(spectra, [(2, 2, 2, 2)], budget=24, min_rank=2, method=method)
    assert ranks[0][1] >= 2 and ranks[0][2] >= 2 and ranks[0][3] == 1
    assert _params(ranks, [(2, 2, 2, 2)]) <= 24


def test_the_viterbi_step_is_exact():
    """For a fixed multiplier lam, one layer's ranks minimise E + lam * params (brute force over all ranks)."""
    rng = np.random.default_rng(1)
    for _ in range(30):
        lengths = rng.integers(1, 5, size=int(rng.integers(1, 4)))
        spectra = [_decaying(rng, n) for n in lengths]
        sizes = tuple(int(n) for n in rng.integers(1, 9, size=len(lengths) + 1))
        lam = float(rng.uniform(0, 0.05))
        losses = [np.array([np.sum(s[r:] ** 2) / np.sum(s ** 2) for r in range(1, len(s) + 1)]) for s in spectra]
        got = _viterbi(losses, [1] * len(spectra), sizes, lam)

        candidates = [(1, *inner, 1) for inner in itertools.product(*(range(1, n + 1) for n in lengths))]
        values = [_error([r], [spectra]) + lam * _params([r], [sizes]) for r in candidates]
        assert values[candidates.index(tuple(got))] == pytest.approx(min(values), abs=1e-12)


LESSON_SIZES = [(16, 64, 64, 16), (16, 64, 64, 16)]          # the hidden layers of lesson 12, modes (4, 8, 8, 4)


@pytest.mark.parametrize("case", ["random", "lesson"])
def test_the_joint_allocation_never_discards_more_than_uniform_ranks(case):
    """At the budget of uniform rank u, the joint allocation's discarded energy is at most uniform's."""
    rng = np.random.default_rng(2)
    worse_greedy = 0
    for trial in range(25):
        if case == "lesson":
            sizes, lengths = LESSON_SIZES, [[16, 16, 16]] * 2
        else:
            d = [int(rng.integers(2, 6)) for _ in range(int(rng.integers(1, 4)))]
            sizes = [tuple(int(n) for n in rng.integers(2, 40, size=k)) for k in d]
            lengths = [[int(n) for n in rng.integers(2, 14, size=k - 1)] for k in d]
        spectra = [[_decaying(rng, n) for n in layer] for layer in lengths]
        for u in (1, 2, 4, 8, 12):
            uniform = [(1, *(min(u, n) for n in layer), 1) for layer in lengths]
            budget = _params(uniform, sizes)
            joint = allocate_ranks(spectra, sizes, budget)
            greedy = allocate_ranks(spectra, sizes, budget, method="greedy")
            assert _params(joint, sizes) <= budget
            assert _error(joint, spectra) <= _error(uniform, spectra) + 1e-12, (trial, u, joint, uniform)
            worse_greedy += _error(joint, spectra) > _error(greedy, spectra) + 1e-12
    assert worse_greedy <= 5            # out of 125 (0 when written): not always optimal, but rarely behind


def test_the_joint_allocation_is_usually_optimal_on_small_cases():
    """Against brute force on one layer of three short bonds: optimal in most cases (198 of 200 when written)."""
    rng = np.random.default_rng(3)
    optimal, gaps = 0, []
    for _ in range(200):
        lengths = [int(n) for n in rng.integers(2, 5, size=3)]
        spectra = [[_decaying(rng, n) for n in lengths]]
        sizes = [tuple(int(n) for n in rng.choice([2, 4, 8], size=4))]
        candidates = [[(1, *inner, 1)] for inner in itertools.product(*(range(1, n + 1) for n in lengths))]
        budget = int(rng.integers(_params([(1, 1, 1, 1, 1)], sizes), _params(candidates[-1], sizes) + 1))
        best = min(_error(r, spectra) for r in candidates if _params(r, sizes) <= budget)
        gap = _error(allocate_ranks(spectra, sizes, budget), spectra) - best
        optimal += gap < 1e-12
        gaps.append(gap)
    assert optimal >= 190 and max(gaps) < 0.25, (optimal, max(gaps))


def test_bad_input():
    with pytest.raises(ValueError, match="over the budget"):
        allocate_ranks([[np.ones(3)]], [(4, 4)], budget=5)
    with pytest.raises(ValueError, match="2 bond spectra"):
        allocate_ranks([[np.ones(3)]], [(4, 4, 4)], budget=100)
    with pytest.raises(ValueError, match="same layers"):
        allocate_ranks([[np.ones(3)]], [(4, 4), (4, 4)], budget=100)
    with pytest.raises(ValueError, match="budget"):
        allocate_ranks([[np.ones(3)]], [(4, 4)], budget=10.0)
    with pytest.raises(ValueError, match="non-negative"):
        allocate_ranks([[-np.ones(3)]], [(4, 4)], budget=100)
    with pytest.raises(ValueError, match="method"):
        allocate_ranks([[np.ones(3)]], [(4, 4)], budget=100, method="knapsack")


@pytest.mark.parametrize("method", METHODS)
def test_allocate_layer_ranks_gives_ranks_the_layers_accept(method):
    layers = {"a": TTLinear(256, 64, 6, in_modes=(4, 8, 8), out_modes=(4, 4, 4)),
              "b": TTLinear(64, 64, 6, in_modes=(4, 4, 4), out_modes=(4, 4, 4))}
    budget = sum(layer.weight_parameters() for layer in layers.values()) // 2
    ranks = allocate_layer_ranks(layers, budget, method=method)
    assert set(ranks) == {"a", "b"}
    total = 0
    for name, layer in layers.items():
        new = TTLinear(layer.in_features, layer.out_features, ranks[name], in_modes=layer.in_modes,
                       out_modes=layer.out_modes)
        total += new.weight_parameters()
        assert new.weight_parameters() == tt_linear_params(out_modes=layer.out_modes, in_modes=layer.in_modes,
                                                           rank=ranks[name])
        assert all(r <= len(s) for r, s in zip(ranks[name][1:-1], bond_profile(layer).spectra))
    assert total <= budget
    assert as_tt(layers["a"]).shape == (16, 32, 32)
    with pytest.raises(TypeError):
        allocate_layer_ranks([], 100)
