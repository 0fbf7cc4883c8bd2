import numpy as np
import pytest
import torch

from tnnlib import backend
from tnnlib.tensor_ops import fold, mode_n_product, multi_mode_product, unfold


@pytest.mark.parametrize("shape", [(4,), (2, 3), (2, 3, 4), (3, 1, 2, 5)])
def test_fold_inverts_unfold_numpy_and_torch(shape):
    x = np.random.default_rng(0).standard_normal(shape)
    for t in (x, torch.tensor(x, dtype=torch.float32)):
        for mode in range(len(shape)):
            m = unfold(t, mode)
            assert tuple(m.shape) == (shape[mode], t.numel() // shape[mode] if backend.is_torch(t) else t.size // shape[mode])
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
    with pytest.raises(ValueError, match=r"mode must be an integer in \[0, 1\]"):
        unfold(x, 2)
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
