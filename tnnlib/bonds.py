"""Bond spaces: what lives on the bonds of a tensor train, a TT-matrix and a TT layer.

The concept. A bond ``k`` of a train with cores ``G_1, ..., G_d`` cuts the
indices in two: those of cores ``1..k`` (left) and those of ``k+1..d``
(right). Read as a matrix with the left indices as rows, the tensor (for a
TT-matrix layer: the weight ``W``, with the pairs ``(i_m, j_m)`` as indices)
has a singular value decomposition, the **Schmidt decomposition** of the cut,

    A_<k> = sum_a  s_a  u_a v_a^T,        s_1 >= s_2 >= ... >= 0,

and the train needs at least as many bond values ``r_k`` as there are
non-zero ``s_a``. The numbers ``s_a`` are the bond's **spectrum**. From them:

* ``p_a = s_a^2 / sum_b s_b^2``, a probability distribution over the bond's
  channels; its **von Neumann entropy** ``S = -sum_a p_a log p_a`` and its
  **Renyi entropies** ``S_alpha = log(sum_a p_a^alpha) / (1 - alpha)``
  (:func:`renyi_entropy`) say how many channels the bond really uses
  (``0 <= S <= log r_k``; ``exp(S)`` is an effective number of channels);
* the **truncation error** ``||s_{r+1:}|| / ||s||``: the relative Frobenius
  error of the whole tensor when this bond alone is cut to ``r`` channels
  (:func:`truncation_error`), and, summed over the bonds, a bound for cutting
  all of them (:func:`ranks_for_error`, Oseledets 2011).

The cores themselves are not unique: ``G_k -> G_k A``, ``G_{k+1} -> A^{-1}
G_{k+1}`` (a **gauge transformation**, :func:`gauge_transform`) changes them
and leaves the tensor and every ``s_a`` unchanged. Everything this module
reports is therefore computed in **canonical form** (lesson 03): the spectra
with :func:`tnnlib.tt.bond_spectra`, the cores in the *Schmidt gauge* of
:func:`canonical_cores`, in which the channels of bond ``k`` are the Schmidt
vectors ``u_a``. A random gauge changes the raw cores, not what is reported.
All of it on copies, without gradients; spectra and canonical cores in float64.

Then what flows through the bonds. A TT layer computes ``x W^T`` core by
core (:meth:`tnnlib.nn.TTLinear.reference_forward`); after core ``k`` the
intermediate result for each example is a tensor ``Z_k[a, I, J]`` with the
bond index ``a``, the output modes produced so far ``I = (i_1..i_k)`` and the
input modes not read yet ``J = (j_{k+1}..j_d)``: :func:`bond_states`. Pooled
over the open indices ``I, J`` (as a CNN's channels are pooled over
positions), each bond channel gives one number per example
(:func:`bond_features`): the bond's *features*. :func:`capture_bonds`
records them during a forward pass, and :func:`linear_probe`,
:func:`principal_components`, :func:`class_means` read them.
:class:`BondTracker` follows the spectra during :func:`tnnlib.train.fit`.

Contents, in the order of lesson 09:

* :func:`as_tt`, :func:`bond_profile` / :class:`BondProfile`,
  :func:`renyi_entropy`, :func:`truncation_error`, :func:`ranks_for_error`;
* :func:`allocate_ranks`, :func:`allocate_layer_ranks` - ranks for several
  layers under one parameter budget, from the spectra: jointly (Lagrangian
  dynamic programming) or greedily (lesson 12);
* :func:`gauge_transform`, :func:`random_gauge`, :func:`left_canonicalize`,
  :func:`canonical_cores`;
* :func:`truncate` - a TT layer cut to smaller ranks (TT rounding); :func:`truncate_layers` - every TT
  layer of a model, e.g. to the ranks of :func:`allocate_layer_ranks` (lesson 12);
* :func:`bond_states`, :func:`layer_bond_states`, :func:`bond_features`,
  :func:`capture_bonds` / :class:`BondRecorder`, :func:`collect_features`;
* :func:`linear_probe`, :func:`probe_accuracy`, :func:`principal_components`,
  :func:`class_means`, :func:`class_variance_ratio`;
* :class:`BondTracker` - a callback of :func:`tnnlib.train.fit`.

Which objects: a :class:`~tnnlib.tt.TTTensor`, a :class:`~tnnlib.ttm.TTMatrix`,
a list of TT (3-axis) or TT-matrix (4-axis) cores, and any module with such
``cores`` (``TTLinear``; a module may instead define ``bond_cores()``
returning the cores to analyse, as an MPS classifier does).

>>> from tnnlib.tt import random_tt
>>> profile = bond_profile(random_tt((4, 4, 4), 3, seed=0))
>>> profile.rank, [len(s) for s in profile.spectra]
((1, 3, 3, 1), [3, 3])
>>> bool(0 <= profile.entropies()[0] <= math.log(3))
True

References: I. V. Oseledets, SIAM J. Sci. Comput. 33(5), 2011 (canonical
forms, truncation bound); U. Schollwoeck, arXiv:1008.3477, 2011 (Schmidt
values, entanglement entropy); Z.-F. Gao et al., arXiv:1904.06194, 2020
(entanglement entropy of the bonds of trained MPO layers); M. Hamreras,
S. Singh, R. Orus, arXiv:2505.20132, 2025 (bond indices as latent spaces).
"""
from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass
from numbers import Real

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .backend import solve
from .nn.tt_linear import TTLinear, merge_cores
from .svd import rank_for_error, tail_energies, truncated_svd
from .tt import TTTensor, bond_spectra, entanglement_entropy, left_orthogonalize, max_tt_ranks, tt_round
from .ttm import TTMatrix
from .validation import check_eps, check_positive_int, is_int

__all__ = [
    "as_tt", "BondProfile", "bond_profile", "renyi_entropy", "truncation_error", "ranks_for_error",
    "allocate_ranks", "allocate_layer_ranks",
    "gauge_transform", "random_gauge", "left_canonicalize", "canonical_cores", "truncate", "truncate_layers",
    "bond_states", "layer_bond_states", "bond_features", "capture_bonds", "BondRecorder", "collect_features",
    "tt_layers", "ProbeResult", "linear_probe", "probe_accuracy", "Components", "principal_components",
    "class_means", "class_variance_ratio", "BondTracker",
]


# --------------------------------------------------------------------------
# The train behind an object, in float64
# --------------------------------------------------------------------------

def _raw_cores(obj, where: str) -> list:
    """The cores of ``obj`` as given (3 or 4 axes each), without copying."""
    if isinstance(obj, (TTTensor, TTMatrix)):
        return list(obj.cores)
    if isinstance(obj, nn.Module):
        if hasattr(obj, "bond_cores"):
            cores = obj.bond_cores()
        elif hasattr(obj, "cores"):
            cores = obj.cores
        else:
            raise TypeError(f"{where}: the module {type(obj).__name__} has no TT cores (no `cores`, no `bond_cores()`)")
        return list(cores)
    if isinstance(obj, (list, tuple)):
        return list(obj)
    raise TypeError(f"{where}: expected a TTTensor, a TTMatrix, a TT layer or a list of cores, "
                    f"got {type(obj).__name__}")


def _float64(core, where: str) -> np.ndarray:
    """A core as a float64 NumPy copy (detached from autograd, moved to the CPU)."""
    if isinstance(core, torch.Tensor):
        if core.is_complex():
            raise TypeError(f"{where}: complex cores are not supported")
        return core.detach().to("cpu", torch.float64).numpy().copy()
    array = np.asarray(core)
    if np.iscomplexobj(array) or array.dtype.kind not in "fiu":
        raise TypeError(f"{where}: cores must hold real numbers, got dtype {array.dtype}")
    return array.astype(np.float64)


