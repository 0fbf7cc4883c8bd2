"""Train the reference CNN on the full MNIST training set: ``python -m tnnlib.train_reference``.

This is how ``tnnlib/weights/reference_cnn.pt`` was made (see the README
there). Seeded and single-process; on a 2-core CPU it takes a few minutes.

Recipe: Adam (lr 1e-3, cosine decay to 0 over the run), batch 64, 4 epochs
over the 60,000 training images in a seeded random order each epoch, no
augmentation; then the accuracy on the 10,000 test images. The weights are
saved as a float32 ``state_dict``.
"""
from __future__ import annotations

import argparse
import json
import math
import time

import torch
from torch.nn import functional as F

from .data import load_mnist
from .models import WEIGHTS, ReferenceCNN, accuracy
from .runtime import seed_everything


def load_data():
    """Full MNIST: train (60,000) and test (10,000) images in [0, 1] as torch tensors."""
    train = load_mnist("train", source="full")
    test = load_mnist("test", source="full")
    return [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in (train, test)]


def train(epochs: int = 4, batch_size: int = 64, lr: float = 1e-3, seed: int = 0, out=WEIGHTS, log=print):
    """Train, evaluate, save; returns a dict with the test accuracy, time and settings."""
    seed_everything(seed, deterministic=True)
    (x_train, y_train), (x_test, y_test) = load_data()
    model = ReferenceCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * math.ceil(len(x_train) / batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / steps)))
    order = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(x_train), generator=order)
        total = 0.0
        for i in range(0, len(perm), batch_size):
            idx = perm[i:i + batch_size]
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(idx)
        log(f"epoch {epoch + 1}/{epochs}: train loss {total / len(x_train):.4f}, "
            f"test accuracy {accuracy(model, x_test, y_test):.4f}, {time.perf_counter() - start:.0f} s")
    seconds = time.perf_counter() - start
    test_accuracy = accuracy(model, x_test, y_test)
    state = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()}
    torch.save(state, out)
    summary = dict(test_accuracy=test_accuracy, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                   train_seconds=round(seconds, 1), threads=torch.get_num_threads(), torch=torch.__version__)
    log(json.dumps(summary))
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(WEIGHTS), help="where to save the state_dict")
    args = parser.parse_args(argv)
    train(args.epochs, args.batch_size, args.lr, args.seed, args.out)


if __name__ == "__main__":
    main()
