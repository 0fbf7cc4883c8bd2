"""Tests of tnnlib.tucker: TuckerTensor, HOSVD, HOOI."""
import numpy as np
import pytest
import torch

from tnnlib import relative_error
from tnnlib.tucker import TuckerTensor, hooi, hosvd, mode_singular_vectors

BACKENDS = [
    ("numpy", np.float64),
    ("numpy", np.float32),
    ("torch", torch.float64),
    ("torch", torch.float32),
]
TOL = {np.float64: 1e-10, np.float32: 1e-4, torch.float64: 1e-10, torch.float32: 1e-4}


def as_backend(x, backend, dtype):
    return torch.tensor(x, dtype=dtype) if backend == "torch" else np.asarray(x, dtype=dtype)


def random_tucker(shape, rank, seed=0):
    rng = np.random.default_rng(seed)
    core = rng.standard_normal(rank)
    factors = [np.linalg.qr(rng.standard_normal((n, r)))[0] for n, r in zip(shape, rank)]
    return TuckerTensor(core, factors)


def noisy_tucker(shape=(10, 9, 8), rank=(3, 4, 2), noise=0.1, seed=0):
    x = random_tucker(shape, rank, seed).to_dense()
    e = np.random.default_rng(seed + 1).standard_normal(shape)
    return x / np.linalg.norm(x) + noise * e / np.linalg.norm(e)


def test_tucker_tensor_matches_its_definition():
    t = random_tucker((5, 6, 7), (2, 3, 4))
    expected = np.einsum("abc,ia,jb,kc->ijk", t.core, *t.factors)
    np.testing.assert_allclose(t.to_dense(), expected, atol=1e-12)
    assert t.shape == (5, 6, 7) and t.rank == (2, 3, 4)
    assert t.n_params == 2 * 3 * 4 + 5 * 2 + 6 * 3 + 7 * 4
    assert "rank=(2, 3, 4)" in repr(t)


def test_tucker_tensor_rejects_mismatched_factors():
    with pytest.raises(ValueError, match="needs 3 factors"):
        TuckerTensor(np.zeros((2, 2, 2)), [np.zeros((4, 2))] * 2)
    with pytest.raises(ValueError, match=r"factors\[1\] must have shape \(n_1, 3\)"):
        TuckerTensor(np.zeros((2, 3)), [np.zeros((4, 2)), np.zeros((4, 2))])


def test_mode_singular_vectors_match_the_svd_of_the_unfolding():
    x = np.random.default_rng(0).standard_normal((6, 5, 7))
    for mode in range(3):
        U, sigma = mode_singular_vectors(x, mode)
        unfolding = np.moveaxis(x, mode, 0).reshape(x.shape[mode], -1)
        np.testing.assert_allclose(sigma, np.linalg.svd(unfolding, compute_uv=False), rtol=1e-8)
        np.testing.assert_allclose(U.T @ U, np.eye(x.shape[mode]), atol=1e-12)
        # U^T X_(k) = S V^T: its rows are orthogonal with norms sigma
        rows = U.T @ unfolding
        np.testing.assert_allclose(rows @ rows.T, np.diag(sigma**2), atol=1e-10)


@pytest.mark.parametrize("backend,dtype", BACKENDS)
@pytest.mark.parametrize("method", ["hosvd", "hooi"])
def test_exact_recovery_of_a_low_rank_tucker_tensor(backend, dtype, method):
    ranks = (3, 4, 2)
    x = as_backend(random_tucker((10, 9, 8), ranks).to_dense(), backend, dtype)
    t = hosvd(x, max_rank=ranks) if method == "hosvd" else hooi(x, ranks, n_sweeps=2)
    assert type(t.core) is type(x) and t.core.dtype == x.dtype and t.factors[0].dtype == x.dtype
    assert t.rank == ranks and t.shape == (10, 9, 8)
    assert relative_error(x, t) < TOL[dtype]
    for U in t.factors:  # orthonormal columns
        gram = U.T @ U
        eye = torch.eye(U.shape[1], dtype=dtype) if backend == "torch" else np.eye(U.shape[1])
        assert float(abs(gram - eye).max()) < 10 * TOL[dtype]


@pytest.mark.parametrize("backend,dtype", [("numpy", np.complex128), ("torch", torch.complex64)])
def test_hosvd_and_hooi_of_complex_tensors(backend, dtype):
    rng = np.random.default_rng(3)
    core = rng.standard_normal((2, 3, 2)) + 1j * rng.standard_normal((2, 3, 2))
    factors = [np.linalg.qr(rng.standard_normal((n, r)) + 1j * rng.standard_normal((n, r)))[0]
               for n, r in zip((5, 6, 4), (2, 3, 2))]
    x = as_backend(TuckerTensor(core, factors).to_dense(), backend, dtype)
    tol = 1e-10 if dtype == np.complex128 else 1e-4
    assert relative_error(x, hosvd(x, max_rank=(2, 3, 2))) < tol
    assert relative_error(x, hooi(x, (2, 3, 2), n_sweeps=2)) < tol
    assert hosvd(x, max_rank=(2, 3, 2)).core.dtype == x.dtype


def test_hosvd_with_full_ranks_is_exact():
    x = np.random.default_rng(1).standard_normal((4, 5, 3))
    t = hosvd(x)
    assert t.rank == (4, 5, 3) and relative_error(x, t) < 1e-12
    assert hosvd(x, max_rank=100).rank == (4, 5, 3)          # an int is capped at each n_k
    assert hosvd(x, max_rank=np.int64(4)).rank == (4, 4, 3)


