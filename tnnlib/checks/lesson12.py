"""Checkers of lesson 12: scaling properties and open problems (the parameters of a TT layer, the dense width of a
matched budget, reordering the modes of the input, greedy rank allocation under a budget).

The lesson computes in torch; counts and ranks are Python integers (:func:`tnnlib.checking.expect_integer`), the
reordered inputs torch tensors of the inputs' dtype (float64 here).
"""
import math

import numpy as np
import torch

from .. import bonds as _bonds
from .. import scaling as _scaling
from ..checking import ExerciseFailed, describe, exercise, expect, expect_array, expect_close, expect_integer
from ..nn import TTLinear

# --------------------------------------------------------------------------
# References under the exercises' names
# --------------------------------------------------------------------------


def _tt_params(*, out_modes, in_modes, rank):
    """``sum_k r_{k-1} i_k j_k r_k``."""
    return _scaling.tt_linear_params(out_modes=out_modes, in_modes=in_modes, rank=rank)


def _dense_mlp_params(h, in_features, n_classes):
    return h * h + (in_features + n_classes + 2) * h + n_classes


def _dense_width(n_params, *, in_features=784, n_classes=10):
    """The width of ``dense_mlp`` whose parameter count is closest to ``n_params`` (the smaller on a tie)."""
    return _scaling.width_for(n_params, lambda h: _dense_mlp_params(h, in_features, n_classes))


def _reorder_modes(x, modes, order):
    """``x`` (N, P) with its modes reordered: new mode m is old mode order[m]."""
    return _scaling.permute_pixels(x, _scaling.mode_order(modes, order))


def _greedy_ranks(spectra, sizes, budget):
    """Greedy ranks of one TT layer under ``budget`` parameters (``tnnlib.bonds.allocate_ranks(method="greedy")``)."""
    return _bonds.allocate_ranks([spectra], [sizes], budget, method="greedy")[0]


# --------------------------------------------------------------------------
# Exercises
# --------------------------------------------------------------------------


#: (out_modes, in_modes, rank) for 12.1: square and rectangular, uniform and uneven ranks, d = 1 to 5
_TT_SHAPES = [((4, 4, 4, 4), (4, 7, 7, 4), (1, 8, 8, 8, 1)), ((4, 8, 8, 4), (4, 8, 8, 4), (1, 3, 5, 2, 1)),
              ((2, 3), (5, 7), (1, 4, 1)), ((2, 4, 4, 2), (4, 7, 7, 4), (1, 6, 20, 6, 1)), ((8,), (3,), (1, 1)),
              ((2, 2, 2, 2, 2), (3, 3, 3, 3, 3), (1, 2, 3, 4, 5, 1))]


@exercise("12.1", "the parameters of a TT layer", reference=_tt_params)
def tt_params(answer):
    for out_modes, in_modes, rank in _TT_SHAPES:
        what = f"tt_params(out_modes={out_modes}, in_modes={in_modes}, rank={rank})"
        got = expect_integer(answer(out_modes=out_modes, in_modes=in_modes, rank=rank), what)
        expected = _tt_params(out_modes=out_modes, in_modes=in_modes, rank=rank)
        layer = TTLinear(math.prod(in_modes), math.prod(out_modes), rank, in_modes=in_modes, out_modes=out_modes)
        expect(got == expected,
               f"{what}: expected {expected:,}, got {got:,}. Core k has shape (r_(k-1), i_k, j_k, r_k), so "
               f"r_(k-1) i_k j_k r_k numbers; the layer itself reports weight_parameters() = "
               f"{layer.weight_parameters():,}. Core shapes: "
               + ", ".join(str(tuple(c.shape)) for c in layer.cores))
    return "6 layers with d = 1 to 5 modes, uneven ranks and rectangular modes agree with TTLinear's count."


