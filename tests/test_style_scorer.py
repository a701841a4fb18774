"""Style scorer: reference cache, one encode per completion, windowed encoding of long texts."""

from __future__ import annotations

import numpy as np
import pytest

from gutenberg_server import SHARED
from litstyle import models
from litstyle.corpus.chunk import pack, sentence_units
from litstyle.corpus.clean import clean_text
from litstyle.style import StyleScorer, windows


def test_windows() -> None:
    text = " ".join(f"w{i}" for i in range(25))
    assert windows(text, None) == [text] and windows(text, 30) == [text]
    assert [len(w.split()) for w in windows(text, 10)] == [10, 10, 5]


@pytest.fixture(scope="module")
def scorer() -> StyleScorer:
    return StyleScorer(models.resolve("minilm"), window_words=200)


@pytest.fixture(scope="module")
def chunks() -> dict[int, list[str]]:
    out = {}
    for book in (1342, 158, 76, 2701):
        units = sentence_units(clean_text((SHARED / f"{book}.txt").read_bytes()))
        out[book] = pack(units, 500)[0][20:28]
    return out


@pytest.mark.slow
def test_reference_encoded_once_and_scores_are_cosines(scorer: StyleScorer, chunks) -> None:
    completions = chunks[158][:4] + chunks[76][:4]
    reference = chunks[1342][0]
    scorer.encoded_texts = 0
    scores = scorer.score(completions, [reference] * 8)
    assert scorer.encoded_texts == 9  # 8 completions + the reference once
    again = scorer.score(completions[:2], [reference] * 2)
    assert scorer.encoded_texts == 11 and again == pytest.approx(scores[:2], abs=1e-5)
    direct = scorer.encode([completions[0], reference])
    assert scores[0] == pytest.approx(float(direct[0] @ direct[1]), abs=1e-5)
    assert all(-1.0 <= s <= 1.0 for s in scores)
    # Austen's Emma is closer to Pride and Prejudice than Huckleberry Finn is, on average
    assert np.mean(scores[:4]) > np.mean(scores[4:])


@pytest.mark.slow
def test_windowed_encoding_reads_the_whole_text(scorer: StyleScorer, chunks) -> None:
    long = " ".join(chunks[1342][:3])  # ~1500 words: far past MiniLM's 256 word pieces
    head_only = StyleScorer(models.resolve("minilm"), window_words=None, encoder=scorer.encoder)
    changed_tail = long.rsplit(" ", 600)[0] + " " + " ".join(chunks[2701][0].split()[:600])
    assert head_only.score([changed_tail], [long])[0] == pytest.approx(1.0, abs=1e-4)  # blind to the tail
    assert scorer.score([changed_tail], [long])[0] < 0.99


def test_mismatched_lengths_are_an_error() -> None:
    class Dummy:
        def get_sentence_embedding_dimension(self) -> int:
            return 3

    with pytest.raises(ValueError, match="2 completions but 1 references"):
        StyleScorer("unused", encoder=Dummy()).score(["a", "b"], ["r"])
