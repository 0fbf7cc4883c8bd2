"""Unfolding, folding and the mode-n product (lesson 01); the relative error of an approximation.

Notation (used across the course): a tensor ``X`` of order ``d`` has shape
``(n_1, ..., n_d)``; its *mode* ``k`` is its k-th axis (counted from 0 in code).

Unfolding convention: the mode-``k`` unfolding moves axis ``k`` to the front
and reshapes the rest in C (row-major) order,

    X_(k)  has shape  (n_k, prod_{m != k} n_m).

This is the convention of tensorly and of most code; Kolda & Bader (2009) order
the columns differently (Fortran order), which permutes columns but changes no
rank, singular value or product result.

The quality of any approximation ``Y`` of ``X`` is measured in this course by
the relative Frobenius error ``||X - Y||_F / ||X||_F`` (:func:`relative_error`).
Every decomposition result (``TTTensor``, ``TTMatrix``, ``TuckerTensor``,
``CPTensor``, ``TRTensor``) shares the small interface of
:class:`TensorFormat`: ``shape``, ``rank``, ``n_params``, ``dtype``,
``to_dense()``, ``norm()``, ``copy()``, ``to()`` and ``==``.

Reference: T. G. Kolda and B. W. Bader, "Tensor Decompositions and
Applications", SIAM Review 51(3), 2009.
"""
from __future__ import annotations

from .backend import array_equal, as_kind, as_like, as_tensor, conj_t, convert, copy, is_torch, moveaxis, norm, prod
from .validation import is_int

__all__ = ["TensorFormat", "fold", "mode_n_product", "multi_mode_product", "relative_error", "unfold"]


def check_mode(mode, order: int, where: str = "mode") -> int:
    """``mode`` as an axis in ``[0, order)`` (negative modes count from the end)."""
    if not is_int(mode) or not -order <= mode < order:
        raise ValueError(f"{where}: mode must be an integer in [0, {order - 1}] for a tensor of order {order}, "
                         f"got {mode!r}")
    return int(mode) % order


def unfold(tensor, mode: int):
    """Mode-``mode`` unfolding (matricisation) of ``tensor``.

    Parameters
    ----------
    tensor : array, shape (n_1, ..., n_d)
    mode : int
        The axis that becomes the rows.

    Returns
    -------
    array, shape (n_mode, prod of the other n), of the tensor's kind and dtype.

    >>> import numpy as np
    >>> unfold(np.arange(24.0).reshape(2, 3, 4), 1).shape
    (3, 8)
    """
    tensor = as_tensor(tensor, where="unfold")
    mode = check_mode(mode, tensor.ndim, "unfold")
    return moveaxis(tensor, mode, 0).reshape(tensor.shape[mode], -1)


def fold(matrix, mode: int, shape):
    """Inverse of :func:`unfold`: rebuild the tensor of ``shape`` from its unfolding.

    Parameters
    ----------
    matrix : array, shape (shape[mode], prod of the other sizes)
    mode : int
    shape : tuple of int
        Shape of the tensor to rebuild.

    >>> import numpy as np
    >>> x = np.arange(24.0).reshape(2, 3, 4)
    >>> bool((fold(unfold(x, 2), 2, x.shape) == x).all())
    True
    """
    matrix = as_tensor(matrix, name="matrix", where="fold")
    shape = tuple(int(n) for n in shape)
    mode = check_mode(mode, len(shape), "fold")
    moved = (shape[mode],) + shape[:mode] + shape[mode + 1:]
    if tuple(matrix.shape) != (moved[0], prod(moved[1:])):
        raise ValueError(
            f"fold: a mode-{mode} unfolding of a tensor of shape {shape} has shape "
            f"({moved[0]}, {prod(moved[1:])}), got {tuple(matrix.shape)}"
        )
    return moveaxis(matrix.reshape(moved), 0, mode)


def mode_n_product(tensor, matrix, mode: int):
    """The mode-n product ``Y = X x_n U``: multiply every mode-n fibre by ``U``.

    ``Y[i_1, .., j, .., i_d] = sum_{i_n} U[j, i_n] X[i_1, .., i_n, .., i_d]``,
    computed as ``fold(U @ unfold(X, n), n, new_shape)``.

    Parameters
    ----------
    tensor : array, shape (n_1, ..., n_d)
    matrix : array, shape (J, n_mode)
        Converted to the tensor's kind (NumPy/torch), device and dtype first
        (a complex matrix keeps its imaginary part).
    mode : int

    Returns
    -------
    array, shape (n_1, ..., J, ..., n_d)  (J in position ``mode``), of the
    tensor's kind and dtype (complex if the matrix is).

    >>> import numpy as np
    >>> mode_n_product(np.ones((2, 3, 4)), np.ones((5, 3)), 1).shape
    (2, 5, 4)
    """
    tensor = as_tensor(tensor, where="mode_n_product")
    matrix = as_like(as_tensor(matrix, name="matrix", where="mode_n_product"), tensor)
    mode = check_mode(mode, tensor.ndim, "mode_n_product")
    if matrix.ndim != 2 or matrix.shape[1] != tensor.shape[mode]:
        raise ValueError(
            f"mode_n_product: the mode-{mode} product needs a matrix with {tensor.shape[mode]} columns "
            f"(the size of mode {mode} of a tensor of shape {tuple(tensor.shape)}), "
            f"got a matrix of shape {tuple(matrix.shape)}"
        )
    if matrix.dtype != tensor.dtype:              # a complex matrix times a real tensor
        tensor = as_like(tensor, matrix)
    new_shape = tuple(tensor.shape[:mode]) + (matrix.shape[0],) + tuple(tensor.shape[mode + 1:])
    return fold(matrix @ unfold(tensor, mode), mode, new_shape)