@exercise("12.2", "the dense width of a matched budget", reference=_dense_width)
def dense_width(answer):
    cases = [(9226, 784, 10), (28170, 784, 10), (66058, 784, 10), (5546, 784, 10), (1_000_000, 784, 10),
             (4000, 64, 3), (120, 16, 2), (812, 784, 10), (838, 64, 3)]   # 838: h = 10 and 11 both 45 away
    for n_params, in_features, n_classes in cases:
        what = f"dense_width({n_params:,}, in_features={in_features}, n_classes={n_classes})"
        got = expect_integer(answer(n_params, in_features=in_features, n_classes=n_classes), what)
        expected = _dense_width(n_params, in_features=in_features, n_classes=n_classes)
        if got != expected:
            count = _dense_mlp_params(got, in_features, n_classes) if got >= 1 else None
            gap = abs(_dense_mlp_params(expected, in_features, n_classes) - n_params)
            tie = count is not None and abs(count - n_params) == gap
            raise ExerciseFailed(
                f"{what}: expected width {expected} ({_dense_mlp_params(expected, in_features, n_classes):,} "
                f"parameters), got {got}"
                + (f" ({count:,} parameters)" if count is not None else "")
                + f". The MLP {in_features} -> h -> h -> {n_classes} with biases has h^2 + "
                f"({in_features} + {n_classes} + 2) h + {n_classes} parameters; return the h whose count is "
                f"closest to the target (not the floor of the root), the smaller h on a tie"
                + (f". Here it is a tie: both widths are {gap:,} parameters from {n_params:,} (rounding the root "
                   f"picks the larger one; compare the two counts instead)" if tie else ""))
    return "9 budgets, other input sizes and class counts, a tie: the closest width every time."


