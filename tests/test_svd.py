"""Truncated SVD: rank choice, Eckart-Young, the split step and its Gram route, bad input."""
import numpy as np
import pytest
import torch

from tnnlib.svd import (
    low_rank_approx,
    low_rank_params,
    rank_for_energy,
    rank_for_error,
    truncated_split,
    truncated_svd,
)

from arrays import dense

SPECTRUM = np.array([4.0, 2.0, 1.0, 0.5, 0.1])


def matrix_with_spectrum(S, m, n, seed=0, dtype=np.float64):
    """U diag(S) V^H with random orthonormal U (m, k), V (n, k)."""
    rng = np.random.default_rng(seed)
    k = len(S)
    U, _ = np.linalg.qr(rng.standard_normal((m, k)))
    V, _ = np.linalg.qr(rng.standard_normal((n, k)))
    return ((U * S) @ V.T).astype(dtype)


def as_kind(x, kind, dtype):
    """The array ``x`` as a NumPy array or torch tensor of ``dtype`` ('float32', 'float64', 'complex128')."""
    if kind == "torch":
        return torch.tensor(np.asarray(x).astype(dtype))
    return np.asarray(x).astype(dtype)


# --- choosing the rank -------------------------------------------------------------------------


@pytest.mark.parametrize("eps", [0.01, 0.05, 0.2, 0.5, 0.9])
def test_rank_for_error_is_the_smallest_rank_meeting_the_bound(eps):
    r = rank_for_error(SPECTRUM, eps)
    total = np.linalg.norm(SPECTRUM)
    assert np.linalg.norm(SPECTRUM[r:]) <= eps * total
    if r > 1:
        assert np.linalg.norm(SPECTRUM[r - 1:]) > eps * total


def test_rank_for_error_and_energy_values():
    # ||S||^2 = 21.26; tails: 5.26, 1.26, 0.26, 0.01
    assert rank_for_error(SPECTRUM, 0.5) == 1          # ||S[1:]|| = 2.29 <= 0.5 * 4.61
    assert rank_for_error(SPECTRUM, 0.2) == 3          # ||S[2:]|| = 1.12 > 0.92, ||S[3:]|| = 0.51 <= 0.92
    assert rank_for_energy(SPECTRUM, 0.75) == 1        # 16 / 21.26 = 0.753
    assert rank_for_energy(SPECTRUM, 0.9) == 2
    assert rank_for_energy(SPECTRUM, 1.0) == 5
    assert rank_for_energy(np.array([1.0, 0.0, 0.0]), 1.0) == 1
    for eps in (0.01, 0.1, 0.3):
        assert rank_for_error(SPECTRUM, eps) == rank_for_energy(SPECTRUM, 1 - eps**2)


def test_rank_functions_accept_torch_and_reject_bad_input():
    assert rank_for_error(torch.tensor(SPECTRUM, dtype=torch.float32), 0.2) == 3
    assert rank_for_error(SPECTRUM, 0.0) == 5                # eps = 0: keep every nonzero singular value
    with pytest.raises(ValueError, match=r"rank_for_error: eps must be a real number in \[0, 1\)"):
        rank_for_error(SPECTRUM, 1.0)
    with pytest.raises(ValueError, match=r"energy must be a fraction in \(0, 1\]"):
        rank_for_energy(SPECTRUM, 1.5)
    with pytest.raises(ValueError, match="non-negative"):
        rank_for_error(-SPECTRUM, 0.1)
    with pytest.raises(ValueError, match="1-D"):
        rank_for_error(np.ones((2, 2)), 0.1)


# --- truncated SVD -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "complex128"])
def test_truncated_svd_keeps_type_and_meets_eps(kind, dtype):
    A = as_kind(matrix_with_spectrum(SPECTRUM, 9, 7), kind, dtype)
    U, S, Vh = truncated_svd(A, eps=0.2)
    assert type(U) is type(A) and U.dtype == A.dtype and Vh.dtype == A.dtype
    assert tuple(U.shape) == (9, 3) and tuple(S.shape) == (3,) and tuple(Vh.shape) == (3, 7)
    error = np.linalg.norm(dense(A) - (dense(U) * dense(S)) @ dense(Vh))
    assert error <= 0.2 * np.linalg.norm(dense(A)) * (1 + 1e-5)
    np.testing.assert_allclose(dense(S), SPECTRUM[:3], rtol=1e-5)


