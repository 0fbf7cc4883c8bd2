"""Variance-preserving initialisation of tensorized layers.

A tensorized layer never stores its weight ``W``; it stores small factors whose
product *is* ``W``. Initialising the factors like a dense layer's weight would
be wrong: a product of ``d`` independent numbers of standard deviation ``s``
has standard deviation ``s^d`` times the square root of the number of terms
summed. We want the *rebuilt* weight to look like ``torch.nn.Linear``'s default
one, whose entries have standard deviation

    sigma = 1 / sqrt(3 fan_in)

(``nn.Linear`` draws ``U(-b, b)`` with ``b = 1/sqrt(fan_in)``, and the variance
of ``U(-b, b)`` is ``b^2 / 3``). So every factor is drawn from ``N(0, s^2)``
and we solve ``std(W) = sigma`` for ``s``.

The derivation is the same for every format. An entry of ``W`` is a sum of
``T`` products, each product using one entry of each of the ``F`` factors.
Different products differ in at least one factor entry, and all entries are
independent with mean zero, so the products are uncorrelated and

    Var(W) = T * s^(2F)      =>      s = (sigma / sqrt(T))^(1 / F).

Counting ``T`` and ``F``:

==============================  ==========================  ====================
format                          terms ``T``                 factors ``F``
==============================  ==========================  ====================
TT-matrix, d cores              ``r_1 ... r_{d-1}``         ``d``
tensor ring, L cores            ``r_1 ... r_L`` (all bonds) ``L``
Tucker, N factor matrices       ``r_1 ... r_N`` (core)      ``N + 1`` (core too)
CP rank R, order N              ``R``                       ``N``
low rank ``U V``, rank r        ``r``                       ``2``
==============================  ==========================  ====================

For the TT-matrix this gives ``s = sigma^(1/d) (prod r_k)^(-1/(2d))``. A
widespread mistake divides by ``prod r_k`` instead of its square root; the
rebuilt weight then starts orders of magnitude too small (around 1e-8 for a
large layer) and the network does not train.

Products of Gaussians are heavy-tailed (Yin et al. 2021, TT-Rec,
arXiv:2101.11714): the standard deviation is right, the histogram of ``W`` is
peakier than a Gaussian. That is enough to start training.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def linear_std(fan_in: int) -> float:
    """Standard deviation of ``nn.Linear``'s (and ``nn.Conv2d``'s) default weight: ``1/sqrt(3 fan_in)``."""
    return 1.0 / math.sqrt(3 * fan_in)


def factor_std(sigma: float, terms: int, factors: int) -> float:
    """``s`` such that a sum of ``terms`` products of ``factors`` iid ``N(0, s^2)`` numbers has std ``sigma``.

    Solves ``terms * s^(2 factors) = sigma^2`` (see the module docstring).
    """
    if terms < 1 or factors < 1:
        raise ValueError(f"need terms >= 1 and factors >= 1, got terms={terms}, factors={factors}")
    return (sigma / math.sqrt(terms)) ** (1.0 / factors)


def tt_core_std(sigma: float, rank) -> float:
    """Core std for a TT-matrix with rank ``(1, r_1, ..., r_{d-1}, 1)``: ``sigma^(1/d) (prod r_k)^(-1/(2d))``."""
    rank = tuple(rank)
    d = len(rank) - 1
    return factor_std(sigma, math.prod(rank[1:-1]), d)


def tr_core_std(sigma: float, bonds) -> float:
    """Core std for a tensor ring with the ``L`` bond dimensions ``bonds`` (all of them, ring closed)."""
    bonds = tuple(bonds)
    return factor_std(sigma, math.prod(bonds), len(bonds))


def tucker_std(sigma: float, core_shape) -> float:
    """Std of the core and of the ``N`` factors of a Tucker weight: ``(sigma / sqrt(prod r_i))^(1/(N+1))``."""
    core_shape = tuple(core_shape)
    return factor_std(sigma, math.prod(core_shape), len(core_shape) + 1)


def cp_std(sigma: float, rank: int, order: int) -> float:
    """Std of the ``order`` factors of a rank-``rank`` CP weight: ``(sigma / sqrt(R))^(1/N)``."""
    return factor_std(sigma, rank, order)


def normal_(tensors, std: float) -> None:
    """Fill every tensor of ``tensors`` with iid ``N(0, std^2)`` numbers, in place, without autograd."""
    with torch.no_grad():
        for t in tensors:
            t.normal_(0.0, std)


def bias_uniform_(bias, fan_in: int) -> None:
    """``nn.Linear``'s default bias: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (no-op for ``None``)."""
    if bias is not None:
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        nn.init.uniform_(bias, -bound, bound)
