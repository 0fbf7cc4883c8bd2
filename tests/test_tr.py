"""Tests of tnnlib.tr: TRTensor, TR-SVD, TR-ALS."""
import numpy as np
import pytest
import torch

from tnnlib import relative_error
from tnnlib.tr import TRTensor, _split_closing_rank, random_tr, tr_als, tr_svd

BACKENDS = [
    ("numpy", np.float64),
    ("numpy", np.float32),
    ("torch", torch.float64),
    ("torch", torch.float32),
]
TOL = {np.float64: 1e-10, np.float32: 1e-4, torch.float64: 1e-10, torch.float32: 1e-4}
SHAPE, RANK = (6, 5, 4, 5), (2, 3, 2, 3, 2)


def as_backend(x, backend, dtype):
    return torch.tensor(x, dtype=dtype) if backend == "torch" else np.asarray(x, dtype=dtype)


def noisy_ring(noise=0.01, seed=0):
    x = random_tr(SHAPE, RANK, seed=seed).to_dense()
    e = np.random.default_rng(seed).standard_normal(SHAPE)
    return x + noise * np.linalg.norm(x) * e / np.linalg.norm(e)


def test_tr_tensor_is_the_trace_of_a_product_of_slices():
    tr = random_tr((4, 5, 6, 3), (2, 3, 4, 2, 2), seed=0)
    expected = np.einsum("aib,bjc,ckd,dla->ijkl", *tr.cores)
    np.testing.assert_allclose(tr.to_dense(), expected, atol=1e-12)
    assert tr.shape == (4, 5, 6, 3) and tr.rank == (2, 3, 4, 2, 2)
    assert tr.n_params == 2 * 4 * 3 + 3 * 5 * 4 + 4 * 6 * 2 + 2 * 3 * 2
    for index in [(0, 0, 0, 0), (3, 4, 5, 2), (1, 2, 3, 0), (-1, 0, -2, 1)]:
        assert tr[index] == pytest.approx(expected[index], abs=1e-12)
    one = TRTensor([np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2)])
    np.testing.assert_allclose(one.to_dense(), np.einsum("aia->i", one.cores[0]))


def test_tr_tensor_element_access_on_torch():
    tr = random_tr((3, 4, 5), 2, seed=1, like=torch.zeros(1, dtype=torch.float32))
    full = tr.to_dense()
    assert isinstance(full, torch.Tensor) and full.dtype == torch.float32
    assert float(tr[2, 1, 4]) == pytest.approx(float(full[2, 1, 4]), abs=1e-6)


def test_tr_tensor_rejects_bad_cores_and_indices():
    with pytest.raises(ValueError, match="closing bond"):
        TRTensor([np.ones((2, 3, 3)), np.ones((3, 4, 1))])
    with pytest.raises(ValueError, match=r"between cores\[0\] and cores\[1\]"):
        TRTensor([np.ones((2, 3, 3)), np.ones((2, 4, 2))])
    with pytest.raises(ValueError, match="3 axes"):
        TRTensor([np.ones((2, 3))])
    tr = random_tr((3, 4), 2, seed=0)
    with pytest.raises(IndexError, match="needs 2 indices"):
        tr[1]
    with pytest.raises(IndexError, match="out of range"):
        tr[1, 4]


def test_random_tr_has_entries_of_order_one():
    x = random_tr((4,) * 6, 5, seed=0).to_dense()
    assert 0.3 < np.std(x) < 3


@pytest.mark.parametrize("backend,dtype", BACKENDS)
def test_tr_svd_is_exact_for_an_exact_ring(backend, dtype):
    x = as_backend(random_tr(SHAPE, RANK, seed=1).to_dense(), backend, dtype)
    tr = tr_svd(x, eps=1e-9 if dtype in (np.float64, torch.float64) else 1e-5)
    assert type(tr.cores[0]) is type(x) and tr.cores[0].dtype == x.dtype
    assert relative_error(x, tr) < TOL[dtype]
    # without truncation it is exact too (with bonds possibly larger than the ring's)
    assert relative_error(x, tr_svd(x)) < TOL[dtype]


def test_tr_svd_of_a_complex_tensor():
    rng = np.random.default_rng(2)
    cores = [rng.standard_normal(s) + 1j * rng.standard_normal(s) for s in [(2, 4, 3), (3, 5, 2), (2, 3, 2)]]
    x = TRTensor(cores).to_dense()
    tr = tr_svd(x, eps=1e-10)
    assert tr.cores[0].dtype == np.complex128 and relative_error(x, tr) < 1e-10


@pytest.mark.parametrize("eps", [0.3, 0.1, 0.02])
def test_tr_svd_eps_meets_its_error_bound(eps):
    x = noisy_ring(noise=0.05)
    tr = tr_svd(x, eps=eps)
    assert relative_error(x, tr) <= eps
    assert tr.n_params < x.size or eps < 0.05  # compresses above the noise level


def test_tr_svd_respects_the_maximum_ranks():
    x = noisy_ring(noise=0.05)
    tr = tr_svd(x, max_rank=3)
    assert all(r <= 3 for r in tr.rank) and tr.rank[0] == tr.rank[-1]
    assert tr.rank[0] * tr.rank[1] <= SHAPE[0]
    assert tr_svd(x, max_rank=(2, 3, 2, 2, 2)).rank == (2, 3, 2, 2, 2)
    assert tr_svd(x, max_rank=(2, 3, 2, 2)).rank == (2, 3, 2, 2, 2)      # the d bonds (r_0, ..., r_{d-1})


