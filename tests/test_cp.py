"""Tests of tnnlib.cp: CPTensor, Khatri-Rao, MTTKRP, CP-ALS, degeneracy."""
import numpy as np
import pytest
import torch

from tnnlib import relative_error
from tnnlib.cp import CPTensor, congruence, cp_als, degeneracy_score, khatri_rao, mttkrp, random_cp
from tnnlib.tensor_ops import unfold

BACKENDS = [
    ("numpy", np.float64),
    ("numpy", np.float32),
    ("torch", torch.float64),
    ("torch", torch.float32),
]


def as_backend(x, backend, dtype):
    return torch.tensor(x, dtype=dtype) if backend == "torch" else np.asarray(x, dtype=dtype)


def test_cp_tensor_matches_its_definition():
    cp = random_cp((4, 5, 6), 3, seed=0)
    cp.weights = np.array([2.0, -1.0, 0.5])
    expected = np.einsum("r,ir,jr,kr->ijk", cp.weights, *cp.factors)
    np.testing.assert_allclose(cp.to_dense(), expected, atol=1e-12)
    assert cp.shape == (4, 5, 6) and cp.rank == 3 and cp.n_params == 3 * (1 + 4 + 5 + 6)
    assert "rank=3" in repr(cp)


def test_normalize_keeps_the_tensor_and_makes_unit_columns():
    cp = random_cp((4, 5, 6), 3, seed=1)
    unit = cp.normalize()
    np.testing.assert_allclose(unit.to_dense(), cp.to_dense(), atol=1e-12)
    for factor in unit.factors:
        np.testing.assert_allclose(np.linalg.norm(factor, axis=0), 1.0)
    zero = CPTensor(np.ones(2), [np.zeros((3, 2)), np.ones((4, 2))]).normalize()
    assert np.all(zero.weights == 0) and np.all(np.isfinite(zero.factors[0]))


def test_random_cp_is_reproducible_and_follows_like():
    a, b = random_cp((3, 4), 2, seed=5), random_cp((3, 4), 2, seed=5)
    np.testing.assert_array_equal(a.factors[1], b.factors[1])
    t = random_cp((3, 4), 2, seed=5, like=torch.zeros(1, dtype=torch.float32))
    assert isinstance(t.weights, torch.Tensor) and t.factors[0].dtype == torch.float32


def test_khatri_rao_is_the_columnwise_kronecker_product_in_c_order():
    rng = np.random.default_rng(0)
    mats = [rng.standard_normal((n, 3)) for n in (2, 4, 3)]
    got = khatri_rao(mats)
    assert got.shape == (24, 3)
    for r in range(3):
        np.testing.assert_allclose(got[:, r], np.kron(np.kron(mats[0][:, r], mats[1][:, r]), mats[2][:, r]))
    np.testing.assert_array_equal(khatri_rao(mats[:1]), mats[0])
    t = khatri_rao([torch.tensor(m) for m in mats])
    np.testing.assert_allclose(t.numpy(), got)


def test_khatri_rao_matches_the_unfolding_convention():
    cp = random_cp((3, 4, 5, 2), 2, seed=2)
    x = cp.to_dense()
    for k in range(4):
        others = [A for m, A in enumerate(cp.factors) if m != k]
        np.testing.assert_allclose(unfold(x, k), (cp.factors[k] * cp.weights) @ khatri_rao(others).T, atol=1e-12)


@pytest.mark.parametrize("shape", [(5, 4, 6), (3, 4, 2, 5), (7, 3)])
@pytest.mark.parametrize("backend,dtype", [("numpy", np.float64), ("torch", torch.float32)])
def test_mttkrp_equals_the_unfolding_times_the_khatri_rao_product(shape, backend, dtype):
    rng = np.random.default_rng(1)
    x = as_backend(rng.standard_normal(shape), backend, dtype)
    factors = [as_backend(rng.standard_normal((n, 3)), backend, dtype) for n in shape]
    for mode in range(len(shape)):
        others = [A for m, A in enumerate(factors) if m != mode]
        expected = unfold(x, mode) @ khatri_rao(others)
        got = mttkrp(x, factors, mode)
        assert type(got) is type(x) and got.dtype == x.dtype and tuple(got.shape) == (shape[mode], 3)
        assert float(abs(got - expected).max()) < (1e-12 if dtype == np.float64 else 1e-4)


