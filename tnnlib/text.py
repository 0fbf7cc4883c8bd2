"""Text that ships with Python: the documentation topics of the standard library, as characters and sentences.

Lesson 11 needs English text offline. Every Python installation carries some:
``pydoc_data/topics.py``, the reference-manual topics that ``help("if")`` prints
(about 0.5 MB, under the Python Software Foundation licence, like Python
itself). This module reads it at run time - nothing is copied into the course -
and gives it in the two forms the lesson uses:

* characters, for the tiny character-level transformer of Part A:
  :func:`python_docs_text`, :class:`CharVocabulary` and :func:`next_char_windows`;
* sentences, for healing and evaluating the pretrained sentence encoder of
  Part B: :func:`python_docs_sentences`, split by topic into a healing set and a
  disjoint held-out set.

The text is that of the running Python's version, so numbers measured on it
move a little from one Python version to the next.

>>> text = python_docs_text()
>>> len(text) > 100_000
True
>>> vocab = CharVocabulary(text)
>>> vocab.decode(vocab.encode("for loop"))
'for loop'
>>> heal, held_out = python_docs_sentences("heal"), python_docs_sentences("eval")
>>> len(heal) > 3 * len(held_out) > 0 and not set(heal) & set(held_out)
True
"""
from __future__ import annotations

import functools
import importlib
import re

import torch

from .validation import check_positive_int

__all__ = ["python_docs_topics", "python_docs_text", "CharVocabulary", "next_char_windows",
           "python_docs_sentences", "python_docs_passages", "TEXT_LICENCE"]

#: Where the text comes from and under which terms, for the lesson to print.
TEXT_LICENCE = ("Python's documentation topics (the standard library's pydoc_data/topics.py), "
                "Python Software Foundation License Version 2")

#: Every this-many-th topic (in sorted order) is held out for evaluation; the others heal.
HELD_OUT_EVERY = 5


@functools.lru_cache(maxsize=1)
def python_docs_topics() -> dict:
    """``{topic: text}`` of ``pydoc_data.topics`` (a copy sorted by topic name).

    Raises ``ImportError`` with an explanation where a Python distribution left
    the module out (some minimal Linux packages do).
    """
    try:
        topics = importlib.import_module("pydoc_data.topics").topics
    except ImportError as error:           # pragma: no cover - every CPython build has it
        raise ImportError("this Python has no pydoc_data.topics (the documentation topics of the standard "
                          "library); install the full Python (e.g. Debian's python3 instead of "
                          "python3-minimal)") from error
    return {key: topics[key] for key in sorted(topics)}


def python_docs_text() -> str:
    """All the topics, in sorted order, separated by blank lines: one string of about 0.5 MB."""
    return "\n\n".join(text.strip() for text in python_docs_topics().values())


class CharVocabulary:
    """The characters of a text, numbered 0, 1, ... in sorted order.

    >>> vocab = CharVocabulary("hello")
    >>> len(vocab), vocab.chars
    (4, 'ehlo')
    >>> vocab.encode("hole").tolist()
    [1, 3, 2, 0]
    >>> vocab.encode("hi")
    Traceback (most recent call last):
    ...
    ValueError: CharVocabulary.encode: 'i' is not in the vocabulary of 4 characters
    """

    def __init__(self, text: str):
        if not isinstance(text, str) or not text:
            raise ValueError(f"CharVocabulary: give a non-empty string, got {text!r:.40}")
        self.chars = "".join(sorted(set(text)))
        self._index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> torch.Tensor:
        """The characters of ``text`` as a 1-D int64 tensor of their numbers."""
        try:
            return torch.tensor([self._index[c] for c in text], dtype=torch.long)
        except KeyError as error:
            raise ValueError(f"CharVocabulary.encode: {error.args[0]!r} is not in the vocabulary of "
                             f"{len(self)} characters") from None

    def decode(self, ids) -> str:
        """The text of a sequence of numbers (a tensor or a list)."""
        return "".join(self.chars[int(i)] for i in ids)

    def __repr__(self) -> str:
        return f"CharVocabulary({len(self)} characters)"


