"""The course's reference CNN: a small LeNet-like MNIST classifier with one large FC layer.

Lessons 06-07 compress it: its ``fc1`` layer (800 -> 500, 400,000 weights,
93% of the network's parameters) is the natural target for a TT layer, its
convolutions for CP and Tucker-2 factorisations.

    conv1  1 -> 20, 5x5    (28x28 -> 24x24), ReLU, max-pool 2  -> 12x12
    conv2 20 -> 50, 5x5    (12x12 ->  8x8),  ReLU, max-pool 2  ->  4x4
    flatten 50 * 4 * 4 = 800
    fc1  800 -> 500, ReLU
    fc2  500 -> 10         (logits)

The input is a batch of images in [0, 1] (what :func:`tnnlib.data.load_mnist`
returns), shape ``(B, 28, 28)`` or ``(B, 1, 28, 28)``; the model standardises
them itself with the MNIST training mean and std.

:func:`load_reference_cnn` loads the shipped weights (trained by
``python -m tnnlib.train_reference``; see ``tnnlib/weights/README.md``).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .nn import TTLinear

WEIGHTS = Path(__file__).resolve().parent / "weights" / "reference_cnn.pt"
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


class ReferenceCNN(nn.Module):
    """LeNet-like CNN for 28x28 digits: two conv + pool stages, ``fc1`` 800 -> 500, ``fc2`` 500 -> 10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(800, 500)
        self.fc2 = nn.Linear(500, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, 28, 28)`` or ``(B, 1, 28, 28)`` in [0, 1] -> the 800 features ``fc1`` reads."""
        if x.dim() == 3:
            x = x.unsqueeze(1)
        x = (x - MNIST_MEAN) / MNIST_STD
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return x.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images -> logits ``(B, 10)``."""
        return self.fc2(F.relu(self.fc1(self.features(x))))


def load_reference_cnn(device="cpu") -> ReferenceCNN:
    """The reference CNN with the shipped trained weights, in eval mode, on ``device``."""
    model = ReferenceCNN()
    state = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.to(device).eval()


@torch.no_grad()
def accuracy(model: nn.Module, images, labels, batch_size: int = 1000) -> float:
    """Fraction of ``images`` (array or tensor, ``(N, 28, 28)``) whose predicted class is ``labels``."""
    p = next(model.parameters())
    images = torch.as_tensor(images)
    labels = torch.as_tensor(labels)
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size].to(p.device, p.dtype)
        correct += (model(batch).argmax(1).cpu() == labels[start:start + batch_size].cpu()).sum().item()
    model.train(was_training)
    return correct / len(images)


# ---------------------------------------------------------------------------
# Lesson 11: a tiny character-level transformer (nanoGPT-style)
# ---------------------------------------------------------------------------
#
#     token embedding (V -> d) + position embedding (context -> d)
#     n_layers blocks, each:  x = x + attention(LayerNorm(x))
#                             x = x + feed_forward(LayerNorm(x))
#     LayerNorm, head (d -> V): logits of the next character at every position
#
# Attention has four d x d projections (query, key, value, output), the
# feed-forward two matrices d -> 4d -> d: 12 d^2 weights per block, where the
# parameters and most of the FLOPs are. With ``rank`` given, all six are
# TT-matrix (MPO) layers (tnnlib.nn.TTLinear) from the start ("trained in format").

#: The names of a block's projections, by kind, as ``CharTransformer.projection_names`` gives them.
PROJECTIONS = {"attention": ("attention.query", "attention.key", "attention.value", "attention.output"),
               "feed_forward": ("feed_forward.up", "feed_forward.down")}