@pytest.mark.parametrize("backend,dtype", BACKENDS)
def test_cp_als_recovers_an_exact_low_rank_tensor(backend, dtype):
    # from the SVD start: this seed's random start sits in a swamp (error ~0.126) for ~900 sweeps first
    x = as_backend(random_cp((6, 7, 8), 3, seed=1).to_dense(), backend, dtype)
    cp, errors = cp_als(x, 3, n_sweeps=150, init="svd", return_errors=True)
    assert type(cp.weights) is type(x) and cp.weights.dtype == x.dtype and cp.factors[0].dtype == x.dtype
    tol = 1e-8 if dtype in (np.float64, torch.float64) else 1e-4
    assert relative_error(x, cp) < tol
    assert errors[-1] < tol
    assert len(errors) == 150


def test_cp_als_error_history_decreases_and_matches_the_final_error():
    rng = np.random.default_rng(3)
    x = random_cp((8, 9, 7), 4, seed=2).to_dense()
    x = x + 0.05 * np.linalg.norm(x) * rng.standard_normal(x.shape) / np.sqrt(x.size)
    cp, errors = cp_als(x, 4, n_sweeps=60, init="svd", return_errors=True)
    assert all(b <= a * (1 + 1e-9) for a, b in zip(errors, errors[1:]))
    assert errors[-1] == pytest.approx(relative_error(x, cp), rel=1e-8)
    assert np.all(cp.weights >= 0)
    for factor in cp.factors:
        np.testing.assert_allclose(np.linalg.norm(factor, axis=0), 1.0)


def test_cp_als_stops_early_with_tol():
    x = random_cp((6, 7, 8), 2, seed=4).to_dense()
    noisy = x + 0.1 * np.random.default_rng(0).standard_normal(x.shape)
    _, errors = cp_als(noisy, 2, n_sweeps=500, tol=1e-6, seed=0, return_errors=True)
    assert 2 <= len(errors) < 500


def test_cp_als_inits():
    x = random_cp((6, 7, 8), 3, seed=1).to_dense()
    # svd init with a rank larger than one mode size: random columns fill the rest
    cp = cp_als(x, 7, n_sweeps=5, init="svd", seed=0)
    assert cp.rank == 7
    start = cp_als(x, 3, n_sweeps=20, seed=0)
    resumed, errors = cp_als(x, 3, n_sweeps=1, init=start, return_errors=True)
    assert errors[0] <= relative_error(x, start) + 1e-12
    assert relative_error(x, cp_als(x, 3, n_sweeps=1, seed=0)) == relative_error(x, cp_als(x, 3, n_sweeps=1, seed=0))