@pytest.mark.parametrize(
    "target,limit,max_r0,max_r1,expected",
    [
        (8, 8, 6, 6, (2, 4)),  # 8 triplets, maximum rank 6: the most balanced split
        (36, 36, 6, 6, (6, 6)),
        (7, 8, 10, 10, (2, 4)),  # a prime target: keep one more triplet rather than r_0 = 1
        (7, 7, 6, 6, (2, 3)),  # cannot keep 7 within the limits: as many as allowed, balanced
        (4, 4, 1, 8, (1, 4)),  # a tensor train when r_0 is capped at 1
    ],
)
def test_split_of_the_first_rank(target, limit, max_r0, max_r1, expected):
    assert _split_closing_rank(target, limit, max_r0, max_r1) == expected


@pytest.mark.parametrize("backend,dtype", BACKENDS)
def test_tr_als_error_decreases_monotonically(backend, dtype):
    x = as_backend(noisy_ring(noise=0.01), backend, dtype)
    tr, errors = tr_als(x, RANK, n_sweeps=15, seed=3, return_errors=True)
    assert type(tr.cores[0]) is type(x) and tr.cores[0].dtype == x.dtype and tr.rank == RANK
    slack = 1e-9 if dtype in (np.float64, torch.float64) else 1e-4
    assert all(b <= a + slack for a, b in zip(errors, errors[1:]))
    assert errors[-1] < 0.9 * errors[0]
    assert errors[-1] == pytest.approx(relative_error(x, tr), rel=1e-3 if slack > 1e-6 else 1e-8)


def test_tr_als_from_tr_svd_and_from_a_given_ring():
    x = noisy_ring(noise=0.01)
    start = tr_svd(x, max_rank=RANK)
    tr, errors = tr_als(x, RANK, n_sweeps=5, init="tr_svd", return_errors=True)
    assert errors[-1] < relative_error(x, start) * 1.001  # started at the TR-SVD (up to the small padding)
    resumed = tr_als(x, RANK, n_sweeps=1, init=tr)
    assert relative_error(x, resumed) <= errors[-1] + 1e-12
    _, stopped = tr_als(x, RANK, n_sweeps=200, tol=1e-3, seed=0, return_errors=True)
    assert 2 <= len(stopped) < 200


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda x: tr_svd(x, max_rank=(2, 2, 2)), ValueError, r"tr_svd: max_rank must be .* sequence of 4"),
        (lambda x: tr_als(x, (2, 2, 2)), ValueError, r"tr_als: rank must be .* sequence of 4"),
        (lambda x: tr_als(x, (2, 3, 2, 3, 3)), ValueError, "closing bond needs r_0 == r_d"),
        (lambda x: tr_als(x, (2, 0, 2, 2, 2)), ValueError, r"rank\[1\] must be a positive integer"),
        (lambda x: tr_als(x, 2.0), TypeError, "tr_als: rank must be a positive integer"),
        (lambda x: tr_als(x, 12), ValueError, "rank too large"),
        (lambda x: tr_als(x, 2, 10), TypeError, "positional"),
        (lambda x: tr_als(x, 2, n_sweeps=0), ValueError, "tr_als: n_sweeps must be a positive integer"),
        (lambda x: tr_als(x, 2, tol=-1), ValueError, "tol must be None or a number >= 0"),
        (lambda x: tr_als(x, 2, init="svd"), ValueError, "unknown init 'svd'"),
        (lambda x: tr_als(x, 2, init=random_tr(SHAPE, 3)), ValueError, "init has shape"),
        (lambda x: tr_als(x.astype(np.complex128), 2), TypeError, "real float32 or float64"),
        (lambda x: tr_svd(x, eps=-0.1), ValueError, r"tr_svd: eps must be a real number in \[0, 1\)"),
        (lambda x: tr_svd(x, eps=5), ValueError, r"tr_svd: eps must be a real number in \[0, 1\)"),
        (lambda x: tr_svd(x, 2), TypeError, "positional"),
        (lambda x: tr_svd(x.astype(np.float16)), TypeError, "tr_svd: needs float32.*got float16"),
        (lambda x: tr_svd(x[0, 0, 0]), ValueError, "at least 2 dimension"),
        (lambda x: tr_svd({"a": 1}), TypeError, "NumPy array or a torch tensor"),
    ],
)
def test_bad_input_raises_a_clear_error(call, error, match):
    x = noisy_ring()
    with pytest.raises(error, match=match):
        call(x)


def test_nan_input_is_rejected():
    x = noisy_ring()
    x[0, 1, 2, 3] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        tr_svd(x, max_rank=2)
    with pytest.raises(ValueError, match="NaN or infinity"):
        tr_als(torch.tensor(x), 2)


def test_error_is_not_worse_than_tensorly():
    pytest.importorskip("tensorly")
    import tensorly as tl
    from tensorly.decomposition import tensor_ring, tensor_ring_als
    from tensorly.tr_tensor import tr_to_tensor

    x = noisy_ring(noise=0.01, seed=0)

    def error(tr):
        return np.linalg.norm(x - tr_to_tensor(tr)) / np.linalg.norm(x)

    # TR-SVD at the same ranks. The first SVD fixes only the span of the r_0 r_1 columns; how they are
    # assigned to (r_0, r_1) pairs (and their signs) is arbitrary and changes later truncations slightly.
    for ranks in [(2, 3, 4, 3, 2), tr_svd(x, eps=0.05).rank]:
        ours = relative_error(x, tr_svd(x, max_rank=ranks))
        assert ours <= 1.05 * error(tensor_ring(x, list(ranks))) + 1e-10
    # TR-ALS from tensorly's own random start: the same iterates
    start = TRTensor(tl.random.random_tr(x.shape, list(RANK), random_state=0).factors)
    ours = relative_error(x, tr_als(x, RANK, n_sweeps=10, init=start))
    assert ours <= error(tensor_ring_als(x, list(RANK), n_iter_max=10, tol=0, random_state=0)) + 1e-8
