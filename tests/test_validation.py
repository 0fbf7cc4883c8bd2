"""tnnlib.validation: one set of argument checks, the same rules and messages everywhere."""
import numpy as np
import pytest
import torch

from tnnlib.validation import (
    check_arrays,
    check_eps,
    check_float_dtype,
    check_max_rank,
    check_modes,
    check_positive_int,
    check_rank,
    check_tensor,
    is_int,
)


def test_integers_are_python_or_numpy_ints_only():
    assert all(is_int(v) for v in (3, np.int64(3), np.int32(3), np.uint8(3)))
    assert not any(is_int(v) for v in (True, np.bool_(True), 3.0, np.float64(3.0), "3", None, torch.tensor(3)))
    assert check_positive_int(np.int64(4), "n", "f") == 4 and type(check_positive_int(np.int64(4), "n", "f")) is int
    for bad in (2.5, 2.0, True, "3", None):
        with pytest.raises(TypeError, match=r"^f: n must be a positive integer, got"):
            check_positive_int(bad, "n", "f")
    for bad in (0, -1, np.int64(0)):
        with pytest.raises(ValueError, match=r"^f: n must be a positive integer, got"):
            check_positive_int(bad, "n", "f")


def test_eps_is_a_real_number_in_0_1():
    assert check_eps(None, "f") is None
    assert check_eps(0, "f") == 0.0 and check_eps(0.5, "f") == 0.5 and check_eps(np.float32(0.25), "f") == 0.25
    assert type(check_eps(np.float64(0.1), "f")) is float
    for bad in (1, 1.0, 2, -0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"^f: eps must be a real number in \[0, 1\), got"):
            check_eps(bad, "f")
    for bad in (True, "0.1", [0.1], 0.1j):
        with pytest.raises(TypeError, match=r"^f: eps must be a real number in \[0, 1\), got"):
            check_eps(bad, "f")


def test_max_rank_int_is_capped_and_sequence_checked():
    assert check_max_rank(None, (3, 4), "f") is None
    assert check_max_rank(5, (3, 8, None), "f") == (3, 5, 5)          # None: no cap
    assert check_max_rank(np.int64(2), (3, 4), "f") == (2, 2)
    assert check_max_rank([3, 4], (3, 4), "f") == (3, 4)
    assert check_max_rank(np.array([1, 2]), (3, 4), "f") == (1, 2)
    assert check_max_rank((), (), "f") == ()
    with pytest.raises(ValueError, match=r"^f: max_rank\[1\] = 5 is larger than the largest rank 4 that bond 1"):
        check_max_rank([3, 5], (3, 4), "f")
    with pytest.raises(ValueError, match=r"^f: max_rank must be .* sequence of 2 positive integers.*3 entries"):
        check_max_rank([1, 2, 3], (3, 4), "f")
    with pytest.raises(ValueError, match=r"^f: max_rank\[0\] must be a positive integer, got 0"):
        check_max_rank([0, 2], (3, 4), "f")
    with pytest.raises(TypeError, match=r"^f: max_rank\[0\] must be a positive integer, got 2.5"):
        check_max_rank([2.5, 2], (3, 4), "f")
    for bad in (2.5, True, "3", {"a": 1}, np.array(3), 3.0):
        with pytest.raises(TypeError, match=r"^f: max_rank must be a positive integer"):
            check_max_rank(bad, (3, 4), "f")
    with pytest.raises(ValueError, match="max_rank must be a positive integer, got 0"):
        check_max_rank(0, (3, 4), "f")


def test_rank_follows_the_same_rules_and_is_required():
    assert check_rank(9, (3, None), "f") == (3, 9)
    assert check_rank([2, 2], (3, 4), "f", name="ranks") == (2, 2)
    with pytest.raises(TypeError, match=r"^f: rank is required"):
        check_rank(None, (3, 4), "f")
    with pytest.raises(ValueError, match=r"^f: rank\[0\] = 4 is larger"):
        check_rank([4, 2], (3, 4), "f")


