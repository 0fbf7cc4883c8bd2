"""Checkers of lesson 11: tensorizing transformers (the parameters of an MPO layer, the sentence embedding,
the cosine evaluation, the agreement of nearest neighbours).

The lesson computes in torch; the checkers give float64 inputs and expect torch tensors of the inputs' dtype back
(the policy of :mod:`tnnlib.checking`), and mean pooling also float32 hidden states, as the model gives them (the
lesson compares its result with float32 embeddings); counts are integers, the agreement one Python number. The
inputs must come back unchanged: the lesson passes views of its evaluation data.
"""
import math

import numpy as np
import torch

from .. import distill as _distill
from .. import pretrained as _pretrained
from .. import scaling as _scaling
from ..checking import (
    ExerciseFailed,
    describe,
    exercise,
    expect,
    expect_array,
    expect_close,
    expect_integer,
    expect_number,
    expect_precision,
)

# --------------------------------------------------------------------------
# References
# --------------------------------------------------------------------------


def _mpo_params(*, out_modes, in_modes, rank):
    """Weights of a TT-matrix (MPO) with cores ``(r_{k-1}, i_k, j_k, r_k)``: ``sum_k r_{k-1} i_k j_k r_k``."""
    return _scaling.tt_linear_params(out_modes=out_modes, in_modes=in_modes, rank=rank)


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------

#: (out_modes, in_modes, rank): one core, two cores, uneven ranks, modes of 1, MiniLM's matrices
_MPOS = [((4,), (6,), (1, 1)), ((4, 8), (2, 3), (1, 5, 1)), ((2, 3, 4), (5, 1, 2), (1, 3, 7, 1)),
         ((48, 32), (16, 24), (1, 192, 1)), ((4, 4, 4, 6), (4, 6, 8, 8), (1, 16, 64, 48, 1)),
         ((1536, 1), (1, 384), (1, 153, 1)), ((2, 2, 2, 2, 2), (3, 3, 3, 3, 3), (1, 2, 2, 2, 2, 1))]


def _sentences(batch, length, dim, seed):
    """Random hidden states ``(B, L, D)`` and a right-padded mask ``(B, L)`` (int64) with lengths 1..L."""
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(batch, length, dim, generator=gen, dtype=torch.float64) + 0.5
    lengths = torch.randint(1, length + 1, (batch,), generator=gen)
    lengths[0] = 1
    lengths[-1] = length
    mask = (torch.arange(length)[None, :] < lengths[:, None]).long()
    return hidden, mask


