"""The tnnlib 1.0 layer vocabulary: constructors like torch's, checked arguments, ``rank``, one from_dense."""
import inspect

import numpy as np
import pytest
import torch
from torch import nn

from tnnlib.nn import CPConv2d, CPLinear, LowRankLinear, TRLinear, TTEmbedding, TTLinear, TuckerConv2d, TuckerLinear

LINEAR = [TTLinear, TuckerLinear, CPLinear, TRLinear]


@pytest.mark.parametrize("cls", LINEAR + [LowRankLinear])
def test_constructor_follows_nn_linear(cls):
    params = inspect.signature(cls.__init__).parameters
    assert list(params)[1:4] == ["in_features", "out_features", "rank"]
    keyword_only = [n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    expected = ["bias", "device", "dtype"] if cls is LowRankLinear else ["in_modes", "out_modes", "bias", "device",
                                                                          "dtype"]
    assert keyword_only == expected
    layer = cls(24, 18, 3, device="cpu", dtype=torch.float64, bias=False)
    assert (layer.in_features, layer.out_features, layer.bias) == (24, 18, None)
    assert all(p.dtype == torch.float64 for p in layer.parameters())
    assert layer(torch.randn(2, 24, dtype=torch.float64)).shape == (2, 18)


@pytest.mark.parametrize("cls", LINEAR)
def test_modes_default_and_given(cls):
    layer = cls(64, 32, 2)                                             # modes chosen (Tucker: one per side)
    assert np.prod(layer.in_modes) == 64 and np.prod(layer.out_modes) == 32
    given = cls(64, 32, 2, in_modes=(4, 4, 4), out_modes=(2, 4, 4))
    assert given.in_modes == (4, 4, 4) and given.out_modes == (2, 4, 4)
    one_side = cls(64, 32, 2, in_modes=(8, 8))
    assert one_side.in_modes == (8, 8) and np.prod(one_side.out_modes) == 32
    with pytest.raises(ValueError, match=f"{cls.__name__}: in_modes \\(4, 4, 2\\) multiply to 32, not to 64"):
        cls(64, 32, 2, in_modes=(4, 4, 2), out_modes=(2, 4, 4))
    with pytest.raises(TypeError, match=f"{cls.__name__}: in_modes\\[0\\] must be a positive integer, got 4.5"):
        cls(9, 9, 2, in_modes=(4.5, 2), out_modes=(3, 3))
    with pytest.raises(TypeError, match="in_modes\\[1\\] must be a positive integer, got True"):
        cls(8, 8, 2, in_modes=(8, True), out_modes=(2, 4))
    accepted = cls(16, 16, 2, in_modes=(np.int64(4), np.int32(4)), out_modes=[4, 4])
    assert accepted.in_modes == (4, 4) and all(type(m) is int for m in accepted.in_modes)


def test_tt_modes_need_the_same_length():
    with pytest.raises(ValueError, match="same length"):
        TTLinear(4, 8, 2, in_modes=(2, 2), out_modes=(2, 2, 2))
    with pytest.raises(ValueError, match="7 cannot be split into 3 modes"):
        TTLinear(12, 7, 2, in_modes=(2, 2, 3))


@pytest.mark.parametrize("make", [
    lambda r: TTLinear(16, 16, r), lambda r: TuckerLinear(16, 16, r), lambda r: CPLinear(8, 8, r),
    lambda r: TRLinear(16, 16, r), lambda r: LowRankLinear(8, 8, r), lambda r: TTEmbedding(100, 16, r),
    lambda r: CPConv2d(3, 4, 3, r), lambda r: TuckerConv2d(3, 4, 3, r),
])
def test_ranks_are_integers(make):
    for bad in (2.5, True, "3", 2.0):
        with pytest.raises(TypeError, match="rank must be a positive integer"):
            make(bad)
    with pytest.raises(ValueError, match="rank must be a positive integer, got 0"):
        make(0)
    layer = make(np.int64(3))
    rank = layer.rank
    assert all(type(r) is int for r in (rank if isinstance(rank, tuple) else (rank,)))
    assert not hasattr(layer, "ranks")


def test_an_int_rank_is_capped_at_the_largest_useful_rank():
    tiny = TTLinear(4, 4, 1000, in_modes=(2, 2), out_modes=(2, 2))
    assert tiny.rank == (1, 4, 1) and tiny.weight_parameters() == 2 * 2 * 4 + 4 * 2 * 2   # not 8000
    assert TTLinear(64, 64, 1000, in_modes=(4, 4, 4), out_modes=(4, 4, 4)).rank == (1, 16, 16, 1)
    assert TuckerLinear(64, 32, 1000).rank == (32, 32)
    assert TuckerLinear(16, 6, 1000, in_modes=(4, 4), out_modes=(6,)).rank == (6, 4, 4)
    assert LowRankLinear(12, 7, 30).rank == 7
    assert TRLinear(16, 16, 1000, in_modes=(4, 4), out_modes=(4, 4)).rank == (16,) * 5
    assert TTEmbedding(100, 16, 1000, voc_modes=(10, 10), emb_modes=(4, 4)).rank == (1, 40, 1)
    assert TuckerConv2d(3, 64, 1, 100).rank == (3, 3)
    assert CPLinear(8, 8, 100).rank == 100 and CPConv2d(3, 4, 3, 100).rank == 100     # CP: never capped


def test_a_too_large_rank_sequence_is_an_error():
    with pytest.raises(ValueError, match="TTLinear: rank\\[0\\] = 5 is larger than the largest rank 4"):
        TTLinear(4, 4, (5,), in_modes=(2, 2), out_modes=(2, 2))
    with pytest.raises(ValueError, match="TuckerLinear: rank\\[1\\] = 9"):
        TuckerLinear(8, 8, (8, 9))
    with pytest.raises(ValueError, match="d-1 = 2 inner ranks"):
        TTLinear(8, 8, (2, 2, 2), in_modes=(2, 2, 2), out_modes=(2, 2, 2))
    with pytest.raises(ValueError, match="start and end with 1"):
        TTLinear(8, 8, (2, 2, 2, 2), in_modes=(2, 2, 2), out_modes=(2, 2, 2))
    with pytest.raises(ValueError, match="r_0 == r_L"):
        TRLinear(6, 6, (2, 2, 2, 2, 3), in_modes=(2, 3), out_modes=(2, 3))
    with pytest.raises(ValueError, match="TRLinear: rank\\[1\\] must be a positive integer, got 0"):
        TRLinear(6, 6, (2, 0, 2, 2), in_modes=(2, 3), out_modes=(2, 3))
    full = TTLinear(8, 8, (1, 2, 2, 1), in_modes=(2, 2, 2), out_modes=(2, 2, 2))   # all d+1 ranks are fine
    assert full.rank == (1, 2, 2, 1)


@pytest.mark.parametrize("make,match", [
    (lambda: LowRankLinear(0, 4, 2), "LowRankLinear: in_features must be a positive integer, got 0"),
    (lambda: TTLinear(8, -1, 2), "out_features must be a positive integer"),
    (lambda: TTEmbedding(0, 4, 2), "num_embeddings must be a positive integer"),
    (lambda: CPConv2d(3, 0, 3, 2), "out_channels must be a positive integer"),
    (lambda: TuckerConv2d(3, 4, 0, 2), "kernel_size must be >= 1"),
    (lambda: TTEmbedding(10, 4, 2, voc_modes=(2, 2)), "give 4 rows, fewer than num_embeddings = 10"),
])
def test_sizes_below_one_are_value_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()
    with pytest.raises(TypeError, match="in_features must be a positive integer, got 4.0"):
        LowRankLinear(4.0, 4, 2)


FROM_DENSE = {
    "tt": (TTLinear, dict(max_rank=3)), "tucker": (TuckerLinear, dict(max_rank=3)),
    "tr": (TRLinear, dict(max_rank=2)), "lowrank": (LowRankLinear, dict(max_rank=3)),
    "cp": (CPLinear, dict(rank=3, n_sweeps=5)),
}


@pytest.mark.parametrize("name", FROM_DENSE)
def test_one_from_dense_signature(name):
    cls, options = FROM_DENSE[name]
    params = inspect.signature(cls.from_dense).parameters
    keyword_only = {n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert {"in_modes", "out_modes"} <= keyword_only
    assert ({"rank"} if cls is CPLinear else {"max_rank", "eps"}) <= keyword_only
    torch.manual_seed(0)
    dense = nn.Linear(16, 12).double()
    new = cls.from_dense(dense, **options)
    assert isinstance(new, cls) and new.dense_weight().shape == (12, 16)
    assert isinstance(new.to_dense(), nn.Linear)
    with pytest.raises(TypeError):
        cls.from_dense(dense, None, None)                               # modes are keyword-only


def test_from_dense_checks_its_keywords():
    dense = nn.Linear(16, 12).double()
    with pytest.raises(TypeError, match="TTLinear.from_dense: eps must be a real number in \\[0, 1\\)"):
        TTLinear.from_dense(dense, eps="0.1")
    with pytest.raises(ValueError, match="TTLinear.from_dense: max_rank\\[0\\] = 99 is larger"):
        TTLinear.from_dense(dense, in_modes=(4, 4), out_modes=(3, 4), max_rank=(99,))
    assert TTLinear.from_dense(dense, in_modes=(4, 4), out_modes=(3, 4), max_rank=99).rank == (1, 12, 1)
    with pytest.raises(ValueError, match="LowRankLinear.from_dense: this format takes no modes"):
        LowRankLinear.from_dense(dense, in_modes=(4, 4))
    with pytest.raises(TypeError, match="CPLinear.from_dense: rank= is required"):
        CPLinear.from_dense(dense)
    with pytest.raises(TypeError, match="expected an Linear, got Conv2d|expected an nn.Linear"):
        TTLinear.from_dense(nn.Conv2d(2, 2, 1))
    tucker = TuckerConv2d.from_dense(nn.Conv2d(4, 6, 3).double(), max_rank=(3, 2))
    assert tucker.rank == (3, 2)
    with pytest.raises(ValueError, match="TuckerConv2d.from_dense: max_rank\\[1\\] = 5 is larger"):
        TuckerConv2d.from_dense(nn.Conv2d(4, 6, 3), max_rank=(3, 5))


def test_no_old_names_left():
    for cls in (TTLinear, TuckerLinear, CPLinear, TRLinear, LowRankLinear, TTEmbedding, CPConv2d, TuckerConv2d):
        for old in ("full_weight", "full_kernel", "full_table", "ranks"):
            assert not hasattr(cls, old), (cls.__name__, old)
        assert hasattr(cls, "dense_weight") and hasattr(cls, "to_dense") and hasattr(cls, "reference_forward")
