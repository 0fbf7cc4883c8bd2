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
