"""TT-matrix: layout (rows = output modes, like nn.Linear.weight), matvec against the dense product,
ttm_svd (exact recovery, eps bound), factorize_dim, bad input, and a cross-check with tensorly."""
import numpy as np
import pytest
import torch

from tnnlib import relative_error
from tnnlib.tt import TTTensor
from tnnlib.ttm import TTMatrix, factorize_dim, random_ttm, ttm_svd

from arrays import KINDS, dense, like

TOL = {np.float64: 1e-12, torch.float64: 1e-12, np.complex128: 1e-12, np.float32: 1e-5, torch.float32: 1e-5}


def vectors(shape, kind, dtype, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape)
    return torch.tensor(x, dtype=dtype) if kind == "torch" else x.astype(dtype)


def test_layout_rows_are_output_modes_in_c_order():
    rng = np.random.default_rng(0)
    G1, G2 = rng.standard_normal((1, 2, 3, 4)), rng.standard_normal((4, 5, 2, 1))
    W = TTMatrix([G1, G2])
    assert W.out_modes == (2, 5) and W.in_modes == (3, 2) and W.shape == (10, 6) and W.rank == (1, 4, 1)
    M = W.to_dense()
    for i1, i2, j1, j2 in [(0, 0, 0, 0), (1, 3, 2, 1), (1, 4, 0, 1), (0, 2, 1, 0)]:
        expected = G1[0, i1, j1, :] @ G2[:, i2, j2, 0]
        assert abs(M[i1 * 5 + i2, j1 * 2 + j2] - expected) < 1e-12
    assert W.n_params == 2 * 3 * 4 + 4 * 5 * 2
    interleaved = W.to_tt()
    assert isinstance(interleaved, TTTensor) and interleaved.shape == (6, 10)
    x = interleaved.to_dense().reshape(2, 3, 5, 2).transpose(0, 2, 1, 3).reshape(10, 6)
    np.testing.assert_allclose(x, M, atol=1e-12)


@pytest.mark.parametrize("kind,dtype", KINDS)
@pytest.mark.parametrize("out_modes,in_modes,rank", [((4, 3, 2), (2, 5, 3), [3, 4]), ((3, 2), (4, 4), 2),
                                                      ((5,), (6,), [])])
def test_matvec_equals_the_dense_product(kind, dtype, out_modes, in_modes, rank):
    W = random_ttm(out_modes=out_modes, in_modes=in_modes, rank=rank, seed=1, like=like(kind, dtype))
    M = dense(W.to_dense())
    N = M.shape[1]
    x = vectors((N,), kind, dtype)
    y = W.matvec(x)
    assert type(y) is type(x) and y.dtype == x.dtype and tuple(y.shape) == (M.shape[0],)
    assert relative_error(M @ dense(x), y) < TOL[dtype]
    batch = vectors((7, N), kind, dtype, seed=2)
    Y = W @ batch
    assert tuple(Y.shape) == (7, M.shape[0])
    assert relative_error(dense(batch) @ M.T, Y) < TOL[dtype]
    deeper = vectors((2, 3, N), kind, dtype, seed=3)                 # any leading batch axes
    assert relative_error(dense(deeper) @ M.T, W.matvec(deeper)) < TOL[dtype]


def test_matvec_matches_torch_linear_and_is_differentiable():
    W = random_ttm(out_modes=(4, 2, 3), in_modes=(3, 3, 2), rank=[3, 2], seed=2,
                   like=torch.zeros(1, dtype=torch.float64))
    for core in W.cores:
        core.requires_grad_(True)
    x = torch.randn(5, 18, dtype=torch.float64)
    y = W @ x
    assert torch.allclose(y, torch.nn.functional.linear(x, W.to_dense()), atol=1e-12)
    y.pow(2).sum().backward()
    assert all(core.grad is not None and core.grad.shape == core.shape for core in W.cores)


@pytest.mark.parametrize("kind,dtype", KINDS)
def test_ttm_svd_recovers_an_exact_tt_matrix(kind, dtype):
    W = random_ttm(out_modes=(4, 3, 2), in_modes=(2, 5, 3), rank=[3, 4], seed=3, like=like(kind, dtype))
    M = W.to_dense()
    T = ttm_svd(M, in_modes=(2, 5, 3), out_modes=(4, 3, 2), max_rank=[3, 4])
    assert T.out_modes == (4, 3, 2) and T.in_modes == (2, 5, 3) and T.rank == (1, 3, 4, 1)
    assert type(T.cores[0]) is type(M) and T.dtype == M.dtype
    assert relative_error(M, T) < 10 * TOL[dtype]
    assert ttm_svd(M, out_modes=(4, 3, 2), in_modes=(2, 5, 3)).rank == (1, 3, 4, 1)


@pytest.mark.parametrize("eps", [0.3, 0.05, 0.01, 1e-3])
def test_ttm_svd_error_bound(eps):
    M = random_ttm(out_modes=(4, 4, 4), in_modes=(4, 4, 4), rank=3, seed=4).to_dense()
    noise = np.random.default_rng(5).standard_normal(M.shape)
    M = M + 0.01 * np.linalg.norm(M) / np.linalg.norm(noise) * noise
    T = ttm_svd(M, out_modes=(4, 4, 4), in_modes=(4, 4, 4), eps=eps)
    assert relative_error(M, T) <= eps * (1 + 1e-9)


