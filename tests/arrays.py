"""Helpers shared by the tests: NumPy/torch inputs of a kind and dtype, and a TT layer's bond states.

Errors are measured with :func:`tnnlib.relative_error` (reference first, approximation second).
"""
import numpy as np
import torch

#: (library, dtype) pairs every decomposition must accept
KINDS = [("numpy", np.float64), ("numpy", np.float32), ("torch", torch.float64), ("torch", torch.float32),
         ("numpy", np.complex128)]


def like(kind, dtype):
    """A one-element array whose type and dtype a random generator (``like=``) should copy."""
    return torch.zeros(1, dtype=dtype) if kind == "torch" else np.zeros(1, dtype=dtype)


def dense(x):
    """A NumPy copy of an array or tensor."""
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def tt_loop_states(x, cores):
    """The core-by-core loop of ``TTLinear.reference_forward`` on ``x`` (B, N), recording the state after
    each core but the last as ``(B, r_k, I_done, J_left)``; returns ``(states, output)``. An independent
    reference for ``tnnlib.bonds.bond_states``."""
    batch, n = x.shape
    z, states, left, done = x.t(), [], n, 1
    for k, core in enumerate(cores):
        r, i, j, r1 = core.shape
        z = core.permute(1, 3, 0, 2).reshape(i * r1, r * j) @ z.reshape(r * j, -1)
        z = z.reshape(i, -1).t()
        left, done = left // j, done * i
        if k < len(cores) - 1:
            states.append(z.reshape(r1, left, batch, done).permute(2, 0, 3, 1))
    return states, z.reshape(batch, -1)
