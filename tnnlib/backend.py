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


def as_tensor(x, name: str = "tensor", min_order: int = 1, where: str | None = None):
    """Check that ``x`` is a finite NumPy array or torch tensor and return it.

    Lists and tuples become NumPy arrays; integer input becomes float64, since
    every decomposition needs floating-point arithmetic. ``where`` (the caller's
    public name) starts every error message.

    Raises
    ------
    TypeError
        If ``x`` is not array-like.
    ValueError
        If ``x`` has fewer than ``min_order`` dimensions, is empty, or holds NaN
        or infinity.
    """
    name = f"{where}: {name}" if where else name
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


def is_array(x) -> bool:
    """True for a NumPy array or a torch tensor (not a list, not a scalar)."""
    return isinstance(x, np.ndarray) or is_torch(x)


def dtype_name(x) -> str:
    """The dtype of ``x`` as a short name: ``"float32"``, ``"bfloat16"``, ``"complex128"``, ..."""
    return str(x.dtype).replace("torch.", "")


def dtype_kind(x) -> str:
    """What kind of numbers ``x`` holds, for argument checks.

    ``"float"`` (float32, float64), ``"complex"`` (complex64, complex128),
    ``"half"`` (float16, bfloat16: too short for the decompositions), ``"int"``
    (signed or unsigned integers), ``"bool"`` or ``"other"``.
    """
    if is_torch(x):
        dtype = x.dtype
        if dtype in (torch.float16, torch.bfloat16):
            return "half"
        if dtype == torch.bool:
            return "bool"
        if x.is_complex():
            return "complex"
        if x.is_floating_point():
            return "float"
        return "int"
    dtype = np.asarray(x).dtype if not isinstance(x, np.ndarray) else x.dtype
    if dtype == np.float16:
        return "half"
    if dtype == np.bool_:
        return "bool"
    if np.issubdtype(dtype, np.complexfloating):
        return "complex"
    if np.issubdtype(dtype, np.floating):
        return "float"
    if np.issubdtype(dtype, np.integer):
        return "int"
    return "other"


def device_of(x):
    """The torch device of ``x``, or ``None`` for a NumPy array (always on the CPU)."""
    return x.device if is_torch(x) else None


def machine_eps(x) -> float:
    """The machine epsilon of ``x``'s dtype (2.2e-16 for float64, 1.2e-7 for float32)."""
    return float(torch.finfo(x.dtype).eps if is_torch(x) else np.finfo(x.dtype).eps)


def as_like(array, like):
    """``array`` converted to the type, device and dtype of ``like``.

    A complex ``array`` and a real ``like`` give the complex dtype of ``like``'s
    precision: an imaginary part is never dropped. No copy when nothing changes.
    """
    dtype = like.dtype
    if dtype_kind(array) == "complex" and dtype_kind(like) != "complex":
        dtype = _complex_dtype(like)
    if is_torch(like):
        if not is_torch(array):
            array = np.asarray(array)
        return torch.as_tensor(array, dtype=dtype, device=like.device)
    return np.asarray(to_numpy(array), dtype=dtype)


def _complex_dtype(x):
    """The complex dtype of ``x``'s precision (complex64 for float32, else complex128)."""
    if is_torch(x):
        return torch.complex64 if x.dtype == torch.float32 else torch.complex128
    return np.complex64 if x.dtype == np.float32 else np.complex128


def as_kind(array, like):
    """``array`` as a NumPy array or torch tensor like ``like`` (and on its device), its dtype kept."""
    if is_torch(like):
        return torch.as_tensor(array if is_torch(array) else np.asarray(array), device=like.device)
    return to_numpy(array)


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


def flip(x, axis: int = 0):
    """A copy of ``x`` with the order of the entries along ``axis`` reversed.

    A copy, not NumPy's negative-stride view: BLAS cannot multiply such views,
    and NumPy would fall back to a loop many times slower.
    """
    return torch.flip(x, dims=(axis,)) if is_torch(x) else np.ascontiguousarray(np.flip(x, axis=axis))


def to_list(x) -> list:
    """The entries of a vector as a list of Python numbers (on the host)."""
    return to_numpy(x).ravel().tolist()


def copy(x):
    """A copy of ``x`` that shares no memory with it."""
    return x.clone() if is_torch(x) else x.copy()


def convert(x, device=None, dtype=None):
    """``x`` moved to ``device`` and/or converted to ``dtype`` (``None``: unchanged).

    ``dtype`` may be given as a NumPy dtype, a torch dtype or a name
    (``"float32"``). A NumPy array lives on the CPU: giving it a ``device``
    raises ``TypeError``.
    """
    if dtype is not None:
        name = str(dtype).replace("torch.", "") if isinstance(dtype, torch.dtype) else np.dtype(dtype).name
        dtype = getattr(torch, name) if is_torch(x) else np.dtype(name)
    if not is_torch(x):
        if device is not None:
            raise TypeError(f"a NumPy array lives on the CPU and has no device; got device={device!r} "
                            "(convert it to torch first)")
        return x if dtype is None else x.astype(dtype)
    return x.to(device=device, dtype=dtype)


def array_equal(a, b) -> bool:
    """True when ``a`` and ``b`` are of one kind, dtype, device and shape, with identical entries."""
    if is_torch(a) != is_torch(b) or a.dtype != b.dtype or tuple(a.shape) != tuple(b.shape):
        return False
    if is_torch(a):
        return a.device == b.device and bool(torch.equal(a, b))
    return bool(np.array_equal(a, b))


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


def qr_r(a):
    """Only the ``R`` factor of a thin QR ``a = Q @ R`` (cheaper: ``Q`` is never formed), shape (k, n)."""
    if is_torch(a):
        return torch.linalg.qr(a, mode="r")[1]
    return np.linalg.qr(a, mode="r")


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
