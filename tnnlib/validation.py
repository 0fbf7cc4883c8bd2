"""Argument checking, in one place, for every function and class of tnnlib.

Each decomposition, result class and layer checks its arguments with the
functions below, so that one argument means one thing everywhere and a
mistake gets the same clear message wherever it is made:

* :func:`check_positive_int` - a size or a count: an integer >= 1;
* :func:`check_eps` - a relative Frobenius error ``eps`` in ``[0, 1)``;
* :func:`check_max_rank` - an optional cap on the ranks of a truncation;
* :func:`check_rank` - the ranks of a fixed-rank method or constructor;
* :func:`check_modes` - a factorisation ``(n_1, ..., n_d)`` of a size;
* :func:`check_float_dtype` - input the algorithms can compute with;
* :func:`check_tensor` - the input of a decomposition (finite, float, of an order);
* :func:`check_arrays` - the cores or factors of a decomposition result.

Rules. Integers are Python ``int`` or NumPy integers (``np.int64(3)``); a
``bool``, a float (even ``2.0``) or a string is not an integer. A rank given
as one integer caps every bond at the largest rank the shape allows; a
sequence of ranks is a request bond by bond, checked and never capped. Wrong
types raise ``TypeError``, wrong values ``ValueError``, and every message
starts with ``where`` (the public name of the caller, e.g. ``"tt_svd"``).
"""
from __future__ import annotations

import math
from numbers import Integral, Real

from .backend import as_tensor, device_of, dtype_kind, dtype_name, is_array, is_torch

__all__ = ["check_arrays", "check_eps", "check_float_dtype", "check_max_rank", "check_modes",
           "check_positive_int", "check_rank", "check_tensor", "is_int"]


def is_int(value) -> bool:
    """True for a Python or NumPy integer, False for a bool, a float or anything else.

    >>> is_int(3), is_int(True), is_int(3.0)
    (True, False, False)
    """
    return isinstance(value, Integral) and not isinstance(value, bool) and type(value).__name__ != "bool_"


def check_positive_int(value, name: str, where: str) -> int:
    """``value`` as a Python int, checked to be an integer >= 1.

    Accepts ``int`` and NumPy integers; rejects bools, floats and strings
    (``TypeError``) and integers < 1 (``ValueError``).

    >>> check_positive_int(3, "n_sweeps", "cp_als")
    3
    >>> check_positive_int(2.5, "rank", "cp_als")
    Traceback (most recent call last):
        ...
    TypeError: cp_als: rank must be a positive integer, got 2.5
    >>> check_positive_int(0, "in_features", "LowRankLinear")
    Traceback (most recent call last):
        ...
    ValueError: LowRankLinear: in_features must be a positive integer, got 0
    """
    if not is_int(value):
        raise TypeError(f"{where}: {name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{where}: {name} must be a positive integer, got {int(value)}")
    return int(value)


def check_eps(eps, where: str) -> float | None:
    """A relative Frobenius error as a float in ``[0, 1)``; ``None`` passes through.

    ``eps = 0`` asks for an exact result (only rounding-level terms dropped).

    >>> check_eps(0.1, "tt_svd")
    0.1
    >>> check_eps(None, "tt_svd") is None
    True
    >>> check_eps(2, "hosvd")
    Traceback (most recent call last):
        ...
    ValueError: hosvd: eps must be a real number in [0, 1), got 2
    """
    if eps is None:
        return None
    if isinstance(eps, bool) or type(eps).__name__ == "bool_" or not isinstance(eps, Real):
        raise TypeError(f"{where}: eps must be a real number in [0, 1), got {eps!r}")
    if not 0 <= eps < 1:  # also rejects NaN
        raise ValueError(f"{where}: eps must be a real number in [0, 1), got {eps!r}")
    return float(eps)


def _is_sequence(value) -> bool:
    """A list, tuple or range, or a 1-D array (not a string, a set or a mapping)."""
    return isinstance(value, (list, tuple, range)) or (is_array(value) and value.ndim == 1)