def test_modes():
    assert check_modes([2, np.int64(3)], 6, "in_modes", "f") == (2, 3)
    assert check_modes((5,), None, "shape", "f") == (5,)
    with pytest.raises(ValueError, match=r"^f: in_modes \(2, 4\) multiply to 8, not to 6"):
        check_modes((2, 4), 6, "in_modes", "f")
    with pytest.raises(TypeError, match=r"^f: in_modes\[1\] must be a positive integer, got 4.5"):
        check_modes((2, 4.5), None, "in_modes", "f")
    with pytest.raises(ValueError, match=r"in_modes\[0\] must be a positive integer, got 0"):
        check_modes((0, 4), None, "in_modes", "f")
    with pytest.raises(TypeError, match="sequence of positive integers"):
        check_modes(6, 6, "in_modes", "f")
    with pytest.raises(ValueError, match="at least one mode"):
        check_modes((), None, "in_modes", "f")


@pytest.mark.parametrize("x", [np.ones(2, dtype=np.float32), np.ones(2), np.ones(2, dtype=np.complex64),
                               torch.ones(2), torch.ones(2, dtype=torch.complex128)])
def test_float_dtype_accepts(x):
    assert check_float_dtype(x, "f") is x


@pytest.mark.parametrize("x,name,fix", [
    (np.ones(2, dtype=np.float16), "float16", "astype"), (torch.ones(2, dtype=torch.float16), "float16", "x.float()"),
    (torch.ones(2, dtype=torch.bfloat16), "bfloat16", "x.float()"), (np.ones(2, dtype=int), "int64", "astype"),
    (torch.ones(2, dtype=torch.int32), "int32", "x.float()"), (np.ones(2, dtype=bool), "bool", "astype"),
    (torch.ones(2, dtype=torch.bool), "bool", "x.float()"), (np.ones(2, dtype=np.uint8), "uint8", "astype"),
])
def test_float_dtype_rejects(x, name, fix):
    with pytest.raises(TypeError, match=rf"^f: needs float32, float64 or complex input, got {name}; .*{fix}"):
        check_float_dtype(x, "f")


def test_check_tensor():
    assert check_tensor([[1, 2]], "f").dtype == np.float64               # Python numbers: float64
    with pytest.raises(TypeError, match="got int64"):
        check_tensor(np.ones((2, 2), dtype=np.int64), "f")
    with pytest.raises(ValueError, match=r"^f: tensor must have at least 2 dimension"):
        check_tensor(np.ones(3), "f", min_order=2)
    with pytest.raises(ValueError, match=r"^f: tensor contains NaN"):
        check_tensor(torch.tensor([float("nan")]), "f")
    with pytest.raises(TypeError, match=r"^f: tensor must be a NumPy array or a torch tensor"):
        check_tensor("abc", "f")


def test_check_arrays():
    a, b = np.ones((1, 2, 1)), np.ones((1, 3, 1))
    assert len(check_arrays((a, b), "f")) == 2
    with pytest.raises(TypeError, match=r"^f: cores must be a list of arrays, got ndarray"):
        check_arrays(a, "f")
    with pytest.raises(TypeError, match=r"^f: cores\[1\] must be a NumPy array or a torch tensor, got list"):
        check_arrays([a, [[1.0]]], "f")
    with pytest.raises(TypeError, match="all NumPy arrays or all torch tensors, not a mix"):
        check_arrays([a, torch.ones(1, 3, 1)], "f")
    with pytest.raises(TypeError, match=r"one dtype; cores\[0\] is float64, cores\[1\] is float32"):
        check_arrays([a, b.astype(np.float32)], "f")
    with pytest.raises(TypeError, match="float32, float64 or complex"):
        check_arrays([a.astype(int)], "f")
    with pytest.raises(ValueError, match="at least one array"):
        check_arrays([], "f")
    with pytest.raises(TypeError, match=r"core is float64, factors\[0\] is float32"):
        check_arrays([a, b.astype(np.float32)], "f", labels=["core", "factors[0]"])