def _projection(in_features: int, out_features: int, rank) -> nn.Module:
    """A dense ``nn.Linear``, or a :class:`tnnlib.nn.TTLinear` of TT-rank ``rank`` (balanced modes)."""
    if rank is None:
        return nn.Linear(in_features, out_features)
    return TTLinear(in_features, out_features, rank)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which position t sees positions 0..t only.

    ``softmax(Q K^T / sqrt(d_head) + causal mask) V`` per head, then the output projection.
    """

    def __init__(self, d_model: int, n_heads: int, rank=None):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"CausalSelfAttention: d_model ({d_model}) must be a multiple of n_heads ({n_heads})")
        self.n_heads = n_heads
        self.query, self.key, self.value, self.output = (_projection(d_model, d_model, rank) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = (p(x).view(B, T, self.n_heads, D // self.n_heads).transpose(1, 2)   # (B, heads, T, d_head)
                   for p in (self.query, self.key, self.value))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)                    # the formula above
        return self.output(y.transpose(1, 2).reshape(B, T, D))


class FeedForward(nn.Module):
    """``down(GELU(up(x)))`` with ``up``: d -> 4d and ``down``: 4d -> d."""

    def __init__(self, d_model: int, rank=None):
        super().__init__()
        self.up = _projection(d_model, 4 * d_model, rank)
        self.down = _projection(4 * d_model, d_model, rank)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.gelu(self.up(x)))


class Block(nn.Module):
    """One pre-norm transformer block: attention, then feed-forward, each added to its input."""

    def __init__(self, d_model: int, n_heads: int, rank=None):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attention = CausalSelfAttention(d_model, n_heads, rank)
        self.feed_forward = FeedForward(d_model, rank)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.feed_forward(self.norm2(x))


class CharTransformer(nn.Module):
    """A tiny decoder-only transformer over characters: ids ``(B, T)`` -> next-character logits ``(B, T, V)``.

    Parameters
    ----------
    vocab_size : int
        Number of characters.
    d_model, n_layers, n_heads, context : int, keyword-only
        Width, blocks, attention heads, longest input.
    rank : None, or a TT-rank (int or sequence), keyword-only
        None: dense projections. Given: every attention and feed-forward
        projection is a :class:`tnnlib.nn.TTLinear` of that rank, trained in format.

    Examples
    --------
    >>> model = CharTransformer(50, d_model=32, n_layers=2, n_heads=4, context=16)
    >>> model(torch.zeros(3, 10, dtype=torch.long)).shape
    torch.Size([3, 10, 50])
    >>> model.projection_names("feed_forward")
    ['blocks.0.feed_forward.up', 'blocks.0.feed_forward.down', 'blocks.1.feed_forward.up', 'blocks.1.feed_forward.down']
    >>> small = CharTransformer(50, d_model=32, n_layers=2, n_heads=4, context=16, rank=4)
    >>> type(small.blocks[0].attention.query).__name__, small.n_params < model.n_params
    ('TTLinear', True)
    """

    def __init__(self, vocab_size: int, *, d_model: int = 128, n_layers: int = 2, n_heads: int = 4,
                 context: int = 64, rank=None):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("d_model", d_model), ("n_layers", n_layers),
                            ("n_heads", n_heads), ("context", context)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"CharTransformer: {name} must be a positive integer, got {value!r}")
        self.context = context
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        self.position_embedding = nn.Embedding(context, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, rank) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.dim() != 2 or ids.shape[1] > self.context:
            raise ValueError(f"CharTransformer: expected ids of shape (batch, T) with T <= {self.context}, "
                             f"got {tuple(ids.shape)}")
        x = self.token_embedding(ids) + self.position_embedding(torch.arange(ids.shape[1], device=ids.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))

    @property
    def n_params(self) -> int:
        """All parameters (embeddings and head included)."""
        return sum(p.numel() for p in self.parameters())

    def projection_names(self, kind: str = "all") -> list:
        """Names of the projections of ``kind`` (``"attention"``, ``"feed_forward"``, ``"all"``), for ``tensorize``."""
        if kind not in ("attention", "feed_forward", "all"):
            raise ValueError(f"projection_names: kind must be 'attention', 'feed_forward' or 'all', got {kind!r}")
        kinds = ("attention", "feed_forward") if kind == "all" else (kind,)
        return [f"blocks.{b}.{name}" for b in range(len(self.blocks)) for k in kinds for name in PROJECTIONS[k]]

    @torch.no_grad()
    def generate(self, prompt: torch.Tensor, n_new: int, *, temperature: float = 1.0, seed: int = 0) -> torch.Tensor:
        """``prompt`` (1-D ids) followed by ``n_new`` characters sampled one at a time (seeded).

        Each new character is drawn from ``softmax(logits / temperature)`` at the last position,
        the model seeing at most its ``context`` last characters.
        """
        if prompt.dim() != 1 or len(prompt) == 0:
            raise ValueError(f"generate: prompt must be a non-empty 1-D tensor of ids, got shape {tuple(prompt.shape)}")
        if not temperature > 0:
            raise ValueError(f"generate: temperature must be positive, got {temperature}")
        gen = torch.Generator().manual_seed(seed)
        was_training = self.training
        self.eval()
        ids = prompt.clone()
        for _ in range(n_new):
            logits = self(ids[-self.context:][None])[0, -1]
            probs = F.softmax(logits.float().cpu() / temperature, dim=-1)
            ids = torch.cat([ids, torch.multinomial(probs, 1, generator=gen).to(ids.device)])
        self.train(was_training)
        return ids


def next_char_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the next-character logits ``(B, T, V)`` against the targets ``(B, T)`` (nats).

    ``exp`` of it is the perplexity. The ``loss_fn`` of :func:`tnnlib.train.fit` for a :class:`CharTransformer`.
    """
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
