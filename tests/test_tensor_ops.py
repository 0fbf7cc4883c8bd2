import numpy as np
import pytest
import torch

from tnnlib import backend, relative_error
from tnnlib.cp import random_cp
from tnnlib.tensor_ops import fold, mode_n_product, multi_mode_product, unfold


@pytest.mark.parametrize("shape", [(4,), (2, 3), (2, 3, 4), (3, 1, 2, 5)])
def test_fold_inverts_unfold_numpy_and_torch(shape):
    x = np.random.default_rng(0).standard_normal(shape)
    for t in (x, torch.tensor(x, dtype=torch.float32)):
        for mode in range(len(shape)):
            m = unfold(t, mode)
            size = t.numel() if backend.is_torch(t) else t.size
            assert tuple(m.shape) == (shape[mode], size // shape[mode])
            assert type(m) is type(t)
            back = fold(m, mode, shape)
            assert np.allclose(backend.to_numpy(back), x, atol=1e-6)


def test_unfold_rows_are_mode_fibres():
    x = np.arange(24).reshape(2, 3, 4)
    assert np.array_equal(unfold(x, 1)[2], x[:, 2, :].ravel())


def test_mode_product_equals_einsum():
    rng = np.random.default_rng(1)
    x, u = rng.standard_normal((3, 4, 5)), rng.standard_normal((6, 5))
    assert np.allclose(mode_n_product(x, u, 2), np.einsum("ijk,ak->ija", x, u))
    us = [rng.standard_normal((2, n)) for n in x.shape]
    assert np.allclose(multi_mode_product(x, us), np.einsum("ijk,ai,bj,ck->abc", x, *us))
    assert np.allclose(multi_mode_product(x, [u.T], modes=[2], transpose=True), mode_n_product(x, u, 2))


def test_errors_say_what_was_expected():
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"unfold: mode must be an integer in \[0, 1\]"):
        unfold(x, 2)
    with pytest.raises(ValueError, match=r"mode must be an integer"):
        unfold(x, 1.0)
    assert unfold(x, np.int64(1)).shape == (3, 2)
    with pytest.raises(ValueError, match=r"has shape \(3, 2\), got \(2, 3\)"):
        fold(x, 1, (2, 3))
    with pytest.raises(ValueError, match="matrix with 3 columns"):
        mode_n_product(x, np.zeros((4, 2)), 1)
    with pytest.raises(ValueError, match="NaN or infinity"):
        unfold(np.array([[np.nan]]), 0)


def test_as_tensor_checks():
    assert backend.as_tensor([1, 2]).dtype == np.float64
    assert backend.as_tensor(torch.tensor([1, 2])).dtype == torch.float64
    with pytest.raises(TypeError, match="NumPy array or a torch tensor"):
        backend.as_tensor("abc")
    with pytest.raises(ValueError, match="empty"):
        backend.as_tensor(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="at least 2 dimension"):
        backend.as_tensor(np.zeros(3), min_order=2)
    with pytest.raises(ValueError, match="NaN or infinity"):
        backend.as_tensor(torch.tensor([float("inf")]))


@pytest.mark.parametrize("make", [np.asarray, torch.tensor])
def test_backend_linear_algebra_matches(make):
    a = make(np.random.default_rng(2).standard_normal((5, 3)))
    u, s, vh = backend.svd(a)
    assert np.allclose(backend.to_numpy(u * s @ vh), backend.to_numpy(a))
    q, r = backend.qr(a)
    assert np.allclose(backend.to_numpy(q @ r), backend.to_numpy(a))
    assert abs(backend.norm(a) - np.linalg.norm(backend.to_numpy(a))) < 1e-12
    x = backend.random_normal((2, 3), like=a, seed=0)
    assert type(x) is type(a) and tuple(x.shape) == (2, 3)
    assert np.array_equal(backend.to_numpy(x), backend.to_numpy(backend.random_normal((2, 3), like=a, seed=0)))


@pytest.mark.parametrize("tensor_kind", ["numpy", "torch"])
@pytest.mark.parametrize("matrix_kind", ["numpy", "torch"])
def test_mode_products_return_the_kind_and_dtype_of_the_tensor(tensor_kind, matrix_kind):
    rng = np.random.default_rng(3)
    x, u = rng.standard_normal((3, 4, 5)), rng.standard_normal((6, 4))
    tensor = torch.tensor(x, dtype=torch.float32) if tensor_kind == "torch" else x.astype(np.float32)
    matrix = torch.tensor(u) if matrix_kind == "torch" else u                  # float64
    expected = np.einsum("ijk,aj->iak", x, u)
    for y in (mode_n_product(tensor, matrix, 1), multi_mode_product(tensor, [matrix], modes=[1]),
              multi_mode_product(tensor, [matrix.T], modes=[1], transpose=True)):
        assert type(y) is type(tensor) and y.dtype == tensor.dtype
        np.testing.assert_allclose(backend.to_numpy(y), expected, rtol=1e-4, atol=1e-4)
    m = unfold(tensor, 2)
    assert type(m) is type(tensor) and m.dtype == tensor.dtype
    back = fold(m, 2, tensor.shape)
    assert type(back) is type(tensor) and back.dtype == tensor.dtype


def test_a_complex_matrix_keeps_its_imaginary_part():
    x = np.ones((2, 3))
    u = torch.tensor([[1j, 0, 0]], dtype=torch.complex128)
    y = mode_n_product(x, u, 1)
    assert isinstance(y, np.ndarray) and np.iscomplexobj(y) and np.allclose(y, 1j)
    y = mode_n_product(torch.ones(2, 3, dtype=torch.float32), u.numpy(), 1)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.complex64


def test_relative_error():
    x = np.array([3.0, 4.0])
    assert relative_error(x, np.array([3.0, 3.0])) == pytest.approx(0.2)
    assert relative_error(torch.tensor(x), np.array([3.0, 3.0])) == pytest.approx(0.2)   # approx converted
    assert relative_error(x, torch.tensor([3.0, 3.0], dtype=torch.float32)) == pytest.approx(0.2)
    assert relative_error(np.zeros(2), np.zeros(2)) == 0.0
    assert relative_error(np.zeros(2), np.ones(2)) == float("inf")
    cp = random_cp((3, 4, 5), 2, seed=0)
    assert relative_error(cp.to_dense(), cp) == 0.0                                        # a result: to_dense()
    with pytest.raises(ValueError, match=r"relative_error: approx has shape \(3,\)"):
        relative_error(x, np.ones(3))
    with pytest.raises(TypeError, match="relative_error: approx must be a NumPy array"):
        relative_error(x, "abc")
