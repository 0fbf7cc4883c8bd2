"""Checkers of lesson 06: tensorized layers (parameters, forward pass, initialisation, contraction cost)."""
import math

import numpy as np
import torch
from torch.utils._pytree import tree_flatten as _tree_flatten

from ..checking import describe, exercise, expect, expect_close, expect_equal, expect_shape
from ..nn.init import tt_core_std as _tt_core_std
from ..nn.planning import tt_candidate as _tt_candidate
from ..nn.tt_linear import contract_groups as _contract_groups
from ..nn.tt_linear import merge_cores as _merge_cores

try:  # sees every tensor an operation reads or writes, also inside einsum and matmul
    from torch.utils._python_dispatch import TorchDispatchMode as _Mode
    _HOOK = "__torch_dispatch__"
except ImportError:  # pragma: no cover - older or newer torch: the public mode sees torch-level calls only
    from torch.overrides import TorchFunctionMode as _Mode
    _HOOK = "__torch_function__"


def _tt_layer_params(in_modes, out_modes, ranks):
    """Numbers in the cores of a TT-matrix layer: ``sum_k r_{k-1} m_k n_k r_k`` (bias excluded)."""
    return sum(ranks[k] * m * n * ranks[k + 1] for k, (m, n) in enumerate(zip(out_modes, in_modes)))


def _sequential_flops(in_modes, out_modes, ranks, batch_size):
    """FLOPs of the core-by-core forward pass, last core first (the ``"sequential"`` plan of a TTLinear)."""
    return _tt_candidate(out_modes=tuple(out_modes), in_modes=tuple(in_modes), rank=tuple(ranks),
                         groups=(1,) * len(in_modes), batch_size=batch_size).flops


class _LargestTensor(_Mode):
    """Records the largest tensor (in elements) that any operation reads or writes while active."""

    def __init__(self):
        super().__init__()
        self.largest, self.where = 0, None


def _record(self, func, types, args=(), kwargs=None):
    out = func(*args, **(kwargs or {}))
    for t in _tree_flatten((args, kwargs, out))[0]:
        if isinstance(t, torch.Tensor) and t.numel() > self.largest:
            self.largest, self.where = t.numel(), getattr(func, "__name__", str(func))
    return out


setattr(_LargestTensor, _HOOK, _record)


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------

#: (in_modes, out_modes, ranks): square and rectangular layers, d = 2 to 5, ranks that vary along the chain
_LAYERS = [
    ((4, 8, 8, 4), (4, 8, 8, 4), (1, 8, 8, 8, 1)),       # Novikov et al.'s MNIST layer 1024 -> 1024
    ((2, 3), (5, 7), (1, 4, 1)),                          # d = 2, all modes different
    ((4, 7, 7, 4), (4, 4, 4, 4), (1, 4, 4, 4, 1)),        # 784 -> 256 (Gao et al.'s FC2)
    ((3, 2, 5), (2, 6, 1), (1, 3, 5, 1)),                 # a mode of size 1, unequal ranks
    ((2, 2, 2, 2, 2), (3, 2, 2, 2, 3), (1, 2, 4, 3, 2, 1)),
]


def _cores(in_modes, out_modes, ranks, seed):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(ranks[k], m, n, ranks[k + 1], generator=gen, dtype=torch.float64) / math.sqrt(m * n)
            for k, (m, n) in enumerate(zip(out_modes, in_modes))]


def _weight(cores):
    """W (M, N) rebuilt from TT-matrix cores."""
    merged = _merge_cores(cores)
    return merged.reshape(merged.shape[1], merged.shape[2])


# --------------------------------------------------------------------------
# Exercises
# --------------------------------------------------------------------------