def next_char_windows(ids: torch.Tensor, context: int, n: int, *, seed: int = 0):
    """``n`` random windows of a character sequence and the same windows one character later.

    Returns ``(inputs, targets)``, both int64 of shape ``(n, context)``, with
    ``targets[b, t] = ids[start_b + t + 1]``: at every position the model
    predicts the next character.

    >>> x, y = next_char_windows(torch.arange(100), 8, 3)
    >>> x.shape, bool((y == x + 1).all())
    (torch.Size([3, 8]), True)
    """
    context = check_positive_int(context, "context", "next_char_windows")
    n = check_positive_int(n, "n", "next_char_windows")
    if not isinstance(ids, torch.Tensor) or ids.dim() != 1:
        raise ValueError(f"next_char_windows: ids must be a 1-D tensor, got {type(ids).__name__}")
    if len(ids) <= context:
        raise ValueError(f"next_char_windows: the sequence ({len(ids)} characters) must be longer than "
                         f"the context ({context})")
    gen = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, len(ids) - context, (n,), generator=gen)
    offsets = starts[:, None] + torch.arange(context)
    return ids[offsets], ids[offsets + 1]


def _sentences_of(text: str) -> list:
    """Prose sentences of one topic: 40 to 220 characters, not code, not tables."""
    text = re.sub(r"\s+", " ", text)
    found = []
    for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z\"])", text):
        sentence = sentence.strip()
        code_like = sum(sentence.count(c) for c in "=()[]{}<>*|+") > 6 or "--" in sentence or ">>>" in sentence
        if 40 <= len(sentence) <= 220 and not code_like and sentence[0].isupper():
            found.append(sentence)
    return found


def _held_out(k: int) -> bool:
    """Whether topic number ``k`` (in sorted order) belongs to the evaluation split."""
    return k % HELD_OUT_EVERY == 0


@functools.lru_cache(maxsize=2)
def _split_sentences() -> tuple:
    heal, held_out = [], []
    for k, text in enumerate(python_docs_topics().values()):
        (held_out if _held_out(k) else heal).extend(_sentences_of(text))
    held_out = list(dict.fromkeys(held_out))                 # without repeats, in order
    seen = set(held_out)
    heal = [s for s in dict.fromkeys(heal) if s not in seen]
    return tuple(heal), tuple(held_out)


def python_docs_sentences(split: str) -> list:
    """Prose sentences of the documentation topics: ``"heal"`` or ``"eval"``.

    The split is by topic: every fifth topic (in sorted order) is held out for
    evaluation, the others give the healing sentences, and a sentence that
    appears in both is kept only in the held-out set. So the two lists share no
    sentence and no topic.
    """
    if split not in ("heal", "eval"):
        raise ValueError(f"python_docs_sentences: split must be 'heal' or 'eval', got {split!r}")
    heal, held_out = _split_sentences()
    return list(heal if split == "heal" else held_out)


def python_docs_passages(words: int = 24) -> list:
    """Passages of ``words`` consecutive words (prose and code alike) from the healing topics only.

    More, and more varied, healing text than the sentences: every healing topic
    cut into non-overlapping pieces (a last piece shorter than half of ``words``
    is dropped). No passage comes from a held-out topic, and the held-out
    sentences that some healing topics repeat word for word are cut out first.

    >>> passages = python_docs_passages(24)
    >>> len(passages) > 1000 and all(len(p.split(" ")) <= 24 for p in passages)
    True
    """
    words = check_positive_int(words, "words", "python_docs_passages")
    held_out = _split_sentences()[1]
    passages = []
    for k, text in enumerate(python_docs_topics().values()):
        if _held_out(k):
            continue
        text = re.sub(r"\s+", " ", text)
        for sentence in held_out:                # text repeated from a held-out topic is left out
            text = text.replace(sentence, " ")
        tokens = text.split()
        passages += [" ".join(tokens[i:i + words]) for i in range(0, len(tokens), words)
                     if len(tokens[i:i + words]) * 2 >= words]
    return passages
