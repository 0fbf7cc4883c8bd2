"""Helpers shared by the decomposition tests: NumPy/torch inputs of a kind and dtype.

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
