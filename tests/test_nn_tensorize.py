"""tensorize as a torch model transform: a copy by default, shared layers, tied weights, frozen models."""
import copy

import pytest
import torch
from torch import nn

from tnnlib.nn import TTLinear, tensorize


class Shared(nn.Module):
    """One Linear reachable as ``fc`` and as ``head.proj``."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 16)
        self.head = nn.Sequential()
        self.head.proj = self.fc

    def forward(self, x):
        return self.head.proj(torch.relu(self.fc(x)))


class TiedLM(nn.Module):
    """A language-model head tied to its embedding (``out.weight is embed.weight``)."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(64, 16)
        self.body = nn.Linear(16, 16)
        self.out = nn.Linear(16, 64, bias=False)
        self.out.weight = self.embed.weight

    def forward(self, idx):
        return self.out(torch.relu(self.body(self.embed(idx))))


def test_default_is_a_copy_and_the_model_is_returned():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))
    before = copy.deepcopy(net.state_dict())
    new, report = tensorize(net, "0", max_rank=2)
    assert new is not net and isinstance(new[0], TTLinear) and isinstance(net[0], nn.Linear)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert new[2].weight is not net[2].weight                          # a deep copy, not a shallow one
    same, _ = tensorize(net, "0", max_rank=2, inplace=True)
    assert same is net and isinstance(net[0], TTLinear)
    assert "| 0 |" in str(report) and report[0]["rank"] == str(new[0].rank)


@pytest.mark.parametrize("target", ["fc", "head.proj", nn.Linear])
def test_a_shared_layer_is_replaced_everywhere(target):
    torch.manual_seed(0)
    model = Shared()
    x = torch.randn(3, 16)
    new, report = tensorize(model, target, method="tucker")
    assert isinstance(new.fc, nn.Module) and new.fc is new.head.proj            # still one shared layer
    assert type(new.fc).__name__ == "TuckerLinear"
    assert len(report) == 1 and report[0]["layer"] == "fc, head.proj"
    assert sum(p.numel() for p in new.parameters()) == new.fc.weight_parameters() + 16
    torch.testing.assert_close(new(x), model(x), rtol=1e-5, atol=1e-5)


def test_a_tied_weight_is_a_clear_error():
    model = TiedLM()
    with pytest.raises(ValueError, match="layer 'out'.*tied to embed.weight.*more parameters, not fewer"):
        tensorize(model, "out", max_rank=2)
    with pytest.raises(ValueError, match="layer 'embed'.*tied to out.weight"):
        tensorize(model, "embed", max_rank=2)
    new, report = tensorize(model, "body", max_rank=2)                        # untied layers still work
    assert new.out.weight is new.embed.weight and report[0]["compression"] > 1
    model.out.weight = nn.Parameter(model.embed.weight.detach().clone())      # untied by hand: allowed
    new, report = tensorize(model, "out", max_rank=2)
    assert isinstance(new.out, TTLinear)


def test_a_frozen_eval_model_stays_frozen_and_in_eval_mode():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(16, 16), nn.Dropout(0.5), nn.Linear(16, 4), nn.Embedding(10, 16))
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    net[2].bias.requires_grad_(True)                                            # a trainable bias only
    new, _ = tensorize(net, [nn.Linear], method="tt", max_rank=2)
    tensorize(net, "3", method="tt", max_rank=2, inplace=True)
    for layer in (new[0], new[2], net[3]):
        assert not layer.training
        assert not any(p.requires_grad for n, p in layer.named_parameters() if n != "bias")
    assert not new[0].bias.requires_grad and new[2].bias.requires_grad
    new.train()
    assert new[0].training                                                      # ordinary modules afterwards


def test_every_format_through_the_same_keywords():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(24, 18), nn.Conv2d(2, 4, 3), nn.Embedding(30, 8))
    for method, options in [("tt", dict(max_rank=3)), ("tr", dict(max_rank=2)), ("tucker", dict(eps=0.1)),
                            ("lowrank", dict(max_rank=3)), ("cp", dict(rank=3))]:
        new, (row,) = tensorize(net, "0", method=method, **options)
        assert row["params_after"] == new[0].weight_parameters()
        assert 0 <= row["rel_error"] < 1
    new, report = tensorize(net, ["0"], method="tt", in_modes={"0": (4, 6)}, out_modes={"0": (3, 6)})
    assert (new[0].in_modes, new[0].out_modes) == ((4, 6), (3, 6)) and report[0]["rel_error"] < 1e-6
    new, report = tensorize(net, "1", method="tucker", max_rank=(2, 2))
    assert new[1].rank == (2, 2)
    new, report = tensorize(net, "2", method="tt", in_modes=(5, 6), out_modes=(2, 4))
    assert (new[2].voc_modes, new[2].emb_modes) == ((5, 6), (2, 4))