def _cores64(obj, where: str) -> list:
    """The cores of ``obj`` in float64 NumPy, checked to be all 3-axis (TT) or all 4-axis (TT-matrix)."""
    cores = [_float64(c, where) for c in _raw_cores(obj, where)]
    if not cores or {c.ndim for c in cores} not in ({3}, {4}):
        raise ValueError(f"{where}: expected TT cores (r, n, r') or TT-matrix cores (r, i, j, r'), got shapes "
                         f"{[tuple(c.shape) for c in cores]}")
    return cores


def _merge_modes(cores) -> list:
    """TT-matrix cores ``(r, i, j, r')`` -> TT cores ``(r, i j, r')`` (3-axis cores are returned as they are)."""
    return [c.reshape(c.shape[0], -1, c.shape[-1]) for c in cores]


def as_tt(obj) -> TTTensor:
    """The train of ``obj`` as a float64 NumPy :class:`~tnnlib.tt.TTTensor` (a copy, no gradients).

    A TT-matrix (or TT layer) becomes the TT of its interleaved tensor, mode
    ``k`` being the pair ``(i_k, j_k)`` (:meth:`tnnlib.ttm.TTMatrix.to_tt`):
    its unfolding at bond ``k`` is ``W`` with rows ``(i_1 j_1 .. i_k j_k)``.

    >>> layer = TTLinear(16, 16, 3, in_modes=(4, 4), out_modes=(4, 4))
    >>> as_tt(layer).shape, as_tt(layer).rank
    ((16, 16), (1, 3, 1))
    """
    return TTTensor(_merge_modes(_cores64(obj, "as_tt")))


# --------------------------------------------------------------------------
# Spectra, entropies, truncation errors
# --------------------------------------------------------------------------

def _spectrum(spectrum, where: str) -> np.ndarray:
    s = spectrum.detach().cpu().numpy() if isinstance(spectrum, torch.Tensor) else np.asarray(spectrum)
    if s.ndim != 1 or s.size == 0 or np.iscomplexobj(s) or s.dtype.kind not in "fiu":
        raise ValueError(f"{where}: spectrum must be a non-empty vector of singular values, got shape {s.shape}")
    s = s.astype(np.float64)
    if not np.all(np.isfinite(s)) or np.any(s < 0):
        raise ValueError(f"{where}: singular values must be finite and non-negative")
    if not np.any(s > 0):
        raise ValueError(f"{where}: the spectrum is all zeros: the entropy of a zero tensor is undefined")
    return s


def _check_alpha(alpha, where: str) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or math.isnan(alpha) or alpha < 0:
        raise ValueError(f"{where}: alpha must be a real number >= 0 (or math.inf), got {alpha!r}")
    return float(alpha)


def renyi_entropy(spectrum, alpha: float = 1.0) -> float:
    """Renyi entropy (in nats) of a bond with singular values ``spectrum``; ``alpha = 1``: von Neumann.

    With ``p_a = s_a^2 / sum_b s_b^2`` (zeros dropped):

    * ``alpha = 1``: ``S = -sum p_a log p_a`` (:func:`tnnlib.tt.entanglement_entropy`);
    * ``alpha = 0``: ``log`` of the number of non-zero values (the log of the rank);
    * ``alpha = inf``: ``-log max p_a``;
    * otherwise ``S_alpha = log(sum p_a^alpha) / (1 - alpha)``.

    ``S_alpha`` decreases with ``alpha``; all lie in ``[0, log r]`` and equal
    ``log r`` for ``r`` equal values.

    >>> round(renyi_entropy([1.0, 1.0, 1.0, 1.0]), 6) == round(math.log(4), 6)
    True
    >>> renyi_entropy([3.0, 0.0]), renyi_entropy([1.0, 1.0], alpha=2) == math.log(2)
    (0.0, True)
    """
    s = _spectrum(spectrum, "renyi_entropy")
    alpha = _check_alpha(alpha, "renyi_entropy")
    p = s**2 / np.sum(s**2)
    p = p[p > 0]
    if alpha == 1:
        value = float(entanglement_entropy(s))
    elif alpha == 0:
        value = math.log(p.size)
    elif math.isinf(alpha):
        value = -math.log(float(p.max()))
    else:
        value = math.log(float(np.sum(p**alpha))) / (1 - alpha)
    return value if value > 0 else 0.0          # no -0.0 or -1e-17 from rounding


def truncation_error(spectrum, rank: int) -> float:
    """Relative Frobenius error of the tensor when this bond alone is cut to ``rank`` channels.

    ``||s[rank:]|| / ||s||``: exact, because in canonical form cutting a bond
    is a truncated SVD of the unfolding (Eckart-Young). ``rank`` is an integer
    >= 0 (0 gives 1.0, a rank >= the number of values gives 0.0).

    >>> truncation_error([4.0, 2.0, 1.0, 0.0], 2) == math.sqrt(1 / 21)
    True
    """
    s = _spectrum(spectrum, "truncation_error")
    if not is_int(rank) or rank < 0:
        raise ValueError(f"truncation_error: rank must be an integer >= 0, got {rank!r}")
    tails = tail_energies(s)
    return math.sqrt(tails[min(int(rank), s.size)] / tails[0])


def ranks_for_error(spectra, eps: float) -> tuple:
    """The smallest rank of each bond such that cutting all bonds keeps the relative error <= ``eps``.

    The rule (Oseledets 2011, Theorem 2.2): bond ``k`` keeps the fewest
    channels whose discarded tail is at most ``eps / sqrt(d - 1)`` of its
    norm, ``||s_k[r_k:]|| <= eps ||s_k|| / sqrt(d - 1)``
    (:func:`tnnlib.svd.rank_for_error` per bond). The squared errors of the
    ``d - 1`` cuts add up at most, so ``||A - A_cut||_F <= eps ||A||_F``.

    Parameters
    ----------
    spectra : sequence of d-1 vectors
        The bond spectra (e.g. ``bond_profile(layer).spectra``).
    eps : float in [0, 1)

    Returns
    -------
    tuple of d-1 ints, each at least 1.

    >>> ranks_for_error([[4.0, 2.0, 1.0, 0.5], [3.0, 3.0, 0.1]], eps=0.5)
    (2, 2)
    """
    spectra = [_spectrum(s, "ranks_for_error") for s in spectra]
    if not spectra:
        raise ValueError("ranks_for_error: spectra must hold at least one bond's spectrum")
    eps = check_eps(eps, "ranks_for_error")
    if eps is None:
        raise TypeError("ranks_for_error: eps must be a real number in [0, 1), got None")
    per_bond = eps / math.sqrt(len(spectra))
    return tuple(int(rank_for_error(s, per_bond)) for s in spectra)


def _discarded_fractions(s: np.ndarray, lowest: int) -> np.ndarray:
    """``e[r - lowest] = ||s[r:]||^2 / ||s||^2`` for ``r = lowest .. len(s)``: what cutting the bond to r discards."""
    tails = np.asarray(tail_energies(s))
    return tails[lowest:] / tails[0] if tails[0] > 0 else np.zeros(len(tails) - lowest)


def _core_params(ranks, sizes) -> int:
    """``sum_l sum_k r_{k-1} n_k r_k`` over the layers (rank tuples ``(1, r_1, ..., 1)``)."""
    return sum(r[k] * n * r[k + 1] for r, size in zip(ranks, sizes) for k, n in enumerate(size))


