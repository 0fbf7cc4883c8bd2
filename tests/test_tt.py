"""Tensor train: TT-SVD (exact recovery, eps bound), element access, inner product, arithmetic,
orthogonalization, rounding, bond spectra, bad input, and a cross-check with tensorly."""
import math

import numpy as np
import pytest
import torch

from tnnlib import relative_error
from tnnlib.tt import (
    TTTensor,
    bond_spectra,
    entanglement_entropy,
    inner,
    is_left_orthogonal,
    is_right_orthogonal,
    left_orthogonalize,
    max_tt_ranks,
    orthogonalize,
    random_tt,
    right_orthogonalize,
    tt_round,
    tt_svd,
)

from arrays import KINDS, dense, like

TOL = {np.float64: 1e-11, torch.float64: 1e-11, np.complex128: 1e-11, np.float32: 2e-5, torch.float32: 2e-5}


def noisy(x, level, seed=0):
    noise = np.random.default_rng(seed).standard_normal(x.shape)
    return x + level * np.linalg.norm(x) / np.linalg.norm(noise) * noise


# --- TT-SVD ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,dtype", KINDS)
@pytest.mark.parametrize("shape,rank", [((4, 5, 6), [2, 3]), ((3, 4, 2, 5), [3, 4, 2]), ((7,), [])])
def test_tt_svd_recovers_an_exactly_low_rank_tensor(kind, dtype, shape, rank):
    x = random_tt(shape, rank, seed=1, like=like(kind, dtype)).to_dense()
    tt = tt_svd(x, max_rank=rank)
    assert tt.rank == (1, *rank, 1) and tt.shape == shape
    assert type(tt.cores[0]) is type(x) and tt.dtype == x.dtype
    assert relative_error(x, tt) < TOL[dtype]
    assert tt_svd(x).rank == (1, *rank, 1)            # without limits: the numerical ranks


@pytest.mark.parametrize("method", ["auto", "svd", "gram"])
@pytest.mark.parametrize("shape,noise", [((6, 7, 8, 5), 1e-3), ((4, 4, 4, 4, 4), 1e-2), ((10, 12, 9), 0.1)])
@pytest.mark.parametrize("eps", [0.3, 0.05, 1e-2, 2e-3, 1e-5])
def test_tt_svd_error_bound(method, shape, noise, eps):
    x = noisy(random_tt(shape, 3, seed=2).to_dense(), noise)
    tt = tt_svd(x, eps=eps, method=method)
    assert relative_error(x, tt) <= eps * (1 + 1e-9)


def test_tt_svd_error_bound_torch_float32_and_complex():
    x = noisy(random_tt((5, 6, 7), 3, seed=3).to_dense(), 1e-2)
    tt = tt_svd(torch.tensor(x, dtype=torch.float32), eps=0.02)
    assert relative_error(x, tt) <= 0.02
    z = x + 1j * noisy(random_tt((5, 6, 7), 2, seed=4).to_dense(), 1e-2)
    tt = tt_svd(z, eps=0.02)
    assert tt.dtype == np.complex128 and relative_error(z, tt) <= 0.02


def test_tt_svd_max_rank_int_is_capped_and_list_is_checked():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    assert max_tt_ranks(x.shape) == (1, 2, 6, 5, 1)
    full = tt_svd(x, max_rank=100)
    assert full.rank == (1, 2, 6, 5, 1) and relative_error(x, full) < 1e-12
    assert tt_svd(x, max_rank=3).rank == (1, 2, 3, 3, 1)
    assert tt_svd(x, max_rank=[2, 4, 1]).rank == (1, 2, 4, 1, 1)
    assert tt_svd(x, max_rank=(1, 2, 4, 1, 1)).rank == (1, 2, 4, 1, 1)   # d+1 ranks, like TTTensor.rank
    assert tt_svd(x, max_rank=np.int64(3)).rank == (1, 2, 3, 3, 1)
    with pytest.raises(ValueError, match=r"tt_svd: max_rank\[1\] = 7 is larger than the largest rank 6"):
        tt_svd(x, max_rank=[2, 7, 3])
    with pytest.raises(ValueError, match="sequence of 3 positive integers"):
        tt_svd(x, max_rank=[2, 3])
    with pytest.raises(ValueError, match="start and end with 1"):
        tt_svd(x, max_rank=[2, 2, 3, 3, 2])
    with pytest.raises(ValueError, match="positive integer"):
        tt_svd(x, max_rank=0)
    for bad in (2.5, True, "3"):
        with pytest.raises(TypeError, match="tt_svd: max_rank must be a positive integer"):
            tt_svd(x, max_rank=bad)