def _embeddings(n, dim, seed, scale=True):
    """Rows of different lengths (not unit vectors), in a few clusters, float64."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(4, dim, generator=gen, dtype=torch.float64)
    rows = centres[torch.arange(n) % 4] + 0.6 * torch.randn(n, dim, generator=gen, dtype=torch.float64)
    if scale:
        rows = rows * torch.rand(n, 1, generator=gen, dtype=torch.float64).mul(5).add(0.1)
    return rows


def _number(got, what):
    """One real number at float64 precision (Python or NumPy, or a 0-d float64 tensor) as a float."""
    if isinstance(got, (list, tuple)) or isinstance(got, (torch.Tensor, np.ndarray)) and got.ndim > 0:
        raise ExerciseFailed(f"{what}: expected one number (a fraction between 0 and 1), got {describe(got)}"
                             + (": one agreement per row? Average them over the rows, e.g. (...).mean().item()"
                                if len(got) > 1 else ""))
    if isinstance(got, torch.Tensor):
        expect(got.is_floating_point(), f"{what}: expected one number (a fraction between 0 and 1), got "
                                        f"{describe(got)}: return a Python float, e.g. (...).double().mean().item()")
        expect_precision(got, what)
        return float(got)
    return expect_number(got, what)


def _unchanged(inputs, what, use):
    """Fail unless each input ``(name, tensor given to the learner, original)`` still equals its original."""
    for name, given, original in inputs:
        expect(torch.equal(given, original),
               f"{what}: your function changed its input {name} in place. {use}: compute on new tensors and leave "
               f"{name} as it is (no {name} /= ..., {name} *= ..., {name}[...] = ..., nor methods ending in _ "
               f"such as div_ or masked_fill_ on it)")


#: why the inputs of 11.2 to 11.4 must come back unchanged
_MASK = "The caller keeps its tensors (the lesson passes mask_eval[:4], a view of the mask every later evaluation uses)"
_TEACHER = "The lesson passes teacher_eval as reference, the original embeddings that every later evaluation uses"


# --------------------------------------------------------------------------
# Exercises
# --------------------------------------------------------------------------

@exercise("11.1", "the parameters of an MPO layer", reference=_mpo_params)
def mpo_params(answer):
    for out_modes, in_modes, rank in _MPOS:
        what = f"mpo_params(out_modes={out_modes}, in_modes={in_modes}, rank={rank})"
        got = expect_integer(answer(out_modes=out_modes, in_modes=in_modes, rank=rank), what)
        expected = _mpo_params(out_modes=out_modes, in_modes=in_modes, rank=rank)
        cores = ", ".join(f"({rank[k]}, {i}, {j}, {rank[k + 1]})" for k, (i, j) in enumerate(zip(out_modes, in_modes)))
        expect(got == expected, f"{what}: expected {expected:,}, got {got:,}. The cores have shapes {cores} "
               f"(r_(k-1), i_k, j_k, r_k), with r_0 = r_d = 1 at the ends; the weights are the sum of their sizes")
    minilm = _mpo_params(out_modes=(48, 32), in_modes=(16, 24), rank=(1, 192, 1))
    return f"Seven MPOs, from one core to five, MiniLM's 1536 x 384 among them ({minilm:,} weights " \
           f"for modes (48, 32) x (16, 24) at rank 192)."


@exercise("11.2", "the sentence embedding: mean pooling", reference=_pretrained.mean_pool)
def mean_pool(answer):
    for seed, (batch, length, dim) in enumerate([(1, 1, 3), (2, 5, 4), (6, 9, 8), (4, 3, 384)]):
        hidden, mask = _sentences(batch, length, dim, seed)
        what = f"mean_pool(hidden of shape {tuple(hidden.shape)}, mask of shape {tuple(mask.shape)})"
        given = hidden.clone(), mask.clone()
        got = answer(*given)
        expect_array(got, what, kind="torch", shape=(batch, dim))
        _unchanged(zip(("hidden", "mask"), given, (hidden, mask)), what, _MASK)
        norms = got.norm(dim=1)
        expect_close(norms, torch.ones(batch, dtype=torch.float64),
                     what + ": the norms of the embeddings (scale each to unit length, F.normalize)", atol=1e-9)
        expected = _pretrained.mean_pool(hidden, mask)
        expect_close(got, expected, what + ": the direction of each embedding, the mean of the hidden states of "
                     "its real tokens (mask 1); padding positions (mask 0) must not count", atol=1e-9)
    # what the lesson gives it: the model's float32 hidden states, compared with float32 embeddings (torch.allclose
    # refuses float64 against float32)
    hidden, mask = _sentences(3, 6, 384, 7)
    hidden = hidden.float()
    what = f"mean_pool(hidden of shape {tuple(hidden.shape)} in float32, as the model gives it, mask (int64))"
    got = answer(hidden.clone(), mask.clone())
    expect(isinstance(got, torch.Tensor) and got.dtype == torch.float32,
           f"{what} returned {describe(got)}: keep hidden's dtype (float32 hidden states give float32 embeddings; the "
           f"lesson compares yours with the model's float32 embeddings, and torch.allclose refuses float64 against "
           f"float32). Convert the mask to hidden's dtype, mask.to(hidden.dtype), not with .double(), and compute in "
           f"torch (NumPy turns float32 times an int64 mask into float64)")
    expect_close(got, _pretrained.mean_pool(hidden, mask), what, rtol=1e-5, atol=1e-6)
    return "Four batches (lengths 1 to 9, padding from none to most of the row, widths 3 to 384), and float32 " \
           "hidden states as the model gives them."


@exercise("11.3", "the cosine evaluation", reference=_distill.cosine_similarities)
def cosine_similarities(answer):
    for seed, (n, dim) in enumerate([(1, 2), (5, 3), (20, 16), (7, 384)]):
        reference, approx = _embeddings(n, dim, seed), _embeddings(n, dim, seed + 10)
        what = f"cosine_similarities(reference, approx) for two {n} x {dim} matrices whose rows are not unit vectors"
        given = reference.clone(), approx.clone()
        got = answer(*given)
        expect_array(got, what, kind="torch", shape=(n,))
        _unchanged(zip(("reference", "approx"), given, (reference, approx)), what, _TEACHER)
        expect_close(got, _distill.cosine_similarities(reference, approx), what + ": row i is "
                     "<reference[i], approx[i]> / (|reference[i]| |approx[i]|), each row divided by its own norm")
    same = _embeddings(6, 5, 3)
    got = answer(same, 3 * same)
    expect_close(got, torch.ones(6, dtype=torch.float64), "cosine_similarities(x, 3 x) (the same directions)")
    return "Four pairs of matrices with rows of different lengths, and x against 3 x."


@exercise("11.4", "agreement of the top-k neighbours", reference=_distill.neighbour_agreement)
def neighbour_agreement(answer):
    for seed, (n, dim, k) in enumerate([(5, 3, 1), (12, 4, 3), (30, 8, 5), (16, 6, 15)]):
        reference = _embeddings(n, dim, 20 + seed)
        gen = torch.Generator().manual_seed(seed)
        for noise in (0.0, 0.3, 1.0):
            approx = reference * torch.rand(n, 1, generator=gen, dtype=torch.float64).add(0.5) \
                + noise * torch.randn(n, dim, generator=gen, dtype=torch.float64)
            what = f"neighbour_agreement(reference, approx, k={k}) for {n} rows of {dim} numbers (noise {noise})"
            given = reference.clone(), approx.clone()
            got = _number(answer(*given, k), what)
            _unchanged(zip(("reference", "approx"), given, (reference, approx)), what, _TEACHER)
            expected = _distill.neighbour_agreement(reference, approx, k)
            expect(math.isfinite(got) and abs(got - expected) <= 1e-12,
                   f"{what}: expected {expected:.6f}, got {got:.6f}. For each row, take the k other rows of largest "
                   f"cosine (never the row itself) in reference and in approx; count the rows they share "
                   f"(whatever their order), divide by k, and average over the rows")
    return "Four sizes (k from 1 to n - 1), rows of different lengths, three levels of noise."
