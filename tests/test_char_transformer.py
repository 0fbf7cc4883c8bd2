"""tnnlib.models.CharTransformer: shapes, causality, tensorized projections, training with fit, generation."""
import pytest
import torch

from tnnlib.models import CharTransformer, next_char_loss
from tnnlib.nn import TTLinear, tensorize
from tnnlib.train import evaluate, fit


def test_shapes_and_parameter_counts():
    model = CharTransformer(30, d_model=32, n_layers=2, n_heads=4, context=12)
    assert model(torch.zeros(2, 12, dtype=torch.long)).shape == (2, 12, 30)
    d = 32
    per_block = 12 * d * d + 9 * d + 4 * d          # six weights, six biases (9 d), two LayerNorms (4 d)
    assert model.n_params == 30 * d + 12 * d + 2 * per_block + 2 * d + (d * 30 + 30)
    assert len(model.projection_names()) == 12 and len(model.projection_names("attention")) == 8
    with pytest.raises(ValueError, match="kind must be"):
        model.projection_names("ff")
    with pytest.raises(ValueError, match="T <= 12"):
        model(torch.zeros(1, 13, dtype=torch.long))
    with pytest.raises(ValueError, match="multiple of n_heads"):
        CharTransformer(30, d_model=30, n_heads=4)
    with pytest.raises(ValueError, match="positive integer"):
        CharTransformer(30, d_model=0)


def test_attention_is_causal():
    torch.manual_seed(0)
    model = CharTransformer(20, d_model=16, n_layers=2, n_heads=2, context=10).eval()
    ids = torch.randint(0, 20, (1, 10))
    changed = ids.clone()
    changed[0, 6:] = (changed[0, 6:] + 1) % 20
    assert torch.allclose(model(ids)[0, :6], model(changed)[0, :6], atol=1e-6)
    assert not torch.allclose(model(ids)[0, 6:], model(changed)[0, 6:], atol=1e-4)


def test_in_format_and_tensorized_models_use_tt_layers():
    small = CharTransformer(20, d_model=16, n_layers=1, n_heads=2, context=8, rank=2)
    layers = dict(small.named_modules())
    assert all(isinstance(layers[n], TTLinear) for n in small.projection_names())
    dense = CharTransformer(20, d_model=16, n_layers=1, n_heads=2, context=8)
    exact, report = tensorize(dense, dense.projection_names(), "tt")
    ids = torch.randint(0, 20, (3, 8))
    assert len(report) == 6 and torch.allclose(exact(ids), dense(ids), atol=1e-4)


def test_fit_trains_it_and_generate_is_seeded():
    torch.manual_seed(0)
    ids = torch.arange(40) % 5                      # 0 1 2 3 4 0 1 ...: easy to predict
    x = torch.stack([ids[i:i + 8] for i in range(30)])
    y = torch.stack([ids[i + 1:i + 9] for i in range(30)])
    model = CharTransformer(5, d_model=16, n_layers=1, n_heads=2, context=8, rank=4)
    history = fit(model, (x, y), epochs=30, batch_size=10, lr=1e-2, loss_fn=next_char_loss, progress=False)
    assert history.train_accuracy[-1] is None       # no accuracy for (B, T, V) outputs
    assert evaluate(model, (x, y), loss_fn=next_char_loss)["loss"] < 0.3
    out = model.generate(torch.tensor([0, 1]), 6, temperature=0.5, seed=1)
    assert len(out) == 8 and torch.equal(out, model.generate(torch.tensor([0, 1]), 6, temperature=0.5, seed=1))
    with pytest.raises(ValueError, match="temperature"):
        model.generate(torch.tensor([0]), 1, temperature=0)