@exercise("6.1", "parameters of a TT-matrix layer", reference=_tt_layer_params)
def tt_layer_params(answer):
    cases = _LAYERS + [((8, 8, 8, 8), (8, 8, 8, 8), (1, 16, 16, 16, 1)),     # 4096 x 4096, rank 16
                       ((2, 7, 8, 8, 7, 4), (4, 4, 4, 4, 4, 4), (1, 4, 4, 4, 4, 4, 1))]  # Novikov's VGG FC6
    for in_modes, out_modes, ranks in cases:
        got = answer(in_modes, out_modes, ranks)
        what = f"tt_layer_params(in_modes={in_modes}, out_modes={out_modes}, ranks={ranks})"
        expect(isinstance(got, (int, np.integer)), f"{what} should return an integer, got {describe(got)}")
        expect_equal(int(got), _tt_layer_params(in_modes, out_modes, ranks),
                     f"{what} (core k holds r_(k-1) * m_k * n_k * r_k numbers: m_k = out_modes[k], n_k = in_modes[k])")
    return "Seven layers, d = 2 to 6, square and rectangular, incl. Novikov et al.'s 1024 x 1024 and VGG FC6."


@exercise("6.2", "forward pass of a TT-matrix layer", reference=_contract_groups)
def tt_forward(answer):
    for seed, (in_modes, out_modes, ranks) in enumerate(_LAYERS):
        cores = _cores(in_modes, out_modes, ranks, seed)
        W = _weight(cores)
        M, N = W.shape
        for batch in (1, 5):
            x = torch.randn(batch, N, generator=torch.Generator().manual_seed(100 + seed), dtype=torch.float64)
            what = (f"tt_forward(x, cores) for a {M} x {N} layer (in_modes {in_modes}, out_modes {out_modes}, "
                    f"ranks {ranks}) on a batch of {batch}")
            got = answer(x, [c.clone() for c in cores])
            expect(isinstance(got, torch.Tensor), f"{what}: expected a torch tensor, got {describe(got)}")
            expect_shape(got, (batch, M), what)
            expect_close(got, x @ W.T, what + " against the dense product x @ W.T", rtol=1e-8, atol=1e-10)
    # What the exercise is for: W is never formed, and autograd trains the cores through the sweep.
    in_modes, out_modes, ranks = _LAYERS[0]                       # 1024 x 1024, ranks 8: W has 1,048,576 entries
    cores = [c.requires_grad_() for c in _cores(in_modes, out_modes, ranks, 7)]
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(5, 1024, generator=gen, dtype=torch.float64)
    what = f"tt_forward(x, cores) for the 1024 x 1024 layer of ranks {ranks} on a batch of 5"
    with _LargestTensor() as seen:
        got = answer(x, cores)
    expect(seen.largest < 1024 * 1024,
           f"{what} handled a tensor of {seen.largest:,} entries (in {seen.where}), as many as W (1024 x 1024) or "
           f"more: the exercise asks for x @ W.T *without forming W* (no TTMatrix(cores).to_dense(), no product of "
           f"all the cores; contract x with one core at a time, whose intermediates here stay below "
           f"5 x 1024 x 8 = 40,960 entries)")
    expect(isinstance(got, torch.Tensor) and got.shape == (5, 1024), f"{what}: expected a (5, 1024) torch tensor, "
                                                                      f"got {describe(got)}")
    expect(got.requires_grad,
           f"{what} with cores that require gradients returned a result that carries none: the layer trains its "
           f"cores with autograd, so stay in torch (a NumPy round trip, .detach(), .item(), .tolist() or "
           f"torch.tensor(...) cuts the graph)")
    weights = torch.randn(5, 1024, generator=gen, dtype=torch.float64)
    grads = torch.autograd.grad((got * weights).sum(), cores, allow_unused=True)
    reference = [c.detach().clone().requires_grad_() for c in cores]
    expected = torch.autograd.grad((_contract_groups(x, reference) * weights).sum(), reference)
    for k, (g, e) in enumerate(zip(grads, expected), start=1):
        expect(g is not None, f"{what}: no gradient reaches core {k} of 4 (the result does not depend on it "
                              f"through torch operations: was it detached, or turned into NumPy?)")
        expect_close(g, e, f"{what}: the gradient of a loss with respect to core {k}", rtol=1e-8, atol=1e-10)
    return ("Five layers (d = 2 to 5, rectangular, unequal ranks), batches of 1 and 5, against x @ W.T; "
            "on a 1024 x 1024 layer no tensor as large as W, and the right gradient for every core.")


