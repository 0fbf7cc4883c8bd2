"""Checkers of lesson 09: bond spaces (entropies, canonical form of a layer, bond states, probes, ranks)."""
import math

import numpy as np
import torch

from ..bonds import bond_states as _bond_states
from ..bonds import left_canonicalize as _left_canonicalize
from ..bonds import probe_accuracy as _probe_accuracy
from ..bonds import ranks_for_error as _ranks_for_error
from ..bonds import renyi_entropy as _renyi_entropy
from ..checking import describe, exercise, expect, expect_close, expect_shape
from ..nn.tt_linear import merge_cores as _merge_cores

# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------

#: (in_modes, out_modes, ranks): input and output modes differ, so that a swapped axis shows
_LAYERS = [
    ((4, 7, 7, 4), (4, 4, 4, 4), (1, 4, 6, 4, 1)),        # 784 -> 256 (the lesson's first layer, small ranks)
    ((2, 3), (5, 7), (1, 4, 1)),                           # d = 2
    ((3, 2, 5), (2, 6, 1), (1, 3, 5, 1)),                  # an output mode of size 1, unequal ranks
    ((2, 2, 2, 2, 2), (3, 2, 2, 2, 3), (1, 2, 4, 3, 2, 1)),
]

#: a layer whose first rank (6) exceeds what its first core can hold (r_0 i_1 j_1 = 4): QR must shrink it
_OVERSIZED = ((2, 3, 2), (2, 2, 3), (1, 6, 5, 1))


def _cores(in_modes, out_modes, ranks, seed):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(ranks[k], i, j, ranks[k + 1], generator=gen, dtype=torch.float64) / math.sqrt(i * j)
            for k, (i, j) in enumerate(zip(out_modes, in_modes))]


def _weight(cores):
    """W (M, N) rebuilt from TT-matrix cores."""
    merged = _merge_cores(cores)
    return merged.reshape(merged.shape[1], merged.shape[2])


def _spectra_cases():
    rng = np.random.default_rng(9)
    geometric = 0.7 ** np.arange(12)
    return [
        np.ones(4),                                         # flat: every entropy log 4
        np.array([5.0, 0.0, 0.0]),                          # rank 1: every entropy 0
        np.array([3.0, 4.0]),                               # not sorted, not normalised
        np.array([3.0, 2.0, 1.0, 0.5, 0.0]),                # a zero at the end
        1000 * geometric,                                   # scale must not matter
        np.sort(rng.gamma(2.0, size=16))[::-1],             # a random decaying spectrum
    ]


def _short(values) -> str:
    values = np.asarray(values)
    text = np.array2string(values, precision=3, separator=", ", threshold=6, edgeitems=3)
    return text.replace("\n", "")


# --------------------------------------------------------------------------
# 9.1 entropy of a bond
# --------------------------------------------------------------------------

@exercise("9.1", "Renyi and von Neumann entropy of a bond", reference=_renyi_entropy)
def renyi_entropy(answer):
    for s in _spectra_cases():
        for alpha in (1.0, 2.0, 0.5, 0.0, 3.0):
            got = answer(s.copy(), alpha)
            what = f"renyi_entropy(spectrum={_short(s)}, alpha={alpha:g})"
            expect(isinstance(got, (float, int, np.floating, np.integer)) and not isinstance(got, bool),
                   f"{what} should return a number, got {describe(got)}")
            expected = _renyi_entropy(s, alpha)
            why = ("p_a = s_a^2 / sum_b s_b^2 over the non-zero s_a; "
                   + ("S = -sum p_a log p_a (natural log)" if alpha == 1 else
                      "S_0 = log(number of non-zero s_a)" if alpha == 0 else
                      "S_alpha = log(sum p_a^alpha) / (1 - alpha) (natural log)"))
            expect_close(float(got), expected, f"{what} ({why})", rtol=1e-7, atol=1e-9)
    return ("Six spectra (flat, rank 1, unsorted, with zeros, scaled by 1000, random) at alpha = 0, 0.5, 1, 2, 3.")


# --------------------------------------------------------------------------
# 9.2 left-canonical form of a TT layer
# --------------------------------------------------------------------------

