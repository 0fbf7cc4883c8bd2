"""The shipped reference CNN loads instantly and classifies the MNIST test set at >= 99 %."""
import torch

from tnnlib.data import load_mnist
from tnnlib.models import ReferenceCNN, accuracy, load_reference_cnn
from tnnlib.nn import tensorize


def test_architecture():
    model = ReferenceCNN()
    assert sum(p.numel() for p in model.parameters()) == 431_080
    assert model.fc1.weight.shape == (500, 800)
    assert model(torch.rand(2, 28, 28)).shape == (2, 10)
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_shipped_weights_reach_99_percent():
    model = load_reference_cnn()
    assert not model.training and next(model.parameters()).dtype == torch.float32
    images, labels = load_mnist("test")
    assert len(images) == 10_000
    assert accuracy(model, images, labels) >= 0.99


def test_truncating_fc1_without_healing():
    """Densely trained weights are not low-rank: a TT of rank 32 keeps the accuracy, rank 8 does not."""
    images, labels = load_mnist("test", n=2000)
    model = load_reference_cnn()
    new, report = tensorize(model, ["fc1"], method="tt", max_rank=32)
    assert report[0]["compression"] > 3 and accuracy(new, images, labels) > 0.95
    new, report = tensorize(model, ["fc1"], method="tt", max_rank=8)
    assert report[0]["compression"] > 50 and report[0]["rel_error"] > 0.9
    assert accuracy(new, images, labels) < 0.8
    assert not new.training                                    # the eval model stays in eval mode
