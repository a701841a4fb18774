"""Evaluation statistics: pure functions, no I/O (table-tested).

- ``attribute``: the nearest author centroid of an embedding (cosine).
- ``AuthorClassifier``: authorship attribution that owes nothing to the reward: a logistic regression
  on TF-IDF character 2-4-grams (within word boundaries) and word 1-2-grams, trained on corpus chunks of
  every corpus author, never on generated text; P(author | text) and the top-1 author.  Overlap with
  the fused style reward: its character n-grams and the word unigrams (function words among them) are
  reward features too, but weighted by a supervised per-author model rather than a pairwise cosine to
  one sample; its word bigrams and everything content-bearing (names, topic words) are not.
- ``bootstrap_ci``: mean and percentile bootstrap 95 % CI of one sample.
- ``paired_diff_ci``: mean difference of two systems on the same items, with a paired bootstrap CI.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from litstyle.style.stylometry import unit


def centroids(embeddings: np.ndarray, labels: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Unit-norm mean embedding per label (labels sorted)."""
    names = sorted(set(labels))
    labels_arr = np.asarray(labels)
    return names, unit(np.stack([embeddings[labels_arr == name].mean(axis=0) for name in names]))


def attribute(embeddings: np.ndarray, names: Sequence[str], centres: np.ndarray) -> list[str]:
    """The author whose centroid is nearest (highest cosine) to each unit-norm embedding."""
    return [names[i] for i in np.argmax(embeddings @ centres.T, axis=1)]


class AuthorClassifier:
    """P(author | text) from a supervised model over all corpus authors (see the module doc)."""

    def __init__(self, texts: Sequence[str], authors: Sequence[str], *, features: int = 50000, seed: int = 0) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline, make_union

        vectors = make_union(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), max_features=features, sublinear_tf=True),
            TfidfVectorizer(analyzer="word", ngram_range=(1, 2), max_features=features, sublinear_tf=True))
        self.model = make_pipeline(vectors, LogisticRegression(C=10.0, max_iter=2000, random_state=seed))
        self.model.fit(list(texts), list(authors))
        self.authors = [str(a) for a in self.model.classes_]

    def predict(self, texts: Sequence[str], targets: Sequence[str]) -> list[tuple[float, str]]:
        """(P(target author), top-1 author) per text; P is 0 for an author the classifier never saw."""
        if not texts:
            return []
        probs = self.model.predict_proba(list(texts))
        index = {a: i for i, a in enumerate(self.authors)}
        return [(float(row[index[t]]) if t in index else 0.0, self.authors[int(np.argmax(row))])
                for row, t in zip(probs, targets)]


def bootstrap_ci(values: Sequence[float], *, n_boot: int = 2000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high); NaN-free input expected; a single value gives a zero-width interval."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (float("nan"),) * 3
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(n_boot, data.size))].mean(axis=1)
    alpha = (1 - level) / 2
    return float(data.mean()), float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def paired_diff_ci(a: Sequence[float], b: Sequence[float], **kwargs) -> tuple[float, float, float]:
    """Mean of a - b over paired items with its bootstrap CI (items resampled together)."""
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} vs {len(b)}")
    return bootstrap_ci(np.asarray(a, dtype=float) - np.asarray(b, dtype=float), **kwargs)