def _number(got, what):
    """A float from what tt_core_std returned, or a failure saying what the lesson can use."""
    if isinstance(got, torch.Tensor):
        # the lesson passes it to core.normal_(0.0, std), which takes a number or a 0-dim tensor
        expect(got.dim() == 0 and got.is_floating_point(),
               f"{what} should return a number; got {describe(got)}, which core.normal_(0.0, std) (how the "
               f"lesson uses it) does not accept: return a Python float, or a 0-dim float tensor")
        return got.item()
    expect(isinstance(got, (float, int, np.floating, np.integer)) and not isinstance(got, bool),
           f"{what} should return a number, got {describe(got)}")
    return float(got)


@exercise("6.3", "variance-preserving initialisation", reference=_tt_core_std)
def tt_core_std(answer):
    cases = [(0.02, (1, 8, 8, 8, 1)), (1 / math.sqrt(3 * 1024), (1, 4, 4, 1)), (0.5, (1, 3, 1)),
             (0.01, (1, 16, 16, 16, 16, 16, 1)), (0.1, (1, 1, 1, 1))]
    for sigma, ranks in cases:
        what = f"tt_core_std(sigma={sigma:.4g}, ranks={ranks})"
        got = _number(answer(sigma, ranks), what)
        # rtol 1e-6: a float32 tensor answer is exact to about 1e-7
        expect_close(got, _tt_core_std(sigma, ranks),
                     f"{what} (s = sigma^(1/d) (prod r_k)^(-1/(2d)), d = {len(ranks) - 1} cores)", rtol=1e-6)
    # The property itself: the rebuilt weight has std sigma.
    in_modes = out_modes = (4, 8, 8, 4)
    ranks, sigma = (1, 8, 8, 8, 1), 1 / math.sqrt(3 * 1024)
    s = _number(answer(sigma, ranks), f"tt_core_std(sigma={sigma:.4g}, ranks={ranks})")
    gen = torch.Generator().manual_seed(0)
    cores = [s * torch.randn(ranks[k], m, n, ranks[k + 1], generator=gen, dtype=torch.float64)
             for k, (m, n) in enumerate(zip(out_modes, in_modes))]
    empirical = _weight(cores).std().item()
    expect(0.75 * sigma < empirical < 1.33 * sigma,
           f"cores drawn from N(0, s^2) with your s = {s:.4g} rebuild a 1024 x 1024 weight (ranks {ranks}) of "
           f"std {empirical:.3g}, but the target is sigma = {sigma:.3g}")
    return ("Five rank profiles against the formula (a number or a 0-dim tensor), and the empirical std of a "
            "rebuilt 1024 x 1024 weight.")


@exercise("6.4", "FLOPs of the core-by-core forward pass", reference=_sequential_flops)
def sequential_flops(answer):
    cases = [(layer, batch) for layer in _LAYERS for batch in (1, 32)] + \
            [(((2, 8), (8, 2), (1, 4, 1)), 3), (((8, 8, 8, 8), (8, 8, 8, 8), (1, 16, 16, 16, 1)), 512)]
    for (in_modes, out_modes, ranks), batch in cases:
        got = answer(in_modes, out_modes, ranks, batch)
        what = f"sequential_flops({in_modes}, {out_modes}, {ranks}, batch_size={batch})"
        expect(isinstance(got, (int, np.integer)), f"{what} should return an integer, got {describe(got)}")
        expect_equal(int(got), _sequential_flops(in_modes, out_modes, ranks, batch),
                     f"{what} (last core first; core k costs 2 B r_(k-1) r_k (n_1..n_k) (m_k..m_d), "
                     f"n = in_modes, m = out_modes)")
    return "Twelve layer/batch pairs, incl. a layer where the order of the sweep changes the count."
