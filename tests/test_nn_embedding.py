"""TTEmbedding behaves like nn.Embedding: empty lookups, the meta device, padding_idx."""
import pytest
import torch
from torch import nn

from tnnlib.nn import TTEmbedding


def small(**kwargs):
    torch.manual_seed(0)
    return TTEmbedding(60, 8, 3, voc_modes=(6, 10), emb_modes=(2, 4), **kwargs).double()


@pytest.mark.parametrize("shape", [(0,), (0, 5), (3, 0)])
def test_empty_indices(shape):
    emb, dense = small(), nn.Embedding(60, 8).double()
    idx = torch.zeros(shape, dtype=torch.long)
    out = emb(idx)
    assert out.shape == dense(idx).shape == (*shape, 8)
    assert emb.reference_forward(idx).shape == out.shape
    out.sum().backward()                                     # no error, zero gradients
    assert all(c.grad is not None and not c.grad.any() for c in emb.cores)


def test_meta_device():
    emb = TTEmbedding(60, 8, 3, voc_modes=(6, 10), emb_modes=(2, 4), device="meta")
    dense = nn.Embedding(60, 8, device="meta")
    idx = torch.zeros(4, 3, dtype=torch.long, device="meta")
    out = emb(idx)
    assert out.device.type == "meta" and out.shape == dense(idx).shape == (4, 3, 8)
    assert emb.dense_weight().shape == (60, 8)
    assert TTEmbedding(60, 8, 3, padding_idx=0, device="meta")(idx).shape == (4, 3, 8)


def test_padding_idx_row_is_zero_and_gets_no_gradient():
    emb = small(padding_idx=7)
    idx = torch.tensor([[7, 1, 7], [59, 7, 3]])
    out = emb(idx)
    assert not out[idx == 7].any() and out[idx != 7].abs().min() > 0
    torch.testing.assert_close(emb.reference_forward(idx), out)
    plain = small()                                          # same cores, no padding row
    torch.testing.assert_close(out[idx != 7], plain(idx)[idx != 7])
    # gradient: only the non-padding rows reach the cores, as in nn.Embedding
    out.pow(2).sum().backward()
    only_rows = idx[idx != 7]
    plain(only_rows).pow(2).sum().backward()
    for a, b in zip(emb.cores, plain.cores):
        torch.testing.assert_close(a.grad, b.grad)
    dense = emb.to_dense()
    assert dense.padding_idx == 7 and not dense.weight[7].any()
    torch.testing.assert_close(dense(idx), out)
    torch.testing.assert_close(emb.dense_weight()[idx], out)
    assert "padding_idx=7" in repr(emb)


def test_padding_idx_checks_and_negative_index():
    assert small(padding_idx=-1).padding_idx == 59              # as nn.Embedding: counted from the end
    with pytest.raises(ValueError, match="padding_idx must be within"):
        small(padding_idx=60)
    with pytest.raises(TypeError, match="padding_idx must be an int"):
        small(padding_idx=1.0)


def test_from_dense_keeps_padding_idx():
    torch.manual_seed(0)
    table = nn.Embedding(60, 8, padding_idx=0).double()
    tt = TTEmbedding.from_dense(table, in_modes=(6, 10), out_modes=(2, 4))
    idx = torch.tensor([0, 5, 59, 0])
    assert tt.padding_idx == 0
    torch.testing.assert_close(tt(idx), table(idx))


def test_default_modes_and_rank_cap():
    emb = TTEmbedding(1000, 64, 1000)
    assert emb.voc_modes == (10, 10, 10) and emb.emb_modes == (4, 4, 4)
    assert emb.rank == (1, 40, 40, 1)                        # capped: the table's unfoldings have rank <= 40
    prime = TTEmbedding(997, 24, 4)
    assert prime.num_embeddings == 997 and len(prime.voc_modes) == len(prime.emb_modes)
    assert prime(torch.tensor([996])).shape == (1, 24)
    with pytest.raises(ValueError, match="need the same length"):
        TTEmbedding(100, 16, 2, voc_modes=(10, 10), emb_modes=(2, 2, 4))
    with pytest.raises(IndexError, match="indices must be in \\[0, 60\\)"):
        small()(torch.tensor([60]))