def _rank_entries(value, limits, where: str, name: str) -> tuple:
    """The shared rules of :func:`check_max_rank` and :func:`check_rank` (``value`` not None)."""
    limits = tuple(limits)
    if is_int(value):
        rank = check_positive_int(value, name, where)
        return tuple(rank if limit is None else min(rank, int(limit)) for limit in limits)
    if not _is_sequence(value):
        raise TypeError(f"{where}: {name} must be a positive integer or a sequence of "
                        f"{len(limits)} positive integers, got {value!r}")
    entries = list(value)
    if len(entries) != len(limits):
        raise ValueError(f"{where}: {name} must be a positive integer or a sequence of {len(limits)} "
                         f"positive integers (one per bond), got {len(entries)} entries: {value!r}")
    ranks = []
    for k, (entry, limit) in enumerate(zip(entries, limits)):
        rank = check_positive_int(entry, f"{name}[{k}]", where)
        if limit is not None and rank > limit:
            raise ValueError(f"{where}: {name}[{k}] = {rank} is larger than the largest rank {int(limit)} "
                             f"that bond {k} allows (largest ranks {limits}); pass an int to cap the ranks")
        ranks.append(rank)
    return tuple(ranks)


def check_max_rank(max_rank, limits, where: str, name: str = "max_rank") -> tuple[int, ...] | None:
    """A cap on the ranks of a truncation, one entry per bond; ``None`` passes through.

    ``limits`` holds the largest rank each bond allows (``None``: no limit).
    An int caps every bond at ``min(int, limit)``; a sequence must have one
    positive integer per bond, each at most its limit (never capped).

    >>> check_max_rank(5, (4, 12, 3), "tt_svd")
    (4, 5, 3)
    >>> check_max_rank([2, 3, 3], (4, 12, 3), "tt_svd")
    (2, 3, 3)
    >>> check_max_rank([2, 3, 5], (4, 12, 3), "tt_svd")
    Traceback (most recent call last):
        ...
    ValueError: tt_svd: max_rank[2] = 5 is larger than the largest rank 3 that bond 2 allows ...
    """
    if max_rank is None:
        return None
    return _rank_entries(max_rank, limits, where, name)


def check_rank(rank, limits, where: str, name: str = "rank") -> tuple[int, ...]:
    """The ranks of a fixed-rank method: the rules of :func:`check_max_rank`, ``None`` not allowed.

    >>> check_rank(3, (None,), "cp_als")
    (3,)
    >>> check_rank((2, 2), (4, 5), "hooi")
    (2, 2)
    >>> check_rank(None, (4, 5), "hooi")
    Traceback (most recent call last):
        ...
    TypeError: hooi: rank is required: a positive integer or a sequence of 2 positive integers
    """
    if rank is None:
        raise TypeError(f"{where}: {name} is required: a positive integer or a sequence of "
                        f"{len(tuple(limits))} positive integers")
    return _rank_entries(rank, limits, where, name)


def check_modes(modes, size, name: str, where: str) -> tuple[int, ...]:
    """A factorisation ``(n_1, ..., n_d)`` of positive integers whose product is ``size``.

    ``size=None`` checks only the entries.

    >>> check_modes([4, 8], 32, "in_modes", "TTLinear")
    (4, 8)
    >>> check_modes((4, 7), 32, "in_modes", "TTLinear")
    Traceback (most recent call last):
        ...
    ValueError: TTLinear: in_modes (4, 7) multiply to 28, not to 32
    """
    if not _is_sequence(modes):
        raise TypeError(f"{where}: {name} must be a sequence of positive integers, got {modes!r}")
    modes = tuple(check_positive_int(n, f"{name}[{k}]", where) for k, n in enumerate(modes))
    if not modes:
        raise ValueError(f"{where}: {name} must hold at least one mode, got ()")
    if size is not None and math.prod(modes) != size:
        raise ValueError(f"{where}: {name} {modes} multiply to {math.prod(modes)}, not to {size}")
    return modes


