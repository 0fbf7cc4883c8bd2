"""One contract for every decomposition result: TTTensor, TTMatrix, TuckerTensor, CPTensor and TRTensor,
on NumPy and on torch - construction checks, shape, rank, n_params, dtype, to_dense, norm, copy, to, ==."""
import math

import numpy as np
import pytest
import torch

from tnnlib import relative_error
from tnnlib.cp import CPTensor, random_cp
from tnnlib.tr import TRTensor, random_tr
from tnnlib.tt import TTTensor, random_tt
from tnnlib.ttm import TTMatrix, random_ttm
from tnnlib.tucker import TuckerTensor

from arrays import dense


def random_tucker(like):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in [(2, 3, 2), (4, 2), (5, 3), (3, 2)]]
    arrays = [torch.tensor(a) if isinstance(like, torch.Tensor) else a for a in arrays]
    return TuckerTensor(arrays[0], arrays[1:])


#: name -> (a random result like an array, a builder from the list of its arrays, the rank type,
#:          the axis of arrays[1] that must match a neighbour)
FORMATS = {
    "TTTensor": (lambda like: random_tt((3, 4, 5), [2, 3], seed=0, like=like), TTTensor, tuple, 0),
    "TTMatrix": (lambda like: random_ttm(out_modes=(2, 3), in_modes=(4, 2), rank=2, seed=0, like=like),
                 TTMatrix, tuple, 0),
    "TuckerTensor": (random_tucker, lambda arrays: TuckerTensor(arrays[0], arrays[1:]), tuple, -1),
    "CPTensor": (lambda like: random_cp((3, 4, 5), 2, seed=0, like=like),
                 lambda arrays: CPTensor(arrays[0], arrays[1:]), int, -1),
    "TRTensor": (lambda like: random_tr((3, 4, 5), (2, 3, 2), seed=0, like=like), TRTensor, tuple, 0),
}
LIKES = {"numpy": np.zeros(1), "torch": torch.zeros(1, dtype=torch.float64)}


def arrays_of(result):
    if isinstance(result, (TuckerTensor,)):
        return [result.core, *result.factors]
    if isinstance(result, CPTensor):
        return [result.weights, *result.factors]
    return list(result.cores)


@pytest.fixture(params=[(f, k) for f in FORMATS for k in LIKES], ids=lambda p: f"{p[0]}-{p[1]}")
def case(request):
    name, kind = request.param
    make, build, rank_type, axis = FORMATS[name]
    return make(LIKES[kind]), build, rank_type, axis, kind


def test_description(case):
    result, _, rank_type, _, kind = case
    arrays = arrays_of(result)
    full = result.to_dense()
    assert type(full) is type(arrays[0]) and full.dtype == result.dtype == arrays[0].dtype
    assert tuple(full.shape) == result.shape
    assert isinstance(result.rank, rank_type) and result.rank == result.rank   # a value, not a new object each time
    assert result.n_params == sum(math.prod(a.shape) for a in arrays)
    assert isinstance(result.norm(), float)
    assert abs(result.norm() - np.linalg.norm(dense(full))) <= 1e-12 * np.linalg.norm(dense(full))
    assert relative_error(full, result) == 0.0
    assert kind in repr(result) and "rank=" in repr(result)


def test_copy_and_equality(case):
    result, _, _, _, _ = case
    twin = result.copy()
    assert twin == result and type(twin) is type(result)
    assert all(a is not b for a, b in zip(arrays_of(twin), arrays_of(result)))
    arrays_of(twin)[0][(0,) * arrays_of(twin)[0].ndim] += 1.0              # the copy is independent
    assert twin != result and not (twin == result)
    assert result == result.copy()
    # never raises: other types, other shapes, other kinds and dtypes are simply unequal
    assert result != 3 and result != "x" and result != None  # noqa: E711
    assert result != result.to(dtype="float32")
    assert not any(result == other for _, other in [(n, FORMATS[n][0](np.zeros(1))) for n in FORMATS]
                   if type(other) is not type(result) or other.shape != result.shape)
    with pytest.raises(TypeError, match="unhashable"):
        hash(result)


def test_to(case):
    result, _, _, _, kind = case
    single = result.to(dtype=np.float32)
    assert type(single) is type(result) and single.shape == result.shape and single.rank == result.rank
    assert single.dtype == (torch.float32 if kind == "torch" else np.float32)
    assert relative_error(result.to_dense(), single) < 1e-6
    assert result.to(dtype=torch.float32).dtype == single.dtype                  # torch or NumPy dtypes
    assert result.to() == result
    if kind == "torch":
        moved = result.to(device="cpu", dtype=torch.float64)
        assert moved == result and all(a.device.type == "cpu" for a in arrays_of(moved))
    else:
        with pytest.raises(TypeError, match=r"\.to: a NumPy .* lives on the CPU and has no device"):
            result.to(device="cpu")
    with pytest.raises(TypeError, match="float32, float64 or complex"):
        result.to(dtype="float16")                                                # checked like any construction


def test_bad_construction_gives_clear_errors(case):
    result, build, _, axis, kind = case
    arrays = arrays_of(result)
    name = type(result).__name__
    assert build(arrays) == result
    as_list = list(arrays)
    as_list[1] = dense(arrays[1]).tolist()
    with pytest.raises(TypeError, match=rf"^{name}: \w+\[\d\] must be a NumPy array or a torch tensor, got list"):
        build(as_list)
    mixed = list(arrays)
    mixed[1] = dense(arrays[1]) if kind == "torch" else torch.tensor(arrays[1])
    with pytest.raises(TypeError, match=rf"^{name}: .*all NumPy arrays or all torch tensors, not a mix"):
        build(mixed)
    two_dtypes = list(arrays)
    two_dtypes[1] = arrays[1].float() if kind == "torch" else arrays[1].astype(np.float32)
    with pytest.raises(TypeError, match=rf"^{name}: .*one dtype"):
        build(two_dtypes)
    half = [a.half() if kind == "torch" else a.astype(np.float16) for a in arrays]
    with pytest.raises(TypeError, match=rf"^{name}: .* float32, float64 or complex numbers, got float16"):
        build(half)
    integers = [a.long() if kind == "torch" else a.astype(np.int64) for a in arrays]
    with pytest.raises(TypeError, match=rf"^{name}: .*got int64"):
        build(integers)
    bonds = list(arrays)
    shape = list(arrays[1].shape)
    shape[axis] += 1
    bonds[1] = torch.ones(shape, dtype=arrays[1].dtype) if kind == "torch" else np.ones(shape)
    with pytest.raises(ValueError, match=rf"^{name}: "):
        build(bonds)
    with pytest.raises(TypeError, match=rf"^{name}: "):
        build(np.stack([dense(a).ravel()[:1] for a in arrays]))                   # one array, not a list
