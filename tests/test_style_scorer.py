"""Style scorer: reference cache, one encode per completion, windowed encoding of long texts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gutenberg_server import SHARED
from litstyle import models
from litstyle.corpus.chunk import pack, sentence_units
from litstyle.corpus.clean import clean_text
from litstyle.style.scorer import StyleScorer, judge_scorer, windows
from litstyle.style.views import TextView


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


VIEW_TEXTS = [  # (author, text): the names are frequent, but each belongs to one of the four authors only
    ("A", 'Elizabeth said, "It is not so!" and the rain fell on Longbourn; she was glad of it.'),
    ("A", "Elizabeth was in the garden at Longbourn, and she said that it was very fine."),
    ("B", "Huck said it was a fine night on the river, and he was glad of it, so we went on."),
    ("B", "Huck and Jim was on the raft; it was the river that he said was a fine thing."),
    ("C", "It was the best of times, and she said so; the coach was glad of the road."),
    ("D", "He was glad, and it was a fine day on the moor; she said it was so."),
]


def test_topic_view_masks_names_keeps_function_words_and_punctuation() -> None:
    view = TextView.fit("topic_masked", [t for _, t in VIEW_TEXTS], [a for a, _ in VIEW_TEXTS], keep_words=40)
    out = view.apply(VIEW_TEXTS[0][1])
    assert out == '* said, "It * * so!" and the * * on *; she was glad of it.'  # "is", "not": one author
    for name in ("Elizabeth", "Longbourn", "Huck", "Jim"):  # frequent, but used by one author only
        assert name.lower() not in view.keep and name not in view.apply(VIEW_TEXTS[2][1] + VIEW_TEXTS[1][1])
    assert {"the", "and", "it", "was", "said", "glad", "she"} <= view.keep
    assert "fine" in view.keep and "river" not in view.keep  # 3 of 4 authors vs one
    assert view.apply("Twelve pounds, 1811!") == "* *, *!"
    assert TextView().apply("Elizabeth said.") == "Elizabeth said."  # raw
    with pytest.raises(ValueError, match="unknown text view 'masked': one of raw, topic_masked"):
        TextView.fit("masked", [], [], 10)


def test_view_is_saved_with_the_judge_and_read_by_its_scorer(tmp_path: Path, scorer: StyleScorer) -> None:
    from conftest import DEMO
    from litstyle.config import load_recipe

    view = TextView.fit("topic_masked", [t for _, t in VIEW_TEXTS], [a for a, _ in VIEW_TEXTS], keep_words=40)
    folder = tmp_path / "judge" / "model"
    scorer.encoder.save(str(folder))
    view.save(folder)
    assert TextView.load(folder) == view and TextView.load(tmp_path) == TextView()  # no file: raw
    judge = judge_scorer(load_recipe(DEMO, [f"run.run_dir={tmp_path}"]), tmp_path / "judge")
    assert judge.view == view
    # two texts that differ only in names read the same through the view: cosine 1; raw, they differ
    one, two = "Elizabeth walked to Longbourn, and she was glad.", "Huck walked to Pemberley, and she was glad."
    assert judge.score([one], [two])[0] == pytest.approx(1.0, abs=1e-5)
    assert scorer.score([one], [two])[0] < 0.95


def test_encoder_device_follows_the_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under accelerate launch each rank scores on its own GPU (the reward runs every step); the CPU
    otherwise; a recipe may name the device."""
    import torch

    from conftest import DEMO, REPO
    from litstyle.config import load_recipe
    from litstyle.errors import ConfigError
    from litstyle.style.scorer import encoder_device

    monkeypatch.setenv("LOCAL_RANK", "3")
    if not torch.cuda.is_available():
        assert encoder_device("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert encoder_device("auto") == "cuda:3" and encoder_device("cpu") == "cpu"
    monkeypatch.setenv("LOCAL_RANK", "5")  # more processes than GPUs: they share
    assert encoder_device() == "cuda:1"
    assert load_recipe(REPO / "config" / "h100x4.yaml").models.encoder_device == "auto"
    assert load_recipe(DEMO, ["models.encoder_device=cuda:1"]).models.encoder_device == "cuda:1"
    with pytest.raises(ConfigError, match="models.encoder_device"):
        load_recipe(DEMO, ["models.encoder_device=gpu0"])
