"""Checkers of lesson 10: MPS classifiers (feature map, contraction with a product state, the snake order,
the environment of a core, the two-site split).

The lesson computes in torch; the checkers give float64 inputs (float32 where the point is float32's range)
and expect torch tensors of the inputs' dtype back (the policy of :mod:`tnnlib.checking`).
"""
import math

import numpy as np
import torch

from .. import mps as _mps
from ..checking import ExerciseFailed, describe, exercise, expect, expect_array, expect_close, expect_equal

# --------------------------------------------------------------------------
# References the library does not have under the exercise's name
# --------------------------------------------------------------------------


def _snake_order(shape):
    """Pixel indices (row-major numbering) in snake order: even rows left to right, odd rows right to left."""
    return _mps.pixel_order(shape, "snake")


# --------------------------------------------------------------------------
# Inputs and helpers
# --------------------------------------------------------------------------

def _chain(ranks, d, seed, dtype=torch.float64, scale=None):
    """Random TT cores ``(r_{k-1}, d, r_k)`` with the given full rank tuple ``(1, r_1, ..., 1)``."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(ranks[k], d, ranks[k + 1], generator=gen, dtype=dtype)
            * (scale if scale is not None else 1 / math.sqrt(ranks[k + 1])) for k in range(len(ranks) - 1)]


def _features(batch, n, d, seed, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return _mps.trig_features(torch.rand(batch, n, generator=gen, dtype=dtype), d) if d > 1 else \
        torch.rand(batch, n, 1, generator=gen, dtype=dtype)


def _brute_force(cores, features):
    """``<W, Phi(x_b)>`` with the full tensor ``W`` and the full product states (tiny chains only)."""
    W = _mps_dense(cores)                                        # (d, ..., d)
    batch, n, d = features.shape
    values = []
    for b in range(batch):
        product = torch.ones(1, dtype=features.dtype)
        for k in range(n):
            product = torch.outer(product, features[b, k]).reshape(-1)
        values.append((W.reshape(-1) * product).sum())
    return torch.stack(values)


def _mps_dense(cores):
    full = cores[0].reshape(-1, cores[0].shape[2])
    for core in cores[1:]:
        full = (full @ core.reshape(core.shape[0], -1)).reshape(-1, core.shape[2])
    return full.reshape([c.shape[1] for c in cores])


def _sites_grid(order, shape):
    """The site at which ``order`` visits each pixel, as a grid of text (-1: never visited)."""
    grid = np.full(shape[0] * shape[1], -1)
    for site, pixel in enumerate(order.tolist()[:grid.size]):
        if 0 <= pixel < grid.size:
            grid[pixel] = site
    if grid.size > 36:
        return f"(a {shape[0]} x {shape[1]} grid)"
    return "\n".join("  " + " ".join(f"{v:2d}" for v in row) for row in grid.reshape(shape))


def _pair(got, what):
    expect(isinstance(got, (tuple, list)) and len(got) == 2,
           f"{what} should return a pair (two tensors), got {describe(got)}")
    return got


def _triple(got, what):
    expect(isinstance(got, (tuple, list)) and len(got) == 3,
           f"{what} should return three tensors (left, right, S), got {describe(got)}")
    return got


#: (ranks, d, batch) of the small chains of 10.2 and 10.3: lengths 1 to 6, ranks that vary, d = 1 to 3
_CHAINS = [((1, 1), 2, 3), ((1, 3, 1), 2, 4), ((1, 2, 4, 3, 1), 2, 5), ((1, 3, 3, 3, 3, 3, 1), 2, 2),
           ((1, 2, 3, 1), 3, 4), ((1, 4, 2, 1), 1, 3)]


# --------------------------------------------------------------------------
# Exercises
# --------------------------------------------------------------------------

@exercise("10.1", "the local feature map", reference=_mps.trig_features)
def trig_features(answer):
    gen = torch.Generator().manual_seed(0)
    for dim in (2, 3, 4, 5):
        for x in (torch.tensor([0.0, 0.25, 0.5, 1.0], dtype=torch.float64),
                  torch.rand(3, 7, generator=gen, dtype=torch.float64)):
            what = f"trig_features(x, dim={dim}) for x of shape {tuple(x.shape)}"
            got = answer(x.clone(), dim)
            expect_array(got, what, kind="torch", shape=tuple(x.shape) + (dim,))
            expected = _mps.trig_features(x, dim)
            if dim == 2:
                expect_close(got, expected, what + " against [cos(pi x / 2), sin(pi x / 2)]")
            else:
                expect_close(got, expected, what + " against phi_s(x) = sqrt(binom(dim - 1, s)) "
                             "cos(pi x / 2)^(dim - 1 - s) sin(pi x / 2)^s, s = 0 .. dim - 1")
    norms = answer(torch.linspace(0, 1, 11, dtype=torch.float64), 4).norm(dim=-1)
    expect_close(norms, torch.ones(11, dtype=torch.float64),
                 "the norms of trig_features(x, 4) (each phi(x) has norm 1)")
    x32 = torch.rand(2, 5, generator=gen)
    got = answer(x32, 2)
    expect(isinstance(got, torch.Tensor) and got.dtype == torch.float32,
           f"trig_features(x, 2) for float32 pixels returned {describe(got)}: keep the pixels' dtype (float32 "
           f"images give float32 features; the model's cores are float32)")
    return "dim = 2 to 5 on vectors and batches of pixels, unit norms, float32 in gives float32 out."


@exercise("10.2", "contracting an MPS with a product state", reference=_mps.contract_product_state)
def contract_product_state(answer):
    for seed, (ranks, d, batch) in enumerate(_CHAINS):
        cores = _chain(ranks, d, seed)
        features = _features(batch, len(cores), d, 100 + seed)
        what = f"contract_product_state(cores, features) on a chain of {len(cores)} cores, ranks {ranks}, d = {d}"
        sign, log_abs = _pair(answer([c.clone() for c in cores], features.clone()), what)
        expect_array(sign, what + ", the signs", kind="torch", shape=(batch,), floating=False)   # +-1 of any dtype
        expect_array(log_abs, what + ", the log |values|", kind="torch", shape=(batch,))
        expected = _brute_force(cores, features)
        expect_close(sign, torch.sign(expected), what + ": the signs, against the brute-force <W, Phi(x)>")
        expect_close(log_abs, expected.abs().log(), what + ": log |<W, Phi(x)>|, against the brute force")
    # What the exercise is for: a long float32 chain whose value is far outside float32's range.
    for scale, name in ((2.0, "grows like 2^N"), (0.25, "shrinks like 0.25^N")):
        n, r = 300, 4
        cores = _chain((1,) + (r,) * (n - 1) + (1,), 2, 7, dtype=torch.float32, scale=scale)
        features = _features(3, n, 2, 8, dtype=torch.float32)
        what = (f"contract_product_state(cores, features) on a float32 chain of {n} cores of rank {r} whose "
                f"value {name}")
        sign, log_abs = _pair(answer(cores, features), what)
        expect(isinstance(log_abs, torch.Tensor) and bool(torch.isfinite(log_abs).all()),
               f"{what}: log |value| should be finite, got {describe(log_abs)} with values "
               f"{log_abs.tolist() if isinstance(log_abs, torch.Tensor) else log_abs}. The value itself is beyond "
               f"float32's range (about 1e38): normalise the boundary vector after every core and add up the "
               f"logarithms of the norms")
        sign64, log64 = _mps.contract_product_state([c.double() for c in cores], features.double())
        expect_close(torch.as_tensor(sign).double(), sign64, what + ": the signs (against a float64 computation)")
        expect_close(torch.as_tensor(log_abs).double(), log64, what + ": log |value| (against float64)",
                     rtol=1e-4, atol=1e-4)
    return "Six small chains against the brute force (lengths 1 to 6, d = 1 to 3), and two float32 chains of 300 " \
           "cores whose values are beyond float32's range."


@exercise("10.4", "the environment of one core", reference=_mps.environment)
def environment(answer):
    for seed, (ranks, d, batch) in enumerate(_CHAINS):
        cores = _chain(ranks, d, seed)
        features = _features(batch, len(cores), d, 200 + seed)
        values = _brute_force(cores, features)
        for site in range(len(cores)):
            what = f"environment(cores, features, site={site}) on a chain of {len(cores)} cores, ranks {ranks}"
            left, right = _pair(answer([c.clone() for c in cores], features.clone(), site), what)
            expect_array(left, what + ", left", kind="torch", shape=(batch, ranks[site]))
            expect_array(right, what + ", right", kind="torch", shape=(batch, ranks[site + 1]))
            ref_left, ref_right = _mps.environment(cores, features, site)
            expect_close(left, ref_left, what + ": left, the cores before the site contracted with their features")
            expect_close(right, ref_right, what + ": right, the cores after the site contracted with their features")
            rebuilt = torch.einsum("ba,asc,bs,bc->b", left, cores[site], features[:, site], right)
            expect_close(rebuilt, values, what + ": left . core(phi) . right should give <W, Phi(x)>")
    return "Every site of six chains (lengths 1 to 6, ranks that vary, d = 1 to 3); left . core . right = <W, Phi(x)>."


@exercise("10.5", "the two-site update's SVD split", reference=_mps.split_two_site)
def split_two_site(answer):
    gen = torch.Generator().manual_seed(3)
    shapes = [(1, 2, 2, 4), (4, 2, 10, 4), (3, 2, 2, 3), (5, 3, 2, 1), (6, 2, 10, 6)]
    for shape in shapes:
        merged = torch.randn(*shape, generator=gen, dtype=torch.float64)
        a, n1, n2, b = shape
        full_rank = min(a * n1, n2 * b)
        S_all = torch.linalg.svdvals(merged.reshape(a * n1, n2 * b))
        for max_rank in (None, 1, 3, full_rank + 2):
            what = f"split_two_site(merged of shape {shape}, max_rank={max_rank})"
            left, right, S = _triple(answer(merged.clone(), max_rank=max_rank), what)
            keep = full_rank if max_rank is None else min(max_rank, full_rank)
            expect_array(left, what + ", left", kind="torch", shape=(a, n1, keep))
            expect_array(right, what + ", right", kind="torch", shape=(keep, n2, b))
            expect_array(S, what + ", S", kind="torch", shape=(keep,))
            expect_close(S, S_all[:keep], what + ": S, the largest singular values of merged as a "
                         f"({a} {n1}) x ({n2} {b}) matrix, in decreasing order")
            q = left.reshape(a * n1, keep)
            gram = q.T @ q
            expect_close(gram, torch.eye(keep, dtype=torch.float64), what + ": left as a (r_left n_1) x r matrix "
                         "should have orthonormal columns (U of the SVD: the orthogonality centre moves to the right "
                         "core, which keeps S)", atol=1e-9)
            product = torch.einsum("asx,xtb->astb", left, right)
            error = (product - merged).norm()
            optimal = S_all[keep:].norm()
            expect_close(error, optimal, what + ": ||left . right - merged||, the error of the best rank-"
                         f"{keep} approximation (Eckart-Young: the norm of the singular values dropped)", atol=1e-9)
    merged = torch.randn(4, 2, 10, 4, generator=gen, dtype=torch.float64)
    left, right, S = _triple(answer(merged.clone(), eps=0.5), "split_two_site(merged, eps=0.5)")
    expect_equal(int(S.shape[0]), int(_mps.split_two_site(merged, eps=0.5)[2].shape[0]),
                 "split_two_site(merged of shape (4, 2, 10, 4), eps=0.5): the number of singular values kept "
                 "(the smallest rank with relative error <= eps)")
    return "Five shapes, full rank and truncated (max_rank 1, 3, above full), and eps: S, left-orthogonality, " \
           "optimal error."


@exercise("10.3", "the snake order", reference=_snake_order)
def snake_order(answer):
    for shape in ((1, 1), (1, 5), (2, 3), (3, 2), (4, 4), (5, 3), (14, 14)):
        what = f"snake_order({shape})"
        got = answer(shape)
        expect(isinstance(got, torch.Tensor) and not got.is_floating_point() and got.dim() == 1,
               f"{what} should return a 1-D torch tensor of integers (pixel indices), got {describe(got)}")
        expected = _snake_order(shape)
        expect(got.shape == expected.shape, f"{what}: expected {expected.numel()} pixel indices, got {got.numel()}")
        got = got.cpu().long()
        if not torch.equal(got, expected):
            k = int((got != expected).nonzero()[0, 0])
            w = shape[1]
            where = f"site {k} of the chain visits pixel {got[k].item()}"
            if 0 <= got[k].item() < expected.numel():
                where += f" (row {got[k].item() // w}, column {got[k].item() % w})"
            raise ExerciseFailed(
                f"{what}: {where}, but the snake visits pixel {expected[k].item()} (row {expected[k].item() // w}, "
                f"column {expected[k].item() % w}) there: rows 0, 2, 4, ... left to right, rows 1, 3, 5, ... right to "
                f"left; pixel (row, column) has index row * width + column. Your order as the site of each pixel:\n"
                f"{_sites_grid(got, shape)}\nexpected:\n{_sites_grid(expected, shape)}")
    return "Seven shapes from 1 x 1 to 14 x 14."