def test_ttm_svd_bad_input():
    M = np.ones((12, 10))
    with pytest.raises(ValueError, match=r"out_modes \(3, 5\) multiply to 15, but the matrix has 12 rows"):
        ttm_svd(M, in_modes=(2, 5), out_modes=(3, 5))
    with pytest.raises(ValueError, match=r"in_modes \(2, 4\) multiply to 8, but the matrix has 10 columns"):
        ttm_svd(M, in_modes=(2, 4), out_modes=(3, 4))
    with pytest.raises(ValueError, match="same length"):
        ttm_svd(M, in_modes=(10,), out_modes=(3, 4))
    with pytest.raises(ValueError, match=r"ttm_svd: eps must be a real number in \[0, 1\)"):
        ttm_svd(M, out_modes=(3, 4), in_modes=(2, 5), eps=1.5)
    with pytest.raises(ValueError, match=r"ttm_svd: max_rank\[0\] = 7 is larger than the largest rank 6"):
        ttm_svd(M, out_modes=(3, 4), in_modes=(2, 5), max_rank=[7])        # at most min(3*2, 4*5) = 6
    with pytest.raises(ValueError, match=r"matrix must be a matrix \(2-D\)"):
        ttm_svd(np.ones((2, 3, 4)), out_modes=(2,), in_modes=(3,))
    with pytest.raises(TypeError, match="positional"):
        ttm_svd(M, (3, 4), (2, 5))                      # modes are keyword-only: swapping cannot be silent
    with pytest.raises(TypeError, match="positional"):
        random_ttm((3, 4), (2, 5), 2)
    with pytest.raises(ValueError, match="look swapped: out_modes go with the rows"):
        ttm_svd(M, out_modes=(2, 5), in_modes=(3, 4))   # a non-square W (12, 10) with the modes swapped
    with pytest.raises(ValueError, match="look swapped"):
        ttm_svd(M.T, out_modes=(3, 4), in_modes=(2, 5))
    with pytest.raises(TypeError, match="positive integer"):
        ttm_svd(M, out_modes=(3, 4.0), in_modes=(2, 5))
    M[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        ttm_svd(M, out_modes=(3, 4), in_modes=(2, 5))


def test_matvec_bad_input():
    W = random_ttm(out_modes=(3, 2), in_modes=(4, 4), rank=2, seed=0)
    with pytest.raises(ValueError, match="in_features = 16"):
        W.matvec(np.ones(15))
    with pytest.raises(TypeError, match="NumPy array like the TT-matrix cores"):
        W.matvec(torch.ones(16))
    Wt = random_ttm(out_modes=(3, 2), in_modes=(4, 4), rank=2, seed=0, like=torch.zeros(1))
    with pytest.raises(TypeError, match="float64 on cpu but the TT-matrix cores are torch.float32"):
        Wt.matvec(torch.ones(16, dtype=torch.float64))
    with pytest.raises(ValueError, match="TTMatrix: each core has 4 axes"):
        TTMatrix([np.ones((1, 2, 2))])


def test_factorize_dim():
    assert factorize_dim(1024, 5) == (4, 4, 4, 4, 4)
    assert factorize_dim(784, 4) == (4, 4, 7, 7)
    assert factorize_dim(784, 2) == (28, 28)
    assert factorize_dim(1000, 3) == (10, 10, 10)
    assert factorize_dim(10, 1) == (10,)
    for n, d in [(4096, 3), (720, 4), (3 * 1024, 4), (500, 3)]:
        factors = factorize_dim(n, d)
        assert len(factors) == d and np.prod(factors) == n and min(factors) >= 2
    with pytest.raises(ValueError, match=r"787 cannot be split into 4 factors >= 2.*pad the dimension to 800"):
        factorize_dim(787, 4)
    with pytest.raises(ValueError, match="positive integer"):
        factorize_dim(0, 2)


def test_random_ttm():
    W = random_ttm(out_modes=(2, 3), in_modes=(4, 5), rank=100, seed=0)
    assert W.rank == (1, 8, 1)                       # an int rank is capped: min(2*4, 3*5)
    a, b = (random_ttm(out_modes=(2, 3), in_modes=(4, 5), rank=3, seed=7) for _ in range(2))
    assert np.array_equal(a.to_dense(), b.to_dense())
    assert "out_modes=(2, 3)" in repr(a) and a.copy().shape == (6, 20)


@pytest.mark.parametrize("max_rank", [2, 4])
def test_ttm_svd_error_is_not_worse_than_tensorly(max_rank):
    tensorly = pytest.importorskip("tensorly")
    from tensorly.decomposition import tensor_train_matrix

    M = random_ttm(out_modes=(3, 4, 2), in_modes=(4, 2, 3), rank=4, seed=8).to_dense()
    M = M + 0.05 * np.random.default_rng(9).standard_normal(M.shape) * np.linalg.norm(M) / np.sqrt(M.size)
    ours = relative_error(M, ttm_svd(M, out_modes=(3, 4, 2), in_modes=(4, 2, 3), max_rank=max_rank))
    with tensorly.backend_context("numpy"):
        # tensorly takes the matrix reshaped to (i_1..i_d, j_1..j_d): the same core layout (r, i_k, j_k, r)
        theirs = relative_error(M, tensor_train_matrix(M.reshape(3, 4, 2, 4, 2, 3), max_rank).to_matrix())
    assert ours <= theirs + 1e-10