def _viterbi(losses, lowest, size, lam: float) -> list:
    """Ranks ``(1, r_1, ..., r_{d-1}, 1)`` of one layer minimising ``sum_k e_k(r_k) + lam sum_k r_{k-1} n_k r_k``.

    Dynamic programming along the chain of bonds: core ``k`` couples only the
    neighbouring bonds ``k-1`` and ``k``, so ``best[r]``, the cheapest start
    of the chain that ends with ``r_k = r``, is updated one bond at a time.
    """
    if not losses:
        return [1, 1]
    options = [np.arange(lo, lo + len(e)) for lo, e in zip(lowest, losses)]
    best = losses[0] + lam * size[0] * options[0]                 # core 1: (1, n_1, r_1)
    came_from = []
    for k in range(1, len(losses)):                                # core k+1: (r_k, n_{k+1}, r_{k+1})
        total = best[:, None] + lam * size[k] * np.outer(options[k - 1], options[k])
        came_from.append(np.argmin(total, axis=0))
        best = losses[k] + total[came_from[-1], np.arange(len(options[k]))]
    index = int(np.argmin(best + lam * size[-1] * options[-1]))  # core d: (r_{d-1}, n_d, 1)
    chosen = [index]
    for back in reversed(came_from):
        index = int(back[index])
        chosen.append(index)
    return [1] + [int(o[i]) for o, i in zip(options, reversed(chosen))] + [1]


def _local_search(ranks, losses, lowest, sizes, budget: int) -> list:
    """Improve an allocation that fits: spend what is left, then move single channels while that helps.

    Each round first adds channels greedily (the most discarded energy won
    per added parameter, among the steps that fit), then makes the single
    best move of one channel from one bond to another (of any layer) that
    fits and lowers the objective. It stops when no move lowers it; every
    accepted move does, so it ends.
    """
    ranks = [list(r) for r in ranks]
    bonds = [(layer, k) for layer, e in enumerate(losses) for k in range(len(e))]

    def loss(layer, k, r):
        return losses[layer][k][r - lowest[layer][k]]

    def fits(r, b):
        return lowest[b[0]][b[1]] <= r <= lowest[b[0]][b[1]] + len(losses[b[0]][b[1]]) - 1

    while True:
        while True:                                                 # spend what is left of the budget
            left, best, best_value = budget - _core_params(ranks, sizes), None, 0.0
            for layer, k in bonds:
                r = ranks[layer][k + 1]
                if not fits(r + 1, (layer, k)):
                    continue
                cost = sizes[layer][k] * ranks[layer][k] + sizes[layer][k + 1] * ranks[layer][k + 2]
                value = (loss(layer, k, r) - loss(layer, k, r + 1)) / cost
                if cost <= left and value > best_value:
                    best, best_value = (layer, k), value
            if best is None:
                break
            ranks[best[0]][best[1] + 1] += 1
        best, best_gain = None, 1e-12                               # one channel from bond a to bond b
        for a, b in itertools.permutations(bonds, 2):
            ra, rb = ranks[a[0]][a[1] + 1], ranks[b[0]][b[1] + 1]
            if not (fits(ra - 1, a) and fits(rb + 1, b)):
                continue
            gain = loss(*a, ra) - loss(*a, ra - 1) + loss(*b, rb) - loss(*b, rb + 1)
            if gain <= best_gain:
                continue
            ranks[a[0]][a[1] + 1] -= 1
            ranks[b[0]][b[1] + 1] += 1
            if _core_params(ranks, sizes) <= budget:
                best, best_gain = (a, b), gain
            ranks[a[0]][a[1] + 1] += 1
            ranks[b[0]][b[1] + 1] -= 1
        if best is None:
            return [tuple(r) for r in ranks]
        (a, b) = best
        ranks[a[0]][a[1] + 1] -= 1
        ranks[b[0]][b[1] + 1] += 1


def allocate_ranks(spectra, sizes, budget: int, *, min_rank: int = 1, method: str = "lagrangian") -> list:
    """TT ranks for one or more layers under one parameter budget, from their bond spectra.

    The objective is the **discarded energy**: the squared relative
    truncation errors (:func:`truncation_error`) summed over the bonds of all
    layers,

        E(r) = sum_l sum_k ||s_{l,k}[r_{l,k}:]||^2 / ||s_{l,k}||^2,

    to be made as small as the budget allows, ``sum_l sum_k r_{k-1} n_k r_k
    <= budget`` (cores ``(r_{k-1}, i_k, j_k, r_k)``, ``n_k = i_k j_k``). A
    channel that keeps 1% of a layer's weight is worth the same in every
    layer. A bond never gets more channels than its spectrum has values
    (train or decompose the layers at a larger rank first), nor fewer than
    ``min_rank`` (or all its values, if it has fewer).

    ``method="lagrangian"`` (the default) solves the problem jointly:

    1. for a multiplier ``lam``, minimise ``E(r) + lam * params(r)``. The
       layers separate, and in one layer the parameters of core ``k`` couple
       only the neighbouring bonds ``k-1`` and ``k``, so dynamic programming
       along the chain of bonds finds the exact minimum (Viterbi, ``O(d r^2)``);
    2. bisect ``lam`` to the smallest value whose ranks fit the budget;
    3. local search: spend what is left greedily, then move single channels
       between bonds (of any layer) while a move fits and lowers ``E``.

    Steps 1-2 give an optimum for the budget they use; step 3 closes part of
    the gap to the budget asked for. The local search also starts from the
    largest uniform ranks that fit (every bond ``min(u, len(s_k))``), and the
    better of the two results is returned (the Lagrangian one on a tie): the
    result never discards more than uniform ranks at the same budget.

    ``method="greedy"`` is the myopic rule of exercise 12.4: every bond
    starts at ``min_rank``; then, again and again, one bond gets one more
    channel: among the steps that fit, the one with the most captured energy
    per parameter, ``s_k[r_k]^2 / ||s_k||^2`` divided by
    ``n_k r_{k-1} + n_{k+1} r_{k+1}``; ties go to the first bond (layer by
    layer, bond by bond); it stops when no step fits. Cheap bonds grow first
    and make their neighbours dearer, so it can discard more than uniform
    ranks do (lesson 12 measures it).

    Parameters
    ----------
    spectra : sequence over layers of sequences of d-1 vectors
        ``spectra[l][k-1]``: the singular values of bond ``k`` of layer ``l``
        (e.g. ``bond_profile(layer).spectra``).
    sizes : sequence over layers of d ints
        ``sizes[l][k]``: the core's mode size ``i_k j_k`` (``as_tt(layer).shape``).
    budget : int
        The most parameters all the cores together may hold
        (``sum_l sum_k r_{k-1} n_k r_k``).
    min_rank : int >= 1
    method : ``"lagrangian"`` or ``"greedy"``

    Returns
    -------
    list of rank tuples ``(1, r_1, ..., r_{d-1}, 1)``, one per layer.

    >>> spectra, sizes = [[[4.0, 2.0, 1.0], [3.0, 0.1]]], [[2, 3, 2]]
    >>> allocate_ranks(spectra, sizes, budget=30), allocate_ranks(spectra, sizes, budget=30, method="greedy")
    ([(1, 3, 2, 1)], [(1, 3, 2, 1)])

    Where the greedy is myopic (the cheap first bond grows to 3 and makes the
    middle bond too dear), the joint allocation discards less (0.235 against 0.5):

    >>> spectra, sizes = [[[3.0, 2.0, 2.0], [1.0, 1.0], [5.0, 5.0]]], [[4, 4, 8, 2]]
    >>> allocate_ranks(spectra, sizes, budget=62), allocate_ranks(spectra, sizes, budget=62, method="greedy")
    ([(1, 2, 2, 2, 1)], [(1, 3, 1, 2, 1)])

    Neither is always optimal (the multiplier cannot reach every budget
    exactly, and the local search moves one channel at a time); the joint
    allocation is exact on the budgets the multiplier reaches.
    """
    where = "allocate_ranks"
    spectra = [[_spectrum(s, where) for s in layer] for layer in spectra]
    sizes = [tuple(check_positive_int(n, "sizes", where) for n in layer) for layer in sizes]
    if len(spectra) != len(sizes) or not spectra:
        raise ValueError(f"{where}: need the spectra and the sizes of the same layers (at least one), got "
                         f"{len(spectra)} and {len(sizes)}")
    for layer, (s, n) in enumerate(zip(spectra, sizes)):
        if len(s) != len(n) - 1:
            raise ValueError(f"{where}: layer {layer} has {len(n)} cores, so {len(n) - 1} bond spectra, got {len(s)}")
    if not is_int(budget) or budget < 1:
        raise ValueError(f"{where}: budget must be a positive integer (parameters), got {budget!r}")
    min_rank = check_positive_int(min_rank, "min_rank", where)
    if method not in ("lagrangian", "greedy"):
        raise ValueError(f"{where}: method must be 'lagrangian' or 'greedy', got {method!r}")
    lowest = [[min(min_rank, len(b)) for b in s] for s in spectra]
    start = [[1] + lo + [1] for lo in lowest]
    if _core_params(start, sizes) > budget:
        raise ValueError(f"{where}: rank {min_rank} everywhere already needs {_core_params(start, sizes):,} "
                         f"parameters, over the budget of {budget:,}")
    if method == "greedy":
        return _greedy_ranks(spectra, sizes, budget, start)
    losses = [[_discarded_fractions(b, lo) for b, lo in zip(s, low)] for s, low in zip(spectra, lowest)]

    def solve(lam):
        return [_viterbi(e, lo, n, lam) for e, lo, n in zip(losses, lowest, sizes)]

    def objective(ranks):
        return sum(float(e[k][r[k + 1] - lo[k]]) for r, e, lo in zip(ranks, losses, lowest) for k in range(len(e)))

    low, high = 0.0, 1.0
    ranks = solve(low)
    if _core_params(ranks, sizes) > budget:
        while _core_params(ranks := solve(high), sizes) > budget:
            low, high = high, 2 * high
        for _ in range(60):                                   # ranks: those of high, which fit
            middle = (low + high) / 2
            candidate = solve(middle)
            if _core_params(candidate, sizes) <= budget:
                high, ranks = middle, candidate
            else:
                low = middle
    joint = _local_search(ranks, losses, lowest, sizes, budget)

    def uniform(u):                                           # rank u on every bond, within [lowest, len(s_k)]
        return [[1] + [max(lo, min(u, len(b))) for b, lo in zip(s, low)] + [1] for s, low in zip(spectra, lowest)]

    u, longest = min_rank, max((len(b) for s in spectra for b in s), default=1)
    while u < longest and _core_params(uniform(u + 1), sizes) <= budget:
        u += 1
    from_uniform = _local_search(uniform(u), losses, lowest, sizes, budget)
    return joint if objective(joint) <= objective(from_uniform) else from_uniform