@pytest.mark.parametrize("eps", [0.3, 0.1, 0.05, 0.01])
def test_hosvd_eps_meets_its_error_bound(eps):
    x = noisy_tucker(noise=0.05)
    t = hosvd(x, eps=eps)
    # the bound: discarded singular values of all unfoldings, within eps ||x||
    discarded = 0.0
    for mode, r in enumerate(t.rank):
        _, sigma = mode_singular_vectors(x, mode)
        discarded += np.sum(sigma[r:] ** 2)
    assert np.sqrt(discarded) <= eps * np.linalg.norm(x) + 1e-12
    assert relative_error(x, t) <= eps
    assert t.rank != x.shape or eps == 0.01  # it did compress


def test_hosvd_eps_ranks_are_capped_by_max_rank():
    x = noisy_tucker(noise=0.05)
    assert all(r <= 2 for r in hosvd(x, max_rank=2, eps=1e-6).rank)


def test_hooi_error_is_not_larger_than_hosvd():
    x = noisy_tucker(noise=0.3)
    ranks = (2, 3, 2)
    e_hosvd = relative_error(x, hosvd(x, max_rank=ranks))
    t, errors = hooi(x, ranks, n_sweeps=15, return_errors=True)
    assert relative_error(x, t) <= e_hosvd + 1e-12
    assert len(errors) == 15
    assert all(b <= a + 1e-12 for a, b in zip(errors, errors[1:]))
    assert errors[-1] == pytest.approx(relative_error(x, t), rel=1e-6)


def test_hooi_stops_early_with_tol_and_accepts_other_inits():
    x = noisy_tucker(noise=0.3)
    _, errors = hooi(x, (2, 3, 2), n_sweeps=50, tol=1e-6, return_errors=True)
    assert 2 <= len(errors) < 50
    t_random = hooi(x, (2, 3, 2), n_sweeps=30, init="random")
    start = hosvd(x, max_rank=(2, 3, 2))
    t_given = hooi(x, (2, 3, 2), n_sweeps=1, init=start)
    assert relative_error(x, t_random) < 1.05 * relative_error(x, start)
    assert relative_error(x, t_given) <= relative_error(x, start) + 1e-12


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda x: hosvd(x, max_rank=(3, 3, 9)), ValueError,
         r"hosvd: max_rank\[2\] = 9 is larger than the largest rank 5"),
        (lambda x: hosvd(x, max_rank=(2, 2)), ValueError, r"hosvd: max_rank must be .* sequence of 3 positive"),
        (lambda x: hosvd(x, max_rank=(2, 0, 2)), ValueError, r"max_rank\[1\] must be a positive integer, got 0"),
        (lambda x: hosvd(x, max_rank=2.5), TypeError, "hosvd: max_rank must be a positive integer"),
        (lambda x: hosvd(x, eps=-1), ValueError, r"hosvd: eps must be a real number in \[0, 1\)"),
        (lambda x: hosvd(x, eps=2), ValueError, r"hosvd: eps must be a real number in \[0, 1\)"),
        (lambda x: hosvd(x, 2), TypeError, "positional"),
        (lambda x: hooi(x, (3, 3, 9)), ValueError, r"hooi: rank\[2\] = 9 is larger than the largest rank 5"),
        (lambda x: hooi(x, None), TypeError, "hooi: rank is required"),
        (lambda x: hooi(x, 2, 10), TypeError, "positional"),
        (lambda x: hooi(x, 2, n_sweeps=0), ValueError, "hooi: n_sweeps must be a positive integer"),
        (lambda x: hooi(x, 2, tol=-1e-3), ValueError, "tol must be None or a number >= 0"),
        (lambda x: hooi(x, 2, init="svd"), ValueError, "unknown init 'svd'"),
        (lambda x: hooi(x, 2, init=hosvd(x, max_rank=1)), ValueError, "init has shape"),
        (lambda x: hosvd(x.astype(np.float16), max_rank=2), TypeError, "hosvd: needs float32.*got float16"),
        (lambda x: hosvd(x.astype(int)), TypeError, "hosvd: needs float32.*got int64"),
        (lambda x: hosvd("abc", max_rank=2), TypeError, "NumPy array or a torch tensor"),
    ],
)
def test_bad_input_raises_a_clear_error(call, error, match):
    x = np.random.default_rng(0).standard_normal((4, 6, 5))
    with pytest.raises(error, match=match):
        call(x)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_input_is_rejected(bad):
    x = np.ones((3, 3, 3))
    x[1, 1, 1] = bad
    with pytest.raises(ValueError, match="NaN or infinity"):
        hosvd(x, max_rank=2)
    with pytest.raises(ValueError, match="NaN or infinity"):
        hooi(torch.tensor(x), 2)


def test_error_is_not_worse_than_tensorly():
    tl_decomposition = pytest.importorskip("tensorly.decomposition")
    import tensorly as tl

    x = noisy_tucker(shape=(12, 10, 11), noise=0.3, seed=4)
    ranks = [3, 3, 2]
    ours_hosvd = relative_error(x, hosvd(x, max_rank=ranks))
    theirs_hosvd = tl_decomposition.tucker(x, ranks, n_iter_max=0)
    assert ours_hosvd <= np.linalg.norm(x - tl.tucker_to_tensor(theirs_hosvd)) / np.linalg.norm(x) + 1e-10
    ours_hooi = relative_error(x, hooi(x, ranks, n_sweeps=10))
    theirs_hooi = tl_decomposition.tucker(x, ranks, n_iter_max=10, tol=None)
    assert ours_hooi <= np.linalg.norm(x - tl.tucker_to_tensor(theirs_hooi)) / np.linalg.norm(x) + 1e-10