@exercise("9.2", "left-canonicalise a TT layer without changing its weight", reference=_left_canonicalize)
def left_canonicalize(answer):
    cases = [(layer, seed) for seed, layer in enumerate(_LAYERS)] + [(_OVERSIZED, 7)]
    for (in_modes, out_modes, ranks), seed in cases:
        cores = _cores(in_modes, out_modes, ranks, seed)
        originals = [c.clone() for c in cores]
        W = _weight(cores)
        what = (f"left_canonicalize(cores) for in_modes {in_modes}, out_modes {out_modes}, ranks {ranks} "
                f"(core shapes {[tuple(c.shape) for c in cores]})")
        got = answer(cores)
        for k, (c, original) in enumerate(zip(cores, originals)):
            expect(torch.equal(c, original), f"{what} changed its input: cores[{k}] is no longer what it was "
                                              "(work on new tensors; start from cores = list(cores))")
        expect(isinstance(got, (list, tuple)) and len(got) == len(cores)
               and all(isinstance(c, torch.Tensor) for c in got),
               f"{what} should return a list of {len(cores)} torch tensors, got {describe(got)}")
        got = [c.detach() for c in got]
        for k, (c, original) in enumerate(zip(got, cores)):
            expect(c.ndim == 4 and tuple(c.shape[1:3]) == tuple(original.shape[1:3]),
                   f"{what}: cores[{k}] must keep the shape (r, i_k, j_k, r') with i_k, j_k = "
                   f"{tuple(original.shape[1:3])}, got shape {tuple(c.shape)}")
        expect(got[0].shape[0] == 1 and got[-1].shape[-1] == 1
               and all(a.shape[-1] == b.shape[0] for a, b in zip(got, got[1:])),
               f"{what}: the ranks must chain with r_0 = r_d = 1, got shapes {[tuple(c.shape) for c in got]}")
        for k, (c, original) in enumerate(zip(got, cores)):
            expect(c.shape[-1] <= original.shape[-1],
                   f"{what}: cores[{k}] has rank {c.shape[-1]} on its right bond, more than the original "
                   f"{original.shape[-1]} (a reduced QR never adds columns)")
        for k, c in enumerate(got[:-1]):
            q = c.reshape(-1, c.shape[-1])
            gram_error = (q.T @ q - torch.eye(q.shape[1], dtype=q.dtype)).abs().max().item()
            expect(gram_error < 1e-9,
                   f"{what}: cores[{k}] is not left-orthogonal: as a (r_(k-1) i_k j_k) x r_k = {tuple(q.shape)} "
                   f"matrix Q, max |Q^T Q - I| = {gram_error:.2g} (every core but the last must have "
                   "orthonormal columns)")
        expect_close(_weight([c.to(torch.float64) for c in got]), W,
                     f"{what}: the weight W rebuilt from your cores must equal the original one (push R into "
                     "the next core; keep the modes (i_k, j_k) in their order)", rtol=1e-9, atol=1e-12)
    return ("Five layers (d = 2 to 5, i_k != j_k, one with a rank that must shrink): input untouched, "
            "cores left-orthogonal, weight unchanged.")


# --------------------------------------------------------------------------
# 9.3 the states on the bonds
# --------------------------------------------------------------------------

@exercise("9.3", "the states on the bonds of a TT layer", reference=_bond_states)
def bond_states(answer):
    for seed, (in_modes, out_modes, ranks) in enumerate(_LAYERS):
        cores = _cores(in_modes, out_modes, ranks, 20 + seed)
        N = math.prod(in_modes)
        for batch in (1, 3):
            x = torch.randn(batch, N, generator=torch.Generator().manual_seed(40 + seed), dtype=torch.float64)
            what = (f"bond_states(x, cores) for in_modes {in_modes}, out_modes {out_modes}, ranks {ranks}, "
                    f"a batch of {batch}")
            got = answer(x, [c.clone() for c in cores])
            expected = _bond_states(x, cores)
            expect(isinstance(got, (list, tuple)) and all(isinstance(z, torch.Tensor) for z in got),
                   f"{what} should return a list of torch tensors, got {describe(got)}")
            expect(len(got) == len(expected),
                   f"{what}: expected one state per bond, d - 1 = {len(expected)}, got {len(got)} (the output "
                   "after the last core is not a bond state)")
            for k, (z, e) in enumerate(zip(got, expected)):
                shape = (batch, ranks[k + 1], math.prod(out_modes[:k + 1]), math.prod(in_modes[k + 1:]))
                expect_shape(z, shape, f"{what}: state on bond {k + 1}, (B, r_k, i_1..i_k, j_(k+1)..j_d)")
                expect_close(z, e, f"{what}: state on bond {k + 1}, after contracting x with G_1 .. G_{k + 1}",
                             rtol=1e-9, atol=1e-12)
    return "Four layers (d = 2 to 5, i_k != j_k), batches of 1 and 3: every state, shape and values."


# --------------------------------------------------------------------------
# 9.4 a linear probe
# --------------------------------------------------------------------------