def _greedy_ranks(spectra, sizes, budget: int, start) -> list:
    """``allocate_ranks(..., method="greedy")`` from the ranks ``start``, which fit."""
    ranks = [list(r) for r in start]
    left = budget - _core_params(ranks, sizes)
    energy = [[float(np.sum(b**2)) for b in s] for s in spectra]
    while True:
        best, best_value = None, 0.0
        for layer, (s, r, n) in enumerate(zip(spectra, ranks, sizes)):
            for k, values in enumerate(s):                 # bond k+1, between cores k and k+1 (0-based)
                if r[k + 1] >= len(values):
                    continue
                cost = n[k] * r[k] + n[k + 1] * r[k + 2]
                value = values[r[k + 1]] ** 2 / energy[layer][k] / cost
                if cost <= left and value > best_value:
                    best, best_value = (layer, k, cost), value
        if best is None:
            return [tuple(r) for r in ranks]
        layer, k, cost = best
        ranks[layer][k + 1] += 1
        left -= cost


def allocate_layer_ranks(layers: dict, budget: int, *, min_rank: int = 1, method: str = "lagrangian") -> dict:
    """:func:`allocate_ranks` for TT layers (or anything :func:`bond_profile` reads): ``{name: rank tuple}``.

    The spectra are those of the layers' weights in canonical form; the
    layers are not changed.

    >>> layers = {"a": TTLinear(64, 64, 4, in_modes=(4, 4, 4), out_modes=(4, 4, 4))}
    >>> ranks = allocate_layer_ranks(layers, budget=400)
    >>> sum(r[k] * 16 * r[k + 1] for r in ranks.values() for k in range(3)) <= 400
    True
    """
    if not isinstance(layers, dict) or not layers:
        raise TypeError("allocate_layer_ranks: layers must be a non-empty dict {name: TT layer}")
    spectra = [bond_profile(layer).spectra for layer in layers.values()]
    sizes = [as_tt(layer).shape for layer in layers.values()]
    return dict(zip(layers, allocate_ranks(spectra, sizes, budget, min_rank=min_rank, method=method)))