def _inputs(n, size, seed):
    return torch.rand(n, size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@exercise("12.3", "reordering the modes of the input", reference=_reorder_modes)
def reorder_modes(answer):
    cases = [((2, 3), (1, 0)), ((4, 7, 7, 4), (0, 2, 1, 3)), ((4, 7, 7, 4), (1, 3, 0, 2)), ((2, 3, 4), (1, 2, 0)),
             ((2, 3, 4), (2, 0, 1)), ((5,), (0,)), ((2, 2, 3, 2), (3, 2, 1, 0))]
    for seed, (modes, order) in enumerate(cases):
        size = math.prod(modes)
        x = _inputs(3, size, seed)
        what = f"reorder_modes(x, modes={modes}, order={order}) for x of shape {tuple(x.shape)}"
        given = x.clone()
        got = answer(given, modes, order)
        expect_array(got, what, kind="torch", shape=(3, size))
        expect(torch.equal(given, x),
               f"{what}: your function changed its input x (in place). The lesson calls it on the training images, "
               f"whose memory torch.as_tensor shares: return a new tensor and leave x as it is (no x[...] = ..., "
               f"x.copy_(...) or other in-place methods on x)")
        expected = _reorder_modes(x, modes, order)
        if not torch.equal(got, expected):
            ranked = torch.arange(2 * size, dtype=torch.float64).reshape(2, size)
            mine = answer(ranked.clone(), modes, order)
            want = _reorder_modes(ranked, modes, order)
            hint = ""
            if isinstance(mine, torch.Tensor) and mine.shape == (2, size):
                row = next((r for r in range(2) if not torch.equal(mine[r], want[r])), None)
                if row is not None:
                    shown = min(size, 12)
                    hint = (f"; on two rows holding the pixel numbers 0..{size - 1} and {size}..{2 * size - 1}, "
                            f"row {row} of yours starts {[int(v) for v in mine[row, :shown].tolist()]}, expected "
                            f"{[int(v) for v in want[row, :shown].tolist()]}"
                            + (" (each row is one input, reordered on its own)" if row > 0 else ""))
            raise ExerciseFailed(
                f"{what}: the pixels are not where they should be{hint}. Reshape each row to the modes {modes}, "
                f"move the axes so that new axis m is old axis order[m] (permute, keeping the batch axis first), "
                f"then flatten; a reshape to the new shape alone moves no pixel")
    x = _inputs(2, 24, 99)
    got = answer(x, (2, 3, 4), (0, 1, 2))
    expect_close(got, x, "reorder_modes(x, (2, 3, 4), order=(0, 1, 2)) (the identity order changes nothing)")
    return "7 mode shapes and orders (cyclic, reversed, 'coarse first'), on float64 rows, and the identity."


def _spectra(seed, lengths):
    rng = np.random.default_rng(seed)
    return [np.sort(rng.random(n) ** 2 * rng.uniform(0.5, 3))[::-1].copy() for n in lengths]


#: (spectra, sizes, budget) for 12.4: edge bonds cheap, middle bonds dear, budgets at which a step no longer fits,
#: and a tie (two bonds with the same spectrum and the same step cost: the first bond wins)
_ALLOCATION_CASES = [
    ([np.array([5.0, 3.0, 1.0, 0.5]), np.array([4.0, 0.2, 0.1])], (2, 2, 2), 20),
    ([np.array([4.0, 2.0, 1.0]), np.array([3.0, 0.1])], (2, 3, 2), 30),
    (_spectra(1, (16, 16, 16)), (16, 56, 56, 16), 2000),
    (_spectra(2, (16, 16, 16)), (16, 56, 56, 16), 6000),
    (_spectra(3, (6, 8)), (4, 12, 3), 150),
    (_spectra(4, (4, 9, 9, 4)), (2, 8, 8, 8, 2), 700),
    (_spectra(5, (3,)), (9, 9), 1000),
    ([np.array([3.0, 2.0, 1.0]), np.array([3.0, 2.0, 1.0])], (2, 2, 2), 10),
]


def _params_of(ranks, sizes):
    return sum(ranks[k] * n * ranks[k + 1] for k, n in enumerate(sizes))


@exercise("12.4", "greedy rank allocation under a budget", reference=_greedy_ranks)
def greedy_ranks(answer):
    for spectra, sizes, budget in _ALLOCATION_CASES:
        what = (f"greedy_ranks(spectra of lengths {[len(s) for s in spectra]}, sizes={sizes}, budget={budget:,})")
        given = [s.copy() for s in spectra]
        got = answer(given, sizes, budget)
        expect(isinstance(got, (tuple, list)), f"{what}: expected a tuple of ranks (1, r_1, ..., 1), got "
                                               f"{describe(got)}"
                                               + (": return tuple(int(r) for r in ranks)"
                                                  if isinstance(got, (np.ndarray, torch.Tensor)) else ""))
        expect(all(np.array_equal(g, s) for g, s in zip(given, spectra)),
               f"{what}: your function changed the spectra it was given (in place, e.g. s /= ... or s **= 2), and "
               f"so the caller's arrays (in the lesson, a layer's bond spectra): compute on new arrays (s = s / ...)")
        got = tuple(expect_integer(r, f"{what}, rank {k}") for k, r in enumerate(got))
        expected = _greedy_ranks(spectra, sizes, budget)
        expect(len(got) == len(sizes) + 1 and got[0] == 1 and got[-1] == 1,
               f"{what}: expected the {len(sizes) + 1} ranks (1, r_1, ..., r_{len(sizes) - 1}, 1) of a layer with "
               f"{len(sizes)} cores, boundary ranks included, got {got}")
        expect(all(1 <= r <= len(s) for r, s in zip(got[1:-1], spectra)),
               f"{what}: got {got}, but a bond cannot have more channels than its spectrum has values "
               f"({[len(s) for s in spectra]}) or fewer than 1")
        used = _params_of(got, sizes)
        expect(used <= budget, f"{what}: your ranks {got} need {used:,} parameters, over the budget of {budget:,}")
        tie = len(spectra) > 1 and all(np.array_equal(s, spectra[0]) for s in spectra) and len(set(sizes)) == 1
        expect(got == expected,
               f"{what}: expected ranks {expected} ({_params_of(expected, sizes):,} parameters), got {got} "
               f"({used:,} parameters). Each step raises the bond with the largest s_k[r_k]^2 / ||s_k||^2 per added "
               f"parameter (n_k r_(k-1) + n_(k+1) r_(k+1)) among the steps that still fit; a step that does not "
               f"fit is skipped, not the end (a cheaper bond may still fit)"
               + (". Here the two bonds have the same spectrum and their steps the same cost: a tie, which goes to "
                  "the first bond (compare with >, not >=, or keep the first of the best)" if tie else ""))
    return "8 layers, from 1 to 4 bonds, budgets that stop the greedy in different places, a tie."