def test_tt_svd_bad_input():
    x = np.ones((3, 4, 5))
    for eps in (1.0, -0.1, 2, 3):
        with pytest.raises(ValueError, match=r"tt_svd: eps must be a real number in \[0, 1\)"):
            tt_svd(x, eps=eps)
    for eps in ("0.1", True):
        with pytest.raises(TypeError, match=r"eps must be a real number in \[0, 1\)"):
            tt_svd(x, eps=eps)
    assert relative_error(x, tt_svd(x, eps=0)) < 1e-14     # eps = 0: exact (nothing nonzero dropped)
    with pytest.raises(TypeError, match="positional"):
        tt_svd(x, 2)                                          # max_rank and eps are keyword-only
    for bad in (x.astype(np.float16), torch.ones(3, 4, 5, dtype=torch.bfloat16), np.ones((3, 4, 5), dtype=int),
                torch.ones(3, 4, 5, dtype=torch.int64)):
        with pytest.raises(TypeError, match="tt_svd: needs float32, float64 or complex input"):
            tt_svd(bad)
    x[1, 1, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        tt_svd(x)
    with pytest.raises(ValueError, match="empty"):
        tt_svd(np.ones((3, 0, 2)))
    with pytest.raises(TypeError, match="NumPy array or a torch tensor"):
        tt_svd({"not": "a tensor"})


def test_tt_svd_zero_tensor_and_vector():
    zero = tt_svd(np.zeros((3, 4, 5)), eps=0.1)
    assert zero.rank == (1, 1, 1, 1) and zero.norm() == 0
    v = np.arange(1.0, 6.0)
    tt = tt_svd(v)
    assert tt.rank == (1, 1) and np.allclose(tt.to_dense(), v)


@pytest.mark.parametrize("max_rank", [2, 4, 6])
def test_tt_svd_error_is_not_worse_than_tensorly(max_rank):
    tensorly = pytest.importorskip("tensorly")
    from tensorly.decomposition import tensor_train

    x = noisy(random_tt((4, 5, 6, 5), 4, seed=5).to_dense(), 0.05)
    ours = relative_error(x, tt_svd(x, max_rank=max_rank))
    with tensorly.backend_context("numpy"):
        theirs = relative_error(x, tensorly.tt_to_tensor(tensor_train(x, max_rank)))
    assert ours <= theirs + 1e-10


# --- the TTTensor object -------------------------------------------------------------------------


@pytest.mark.parametrize("kind,dtype", KINDS)
def test_elements_inner_product_and_norm_equal_the_dense_ones(kind, dtype):
    a = random_tt((3, 4, 5, 2), [2, 3, 2], seed=6, like=like(kind, dtype))
    b = random_tt((3, 4, 5, 2), [3, 2, 2], seed=7, like=like(kind, dtype))
    if dtype == np.complex128:
        a = a + 1j * random_tt((3, 4, 5, 2), 2, seed=8, like=like(kind, dtype))
    xa, xb = dense(a.to_dense()), dense(b.to_dense())
    tol = TOL[dtype]
    for index in [(0, 0, 0, 0), (2, 3, 4, 1), (1, 2, 0, 1), (-1, -2, 3, 0)]:
        assert abs(dense(a[index]) - xa[index]) <= tol * np.abs(xa).max()
        assert abs(dense(a.element(index)) - xa[index]) <= tol * np.abs(xa).max()
    scale = np.linalg.norm(xa) * np.linalg.norm(xb)
    assert abs(dense(inner(a, b)) - np.vdot(xa, xb)) <= tol * scale
    assert abs(a.norm() - np.linalg.norm(xa)) <= tol * np.linalg.norm(xa)
    assert isinstance(a.norm(), float)


def test_index_errors():
    tt = random_tt((3, 4, 5), 2, seed=0)
    with pytest.raises(IndexError, match="full index of 3 integers"):
        tt[1, 2]
    with pytest.raises(TypeError, match="no slices"):
        tt[1, :, 2]
    with pytest.raises(IndexError, match="out of range for mode 1 of size 4"):
        tt[0, 4, 0]


def test_properties_repr_and_copy():
    tt = random_tt((3, 4, 5), [2, 3], seed=0)
    assert tt.order == 3 and tt.shape == (3, 4, 5) and tt.rank == (1, 2, 3, 1)
    assert tt.n_params == 3 * 2 + 2 * 4 * 3 + 3 * 5
    assert "rank=(1, 2, 3, 1)" in repr(tt)
    copy = tt.copy()
    copy.cores[0][...] = 0
    assert np.abs(tt.cores[0]).sum() > 0


def test_random_tt_seed_like_and_scale():
    a, b = random_tt((4, 5, 6), 3, seed=3), random_tt((4, 5, 6), 3, seed=3)
    assert all(np.array_equal(p, q) for p, q in zip(a.cores, b.cores))
    t = random_tt((4, 5, 6), 3, seed=3, like=torch.zeros(1, dtype=torch.float32))
    assert all(isinstance(c, torch.Tensor) and c.dtype == torch.float32 for c in t.cores)
    x = random_tt((10, 10, 10, 10), 5, seed=4).to_dense()
    assert 0.5 < np.mean(x**2) < 2.0                       # entries of variance ~1
    assert random_tt((2, 3, 4), 100).rank == (1, 2, 4, 1)  # an int is capped
    with pytest.raises(ValueError, match=r"random_tt: rank\[0\] = 3 is larger than the largest rank 2"):
        random_tt((2, 3, 4), [3, 2])
    with pytest.raises(TypeError, match="positional"):
        random_tt((2, 3, 4), 2, 0)                            # seed and like are keyword-only


def test_constructor_errors():
    ok = [np.ones((1, 3, 2)), np.ones((2, 4, 1))]
    TTTensor(ok)
    with pytest.raises(ValueError, match="ranks do not chain"):
        TTTensor([np.ones((1, 3, 2)), np.ones((3, 4, 1))])
    with pytest.raises(ValueError, match="boundary ranks must be r_0 = r_d = 1"):
        TTTensor([np.ones((2, 3, 2)), np.ones((2, 4, 1))])
    with pytest.raises(ValueError, match="has 3 axes"):
        TTTensor([np.ones((1, 3)), np.ones((3, 4, 1))])
    with pytest.raises(TypeError, match="not a mix"):
        TTTensor([np.ones((1, 3, 2)), torch.ones((2, 4, 1))])
    with pytest.raises(TypeError, match="one dtype"):
        TTTensor([np.ones((1, 3, 2)), np.ones((2, 4, 1), dtype=np.float32)])
    with pytest.raises(ValueError, match="at least one array"):
        TTTensor([])


@pytest.mark.parametrize("kind,dtype", KINDS[:4])
def test_addition_and_scaling(kind, dtype):
    a = random_tt((3, 4, 5), [2, 3], seed=1, like=like(kind, dtype))
    b = random_tt((3, 4, 5), [3, 2], seed=2, like=like(kind, dtype))
    xa, xb = dense(a.to_dense()), dense(b.to_dense())
    total = a + b
    assert total.rank == (1, 5, 5, 1)
    tol = TOL[dtype]
    assert relative_error(xa + xb, total) < tol
    assert relative_error(2.5 * xa, (2.5 * a)) < tol
    assert relative_error(2.5 * xa, (a * 2.5)) < tol
    assert relative_error(xa - xb, (a - b)) < tol
    assert relative_error(xa / 4, (a / 4)) < tol
    assert relative_error(-xa, (-a)) < tol
    one = random_tt((6,), [], seed=3, like=like(kind, dtype))
    assert relative_error(2 * dense(one.to_dense()), (one + one)) < tol
    with pytest.raises(ValueError, match="TT addition needs TT tensors of equal shapes"):
        a + random_tt((3, 4, 6), 2, like=like(kind, dtype))
    with pytest.raises(TypeError, match="one kind, dtype and device"):
        a + random_tt((3, 4, 5), 2, like=np.zeros(1, dtype=np.float64 if kind == "torch" else np.complex64))
    with pytest.raises(ValueError, match="the inner product needs TT tensors of equal shapes"):
        inner(a, random_tt((3, 4, 6), 2, like=like(kind, dtype)))
    with pytest.raises(TypeError):
        a * a


# --- orthogonalization ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind,dtype", KINDS)
@pytest.mark.parametrize("center", [0, 1, 2, 3])
def test_orthogonalize_makes_the_mixed_canonical_form_and_keeps_the_tensor(kind, dtype, center):
    tt = random_tt((3, 4, 5, 3), [3, 4, 3], seed=center, like=like(kind, dtype))
    x = tt.to_dense()
    o = orthogonalize(tt, center)
    assert relative_error(x, o) < TOL[dtype]
    assert all(is_left_orthogonal(core) for core in o.cores[:center])
    assert all(is_right_orthogonal(core) for core in o.cores[center + 1:])
    norm = np.linalg.norm(dense(x))
    assert abs(np.linalg.norm(dense(o.cores[center])) - norm) < TOL[dtype] * norm
    assert tt.cores[0] is not o.cores[0] or center == 0   # a new TTTensor


def test_left_and_right_orthogonalize_and_the_checks():
    tt = random_tt((3, 4, 5), [3, 4], seed=0)
    left, right = left_orthogonalize(tt), right_orthogonalize(tt)
    assert all(is_left_orthogonal(c) for c in left.cores[:-1])
    assert all(is_right_orthogonal(c) for c in right.cores[1:])
    assert not is_left_orthogonal(tt.cores[1]) and not is_right_orthogonal(tt.cores[1])
    over = random_tt((2, 2, 2), 2, seed=0) + random_tt((2, 2, 2), 2, seed=1)   # ranks 4 > 2
    assert left_orthogonalize(over).rank == (1, 2, 4, 1)     # QR trims r_k > r_{k-1} n_k
    assert right_orthogonalize(over).rank == (1, 4, 2, 1)    # LQ trims r_{k-1} > n_k r_k
    with pytest.raises(ValueError, match=r"center must be an integer core index in \[0, 2\]"):
        orthogonalize(tt, 3)
    with pytest.raises(TypeError, match="must be a TTTensor"):
        orthogonalize(np.ones((2, 2)), 0)


# --- rounding ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,dtype", KINDS)
def test_rounding_a_sum_brings_the_ranks_back(kind, dtype):
    a = random_tt((4, 5, 6, 3), [3, 4, 2], seed=1, like=like(kind, dtype))
    doubled = a + a
    assert doubled.rank == (1, 6, 8, 4, 1)
    rounded = tt_round(doubled, eps=1e-4)
    assert rounded.rank == a.rank
    assert relative_error(2 * dense(a.to_dense()), rounded) < max(TOL[dtype], 1e-4)
    if dtype not in (np.float32, torch.float32):
        assert tt_round(doubled).rank == a.rank          # default eps: the rounding level


@pytest.mark.parametrize("method", ["auto", "svd"])
@pytest.mark.parametrize("eps", [0.3, 0.05, 1e-2, 1e-3])
def test_rounding_error_bound(method, eps):
    x = noisy(random_tt((5, 6, 7, 4), 3, seed=2).to_dense(), 0.02)
    exact = tt_svd(x)                                           # full-rank TT of a noisy tensor
    rounded = tt_round(exact, eps=eps, method=method)
    assert relative_error(x, rounded) <= eps * (1 + 1e-9)
    assert all(r <= q for r, q in zip(rounded.rank, exact.rank))
    # on a TT, rounding finds the same ranks as TT-SVD of the full tensor
    assert rounded.rank == tt_svd(x, eps=eps).rank


def test_rounding_max_rank():
    tt = random_tt((4, 5, 6, 3), 6, seed=3)
    rounded = tt_round(tt, max_rank=2)
    assert rounded.rank == (1, 2, 2, 2, 1)
    best = tt_svd(tt.to_dense(), max_rank=2)   # same error as TT-SVD at the same rank (both quasi-optimal)
    assert relative_error(tt.to_dense(), rounded) <= 1.01 * relative_error(tt.to_dense(), best)
    with pytest.raises(ValueError, match=r"tt_round: eps must be a real number in \[0, 1\)"):
        tt_round(tt, eps=1.0)
    with pytest.raises(ValueError, match=r"tt_round: max_rank\[0\] = 5 is larger"):
        tt_round(tt, max_rank=[5, 2, 2])
    with pytest.raises(TypeError, match="must be a TTTensor"):
        tt_round(tt.to_dense(), eps=0.1)


# --- bond spectra and entanglement ------------------------------------------------------------------


@pytest.mark.parametrize("kind,dtype", KINDS)
def test_bond_spectra_are_the_singular_values_of_the_unfoldings(kind, dtype):
    tt = random_tt((3, 4, 5, 2), [3, 4, 2], seed=4, like=like(kind, dtype))
    x = dense(tt.to_dense())
    spectra = bond_spectra(tt)
    assert len(spectra) == 3
    for k, S in enumerate(spectra, start=1):
        expected = np.linalg.svd(x.reshape(math.prod(x.shape[:k]), -1), compute_uv=False)
        S = dense(S)
        n = min(len(S), len(expected))
        np.testing.assert_allclose(S[:n], expected[:n], atol=TOL[dtype] * expected[0] * 10)


def test_entanglement_entropy():
    assert entanglement_entropy(np.array([2.0, 0.0, 0.0])) == 0.0
    assert abs(entanglement_entropy(np.ones(4)) - math.log(4)) < 1e-12
    assert abs(entanglement_entropy(torch.tensor([1.0, 1.0])) - math.log(2)) < 1e-6
    p = np.array([0.9, 0.1])
    assert abs(entanglement_entropy(np.sqrt(p)) + np.sum(p * np.log(p))) < 1e-12
    with pytest.raises(ValueError, match="all zeros"):
        entanglement_entropy(np.zeros(3))
    with pytest.raises(ValueError, match="non-negative"):
        entanglement_entropy(np.array([1.0, -1.0]))
    product_state = random_tt((2, 2, 2, 2), 1, seed=0)
    assert all(entanglement_entropy(S) < 1e-12 for S in bond_spectra(product_state))
