"""Unfolding, folding and the mode-n product (lesson 01).

Notation (used across the course): a tensor ``X`` of order ``d`` has shape
``(n_1, ..., n_d)``; its *mode* ``k`` is its k-th axis (counted from 0 in code).

Unfolding convention: the mode-``k`` unfolding moves axis ``k`` to the front
and reshapes the rest in C (row-major) order,

    X_(k)  has shape  (n_k, prod_{m != k} n_m).

This is the convention of tensorly and of most code; Kolda & Bader (2009) order
the columns differently (Fortran order), which permutes columns but changes no
rank, singular value or product result.

Reference: T. G. Kolda and B. W. Bader, "Tensor Decompositions and
Applications", SIAM Review 51(3), 2009.
"""
from __future__ import annotations

from .backend import as_tensor, conj_t, moveaxis, prod


def _check_mode(mode: int, order: int) -> int:
    if not isinstance(mode, int) or not -order <= mode < order:
        raise ValueError(f"mode must be an integer in [0, {order - 1}] for a tensor of order {order}, got {mode!r}")
    return mode % order


def unfold(tensor, mode: int):
    """Mode-``mode`` unfolding (matricisation) of ``tensor``.

    Parameters
    ----------
    tensor : array, shape (n_1, ..., n_d)
    mode : int
        The axis that becomes the rows.

    Returns
    -------
    array, shape (n_mode, prod of the other n)
    """
    tensor = as_tensor(tensor)
    mode = _check_mode(mode, tensor.ndim)
    return moveaxis(tensor, mode, 0).reshape(tensor.shape[mode], -1)


def fold(matrix, mode: int, shape):
    """Inverse of :func:`unfold`: rebuild the tensor of ``shape`` from its unfolding.

    Parameters
    ----------
    matrix : array, shape (shape[mode], prod of the other sizes)
    mode : int
    shape : tuple of int
        Shape of the tensor to rebuild.
    """
    shape = tuple(int(n) for n in shape)
    mode = _check_mode(mode, len(shape))
    moved = (shape[mode],) + shape[:mode] + shape[mode + 1:]
    if tuple(matrix.shape) != (moved[0], prod(moved[1:])):
        raise ValueError(
            f"a mode-{mode} unfolding of a tensor of shape {shape} has shape "
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
    mode : int

    Returns
    -------
    array, shape (n_1, ..., J, ..., n_d)  (J in position ``mode``)
    """
    tensor = as_tensor(tensor)
    mode = _check_mode(mode, tensor.ndim)
    if matrix.ndim != 2 or matrix.shape[1] != tensor.shape[mode]:
        raise ValueError(
            f"mode-{mode} product needs a matrix with {tensor.shape[mode]} columns "
            f"(the size of mode {mode} of a tensor of shape {tuple(tensor.shape)}), "
            f"got a matrix of shape {tuple(matrix.shape)}"
        )
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
    """
    modes = range(len(matrices)) if modes is None else modes
    for mode, matrix in zip(modes, matrices):
        tensor = mode_n_product(tensor, conj_t(matrix) if transpose else matrix, mode)
    return tensor

