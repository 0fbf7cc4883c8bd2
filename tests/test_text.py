"""tnnlib.text: Python's documentation topics as characters and as sentences."""
import pytest
import torch

from tnnlib.text import (
    CharVocabulary,
    next_char_windows,
    python_docs_passages,
    python_docs_sentences,
    python_docs_text,
    python_docs_topics,
)


def test_the_text_is_the_topics_in_sorted_order():
    topics = python_docs_topics()
    assert list(topics) == sorted(topics) and len(topics) > 50
    text = python_docs_text()
    assert text.startswith(next(iter(topics.values())).strip()) and len(text) > 300_000


def test_vocabulary_round_trip_and_errors():
    text = python_docs_text()
    vocab = CharVocabulary(text)
    ids = vocab.encode(text[:1000])
    assert ids.dtype == torch.long and int(ids.max()) < len(vocab)
    assert vocab.decode(ids) == text[:1000]
    with pytest.raises(ValueError, match="not in the vocabulary"):
        CharVocabulary("abc").encode("abd")
    with pytest.raises(ValueError, match="non-empty string"):
        CharVocabulary("")


def test_windows_are_shifted_by_one_and_seeded():
    ids = torch.arange(50) * 3
    x, y = next_char_windows(ids, 10, 7, seed=3)
    assert x.shape == y.shape == (7, 10)
    assert torch.equal(y[:, :-1], x[:, 1:]) and bool((y[:, -1] == x[:, -1] + 3).all())
    assert torch.equal(next_char_windows(ids, 10, 7, seed=3)[0], x)
    with pytest.raises(ValueError, match="longer than the context"):
        next_char_windows(torch.arange(5), 5, 1)
    with pytest.raises(ValueError, match="1-D"):
        next_char_windows(torch.zeros(3, 20), 5, 1)


def test_sentences_are_disjoint_prose():
    heal, held_out = python_docs_sentences("heal"), python_docs_sentences("eval")
    assert len(heal) > 800 and len(held_out) > 150
    assert not set(heal) & set(held_out)
    assert len(set(heal)) == len(heal) and len(set(held_out)) == len(held_out)
    assert all(40 <= len(s) <= 220 and s[0].isupper() for s in heal + held_out)
    with pytest.raises(ValueError, match="'heal' or 'eval'"):
        python_docs_sentences("test")


def test_passages_come_from_healing_topics_only():
    passages = python_docs_passages(16)
    assert len(passages) > 2000 and all(8 <= len(p.split(" ")) <= 16 for p in passages)
    held_out_text = " ".join(python_docs_sentences("eval"))
    assert not [p for p in passages if p in held_out_text]
    with pytest.raises(ValueError, match="positive"):
        python_docs_passages(0)