@dataclass(frozen=True, repr=False)
class BondProfile:
    """The bonds of a train in canonical form: spectra, entropies, truncation errors.

    Attributes
    ----------
    spectra : tuple of d-1 float64 arrays
        ``spectra[k-1]``: the singular values at bond ``k`` (between ``G_k`` and
        ``G_{k+1}``), decreasing, as :func:`tnnlib.tt.bond_spectra` gives them.
    rank : tuple ``(1, r_1, ..., r_{d-1}, 1)``, the bond dimensions stored
    max_rank : tuple ``(1, ..., 1)``, the largest useful rank of each bond
        (:func:`tnnlib.tt.max_tt_ranks`); a bond at its maximum is not a compression.
    """

    spectra: tuple
    rank: tuple
    max_rank: tuple

    @property
    def n_bonds(self) -> int:
        """``d - 1``."""
        return len(self.spectra)

    @property
    def norm(self) -> float:
        """Frobenius norm of the tensor (the same at every bond)."""
        return float(np.linalg.norm(self.spectra[0])) if self.spectra else 0.0

    def entropies(self, alpha: float = 1.0) -> np.ndarray:
        """Renyi entropy of every bond (von Neumann for ``alpha = 1``), shape ``(d - 1,)``."""
        return np.array([renyi_entropy(s, alpha) for s in self.spectra])

    def effective_ranks(self, alpha: float = 1.0) -> np.ndarray:
        """``exp(S_alpha)`` per bond: how many equally strong channels would have the same entropy."""
        return np.exp(self.entropies(alpha))

    def truncation_errors(self, rank) -> np.ndarray:
        """Relative error of cutting each bond alone to ``rank`` (an int, or one per bond)."""
        ranks = [rank] * self.n_bonds if is_int(rank) else list(rank)
        if len(ranks) != self.n_bonds:
            raise ValueError(f"BondProfile.truncation_errors: need one rank per bond ({self.n_bonds}), got {ranks}")
        return np.array([truncation_error(s, r) for s, r in zip(self.spectra, ranks)])

    def ranks_for_error(self, eps: float) -> tuple:
        """:func:`ranks_for_error` of these spectra."""
        return ranks_for_error(self.spectra, eps)

    def table(self, alphas=(1.0, 2.0)) -> str:
        """One line per bond: rank, largest useful rank, entropies, ``exp(S)``, relative tail at half the rank."""
        head = f"{'bond':>4} {'r_k':>4} {'max':>5} " + " ".join(f"{'S_' + _alpha_name(a):>7}" for a in alphas)
        lines = [head + f" {'exp(S)':>7} {'err@r/2':>8}"]
        entropies = [self.entropies(a) for a in alphas]
        for k, s in enumerate(self.spectra):
            values = " ".join(f"{e[k]:7.3f}" for e in entropies)
            half = truncation_error(s, max(1, self.rank[k + 1] // 2))
            lines.append(f"{k + 1:>4} {self.rank[k + 1]:>4} {self.max_rank[k + 1]:>5} {values} "
                         f"{math.exp(renyi_entropy(s)):7.2f} {half:8.3f}")
        return "\n".join(lines)

    def __repr__(self):
        entropies = ", ".join(f"{e:.3f}" for e in self.entropies())
        return f"BondProfile(rank={self.rank}, entropies=[{entropies}], norm={self.norm:.4g})"


def _alpha_name(alpha) -> str:
    return "inf" if math.isinf(alpha) else f"{alpha:g}"


@torch.no_grad()
def bond_profile(obj) -> BondProfile:
    """Spectra of every bond of ``obj``, computed in canonical form (gauge-independent), in float64.

    ``obj``: a TTTensor, a TTMatrix, a TT layer or a list of cores (see the
    module docstring). The cores are not changed.
    """
    tt = as_tt(obj)
    spectra = tuple(np.asarray(s, dtype=np.float64) for s in bond_spectra(tt))
    return BondProfile(spectra=spectra, rank=tt.rank, max_rank=max_tt_ranks(tt.shape))


# --------------------------------------------------------------------------
# The gauge, and fixing it
# --------------------------------------------------------------------------

def gauge_transform(cores, bond: int, matrix) -> list:
    """``G_k -> G_k A`` and ``G_{k+1} -> A^{-1} G_{k+1}`` on bond ``k`` (1-based): the same tensor, other cores.

    ``cores``: TT (3-axis) or TT-matrix (4-axis) cores, NumPy or torch;
    ``matrix``: an invertible ``(r_k, r_k)`` array of the same kind and dtype.
    Returns a new list; the input is not changed.
    """
    cores = list(cores)
    if not is_int(bond) or not 1 <= bond < len(cores):
        raise ValueError(f"gauge_transform: bond must be an integer in [1, {len(cores) - 1}], got {bond!r}")
    left, right = cores[bond - 1], cores[bond]
    r = left.shape[-1]
    if tuple(matrix.shape) != (r, r):
        raise ValueError(f"gauge_transform: bond {bond} has dimension {r}, so the matrix must be ({r}, {r}), "
                         f"got {tuple(matrix.shape)}")
    cores[bond - 1] = (left.reshape(-1, r) @ matrix).reshape(left.shape)
    cores[bond] = solve(matrix, right.reshape(r, -1)).reshape(right.shape)
    return cores


def _random_invertible(r: int, rng: np.random.Generator) -> np.ndarray:
    """``Q_1 diag(e^u) Q_2`` with random orthogonal ``Q`` and ``u`` uniform in [-1, 1]: condition number <= e^2."""
    q1, _ = np.linalg.qr(rng.standard_normal((r, r)))
    q2, _ = np.linalg.qr(rng.standard_normal((r, r)))
    return (q1 * np.exp(rng.uniform(-1, 1, r))) @ q2


def random_gauge(obj, *, seed=None):
    """``obj`` with a random invertible matrix on every bond (:func:`gauge_transform`): same tensor, other cores.

    ``obj``: a list of cores (a new list is returned), a TTTensor / TTMatrix (a
    new one), or a module with ``cores`` (a deep copy whose cores are changed;
    its output stays the same up to rounding).
    """
    rng = np.random.default_rng(seed)

    def transform(cores):
        cores = list(cores)
        for k in range(1, len(cores)):
            A = _random_invertible(cores[k - 1].shape[-1], rng)
            like = cores[k - 1]
            A = torch.as_tensor(A, dtype=like.dtype, device=like.device) if isinstance(like, torch.Tensor) \
                else A.astype(like.dtype)
            cores = gauge_transform(cores, k, A)
        return cores

    if isinstance(obj, (TTTensor, TTMatrix)):
        return type(obj)(transform(obj.cores))
    if isinstance(obj, nn.Module):
        new = copy.deepcopy(obj)
        with torch.no_grad():
            for param, core in zip(new.cores, transform([c.detach() for c in new.cores])):
                param.copy_(core)
        return new
    if isinstance(obj, (list, tuple)):
        return transform(obj)
    raise TypeError(f"random_gauge: expected cores, a TTTensor, a TTMatrix or a TT layer, got {type(obj).__name__}")


def left_canonicalize(cores) -> list:
    """The same TT or TT-matrix with cores ``G_1 .. G_{d-1}`` left-orthogonal (QR sweep, lesson 03).

    Each core ``(r_{k-1}, i_k, j_k, r_k)``, read as a ``(r_{k-1} i_k j_k) x r_k``
    matrix, gets orthonormal columns; the last core keeps the norm. The
    tensor (the layer's weight ``W``) is unchanged; ranks may shrink where
    they exceed ``r_{k-1} i_k j_k``. Uses :func:`tnnlib.tt.left_orthogonalize`
    on the TT of the interleaved tensor. Returns a new list of the same kind
    and dtype (detached from autograd); the input is not changed.
    """
    cores = [c.detach() if isinstance(c, torch.Tensor) else c for c in cores]
    left = left_orthogonalize(TTTensor(_merge_modes(cores)))
    return [new.reshape(new.shape[0], *old.shape[1:-1], new.shape[-1]) for new, old in zip(left.cores, cores)]


def _fix_signs(cores) -> None:
    """Flip the sign of each bond channel so that the largest entry of its column in ``G_k`` is positive.

    A Schmidt vector is defined up to its sign; this convention removes that
    freedom (``G_k``'s column and ``G_{k+1}``'s row flip together). In place.
    """
    for k in range(len(cores) - 1):
        r = cores[k].shape[-1]
        columns = cores[k].reshape(-1, r)
        signs = np.sign(columns[np.argmax(np.abs(columns), axis=0), np.arange(r)])
        signs[signs == 0] = 1
        cores[k] = cores[k] * signs
        cores[k + 1] = cores[k + 1] * signs.reshape((r,) + (1,) * (cores[k + 1].ndim - 1))


@torch.no_grad()
def canonical_cores(obj) -> tuple:
    """Cores of ``obj`` in the *Schmidt gauge*, and the spectra: ``(cores, spectra)``, float64 NumPy.

    The gauge: left-canonical (cores ``1..d-1`` left-orthogonal), with the
    channels of every bond ``k`` the left Schmidt vectors of the unfolding
    ``A_<k>``, in decreasing order of ``s_a``, each with the sign that makes the
    largest entry of its column of ``G_k`` positive. Computed by TT rounding
    (:func:`tnnlib.tt.tt_round` with LAPACK SVDs, dropping only singular values
    at the rounding level, so ranks are the numerical ranks). Any two gauges of
    one tensor give the same cores (up to rounding, and to rotations within
    equal singular values). ``spectra[k-1]`` has ``r_k`` values, those of the
    returned cores.
    """
    cores = _cores64(obj, "canonical_cores")
    rounded = tt_round(TTTensor(_merge_modes(cores)), method="svd")
    spectra = [np.asarray(s, dtype=np.float64) for s in bond_spectra(rounded)]
    new = [c.reshape(c.shape[0], *old.shape[1:-1], c.shape[-1]) for c, old in zip(rounded.cores, cores)]
    _fix_signs(new)
    return new, spectra


# --------------------------------------------------------------------------
# Truncating a TT layer where its spectra say
# --------------------------------------------------------------------------

@torch.no_grad()
def truncate(layer: TTLinear, *, max_rank=None, eps=None) -> TTLinear:
    """A new :class:`~tnnlib.nn.TTLinear` whose weight is ``layer``'s cut to smaller ranks.

    TT rounding (:func:`tnnlib.tt.tt_round`) of the layer's weight in float64:
    with ``eps``, ``||W - W_cut||_F <= eps ||W||_F``; with ``max_rank`` (an int
    or one per bond, e.g. from :func:`ranks_for_error`), at most those ranks.
    Same modes, dtype and device; the bias is copied; ``layer`` is unchanged.

    >>> layer = TTLinear(64, 64, 8, in_modes=(4, 4, 4), out_modes=(4, 4, 4))
    >>> truncate(layer, max_rank=(4, 3)).rank
    (1, 4, 3, 1)
    """
    if not isinstance(layer, TTLinear):
        raise TypeError(f"truncate: expected a TTLinear, got {type(layer).__name__}")
    rounded = tt_round(as_tt(layer), max_rank=max_rank, eps=eps, method="svd")
    param = layer.cores[0]
    new = TTLinear(layer.in_features, layer.out_features, rounded.rank, in_modes=layer.in_modes,
                   out_modes=layer.out_modes, bias=layer.bias is not None, device=param.device, dtype=param.dtype)
    for target, core, i, j in zip(new.cores, rounded.cores, layer.out_modes, layer.in_modes):
        target.copy_(torch.as_tensor(core.reshape(core.shape[0], i, j, core.shape[2])))
    if layer.bias is not None:
        new.bias.copy_(layer.bias)
    new.strategy = layer.strategy
    return new


def truncate_layers(model: nn.Module, *, max_rank=None, eps=None, inplace: bool = False) -> tuple:
    """The TT layers of ``model`` cut to smaller ranks by :func:`truncate`: ``(model, report)``.

    ``max_rank``: an int or a rank sequence for every :class:`~tnnlib.nn.TTLinear`
    of the model, or a dict ``{submodule name: int or ranks}`` (layers not named
    are left as they are); a layer's ranks may be its ``d - 1`` inner ranks or
    all ``d + 1`` ranks ``(1, r_1, ..., 1)``, as ``.rank`` and
    :func:`allocate_ranks` give them. ``eps``: as for :func:`truncate`, per layer.
    Each layer is replaced by its truncated copy (same modes, dtype, device, bias,
    strategy). ``inplace=False`` (the default) works on a deep copy; the report
    is ``{name: (rank before, rank after)}``.

    >>> model = nn.Sequential(TTLinear(64, 64, 8, in_modes=(4, 4, 4), out_modes=(4, 4, 4)), nn.ReLU())
    >>> small, report = truncate_layers(model, max_rank={"0": (1, 4, 2, 1)})
    >>> report, model[0].rank
    ({'0': ((1, 8, 8, 1), (1, 4, 2, 1))}, (1, 8, 8, 1))
    """
    where = "truncate_layers"
    if not isinstance(model, nn.Module):
        raise TypeError(f"{where}: expected an nn.Module, got {type(model).__name__}")
    if not isinstance(inplace, bool):
        raise TypeError(f"{where}: inplace must be True or False, got {inplace!r}")
    layers = {name: m for name, m in model.named_modules() if isinstance(m, TTLinear)}
    if isinstance(max_rank, dict):
        missing = [name for name in max_rank if name not in layers]
        if missing:
            raise KeyError(f"{where}: no TTLinear named {missing}; the model's TT layers: {list(layers)}")
        wanted = dict(max_rank)
    else:
        if not layers:
            raise ValueError(f"{where}: {type(model).__name__} contains no TTLinear")
        wanted = {name: max_rank for name in layers}
    if not inplace:
        model = copy.deepcopy(model)
    modules = dict(model.named_modules())
    report = {}
    for name, ranks in wanted.items():
        layer = modules[name] if name else model
        d = len(layer.in_modes)
        if ranks is not None and not is_int(ranks) and len(ranks) == d + 1:
            if ranks[0] != 1 or ranks[-1] != 1:
                raise ValueError(f"{where}: layer {name!r}: all d+1 ranks must start and end with 1, "
                                 f"got {tuple(ranks)}")
            ranks = tuple(ranks[1:-1])
        new = truncate(layer, max_rank=ranks, eps=eps)
        report[name] = (layer.rank, new.rank)
        if not name:
            return new, report
        parent_name, _, child = name.rpartition(".")
        setattr(modules[parent_name] if parent_name else model, child, new)
    return model, report


# --------------------------------------------------------------------------
# What flows through the bonds: states and features
# --------------------------------------------------------------------------

def bond_states(x: torch.Tensor, cores) -> list:
    """The intermediate results on the bonds of the product ``x W^T``, core by core.

    The core-by-core contraction of :meth:`tnnlib.nn.TTLinear.reference_forward`
    (first core first) holds, after core ``k``, the input contracted with
    ``G_1 .. G_k``: the state on bond ``k``. Here it is computed the same way
    but in one matrix product per bond: merge ``G_1 .. G_k`` into one core
    (:func:`tnnlib.nn.tt_linear.merge_cores`, shape ``(1, i_1..i_k, j_1..j_k, r_k)``)
    and apply it to the input modes it reads (fewer FLOPs than the chain when
    a middle rank is large; the same numbers).

    Parameters
    ----------
    x : tensor, shape (B, N) with ``N = j_1 ... j_d``
    cores : d tensors ``(r_{k-1}, i_k, j_k, r_k)``, same dtype and device as ``x``

    Returns
    -------
    list of d-1 tensors; entry ``k-1`` has shape ``(B, r_k, i_1 ... i_k, j_{k+1} ... j_d)``:

        Z_k[b, a, (i_1..i_k), (j_{k+1}..j_d)] =
            sum_{j_1..j_k} (G_1[:, i_1, j_1, :] ... G_k[:, i_k, j_k, :])[0, a] x[b, (j_1..j_d)],

    the multi-indices in C order (``i_1`` slowest). The output is what the
    remaining cores ``G_{k+1} .. G_d`` make of ``Z_k``.
    """
    batch, n_in = x.shape
    states, prefix = [], cores[0]                                    # prefix: G_1..G_k merged
    for core in cores[1:]:
        _, outputs_done, inputs_read, r = prefix.shape               # (1, i_1..i_k, j_1..j_k, r_k)
        left = prefix[0].permute(2, 0, 1).reshape(r * outputs_done, inputs_read)
        z = left @ x.reshape(batch, inputs_read, -1)                 # (B, r_k i_1..i_k, j_{k+1}..j_d)
        states.append(z.reshape(batch, r, outputs_done, -1))
        prefix = merge_cores([prefix, core])
    return states


@torch.no_grad()
def layer_bond_states(layer: TTLinear, x: torch.Tensor, *, gauge: str = "canonical") -> list:
    """The bond states of a TT layer for the inputs ``x`` (shape ``(..., in_features)``), without gradients.

    ``gauge="canonical"``: computed with the cores of :func:`canonical_cores`
    (found in float64) and each channel scaled by its singular value ``s_a``
    (the state on bond ``k`` in the mixed canonical form centred there): a
    property of the layer's weight, the same for any gauge of its cores.
    ``gauge="raw"``: with the layer's own cores, as its forward pass computes
    them. The contraction runs in the dtype of ``x`` (float64 for float64
    inputs, float32 for a float32 model). Shapes as in :func:`bond_states`,
    with ``B`` the number of input rows.
    """
    x = x.detach().reshape(-1, layer.in_features)
    if gauge == "raw":
        return bond_states(x, [c.detach().to(x.dtype) for c in layer.cores])
    if gauge != "canonical":
        raise ValueError(f"layer_bond_states: gauge must be 'canonical' or 'raw', got {gauge!r}")
    cores, spectra = canonical_cores(layer)
    states = bond_states(x, [torch.as_tensor(c, dtype=x.dtype, device=x.device) for c in cores])
    return [z * torch.as_tensor(s, dtype=x.dtype, device=x.device)[None, :, None, None]
            for z, s in zip(states, spectra)]


def bond_features(states, reduce: str = "rms") -> list:
    """One vector per example and bond from the bond states ``(B, r_k, I, J)``.

    ``reduce="rms"``: ``(B, r_k)``, the root mean square of each channel over
    the open indices ``I, J`` (how strongly the example excites the channel,
    whatever the position; sign-free). ``reduce="flatten"``: ``(B, r_k I J)``,
    everything.
    """
    if reduce == "rms":
        return [z.pow(2).mean(dim=(2, 3)).sqrt() for z in states]
    if reduce == "flatten":
        return [z.reshape(z.shape[0], -1) for z in states]
    raise ValueError(f"bond_features: reduce must be 'rms' or 'flatten', got {reduce!r}")


def tt_layers(model: nn.Module, layers=None) -> dict:
    """``{name: module}``: the TT layers of ``model`` (``layers=None``: every :class:`TTLinear` and every
    module with ``bond_cores()``; a bare layer is called ``"layer"``), or the submodules named in ``layers``."""
    if isinstance(layers, dict):
        return dict(layers)
    if layers is not None:
        modules = dict(model.named_modules())
        missing = [name for name in layers if name not in modules]
        if missing:
            raise KeyError(f"tt_layers: the model has no submodule {missing}; TT layers: {list(tt_layers(model))}")
        return {name: modules[name] for name in layers}
    found = {name or "layer": m for name, m in model.named_modules()
             if isinstance(m, TTLinear) or hasattr(m, "bond_cores")}
    if not found:
        raise ValueError(f"tt_layers: {type(model).__name__} contains no TT layer")
    return found


class BondRecorder:
    """Records bond features (or whole states) of TT layers during forward passes; see :func:`capture_bonds`.

    After (or during) the ``with`` block: :meth:`features` and :meth:`states`
    give what was recorded, concatenated over the batches, as float64 NumPy arrays.
    """

    def __init__(self, layers: dict, gauge: str, keep: str):
        if gauge not in ("canonical", "raw"):
            raise ValueError(f"capture_bonds: gauge must be 'canonical' or 'raw', got {gauge!r}")
        if keep not in ("features", "states"):
            raise ValueError(f"capture_bonds: keep must be 'features' or 'states', got {keep!r}")
        for name, layer in layers.items():
            if not isinstance(layer, TTLinear):
                raise TypeError(f"capture_bonds: {name!r} is a {type(layer).__name__}, not a TTLinear")
        self.layers, self.gauge, self.keep = layers, gauge, keep
        self._records = {name: [] for name in layers}
        self._handles = []

    @property
    def names(self) -> list:
        """The recorded layers' names."""
        return list(self.layers)

    def __enter__(self) -> BondRecorder:
        for name, layer in self.layers.items():
            self._handles.append(layer.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, name):
        def record(module, inputs, output):            # returns None: the output is left as it is
            states = layer_bond_states(module, inputs[0], gauge=self.gauge)
            kept = bond_features(states) if self.keep == "features" else states
            self._records[name].append([t.to("cpu", torch.float64) for t in kept])
        return record

    def _get(self, name, what):
        if self.keep != what:
            raise ValueError(f"BondRecorder: this recorder kept {self.keep}, not {what} (capture_bonds(keep=...))")
        if name is None:
            if len(self.layers) != 1:
                raise ValueError(f"BondRecorder: name one of the layers {self.names}")
            name = self.names[0]
        batches = self._records[name]
        if not batches:
            raise ValueError(f"BondRecorder: nothing recorded for {name!r}: run the model inside the with-block")
        return [torch.cat(per_bond).numpy() for per_bond in zip(*batches)]

    def features(self, name: str | None = None) -> list:
        """Per bond, the features ``(N, r_k)`` of every example seen (``keep="features"``)."""
        return self._get(name, "features")

    def states(self, name: str | None = None) -> list:
        """Per bond, the states ``(N, r_k, I, J)`` of every example seen (``keep="states"``)."""
        return self._get(name, "states")


def capture_bonds(model: nn.Module, layers=None, *, gauge: str = "canonical", keep: str = "features") -> BondRecorder:
    """Record what flows through the bonds of the TT layers of ``model`` while it runs.

    >>> model = nn.Sequential(TTLinear(16, 16, 3, in_modes=(4, 4), out_modes=(4, 4)), nn.ReLU())
    >>> with capture_bonds(model) as rec:
    ...     y = model(torch.randn(5, 16))
    >>> [f.shape for f in rec.features("0")]
    [(5, 3)]

    A forward hook on each layer computes its bond states with
    :func:`layer_bond_states` (``gauge``) and keeps the features
    (:func:`bond_features`, ``keep="features"``) or the whole states
    (``keep="states"``, large: ``r_k I J`` numbers per example and bond). The
    layer's output is not touched, and leaving the ``with`` block removes the
    hooks, so the layer is as fast as before. ``layers``: names of submodules,
    or None for every TT layer (:func:`tt_layers`).
    """
    return BondRecorder(tt_layers(model, layers), gauge, keep)


@torch.no_grad()
def collect_features(model: nn.Module, inputs, *, layers=None, gauge: str = "canonical",
                     batch_size: int = 256) -> dict:
    """``{layer name: [features (N, r_k) per bond]}`` for ``inputs``, the model in eval mode.

    Runs ``model`` on ``inputs`` (array or tensor, first axis the examples)
    batch by batch inside :func:`capture_bonds`; the model's mode is restored.
    """
    batch_size = check_positive_int(batch_size, "batch_size", "collect_features")
    param = next(model.parameters())
    inputs = torch.as_tensor(inputs)
    was_training = model.training
    model.eval()
    try:
        with capture_bonds(model, layers, gauge=gauge) as recorder:
            for start in range(0, len(inputs), batch_size):
                model(inputs[start:start + batch_size].to(param.device, param.dtype))
    finally:
        model.train(was_training)
    return {name: recorder.features(name) for name in recorder.names}


# --------------------------------------------------------------------------
# Reading the features: probes, components, class means
# --------------------------------------------------------------------------

def _features_and_labels(features, labels, where: str) -> tuple:
    f = torch.as_tensor(np.asarray(features.detach().cpu() if isinstance(features, torch.Tensor) else features),
                        dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels))
    if f.ndim != 2 or y.ndim != 1 or len(f) != len(y) or len(y) == 0:
        raise ValueError(f"{where}: features must be (N, r) and labels (N,), got {tuple(f.shape)} and {tuple(y.shape)}")
    if y.dtype.is_floating_point or y.dtype == torch.bool or (y < 0).any():
        raise ValueError(f"{where}: labels must be non-negative integer class indices")
    return f, y.long()


@dataclass
class ProbeResult:
    """What :func:`linear_probe` found: held-out and training accuracy, and the probe itself.

    ``weight`` ``(C, r)`` and ``bias`` ``(C,)`` act on standardised features
    ``(f - mean) / std`` (``mean``, ``std`` of the training features).
    """

    test_accuracy: float
    train_accuracy: float
    weight: np.ndarray
    bias: np.ndarray
    mean: np.ndarray
    std: np.ndarray


def linear_probe(train_features, train_labels, test_features, test_labels, *, n_classes: int | None = None,
                 steps: int = 100, weight_decay: float = 1e-3) -> ProbeResult:
    """Multinomial logistic regression on features, trained on one set and measured on another.

    How much class information is *linearly decodable* from the features: the
    features are standardised with the training set's mean and std, and a
    linear map ``C x r`` plus bias is fitted by minimising the cross-entropy
    plus ``weight_decay ||weight||^2`` with full-batch L-BFGS (``steps``
    iterations, float64, started from zero: deterministic). The accuracy that
    counts is on the held-out ``test_*`` data; the training accuracy is
    reported to show over-fitting.
    """
    where = "linear_probe"
    f_train, y_train = _features_and_labels(train_features, train_labels, where)
    f_test, y_test = _features_and_labels(test_features, test_labels, where)
    if f_train.shape[1] != f_test.shape[1]:
        raise ValueError(f"{where}: training features have {f_train.shape[1]} columns, test features {f_test.shape[1]}")
    steps = check_positive_int(steps, "steps", where)
    n_classes = int(max(y_train.max(), y_test.max())) + 1 if n_classes is None else n_classes
    mean, std = f_train.mean(0), f_train.std(0, unbiased=False).clamp_min(1e-12)
    z_train, z_test = (f_train - mean) / std, (f_test - mean) / std
    weight = torch.zeros(n_classes, f_train.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1, max_iter=steps, history_size=20,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(z_train @ weight.T + bias, y_train) + weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        train_acc = ((z_train @ weight.T + bias).argmax(1) == y_train).double().mean().item()
        test_acc = ((z_test @ weight.T + bias).argmax(1) == y_test).double().mean().item()
    return ProbeResult(test_acc, train_acc, weight.detach().numpy(), bias.detach().numpy(), mean.numpy(), std.numpy())


def probe_accuracy(train_features, train_labels, test_features, test_labels) -> float:
    """Held-out accuracy of a linear probe (:func:`linear_probe` with its defaults), a float in [0, 1]."""
    return linear_probe(train_features, train_labels, test_features, test_labels).test_accuracy


@dataclass
class Components:
    """Principal components of features: ``scores (N, k)``, ``components (k, r)`` (unit rows),
    ``explained_variance_ratio (k,)``, ``mean (r,)``."""

    scores: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray
    mean: np.ndarray


def principal_components(features, n_components: int = 2) -> Components:
    """PCA of ``features`` ``(N, r)``: the truncated SVD (:func:`tnnlib.svd.truncated_svd`) of the centred data.

    Each component's sign is chosen so that its largest loading is positive
    (a fixed convention, so equal inputs give equal pictures).
    """
    f = np.asarray(features.detach().cpu() if isinstance(features, torch.Tensor) else features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"principal_components: features must be (N, r) with N >= 2, got shape {f.shape}")
    n_components = check_positive_int(n_components, "n_components", "principal_components")
    mean = f.mean(0)
    centred = f - mean
    U, S, Vh = truncated_svd(centred, max_rank=n_components)
    signs = np.sign(Vh[np.arange(len(Vh)), np.argmax(np.abs(Vh), axis=1)])
    signs[signs == 0] = 1
    total = float(np.sum(centred**2))
    ratio = S**2 / total if total > 0 else np.zeros_like(S)
    return Components(U * S * signs, Vh * signs[:, None], ratio, mean)


def class_means(features, labels, n_classes: int | None = None) -> np.ndarray:
    """The mean feature vector of each class, ``(C, r)`` (NaN rows for classes with no example)."""
    f, y = _features_and_labels(features, labels, "class_means")
    n_classes = int(y.max()) + 1 if n_classes is None else n_classes
    sums = torch.zeros(n_classes, f.shape[1], dtype=torch.float64).index_add_(0, y, f)
    counts = torch.bincount(y, minlength=n_classes).double()
    return (sums / counts[:, None]).numpy()


def class_variance_ratio(features, labels) -> np.ndarray:
    """Per channel, the fraction of the variance explained by the class (``eta^2``), shape ``(r,)``.

    ``sum_c n_c (mu_c - mu)^2 / sum_n (f_n - mu)^2``: 0 when the channel
    looks the same for every class, 1 when it is constant within each class.
    """
    f, y = _features_and_labels(features, labels, "class_variance_ratio")
    means = torch.as_tensor(class_means(f, y))
    counts = torch.bincount(y, minlength=len(means)).double()
    present = counts > 0
    between = (counts[present, None] * (means[present] - f.mean(0)) ** 2).sum(0)
    total = ((f - f.mean(0)) ** 2).sum(0)
    return torch.where(total > 0, between / total.clamp_min(1e-300), torch.zeros_like(total)).numpy()


# --------------------------------------------------------------------------
# Watching the bonds during training
# --------------------------------------------------------------------------

class BondTracker:
    """A callback of :func:`tnnlib.train.fit` that records the bond profiles of TT layers during training.

    Parameters
    ----------
    model : nn.Module
        The model being trained (or a TT layer).
    layers : names of submodules, optional
        Default: every TT layer (:func:`tt_layers`).
    every_steps : int, optional
        Record every so many optimizer steps; default: at the end of every epoch.
        The state before training (step 0) and after the last step are always recorded.

    Attributes
    ----------
    steps : list of int
        The optimizer step of each record (counted across several ``fit`` calls).
    epochs : list of int
        The epoch in progress at each record (0 before training).
    profiles : dict of str to list of :class:`BondProfile`
        One per record and layer.

    Recording costs a few small SVDs per layer, runs without gradients and
    touches no random state: training goes exactly as it would without it.
    """

    def __init__(self, model: nn.Module, layers=None, *, every_steps: int | None = None):
        self.layers = tt_layers(model, layers)
        self.every_steps = None if every_steps is None else check_positive_int(every_steps, "every_steps",
                                                                                "BondTracker")
        self.steps, self.epochs = [], []
        self.profiles = {name: [] for name in self.layers}
        self._offset = 0

    @property
    def names(self) -> list:
        return list(self.layers)

    def record(self, step: int, epoch: int = 0) -> None:
        """Add the current profile of every layer, labelled ``step`` (and ``epoch``)."""
        self.steps.append(int(step))
        self.epochs.append(int(epoch))
        for name, layer in self.layers.items():
            self.profiles[name].append(bond_profile(layer))

    def _record_now(self, state) -> None:
        step = self._offset + state.step
        if not self.steps or self.steps[-1] != step:
            self.record(step, state.epoch)

    def on_train_begin(self, state) -> None:
        self._offset = self.steps[-1] if self.steps else 0
        self._record_now(state)

    def on_step_end(self, state) -> None:
        if self.every_steps is not None and state.step % self.every_steps == 0:
            self._record_now(state)

    def on_epoch_end(self, state) -> None:
        if self.every_steps is None:
            self._record_now(state)

    def on_train_end(self, state) -> None:
        self._record_now(state)

    def layer_name(self, layer=None) -> str:
        """The name of ``layer``, checked; None is the only layer when there is one."""
        if layer is None:
            if len(self.layers) != 1:
                raise ValueError(f"BondTracker: name one of the layers {self.names}")
            return self.names[0]
        if layer not in self.profiles:
            raise KeyError(f"BondTracker: no layer {layer!r}; tracked: {self.names}")
        return layer

    def entropies(self, layer: str | None = None, alpha: float = 1.0) -> np.ndarray:
        """``(n_records, d - 1)``: the Renyi entropy of every bond at every record."""
        return np.array([p.entropies(alpha) for p in self.profiles[self.layer_name(layer)]])

    def spectra(self, layer: str | None = None, bond: int = 1) -> np.ndarray:
        """``(n_records, r_k)``: the singular values of ``bond`` (1-based) at every record."""
        profiles = self.profiles[self.layer_name(layer)]
        if not profiles:
            raise ValueError("BondTracker: nothing recorded yet")
        if not is_int(bond) or not 1 <= bond <= profiles[0].n_bonds:
            raise ValueError(f"BondTracker.spectra: bond must be in [1, {profiles[0].n_bonds}], got {bond!r}")
        return np.array([p.spectra[bond - 1] for p in profiles])