def test_truncated_svd_rank_choice():
    A = matrix_with_spectrum(SPECTRUM, 9, 7)
    assert truncated_svd(A)[1].shape == (7,)                    # no truncation: min(m, n)
    assert truncated_svd(A, max_rank=2)[1].shape == (2,)
    assert truncated_svd(A, max_rank=50)[1].shape == (7,)       # a maximum above min(m, n) is capped
    assert truncated_svd(A, eps=0.2)[1].shape == (3,)
    assert truncated_svd(A, max_rank=2, eps=0.2)[1].shape == (2,)   # both: the smaller rank
    assert truncated_svd(A, max_rank=4, eps=0.2)[1].shape == (3,)


def test_truncated_svd_bad_input():
    A = matrix_with_spectrum(SPECTRUM, 9, 7)
    for eps in (1, -0.5, 2.0):
        with pytest.raises(ValueError, match=r"truncated_svd: eps must be a real number in \[0, 1\)"):
            truncated_svd(A, eps=eps)
    with pytest.raises(ValueError, match="truncated_svd: max_rank must be a positive integer"):
        truncated_svd(A, max_rank=0)
    with pytest.raises(TypeError, match="truncated_svd: max_rank must be a positive integer"):
        truncated_svd(A, max_rank=2.5)
    with pytest.raises(TypeError, match="positional"):
        truncated_svd(A, 2)
    for bad in (A.astype(np.float16), A.astype(int), torch.tensor(A, dtype=torch.bfloat16)):
        with pytest.raises(TypeError, match="truncated_svd: needs float32, float64 or complex input"):
            truncated_svd(bad)
    with pytest.raises(ValueError, match=r"matrix must be a matrix \(2-D\)"):
        truncated_svd(np.ones((2, 3, 4)))
    bad = A.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        truncated_svd(bad)
    with pytest.raises(ValueError, match="NaN or infinity"):
        truncated_svd(torch.tensor([[1.0, float("inf")]]))
    with pytest.raises(TypeError, match="NumPy array or a torch tensor"):
        truncated_svd("not a matrix")


# --- Eckart-Young --------------------------------------------------------------------------------


@pytest.mark.parametrize("rank", [1, 2, 4])
def test_low_rank_approx_error_is_the_tail_and_beats_other_rank_r_matrices(rank):
    A = matrix_with_spectrum(SPECTRUM, 8, 6)
    best = low_rank_approx(A, rank)
    assert np.linalg.matrix_rank(best) == rank
    error = np.linalg.norm(A - best)
    np.testing.assert_allclose(error, np.linalg.norm(SPECTRUM[rank:]), rtol=1e-10)
    rng = np.random.default_rng(1)
    for _ in range(5):   # a perturbed rank-r matrix is never better
        X = rng.standard_normal((8, rank)) * 0.1
        Y = rng.standard_normal((rank, 6)) * 0.1
        U, S, Vh = np.linalg.svd(A)
        other = (U[:, :rank] * S[:rank] + X) @ (Vh[:rank] + Y)
        assert np.linalg.norm(A - other) >= error


def test_low_rank_approx_caps_an_int_rank_and_params_reject_impossible_ranks():
    A = matrix_with_spectrum(SPECTRUM, 8, 6)
    np.testing.assert_allclose(low_rank_approx(A, 7), A, atol=1e-12)    # capped at min(m, n): exact
    with pytest.raises(TypeError, match="low_rank_approx: rank must be a positive integer"):
        low_rank_approx(A, 2.5)
    assert low_rank_params(100, 50, 5) == 750
    with pytest.raises(ValueError, match="larger than possible"):
        low_rank_params(10, 4, 5)


