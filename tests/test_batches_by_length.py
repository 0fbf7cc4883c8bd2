"""tnnlib.pretrained.batches_by_length: every row once per epoch, in batches of similar lengths, seeded."""
import pytest
import torch
from torch import nn

from tnnlib.pretrained import batches_by_length
from tnnlib.train import fit


def padded(lengths, pad_id=0, width=None):
    width = width or max(lengths)
    ids = torch.full((len(lengths), width), pad_id)
    for row, n in enumerate(lengths):
        ids[row, :n] = torch.arange(1, n + 1) + 100
    return ids


@pytest.fixture
def data():
    lengths = torch.randint(1, 40, (203,), generator=torch.Generator().manual_seed(1)).tolist()
    ids = padded(lengths)
    return ids, torch.arange(len(ids), dtype=torch.float32)[:, None], torch.tensor(lengths)


def epoch(loader):
    return [(b_ids.clone(), b_t[:, 0].long().clone()) for b_ids, b_t in loader]


def test_every_row_once_per_epoch_with_its_target(data):
    ids, targets, _ = data
    loader = batches_by_length(ids, targets, batch_size=16, pool=4)
    for _ in range(3):
        batches = epoch(loader)
        rows = torch.cat([rows for _, rows in batches])
        assert sorted(rows.tolist()) == list(range(len(ids)))
        assert all(torch.equal(b_ids, ids[rows]) for b_ids, rows in batches)     # inputs travel with their targets
        assert len(batches) == len(loader) and all(len(rows) <= 16 for _, rows in batches)


def test_less_padding_than_a_plain_shuffle(data):
    ids, targets, lengths = data

    def padding(loader):
        return sum((len(rows) * lengths[rows].max() - lengths[rows].sum()).item() for _, rows in epoch(loader))

    sorted_pad = padding(batches_by_length(ids, targets, batch_size=16, pool=50))
    shuffled_pad = padding(batches_by_length(ids, targets, batch_size=16, pool=1))
    assert sorted_pad < 0.25 * shuffled_pad, (sorted_pad, shuffled_pad)


def test_seeded_and_reshuffled_every_epoch(data):
    ids, targets, _ = data
    a, b = batches_by_length(ids, targets, seed=3), batches_by_length(ids, targets, seed=3)
    first_a, first_b = epoch(a), epoch(b)
    assert all(torch.equal(x[1], y[1]) for x, y in zip(first_a, first_b))
    second_a = epoch(a)
    assert [x[1].tolist() for x in first_a] != [x[1].tolist() for x in second_a]
    other = epoch(batches_by_length(ids, targets, seed=4))
    assert [x[1].tolist() for x in first_a] != [x[1].tolist() for x in other]


def test_pad_id_decides_the_lengths():
    ids = padded([1, 5, 1, 5], pad_id=7)
    loader = batches_by_length(ids, torch.arange(4.0)[:, None], pad_id=7, batch_size=2)
    assert sorted(sorted(rows[:, 0].long().tolist()) for _, rows in loader) == [[0, 2], [1, 3]]


def test_fit_trains_on_it():
    torch.manual_seed(0)
    lengths = torch.tensor([3, 8, 5, 2, 7, 4, 6, 1] * 4)
    ids = padded(lengths.tolist())
    targets = torch.randn(9, 4)[lengths]                       # a sentence's target depends on its tokens

    class Bag(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.EmbeddingBag(200, 4, mode="mean", padding_idx=0)

        def forward(self, x):
            return self.embedding(x)

    history = fit(Bag(), batches_by_length(ids, targets, batch_size=8), epochs=20, lr=0.1,
                  loss_fn=nn.functional.mse_loss, progress=False)
    assert history.train_loss[-1] < 0.7 * history.train_loss[0]


@pytest.mark.parametrize("ids, targets, options, match", [
    (torch.zeros(4, 3), torch.zeros(4), {}, "integer tensor"),
    (torch.zeros(4, dtype=torch.long), torch.zeros(4), {}, "integer tensor"),
    (torch.zeros(4, 3, dtype=torch.long), torch.zeros(5), {}, "one row per sentence"),
    (torch.zeros(4, 3, dtype=torch.long), [0, 1, 2, 3], {}, "one row per sentence"),
    (torch.zeros(4, 3, dtype=torch.long), torch.zeros(4), {"batch_size": 0}, "batch_size"),
    (torch.zeros(4, 3, dtype=torch.long), torch.zeros(4), {"pool": 1.5}, "pool"),       # TypeError, as everywhere
])
def test_bad_input_says_what_was_expected(ids, targets, options, match):
    with pytest.raises((ValueError, TypeError), match=match):
        batches_by_length(ids, targets, **options)
