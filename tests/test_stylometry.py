"""Stylometric features of the fused style score and the guard on its weights: each feature measures what it
says on planted texts and survives save/load; the fused weights never fall below the best single cosine
out of sample (a combination that loses out of fold is replaced by that cosine alone)."""

from __future__ import annotations

import typing

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from litstyle.config import Stylometry
from litstyle.style.stylometry import (FEATURES, JUDGE, CharNgrams15, FunctionWordNgrams, Punctuation, SentenceLengths,
                                       _sentence_lengths, fit_weights)

REFERENCE = ["The man went to the town, and he saw the river; it was wide.",
             "She said that the house of her father was old. It stood by the road!",
             "It was a dark night -- the wind blew, and the rain fell on the roof.",
             "I had not seen him since the war. He came in; he sat down; he said nothing.",
             "Who is there? Nobody answered, and the door stayed shut all the long evening."] * 3


def test_the_recipe_names_every_feature_and_only_those() -> None:
    assert set(typing.get_args(Stylometry)) == set(FEATURES)


@pytest.mark.parametrize("name", sorted(FEATURES))
def test_every_feature_embeds_unit_rows_and_reloads_identically(name: str) -> None:
    feature = FEATURES[name](REFERENCE, 50)
    texts = ["The boat came in; the man sat down.", "Was it the wind? It was not!"]
    emb = feature.embed(texts)
    assert emb.shape == (2, len(feature.vocab)) and np.allclose(np.linalg.norm(emb, axis=1), 1.0)
    assert np.allclose(type(feature).from_state(feature.state()).embed(texts), emb)


def test_features_count_what_they_name() -> None:
    punct = Punctuation(REFERENCE, 20)
    assert {";", ",", ".", "?", "!", "--"} <= set(punct.vocab)
    semi = punct.embed(["He came; he sat; he ate; he slept; he left."])[0]
    assert semi[punct.vocab.index(";")] == semi.max()  # semicolons far above the reference rate
    lengths = SentenceLengths(REFERENCE, 21)
    assert set(lengths.vocab) <= {"0+", "3+", "6+", "9+", "12+", "15+"}  # the reference's sentences are short
    long_text = "word " * 40 + "end. " + "word " * 41 + "end! Yes."
    assert _sentence_lengths(long_text) == ["39+", "42+", "0+"] and lengths.size(long_text) == 3
    fw = FunctionWordNgrams(REFERENCE, 40)
    assert fw._ngrams("the whale") == ["the _"] and "the" in fw.kept  # words outside the kept ones are placeholders
    assert fw._ngrams("The whale swam to the ship") == fw._ngrams("The horse ran to the barn")  # topic-free
    chars = CharNgrams15(REFERENCE, 200)
    assert " " in chars.vocab and "e" in chars.vocab and any(len(g) == 5 for g in chars.vocab)


def _draw(n: int, seed: int, shift: float, noise: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Cosines of n pairs, half same-author: two informative parts (each y*shift + its own noise) and
    ``noise`` parts that know nothing."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(n // 2), np.zeros(n - n // 2)]
    cos = {JUDGE: y * shift + rng.normal(0, 1, n), "char n-grams": y * shift + rng.normal(0, 1, n)}
    cos.update({f"noise {i}": rng.normal(0, 1, n) for i in range(noise)})
    return cos, y


def _auc(weights: dict[str, float], cos: dict[str, np.ndarray], y: np.ndarray) -> float:
    return roc_auc_score(y, sum(w * cos[n] for n, w in weights.items()))


def test_two_informative_parts_are_combined_and_beat_either_out_of_sample() -> None:
    cos, y = _draw(300, 0, 1.0, 0)
    weights = fit_weights(cos, y > 0.5)
    assert weights[JUDGE] > 0.3 and weights["char n-grams"] > 0.3 and sum(weights.values()) == pytest.approx(1)
    fresh, y2 = _draw(2000, 1, 1.0, 0)
    assert _auc(weights, fresh, y2) > max(roc_auc_score(y2, c) for c in fresh.values()) + 0.02


def test_a_combination_that_loses_out_of_fold_is_replaced_by_the_best_part() -> None:
    """Few pairs and many parts that know nothing: the regression fits noise; out of fold it is below the
    judge alone, so the judge alone is kept, and it is also the better choice on fresh pairs."""
    cos, y = _draw(40, 3, 2.0, 12)
    del cos["char n-grams"]
    weights = fit_weights(cos, y > 0.5)
    assert weights == {n: float(n == JUDGE) for n in cos}
    fresh, y2 = _draw(2000, 4, 2.0, 12)
    del fresh["char n-grams"]
    assert _auc(weights, fresh, y2) >= max(roc_auc_score(y2, c) for c in fresh.values())