def check_float_dtype(x, where: str):
    """``x`` itself, if it holds float32, float64 or complex numbers; else a clear ``TypeError``.

    The decompositions need LAPACK-grade arithmetic: integers, bools, float16
    and bfloat16 are refused rather than silently converted.

    >>> import numpy as np
    >>> check_float_dtype(np.ones(3, dtype=np.float16), "tt_svd")
    Traceback (most recent call last):
        ...
    TypeError: tt_svd: needs float32, float64 or complex input, got float16; convert with x.astype(np.float32)
    """
    if not is_array(x):
        raise TypeError(f"{where}: expected a NumPy array or a torch tensor, got {type(x).__name__}")
    if dtype_kind(x) not in ("float", "complex"):
        fix = "x.float()" if is_torch(x) else "x.astype(np.float32)"
        raise TypeError(f"{where}: needs float32, float64 or complex input, got {dtype_name(x)}; "
                        f"convert with {fix}")
    return x


def check_tensor(x, where: str, name: str = "tensor", min_order: int = 1):
    """The input of a decomposition: a finite, non-empty float or complex array of ``min_order`` axes or more.

    A NumPy array or torch tensor is checked with :func:`check_float_dtype`
    and returned as is; a (nested) list of Python numbers becomes a float64
    NumPy array.

    >>> check_tensor([[1, 2], [3, 4]], "hosvd").dtype
    dtype('float64')
    >>> import numpy as np
    >>> check_tensor(np.ones((2, 3), dtype=int), "hosvd")
    Traceback (most recent call last):
        ...
    TypeError: hosvd: needs float32, float64 or complex input, got int64; convert with x.astype(np.float32)
    """
    if is_array(x):
        check_float_dtype(x, where)
    return as_tensor(x, name=name, min_order=min_order, where=where)


def check_arrays(arrays, where: str, name: str = "cores", labels=None) -> list:
    """A non-empty list of arrays of one kind (all NumPy or all torch), dtype and device.

    Used by the result classes on construction; the dtype must be float or
    complex (:func:`check_float_dtype`). Shapes are the caller's business.
    ``labels`` names the arrays in messages (default ``name[0]``, ``name[1]``, ...).

    >>> import numpy as np
    >>> len(check_arrays([np.zeros((1, 2, 1)), np.ones((1, 3, 1))], "TTTensor"))
    2
    >>> check_arrays([[[0.0]]], "TTTensor")
    Traceback (most recent call last):
        ...
    TypeError: TTTensor: cores[0] must be a NumPy array or a torch tensor, got list
    """
    if is_array(arrays) or isinstance(arrays, (str, bytes)) or not hasattr(arrays, "__iter__"):
        raise TypeError(f"{where}: {name} must be a list of arrays, got {type(arrays).__name__}")
    arrays = list(arrays)
    if not arrays:
        raise ValueError(f"{where}: {name} must hold at least one array")
    labels = list(labels) if labels is not None else [f"{name}[{k}]" for k in range(len(arrays))]
    for label, a in zip(labels, arrays):
        if not is_array(a):
            raise TypeError(f"{where}: {label} must be a NumPy array or a torch tensor, got {type(a).__name__}")
    first = arrays[0]
    if dtype_kind(first) not in ("float", "complex"):
        fix = ".float()" if is_torch(first) else ".astype(np.float32)"
        raise TypeError(f"{where}: {labels[0]} must hold float32, float64 or complex numbers, "
                        f"got {dtype_name(first)}; convert with {fix}")
    for label, a in zip(labels[1:], arrays[1:]):
        if is_torch(a) != is_torch(first):
            raise TypeError(f"{where}: the arrays must be all NumPy arrays or all torch tensors, not a mix "
                            f"({labels[0]} is {type(first).__name__}, {label} is {type(a).__name__})")
        if a.dtype != first.dtype:
            raise TypeError(f"{where}: the arrays must share one dtype; {labels[0]} is {dtype_name(first)}, "
                            f"{label} is {dtype_name(a)}")
        if device_of(a) != device_of(first):
            raise TypeError(f"{where}: the arrays must be on one device; {labels[0]} is on {device_of(first)}, "
                            f"{label} on {device_of(a)}")
    return arrays