def multi_mode_product(tensor, matrices, modes=None, transpose=False):
    """Apply mode products with several matrices: ``X x_1 U_1 x_2 U_2 ...``.

    Parameters
    ----------
    tensor : array
    matrices : list of arrays, ``matrices[i]`` of shape (J_i, n_{modes[i]})
            (or (n_{modes[i]}, J_i) when ``transpose=True``: each is conjugate-transposed
        first, which is how a tensor is projected onto Tucker factors).
    modes : list of int, default ``range(len(matrices))``

    Returns
    -------
    array of the tensor's kind and dtype (see :func:`mode_n_product`).
    """
    modes = range(len(matrices)) if modes is None else modes
    for mode, matrix in zip(modes, matrices):
        if transpose:
            matrix = conj_t(as_tensor(matrix, name="matrix", where="multi_mode_product"))
        tensor = mode_n_product(tensor, matrix, mode)
    return tensor


# --------------------------------------------------------------------------
# How good is an approximation?
# --------------------------------------------------------------------------


def relative_error(reference, approx) -> float:
    """Relative Frobenius error ``||reference - approx||_F / ||reference||_F``.

    Parameters
    ----------
    reference : array
        The exact tensor or matrix ``X`` (NumPy array or torch tensor).
    approx : array, or any decomposition result (anything with ``to_dense()``)
        Its dense form must have the shape of ``reference``; it is converted
        to the reference's kind (NumPy/torch) and device.

    Returns
    -------
    float. For a zero ``reference``: 0.0 if ``approx`` is zero too, else ``inf``.

    >>> import numpy as np
    >>> relative_error(np.array([3.0, 4.0]), np.array([3.0, 3.0]))
    0.2
    """
    reference = as_tensor(reference, name="reference", where="relative_error")
    dense = approx.to_dense() if hasattr(approx, "to_dense") else approx
    dense = as_kind(as_tensor(dense, name="approx", where="relative_error"), reference)
    if tuple(dense.shape) != tuple(reference.shape):
        raise ValueError(f"relative_error: approx has shape {tuple(dense.shape)}, "
                         f"but reference has shape {tuple(reference.shape)}")
    error, scale = norm(reference - dense), norm(reference)
    if scale == 0:
        return 0.0 if error == 0 else float("inf")
    return error / scale


# --------------------------------------------------------------------------
# What every decomposition result shares
# --------------------------------------------------------------------------


class TensorFormat:
    """The contract of a decomposition result: a few arrays that stand for one big tensor.

    A subclass stores its arrays (cores, or a core and factors, ...) and
    defines ``shape``, ``rank``, ``to_dense()`` and two small hooks:
    ``_arrays()`` (the stored arrays, in a fixed order) and
    ``_with_arrays(arrays)`` (a new result of the same class from such a
    list). From them this class gives every result

    * ``dtype`` and ``n_params`` (numbers stored, the sum of the array sizes);
    * ``norm()`` - ``||to_dense()||_F`` (formats with a cheaper route override it);
    * ``copy()``, and ``to(device=None, dtype=None)`` to move or convert it;
    * ``==``: the same class and identical arrays (same kind, dtype, shapes
      and values); it never raises, and results are not hashable.
    """

    __hash__ = None

    def _arrays(self) -> list:
        raise NotImplementedError

    def _with_arrays(self, arrays):
        raise NotImplementedError

    @property
    def dtype(self):
        """The dtype of the stored arrays (one for all)."""
        return self._arrays()[0].dtype

    @property
    def n_params(self) -> int:
        """Numbers stored: the total size of the arrays."""
        return sum(prod(a.shape) for a in self._arrays())

    def norm(self) -> float:
        """Frobenius norm ``||X||_F`` of the full tensor, as a Python float (forms the full tensor)."""
        return norm(self.to_dense())

    def copy(self):
        """The same result with copies of its arrays."""
        return self._with_arrays([copy(a) for a in self._arrays()])

    def to(self, device=None, dtype=None):
        """The result moved to ``device`` and/or converted to ``dtype`` (e.g. ``tt.to(dtype=torch.float32)``).

        A NumPy result converts its dtype (``astype``) but has no device: giving
        one raises ``TypeError``.
        """
        name = type(self).__name__
        if device is not None and not is_torch(self._arrays()[0]):
            raise TypeError(f"{name}.to: a NumPy {name} lives on the CPU and has no device "
                            f"(got device={device!r}); build it from torch tensors to move it")
        return self._with_arrays([convert(a, device=device, dtype=dtype) for a in self._arrays()])

    def __eq__(self, other) -> bool:
        if type(other) is not type(self):
            return False
        mine, theirs = self._arrays(), other._arrays()
        return len(mine) == len(theirs) and all(array_equal(a, b) for a, b in zip(mine, theirs))

    def _kind(self) -> str:
        return "torch" if is_torch(self._arrays()[0]) else "numpy"