def test_low_rank_approx_torch_keeps_type():
    A = torch.tensor(matrix_with_spectrum(SPECTRUM, 8, 6), dtype=torch.float32)
    best = low_rank_approx(A, 2)
    assert isinstance(best, torch.Tensor) and best.dtype == torch.float32
    assert abs(float(torch.linalg.norm(A - best)) - np.linalg.norm(SPECTRUM[2:])) < 1e-5


# --- the split step and its Gram route ------------------------------------------------------------


def decaying_wide_matrix(m=12, n=600, seed=0):
    S = 0.7 ** np.arange(m)                          # 1 ... 0.02
    return matrix_with_spectrum(S, m, n, seed=seed), S


@pytest.mark.parametrize("method", ["auto", "gram", "svd"])
@pytest.mark.parametrize("abs_tol", [0.05, 0.2, 0.6])
def test_truncated_split_meets_the_tolerance_near_optimally(method, abs_tol):
    A, S_true = decaying_wide_matrix()
    U, S, SVh = truncated_split(A, abs_tol=abs_tol, method=method)
    r = U.shape[1]
    error = np.linalg.norm(A - U @ SVh)
    assert error <= abs_tol
    assert r == rank_for_error(S_true, abs_tol / np.linalg.norm(S_true))   # the exact SVD's rank
    np.testing.assert_allclose(error, np.linalg.norm(S_true[r:]), rtol=5e-3)
    np.testing.assert_allclose(U.T @ U, np.eye(r), atol=1e-12)
    np.testing.assert_allclose(S, S_true[:r], rtol=5e-3)


def test_gram_route_loses_tiny_singular_values_and_auto_falls_back():
    # an exactly rank-2 wide matrix whose second singular value is below sqrt(machine eps)
    A, _ = matrix_with_spectrum(np.array([1.0, 1e-10]), 20, 2000), None
    U, _, SVh = truncated_split(A, max_rank=2, method="gram")
    gram_error = np.linalg.norm(A - U @ SVh)
    U, _, SVh = truncated_split(A, max_rank=2, method="auto")
    auto_error = np.linalg.norm(A - U @ SVh)
    assert gram_error > 1e-12        # the 1e-10 direction was lost in the Gram matrix's rounding
    assert auto_error < 1e-14        # auto saw that nothing was truncated and used LAPACK


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.complex128])
def test_truncated_split_torch(dtype):
    A, S_true = decaying_wide_matrix()
    A = torch.tensor(A).to(dtype)
    U, S, SVh = truncated_split(A, max_rank=4)
    assert U.dtype == dtype and SVh.dtype == dtype and not S.is_complex()
    error = float(torch.linalg.norm(A - U @ SVh))
    np.testing.assert_allclose(error, np.linalg.norm(S_true[4:]), rtol=5e-3)


def test_truncated_split_no_truncation_is_exact():
    A, _ = decaying_wide_matrix(m=6, n=40)
    U, S, SVh = truncated_split(A)
    assert U.shape == (6, 6)
    np.testing.assert_allclose(U @ SVh, A, atol=1e-13)
    with pytest.raises(ValueError, match="method must be"):
        truncated_split(A, method="qr")


def test_auto_takes_the_gram_route_on_a_truncated_wide_float64_matrix(monkeypatch):
    import tnnlib.svd as svd_module

    def no_lapack(*args):
        raise AssertionError("the LAPACK route was taken")

    monkeypatch.setattr(svd_module, "_svd_split", no_lapack)
    A, S_true = decaying_wide_matrix()
    U, S, SVh = truncated_split(A, max_rank=5)
    np.testing.assert_allclose(np.linalg.norm(A - U @ SVh), np.linalg.norm(S_true[5:]), rtol=5e-3)
    with pytest.raises(AssertionError, match="LAPACK route"):      # but not on a tall one
        truncated_split(A.T, max_rank=5)


def test_rank_for_energy_exact_boundaries():
    # four equal singular values: each keeps a quarter of the energy
    from tnnlib.svd import rank_for_energy
    assert [rank_for_energy(np.ones(4), e) for e in (0.25, 0.5, 0.75, 1.0)] == [1, 2, 3, 4]
    assert rank_for_energy(np.ones(4), 0.26) == 2