def _border_rank_tensor():
    """a o a o b + a o b o a + b o a o a: CP rank 3, border rank 2 (a best rank-2 fit does not exist)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal(4)
    a /= np.linalg.norm(a)
    b = rng.standard_normal(4)
    b -= a * (a @ b)
    b /= np.linalg.norm(b)

    def outer(u, v, w):
        return np.einsum("i,j,k->ijk", u, v, w)

    return outer(a, a, b) + outer(a, b, a) + outer(b, a, a)


def test_degeneracy_score_flags_cancelling_components():
    t = _border_rank_tensor()
    cp, errors = cp_als(t, 2, n_sweeps=500, seed=0, return_errors=True)
    assert errors[-1] < errors[9] < errors[0]  # the error creeps down ...
    assert cp.weights.min() > 2 * np.linalg.norm(t)  # ... with components larger than the tensor ...
    assert degeneracy_score(cp) < -0.9  # ... that nearly cancel
    healthy = cp_als(random_cp((5, 6, 7), 3, seed=1).to_dense(), 3, n_sweeps=100, seed=0)
    assert degeneracy_score(healthy) > -0.5
    np.testing.assert_allclose(np.diag(congruence(healthy)), 1.0)
    assert degeneracy_score(random_cp((3, 4, 5), 1, seed=0)) == 0.0


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda x: cp_als(x, 0), ValueError, "cp_als: rank must be a positive integer, got 0"),
        (lambda x: cp_als(x, 2.5), TypeError, "cp_als: rank must be a positive integer"),
        (lambda x: cp_als(x, True), TypeError, "cp_als: rank must be a positive integer"),
        (lambda x: cp_als(x, 2, 10), TypeError, "positional"),
        (lambda x: cp_als(x, 2, n_sweeps=0), ValueError, "cp_als: n_sweeps must be a positive integer"),
        (lambda x: cp_als(x.astype(np.float16), 2), TypeError, "cp_als: needs float32.*got float16"),
        (lambda x: cp_als(torch.ones(4, 5, 6, dtype=torch.int32), 2), TypeError, "got int32"),
        (lambda x: cp_als(x, 2, tol=-1.0), ValueError, "tol must be None or a number >= 0"),
        (lambda x: cp_als(x, 2, init="hosvd"), ValueError, "unknown init 'hosvd'"),
        (lambda x: cp_als(x, 2, init=random_cp((4, 5, 5), 2)), ValueError, "init has shape"),
        (lambda x: cp_als(x.astype(np.complex128), 2), TypeError, "real float32 or float64"),
        (lambda x: cp_als(x[0, 0], 2), ValueError, "at least 2 dimension"),
        (lambda x: mttkrp(x, [np.ones((4, 2)), np.ones((5, 3)), np.ones((6, 2))], 0), ValueError,
         r"factors\[2\] must have shape \(n_2, R\) = \(6, 3\)"),
        (lambda x: mttkrp(x, [np.ones((4, 2))] * 2, 0), ValueError, "needs 3 factors"),
        (lambda x: mttkrp(x, [np.ones((4, 2))] * 3, 3), ValueError, "mode must be an integer in"),
        (lambda x: khatri_rao([np.ones((3, 2)), np.ones((3, 3))]), ValueError, "same number of columns"),
        (lambda x: khatri_rao([]), ValueError, "at least one array"),
        (lambda x: CPTensor(np.ones(2), [np.ones((3, 3))]), ValueError, r"factors\[0\] must have shape \(n_0, R\)"),
    ],
)
def test_bad_input_raises_a_clear_error(call, error, match):
    x = np.random.default_rng(0).standard_normal((4, 5, 6))
    with pytest.raises(error, match=match):
        call(x)


def test_nan_input_is_rejected():
    x = np.ones((3, 4, 5))
    x[0, 1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        cp_als(x, 2)
    with pytest.raises(ValueError, match="NaN or infinity"):
        mttkrp(torch.tensor(x), [torch.ones(n, 2) for n in x.shape], 1)


def test_error_is_not_worse_than_tensorly_from_the_same_start():
    pytest.importorskip("tensorly")
    import tensorly as tl
    from tensorly.cp_tensor import CPTensor as TensorlyCP
    from tensorly.decomposition import parafac

    rng = np.random.default_rng(7)
    x = random_cp((9, 8, 10), 4, seed=3).to_dense()
    x = x + 0.1 * np.linalg.norm(x) * rng.standard_normal(x.shape) / np.sqrt(x.size)
    start = random_cp(x.shape, 4, seed=11)
    ours = relative_error(x, cp_als(x, 4, n_sweeps=30, init=start))
    same_start = TensorlyCP((start.weights.copy(), [f.copy() for f in start.factors]))
    theirs = parafac(x, 4, n_iter_max=30, tol=0, init=same_start)
    assert ours <= np.linalg.norm(x - tl.cp_to_tensor(theirs)) / np.linalg.norm(x) + 1e-8
