"""One set of array operations for NumPy arrays and torch tensors.

Every decomposition in ``tnnlib`` is written once, against the few functions
below, and so runs on NumPy arrays and on torch tensors (CPU or CUDA, float32,
float64 and, where the algorithm allows, complex). The rule is simple: the
result has the type, device and dtype of the input.

Only what the decompositions need is here; anything else is plain NumPy or
plain torch in the module that uses it.
"""
from __future__ import annotations

import math
from numbers import Number

import numpy as np
import torch

Array = "np.ndarray | torch.Tensor"


def is_torch(x) -> bool:
    """True when ``x`` is a torch tensor."""
    return isinstance(x, torch.Tensor)


def as_tensor(x, name: str = "tensor", min_order: int = 1):
    """Check that ``x`` is a finite NumPy array or torch tensor and return it.

    Lists and tuples become NumPy arrays; integer input becomes float64, since
    every decomposition needs floating-point arithmetic.

    Raises
    ------
    TypeError
        If ``x`` is not array-like.
    ValueError
        If ``x`` has fewer than ``min_order`` dimensions, is empty, or holds NaN
        or infinity.
    """
    if not is_torch(x):
        if isinstance(x, (list, tuple, Number)) or isinstance(x, np.ndarray):
            x = np.asarray(x)
        else:
            raise TypeError(f"{name} must be a NumPy array or a torch tensor, got {type(x).__name__}")
        if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.complexfloating)):
            x = x.astype(np.float64)
    elif not (x.is_floating_point() or x.is_complex()):
        x = x.to(torch.float64)
    if x.ndim < min_order:
        raise ValueError(f"{name} must have at least {min_order} dimension(s), got shape {tuple(x.shape)}")
    if any(n == 0 for n in x.shape):
        raise ValueError(f"{name} is empty: shape {tuple(x.shape)}")
    finite = torch.isfinite(x).all().item() if is_torch(x) else np.isfinite(x).all()
    if not finite:
        raise ValueError(f"{name} contains NaN or infinity; decompositions need finite values")
    return x


def machine_eps(x) -> float:
    """The machine epsilon of ``x``'s dtype (2.2e-16 for float64, 1.2e-7 for float32)."""
    return float(torch.finfo(x.dtype).eps if is_torch(x) else np.finfo(x.dtype).eps)


def as_like(array, like):
    """``array`` converted to the type, device and dtype of ``like``."""
    if is_torch(like):
        return torch.as_tensor(array, dtype=like.dtype, device=like.device)
    return np.asarray(to_numpy(array), dtype=like.dtype)


def to_numpy(x) -> np.ndarray:
    """A NumPy copy of ``x`` (moves a torch tensor to the CPU first)."""
    return x.detach().cpu().numpy() if is_torch(x) else np.asarray(x)


def transpose(x, axes):
    """Permute the axes of ``x`` (``np.transpose`` / ``Tensor.permute``)."""
    return x.permute(*axes) if is_torch(x) else np.transpose(x, axes)


def moveaxis(x, source: int, destination: int):
    """Move axis ``source`` of ``x`` to position ``destination``."""
    return torch.movedim(x, source, destination) if is_torch(x) else np.moveaxis(x, source, destination)


def conj(x):
    """Complex conjugate (a no-op view for real input)."""
    if is_torch(x):
        return x.conj() if x.is_complex() else x
    return np.conj(x) if np.iscomplexobj(x) else x


def conj_t(a):
    """Conjugate transpose of a matrix (or of the last two axes)."""
    return conj(a).transpose(-2, -1) if is_torch(a) else np.swapaxes(conj(a), -1, -2)


def svd(a):
    """Thin SVD ``a = U @ diag(S) @ Vh`` with singular values in decreasing order.

    Shapes: ``a`` (m, n) -> ``U`` (m, k), ``S`` (k,), ``Vh`` (k, n), k = min(m, n).
    """
    if is_torch(a):
        return torch.linalg.svd(a, full_matrices=False)
    return np.linalg.svd(a, full_matrices=False)


def qr(a):
    """Thin QR ``a = Q @ R``; ``Q`` (m, k) has orthonormal columns, k = min(m, n)."""
    if is_torch(a):
        return torch.linalg.qr(a, mode="reduced")
    return np.linalg.qr(a, mode="reduced")


def eigh(a):
    """Eigen-decomposition of a Hermitian matrix, eigenvalues in *increasing* order."""
    return torch.linalg.eigh(a) if is_torch(a) else np.linalg.eigh(a)


def solve(a, b):
    """Solve ``a @ x = b`` for ``x``."""
    return torch.linalg.solve(a, b) if is_torch(a) else np.linalg.solve(a, b)


def pinv(a):
    """Moore-Penrose pseudo-inverse."""
    return torch.linalg.pinv(a) if is_torch(a) else np.linalg.pinv(a)


def norm(x) -> float:
    """Frobenius norm of ``x`` of any order, as a Python float."""
    if is_torch(x):
        return float(torch.linalg.vector_norm(x))
    return float(np.linalg.norm(np.ravel(x)))


def einsum(subscripts: str, *operands):
    """``einsum`` on NumPy (with path optimisation) or torch operands."""
    if is_torch(operands[0]):
        return torch.einsum(subscripts, *operands)
    return np.einsum(subscripts, *operands, optimize=len(operands) > 2)


def random_normal(shape, like=None, seed=None, dtype=None):
    """Standard-normal numbers of the given shape, of the type/device/dtype of ``like``.

    With ``like=None`` the result is a float64 NumPy array. ``seed`` makes the draw
    reproducible without touching any global random state.
    """
    shape = tuple(int(n) for n in shape)
    if like is not None and is_torch(like):
        gen = torch.Generator(device="cpu")
        if seed is not None:
            gen.manual_seed(int(seed))
        else:
            gen.seed()
        real = torch.float64 if like.dtype in (torch.complex128, torch.float64) else torch.float32
        out = torch.randn(shape, generator=gen, dtype=real)
        return out.to(device=like.device, dtype=dtype or like.dtype)
    rng = np.random.default_rng(seed)
    out = rng.standard_normal(shape)
    target = dtype or (like.dtype if like is not None else np.float64)
    return out.astype(target)


def zeros(shape, like):
    """Zeros of the type/device/dtype of ``like``."""
    if is_torch(like):
        return torch.zeros(tuple(shape), dtype=like.dtype, device=like.device)
    return np.zeros(tuple(shape), dtype=like.dtype)


def ones(shape, like):
    """Ones of the type/device/dtype of ``like``."""
    if is_torch(like):
        return torch.ones(tuple(shape), dtype=like.dtype, device=like.device)
    return np.ones(tuple(shape), dtype=like.dtype)


def eye(n: int, like):
    """The n x n identity of the type/device/dtype of ``like``."""
    if is_torch(like):
        return torch.eye(n, dtype=like.dtype, device=like.device)
    return np.eye(n, dtype=like.dtype)


def stack(xs, axis: int = 0):
    """Stack a list of arrays of one kind."""
    return torch.stack(list(xs), dim=axis) if is_torch(xs[0]) else np.stack(xs, axis=axis)


def concatenate(xs, axis: int = 0):
    """Concatenate a list of arrays of one kind."""
    return torch.cat(list(xs), dim=axis) if is_torch(xs[0]) else np.concatenate(xs, axis=axis)


def prod(shape) -> int:
    """Product of a shape's sizes as a Python int (1 for an empty shape)."""
    return int(math.prod(int(n) for n in shape))