def _clusters(n_classes, dim, n, separation, seed):
    """Gaussian classes around random centres: linearly separable up to the overlap."""
    rng = np.random.default_rng(seed)
    centres = separation * rng.standard_normal((n_classes, dim))
    labels = rng.integers(0, n_classes, n)
    features = centres[labels] + rng.standard_normal((n, dim))
    return features, labels


@exercise("9.4", "held-out accuracy of a linear probe", reference=_probe_accuracy)
def probe_accuracy(answer):
    # informative features: 5 classes in 6 dimensions, half used for training, half held out
    f, y = _clusters(5, 6, 1000, 1.0, seed=1)
    scales = np.array([1.0, 50.0, 0.02, 1.0, 3.0, 1.0])           # channels on very different scales
    f = f * scales
    args = (f[:500], y[:500], f[500:], y[500:])
    got = answer(*[a.copy() for a in args])
    what = "probe_accuracy on 5 Gaussian classes in 6 dimensions (500 training, 500 held-out examples)"
    expect(isinstance(got, (float, np.floating)) or (isinstance(got, torch.Tensor) and got.numel() == 1),
           f"{what} should return a float, got {describe(got)}")
    got = float(got)
    expect(0 <= got <= 1, f"{what}: an accuracy is a fraction in [0, 1], got {got:g} (not a percentage)")
    expected = _probe_accuracy(*args)
    expect(abs(got - expected) <= 0.06,
           f"{what}: expected about {expected:.3f} (a multinomial logistic regression on standardised features, "
           f"fitted on the training half and measured on the held-out half), got {got:.3f}")
    # pure noise with more dimensions than training examples: a probe fits its training set perfectly,
    # and its held-out accuracy is chance
    rng = np.random.default_rng(2)
    noise_train, noise_test = rng.standard_normal((40, 150)), rng.standard_normal((400, 150))
    labels_train, labels_test = rng.integers(0, 4, 40), rng.integers(0, 4, 400)
    got = float(answer(noise_train, labels_train, noise_test, labels_test))
    expect(got <= 0.45,
           f"probe_accuracy on noise (40 training examples of 150 random features, 4 classes, 400 held-out "
           f"examples): expected about chance, 0.25, got {got:.3f}; a probe on 150 features fits 40 examples "
           "perfectly, so measure the accuracy on the held-out examples (test_features, test_labels) and fit "
           "only on the training ones")
    return "Informative features on mixed scales (within 0.06 of the reference), and noise (held out: chance)."


# --------------------------------------------------------------------------
# 9.5 ranks from the spectra
# --------------------------------------------------------------------------

def _rank_cases():
    rng = np.random.default_rng(5)
    decaying = [np.sort(rng.gamma(1.5, size=n))[::-1] * rng.uniform(0.5, 5) for n in (16, 64, 16)]
    geometric = [0.6 ** np.arange(10), 0.9 ** np.arange(20)]
    with_zeros = [np.array([2.0, 1.0, 0.5, 0.0, 0.0])]
    return [(decaying, 0.2), (decaying, 0.05), (decaying, 0.5), (geometric, 0.1), (geometric, 0.3),
            (with_zeros, 0.0), (with_zeros, 0.4), ([np.ones(8)], 0.3)]


@exercise("9.5", "ranks from the bond spectra for a relative error", reference=_ranks_for_error)
def ranks_for_error(answer):
    for spectra, eps in _rank_cases():
        got = answer([s.copy() for s in spectra], eps)
        shown = "[" + ", ".join(_short(s) for s in spectra) + "]"
        what = f"ranks_for_error(spectra={shown}, eps={eps:g}) ({len(spectra)} bonds)"
        expect(isinstance(got, (list, tuple, np.ndarray)) and len(got) == len(spectra)
               and all(isinstance(r, (int, np.integer)) and not isinstance(r, bool) for r in got),
               f"{what} should return {len(spectra)} integers, one per bond, got {describe(got)}")
        expected = _ranks_for_error(spectra, eps)
        delta = eps / math.sqrt(len(spectra))
        for k, (r, e, s) in enumerate(zip(got, expected, spectra)):
            tail = float(np.linalg.norm(s[int(r):]) / np.linalg.norm(s))
            expect(int(r) == e,
                   f"{what}: bond {k + 1} should keep {e} singular values, got {int(r)} (the smallest r >= 1 with "
                   f"||s[r:]|| <= eps ||s|| / sqrt(d - 1) = {delta:.4g} ||s||; your rank leaves a relative tail "
                   f"{tail:.4g})")
    return "Eight cases (1 to 3 bonds, eps from 0 to 0.5, spectra with zeros and flat ones)."
