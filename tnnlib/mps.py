"""Matrix product state (MPS) classifiers: a tensor network as the whole model.

Stoudenmire and Schwab (2016, arXiv:1605.05775) classify an image of ``N``
pixels with a *linear* model in a huge feature space. Each pixel value
``x_j`` in [0, 1] is mapped to a small vector ``phi(x_j)`` of ``d`` numbers
(the local feature map, e.g. ``[cos(pi x / 2), sin(pi x / 2)]``), and the
image to their tensor product

    Phi(x) = phi(x_1) (x) phi(x_2) (x) ... (x) phi(x_N),        d^N numbers.

The score of class ``c`` is an inner product with a weight tensor ``W_c``:

    f_c(x) = <W_c, Phi(x)> = sum_{s_1..s_N} W[s_1, ..., s_N, c] phi_{s_1}(x_1) ... phi_{s_N}(x_N).

``W`` has ``C d^N`` entries (``10 * 2^196`` for 14 x 14 MNIST), so it is stored
as a matrix product state: one core ``G_j`` of shape ``(r, d, r)`` per pixel,
in the order of the pixel chain, and one *label core* ``M`` of shape
``(r, C, r)`` between pixel ``p`` and pixel ``p + 1`` (the middle by default).
In the notation of lesson 03 this is a TT of ``N + 1`` sites whose site ``p + 1``
is the label; merging ``M`` into a neighbouring core gives Stoudenmire and
Schwab's picture of the label index sitting on one pixel core.

Contracting with a product state
--------------------------------
``Phi(x)`` is a product state (a TT of rank 1), so ``f(x)`` never needs
``W``: contract each core with its feature vector, ``A_j(x) = sum_s phi_s(x_j)
G_j[:, s, :]`` (an ``r x r`` *transfer matrix*), and multiply:

    f_c(x) = l^T A_1(x) ... A_p(x)  M[:, c, :]  A_{p+1}(x) ... A_N(x) r.

The boundary vectors ``l`` and ``r`` are the first unit vector (they turn the
first and last cores into the ``(1, d, r)`` and ``(r, d, 1)`` cores of the
TT convention). Carried out as a *sweep*, a vector times one core at a time
(:func:`absorb`), this costs ``d r^2`` multiply-adds per pixel and sample,
``O(N d r^2)`` per image: the left half and the right half are swept towards
the label core *at the same time*, as one batched matrix product per step
(``MPSClassifier.forward``), so a 196-pixel chain takes 98 steps.

Other orders of the same contraction exist: merge pairs of neighbouring cores
first (a local dimension ``d^2``, half the steps, the same multiply-adds), or
multiply transfer matrices in a tree (``log2 N`` steps, but ``r^3`` instead of
``r^2`` per image and step). On a CPU the sweep of vectors does the fewest
operations; a tree pays only where each kernel launch is expensive and
arithmetic cheap (a GPU with very large batches).

Numerical stability
-------------------
A product of hundreds of matrices overflows or underflows float32 unless
every factor has norm 1. Two things keep it in range here:

* **Per-step normalisation.** After each step the boundary vector is divided
  by its norm and the logarithm of the norm is added to a running
  ``log_norm`` (:func:`contract_chain`), as in every MPS code. Then
  ``f(x) = exp(log_norm) * f_tilde(x)`` with ``f_tilde`` of order 1, for any
  number of sites.
* **A scale-free read-out.** The classifier's logits are
  ``tau * f(x) / ||f(x)||`` (``tau``, a learned temperature): the softmax sees
  the *direction* of the score vector, and the decision ``argmax_c f_c(x)`` is
  the linear model's. The positive factor ``exp(log_norm)`` then drops out
  exactly, and with it any scale of any core: no normalisation is an
  approximation, and no logit exceeds ``tau`` in absolute value.

The cores start as the identity in every slice plus small noise (``init_std``),
so each transfer matrix ``A_j(x)`` starts as a multiple of the identity: the
untrained chain passes the boundary vectors along unchanged and every pixel
starts with an equal say, however long the chain (a product of 196 random
matrices would instead be dominated by its few largest directions). The label
core gets larger noise (``label_std``): at the start it alone tells the
classes apart (with ``label_std = 0`` all scores start equal and training
stalls for many steps). Why normalise anyway: training moves the cores away
from the identity, and without normalisation a typical gain of 2 per site is
``2^196 = 1e59`` after 196 sites, far beyond float32 (``3.4e38``).

Pixel order, training and bond spectra
---------------------------------------
The chain visits the pixels in an order (:func:`pixel_order`: row by row,
snake, column, or a seeded random permutation); correlations between pixels
far apart in the chain must pass through every bond in between, so the order
decides how large the bond dimension must be. The model trains by gradient
descent like any module (``tnnlib.train.fit``), or with the two-site sweep of
Stoudenmire and Schwab (:func:`sweep`), which updates the label core merged
with one neighbour and splits it with a truncated SVD (``tnnlib.svd``), moving
the label along the chain in mixed canonical form (``tnnlib.tt.orthogonalize``).

The hook for bond-space tools: :meth:`MPSClassifier.tt_cores` returns the
``N + 1`` cores in the TT convention ``(r_{k-1}, n_k, r_k)`` (the label core as
a site of size ``C``; differentiable views of the parameters) and
:meth:`MPSClassifier.to_tt` a detached :class:`tnnlib.tt.TTTensor` of the weight
tensor, by default with the label merged into its left neighbour (``N`` sites,
one bond per gap between consecutive pixels of the chain), ready for
``tnnlib.tt.bond_spectra``; :meth:`MPSClassifier.bond_cores` returns its cores,
the hook through which ``tnnlib.bonds`` (``as_tt``, ``bond_profile``) reads
the model. :meth:`MPSClassifier.bond_states` returns the
normalised boundary vectors that cross a bond for a batch of images (the
"bond features" of the chain).

References: E. M. Stoudenmire and D. J. Schwab, *Supervised learning with
tensor networks*, NeurIPS 2016, arXiv:1605.05775; S. Efthymiou, J. Hidary,
S. Leichenauer, *TensorNetwork for machine learning*, 2019, arXiv:1906.06329;
A. Novikov, M. Trofimov, I. Oseledets, *Exponential machines*, 2016,
arXiv:1605.03795.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .svd import truncated_svd
from .tt import TTTensor, orthogonalize
from .validation import check_eps, check_positive_int, is_int

__all__ = ["trig_features", "polynomial_features", "LearnedFeatures", "downsample", "pixel_order", "RandomShift",
           "absorb", "contract_chain", "contract_product_state", "environment", "MPSClassifier",
           "split_two_site", "sweep", "SweepResult"]

# --------------------------------------------------------------------------
# Local feature maps: one pixel value -> a vector of d numbers
# --------------------------------------------------------------------------


def trig_features(x, dim: int = 2):
    """Stoudenmire and Schwab's feature map: a pixel value ``x`` in [0, 1] to a unit vector of ``dim`` numbers.

    ``phi_s(x) = sqrt(binom(dim - 1, s)) cos(pi x / 2)^(dim - 1 - s) sin(pi x / 2)^s`` for ``s = 0 .. dim-1``;
    ``dim = 2`` gives ``[cos(pi x / 2), sin(pi x / 2)]``: white (0) is ``[1, 0]``, black (1) is ``[0, 1]``.
    Every ``phi(x)`` has norm 1 (binomial theorem: the squares sum to ``(cos^2 + sin^2)^(dim-1)``), so
    the product state ``Phi(x)`` has norm 1 too.

    Parameters
    ----------
    x : torch tensor of any shape, values in [0, 1]
    dim : int >= 2, the local dimension ``d``

    Returns
    -------
    torch tensor of shape ``x.shape + (dim,)``, ``x``'s dtype.

    >>> trig_features(torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)).round(decimals=4).tolist()
    [[1.0, 0.0], [0.7071, 0.7071], [0.0, 1.0]]
    """
    dim = check_positive_int(dim, "dim", "trig_features")
    if dim < 2:
        raise ValueError(f"trig_features: dim must be at least 2, got {dim}")
    x = torch.as_tensor(x)
    c, s = torch.cos(math.pi * x / 2), torch.sin(math.pi * x / 2)
    return torch.stack([math.sqrt(math.comb(dim - 1, k)) * c ** (dim - 1 - k) * s ** k for k in range(dim)], -1)


def polynomial_features(x, degree: int = 1):
    """The polynomial feature map ``[1, x, x^2, ..., x^degree]`` (``d = degree + 1``).

    With ``degree = 1`` the MPS is a multilinear polynomial of the pixels, ``f(x) = sum over subsets S
    of the pixels of w_S prod_{j in S} x_j``: Novikov, Trofimov and Oseledets's *exponential machines*
    (arXiv:1605.03795) keep all ``2^N`` interaction weights in TT format. The vectors are not normalised
    (``||phi(x)||`` grows with ``x``); the per-step normalisation of the contraction absorbs that.

    >>> polynomial_features(torch.tensor([0.5]), degree=2).tolist()
    [[1.0, 0.5, 0.25]]
    """
    degree = check_positive_int(degree, "degree", "polynomial_features")
    x = torch.as_tensor(x)
    return torch.stack([x ** k for k in range(degree + 1)], -1)


class LearnedFeatures(nn.Module):
    """A learned local feature map: a tiny network shared by all pixels, ``x -> phi(x)`` in ``R^dim``.

    ``phi(x) = normalise(W_2 tanh(W_1 x + b_1) + b_2)``, with ``hidden`` units; the output is divided
    by its norm so that, like :func:`trig_features`, every local vector has norm 1. It adds
    ``3 hidden + dim (hidden + 1)`` parameters to the model and learns which gray levels to tell apart.

    >>> phi = LearnedFeatures(dim=3)
    >>> phi(torch.rand(4, 10)).shape
    torch.Size([4, 10, 3])
    """

    def __init__(self, dim: int = 2, hidden: int = 16):
        super().__init__()
        self.dim = check_positive_int(dim, "dim", "LearnedFeatures")
        self.net = nn.Sequential(nn.Linear(1, check_positive_int(hidden, "hidden", "LearnedFeatures")),
                                 nn.Tanh(), nn.Linear(hidden, self.dim))

    def forward(self, x):
        phi = self.net(x.unsqueeze(-1))
        return phi / phi.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def _feature_map(feature_map, local_dim):
    """``(callable, d)`` from the ``feature_map`` argument of :class:`MPSClassifier`."""
    if feature_map == "trig":
        d = 2 if local_dim is None else local_dim
        return (lambda x: trig_features(x, d)), d
    if feature_map == "poly":
        d = 2 if local_dim is None else local_dim
        if d < 2:
            raise ValueError(f"MPSClassifier: the polynomial feature map needs local_dim >= 2, got {d}")
        return (lambda x: polynomial_features(x, d - 1)), d
    if feature_map == "learned":
        module = LearnedFeatures(2 if local_dim is None else local_dim)
        return module, module.dim
    if callable(feature_map):
        if local_dim is None:
            raise ValueError("MPSClassifier: give local_dim, the length of the vectors your feature_map returns")
        return feature_map, local_dim
    raise ValueError(f"MPSClassifier: feature_map must be 'trig', 'poly', 'learned' or a callable, got {feature_map!r}")


# --------------------------------------------------------------------------
# From images to chains
# --------------------------------------------------------------------------


def downsample(images, factor: int = 2):
    """Average pooling of ``factor x factor`` blocks: MNIST's 28 x 28 to 14 x 14 with ``factor = 2``.

    Stoudenmire and Schwab trained on 14 x 14 images: 196 sites instead of 784, a chain four times
    shorter (and four times cheaper to contract), with the strokes still clearly visible.

    Parameters
    ----------
    images : NumPy array or torch tensor of shape ``(..., H, W)``, H and W multiples of ``factor``
    factor : int

    Returns
    -------
    The same kind of array, shape ``(..., H / factor, W / factor)``.

    >>> downsample(np.arange(16.0).reshape(4, 4)).tolist()
    [[2.5, 4.5], [10.5, 12.5]]
    """
    factor = check_positive_int(factor, "factor", "downsample")
    *batch, h, w = images.shape
    if h % factor or w % factor:
        raise ValueError(f"downsample: image size {h} x {w} is not a multiple of factor {factor}")
    blocks = images.reshape(*batch, h // factor, factor, w // factor, factor)
    return blocks.mean(axis=(-3, -1)) if isinstance(images, np.ndarray) else blocks.mean(dim=(-3, -1))


PIXEL_ORDERS = ("row", "snake", "column", "random")


def pixel_order(shape, kind: str = "row", *, seed=None) -> torch.Tensor:
    """The order in which the chain visits the pixels of an image of ``shape = (H, W)``.

    ``order[k]`` is the row-major index ``row * W + col`` of the pixel at site ``k`` of the chain, so
    ``images.reshape(B, -1)[:, order]`` lists each image's pixels in chain order.

    * ``"row"``: row by row, left to right (row-major, ``order = 0, 1, ..., HW - 1``);
    * ``"snake"``: row by row, every other row right to left, so consecutive sites are always
      neighbouring pixels;
    * ``"column"``: column by column, top to bottom;
    * ``"random"``: a random permutation drawn with ``seed`` (neighbours in the image end up far apart
      in the chain).

    >>> pixel_order((2, 3), "snake").tolist()
    [0, 1, 2, 5, 4, 3]
    >>> pixel_order((2, 3), "column").tolist()
    [0, 3, 1, 4, 2, 5]
    """
    if is_int(shape):
        shape = (1, int(shape))
    if len(shape) != 2:
        raise ValueError(f"pixel_order: shape must be (height, width), got {shape!r}")
    h, w = (check_positive_int(n, "shape", "pixel_order") for n in shape)
    grid = torch.arange(h * w).reshape(h, w)
    if kind == "row":
        return grid.reshape(-1)
    if kind == "snake":
        grid[1::2] = grid[1::2].flip(1)
        return grid.reshape(-1)
    if kind == "column":
        return grid.T.reshape(-1)
    if kind == "random":
        generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
        return torch.randperm(h * w, generator=generator)
    raise ValueError(f"pixel_order: kind must be one of {PIXEL_ORDERS}, got {kind!r}")


class RandomShift(nn.Module):
    """Data augmentation: move each image by up to ``max_shift`` pixels in each direction (training only).

    Every image of a batch gets its own random offsets ``(dy, dx)`` in ``[-max_shift, max_shift]``; pixels
    shifted in are 0 (background). In evaluation mode (``module.eval()``) the module does nothing. Put it
    in front of a model to train on shifted copies: ``fit(nn.Sequential(RandomShift(1), model), ...)``.
    Uses torch's global random generator (seeded by ``seed_everything``).

    >>> shift = RandomShift(1).eval()
    >>> x = torch.rand(2, 5, 5)
    >>> bool((shift(x) == x).all())
    True
    """

    def __init__(self, max_shift: int = 1):
        super().__init__()
        if not is_int(max_shift) or max_shift < 0:
            raise ValueError(f"RandomShift: max_shift must be a non-negative integer, got {max_shift!r}")
        self.max_shift = int(max_shift)

    def forward(self, images):
        s = self.max_shift
        if images.dim() < 3:
            raise ValueError(f"RandomShift: expected images of shape (B, H, W) or (B, 1, H, W), got shape "
                             f"{tuple(images.shape)}")
        if not self.training or s == 0:
            return images
        b, h, w = images.shape[0], images.shape[-2], images.shape[-1]
        padded = F.pad(images.reshape(b, h, w), (s, s, s, s))
        dy = torch.randint(0, 2 * s + 1, (b, 1, 1), device=images.device)
        dx = torch.randint(0, 2 * s + 1, (b, 1, 1), device=images.device)
        rows = dy + torch.arange(h, device=images.device).reshape(1, h, 1)
        cols = dx + torch.arange(w, device=images.device).reshape(1, 1, w)
        return padded[torch.arange(b, device=images.device).reshape(b, 1, 1), rows, cols].reshape(images.shape)

    def extra_repr(self):
        return f"max_shift={self.max_shift}"


# --------------------------------------------------------------------------
# Contracting an MPS with a product state
# --------------------------------------------------------------------------


def absorb(state, core, features):
    """One step of a sweep: absorb a core and its feature vectors into boundary vectors.

    ``new[b, c] = sum_{a, s} state[b, a] core[a, s, c] features[b, s]``, i.e. ``state @ A(x)`` with
    the transfer matrix ``A(x) = sum_s features[s] core[:, s, :]`` of each sample, but computed as one
    matrix product with the core (shared by the batch) followed by a weighted sum over ``s``: the
    ``r x r`` transfer matrices of the samples are never formed.

    Parameters
    ----------
    state : tensor (..., B, r)
    core : tensor (..., r, d, r')    (leading axes batch several independent chains, e.g. the two halves)
    features : tensor (..., B, d)

    Returns
    -------
    tensor (..., B, r')
    """
    r, d, r_next = core.shape[-3:]
    out = torch.matmul(state, core.reshape(*core.shape[:-3], r, d * r_next))     # (..., B, d r')
    out = out.reshape(*out.shape[:-1], d, r_next)
    return (out * features.unsqueeze(-1)).sum(-2)


def contract_chain(state, cores, features, *, keep_states: bool = False):
    """Sweep boundary vectors through a run of sites, normalising after every step.

    Parameters
    ----------
    state : tensor (..., B, r_0), the boundary vectors to start from
    cores : sequence of tensors (..., r_{k-1}, d, r_k), in the order of the sweep
    features : sequence of tensors (..., B, d), one per core
    keep_states : bool
        Also return the normalised state after every step.

    Returns
    -------
    state : tensor (..., B, r_n), norm 1 (or 0 where the chain contracted to exactly zero)
    log_norm : tensor (..., B), the sum of the logarithms of the norms divided out, so that the
        unnormalised result is ``exp(log_norm) * state``
    states : list of tensors (..., B, r_k) (only with ``keep_states``)
    """
    log_norm = torch.zeros(state.shape[:-1], dtype=state.dtype, device=state.device)
    states = []
    for core, phi in zip(cores, features):
        state = absorb(state, core, phi)
        norm = state.norm(dim=-1, keepdim=True)
        state = state / norm.clamp_min(torch.finfo(state.dtype).tiny)
        log_norm = log_norm + torch.log(norm.squeeze(-1))
        if keep_states:
            states.append(state)
    return (state, log_norm, states) if keep_states else (state, log_norm)


def _check_chain(cores, features, where):
    if not isinstance(features, torch.Tensor) or features.dim() != 3:
        raise ValueError(f"{where}: features must be a torch tensor of shape (batch, sites, d)")
    if len(cores) != features.shape[1]:
        raise ValueError(f"{where}: {len(cores)} cores but features for {features.shape[1]} sites")
    for k, core in enumerate(cores):
        if core.dim() != 3 or core.shape[1] != features.shape[2]:
            raise ValueError(f"{where}: cores[{k}] must have shape (r, {features.shape[2]}, r'), "
                             f"got {tuple(core.shape)}")


def contract_product_state(cores, features):
    """``<W, Phi(x)>`` for a TT ``W`` and a batch of product states, in sign-and-logarithm form.

    ``W`` has cores ``(r_{k-1}, d, r_k)`` with ``r_0 = r_N = 1`` (the TT convention);
    ``Phi(x) = phi(x_1) (x) ... (x) phi(x_N)`` is given by its local vectors ``features[b, k] = phi(x_k)``.
    The sweep goes left to right, one core per step (:func:`absorb`), normalising the boundary
    vector after each step and adding the logarithm of its norm: the value is
    ``sign * exp(log_abs)`` and the computation never overflows, however long the chain.

    Parameters
    ----------
    cores : list of N torch tensors (r_{k-1}, d, r_k)
    features : torch tensor (B, N, d)

    Returns
    -------
    sign : tensor (B,), +1, -1 (or 0 for a value that is exactly zero)
    log_abs : tensor (B,), ``log |<W, Phi(x)>|`` (``-inf`` for zero)

    >>> cores = [torch.full((1, 2, 1), 2.0, dtype=torch.float64)] * 300     # W = 2^300 on every entry ...
    >>> sign, log_abs = contract_product_state(cores, torch.ones(1, 300, 2, dtype=torch.float64))
    >>> sign.item(), round(log_abs.item() / math.log(4), 6)   # ... <W, Phi> = 4^300: no overflow
    (1.0, 300.0)
    """
    _check_chain(cores, features, "contract_product_state")
    start = torch.ones(features.shape[0], 1, dtype=features.dtype, device=features.device)
    state, log_abs = contract_chain(start, list(cores), features.unbind(1))
    return torch.sign(state[:, 0]), log_abs


def environment(cores, features, site: int):
    """The environment of core ``site``: what the rest of the chain contributes, for each sample.

    ``left[b]`` is the product of the cores left of ``site`` with their feature vectors (shape
    ``(B, r_site)``, the left bond of core ``site``), ``right[b]`` that of the cores right of it
    (shape ``(B, r_{site+1})``). Then

        <W, Phi(x_b)> = sum_{a, s, c} left[b, a] core[a, s, c] phi_s(x_{b, site}) right[b, c],

    so ``d <W, Phi(x_b)> / d core[a, s, c] = left[b, a] phi_s right[b, c]``: the environment is the
    gradient of the model with respect to one core, the ingredient of every sweep algorithm. No
    normalisation: for long chains use the normalised sweeps of :class:`MPSClassifier`.

    Parameters
    ----------
    cores : list of N torch tensors (r_{k-1}, d, r_k), ``r_0 = r_N = 1``
    features : torch tensor (B, N, d)
    site : int, 0 <= site < N

    Returns
    -------
    left : tensor (B, r_site), right : tensor (B, r_{site+1})
    """
    _check_chain(cores, features, "environment")
    n = len(cores)
    if not is_int(site) or not 0 <= site < n:
        raise ValueError(f"environment: site must be an integer in [0, {n - 1}], got {site!r}")
    left = torch.ones(features.shape[0], 1, dtype=features.dtype, device=features.device)
    for k in range(site):
        left = absorb(left, cores[k], features[:, k])
    right = torch.ones(features.shape[0], 1, dtype=features.dtype, device=features.device)
    for k in range(n - 1, site, -1):
        right = absorb(right, cores[k].transpose(0, 2), features[:, k])   # (r_k, d, r_{k-1}): sweep leftwards
    return left, right


# --------------------------------------------------------------------------
# The classifier
# --------------------------------------------------------------------------


class MPSClassifier(nn.Module):
    """An MPS over the pixel chain with a label core: Stoudenmire and Schwab's classifier as a module.

    ``f_c(x) = l^T A_1(x) ... A_p(x) M[:, c, :] A_{p+1}(x) ... A_N(x) r`` (module docstring), and the
    logits are ``tau * f(x) / ||f(x)||``. See the module docstring for the contraction, its stability
    and the initialisation.

    Parameters
    ----------
    shape : int or (H, W)
        Number of pixels ``N``, or the image shape (then the inputs may be images ``(B, H, W)``).
    n_classes : int
    rank : int
        The bond dimension ``r`` of every bond (``m`` or ``D`` in Stoudenmire and Schwab, ``chi`` elsewhere),
        kept as the attribute ``bond_dim``; ``rank`` (the property) is the tuple of bond dimensions. One
        integer only: the pixel cores are stored stacked, all of shape ``(r, d, r)`` (a sweep or
        :meth:`set_tt_cores` may leave smaller bonds inside them, zero-padded).
    order : "row", "snake", "column", "random", or a permutation of the N pixels
        The order in which the chain visits the pixels (:func:`pixel_order`; ``seed`` for "random").
    feature_map : "trig" (default), "poly", "learned" or a callable
        "trig": :func:`trig_features`; "poly": :func:`polynomial_features` of degree ``local_dim - 1``;
        "learned": a :class:`LearnedFeatures` module (its parameters train with the cores); a callable
        maps pixel values ``(B, N)`` to ``(B, N, local_dim)``.
    local_dim : int, optional
        ``d``; default 2 (required for a callable ``feature_map``).
    label_site : int, optional
        Number of pixels left of the label core, 0..N; default ``N // 2`` (the middle).
    init_std : float
        Noise added to the identity slices of the initial pixel cores.
    label_std : float
        Noise added to the identity slices of the initial label core. It must not be small: the
        untrained chain passes the boundary vectors along almost unchanged, so the classes are told
        apart at first only by how the label core's slices differ (with ``label_std = 0`` all scores
        start equal and training takes many steps to leave that point).
    temperature : float
        Initial value of the learned temperature ``tau`` of the read-out (a small ``tau`` also
        bounds the confidence the model can reach, a mild regulariser).

    Attributes
    ----------
    cores : Parameter (N, r, d, r)
        The pixel cores, site by site in chain order, each ``(left bond, d, right bond)``. The first
        and last are stored at full size so that all stack into one tensor; only their row (first core)
        or column (last core) 0 is used, the boundary vectors being the first unit vector.
    label : Parameter (r, C, r), the label core
    order : buffer (N,), the pixel order
    label_site : int

    Examples
    --------
    >>> model = MPSClassifier((14, 14), 10, rank=8, order="snake")
    >>> model(torch.rand(5, 14, 14)).shape
    torch.Size([5, 10])
    >>> model.to_tt().shape[95:99], model.rank[:4]         # the label (10 classes) merged into pixel 98's core
    ((2, 2, 20, 2), (1, 8, 8, 8))
    """

    def __init__(self, shape, n_classes: int, rank: int, *, order="row", seed=None, feature_map="trig",
                 local_dim=None, label_site=None, init_std: float = 0.03, label_std: float = 0.5,
                 temperature: float = 10.0,
                 device=None, dtype=None):
        super().__init__()
        where = "MPSClassifier"
        self.image_shape = (1, check_positive_int(shape, "shape", where)) if is_int(shape) else \
            tuple(check_positive_int(n, "shape", where) for n in shape)
        if len(self.image_shape) != 2:
            raise ValueError(f"{where}: shape must be the number of pixels or (height, width), got {shape!r}")
        self.n_sites = self.image_shape[0] * self.image_shape[1]
        self.n_classes = check_positive_int(n_classes, "n_classes", where)
        self.bond_dim = check_positive_int(rank, "rank", where)
        if local_dim is not None:
            local_dim = check_positive_int(local_dim, "local_dim", where)
        self.feature_map, self.local_dim = _feature_map(feature_map, local_dim)
        self.order_kind = order if isinstance(order, str) else "custom"
        self.register_buffer("order", self._order(order, seed, device))
        n, r, d, c = self.n_sites, self.bond_dim, self.local_dim, self.n_classes
        self.label_site = n // 2 if label_site is None else int(label_site)
        if not is_int(self.label_site) or not 0 <= self.label_site <= n:
            raise ValueError(f"{where}: label_site must be an integer in [0, {n}], got {label_site!r}")
        factory = {"device": device, "dtype": dtype or torch.get_default_dtype()}
        eye = torch.eye(r, **factory)
        self.cores = nn.Parameter(eye[:, None, :].expand(n, r, d, r) + init_std * torch.randn(n, r, d, r, **factory))
        self.label = nn.Parameter(eye[:, None, :].expand(r, c, r) + label_std * torch.randn(r, c, r, **factory))
        self.log_temperature = nn.Parameter(torch.tensor(math.log(temperature), **factory))

    def _order(self, order, seed, device):
        if isinstance(order, str):
            return pixel_order(self.image_shape, order, seed=seed).to(device)
        order = torch.as_tensor(order, dtype=torch.long, device=device)
        if order.shape != (self.n_sites,) or not torch.equal(order.sort().values, torch.arange(self.n_sites,
                                                                                                device=device)):
            raise ValueError(f"MPSClassifier: order must be a permutation of the {self.n_sites} pixels")
        return order

    # --- sizes ------------------------------------------------------------------------------------
    @property
    def rank(self) -> tuple:
        """Bond dimensions ``(1, r, ..., r, 1)`` of :meth:`to_tt` (label merged: ``N`` sites)."""
        return (1,) + (self.bond_dim,) * (self.n_sites - 1) + (1,)

    @property
    def n_params(self) -> int:
        """Numbers in the cores of the TT (:meth:`tt_cores`), the label core included."""
        return sum(core.numel() for core in self.tt_cores())

    def extra_repr(self):
        return (f"shape={self.image_shape}, n_classes={self.n_classes}, rank={self.bond_dim}, "
                f"local_dim={self.local_dim}, order={self.order_kind!r}, label_site={self.label_site}")

    # --- inputs -----------------------------------------------------------------------------------
    def features(self, images):
        """Local feature vectors in chain order: ``(B, H, W)`` or ``(B, N)`` pixel values -> ``(B, N, d)``."""
        x = images.reshape(images.shape[0], -1)
        if x.shape[1] != self.n_sites:
            raise ValueError(f"MPSClassifier: expected images of {self.n_sites} pixels ({self.image_shape}), "
                             f"got shape {tuple(images.shape)}")
        return self.feature_map(x[:, self.order])

    # --- the contraction --------------------------------------------------------------------------
    def _streams(self, label_site):
        """The left half's cores as is and the right half's mirrored (flipped, bonds swapped), both
        oriented towards the label, so that one :func:`absorb` serves both."""
        left = self.cores[:label_site]
        right = self.cores[label_site:].flip(0).transpose(1, 3)
        return left, right

    def halves(self, phi, label_site=None):
        """Normalised boundary vectors on both sides of the label core, and the log of the norms removed.

        ``phi`` are the feature vectors ``(B, N, d)`` (:meth:`features`). Returns ``left (B, r)``,
        ``right (B, r)`` and ``log_norm (B,)``: ``f_c(x) = exp(log_norm) left^T M[:, c, :] right``.
        Both halves are swept at once (one batched product per step); the longer half first does its
        extra steps alone.
        """
        p = self.label_site if label_site is None else label_site
        batch, n = phi.shape[0], self.n_sites
        left_cores, right_cores = self._streams(p)
        left_phi, right_phi = phi[:, :p], phi[:, p:].flip(1)
        start = torch.zeros(batch, self.bond_dim, dtype=phi.dtype, device=phi.device)
        start[:, 0] = 1                                                     # the boundary vector e_0
        extra = abs(2 * p - n)                                              # the longer half's lead
        left, right = start, start
        log_norm = torch.zeros(batch, dtype=phi.dtype, device=phi.device)
        if extra and p > n - p:
            left, log_norm = contract_chain(start, left_cores[:extra].unbind(0), left_phi[:, :extra].unbind(1))
            left_cores, left_phi = left_cores[extra:], left_phi[:, extra:]
        elif extra:
            right, log_norm = contract_chain(start, right_cores[:extra].unbind(0), right_phi[:, :extra].unbind(1))
            right_cores, right_phi = right_cores[extra:], right_phi[:, extra:]
        if len(left_cores):
            both = torch.stack([left, right])                                   # (2, B, r)
            cores = torch.stack([left_cores, right_cores], 1)                   # (steps, 2, r, d, r)
            feats = torch.stack([left_phi, right_phi], 0)                       # (2, B, steps, d)
            both, logs = contract_chain(both, cores.unbind(0), feats.unbind(2))
            left, right, log_norm = both[0], both[1], log_norm + logs.sum(0)
        return left, right, log_norm

    def amplitudes(self, images):
        """The scores ``f(x)`` in factored form: ``f_tilde (B, C)`` and ``log_norm (B,)`` with
        ``f(x) = exp(log_norm) * f_tilde(x)`` (no overflow however long the chain)."""
        left, right, log_norm = self.halves(self.features(images))
        return torch.einsum("ba,acx,bx->bc", left, self.label, right), log_norm

    def forward(self, images):
        """Logits ``tau * f(x) / ||f(x)||``, shape ``(B, C)``."""
        scores, _ = self.amplitudes(images)
        return self.log_temperature.exp() * scores / scores.norm(dim=1, keepdim=True).clamp_min(1e-30)

    def bond_states(self, images, bond: int):
        """The normalised boundary vector that crosses ``bond`` (between sites ``bond`` and ``bond + 1`` of the
        chain, 1 <= bond <= N - 1) from the side away from the label, for each image: ``(B, r)``.

        These are the "bond features" of the chain: everything the pixels on one side of the bond tell the
        other side, in the ``r``-dimensional bond space.
        """
        n = self.n_sites
        if not is_int(bond) or not 1 <= bond <= n - 1:
            raise ValueError(f"bond_states: bond must be an integer in [1, {n - 1}], got {bond!r}")
        phi = self.features(images)
        start = torch.zeros(phi.shape[0], self.bond_dim, dtype=phi.dtype, device=phi.device)
        start[:, 0] = 1
        left, right = self._streams(self.label_site)
        if bond <= self.label_site:
            state, _ = contract_chain(start, left[:bond].unbind(0), phi[:, :bond].unbind(1))
        else:
            m = n - bond
            state, _ = contract_chain(start, right[:m].unbind(0), phi[:, bond:].flip(1)[:, :m].unbind(1))
        return state

    # --- the TT view --------------------------------------------------------------------------------
    def tt_cores(self) -> list:
        """The ``N + 1`` cores of the weight tensor in the TT convention ``(r_{k-1}, n_k, r_k)``.

        Pixel cores in chain order, with the label core ``(r, C, r)`` inserted after ``label_site`` pixels;
        the first core is ``(1, d, r)`` and the last ``(r, d, 1)`` (the boundary rows of the stored cores).
        Differentiable views of the parameters; the weight tensor they form has modes
        ``(d, ..., d, C, d, ..., d)``.
        """
        cores = list(self.cores.unbind(0))
        cores.insert(self.label_site, self.label)
        cores[0] = cores[0][:1]                     # the boundary vectors pick row 0 of the first core ...
        cores[-1] = cores[-1][..., :1]              # ... and column 0 of the last
        return cores

    def to_tt(self, *, merge_label: bool = True, rescale: bool = False, dtype=torch.float64) -> TTTensor:
        """The weight tensor as a :class:`tnnlib.tt.TTTensor` (detached, ``dtype``), for ``bond_spectra`` and kin.

        With ``merge_label`` (default) the label core is merged into the pixel core on its left (on its right
        when ``label_site == 0``): ``N`` sites, one per pixel in chain order, the merged site of size ``d C``
        (index ``s C + c``), and bond ``k`` between the ``k``-th and ``(k+1)``-th pixel of the chain. Without
        it, the ``N + 1`` cores of :meth:`tt_cores`. (With ``label_site == 0`` the merged index is ``c d + s``.)

        ``rescale``: divide each pixel core by a positive number so that ``||G||_F^2`` is its right bond
        dimension (the norm of an isometry, e.g. ``I`` in every slice divided by ``sqrt(d)``) and the label
        core by its norm. The tensor changes by a positive factor only (the same classifier, the same bond
        spectra up to scale), but its norm no longer grows or shrinks exponentially with the number of sites:
        a canonical form of 196 unscaled cores can overflow even float64 once trained.
        """
        cores = [c.detach().to(dtype) for c in self.tt_cores()]
        if rescale:
            cores = [c / c.norm() * (1.0 if k == self.label_site else math.sqrt(c.shape[2]))
                     for k, c in enumerate(cores)]
        if merge_label:
            p = self.label_site
            k = p - 1 if p > 0 else p                                     # merge label with cores[k] and [k+1]
            a, b = cores[k], cores[k + 1]
            merged = torch.einsum("asx,xcb->ascb", a, b)
            merged = merged.reshape(a.shape[0], a.shape[1] * b.shape[1], b.shape[2])
            cores[k:k + 2] = [merged]
        return TTTensor(cores)

    def bond_cores(self) -> list:
        """The cores that bond-space tools analyse (``tnnlib.bonds``): those of ``to_tt(rescale=True)`` (label
        merged, float64, detached, rescaled), so that bond ``k`` is the cut between the first ``k`` pixels of the
        chain and the rest."""
        return list(self.to_tt(rescale=True).cores)

    @torch.no_grad()
    def set_tt_cores(self, cores, label_site: int) -> None:
        """Replace the parameters by ``N + 1`` TT cores (label core at position ``label_site``), zero-padding
        every bond smaller than ``bond_dim`` (padding with zeros leaves the contraction unchanged)."""
        n, r = self.n_sites, self.bond_dim
        if len(cores) != n + 1:
            raise ValueError(f"set_tt_cores: expected {n + 1} cores, got {len(cores)}")
        new = torch.zeros_like(self.cores)
        label = torch.zeros_like(self.label)
        pixel = 0
        for k, core in enumerate(cores):
            if core.shape[0] > r or core.shape[2] > r:
                raise ValueError(f"set_tt_cores: core {k} has shape {tuple(core.shape)}, bonds above bond_dim {r}")
            target = label if k == label_site else new[pixel]
            target[:core.shape[0], :, :core.shape[2]] = core.to(target.dtype)
            pixel += k != label_site
        self.cores.copy_(new)
        self.label.copy_(label)
        self.label_site = int(label_site)

    @torch.no_grad()
    def mirror_(self) -> MPSClassifier:
        """Reverse the chain in place (same model, sites in the opposite order): cores flipped with their bonds
        swapped, the label core transposed, the pixel order reversed. Returns the model."""
        self.cores.copy_(self.cores.flip(0).transpose(1, 3).clone())
        self.label.copy_(self.label.transpose(0, 2).clone())
        self.order = self.order.flip(0)
        self.label_site = self.n_sites - self.label_site
        return self


# --------------------------------------------------------------------------
# The two-site update and the sweep
# --------------------------------------------------------------------------


def split_two_site(merged, *, max_rank=None, eps=None):
    """Split a merged two-site tensor into two cores by a truncated SVD (the split step of DMRG).

    ``merged`` has shape ``(r_left, n_1, n_2, r_right)``. Its matrix of shape ``(r_left n_1, n_2 r_right)`` is
    factored as ``U diag(S) Vh`` (``tnnlib.svd.truncated_svd``, keeping at most ``max_rank`` singular values
    and/or a relative error ``eps``), and

        left = U reshaped to (r_left, n_1, r)        (left-orthogonal: the orthogonality centre moves right)
        right = diag(S) Vh reshaped to (r, n_2, r_right)

    so that ``einsum("asx,xtb->astb", left, right)`` is the best rank-``r`` approximation of ``merged`` across
    the new bond (Eckart-Young); exact when no singular value is dropped.

    Returns
    -------
    left : (r_left, n_1, r), right : (r, n_2, r_right), S : (r,) the singular values kept

    >>> merged = torch.randn(3, 2, 4, 5, dtype=torch.float64)
    >>> left, right, S = split_two_site(merged)
    >>> left.shape, right.shape, torch.allclose(torch.einsum("asx,xtb->astb", left, right), merged)
    (torch.Size([3, 2, 6]), torch.Size([6, 4, 5]), True)
    """
    if not isinstance(merged, torch.Tensor) or merged.dim() != 4:
        raise ValueError(f"split_two_site: merged must be a torch tensor of shape (r_left, n_1, n_2, r_right), "
                         f"got {getattr(merged, 'shape', type(merged).__name__)}")
    a, n1, n2, b = merged.shape
    U, S, Vh = truncated_svd(merged.reshape(a * n1, n2 * b), max_rank=max_rank, eps=eps)
    return U.reshape(a, n1, -1), (S[:, None] * Vh).reshape(-1, n2, b), S


@dataclass
class SweepResult:
    """What one :func:`sweep` did, one entry per two-site update (plain lists).

    ``loss``: the local training loss after the gradient steps; ``rank``: the bond dimension kept by the
    split; ``discarded``: the relative error of the split, ``||B - left . right|| / ||B||`` (``= ||S_dropped|| /
    ||S||``, the weight thrown away by the truncation);
    ``seconds``: the time of the whole sweep.
    """

    loss: list = field(default_factory=list)
    rank: list = field(default_factory=list)
    discarded: list = field(default_factory=list)
    seconds: float = 0.0


def sweep(model: MPSClassifier, data, *, direction: str = "right", max_rank=None, eps=None, lr: float = 0.5,
          local_steps: int = 4) -> SweepResult:
    """One DMRG-style sweep of Stoudenmire and Schwab: move the label core across the chain, training as it goes.

    At each step the label core ``M`` and the next pixel core ``G`` (in the direction of the sweep) are merged
    into one two-site tensor ``B``, ``B`` takes ``local_steps`` gradient steps of size ``lr`` on the training
    loss (the cross-entropy of the logits ``tau f / ||f||``; the rest of the chain is frozen and enters through
    the environments of ``B``, cached), and :func:`split_two_site` splits it again with the pixel core first:
    the label has moved one site, and the new bond keeps at most ``max_rank`` singular values (and/or relative
    error ``eps``). The sweep starts from the mixed canonical form centred on the label core
    (``tnnlib.tt.orthogonalize``); each split keeps it, so the truncation is optimal for the whole tensor.

    ``direction="right"`` moves the label from where it is to the right end, ``"left"`` to the left end (a sweep
    to the left is a sweep to the right of the mirrored chain, :meth:`MPSClassifier.mirror_`). With ``lr=0``
    the sweep only moves the label (exactly, unless a bond needs more than ``max_rank``). Moving the label changes
    what each bond must carry (the class index changes sides of the cut), so a model trained with the label
    elsewhere usually needs larger bonds after the move; to compress a trained model in place, round its TT
    (``tnnlib.tt.tt_round(model.to_tt(merge_label=False, rescale=True), eps=...)``, then
    :meth:`MPSClassifier.set_tt_cores`).

    Parameters
    ----------
    model : MPSClassifier, updated in place
    data : (images, labels) tensors; all of them are used at every step (full-batch gradient)
    direction : "right" or "left"
    max_rank : int, optional, at most ``model.bond_dim`` (the default)
    eps : float in [0, 1), optional
    lr, local_steps : the gradient steps on each two-site tensor

    Returns
    -------
    :class:`SweepResult`
    """
    if not isinstance(model, MPSClassifier):
        raise TypeError(f"sweep: model must be an MPSClassifier, got {type(model).__name__}")
    if direction not in ("right", "left"):
        raise ValueError(f"sweep: direction must be 'right' or 'left', got {direction!r}")
    max_rank = model.bond_dim if max_rank is None else check_positive_int(max_rank, "max_rank", "sweep")
    if max_rank > model.bond_dim:
        raise ValueError(f"sweep: max_rank {max_rank} is above the model's bond_dim {model.bond_dim}")
    eps = check_eps(eps, "sweep")
    images, labels = data
    images = torch.as_tensor(images).to(model.cores.device, model.cores.dtype)
    labels = torch.as_tensor(labels).to(model.cores.device)
    start = time.perf_counter()
    if direction == "left":
        model.mirror_()
    try:
        result = _sweep_right(model, images, labels, max_rank, eps, lr, check_positive_int(local_steps,
                                                                                         "local_steps", "sweep"))
    finally:
        if direction == "left":
            model.mirror_()
    result.seconds = time.perf_counter() - start
    return result


def _sweep_right(model, images, labels, max_rank, eps, lr, local_steps):
    """The sweep to the right (see :func:`sweep`)."""
    result = SweepResult()
    n, r = model.n_sites, model.bond_dim
    with torch.no_grad():
        tt = model.to_tt(merge_label=False, rescale=True)                   # float64, no overflow (see to_tt)
        model.set_tt_cores(orthogonalize(tt, center=model.label_site).cores, model.label_site)
        model.label /= model.label.norm()                                 # the scale is free: keep ||B|| = 1
        phi = model.features(images)
        p = model.label_site
        start = torch.zeros(len(images), r, dtype=phi.dtype, device=phi.device)
        start[:, 0] = 1
        _, right_cores = model._streams(p)
        # right environments: rights[j] is the state after the pixels j+1 .. N-1 (rights[N-1] = boundary)
        _, _, states = contract_chain(start, right_cores.unbind(0), phi[:, p:].flip(1).unbind(1), keep_states=True)
        rights = {n - 1 - k: s for k, s in enumerate([start] + states[:-1])}
        left, _ = contract_chain(start, model.cores[:p].unbind(0), phi[:, :p].unbind(1))
    temperature = model.log_temperature.detach().exp()
    for j in range(p, n):
        with torch.no_grad():
            merged = torch.einsum("acx,xsb->ascb", model.label, model.cores[j])      # (r, d, C, r)
        merged.requires_grad_(True)
        for _ in range(local_steps if lr else 0):
            scores = torch.einsum("na,ascb,ns,nb->nc", left, merged, phi[:, j], rights[j])
            loss = F.cross_entropy(temperature * scores / scores.norm(dim=1, keepdim=True).clamp_min(1e-30), labels)
            (grad,) = torch.autograd.grad(loss, merged)
            with torch.no_grad():
                merged -= lr * grad
        with torch.no_grad():
            scores = torch.einsum("na,ascb,ns,nb->nc", left, merged, phi[:, j], rights[j])
            loss = F.cross_entropy(temperature * scores / scores.norm(dim=1, keepdim=True).clamp_min(1e-30), labels)
            merged = merged.detach()
            core, label, S = split_two_site(merged, max_rank=max_rank, eps=eps)             # (r, d, k), (k, C, r)
            kept = S.norm()
            error = (torch.einsum("asx,xcb->ascb", core, label) - merged).norm() / merged.norm()
            model.cores[j].zero_()
            model.cores[j][:, :, :core.shape[2]] = core
            model.label.zero_()
            model.label[:label.shape[0]] = label / kept
            model.label_site = j + 1
            left = absorb(left, model.cores[j], phi[:, j])
            left = left / left.norm(dim=1, keepdim=True).clamp_min(torch.finfo(left.dtype).tiny)
        result.loss.append(loss.item())
        result.rank.append(int(core.shape[2]))
        result.discarded.append(float(error))
    return result
